/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The service core: the Manager (config, devices, trust, the job queue, serial
 * monitors, the idle policy), the only mutable state of the service. It knows
 * nothing of sd-bus: a front end (src/bus) calls the entry points below and
 * hears what happens through ManagerHooks (manager-hooks.h). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "config.h"
#include "device-enum.h"
#include "device-holders.h"
#include "esp-loader.h"
#include "image.h"
#include "job-scheduler.h"
#include "job.h"
#include "macro.h"
#include "manager-hooks.h"
#include "port-owner.h"
#include "trust-table.h"

typedef struct Manager Manager;

int manager_new(const Config *config, Manager **ret);
/* Stops the jobs and the device side; what stays can still answer questions. */
void manager_stop(Manager *m);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* The front end, told everything through hooks (userdata is theirs). */
void manager_set_hooks(Manager *m, const ManagerHooks *hooks, void *userdata);
sd_event *manager_get_event(Manager *m);
const Config *manager_get_config(Manager *m);

/* Runs until idle exit or SIGTERM/SIGINT; returns the exit status. */
int manager_run(Manager *m);
/* Cancels every job and exits with exit_code once their callers have been
 * answered (SIGTERM, or a fatal loss of the bus). */
void manager_terminate(Manager *m, int exit_code);
bool manager_is_terminating(Manager *m);
/* No job, no monitor, nothing the front end holds (ManagerHooks.n_pending). */
bool manager_is_idle(Manager *m);

/* ---- ports -------------------------------------------------------------------- */

/* A port as the scheduler and the trust table know it. */
typedef struct ManagerPort {
        char *node;             /* canonical device node: the scheduler's key */
        char *device_id;        /* the trust table's key */
        DeviceKind kind;        /* _DEVICE_KIND_INVALID: a character device udev does not know */
} ManagerPort;

void manager_port_done(ManagerPort *p);
/* What a caller's port must be for the method at hand. */
typedef enum ManagerPortNeed {
        MANAGER_PORT_PRESENT,           /* a device udev knows, or an existing character device */
        MANAGER_PORT_MAY_BE_GONE,       /* also a device udev recently reported removed: it keeps
                                         * its trust state */
        MANAGER_PORT_UDEV_SERIAL,       /* a USB serial device udev knows: monitors follow it by
                                         * its identity, Reset pulls its modem lines */
} ManagerPortNeed;
/* The one way from a caller's port name to the core's keys. -ENODEV if port
 * does not resolve as `need` asks; -EMEDIUMTYPE (MANAGER_PORT_UDEV_SERIAL) if it is
 * a character device udev does not know. ret_device (UDEV_SERIAL only, may be
 * NULL) points into the device list until the next uevent is applied.
 * Nothing is created for a port that does not resolve. */
int manager_resolve_port(Manager *m, const char *port, ManagerPortNeed need, ManagerPort *ret,
                         const DeviceInfo **ret_device);

/* ---- devices ------------------------------------------------------------------ */

/* The udev monitor's list, with every queued uevent applied. */
const DeviceInfo *manager_list_devices(Manager *m, size_t *ret_n);
/* What a device's entry says besides its udev facts. */
typedef struct ManagerDeviceState {
        bool trusted;
        PortOwner owner;                /* FOREIGN only for a port that is otherwise idle */
        const char *chip;               /* detected by the last job on the port (static), or NULL */
        int holder_pid;                 /* FOREIGN: one process holding the tty open */
        char holder_name[DEVICE_HOLDER_COMM_MAX];       /* its /proc comm, "" if unreadable */
} ManagerDeviceState;
ManagerDeviceState manager_device_state(Manager *m, const DeviceInfo *d);
/* idle, monitoring, or flashing (a job outranks the monitors it pauses). */
PortOwner manager_port_owner(Manager *m, const char *node);

/* ---- trust -------------------------------------------------------------------- */

TrustEntry manager_trust_state(Manager *m, const ManagerPort *port);
/* ForgetTrust: 1 if trust was dropped, 0 if there was none. A port udev does
 * not know (a bare UART, a device that is gone) can hold no trust of its own:
 * nothing to forget, and no record is created for it. */
int manager_forget_trust(Manager *m, const ManagerPort *port);

/* ---- jobs --------------------------------------------------------------------- */

/* A Verify or DeployRegions as the caller asked for it; what it left out is
 * resolved by the core from the config and the device kind. */
typedef struct ManagerJobOptions {
        int trust;                      /* -1: Trust= */
        bool reset_before_default;      /* "before" "default": by device kind */
        bool baud_default;              /* no "baud": BridgeBaud= on a bridge, else 115200 */
        bool granularity_default;       /* no "granularity": Granularity= */
        bool loader_default;            /* no "loader": Loader= */
        JobOptions job;                 /* everything the caller said */
} ManagerJobOptions;

/* The options a job runs with: the caller's, and for what it left out the
 * config's defaults (Trust=, BridgeBaud= on a uart-bridge and 115200 elsewhere,
 * Granularity=, Loader=), the reset its device kind needs, StubDirectory= and
 * StubSearchPath= always (after a stub the caller passed). The config (c) must
 * outlive the options (stub_dir and stub_search point into it). */
JobOptions manager_job_options_resolve(const Config *c, DeviceKind kind, const ManagerJobOptions *o);

/* Flash size learnt at the last connect to this port, 0 if unknown. */
uint64_t manager_known_flash_size(Manager *m, const char *node);
/* Queues a job on port (takes img in all cases). job_userdata rides on the job
 * (job_get_userdata()) until ManagerHooks.job_finished. -ECANCELED while the
 * service is terminating; else job_scheduler_submit()'s errors. */
int manager_submit_job(Manager *m, JobKind kind, const ManagerPort *port, Image *img,
                       const ManagerJobOptions *o, void *job_userdata);
/* Cancels the port's jobs that match() (NULL: all); returns how many. */
int manager_cancel_jobs(Manager *m, const char *node, JobMatchFn match, void *userdata);
size_t manager_count_jobs(Manager *m, const char *node, JobMatchFn match, void *userdata);

/* ---- monitors ----------------------------------------------------------------- */

/* Reset: the chip of d reset into its application, or into its bootloader,
 * with its monitors listening (port_monitor_reset()): -EBUSY while a job
 * holds the port. */
int manager_reset(Manager *m, const DeviceInfo *d, bool bootloader);

/* The device a monitor of port would follow: monitors follow a device by its
 * identity, so only devices udev knows (-ENODEV otherwise). Borrowed. */
/* Whether a user other than uid monitors the device with this identity. */
bool manager_monitored_by_other(Manager *m, const char *identity, uid_t uid);
size_t manager_n_monitors_of(Manager *m, uid_t uid);
/* A new monitor client of d: the client's end of a socket pair in ret_fd.
 * port_monitor_attach()'s errors (-EBUSY another baud rate, …). */
int manager_monitor_attach(Manager *m, const DeviceInfo *d, uint32_t baud, bool input, uid_t uid, int *ret_fd);
