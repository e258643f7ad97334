/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A Verify or DeployRegions as a bus object, as importd does for transfers:
 * /org/fbuild/Deploy1/job/<id> with org.fbuild.Deploy1.Job, from the moment
 * the call becomes a job until its reply. It rides on the core's job as the
 * job's userdata and holds the call that is answered when the job ends. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-bus.h>

#include "job.h"

typedef struct BusContext BusContext;

typedef struct BusJob {
        BusContext *bus;
        uint32_t id;
        char *path;
        char *port;                     /* the node the job runs on */
        JobKind kind;
        uid_t uid;                      /* whose job it is */
        sd_bus_message *call;           /* answered when the job ends */

        /* As the last progress said. */
        JobPhase phase;
        uint64_t done, total;

        struct BusJob *prev, *next;     /* BusContext.jobs, once queued */
} BusJob;

/* A job object for call (referenced), not yet visible. */
int bus_job_new(BusContext *b, JobKind kind, const char *port, uid_t uid, sd_bus_message *call, BusJob **ret);
/* Unlists (the object is gone) and frees. */
BusJob *bus_job_free(BusJob *j);
DEFINE_TRIVIAL_CLEANUP_FUNC(BusJob *, bus_job_free);

/* Lists the job: from now on its object answers on every connection. */
void bus_job_publish(BusJob *j);
/* Tells the caller alone which object its call has become (JobQueued). */
int bus_job_announce(BusJob *j);
/* The job moved: Progress (with the job's path) on the manager and
 * PropertiesChanged on the job, at the pace of the core's progress. */
void bus_job_progress(BusJob *j, JobPhase phase, uint64_t done, uint64_t total);

/* The job is over: Phase "done" (PropertiesChanged only), before its reply. */
void bus_job_finish(BusJob *j);

/* The job objects on a connection (a fallback vtable and its enumerator). */
int bus_job_add_objects(sd_bus *bus, BusContext *b);
/* ListJobs() on the manager. */
int bus_job_method_list(sd_bus_message *message, void *userdata, sd_bus_error *error);
