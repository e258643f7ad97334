/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One deploy or verify job, run by a worker thread of its own: hash, wait for
 * the port, then the device session (job-device.c). The worker talks to the
 * main thread only through a mutex-guarded message queue and an eventfd. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "job-internal.h"
#include "log.h"
#include "macro.h"
#include "string-util.h"

/* ---- names -------------------------------------------------------------------- */

static const char *const job_kind_table[_JOB_KIND_MAX] = {
        [JOB_KIND_VERIFY] = "verify",
        [JOB_KIND_DEPLOY] = "deploy",
};

static const char *const job_outcome_table[_JOB_OUTCOME_MAX] = {
        [JOB_OUTCOME_TRUST_SKIP] = "trust-skip",
        [JOB_OUTCOME_VERIFY_SKIP] = "verify-skip",
        [JOB_OUTCOME_SELECTIVE] = "selective",
        [JOB_OUTCOME_FULL] = "full",
};

static const char *const job_phase_table[_JOB_PHASE_MAX] = {
        [JOB_PHASE_HASH] = "hash",
        [JOB_PHASE_QUEUED] = "queued",
        [JOB_PHASE_CONNECT] = "connect",
        [JOB_PHASE_VERIFY] = "verify",
        [JOB_PHASE_ERASE] = "erase",
        [JOB_PHASE_WRITE] = "write",
        [JOB_PHASE_POST_VERIFY] = "post-verify",
        [JOB_PHASE_RESET] = "reset",
        [JOB_PHASE_DONE] = "done",
};

static const char *const job_granularity_table[_JOB_GRANULARITY_MAX] = {
        [JOB_GRANULARITY_REGION] = "region",
        [JOB_GRANULARITY_SECTOR] = "sector",
};

static const char *const job_loader_table[_JOB_LOADER_MAX] = {
        [JOB_LOADER_AUTO] = "auto",
        [JOB_LOADER_STUB] = "stub",
        [JOB_LOADER_ROM] = "rom",
};

DEFINE_STRING_TABLE_LOOKUP_TO_STRING(job_kind, JobKind);
DEFINE_STRING_TABLE_LOOKUP_TO_STRING(job_outcome, JobOutcome);
DEFINE_STRING_TABLE_LOOKUP_TO_STRING(job_phase, JobPhase);
DEFINE_STRING_TABLE_LOOKUP(job_granularity, JobGranularity);
DEFINE_STRING_TABLE_LOOKUP(job_loader, JobLoader);

/* ---- worker → main messages --------------------------------------------------------- */

static void job_wake_main(Job *j) {
        uint64_t one = 1;

        /* EAGAIN: the counter is saturated, so the fd is readable anyway. */
        (void) !write(j->event_fd, &one, sizeof(one));
}

/* Called with the mutex held. */
static void job_enqueue_locked(Job *j, JobMessage m) {
        if (m.type == JOB_MESSAGE_PROGRESS && j->n_queued >= JOB_QUEUE_COALESCE) {
                JobMessage *last = &j->queue[j->n_queued - 1];

                if (last->type == JOB_MESSAGE_PROGRESS) {
                        *last = m;
                        return;
                }
                if (j->n_queued >= JOB_QUEUE_MAX - 2)
                        return;
        }
        if (j->n_queued >= JOB_QUEUE_MAX)
                return;   /* unreachable: see JOB_QUEUE_COALESCE */
        j->queue[j->n_queued++] = m;
}

static void job_post(Job *j, JobMessage m) {
        pthread_mutex_lock(&j->mutex);
        if (m.type == JOB_MESSAGE_PROGRESS)
                j->phase = m.phase;
        job_enqueue_locked(j, m);
        pthread_mutex_unlock(&j->mutex);
        job_wake_main(j);
}

void job_progress(Job *j, JobPhase phase, uint64_t done, uint64_t total) {
        job_post(j, (JobMessage) {
                .type = JOB_MESSAGE_PROGRESS,
                .phase = phase,
                .done = done,
                .total = total,
        });
}

bool job_cancelled(Job *j) {
        bool c;

        pthread_mutex_lock(&j->mutex);
        c = j->cancelled;
        pthread_mutex_unlock(&j->mutex);
        return c;
}

/* Records the error message; the first one is kept, later ones are usually
 * consequences. job_fail() appends strerror(r) (errors from below), job_refuse()
 * does not (the job's own verdicts, which say it all). Both return r. */
_printf_(4, 0)
static int job_fail_internal(Job *j, int r, bool with_errno, const char *format, va_list ap) {
        char detail[JOB_ERROR_MESSAGE_MAX - 64], buf[128];

        if (j->error_message[0])
                return r;
        (void) vsnprintf(detail, sizeof(detail), format, ap);
        /* ECHILD is how a digest says its helper failed (digest.h): strerror's
         * "No child processes" would not tell the caller that. */
        if (with_errno && ERRNO_ABS(r) == ECHILD)
                (void) snprintf(j->error_message, sizeof(j->error_message),
                                "%s: the digest helper failed (see the service's log)", detail);
        else if (with_errno)
                (void) snprintf(j->error_message, sizeof(j->error_message), "%s: %s", detail,
                                strerror_r(ERRNO_ABS(r), buf, sizeof(buf)));
        else
                (void) snprintf(j->error_message, sizeof(j->error_message), "%s", detail);
        return r;
}

_printf_(3, 4)
int job_fail(Job *j, int r, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        r = job_fail_internal(j, r, true, format, ap);
        va_end(ap);
        return r;
}

_printf_(3, 4)
int job_refuse(Job *j, int r, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        r = job_fail_internal(j, r, false, format, ap);
        va_end(ap);
        return r;
}


uint64_t job_image_total_bytes(const Image *img) {
        uint64_t n = 0;

        for (size_t i = 0; i < img->n_regions; i++)
                n += img->regions[i].size;
        return n;
}

/* ---- the worker: hash ------------------------------------------------------------- */

int job_load_image(Job *j) {
        int r;

        r = image_load(j->img);
        if (r == -ESTALE)
                return job_refuse(j, r, "an image file %s", image_rule_strerror(r));
        if (r < 0)
                return job_fail(j, r, "cannot read the image");
        return 0;
}

/* The image's SHA-256 (trust's key), unless known; report: as its own
 * phase (before the job's turn, not once the device is being talked to). */
int job_hash(Job *j, bool report) {
        int r;

        if (j->img->hash_valid)
                return 0;

        if (report)
                job_progress(j, JOB_PHASE_HASH, 0, job_image_total_bytes(j->img));
        r = job_load_image(j);
        if (r < 0)
                return r;
        if (job_cancelled(j))
                return -ECANCELED;
        r = image_compute_hash(j->img);
        if (r < 0)
                return job_fail(j, r, "cannot hash the image");
        return 0;
}

/* Reports `hashed`, then waits for the scheduler's word. Returns 1 to go on
 * with the device, 0 if skipped, -ECANCELED. */
static int job_wait_command(Job *j) {
        JobCommand c;

        pthread_mutex_lock(&j->mutex);
        j->phase = JOB_PHASE_QUEUED;
        job_enqueue_locked(j, (JobMessage) { .type = JOB_MESSAGE_HASHED });
        pthread_mutex_unlock(&j->mutex);
        job_wake_main(j);

        pthread_mutex_lock(&j->mutex);
        while (j->command == JOB_COMMAND_NONE && !j->cancelled)
                pthread_cond_wait(&j->cond, &j->mutex);
        c = j->cancelled ? JOB_COMMAND_NONE : j->command;
        if (c == JOB_COMMAND_SKIP)
                j->outcome = j->skip_outcome;
        pthread_mutex_unlock(&j->mutex);

        if (c == JOB_COMMAND_NONE)
                return -ECANCELED;
        return c == JOB_COMMAND_RUN;
}

void job_set_hash_first(Job *j, bool hash_first) {
        assert(j && !j->started);
        j->hash_first = hash_first;
}

static void *job_worker(void *userdata) {
        Job *j = userdata;
        int r = 0;

        if (j->hash_first)
                r = job_hash(j, true);
        if (r >= 0)
                r = job_wait_command(j);
        if (r > 0)
                r = job_run_device(j);

        /* Errors caused by the interrupt surface as all sorts of errnos. */
        if (r < 0 && job_cancelled(j))
                r = -ECANCELED;
        if (r == -ECANCELED)
                (void) snprintf(j->error_message, sizeof(j->error_message), "cancelled");
        else if (r < 0)
                (void) job_fail(j, r, "%s failed", job_kind_to_string(j->kind));
        if (r < 0 && j->reset_failed) {
                size_t n = strlen(j->error_message);

                (void) snprintf(j->error_message + n, sizeof(j->error_message) - n,
                                "; the board could not be reset into its application");
        }
        j->error = MIN(r, 0);
        if (r < 0)
                log_debug("%s: job failed: %s", ESC(j->port), ESC(j->error_message));

        pthread_mutex_lock(&j->mutex);
        j->phase = JOB_PHASE_DONE;
        job_enqueue_locked(j, (JobMessage) { .type = JOB_MESSAGE_FINISHED, .phase = JOB_PHASE_DONE });
        pthread_mutex_unlock(&j->mutex);
        /* The main thread joins before freeing: touching j->event_fd here is safe. */
        job_wake_main(j);
        return NULL;
}

/* ---- the main thread's side ---------------------------------------------------------- */

int job_new(JobKind kind, const char *port, Image *img, const JobOptions *o,
            const JobCallbacks *cb, void *userdata, Job **ret) {
        _cleanup_(image_freep) Image *owned = img;
        _cleanup_free_ Job *j = NULL;

        assert(img && ret);
        if (kind < 0 || kind >= _JOB_KIND_MAX || !port || img->n_regions == 0 || !o)
                return -EINVAL;
        if (o->granularity < 0 || o->granularity >= _JOB_GRANULARITY_MAX)
                return -EINVAL;
        if (o->loader < 0 || o->loader >= _JOB_LOADER_MAX || (!o->stub_json && o->stub_json_len > 0))
                return -EINVAL;
        assert(cb && cb->open_transport);

        j = calloc(1, sizeof(Job));
        if (!j)
                return -ENOMEM;
        *j = (Job) {
                .kind = kind,
                .options = *o,
                .hash_first = kind == JOB_KIND_DEPLOY && o->trust,
                .cb = cb ? *cb : (JobCallbacks) {},
                .cb_userdata = userdata,
                .userdata = userdata,
                .event_fd = -EBADF,
                .command = JOB_COMMAND_NONE,
                .skip_outcome = _JOB_OUTCOME_INVALID,
                .phase = JOB_PHASE_HASH,
                .outcome = _JOB_OUTCOME_INVALID,
        };

        j->port = strdup(port);
        if (!j->port)
                return -ENOMEM;
        /* The caller's stub text is the job's own copy. */
        if (o->stub_json) {
                j->stub_json = malloc(o->stub_json_len + 1);
                if (!j->stub_json) {
                        free(j->port);
                        return -ENOMEM;
                }
                memcpy(j->stub_json, o->stub_json, o->stub_json_len);
                j->stub_json[o->stub_json_len] = '\0';
                j->options.stub_json = j->stub_json;
        }
        j->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (j->event_fd < 0) {
                int r = -errno;

                free(j->port);
                free(j->stub_json);
                return r;
        }
        pthread_mutex_init(&j->mutex, NULL);
        pthread_cond_init(&j->cond, NULL);
        j->img = TAKE_PTR(owned);

        *ret = TAKE_PTR(j);
        return 0;
}

Transport *job_take_reset_port(Job *j) {
        return j ? TAKE_PTR(j->held_port) : NULL;
}

/* The worker runs on a stack of our own, unmapped when it is joined: glibc
 * keeps the stacks of its own threads after they exit (up to 40 MiB), with
 * the pages a deploy touched still resident, for the rest of the process. */
static int job_stack_new(Job *j, pthread_attr_t *attr) {
        size_t size = 8U * 1024U * 1024U, page = (size_t) sysconf(_SC_PAGESIZE);
        pthread_attr_t def;
        void *p;
        int r;

        /* The size glibc would give (RLIMIT_STACK), and a guard page below. */
        if (pthread_getattr_default_np(&def) == 0) {
                (void) pthread_attr_getstacksize(&def, &size);
                pthread_attr_destroy(&def);
        }
        size = (size + page - 1) / page * page;
        p = mmap(NULL, size + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE,
                 -1, 0);
        if (p == MAP_FAILED)
                return -errno;
        if (mprotect(p, page, PROT_NONE) < 0) {
                r = -errno;
                (void) munmap(p, size + page);
                return r;
        }
        r = -pthread_attr_setstack(attr, (uint8_t *) p + page, size);
        if (r < 0) {
                (void) munmap(p, size + page);
                return r;
        }
        j->stack = p;
        j->stack_size = size + page;
        return 0;
}

static void job_join(Job *j) {
        pthread_join(j->thread, NULL);
        if (j->stack) {
                (void) munmap(j->stack, j->stack_size);
                j->stack = NULL;
        }
}

usec_t job_reset_release_at(Job *j) {
        return j ? j->reset_release_at : 0;
}

Job *job_free(Job *j) {
        if (!j)
                return NULL;

        if (j->started && !j->finished) {
                job_cancel(j);
                job_join(j);
        }

        if (j->held_port) {
                /* Nobody took the port (teardown): the hold is short, and a
                 * chip released too early may not have reset. */
                usec_t now = now_usec();

                if (j->reset_release_at > now)
                        sleep_usec(j->reset_release_at - now);
                (void) transport_set_signals(j->held_port, false, false);
                transport_free(j->held_port);
        }
        pthread_cond_destroy(&j->cond);
        pthread_mutex_destroy(&j->mutex);
        safe_close(j->event_fd);
        image_free(j->img);
        for (size_t i = 0; j->blocks && i < j->n_results; i++)
                free(j->blocks[i].changed);
        free(j->blocks);
        flash_ranges_done(&j->unproven);
        flash_ranges_done(&j->erased);
        free(j->results);
        free(j->written);
        free(j->known_content);
        free(j->port);
        free(j->stub_json);
        flash_stub_free(j->stub);
        free(j->stub_origin);
        free(j);
        return NULL;
}

int job_start(Job *j) {
        pthread_attr_t attr;
        sigset_t all, saved;
        int r;

        assert(j);
        if (j->started)
                return -EBUSY;

        r = -pthread_attr_init(&attr);
        if (r < 0)
                return r;
        r = job_stack_new(j, &attr);
        if (r < 0) {
                pthread_attr_destroy(&attr);
                return r;
        }
        /* Signals belong to the main thread's event loop (signalfd): the worker
         * inherits a fully blocked mask. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &saved);
        r = -pthread_create(&j->thread, &attr, job_worker, j);
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
        pthread_attr_destroy(&attr);
        if (r < 0) {
                (void) munmap(j->stack, j->stack_size);
                j->stack = NULL;
                return r;
        }

        j->started = true;
        return 0;
}

static void job_command(Job *j, JobCommand c, JobOutcome outcome) {
        if (!j)
                return;
        pthread_mutex_lock(&j->mutex);
        if (j->command == JOB_COMMAND_NONE) {
                j->command = c;
                j->skip_outcome = outcome;
                pthread_cond_broadcast(&j->cond);
        }
        pthread_mutex_unlock(&j->mutex);
}

void job_cap_baud(Job *j, uint32_t cap) {
        if (!j || cap == 0)
                return;
        /* Under the mutex that job_run() hands the worker its command with. */
        pthread_mutex_lock(&j->mutex);
        if (j->command == JOB_COMMAND_NONE && j->options.baud > cap)
                j->options.baud = cap;
        pthread_mutex_unlock(&j->mutex);
}

void job_set_known(Job *j, const EspLoaderFacts *f) {
        if (!j || !f)
                return;
        pthread_mutex_lock(&j->mutex);
        if (j->command == JOB_COMMAND_NONE)
                j->known = *f;
        pthread_mutex_unlock(&j->mutex);
}

int job_set_known_content(Job *j, const JobKnownRegion *v, size_t n) {
        JobKnownRegion *copy = NULL;

        if (!j || (n > 0 && !v))
                return -EINVAL;
        if (n > 0) {
                copy = reallocarray(NULL, n, sizeof(JobKnownRegion));
                if (!copy)
                        return -ENOMEM;
                memcpy(copy, v, n * sizeof(JobKnownRegion));
        }
        pthread_mutex_lock(&j->mutex);
        if (j->command != JOB_COMMAND_NONE) {
                pthread_mutex_unlock(&j->mutex);
                free(copy);
                return -EBUSY;
        }
        free(j->known_content);
        j->known_content = copy;
        j->n_known_content = n;
        pthread_mutex_unlock(&j->mutex);
        return 0;
}

int job_learned(Job *j, EspLoaderFacts *ret) {
        if (!j || !ret)
                return -EINVAL;
        if (!j->learned.chip)
                return -ENODATA;
        *ret = j->learned;
        return 0;
}

bool job_used_known(Job *j) {
        return j && j->used_known;
}

void job_run(Job *j) {
        job_command(j, JOB_COMMAND_RUN, _JOB_OUTCOME_INVALID);
}

void job_skip(Job *j, JobOutcome outcome) {
        job_command(j, JOB_COMMAND_SKIP, outcome);
}

void job_cancel(Job *j) {
        if (!j)
                return;
        pthread_mutex_lock(&j->mutex);
        if (!j->cancelled) {
                j->cancelled = true;
                if (j->transport)
                        transport_interrupt(j->transport);
                pthread_cond_broadcast(&j->cond);
        }
        pthread_mutex_unlock(&j->mutex);
}

int job_get_event_fd(Job *j) {
        return j ? j->event_fd : -EBADF;
}

int job_dispatch(Job *j) {
        JobMessage msgs[JOB_QUEUE_MAX];
        uint64_t counter;
        size_t n;

        assert(j);
        if (j->finished)
                return 0;

        /* Reset the eventfd first: a post after this read wakes us again. */
        (void) !read(j->event_fd, &counter, sizeof(counter));

        pthread_mutex_lock(&j->mutex);
        n = j->n_queued;
        memcpy(msgs, j->queue, n * sizeof(JobMessage));
        j->n_queued = 0;
        pthread_mutex_unlock(&j->mutex);

        for (size_t i = 0; i < n; i++)
                switch (msgs[i].type) {

                case JOB_MESSAGE_HASHED:
                        if (j->cb.hashed)
                                j->cb.hashed(j, j->cb_userdata);
                        break;

                case JOB_MESSAGE_PROGRESS:
                        if (j->cb.progress)
                                j->cb.progress(j, msgs[i].phase, msgs[i].done, msgs[i].total,
                                               j->cb_userdata);
                        break;

                case JOB_MESSAGE_FINISHED:
                        /* Always the last message: the worker is returning now. */
                        job_join(j);
                        j->finished = true;
                        /* The callee may free j: nothing after this. */
                        if (j->cb.finished)
                                j->cb.finished(j, j->cb_userdata);
                        return 1;
                }
        return 0;
}

/* ---- accessors ---------------------------------------------------------------------- */

JobKind job_kind(Job *j) {
        return j ? j->kind : _JOB_KIND_INVALID;
}

const char *job_port(Job *j) {
        return j ? j->port : NULL;
}

Image *job_image(Job *j) {
        return j ? j->img : NULL;
}

JobPhase job_phase(Job *j) {
        JobPhase p;

        if (!j)
                return _JOB_PHASE_INVALID;
        pthread_mutex_lock(&j->mutex);
        p = j->phase;
        pthread_mutex_unlock(&j->mutex);
        return p;
}

bool job_is_finished(Job *j) {
        return j && j->finished;
}

int job_error(Job *j) {
        return j && j->finished ? j->error : 0;
}

const char *job_error_message(Job *j) {
        if (!j || !j->finished || j->error == 0 || !j->error_message[0])
                return NULL;
        return j->error_message;
}

JobOutcome job_outcome(Job *j) {
        return j && j->finished && j->error == 0 ? j->outcome : _JOB_OUTCOME_INVALID;
}

const JobRegionResult *job_region_results(Job *j, size_t *ret_n) {
        size_t n = j && j->finished ? j->n_results : 0;

        if (ret_n)
                *ret_n = n;
        return n > 0 ? j->results : NULL;
}

const JobRange *job_written(Job *j, size_t *ret_n) {
        size_t n = j && j->finished ? j->n_written : 0;

        if (ret_n)
                *ret_n = n;
        return n > 0 ? j->written : NULL;
}

const JobStats *job_stats(Job *j) {
        static const JobStats none = {};

        return j && j->finished ? &j->stats : &none;
}

void *job_get_userdata(Job *j) {
        return j ? j->userdata : NULL;
}

void job_set_userdata(Job *j, void *userdata) {
        if (j)
                j->userdata = userdata;
}
