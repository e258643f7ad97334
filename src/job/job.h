/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A deploy or verify job: hash the image, then (once the scheduler grants the
 * port) connect → verify → write what differs → verify what was written → reset.
 * Each job runs in one worker thread of its own and reports to the main thread
 * over an eventfd-signalled message queue; the main thread never blocks on it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "esp-chip.h"
#include "esp-loader.h"
#include "image.h"
#include "time-util.h"
#include "transport.h"

typedef enum JobKind {
        JOB_KIND_VERIFY,
        JOB_KIND_DEPLOY,
        _JOB_KIND_MAX,
        _JOB_KIND_INVALID = -1,
} JobKind;

typedef enum JobOutcome {
        JOB_OUTCOME_TRUST_SKIP,     /* "trust-skip": nothing touched, port never opened */
        JOB_OUTCOME_VERIFY_SKIP,    /* "verify-skip": device already matched */
        JOB_OUTCOME_SELECTIVE,      /* "selective": some regions written */
        JOB_OUTCOME_FULL,           /* "full": every region written */
        _JOB_OUTCOME_MAX,
        _JOB_OUTCOME_INVALID = -1,
} JobOutcome;

typedef enum JobPhase {
        JOB_PHASE_HASH,             /* "hash" */
        JOB_PHASE_QUEUED,           /* "queued": waiting for the port */
        JOB_PHASE_CONNECT,          /* "connect" */
        JOB_PHASE_VERIFY,           /* "verify" */
        JOB_PHASE_ERASE,            /* "erase": a ROM erasing a write's range before its first block */
        JOB_PHASE_WRITE,            /* "write" */
        JOB_PHASE_POST_VERIFY,      /* "post-verify" */
        JOB_PHASE_RESET,            /* "reset" */
        JOB_PHASE_DONE,             /* "done" */
        _JOB_PHASE_MAX,
        _JOB_PHASE_INVALID = -1,
} JobPhase;

typedef enum JobGranularity {
        JOB_GRANULARITY_REGION,     /* "region" */
        JOB_GRANULARITY_SECTOR,     /* "sector": only the 4 KiB sectors that differ (flash-plan.h) */
        _JOB_GRANULARITY_MAX,
        _JOB_GRANULARITY_INVALID = -1,
} JobGranularity;

typedef enum JobLoader {
        JOB_LOADER_AUTO,            /* "auto": the stub when the cost model says it pays (flash-loader-choice.h) */
        JOB_LOADER_STUB,            /* "stub": the stub whenever one is found, started right after connect */
        JOB_LOADER_ROM,             /* "rom": never the stub (esptool --no-stub) */
        _JOB_LOADER_MAX,
        _JOB_LOADER_INVALID = -1,
} JobLoader;

const char *job_kind_to_string(JobKind k);
const char *job_outcome_to_string(JobOutcome o);
const char *job_phase_to_string(JobPhase p);
const char *job_granularity_to_string(JobGranularity g);
JobGranularity job_granularity_from_string(const char *s);
const char *job_loader_to_string(JobLoader l);
JobLoader job_loader_from_string(const char *s);

typedef struct JobOptions {
        bool trust;                     /* resolved: per-call option or service default */
        const EspChipInfo *chip;        /* NULL: detect; else the detected chip must match */
        uint32_t baud;                  /* transfer baud; 0: stay at 115200 */
        EspResetStrategy reset_before;  /* resolved ("default" → by device kind) */
        bool uart_link;                 /* the port is a USB-UART bridge (by device kind) */
        bool reset_after;               /* hard reset into the application when done */
        JobGranularity granularity;
        JobLoader loader;
        /* Where a stub comes from, first found first: the caller's own
         * (stub_json, esptool's JSON text; job_new() copies it), StubDirectory=
         * (<dir>/<chip>.json), StubSearchPath= (flash_stub_find()). NULL:
         * none. The strings must outlive the job. */
        const char *stub_json;
        size_t stub_json_len;
        const char *stub_dir;
        const char *stub_search;
} JobOptions;

typedef struct JobRegionResult {
        uint32_t offset;
        uint64_t size;
        bool matched;                   /* device held these bytes before any write */
        bool written;
        uint8_t device_md5[16];         /* last MD5 the device reported */
} JobRegionResult;

typedef struct JobRange {
        uint64_t offset, size;
} JobRange;

typedef struct JobStats {
        usec_t connect_usec, verify_usec, write_usec, post_verify_usec, reset_usec;
        uint64_t bytes_sent, bytes_received;
        uint64_t flash_begins;
        uint64_t stream_restarts;       /* write streams begun again after a refused or lost block */
        uint64_t repairs;               /* image ranges a write had changed, written again (in `written`) */
        uint32_t baud;                  /* the transfer rate the job ended at; 0: the port was not opened */
        bool baud_fallback;             /* the raised rate lost data: reconnected and went on at 115200 */
        uint64_t flash_size;
        const char *chip;               /* static chip name, or NULL */
        bool verification_impossible;   /* e.g. Secure Download Mode refused MD5: all regions written */
        const char *loader;             /* "stub" or "rom": what served the job at its end; NULL: no connect */
        bool stub_failed;               /* a stub was uploaded but did not run: the ROM went on */
} JobStats;

typedef struct Job Job;

/* job_error() values besides those of the layers below (transport, loader,
 * flash: -ETIMEDOUT, -ENODEV, -EPROTO, -EIO …):
 *   -ECANCELED   job_cancel() (or the scheduler's cancel) stopped it
 *   -ENXIO       the detected chip is not options.chip
 *   -ERANGE      the image ends past the detected flash size
 *   -ESTALE      an image file changed after validation
 *   -EOPNOTSUPP  a verify job on a chip that refuses flash MD5 (secure download
 *                mode); a deploy then writes everything and sets
 *                stats.verification_impossible instead
 *   -ENOENT/-EACCES/-EBUSY  the port could not be opened
 * The port is opened at 115200 baud, connected with 3 attempts; a failed switch
 * to options.baud is not fatal (the job goes on at 115200 and logs it). A link
 * that loses data after a successful switch (a lost or garbled reply, or a
 * write that keeps nothing twice in a row) is given up once per job: the chip
 * is reset into its bootloader again, connected at 115200 and the job goes on
 * from what is proven on the flash (stats.baud_fallback). */

/* How a worker opens its port at baud: 0, or -ENOENT/-EACCES/-EPERM/-EBUSY as
 * transport_serial_open() says. */
typedef int (*JobOpenTransportFn)(const char *port, uint32_t baud, Transport **ret);

/* Invoked on the main thread from job_dispatch() (open_transport excepted). Only `finished` may free the
 * job. Progress is posted at phase changes and at least every 64 KiB written;
 * a backlog of undispatched progress is coalesced (bounded queue). */
typedef struct JobCallbacks {
        /* The image hash is known (img->hash_valid). The scheduler decides
         * between job_skip() and job_run(). */
        void (*hashed)(Job *j, void *userdata);
        void (*progress)(Job *j, JobPhase phase, uint64_t done, uint64_t total, void *userdata);
        /* The worker has ended; results and error are final; the thread is joined. */
        void (*finished)(Job *j, void *userdata);
        /* Required, and called on the worker thread: opens the job's port (the
         * serial transport in the service, a fake in tests), so that this layer
         * links no serial port library. */
        JobOpenTransportFn open_transport;
} JobCallbacks;

/* Takes ownership of img (validated) in all cases. The worker owns img from
 * job_start() until `finished`, except that the main thread may read its hash
 * fields from `hashed` until job_run()/job_skip(). */
int job_new(JobKind kind, const char *port, Image *img, const JobOptions *o,
            const JobCallbacks *cb, void *userdata, Job **ret);
/* Cancels and joins a running worker first. */
Job *job_free(Job *j);
/* After the job (on the main thread): the port the job reset the chip on,
 * still open with EN held low, or NULL. The caller releases EN (its monitors
 * listening first, so the boot is heard from its first byte: one boot per
 * job) and frees it. A port nobody takes is released by job_free(). */
Transport *job_take_reset_port(Job *j);
/* When EN of the taken port may be released (the chip's reset hold is over). */
usec_t job_reset_release_at(Job *j);
DEFINE_TRIVIAL_CLEANUP_FUNC(Job *, job_free);

/* Whether the job hashes its image before its turn, before job_start() only.
 * By default a deploy with trust does (its turn may compare the hash with the
 * device's trusted image: a trust-skip); any other job, or one told false
 * here, hashes while its connect holds the chip in reset, and its turn never
 * makes it a trust-skip. */
void job_set_hash_first(Job *j, bool hash_first);

/* Lowers options.baud to at most cap (0: no cap), before job_run() only: a
 * port whose raised rate lost data keeps a lower one (the scheduler). */
void job_cap_baud(Job *j, uint32_t cap);

/* What earlier sessions learnt about the device (esp-loader.h's EspLoaderFacts),
 * before job_run() only: the connect takes them if the chip agrees. */
void job_set_known(Job *j, const EspLoaderFacts *f);
/* Once finished: what this job's connect learnt (-ENODATA: nothing, e.g. it
 * never connected), and whether it went by known facts, so that a failure
 * after it makes the next job ask afresh. */
int job_learned(Job *j, EspLoaderFacts *ret);
bool job_used_known(Job *j);

/* A region's content the device was last proven to hold (by MD5, in an earlier
 * job): a guess for the sector planner, never a proof. A region of the image
 * at the same place that differs from it is known to have changed, and is
 * verified block by block straight away (job-device.c). */
typedef struct JobKnownRegion {
        uint32_t offset;
        uint64_t size;
        uint8_t md5[16];
} JobKnownRegion;
/* Before job_run() only; copied. */
int job_set_known_content(Job *j, const JobKnownRegion *v, size_t n);

/* Starts the worker: it loads and hashes the image unless the hash is already
 * valid (memo hit), then reports `hashed` and waits. */
int job_start(Job *j);
/* The port is ours: go on with the device. */
void job_run(Job *j);
/* Finish without touching the device (trust-skip). */
void job_skip(Job *j, JobOutcome outcome);
/* Thread-safe, idempotent: stop as soon as possible with -ECANCELED
 * (interrupts blocking transport I/O). */
void job_cancel(Job *j);

/* Readable (eventfd) whenever job_dispatch() has something to deliver. */
int job_get_event_fd(Job *j);
int job_dispatch(Job *j);

/* The results below are valid once finished (before: 0, NULL, empty). A verify
 * job's outcome is verify-skip if every region matched, else invalid; results
 * hold per region whether it matched before any write, whether it was written
 * and the device's MD5 (for a written region: that of the data, proven). */
JobKind job_kind(Job *j);
const char *job_port(Job *j);
Image *job_image(Job *j);
JobPhase job_phase(Job *j);
bool job_is_finished(Job *j);
int job_error(Job *j);                  /* 0 or -errno once finished */
const char *job_error_message(Job *j);  /* detail for the error, or NULL */
JobOutcome job_outcome(Job *j);
const JobRegionResult *job_region_results(Job *j, size_t *ret_n);
const JobRange *job_written(Job *j, size_t *ret_n);
const JobStats *job_stats(Job *j);
/* What job_get_userdata() returns; job_new() sets it to the callbacks' userdata.
 * The callbacks keep receiving the userdata given to job_new(). */
void *job_get_userdata(Job *j);
void job_set_userdata(Job *j, void *userdata);
