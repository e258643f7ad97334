/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A udev monitor (tty subsystem) on the sd-event loop, plus the list of
 * devices it implies. Remove edges are authoritative: a device is gone the
 * moment its remove event is read, with no polling window. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <libudev.h>

#include "device-monitor.h"
#include "log.h"
#include "macro.h"
#include "string-util.h"

/* Removed devices remembered by node, for TrustState on a port that is gone. */
#define DEVICE_MONITOR_REMOVED_MAX 16

typedef struct RemovedDevice {
        char *node, *identity;
} RemovedDevice;

struct DeviceMonitor {
        struct udev *udev;
        struct udev_monitor *monitor;
        sd_event_source *source;
        DeviceInfo *devices;
        size_t n_devices;
        RemovedDevice removed[DEVICE_MONITOR_REMOVED_MAX];   /* newest first */
        DeviceMonitorCallbacks cb;
        void *userdata;
};

static DeviceInfo *monitor_find_syspath(DeviceMonitor *mon, const char *syspath) {
        for (size_t i = 0; i < mon->n_devices; i++)
                if (mon->devices[i].syspath && streq(mon->devices[i].syspath, syspath))
                        return &mon->devices[i];
        return NULL;
}

static void monitor_forget_removed(DeviceMonitor *mon, const char *node) {
        for (size_t i = 0; i < DEVICE_MONITOR_REMOVED_MAX; i++)
                if (mon->removed[i].node && streq(mon->removed[i].node, node)) {
                        free(mon->removed[i].node);
                        free(mon->removed[i].identity);
                        memmove(&mon->removed[i], &mon->removed[i + 1],
                                (DEVICE_MONITOR_REMOVED_MAX - i - 1) * sizeof(RemovedDevice));
                        mon->removed[DEVICE_MONITOR_REMOVED_MAX - 1] = (RemovedDevice) {};
                        return;
                }
}

static void monitor_remember_removed(DeviceMonitor *mon, const DeviceInfo *d) {
        RemovedDevice r = { .node = strdup(d->node), .identity = strdup(d->identity) };
        RemovedDevice *last = &mon->removed[DEVICE_MONITOR_REMOVED_MAX - 1];

        if (!r.node || !r.identity) {
                free(r.node);
                free(r.identity);
                return;   /* only a nicer TrustState answer is lost */
        }
        monitor_forget_removed(mon, d->node);
        free(last->node);
        free(last->identity);
        memmove(&mon->removed[1], &mon->removed[0], (DEVICE_MONITOR_REMOVED_MAX - 1) * sizeof(RemovedDevice));
        mon->removed[0] = r;
}

static void monitor_remove_at(DeviceMonitor *mon, DeviceInfo *d) {
        /* The callback sees the device while it is still listed. */
        if (mon->cb.removed)
                mon->cb.removed(mon, d, mon->userdata);
        d = monitor_find_syspath(mon, d->syspath);   /* the callback may not move it, but be sure */
        if (!d)
                return;
        monitor_remember_removed(mon, d);
        device_info_done(d);
        *d = mon->devices[--mon->n_devices];
}

static int monitor_add(DeviceMonitor *mon, DeviceInfo *d) {
        DeviceInfo *n, *old;
        size_t i;

        /* An add for a device already listed (a missed remove, a rebind): the
         * old one is gone, as far as anybody can tell. */
        old = monitor_find_syspath(mon, d->syspath);
        if (old)
                monitor_remove_at(mon, old);

        n = reallocarray(mon->devices, mon->n_devices + 1, sizeof(DeviceInfo));
        if (!n) {
                device_info_done(d);
                return -ENOMEM;
        }
        mon->devices = n;
        monitor_forget_removed(mon, d->node);
        i = mon->n_devices++;
        mon->devices[i] = *d;
        *d = (DeviceInfo) { .kind = _DEVICE_KIND_INVALID };
        log_debug("Device added: %s (%s, %s).", mon->devices[i].node, mon->devices[i].identity,
                  device_kind_to_string(mon->devices[i].kind));
        if (mon->cb.added)
                mon->cb.added(mon, &mon->devices[i], mon->userdata);
        return 0;
}

static void monitor_handle(DeviceMonitor *mon, struct udev_device *dev) {
        const char *action = udev_device_get_action(dev), *syspath = udev_device_get_syspath(dev);
        DeviceInfo d, *known;
        int r;

        if (!action || !syspath)
                return;
        if (streq(action, "remove")) {
                /* sysfs may be gone already: go by what was recorded at add. */
                known = monitor_find_syspath(mon, syspath);
                if (known) {
                        log_debug("Device removed: %s (%s).", known->node, known->identity);
                        monitor_remove_at(mon, known);
                }
                return;
        }
        if (!streq(action, "add") && !streq(action, "change"))
                return;
        r = device_info_from_udev(dev, &d);
        if (r < 0) {
                if (r != -ENODEV)
                        log_warning_errno(r, "Cannot describe %s: %m", syspath);
                return;
        }
        /* A change that changes nothing that matters, or an add we have already
         * seen (plugged in while the start-up scan ran): nothing happened. */
        known = monitor_find_syspath(mon, syspath);
        if (known && streq(known->identity, d.identity) && streq(known->node, d.node)) {
                device_info_done(&d);
                return;
        }
        r = monitor_add(mon, &d);
        if (r < 0)
                log_warning_errno(r, "Cannot track %s: %m", syspath);
}

static int monitor_enumerate(DeviceMonitor *mon);

/* Events were lost (the socket overflowed): a remove may be among them, so
 * every device counts as removed, and the list is rebuilt from a fresh scan. */
static void monitor_resync(DeviceMonitor *mon) {
        int r;

        log_warning("udev events were lost; treating every serial device as re-plugged.");
        while (mon->n_devices > 0)
                monitor_remove_at(mon, &mon->devices[mon->n_devices - 1]);
        r = monitor_enumerate(mon);
        if (r < 0)
                log_warning_errno(r, "Cannot enumerate serial devices: %m");
}

void device_monitor_flush(DeviceMonitor *mon) {
        if (!mon)
                return;
        for (;;) {
                struct udev_device *dev;

                /* Non-blocking: NULL once nothing is queued. */
                errno = 0;
                dev = udev_monitor_receive_device(mon->monitor);
                if (!dev) {
                        if (errno == ENOBUFS)
                                monitor_resync(mon);
                        return;
                }
                monitor_handle(mon, dev);
                udev_device_unref(dev);
        }
}

static int on_uevent(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        device_monitor_flush(userdata);
        return 0;
}

static int monitor_enumerate(DeviceMonitor *mon) {
        DeviceInfo *devices = NULL;
        size_t n = 0;
        int r;

        r = device_enumerate(&devices, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                /* Seen by the monitor already (it listens since before the scan). */
                if (monitor_find_syspath(mon, devices[i].syspath))
                        continue;
                r = monitor_add(mon, &devices[i]);
                if (r < 0)
                        break;
        }
        device_info_array_free(devices, n);
        return r;
}

int device_monitor_new(sd_event *e, const DeviceMonitorCallbacks *cb, void *userdata,
                       DeviceMonitor **ret) {
        DeviceMonitor *mon;
        int r;

        assert(e && ret);
        mon = calloc(1, sizeof(DeviceMonitor));
        if (!mon)
                return -ENOMEM;
        mon->cb = cb ? *cb : (DeviceMonitorCallbacks) {};
        mon->userdata = userdata;

        r = -ENOMEM;
        mon->udev = udev_new();
        if (!mon->udev)
                goto fail;
        mon->monitor = udev_monitor_new_from_netlink(mon->udev, "udev");
        if (!mon->monitor)
                goto fail;
        r = udev_monitor_filter_add_match_subsystem_devtype(mon->monitor, "tty", NULL);
        if (r < 0)
                goto fail;
        /* Room for a burst of hotplug events; overflowing drops every device's trust. */
        (void) udev_monitor_set_receive_buffer_size(mon->monitor, 4 * 1024 * 1024);
        r = udev_monitor_enable_receiving(mon->monitor);
        if (r < 0)
                goto fail;
        r = sd_event_add_io(e, &mon->source, udev_monitor_get_fd(mon->monitor), EPOLLIN, on_uevent, mon);
        if (r < 0)
                goto fail;
        /* Before bus calls: a trust decision must see every remove that happened. */
        (void) sd_event_source_set_priority(mon->source, SD_EVENT_PRIORITY_IMPORTANT);
        (void) sd_event_source_set_description(mon->source, "udev-monitor");

        r = monitor_enumerate(mon);
        if (r < 0)
                goto fail;
        *ret = mon;
        return 0;
fail:
        device_monitor_free(mon);
        return r;
}

DeviceMonitor *device_monitor_free(DeviceMonitor *mon) {
        if (!mon)
                return NULL;
        sd_event_source_disable_unref(mon->source);
        device_info_array_free(mon->devices, mon->n_devices);
        for (size_t i = 0; i < DEVICE_MONITOR_REMOVED_MAX; i++) {
                free(mon->removed[i].node);
                free(mon->removed[i].identity);
        }
        if (mon->monitor)
                udev_monitor_unref(mon->monitor);
        if (mon->udev)
                udev_unref(mon->udev);
        free(mon);
        return NULL;
}

const DeviceInfo *device_monitor_devices(DeviceMonitor *mon, size_t *ret_n) {
        if (!mon) {
                *ret_n = 0;
                return NULL;
        }
        *ret_n = mon->n_devices;
        return mon->devices;
}

const DeviceInfo *device_monitor_find_node(DeviceMonitor *mon, const char *node) {
        if (!mon || !node)
                return NULL;
        for (size_t i = 0; i < mon->n_devices; i++)
                if (streq(mon->devices[i].node, node))
                        return &mon->devices[i];
        return NULL;
}

const DeviceInfo *device_monitor_find_identity(DeviceMonitor *mon, const char *identity) {
        if (!mon || !identity)
                return NULL;
        for (size_t i = 0; i < mon->n_devices; i++)
                if (streq(mon->devices[i].identity, identity))
                        return &mon->devices[i];
        return NULL;
}

const char *device_monitor_removed_identity(DeviceMonitor *mon, const char *node) {
        if (!mon || !node)
                return NULL;
        for (size_t i = 0; i < DEVICE_MONITOR_REMOVED_MAX && mon->removed[i].node; i++)
                if (streq(mon->removed[i].node, node))
                        return mon->removed[i].identity;
        return NULL;
}
