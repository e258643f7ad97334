/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Manager's device side: the udev monitor, the foreign-open watch, the
 * re-enumeration window and the serial monitors, wired to the trust table and
 * the jobs. Inside src/core only. */
#pragma once

#include "job.h"

typedef struct Manager Manager;

int manager_devices_init(Manager *m);
void manager_devices_done(Manager *m);
/* Reads every queued uevent and inotify event (before a decision on a port). */
void manager_devices_flush(Manager *m);

/* Hooks for the scheduler's callbacks. */
void manager_devices_job_granted(Manager *m, Job *j);
void manager_devices_job_progress(Manager *m, Job *j, JobPhase phase);
/* Before the job's caller is answered (trust has been updated for the job). */
void manager_devices_job_finished(Manager *m, Job *j);
/* The port name for a trust key in signals: the node while present, else the identity. */
const char *manager_devices_port_of(Manager *m, const char *device_id);
