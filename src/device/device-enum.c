/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Serial devices from libudev: every tty with a USB device above it, described
 * by node, VID:PID, strings, kind and a stable identity. The hotplug monitor
 * reuses device_info_from_udev() so that there is one way to describe a device. */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libudev.h>

#include "device-enum.h"
#include "macro.h"
#include "string-util.h"

#define ESPRESSIF_VID 0x303a
#define ESPRESSIF_USB_SERIAL_JTAG_PID 0x1001

static const char *const device_kind_table[_DEVICE_KIND_MAX] = {
        [DEVICE_KIND_UART_BRIDGE] = "uart-bridge",
        [DEVICE_KIND_USB_SERIAL_JTAG] = "usb-serial-jtag",
        [DEVICE_KIND_USB_OTG] = "usb-otg",
};

DEFINE_STRING_TABLE_LOOKUP_TO_STRING(device_kind, DeviceKind);

/* USB-to-UART bridge chips found on ESP boards. */
static const uint16_t bridge_vids[] = {
        0x10c4,   /* Silicon Labs CP210x */
        0x1a86,   /* WCH CH340/CH341/CH9102 */
        0x0403,   /* FTDI */
        0x067b,   /* Prolific PL2303 */
};

/* Kernel usb-serial drivers: whatever they drive is a bridge, whoever made it. */
static const char *const bridge_drivers[] = {
        "cp210x", "ch341", "ftdi_sio", "pl2303", "usbserial_generic",
};

DeviceKind device_kind_from_usb(uint16_t vid, uint16_t pid, const char *driver) {
        if (vid == ESPRESSIF_VID && pid == ESPRESSIF_USB_SERIAL_JTAG_PID)
                return DEVICE_KIND_USB_SERIAL_JTAG;
        for (size_t i = 0; i < ELEMENTSOF(bridge_vids); i++)
                if (vid == bridge_vids[i])
                        return DEVICE_KIND_UART_BRIDGE;
        if (driver)
                for (size_t i = 0; i < ELEMENTSOF(bridge_drivers); i++)
                        if (streq(driver, bridge_drivers[i]))
                                return DEVICE_KIND_UART_BRIDGE;
        /* cdc_acm and anything else: the chip's own USB (TinyUSB CDC and friends). */
        return DEVICE_KIND_USB_OTG;
}

void device_info_done(DeviceInfo *d) {
        if (!d)
                return;
        free(d->node);
        free(d->syspath);
        free(d->usb_node);
        free(d->identity);
        free(d->serial);
        free(d->manufacturer);
        free(d->product);
        *d = (DeviceInfo) { .kind = _DEVICE_KIND_INVALID };
}

void device_info_array_free(DeviceInfo *d, size_t n) {
        if (!d)
                return;
        for (size_t i = 0; i < n; i++)
                device_info_done(&d[i]);
        free(d);
}

static void udev_unrefp(struct udev **u) {
        if (*u)
                udev_unref(*u);
}
static void udev_enumerate_unrefp(struct udev_enumerate **e) {
        if (*e)
                udev_enumerate_unref(*e);
}
static void udev_device_unrefp(struct udev_device **d) {
        if (*d)
                udev_device_unref(*d);
}

static int strdup_or_null(const char *s, char **ret) {
        char *c = NULL;

        if (s && *s) {
                c = strdup(s);
                if (!c)
                        return -ENOMEM;
        }
        *ret = c;
        return 0;
}

static int parse_hex16(const char *s, uint16_t *ret) {
        unsigned long v;
        char *end;

        if (!s || !*s)
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 16);
        if (errno != 0 || end == s || *end || v > 0xffff)
                return -EINVAL;
        *ret = (uint16_t) v;
        return 0;
}

static const char *usb_driver_of(struct udev_device *tty) {
        struct udev_device *intf;
        const char *d;

        intf = udev_device_get_parent_with_subsystem_devtype(tty, "usb", "usb_interface");
        if (intf) {
                d = udev_device_get_driver(intf);
                if (d)
                        return d;
        }
        return udev_device_get_property_value(tty, "ID_USB_DRIVER");
}

int device_info_from_udev(struct udev_device *tty, DeviceInfo *ret) {
        _cleanup_(device_info_done) DeviceInfo d = { .kind = _DEVICE_KIND_INVALID };
        struct udev_device *usb;
        const char *node, *serial;
        int r;

        node = udev_device_get_devnode(tty);
        if (!node)
                return -ENODEV;
        usb = udev_device_get_parent_with_subsystem_devtype(tty, "usb", "usb_device");
        if (!usb)
                return -ENODEV;

        r = parse_hex16(udev_device_get_sysattr_value(usb, "idVendor"), &d.vid);
        if (r < 0)
                return -ENODEV;
        r = parse_hex16(udev_device_get_sysattr_value(usb, "idProduct"), &d.pid);
        if (r < 0)
                return -ENODEV;

        if (strdup_or_null(node, &d.node) < 0 ||
            strdup_or_null(udev_device_get_syspath(tty), &d.syspath) < 0 ||
            strdup_or_null(udev_device_get_devnode(usb), &d.usb_node) < 0 ||
            strdup_or_null(udev_device_get_sysattr_value(usb, "serial"), &d.serial) < 0 ||
            strdup_or_null(udev_device_get_sysattr_value(usb, "manufacturer"), &d.manufacturer) < 0 ||
            strdup_or_null(udev_device_get_sysattr_value(usb, "product"), &d.product) < 0)
                return -ENOMEM;

        d.kind = device_kind_from_usb(d.vid, d.pid, usb_driver_of(tty));

        /* The USB serial number follows the board to any port; boards without one
         * are known by where they are plugged in (the USB device's devpath). */
        serial = d.serial;
        if (serial)
                r = asprintf(&d.identity, "usb:%04x:%04x:%s", d.vid, d.pid, serial);
        else
                r = asprintf(&d.identity, "usb:%04x:%04x:path:%s", d.vid, d.pid,
                             udev_device_get_devpath(usb));
        if (r < 0) {
                d.identity = NULL;
                return -ENOMEM;
        }

        *ret = d;
        d = (DeviceInfo) { .kind = _DEVICE_KIND_INVALID };
        return 0;
}

typedef int (*DeviceVisitFn)(struct udev_device *tty, void *userdata);

/* Calls visit for each tty; a visit result > 0 stops early and is returned. */
static int device_foreach_tty(DeviceVisitFn visit, void *userdata) {
        _cleanup_(udev_unrefp) struct udev *udev = NULL;
        _cleanup_(udev_enumerate_unrefp) struct udev_enumerate *e = NULL;
        struct udev_list_entry *item;
        int r;

        udev = udev_new();
        if (!udev)
                return -ENOMEM;
        e = udev_enumerate_new(udev);
        if (!e)
                return -ENOMEM;
        r = udev_enumerate_add_match_subsystem(e, "tty");
        if (r < 0)
                return r;
        r = udev_enumerate_scan_devices(e);
        if (r < 0)
                return r;

        udev_list_entry_foreach(item, udev_enumerate_get_list_entry(e)) {
                _cleanup_(udev_device_unrefp) struct udev_device *dev = NULL;

                /* Devices vanish between scan and here all the time: skip them. */
                dev = udev_device_new_from_syspath(udev, udev_list_entry_get_name(item));
                if (!dev)
                        continue;
                r = visit(dev, userdata);
                if (r != 0)
                        return r;
        }
        return 0;
}

typedef struct EnumerateState {
        DeviceInfo *devices;
        size_t n;
} EnumerateState;

static int enumerate_visit(struct udev_device *tty, void *userdata) {
        EnumerateState *s = userdata;
        DeviceInfo d, *n;
        int r;

        r = device_info_from_udev(tty, &d);
        if (r == -ENODEV)
                return 0;
        if (r < 0)
                return r;

        n = reallocarray(s->devices, s->n + 1, sizeof(DeviceInfo));
        if (!n) {
                device_info_done(&d);
                return -ENOMEM;
        }
        s->devices = n;
        s->devices[s->n++] = d;
        return 0;
}

int device_enumerate(DeviceInfo **ret_devices, size_t *ret_n) {
        EnumerateState s = {};
        int r;

        assert(ret_devices && ret_n);

        r = device_foreach_tty(enumerate_visit, &s);
        if (r < 0) {
                device_info_array_free(s.devices, s.n);
                return r;
        }
        *ret_devices = s.devices;
        *ret_n = s.n;
        return 0;
}

typedef struct LookupState {
        const char *node;
        dev_t devnum;            /* of the node's target, 0 if not a character device */
        DeviceInfo found;
} LookupState;

static bool tty_is_named(struct udev_device *tty, const LookupState *s) {
        struct udev_list_entry *link;
        const char *devnode = udev_device_get_devnode(tty);

        if (devnode && streq(devnode, s->node))
                return true;
        udev_list_entry_foreach(link, udev_device_get_devlinks_list_entry(tty))
                if (streq(udev_list_entry_get_name(link), s->node))
                        return true;
        /* Any other name for the same node (a symlink of one's own, a bind
         * mount): the device number tells. */
        return s->devnum != 0 && udev_device_get_devnum(tty) == s->devnum;
}

static int lookup_visit(struct udev_device *tty, void *userdata) {
        LookupState *s = userdata;
        int r;

        if (!tty_is_named(tty, s))
                return 0;
        r = device_info_from_udev(tty, &s->found);
        if (r == -ENODEV)
                return 0;
        if (r < 0)
                return r;
        return 1;
}

int device_lookup(const char *node, DeviceInfo *ret) {
        struct stat st;
        LookupState s;
        int r;

        if (!node || !*node)
                return -EINVAL;

        /* Symlinks are resolved by comparing device numbers (stat follows them),
         * not with realpath(): umockdev's realpath() wrapper corrupts memory for
         * the nodes of its test bed, and udev's own names match literally first. */
        s = (LookupState) {
                .node = node,
                .devnum = stat(node, &st) >= 0 && S_ISCHR(st.st_mode) ? st.st_rdev : 0,
                .found = { .kind = _DEVICE_KIND_INVALID },
        };

        r = device_foreach_tty(lookup_visit, &s);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENODEV;
        if (ret)
                *ret = s.found;
        else
                device_info_done(&s.found);
        return 0;
}
