/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Manager's inside, shared by manager.c (lifetime, jobs, trust, ports) and
 * manager-devices.c (udev edges, foreign opens, re-enumeration, monitors). Not
 * for use outside src/core: everyone else goes through manager.h. */
#pragma once

#include "device-monitor.h"
#include "device-watch.h"
#include "manager.h"
#include "port-monitor.h"
#include "trust-reenum.h"

struct Manager {
        sd_event *event;
        Config config;
        TrustTable *trust;
        JobScheduler *scheduler;
        DeviceMonitor *devices;         /* what udev says is present */
        DeviceWatch *watch;             /* foreign opens of their nodes */
        ReenumTable *reenum;            /* re-enumerations after our own resets */
        sd_event_source *reenum_timer;
        PortMonitorSet *monitors;       /* serial monitors, one shared open per port */

        const ManagerHooks *hooks;      /* the front end (never NULL: empty by default) */
        void *hooks_userdata;

        sd_event_source *sigterm_source, *sigint_source;
        bool exiting;           /* idle: no longer accepting, name released or being released */
        bool terminating;       /* SIGTERM/SIGINT: jobs cancelled, exit once they are gone */
        int exit_code;
};

/* Calls hook `name` with the front end's userdata, if there is such a hook. */
#define MANAGER_HOOK(m, name, ...)                                              \
        do {                                                                    \
                if ((m)->hooks->name)                                           \
                        (m)->hooks->name(__VA_ARGS__, (m)->hooks_userdata);     \
        } while (0)

/* The trust table's key for an enumerated device: its udev identity. */
const char *manager_device_trust_key(const DeviceInfo *d);
