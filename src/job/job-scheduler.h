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
        /* The job is over (success, error, skip or cancel); ownership passes to
         * the callee, who must job_free() it. */
        void (*finished)(Job *j, void *userdata);
} JobSchedulerCallbacks;

int job_scheduler_new(sd_event *e, TrustTable *trust, const JobSchedulerCallbacks *cb,
                      void *userdata, JobScheduler **ret);
/* Cancels every job and waits for the workers. */
JobScheduler *job_scheduler_free(JobScheduler *s);

/* Queues a job (the scheduler holds it until `finished`). The trust check
 * happens as soon as the hash is known; a hit finishes the job as trust-skip
 * without opening the port. job_userdata is stored on the job. */
int job_scheduler_submit(JobScheduler *s, JobKind kind, const char *port, const char *device_id,
                         Image *img, const JobOptions *o, void *job_userdata, Job **ret);
/* Cancels the running and queued jobs of a port; returns how many. */
int job_scheduler_cancel_port(JobScheduler *s, const char *port);
void job_scheduler_cancel_all(JobScheduler *s);
size_t job_scheduler_n_jobs(JobScheduler *s);
/* "idle", "flashing" (a job holds the port) — monitoring comes with monitors. */
const char *job_scheduler_port_owner(JobScheduler *s, const char *port);
/* Flash size learnt at the last connect to this port, 0 if unknown. */
uint64_t job_scheduler_known_flash_size(JobScheduler *s, const char *port);
