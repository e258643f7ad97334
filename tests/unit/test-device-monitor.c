/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The udev monitor against a umockdev test bed (run under umockdev-wrapper):
 * devices present at start are reported, hotplug adds and removes arrive as
 * callbacks with the same description as enumeration, duplicate adds and empty
 * changes are no events, and a removed node remembers its identity. */

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <umockdev.h>

#include "device-monitor.h"

typedef struct Seen {
        unsigned added, removed;
        char last_added[128], last_removed[128];
        DeviceKind last_kind;
} Seen;

static void on_added(DeviceMonitor *mon, const DeviceInfo *d, void *userdata) {
        Seen *s = userdata;

        s->added++;
        assert(strlen(d->identity) < sizeof(s->last_added));
        strcpy(s->last_added, d->identity);
        s->last_kind = d->kind;
}

static void on_removed(DeviceMonitor *mon, const DeviceInfo *d, void *userdata) {
        Seen *s = userdata;

        /* Still listed while we are told. */
        assert(device_monitor_find_identity(mon, d->identity) == d);
        s->removed++;
        assert(strlen(d->identity) < sizeof(s->last_removed));
        strcpy(s->last_removed, d->identity);
}

/* A USB device with a tty child, as umockdev-record shows a CP2102 bridge. */
static char *add_board(UMockdevTestbed *tb, const char *name, const char *serial, const char *tty,
                       const char *devnum, char **ret_usb) {
        char *usb, *t, devname[64], usbnode[64];

        snprintf(usbnode, sizeof(usbnode), "/dev/bus/usb/001/%s", devnum);
        usb = umockdev_testbed_add_device(tb, "usb", name, NULL,
                                          "idVendor", "10c4", "idProduct", "ea60", "serial", serial, NULL,
                                          "DEVTYPE", "usb_device", "DEVNAME", usbnode, NULL);
        assert(usb);
        snprintf(devname, sizeof(devname), "/dev/%s", tty);
        t = umockdev_testbed_add_device(tb, "tty", tty, usb, NULL, "DEVNAME", devname, NULL);
        assert(t);
        *ret_usb = usb;
        return t;
}

static void run_until(sd_event *e, const unsigned *counter, unsigned want) {
        for (int i = 0; i < 100 && *counter < want; i++)
                assert(sd_event_run(e, 100 * 1000) >= 0);
        assert(*counter == want);
}

int main(void) {
        UMockdevTestbed *tb;
        DeviceMonitorCallbacks cb = { .added = on_added, .removed = on_removed };
        DeviceMonitor *mon = NULL;
        sd_event *e = NULL;
        Seen s = {};
        char *usb_a, *usb_b, *tty_a, *tty_b;
        const DeviceInfo *list;
        size_t n;

        /* (umockdev_in_mock_environment() is only true once a bed exists.) */
        if (!strstr(getenv("LD_PRELOAD") ?: "", "umockdev-preload")) {
                fprintf(stderr, "not under umockdev-wrapper, skipping\n");
                return 77;
        }
        tb = umockdev_testbed_new();
        assert(tb);
        tty_a = add_board(tb, "1-1", "SERA", "ttyUSB0", "002", &usb_a);

        assert(sd_event_new(&e) >= 0);
        assert(device_monitor_new(e, &cb, &s, &mon) == 0);
        /* Present at start: reported like a hotplug. */
        assert(s.added == 1 && strcmp(s.last_added, "usb:10c4:ea60:SERA") == 0);
        assert(s.last_kind == DEVICE_KIND_UART_BRIDGE);
        /* Whatever add event the bed queued for it changes nothing. */
        for (int i = 0; i < 3; i++)
                (void) sd_event_run(e, 50 * 1000);
        assert(s.added == 1 && s.removed == 0);

        /* Hotplug. */
        tty_b = add_board(tb, "1-2", "SERB", "ttyUSB1", "003", &usb_b);
        umockdev_testbed_uevent(tb, tty_b, "add");
        run_until(e, &s.added, 2);
        assert(strcmp(s.last_added, "usb:10c4:ea60:SERB") == 0);
        list = device_monitor_devices(mon, &n);
        assert(n == 2 && list);
        assert(device_monitor_find_node(mon, "/dev/ttyUSB1"));
        assert(strcmp(device_monitor_find_node(mon, "/dev/ttyUSB1")->usb_node, "/dev/bus/usb/001/003") == 0);

        /* A change that changes nothing, and a duplicate add: no events. */
        umockdev_testbed_uevent(tb, tty_b, "change");
        umockdev_testbed_uevent(tb, tty_b, "add");
        for (int i = 0; i < 3; i++)
                (void) sd_event_run(e, 50 * 1000);
        assert(s.added == 2 && s.removed == 0);

        /* Unplug: the remove edge, described by what was known at add. */
        umockdev_testbed_uevent(tb, tty_a, "remove");
        umockdev_testbed_remove_device(tb, usb_a);
        run_until(e, &s.removed, 1);
        assert(strcmp(s.last_removed, "usb:10c4:ea60:SERA") == 0);
        (void) device_monitor_devices(mon, &n);
        assert(n == 1);
        assert(!device_monitor_find_node(mon, "/dev/ttyUSB0"));
        assert(strcmp(device_monitor_removed_identity(mon, "/dev/ttyUSB0"), "usb:10c4:ea60:SERA") == 0);
        assert(!device_monitor_removed_identity(mon, "/dev/ttyUSB1"));

        /* flush reads what is queued without the loop. */
        umockdev_testbed_uevent(tb, tty_b, "remove");
        for (int i = 0; i < 100 && s.removed < 2; i++) {
                device_monitor_flush(mon);
                if (s.removed < 2)
                        (void) sd_event_run(e, 10 * 1000);
        }
        assert(s.removed == 2);

        device_monitor_free(mon);
        sd_event_unref(e);
        g_free(tty_a);
        g_free(tty_b);
        g_free(usb_a);
        g_free(usb_b);
        g_object_unref(tb);
        return 0;
}
