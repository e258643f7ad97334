/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The job scheduler: memoized image hashes, trust decisions, one FIFO per port
 * (one job on the device at a time, different ports in parallel), and the trust
 * updates that follow each job. Main thread only; workers report via sd-event. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "job-scheduler.h"
#include "log.h"
#include "macro.h"
#include "string-util.h"

#define JOB_SCHEDULER_MEMO_ENTRIES 64

typedef struct Port Port;
typedef struct ScheduledJob ScheduledJob;

struct ScheduledJob {
        JobScheduler *scheduler;
        Port *port;
        Job *job;
        char *device_id;            /* NULL: no trust for this device */
        sd_event_source *source;
        bool options_trust;
        bool hashed;
        bool cancelled;             /* by us: it must not get the port any more */
        bool granted;               /* job_run() called: it may have touched the device */
        ScheduledJob *port_next;    /* the port's FIFO, in submission order */
        ScheduledJob *all_prev, *all_next;
};

struct Port {
        char *path;
        ScheduledJob *fifo;         /* head: the job that holds or will next hold the port */
        ScheduledJob *running;      /* holds the turn: on the device, or being trust-skipped */
        uint64_t flash_size;        /* learnt at the last connect, 0 if unknown */
        const char *chip;           /* detected at the last connect (static), NULL if unknown */
        uint32_t baud_cap;          /* a raised rate lost data here: at most this, 0: no cap */
        Port *next;
};

/* What connects learnt about a board, by device identity, for as long as it
 * stays attached (esp-loader.h: EspLoaderFacts). */
typedef struct DeviceFacts DeviceFacts;
struct DeviceFacts {
        char *device_id;
        bool has_loader;
        EspLoaderFacts facts;
        JobKnownRegion *content;        /* what the last successful job proved */
        size_t n_content;
        DeviceFacts *next;
};

struct JobScheduler {
        sd_event *event;
        DeviceFacts *facts;
        TrustTable *trust;
        ImageHashCache *memo;
        JobSchedulerCallbacks cb;
        void *userdata;
        Port *ports;
        ScheduledJob *jobs;
        size_t n_jobs;
};

/* ---- device facts ------------------------------------------------------------------ */

static DeviceFacts **scheduler_find_facts(JobScheduler *s, const char *device_id) {
        DeviceFacts **f = &s->facts;

        while (*f && strcmp((*f)->device_id, device_id) != 0)
                f = &(*f)->next;
        return f;
}

void job_scheduler_forget_device(JobScheduler *s, const char *device_id) {
        DeviceFacts **f, *gone;

        if (!s || !device_id)
                return;
        f = scheduler_find_facts(s, device_id);
        if (!*f)
                return;
        gone = *f;
        *f = gone->next;
        free(gone->content);
        free(gone->device_id);
        free(gone);
}

static DeviceFacts *scheduler_ensure_facts(JobScheduler *s, const char *device_id) {
        DeviceFacts **f = scheduler_find_facts(s, device_id);

        if (!*f) {
                DeviceFacts *n = calloc(1, sizeof(DeviceFacts));

                if (!n)
                        return NULL;   /* only a cache */
                n->device_id = strdup(device_id);
                if (!n->device_id) {
                        free(n);
                        return NULL;
                }
                *f = n;
        }
        return *f;
}

/* The regions a successful job proved the device holds: matched before any
 * write, or written and proven (results' device_md5 is then their MD5). */
static void scheduler_set_content(DeviceFacts *f, Job *j) {
        const JobRegionResult *results;
        JobKnownRegion *v;
        size_t n, k = 0;

        free(f->content);
        f->content = NULL;
        f->n_content = 0;
        results = job_region_results(j, &n);
        if (n == 0 || job_stats(j)->verification_impossible)
                return;
        v = calloc(n, sizeof(JobKnownRegion));
        if (!v)
                return;
        for (size_t i = 0; i < n; i++) {
                if (!results[i].matched && !results[i].written)
                        continue;
                v[k] = (JobKnownRegion) { .offset = results[i].offset, .size = results[i].size };
                memcpy(v[k].md5, results[i].device_md5, sizeof(v[k].md5));
                k++;
        }
        f->content = v;
        f->n_content = k;
}

/* After a job that touched the device: a success keeps what its connect
 * learnt. A failure keeps nothing (the board may have left meanwhile), and if
 * it went by known facts they may be what was wrong (another board behind the
 * adapter, another flash): the next connect asks afresh. */
static void scheduler_update_facts(JobScheduler *s, ScheduledJob *sj) {
        EspLoaderFacts learned;
        DeviceFacts *f;

        if (!sj->device_id || !sj->granted)
                return;
        if (job_error(sj->job) < 0) {
                f = *scheduler_find_facts(s, sj->device_id);
                if (job_used_known(sj->job))
                        job_scheduler_forget_device(s, sj->device_id);
                else if (f) {
                        /* a write may have begun: what the flash holds is unknown */
                        free(f->content);
                        f->content = NULL;
                        f->n_content = 0;
                }
                return;
        }
        f = scheduler_ensure_facts(s, sj->device_id);
        if (!f)
                return;
        if (job_learned(sj->job, &learned) >= 0) {
                f->facts = learned;
                f->has_loader = true;
        }
        scheduler_set_content(f, sj->job);
}

/* ---- ports ------------------------------------------------------------------------- */

static Port *scheduler_find_port(JobScheduler *s, const char *path) {
        for (Port *p = s->ports; p; p = p->next)
                if (streq(p->path, path))
                        return p;
        return NULL;
}

/* Ports are kept once seen: a handful per host, and they remember the flash size. */
static int scheduler_ensure_port(JobScheduler *s, const char *path, Port **ret) {
        Port *p;

        p = scheduler_find_port(s, path);
        if (!p) {
                p = calloc(1, sizeof(Port));
                if (!p)
                        return -ENOMEM;
                p->path = strdup(path);
                if (!p->path) {
                        free(p);
                        return -ENOMEM;
                }
                p->next = s->ports;
                s->ports = p;
        }
        *ret = p;
        return 0;
}

static void port_fifo_append(Port *p, ScheduledJob *sj) {
        ScheduledJob **i = &p->fifo;

        while (*i)
                i = &(*i)->port_next;
        *i = sj;
        sj->port_next = NULL;
}

static void port_fifo_remove(Port *p, ScheduledJob *sj) {
        for (ScheduledJob **i = &p->fifo; *i; i = &(*i)->port_next)
                if (*i == sj) {
                        *i = sj->port_next;
                        sj->port_next = NULL;
                        return;
                }
}

/* ---- scheduled jobs ---------------------------------------------------------------- */

static ScheduledJob *scheduled_job_free(ScheduledJob *sj) {
        JobScheduler *s;

        if (!sj)
                return NULL;
        s = sj->scheduler;

        if (sj->port) {
                port_fifo_remove(sj->port, sj);
                if (sj->port->running == sj)
                        sj->port->running = NULL;
        }
        if (sj->all_prev)
                sj->all_prev->all_next = sj->all_next;
        else if (s->jobs == sj)
                s->jobs = sj->all_next;
        if (sj->all_next)
                sj->all_next->all_prev = sj->all_prev;
        if (s->n_jobs > 0)
                s->n_jobs--;

        sd_event_source_disable_unref(sj->source);
        job_free(sj->job);
        free(sj->device_id);
        free(sj);
        return NULL;
}

/* The port's turn goes to its FIFO head, once hashed. A head that the device
 * already trusts is skipped without opening the port, but it still holds the
 * turn until it has finished, so that results come back in submission order.
 * The trust check waits for the turn on purpose: a job ahead may change what
 * the device holds. */
static void scheduler_advance_port(JobScheduler *s, Port *p) {
        for (ScheduledJob *sj = p->fifo; sj && !p->running; sj = p->fifo) {
                Image *img;

                /* Its worker ends on its own; the job behind it need not wait. */
                if (sj->cancelled) {
                        port_fifo_remove(p, sj);
                        continue;
                }
                if (!sj->hashed)
                        return;

                img = job_image(sj->job);
                p->running = sj;
                /* Verify asks the device, always; only deploys may be skipped,
                 * and not one left to hash later (job_set_hash_first()). */
                if (job_kind(sj->job) == JOB_KIND_DEPLOY && sj->device_id && sj->options_trust &&
                    img->hash_valid && trust_table_matches(s->trust, sj->device_id, img->sha256))
                        job_skip(sj->job, JOB_OUTCOME_TRUST_SKIP);
                else {
                        DeviceFacts *f = sj->device_id ? *scheduler_find_facts(s, sj->device_id) : NULL;

                        sj->granted = true;
                        job_cap_baud(sj->job, p->baud_cap);
                        if (f && f->has_loader)
                                job_set_known(sj->job, &f->facts);
                        if (f)
                                (void) job_set_known_content(sj->job, f->content, f->n_content);
                        if (s->cb.granted)
                                s->cb.granted(sj->job, s->userdata);
                        job_run(sj->job);
                }
        }
}

static void scheduler_update_trust(JobScheduler *s, ScheduledJob *sj) {
        Job *j = sj->job;
        int error = job_error(j);
        Image *img = job_image(j);
        size_t n;
        const JobRegionResult *results;
        bool all_matched = true;

        if (!sj->device_id || !sj->granted)
                return;   /* never touched the device */

        /* A job that hashed during its connect did, unless it failed before:
         * then the device holds an image no trust entry may name. */
        if (!img->hash_valid) {
                if (error == 0 || job_stats(j)->flash_begins > 0)
                        (void) trust_table_invalidate(s->trust, sj->device_id,
                                                      error == -ECANCELED ? TRUST_INVALIDATION_CANCELLED :
                                                      error < 0 ? TRUST_INVALIDATION_WRITE_FAILED :
                                                                  TRUST_INVALIDATION_REPLACED);
                return;
        }

        if (job_kind(j) == JOB_KIND_DEPLOY) {
                if (error == 0) {
                        JobOutcome o = job_outcome(j);

                        if (job_stats(j)->verification_impossible)
                                /* Written, but never proven: trust needs proof. */
                                (void) trust_table_invalidate(s->trust, sj->device_id,
                                                              TRUST_INVALIDATION_REPLACED);
                        else if (o == JOB_OUTCOME_VERIFY_SKIP || o == JOB_OUTCOME_SELECTIVE ||
                                 o == JOB_OUTCOME_FULL)
                                (void) trust_table_set(s->trust, sj->device_id, img->sha256);
                } else if (job_stats(j)->flash_begins > 0)
                        /* A write began: whatever image it was, the flash is in an
                         * unknown state now. Before the first FLASH_BEGIN (port busy,
                         * no sync, verify interrupted) the flash is as it was. */
                        (void) trust_table_invalidate(s->trust, sj->device_id,
                                                      error == -ECANCELED ? TRUST_INVALIDATION_CANCELLED
                                                                          : TRUST_INVALIDATION_WRITE_FAILED);
                return;
        }

        /* A verify that succeeded is as good as a write for trust. */
        if (error < 0)
                return;
        results = job_region_results(j, &n);
        for (size_t i = 0; i < n; i++)
                if (!results[i].matched)
                        all_matched = false;
        if (n > 0 && all_matched)
                (void) trust_table_set(s->trust, sj->device_id, img->sha256);
        else if (trust_table_matches(s->trust, sj->device_id, img->sha256))
                /* The device was trusted with exactly this image, yet it differs:
                 * something replaced it behind our back. */
                (void) trust_table_invalidate(s->trust, sj->device_id, TRUST_INVALIDATION_REPLACED);
}

/* ---- job callbacks (userdata: the ScheduledJob) ------------------------------------- */

static void on_job_hashed(Job *j, void *userdata) {
        ScheduledJob *sj = userdata;
        JobScheduler *s = sj->scheduler;

        image_hash_cache_store(s->memo, job_image(j));
        sj->hashed = true;
        scheduler_advance_port(s, sj->port);
}

static void on_job_progress(Job *j, JobPhase phase, uint64_t done, uint64_t total, void *userdata) {
        ScheduledJob *sj = userdata;
        JobScheduler *s = sj->scheduler;

        if (s->cb.progress)
                s->cb.progress(j, phase, done, total, s->userdata);
}

static void on_job_finished(Job *j, void *userdata) {
        ScheduledJob *sj = userdata;
        JobScheduler *s = sj->scheduler;
        Port *p = sj->port;
        uint64_t flash_size = job_stats(j)->flash_size;

        if (flash_size > 0)
                p->flash_size = flash_size;
        if (job_stats(j)->chip)
                p->chip = job_stats(j)->chip;
        if (job_stats(j)->baud_fallback && job_stats(j)->baud > 0 &&
            (p->baud_cap == 0 || job_stats(j)->baud < p->baud_cap)) {
                /* The port's raised rate lost data: later jobs stay at the rate
                 * that worked, for as long as this service runs. */
                p->baud_cap = job_stats(j)->baud;
                log_notice("%s: transfers stay at %u baud from now on", ESC(p->path), p->baud_cap);
        }
        scheduler_update_trust(s, sj);
        scheduler_update_facts(s, sj);
        /* A hash done during the job: the next deploy of this image need not. */
        image_hash_cache_store(s->memo, job_image(j));

        if (job_error(j) < 0)
                log_debug("%s: %s job failed: %s", ESC(p->path), job_kind_to_string(job_kind(j)),
                         job_error_message(j) ?: "unknown error");
        else
                log_debug("%s: %s job done: %s", ESC(p->path), job_kind_to_string(job_kind(j)),
                         job_outcome_to_string(job_outcome(j)) ?: "verified");

        /* Hand the job over (its reply goes out first), then let the next one
         * have the port. */
        sj->job = NULL;
        scheduled_job_free(sj);
        if (s->cb.finished)
                s->cb.finished(j, s->userdata);
        else
                job_free(j);
        scheduler_advance_port(s, p);
}

static int on_job_event(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        ScheduledJob *sj = userdata;

        /* May free sj (and disable this source) through on_job_finished(). */
        (void) job_dispatch(sj->job);
        return 0;
}

/* ---- the public API ---------------------------------------------------------------- */

int job_scheduler_new(sd_event *e, TrustTable *trust, const JobSchedulerCallbacks *cb,
                      void *userdata, JobScheduler **ret) {
        JobScheduler *s;

        assert(e && trust && ret);

        s = calloc(1, sizeof(JobScheduler));
        if (!s)
                return -ENOMEM;
        s->memo = image_hash_cache_new(JOB_SCHEDULER_MEMO_ENTRIES);
        if (!s->memo) {
                free(s);
                return -ENOMEM;
        }
        s->event = sd_event_ref(e);
        s->trust = trust;
        s->cb = cb ? *cb : (JobSchedulerCallbacks) {};
        s->userdata = userdata;
        *ret = s;
        return 0;
}

JobScheduler *job_scheduler_free(JobScheduler *s) {
        if (!s)
                return NULL;

        /* job_free() cancels and joins each worker; nobody is told (`finished` is
         * not called): drain with job_scheduler_cancel_all() and the loop first. */
        job_scheduler_cancel_all(s);
        while (s->jobs)
                scheduled_job_free(s->jobs);
        while (s->ports) {
                Port *p = s->ports;

                s->ports = p->next;
                free(p->path);
                free(p);
        }
        while (s->facts)
                job_scheduler_forget_device(s, s->facts->device_id);
        image_hash_cache_free(s->memo);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

int job_scheduler_submit(JobScheduler *s, JobKind kind, const char *port, const char *device_id,
                         Image *img, const JobOptions *o, void *job_userdata, Job **ret) {
        const JobCallbacks callbacks = {
                .hashed = on_job_hashed,
                .progress = on_job_progress,
                .finished = on_job_finished,
                .open_transport = s ? s->cb.open_transport : NULL,
        };
        _cleanup_(image_freep) Image *owned = img;
        ScheduledJob *sj;
        Port *p;
        int r;

        if (!s || !port || !img || !o)
                return -EINVAL;

        r = scheduler_ensure_port(s, port, &p);
        if (r < 0)
                return r;
        /* An unchanged image is not read again: the worker skips to `hashed`. */
        (void) image_hash_cache_lookup(s->memo, img);

        sj = calloc(1, sizeof(ScheduledJob));
        if (!sj)
                return -ENOMEM;
        sj->scheduler = s;
        sj->options_trust = o->trust;
        if (device_id) {
                sj->device_id = strdup(device_id);
                if (!sj->device_id) {
                        free(sj);
                        return -ENOMEM;
                }
        }

        r = job_new(kind, port, TAKE_PTR(owned), o, &callbacks, sj, &sj->job);
        if (r < 0)
                goto fail;
        job_set_userdata(sj->job, job_userdata);
        /* A deploy with trust is compared with the device's trusted image at
         * its turn. With the port idle and the device trusted with no image,
         * or no identity to trust, that finds nothing to skip for: it hashes
         * during its connect instead. (Should trust appear before its turn
         * all the same, the job runs: a skip needs the hash.) */
        if (kind == JOB_KIND_DEPLOY && o->trust &&
            (!device_id || (!p->fifo && !trust_table_get(s->trust, device_id).trusted)))
                job_set_hash_first(sj->job, false);

        r = sd_event_add_io(s->event, &sj->source, job_get_event_fd(sj->job), EPOLLIN, on_job_event, sj);
        if (r < 0)
                goto fail;
        (void) sd_event_source_set_description(sj->source, "job");

        r = job_start(sj->job);
        if (r < 0)
                goto fail;

        sj->port = p;
        port_fifo_append(p, sj);
        sj->all_next = s->jobs;
        if (s->jobs)
                s->jobs->all_prev = sj;
        s->jobs = sj;
        s->n_jobs++;

        if (ret)
                *ret = sj->job;
        return 0;

fail:
        /* Not linked anywhere yet: only the job, the source and the id to drop. */
        sd_event_source_disable_unref(sj->source);
        job_free(sj->job);
        free(sj->device_id);
        free(sj);
        return r;
}

int job_scheduler_cancel_port_where(JobScheduler *s, const char *port, JobMatchFn match, void *userdata) {
        Port *p;
        int n = 0;

        assert(s);
        if (!port)
                return -EINVAL;
        p = scheduler_find_port(s, port);
        if (!p)
                return 0;

        /* Queued workers wake up and finish with -ECANCELED at once; the running
         * one's blocking I/O is interrupted. */
        for (ScheduledJob *sj = s->jobs; sj; sj = sj->all_next)
                if (sj->port == p && !sj->cancelled && (!match || match(sj->job, userdata))) {
                        sj->cancelled = true;
                        job_cancel(sj->job);
                        n++;
                }
        return n;
}

int job_scheduler_cancel_port(JobScheduler *s, const char *port) {
        return job_scheduler_cancel_port_where(s, port, NULL, NULL);
}

size_t job_scheduler_count_port(JobScheduler *s, const char *port, JobMatchFn match, void *userdata) {
        size_t n = 0;
        Port *p;

        if (!s || !port)
                return 0;
        p = scheduler_find_port(s, port);
        if (!p)
                return 0;
        for (ScheduledJob *sj = s->jobs; sj; sj = sj->all_next)
                if (sj->port == p && !sj->cancelled && (!match || match(sj->job, userdata)))
                        n++;
        return n;
}

void job_scheduler_cancel_all(JobScheduler *s) {
        if (!s)
                return;
        for (ScheduledJob *sj = s->jobs; sj; sj = sj->all_next) {
                sj->cancelled = true;
                job_cancel(sj->job);
        }
}

size_t job_scheduler_n_jobs(JobScheduler *s) {
        return s ? s->n_jobs : 0;
}

bool job_scheduler_port_flashing(JobScheduler *s, const char *port) {
        Port *p;

        if (!s || !port)
                return false;
        p = scheduler_find_port(s, port);
        /* A trust-skip holds its turn, but never the device. */
        return p && p->running && p->running->granted;
}

const char *job_scheduler_known_chip(JobScheduler *s, const char *port) {
        Port *p;

        if (!s || !port)
                return NULL;
        p = scheduler_find_port(s, port);
        return p ? p->chip : NULL;
}

uint64_t job_scheduler_known_flash_size(JobScheduler *s, const char *port) {
        Port *p;

        if (!s || !port)
                return 0;
        p = scheduler_find_port(s, port);
        return p ? p->flash_size : 0;
}
