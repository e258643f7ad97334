/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Job object's inside, shared by job.c (lifecycle, messages to the main
 * thread, accessors) and job-device.c (the worker's session with the device).
 * Not for use outside src/job. */
#pragma once

#include <pthread.h>
#include <stdarg.h>

#include "flash-ranges.h"
#include "flash-stub.h"
#include "job.h"
#include "macro.h"
#include "progress-util.h"
#include "string-util.h"
#include "transport.h"

#define JOB_CONNECT_BAUD 115200u
#define JOB_CONNECT_ATTEMPTS 3u
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
        char *stub_json;         /* options.stub_json's storage */
        JobCallbacks cb;
        void *cb_userdata;
        int event_fd;

        /* Main thread only. */
        void *userdata;
        pthread_t thread;
        void *stack;             /* the worker's stack mapping (job_start()), unmapped once joined */
        size_t stack_size;
        bool started;
        bool finished;           /* `finished` delivered, worker joined */

        /* The worker's from job_start() to `finished`, except that the main
         * thread may read the hash fields while the job waits after `hashed`. */
        Image *img;
        /* Whether the job's turn may depend on the image hash: only a deploy
         * that may be a trust-skip is compared with the device's trusted image
         * before it runs (job_set_hash_first()). Any other job hashes while its
         * connect holds the chip in reset, and this is how that went (0: not
         * yet, or fine); trust is recorded at its end, with the hash. */
        bool hash_first;
        int hash_error;

        /* Guarded by mutex. */
        pthread_mutex_t mutex;
        pthread_cond_t cond;
        JobCommand command;
        JobOutcome skip_outcome;
        bool cancelled;
        Transport *transport;    /* while open, for job_cancel() to interrupt */
        /* After the job: the port, still open, with the chip held in reset
         * (job_take_reset_port()). */
        Transport *held_port;
        bool reset_held;
        usec_t reset_release_at;        /* EN may be released from then on */
        JobPhase phase;
        JobMessage queue[JOB_QUEUE_MAX];
        size_t n_queued;

        /* Written by the worker; the main thread reads them once `finished`
         * (the mutex and pthread_join() order the accesses). */
        int error;
        char error_message[JOB_ERROR_MESSAGE_MAX];
        bool reset_failed;              /* the board could not be reset after a failure */
        JobOutcome outcome;
        JobRegionResult *results;
        size_t n_results;
        JobRange *written;
        size_t n_written;
        JobStats stats;

        /* The worker's, for the sector planner: the transfer baud after connect,
         * and the smallest round trip an MD5 exchange has shown (the default
         * until one has: rtt_measured). */
        uint32_t link_baud;
        usec_t rtt_usec;
        bool rtt_measured;
        /* Per region, for a sector deploy: each 64 KiB block's verdict from
         * verify (changed == NULL: verified with one MD5). */
        JobBlockVerdicts *blocks;
        /* The worker's: flash this deploy's writes may have changed that no
         * MD5 has proven since, and whether some write's footprint is unknown
         * (then the whole image is proven at the end). */
        FlashRanges unproven;
        bool footprint_unknown;
        /* The worker's: flash this session's MD5s found to hold only 0xFF
         * (the device MD5 of a range was that of 0xFF bytes) and no write has
         * touched since: probes inside it are answered from the image, and the
         * ROM writes there without erasing (flash_write_region_over). */
        FlashRanges erased;
        /* The worker's: the stub found for the chip (NULL: none, or not
         * wanted) and where it came from (for the log). */
        FlashStub *stub;
        char *stub_origin;

        /* Facts about the board: known before the job (set before it runs),
         * learnt by its connect (the worker's until `finished`). */
        EspLoaderFacts known, learned;
        bool used_known;
        JobKnownRegion *known_content;
        size_t n_known_content;
};

/* Rounds of proving and repairing what writes touched before a deploy gives up. */
#define JOB_PROOF_ROUNDS 3

uint64_t job_image_total_bytes(const Image *img);
int job_hash(Job *j, bool report);
bool job_cancelled(Job *j);
int job_fail(Job *j, int r, const char *format, ...) _printf_(3, 4);
void job_progress(Job *j, JobPhase phase, uint64_t done, uint64_t total);
int job_refuse(Job *j, int r, const char *format, ...) _printf_(3, 4);
int job_run_device(Job *j);
/* image_load() for the worker: a file that changed since the job was
 * submitted refuses the job, any other failure fails it. */
int job_load_image(Job *j);
