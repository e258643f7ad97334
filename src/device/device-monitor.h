/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The devices present, as udev says: enumerated once at start, then kept up to
 * date by a udev monitor on the sd-event loop. Both paths describe a device
 * with device_info_from_udev(); add and remove edges go to the callbacks. */
#pragma once

#include <stddef.h>

#include <systemd/sd-event.h>

#include "device-enum.h"

typedef struct DeviceMonitor DeviceMonitor;

typedef struct DeviceMonitorCallbacks {
        /* d is the monitor's own copy, valid during the call. */
        void (*added)(DeviceMonitor *mon, const DeviceInfo *d, void *userdata);
        /* Called before the device leaves the list. */
        void (*removed)(DeviceMonitor *mon, const DeviceInfo *d, void *userdata);
} DeviceMonitorCallbacks;

/* Starts listening before enumerating, so that nothing falls between the two.
 * The devices present at start are reported through `added` too. */
int device_monitor_new(sd_event *e, const DeviceMonitorCallbacks *cb, void *userdata,
                       DeviceMonitor **ret);
DeviceMonitor *device_monitor_free(DeviceMonitor *mon);

/* Handles every uevent already queued (before answering from the list). */
void device_monitor_flush(DeviceMonitor *mon);
const DeviceInfo *device_monitor_devices(DeviceMonitor *mon, size_t *ret_n);
const DeviceInfo *device_monitor_find_node(DeviceMonitor *mon, const char *node);
const DeviceInfo *device_monitor_find_identity(DeviceMonitor *mon, const char *identity);
/* The identity of the device last removed from node (a port that is gone still
 * has a trust state); NULL if none. A few are remembered. */
const char *device_monitor_removed_identity(DeviceMonitor *mon, const char *node);
