/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* How the core tells its front end what happens, and asks it about what only
 * the front end holds (connections, pending authorizations): a table of hooks,
 * main thread only, any of them NULL. src/bus fills it; src/daemon wires it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "device-enum.h"
#include "job.h"
#include "trust-table.h"

typedef struct ManagerHooks {
        /* ---- events ---- */
        void (*job_progress)(Job *j, JobPhase phase, uint64_t done, uint64_t total, void *userdata);
        /* The job is over and the device's trust settled; the core frees the
         * job afterwards (its job_userdata is the hook's to release). */
        void (*job_finished)(Job *j, void *userdata);
        /* port: the device node while present, else its identity. */
        void (*trust_changed)(const char *port, const TrustEntry *e, void *userdata);
        void (*device_added)(const DeviceInfo *d, void *userdata);
        void (*device_removed)(const DeviceInfo *d, void *userdata);
        void (*monitor_paused)(const char *port, bool paused, void *userdata);

        /* ---- lifetime ---- */
        /* Calls, connections and checks in flight: while > 0 the service is not idle. */
        size_t (*n_pending)(void *userdata);
        /* The service is going (idle or terminating): stop taking new work
         * (release names, stop accepting). */
        void (*terminate)(void *userdata);
        /* True once nothing more can be routed to this instance. */
        bool (*stopped)(void *userdata);
        /* Handles everything already received; returns how many (> 0: new work
         * may have started). */
        int (*drain)(void *userdata);
        /* Sends everything queued, before exit. */
        void (*flush)(void *userdata);
} ManagerHooks;
