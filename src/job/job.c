/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One deploy or verify job, run by a worker thread of its own: hash, wait for
 * the port, connect, verify, write what differs, reset. The worker talks to the
 * main thread only through a mutex-guarded message queue and an eventfd. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "flash-plan.h"
#include "flash-stub.h"
#include "flash-write.h"
#include "job.h"
#include "log.h"
#include "macro.h"
#include "transport-serial.h"

#define JOB_CONNECT_BAUD 115200u
#define JOB_CONNECT_ATTEMPTS 3u
/* Progress is posted at least this often while writing (the promise). */
#define JOB_PROGRESS_STEP (64u * 1024u)
/* The queue holds at most this many messages; past JOB_QUEUE_COALESCE, progress
 * replaces the newest progress instead of growing it. `hashed` and `finished`
 * (one each) always fit. */
#define JOB_QUEUE_MAX 64
#define JOB_QUEUE_COALESCE 60
#define JOB_ERROR_MESSAGE_MAX 256
/* The sector planner's round trip until verify measured one (USB turnaround). */
#define JOB_RTT_DEFAULT_USEC (1 * USEC_PER_MSEC)

typedef enum JobCommand {
        JOB_COMMAND_NONE,
        JOB_COMMAND_RUN,
        JOB_COMMAND_SKIP,
} JobCommand;

typedef enum JobMessageType {
        JOB_MESSAGE_HASHED,
        JOB_MESSAGE_PROGRESS,
        JOB_MESSAGE_FINISHED,
} JobMessageType;

typedef struct JobBlockVerdicts {
        bool *changed;
        size_t n;
} JobBlockVerdicts;

typedef struct JobMessage {
        JobMessageType type;
        JobPhase phase;
        uint64_t done, total;
} JobMessage;

struct Job {
        /* Set by job_new(), then read-only for both threads. */
        JobKind kind;
        char *port;
        JobOptions options;
        JobCallbacks cb;
        void *cb_userdata;
        int event_fd;

        /* Main thread only. */
        void *userdata;
        pthread_t thread;
        bool started;
        bool finished;           /* `finished` delivered, worker joined */

        /* The worker's from job_start() to `finished`, except that the main
         * thread may read the hash fields while the job waits after `hashed`. */
        Image *img;

        /* Guarded by mutex. */
        pthread_mutex_t mutex;
        pthread_cond_t cond;
        JobCommand command;
        JobOutcome skip_outcome;
        bool cancelled;
        Transport *transport;    /* while open, for job_cancel() to interrupt */
        JobPhase phase;
        JobMessage queue[JOB_QUEUE_MAX];
        size_t n_queued;

        /* Written by the worker; the main thread reads them once `finished`
         * (the mutex and pthread_join() order the accesses). */
        int error;
        char error_message[JOB_ERROR_MESSAGE_MAX];
        JobOutcome outcome;
        JobRegionResult *results;
        size_t n_results;
        JobRange *written;
        size_t n_written;
        JobStats stats;

        /* The worker's, for the sector planner: the transfer baud after connect,
         * and the smallest round trip seen in verify. */
        uint32_t link_baud;
        usec_t rtt_usec;
        /* Per region, for a sector deploy: each 64 KiB block's verdict from
         * verify (changed == NULL: verified with one MD5). */
        JobBlockVerdicts *blocks;
};

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
        [JOB_PHASE_WRITE] = "write",
        [JOB_PHASE_POST_VERIFY] = "post-verify",
        [JOB_PHASE_RESET] = "reset",
        [JOB_PHASE_DONE] = "done",
};

static const char *const job_granularity_table[_JOB_GRANULARITY_MAX] = {
        [JOB_GRANULARITY_REGION] = "region",
        [JOB_GRANULARITY_SECTOR] = "sector",
};

const char *job_kind_to_string(JobKind k) {
        return k >= 0 && k < _JOB_KIND_MAX ? job_kind_table[k] : NULL;
}

const char *job_outcome_to_string(JobOutcome o) {
        return o >= 0 && o < _JOB_OUTCOME_MAX ? job_outcome_table[o] : NULL;
}

const char *job_phase_to_string(JobPhase p) {
        return p >= 0 && p < _JOB_PHASE_MAX ? job_phase_table[p] : NULL;
}

const char *job_granularity_to_string(JobGranularity g) {
        return g >= 0 && g < _JOB_GRANULARITY_MAX ? job_granularity_table[g] : NULL;
}

JobGranularity job_granularity_from_string(const char *s) {
        if (!s)
                return _JOB_GRANULARITY_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(job_granularity_table); i++)
                if (strcmp(s, job_granularity_table[i]) == 0)
                        return (JobGranularity) i;
        return _JOB_GRANULARITY_INVALID;
}

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

static void job_progress(Job *j, JobPhase phase, uint64_t done, uint64_t total) {
        job_post(j, (JobMessage) {
                .type = JOB_MESSAGE_PROGRESS,
                .phase = phase,
                .done = done,
                .total = total,
        });
}

static bool job_cancelled(Job *j) {
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
        if (with_errno)
                (void) snprintf(j->error_message, sizeof(j->error_message), "%s: %s", detail,
                                strerror_r(ERRNO_ABS(r), buf, sizeof(buf)));
        else
                (void) snprintf(j->error_message, sizeof(j->error_message), "%s", detail);
        return r;
}

_printf_(3, 4)
static int job_fail(Job *j, int r, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        r = job_fail_internal(j, r, true, format, ap);
        va_end(ap);
        return r;
}

_printf_(3, 4)
static int job_refuse(Job *j, int r, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        r = job_fail_internal(j, r, false, format, ap);
        va_end(ap);
        return r;
}

static const char *strna(const char *s) {
        return s ?: "n/a";
}

static uint64_t image_total_bytes(const Image *img) {
        uint64_t n = 0;

        for (size_t i = 0; i < img->n_regions; i++)
                n += img->regions[i].size;
        return n;
}

/* ---- the worker: hash ------------------------------------------------------------- */

static int job_hash(Job *j) {
        int r;

        if (j->img->hash_valid)
                return 0;

        job_progress(j, JOB_PHASE_HASH, 0, image_total_bytes(j->img));
        r = image_load(j->img);
        if (r == -ESTALE)
                return job_refuse(j, r, "an image file changed after it was submitted");
        if (r < 0)
                return job_fail(j, r, "cannot read the image");
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

/* ---- the worker: the device -------------------------------------------------------- */

typedef struct WriteProgress {
        Job *job;
        uint64_t base;           /* bytes of earlier regions written */
        uint64_t total;          /* bytes to write in all */
        uint64_t last_posted;    /* cumulative bytes at the last post */
        uint64_t last_done;      /* region bytes at the previous callback */
        usec_t data_sent_at;     /* when the region's last block went out; 0 before */
        bool unverified;         /* no post-write MD5 follows */
} WriteProgress;

static int job_write_progress(uint64_t done, uint64_t total, void *userdata) {
        WriteProgress *w = userdata;
        uint64_t step = done >= w->last_done ? done - w->last_done : done;
        uint64_t cumulative = w->base + done;

        w->last_done = done;
        if (job_cancelled(w->job))
                return -ECANCELED;

        if (done >= total) {
                /* What follows inside flash_write_region() is the MD5 check. */
                if (!w->unverified)
                        w->data_sent_at = now_usec();
                job_progress(w->job, w->unverified ? JOB_PHASE_WRITE : JOB_PHASE_POST_VERIFY,
                             cumulative, w->total);
                w->last_posted = cumulative;
        } else if (cumulative - w->last_posted + step > JOB_PROGRESS_STEP) {
                /* Post now if one more step like the last would overshoot the 64 KiB promise. */
                job_progress(w->job, JOB_PHASE_WRITE, cumulative, w->total);
                w->last_posted = cumulative;
        }
        return 0;
}

/* With a configured stub directory, start the chip's flasher stub (as esptool
 * does: uploaded at the ROM's rate, before the baud change). No stub for this
 * chip, or an unreadable one: the ROM loader, which is fully supported. */
static int job_run_stub(Job *j, EspLoader *l) {
        _cleanup_(flash_stub_freep) FlashStub *stub = NULL;
        const EspChipInfo *chip = esp_loader_chip(l);
        int r;

        if (!j->options.stub_dir || !chip || esp_loader_secure_download_mode(l))
                return 0;

        r = flash_stub_load(j->options.stub_dir, chip->name, &stub);
        if (r < 0) {
                log_warning_errno(r, "%s: no usable flasher stub for %s in %s, using the ROM loader: %m",
                                 j->port, chip->name, j->options.stub_dir);
                return 0;
        }
        r = esp_loader_run_stub(l, &stub->image);
        if (r < 0)
                return job_fail(j, r, "cannot start the flasher stub");
        return 0;
}

static int job_connect(Job *j, EspLoader *l, Transport *t) {
        const EspChipInfo *chip;
        uint32_t flash_size;
        int r;

        r = esp_loader_connect(l, j->options.reset_before, JOB_CONNECT_ATTEMPTS);
        if (r < 0)
                return job_fail(j, r, "cannot connect to the bootloader on %s (reset %s)", j->port,
                                strna(esp_reset_strategy_to_string(j->options.reset_before)));

        chip = esp_loader_chip(l);
        j->stats.chip = chip ? chip->name : NULL;
        if (j->options.chip && (!chip || chip->id != j->options.chip->id))
                return job_refuse(j, -ENXIO, "found %s, but %s was requested",
                                chip ? chip->name : "an unknown chip", j->options.chip->name);

        r = esp_loader_attach_flash(l, 0);
        if (r < 0)
                return job_fail(j, r, "cannot attach the SPI flash");
        flash_size = esp_loader_flash_size(l);
        j->stats.flash_size = flash_size;

        r = image_check_flash_size(j->img, flash_size);
        if (r < 0)
                return job_refuse(j, r, "the image does not fit the %" PRIu32 " KiB flash",
                                flash_size / 1024);

        r = job_run_stub(j, l);
        if (r < 0)
                return r;

        if (j->options.baud != 0 && j->options.baud != t->baud) {
                r = esp_loader_change_baud(l, j->options.baud);
                if (r == -ECANCELED || r == -ENODEV)
                        return job_fail(j, r, "cannot change the baud rate");
                /* The loader is back at the old rate: slower, but it works. */
                if (r < 0)
                        log_warning_errno(r, "%s: cannot switch to %" PRIu32 " baud, staying at %" PRIu32 ": %m",
                                          j->port, j->options.baud, t->baud);
        }

        log_info("%s: connected to %s, %" PRIu32 " KiB flash, %" PRIu32 " baud%s", j->port,
                 chip ? chip->description : "?", flash_size / 1024, t->baud,
                 esp_loader_secure_download_mode(l) ? ", secure download mode" : "");
        return 0;
}

/* The round trip the sector planner's cost model needs: an MD5 request's time
 * minus what the model says its hashing and wire bytes take. */
static void job_measure_rtt(Job *j, EspLoader *l, uint64_t len, usec_t elapsed) {
        FlashCostModel m;
        usec_t model;

        flash_cost_model_init(&m, esp_loader_uses_usb_jtag(l) ? 0 : j->link_baud, 0,
                              esp_loader_is_stub(l));
        model = flash_cost_probe(&m, len);
        j->rtt_usec = MIN(j->rtt_usec, elapsed > model ? elapsed - model : 0);
}

/* A sector deploy verifies a region of several 64 KiB blocks block by block:
 * the same bytes hashed as one region MD5 costs, a round trip more per block,
 * and the planner then starts at the changed blocks' sectors instead of
 * hashing the whole region a second time. */
static bool job_verify_by_blocks(Job *j, const ImageRegion *reg) {
        return j->kind == JOB_KIND_DEPLOY && j->options.granularity == JOB_GRANULARITY_SECTOR &&
               flash_plan_n_blocks(reg->offset, (uint32_t) reg->size) > 1;
}

static int job_verify_blocks(Job *j, EspLoader *l, size_t i, bool *ret_match) {
        const ImageRegion *reg = &j->img->regions[i];
        JobBlockVerdicts *v = &j->blocks[i];
        bool all = true;
        int r;

        v->n = flash_plan_n_blocks(reg->offset, (uint32_t) reg->size);
        v->changed = calloc(v->n, sizeof(bool));
        if (!v->changed)
                return -ENOMEM;

        for (size_t b = 0; b < v->n; b++) {
                uint32_t off, size;
                bool match = false;
                usec_t started;

                if (job_cancelled(j))
                        return -ECANCELED;
                flash_plan_block_range(reg->offset, (uint32_t) reg->size, b, &off, &size);
                started = now_usec();
                r = flash_verify_region(l, off, reg->data + (off - reg->offset), size, &match, NULL);
                if (r < 0)
                        return r;
                job_measure_rtt(j, l, size, now_usec() - started);
                v->changed[b] = !match;
                all = all && match;
        }

        /* Every block matched, so the region's MD5 is the image's. */
        if (all)
                (void) flash_md5(reg->data, reg->size, j->results[i].device_md5);
        *ret_match = all;
        return 0;
}

/* Fills results[].matched; sets *ret_impossible if the chip cannot report MD5. */
static int job_verify(Job *j, EspLoader *l, bool *ret_impossible) {
        Image *img = j->img;
        uint64_t done = 0, total = image_total_bytes(img);
        int r;

        job_progress(j, JOB_PHASE_VERIFY, 0, total);

        /* Secure Download Mode refuses SPI_FLASH_MD5 (and reads) outright. */
        if (esp_loader_secure_download_mode(l)) {
                *ret_impossible = true;
                return 0;
        }

        for (size_t i = 0; i < img->n_regions; i++) {
                ImageRegion *reg = &img->regions[i];
                bool match = false;
                usec_t started;

                if (job_cancelled(j))
                        return -ECANCELED;
                if (job_verify_by_blocks(j, reg))
                        r = job_verify_blocks(j, l, i, &match);
                else {
                        started = now_usec();
                        r = flash_verify_region(l, reg->offset, reg->data, reg->size, &match,
                                                j->results[i].device_md5);
                        if (r >= 0)
                                job_measure_rtt(j, l, reg->size, now_usec() - started);
                }
                if (r == -EOPNOTSUPP) {
                        /* All or nothing: earlier verdicts do not make a plan. */
                        for (size_t k = 0; k < img->n_regions; k++)
                                j->results[k].matched = false;
                        *ret_impossible = true;
                        return 0;
                }
                if (r < 0)
                        return job_fail(j, r, "cannot verify the region at 0x%" PRIx32, reg->offset);
                j->results[i].matched = match;
                done += reg->size;
                job_progress(j, JOB_PHASE_VERIFY, done, total);
        }

        *ret_impossible = false;
        return 0;
}

/* What to write of one mismatched region: the region whole, or (sector
 * granularity) the runs the planner narrows it to by probing the chip. */
typedef struct JobRegionPlan {
        FlashRun *runs;
        size_t n_runs;
} JobRegionPlan;

static void job_region_plans_free(JobRegionPlan *plans, size_t n) {
        for (size_t i = 0; plans && i < n; i++)
                free(plans[i].runs);
        free(plans);
}

static int job_plan_region(Job *j, EspLoader *l, const ImageRegion *reg,
                           const JobBlockVerdicts *blocks, bool unverifiable, JobRegionPlan *ret) {
        _cleanup_(flash_planner_freep) FlashPlanner *p = NULL;
        const FlashPlanStats *st;
        FlashCostModel m;
        uint32_t off, size;
        int r;

        /* Probing needs MD5, and a region of one sector has nothing to narrow. */
        if (j->options.granularity != JOB_GRANULARITY_SECTOR || unverifiable ||
            reg->size <= FLASH_PLAN_SECTOR_SIZE) {
                ret->runs = calloc(1, sizeof(FlashRun));
                if (!ret->runs)
                        return -ENOMEM;
                ret->runs[0] = (FlashRun) { .offset = reg->offset, .size = (uint32_t) reg->size };
                ret->n_runs = 1;
                return 0;
        }

        flash_cost_model_init(&m, esp_loader_uses_usb_jtag(l) ? 0 : j->link_baud, j->rtt_usec,
                              esp_loader_is_stub(l));
        r = flash_planner_new(&m, reg->offset, (uint32_t) reg->size, &p);
        if (r < 0)
                return r;
        if (blocks && blocks->changed) {
                r = flash_planner_seed_blocks(p, blocks->changed, blocks->n);
                if (r < 0)
                        return r;
        }

        while ((r = flash_planner_next(p, &off, &size)) > 0) {
                bool match = false;

                if (job_cancelled(j))
                        return -ECANCELED;
                r = flash_verify_region(l, off, reg->data + (off - reg->offset), size, &match, NULL);
                if (r < 0)
                        return job_fail(j, r, "cannot probe 0x%" PRIx32 "+0x%" PRIx32, off, size);
                r = flash_planner_feed(p, !match);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;

        r = flash_planner_runs(p, &ret->runs, &ret->n_runs);
        if (r < 0)
                return r;

        st = flash_planner_stats(p);
        log_debug("%s: region at 0x%" PRIx32 ": %zu probe(s), %zu run(s)%s, rtt %" PRIu64 " us",
                  j->port, reg->offset, st->probes, ret->n_runs,
                  st->gave_up ? ", stopped probing early" : "", j->rtt_usec);
        return 0;
}

/* Whether a plan writes the region whole, so that its own MD5 check proves it. */
static bool job_plan_is_whole(const JobRegionPlan *p, const ImageRegion *reg) {
        return p->n_runs == 1 && p->runs[0].offset == reg->offset && p->runs[0].size == reg->size;
}

static int job_verify_touched_blocks(Job *j, EspLoader *l, const ImageRegion *reg,
                                     const JobRegionPlan *plan, bool *ret_match) {
        size_t n = flash_plan_n_blocks(reg->offset, (uint32_t) reg->size);
        int r;

        for (size_t b = 0; b < n; b++) {
                uint32_t off, size;
                bool touched = false, match = false;

                flash_plan_block_range(reg->offset, (uint32_t) reg->size, b, &off, &size);
                for (size_t k = 0; k < plan->n_runs && !touched; k++)
                        touched = plan->runs[k].offset < off + size &&
                                  off < plan->runs[k].offset + plan->runs[k].size;
                if (!touched)
                        continue;
                if (job_cancelled(j))
                        return -ECANCELED;
                r = flash_verify_region(l, off, reg->data + (off - reg->offset), size, &match, NULL);
                if (r < 0)
                        return r;
                if (!match) {
                        *ret_match = false;
                        return 0;
                }
        }
        *ret_match = true;
        return 0;
}

static int job_add_written(Job *j, uint64_t offset, uint64_t size) {
        JobRange *w;

        w = reallocarray(j->written, j->n_written + 1, sizeof(JobRange));
        if (!w)
                return -ENOMEM;
        j->written = w;
        j->written[j->n_written++] = (JobRange) { .offset = offset, .size = size };
        return 0;
}

/* One compressed write with its MD5 proof (or without, unverifiable), timed
 * into the stats. */
static int job_write_run(Job *j, EspLoader *l, const ImageRegion *reg, uint32_t offset, uint32_t size,
                         WriteProgress *w, bool unverifiable) {
        const uint8_t *data = reg->data + (offset - reg->offset);
        usec_t started, ended;
        int r;

        job_progress(j, JOB_PHASE_WRITE, w->base, w->total);
        w->last_posted = w->base;
        w->last_done = 0;
        w->data_sent_at = 0;

        started = now_usec();
        if (unverifiable)
                r = flash_write_region_unverified(l, offset, data, size, job_write_progress, w);
        else
                r = flash_write_region(l, offset, data, size, job_write_progress, w, NULL);
        ended = now_usec();

        if (r == -ECANCELED || (r < 0 && job_cancelled(j)))
                return -ECANCELED;
        if (r < 0)
                return job_fail(j, r, "cannot write 0x%" PRIx32 "+0x%" PRIx32, offset, size);

        if (w->data_sent_at >= started && w->data_sent_at <= ended) {
                j->stats.write_usec += w->data_sent_at - started;
                j->stats.post_verify_usec += ended - w->data_sent_at;
        } else
                j->stats.write_usec += ended - started;

        w->base += size;
        return job_add_written(j, offset, size);
}

static int job_write(Job *j, EspLoader *l, bool unverifiable) {
        Image *img = j->img;
        WriteProgress w = { .job = j, .unverified = unverifiable };
        JobRegionPlan *plans;
        int r = 0;

        plans = calloc(img->n_regions, sizeof(JobRegionPlan));
        if (!plans)
                return -ENOMEM;

        /* Plan every region first, so that write progress knows its total. */
        for (size_t i = 0; i < img->n_regions && r >= 0; i++) {
                if (j->results[i].matched)
                        continue;
                r = job_plan_region(j, l, &img->regions[i], j->blocks ? &j->blocks[i] : NULL,
                                    unverifiable, &plans[i]);
                for (size_t k = 0; r >= 0 && k < plans[i].n_runs; k++)
                        w.total += plans[i].runs[k].size;
        }

        for (size_t i = 0; i < img->n_regions && r >= 0; i++) {
                ImageRegion *reg = &img->regions[i];
                bool match = true;

                if (j->results[i].matched)
                        continue;

                for (size_t k = 0; k < plans[i].n_runs && r >= 0; k++) {
                        if (job_cancelled(j))
                                r = -ECANCELED;
                        else
                                r = job_write_run(j, l, reg, plans[i].runs[k].offset,
                                                  plans[i].runs[k].size, &w, unverifiable);
                }
                if (r < 0)
                        break;

                /* Runs were proven one by one; now the region: every block a
                 * run touched is hashed again (the rest matched by MD5 in this
                 * session already: verify or the planner's probes). */
                if (!unverifiable && !job_plan_is_whole(&plans[i], reg)) {
                        r = job_verify_touched_blocks(j, l, reg, &plans[i], &match);
                        if (r < 0) {
                                r = job_fail(j, r, "cannot verify the region at 0x%" PRIx32, reg->offset);
                                break;
                        }
                }
                if (!match) {
                        /* Something changed under us (or the planner missed a
                         * sector): the whole region, as region granularity would. */
                        log_warning("%s: the region at 0x%" PRIx32 " still differs after a sector write, writing it whole",
                                    j->port, reg->offset);
                        w.total += reg->size;
                        r = job_write_run(j, l, reg, reg->offset, (uint32_t) reg->size, &w, false);
                        if (r < 0)
                                break;
                }

                j->results[i].written = true;
                /* Proven by the post-write MD5, so this is what the device holds. */
                if (!unverifiable)
                        (void) flash_md5(reg->data, reg->size, j->results[i].device_md5);
        }

        job_region_plans_free(plans, img->n_regions);
        return r;
}

/* "full": every region written whole (sector runs that cover less are "selective"). */
static bool job_wrote_everything(Job *j) {
        uint64_t written = 0;

        for (size_t i = 0; i < j->n_results; i++)
                if (!j->results[i].written)
                        return false;
        for (size_t i = 0; i < j->n_written; i++)
                written += j->written[i].size;
        return written >= image_total_bytes(j->img);
}

static int job_session(Job *j, EspLoader *l, Transport *t) {
        Image *img = j->img;
        bool unverifiable = false, all_matched = true;
        usec_t started;
        int r;

        job_progress(j, JOB_PHASE_CONNECT, 0, 0);
        started = now_usec();
        r = job_connect(j, l, t);
        j->stats.connect_usec = now_usec() - started;
        if (r < 0)
                return r;
        j->link_baud = t->baud;
        j->rtt_usec = JOB_RTT_DEFAULT_USEC;

        started = now_usec();
        r = job_verify(j, l, &unverifiable);
        j->stats.verify_usec = now_usec() - started;
        if (r < 0)
                return r;

        if (unverifiable) {
                if (j->kind == JOB_KIND_VERIFY)
                        return job_refuse(j, -EOPNOTSUPP, "the chip refuses flash MD5 (secure download mode?)");
                /* Nothing is known about the flash: write it all, and say so. */
                j->stats.verification_impossible = true;
                log_notice("%s: flash MD5 unavailable, writing every region unverified", j->port);
        }
        for (size_t i = 0; i < img->n_regions; i++)
                if (!j->results[i].matched)
                        all_matched = false;

        if (j->kind == JOB_KIND_DEPLOY) {
                if (all_matched)
                        j->outcome = JOB_OUTCOME_VERIFY_SKIP;
                else {
                        r = job_write(j, l, unverifiable);
                        if (r < 0)
                                return r;
                        j->outcome = job_wrote_everything(j) ? JOB_OUTCOME_FULL
                                                             : JOB_OUTCOME_SELECTIVE;
                }
        } else if (all_matched)
                j->outcome = JOB_OUTCOME_VERIFY_SKIP;

        if (j->options.reset_after) {
                if (job_cancelled(j))
                        return -ECANCELED;
                job_progress(j, JOB_PHASE_RESET, 0, 0);
                started = now_usec();
                r = esp_loader_hard_reset(l);
                j->stats.reset_usec = now_usec() - started;
                /* The flash is written and proven; a reset that fails (a USB-OTG
                 * board already gone to re-enumerate) does not undo that. */
                if (r < 0)
                        log_warning_errno(r, "%s: hard reset failed: %m", j->port);
        }
        return 0;
}

static void job_publish_transport(Job *j, Transport *t, bool *ret_cancelled) {
        pthread_mutex_lock(&j->mutex);
        j->transport = t;
        *ret_cancelled = j->cancelled;
        pthread_mutex_unlock(&j->mutex);
}

static int job_run_device(Job *j) {
        _cleanup_(esp_loader_freep) EspLoader *l = NULL;
        Transport *t = NULL;
        bool cancelled;
        int r;

        /* After a memo hit nothing was read yet; reading before opening the port
         * means a changed file fails the job with the device untouched. */
        r = image_load(j->img);
        if (r == -ESTALE)
                return job_refuse(j, r, "an image file changed after it was submitted");
        if (r < 0)
                return job_fail(j, r, "cannot read the image");

        j->n_results = j->img->n_regions;
        j->results = calloc(j->n_results, sizeof(JobRegionResult));
        if (!j->results)
                return -ENOMEM;
        j->blocks = calloc(j->n_results, sizeof(JobBlockVerdicts));
        if (!j->blocks)
                return -ENOMEM;
        for (size_t i = 0; i < j->n_results; i++)
                j->results[i] = (JobRegionResult) {
                        .offset = j->img->regions[i].offset,
                        .size = j->img->regions[i].size,
                };

        if (job_cancelled(j))
                return -ECANCELED;
        r = transport_serial_open(j->port, JOB_CONNECT_BAUD, &t);
        if (r < 0)
                return job_fail(j, r, "cannot open %s", j->port);

        /* From here job_cancel() interrupts blocking I/O; a cancel that came
         * while we were opening is seen right away. */
        job_publish_transport(j, t, &cancelled);
        if (cancelled)
                r = -ECANCELED;
        else {
                r = esp_loader_new(t, &l);
                if (r >= 0)
                        r = job_session(j, l, t);
                if (l)
                        j->stats.flash_begins = esp_loader_stats(l)->flash_begins;
                l = esp_loader_free(l);
        }
        j->stats.bytes_sent = t->bytes_sent;
        j->stats.bytes_received = t->bytes_received;

        job_publish_transport(j, NULL, &cancelled);
        transport_free(t);
        return r;
}

static void *job_worker(void *userdata) {
        Job *j = userdata;
        int r;

        r = job_hash(j);
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
        j->error = MIN(r, 0);
        if (r < 0)
                log_debug("%s: job failed: %s", j->port, j->error_message);

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

        if (kind < 0 || kind >= _JOB_KIND_MAX || !port || !img || img->n_regions == 0 || !o || !ret)
                return -EINVAL;
        if (o->granularity < 0 || o->granularity >= _JOB_GRANULARITY_MAX)
                return -EINVAL;

        j = calloc(1, sizeof(Job));
        if (!j)
                return -ENOMEM;
        *j = (Job) {
                .kind = kind,
                .options = *o,
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
        j->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (j->event_fd < 0) {
                int r = -errno;

                free(j->port);
                return r;
        }
        pthread_mutex_init(&j->mutex, NULL);
        pthread_cond_init(&j->cond, NULL);
        j->img = TAKE_PTR(owned);

        *ret = TAKE_PTR(j);
        return 0;
}

Job *job_free(Job *j) {
        if (!j)
                return NULL;

        if (j->started && !j->finished) {
                job_cancel(j);
                pthread_join(j->thread, NULL);
        }

        pthread_cond_destroy(&j->cond);
        pthread_mutex_destroy(&j->mutex);
        safe_close(j->event_fd);
        image_free(j->img);
        for (size_t i = 0; j->blocks && i < j->n_results; i++)
                free(j->blocks[i].changed);
        free(j->blocks);
        free(j->results);
        free(j->written);
        free(j->port);
        free(j);
        return NULL;
}

int job_start(Job *j) {
        sigset_t all, saved;
        int r;

        if (!j)
                return -EINVAL;
        if (j->started)
                return -EBUSY;

        /* Signals belong to the main thread's event loop (signalfd): the worker
         * inherits a fully blocked mask. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &saved);
        r = -pthread_create(&j->thread, NULL, job_worker, j);
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
        if (r < 0)
                return r;

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

        if (!j)
                return -EINVAL;
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
                        pthread_join(j->thread, NULL);
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
