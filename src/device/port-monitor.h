/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Serial monitors: per device, one shared open of its port whose output fans
 * out to every client socket (bounded buffering, a visible marker where a slow
 * client lost bytes), paused while a job holds the port, resumed before the
 * chip leaves reset, following the device across re-enumeration. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "device-enum.h"
#include "transport.h"

/* Per client, besides what its socket holds. */
#define PORT_MONITOR_CLIENT_BUFFER (16u * 1024u)
/* A device that leaves and is not back within this ends its monitors. */
#define PORT_MONITOR_RETURN_USEC (5 * USEC_PER_SEC)

typedef struct PortMonitorSet PortMonitorSet;

typedef struct PortMonitorCallbacks {
        /* The service is about to open node itself / has opened it (the
         * foreign-open watch must not count it). */
        void (*own_open_begin)(const char *node, void *userdata);
        void (*own_open_end)(const char *node, void *userdata);
        /* Out-of-band notices (MonitorPaused / MonitorResumed). */
        void (*paused)(const char *node, void *userdata);
        void (*resumed)(const char *node, void *userdata);
} PortMonitorCallbacks;

int port_monitor_set_new(sd_event *e, const PortMonitorCallbacks *cb, void *userdata, PortMonitorSet **ret);
PortMonitorSet *port_monitor_set_free(PortMonitorSet *s);

/* Adds a monitor of device d at baud; returns the client's end of a socket
 * (the caller owns it). The port is opened on the first monitor unless a job
 * holds it (then the monitor starts paused). -EBUSY if the port is monitored
 * at another baud. write: what the client sends goes to the device. */
int port_monitor_attach(PortMonitorSet *s, const DeviceInfo *d, uint32_t baud, bool write,
                        bool job_running, uid_t owner, int *ret_fd);
size_t port_monitor_set_n_clients(PortMonitorSet *s);
/* The monitors that owner holds, on every port. */
size_t port_monitor_set_n_clients_of(PortMonitorSet *s, uid_t owner);
/* Whether a user other than uid monitors the device with this identity. */
bool port_monitor_set_other_owner(PortMonitorSet *s, const char *identity, uid_t uid);
bool port_monitor_set_monitors(PortMonitorSet *s, const char *node);

/* A job is about to open node: read what is pending, close, tell the clients. */
void port_monitor_pause(PortMonitorSet *s, const char *node);
/* The job is over: reopen at the monitors' baud. held (taken): the job's
 * port, still open with the chip held in reset (job_take_reset_port()): the
 * monitors read it from now on and then release EN, so they hear the one boot
 * from its first byte; with no monitors, EN is released and the port closed. */
void port_monitor_resume(PortMonitorSet *s, const char *node, Transport *held);
/* The same, with EN released no sooner than release_at (CLOCK_MONOTONIC): the
 * job left the chip in reset without waiting out the hold, so that its reply
 * does not wait for it; a timer ends the hold, on the monitors' port or, with
 * none, on one kept open for it alone (d says which device; NULL: at once).
 * A job that takes the port before then ends the hold early: it resets the
 * chip itself. */
void port_monitor_resume_held(PortMonitorSet *s, const DeviceInfo *d, const char *node, Transport *held,
                              usec_t release_at);

/* Resets the chip of d, into its application or (bootloader) into the ROM's
 * download mode, with esptool's line sequences. Monitors keep listening, so
 * they get the boot output from its first byte; an unmonitored port is opened
 * for the reset alone; a reset that runs gives way. -EBUSY while a job holds the port,
 * -ENODEV while a monitored device is away; port opening errors. */
int port_monitor_reset(PortMonitorSet *s, const DeviceInfo *d, bool bootloader, bool job_running);
/* The rate an unmonitored port is opened at for a reset (nothing is read). */
#define PORT_MONITOR_RESET_BAUD 115200u

/* udev edges: a monitored device that leaves waits PORT_MONITOR_RETURN_USEC for
 * the same identity to come back (on whatever node), else its monitors end. */
void port_monitor_device_removed(PortMonitorSet *s, const DeviceInfo *d);
void port_monitor_device_added(PortMonitorSet *s, const DeviceInfo *d);
