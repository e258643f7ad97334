/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Manager: the service's only mutable state (event loop, config, trust
 * table, job scheduler, bus connections), passed as userdata everywhere; and
 * its lifetime: serve, go idle, release the name, drain, exit. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <systemd/sd-event.h>

#include "bus.h"
#include "config.h"
#include "device-enum.h"
#include "device-monitor.h"
#include "device-reenum.h"
#include "device-watch.h"
#include "port-monitor.h"
#include "esp-loader.h"
#include "job-scheduler.h"
#include "trust-table.h"

typedef struct Manager {
        sd_event *event;
        Config config;
        TrustTable *trust;
        JobScheduler *scheduler;
        BusContext *bus;
        DeviceMonitor *devices;         /* what udev says is present */
        DeviceWatch *watch;             /* foreign opens of their nodes */
        ReenumTable *reenum;            /* re-enumerations after our own resets */
        sd_event_source *reenum_timer;
        PortMonitorSet *monitors;       /* serial monitors, one shared open per port */

        sd_event_source *sigterm_source, *sigint_source;
        bool exiting;           /* idle: no longer accepting, name released or being released */
        bool terminating;       /* SIGTERM/SIGINT: jobs cancelled, exit once they are gone */
        int exit_code;
} Manager;

int manager_new(const Config *config, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* Serves the listening sockets (takes the fds) and, when reachable, the system
 * bus. -ENOTCONN if there is neither. */
int manager_start(Manager *m, const int *listen_fds, size_t n_listen_fds);
/* Runs until idle exit or SIGTERM/SIGINT; returns the exit status. */
int manager_run(Manager *m);
/* Cancels every job and exits with exit_code once their callers have been
 * answered (SIGTERM, or a fatal loss of the bus). */
void manager_terminate(Manager *m, int exit_code);
/* No job, no peer connection, no call waiting for its job. */
bool manager_is_idle(Manager *m);

/* A port as the scheduler and the trust table know it. */
typedef struct ManagerPort {
        char *node;             /* canonical device node: the scheduler's key */
        char *device_id;        /* the trust table's key */
        DeviceKind kind;        /* _DEVICE_KIND_INVALID: a character device udev does not know */
} ManagerPort;

void manager_port_done(ManagerPort *p);
/* -ENODEV if port is neither a device udev knows nor an existing character
 * device; with must_exist false, the node of a device udev recently reported
 * removed still resolves, to that device's identity (a device that is gone
 * keeps its trust state). Nothing is created for a port that does not resolve. */
int manager_resolve_port(Manager *m, const char *port, bool must_exist, ManagerPort *ret);
/* The key under which a job may record trust for the port: NULL for a
 * character device udev does not know (nothing watches it: no remove edge, no
 * foreign-open watch, so trust could never be proven). */
const char *manager_port_job_trust_key(const ManagerPort *p);
/* The trust table's key for an enumerated device: its udev identity. */
const char *manager_device_trust_key(const DeviceInfo *d);
/* The reset into the bootloader when the caller says "default". */
EspResetStrategy manager_default_reset(DeviceKind kind);
