/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The scheduler owns every job: image-hash memo, trust decisions and one FIFO
 * per port (different ports run in parallel). It watches job event fds on the
 * sd-event loop; it knows nothing about D-Bus. Main thread only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <systemd/sd-event.h>

#include "image.h"
#include "job.h"
#include "trust-table.h"

typedef struct JobScheduler JobScheduler;

typedef struct JobSchedulerCallbacks {
        void (*progress)(Job *j, JobPhase phase, uint64_t done, uint64_t total, void *userdata);
        /* The job is about to open its port (called just before it may): the
         * device layer counts that open as the service's own. */
        void (*granted)(Job *j, void *userdata);
        /* The job is over (success, error, skip or cancel); ownership passes to
         * the callee, who must job_free() it. */
        void (*finished)(Job *j, void *userdata);
        /* Required: how every job opens its port (JobCallbacks.open_transport,
         * called on the job's worker thread). */
        JobOpenTransportFn open_transport;
} JobSchedulerCallbacks;

/* The scheduler owns the image-hash memo (64 entries). */
int job_scheduler_new(sd_event *e, TrustTable *trust, const JobSchedulerCallbacks *cb,
                      void *userdata, JobScheduler **ret);
/* Cancels every job and waits for the workers; jobs still held are freed
 * without `finished` (cancel_all and run the loop first to get replies out). */
JobScheduler *job_scheduler_free(JobScheduler *s);

/* Queues a job (the scheduler holds it until `finished`); takes ownership of img
 * in all cases; ret (may be NULL) borrows the job. -ERANGE if the image ends past
 * the flash size learnt on this port. The trust check happens when the job's
 * turn comes (hashed, and every earlier job of the port finished): for a deploy
 * with o->trust and a device_id whose trusted hash equals the image's, the job
 * finishes as trust-skip without opening the port. Verify jobs always ask the
 * device. job_userdata is stored on the job (job_get_userdata()).
 * Trust afterwards: a successful deploy or an all-match verify sets it (not an
 * unverifiable write: that clears it as "replaced"); a deploy
 * that failed or was cancelled after its first FLASH_BEGIN clears it
 * (write-failed / cancelled); a verify that finds a mismatch on a device trusted
 * with this very image clears it (replaced).
 * A job that fell back from its raised baud rate (stats.baud_fallback) caps the
 * port's later jobs at the rate it finished at, for the scheduler's lifetime. */
int job_scheduler_submit(JobScheduler *s, JobKind kind, const char *port, const char *device_id,
                         Image *img, const JobOptions *o, void *job_userdata, Job **ret);
/* Cancels the running and queued jobs of a port; returns how many. */
int job_scheduler_cancel_port(JobScheduler *s, const char *port);
/* Only those match() says yes to (NULL: all); jobs already cancelled are not
 * counted again. */
typedef bool (*JobMatchFn)(Job *j, void *userdata);
int job_scheduler_cancel_port_where(JobScheduler *s, const char *port, JobMatchFn match, void *userdata);
/* How many of the port's live jobs match() (NULL: all). */
size_t job_scheduler_count_port(JobScheduler *s, const char *port, JobMatchFn match, void *userdata);
void job_scheduler_cancel_all(JobScheduler *s);
size_t job_scheduler_n_jobs(JobScheduler *s);
/* Whether a job holds the port (a trust-skip holds its turn, never the device). */
bool job_scheduler_port_flashing(JobScheduler *s, const char *port);
/* The chip detected at the last connect to this port (a static name), NULL if unknown. */
const char *job_scheduler_known_chip(JobScheduler *s, const char *port);
/* Flash size learnt at the last connect to this port, 0 if unknown. */
uint64_t job_scheduler_known_flash_size(JobScheduler *s, const char *port);
/* Forget what connects learnt about a device (chip, flash, reset holds): it
 * left (the udev remove edge that drops its trust). */
void job_scheduler_forget_device(JobScheduler *s, const char *device_id);
