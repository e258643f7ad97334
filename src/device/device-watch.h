/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Who else opens a device: inotify IN_OPEN on each device's tty node and USB
 * device node. The service's own opens are announced beforehand (one per job
 * holding the port) and do not count; every other open is foreign. */
#pragma once

#include <stdbool.h>

#include <systemd/sd-event.h>

typedef struct DeviceWatch DeviceWatch;

/* node: the node that was opened (the tty or the USB device node). */
typedef void (*DeviceWatchForeignFn)(DeviceWatch *w, const char *identity, const char *node,
                                     void *userdata);

int device_watch_new(sd_event *e, DeviceWatchForeignFn on_foreign, void *userdata, DeviceWatch **ret);
DeviceWatch *device_watch_free(DeviceWatch *w);

/* Starts watching a device's nodes (usb_node may be NULL). Replaces an earlier
 * watch of the same identity. */
int device_watch_add(DeviceWatch *w, const char *identity, const char *tty_node, const char *usb_node);
void device_watch_remove(DeviceWatch *w, const char *identity);

/* The service is about to open tty_node itself (a job got the port): the next
 * open of it is ours. Until device_watch_own_end(). */
void device_watch_own_begin(DeviceWatch *w, const char *tty_node);
/* The service's open of tty_node is over. Reads whatever inotify has queued
 * first (our own open may still be unread). Returns true if a foreign open was
 * seen on the device since device_watch_own_begin() — trust must not be set
 * from that job. */
bool device_watch_own_end(DeviceWatch *w, const char *tty_node);
/* Counts as a foreign open in the window since device_watch_own_begin(): a
 * process that opened the device before the window and holds it still. */
void device_watch_own_foreign(DeviceWatch *w, const char *tty_node);

/* The same for an open the service makes on the main thread (a monitor): the
 * next open of tty_node is ours; _done once it has been made (or failed). */
void device_watch_expect_own_open(DeviceWatch *w, const char *tty_node);
void device_watch_own_open_done(DeviceWatch *w, const char *tty_node);

/* Handles every queued event now (before a trust decision). */
void device_watch_flush(DeviceWatch *w);
