/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Serial devices as udev sees them (tty subsystem with a USB parent): their node,
 * identity, VID:PID and kind. One code path; hotplug monitoring builds on it. */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef enum DeviceKind {
        DEVICE_KIND_UART_BRIDGE,       /* "uart-bridge": CP210x, CH34x/CH9102, FTDI, … */
        DEVICE_KIND_USB_SERIAL_JTAG,   /* "usb-serial-jtag": Espressif 303a:1001 */
        DEVICE_KIND_USB_OTG,           /* "usb-otg": TinyUSB CDC and other ACM ports */
        _DEVICE_KIND_MAX,
        _DEVICE_KIND_INVALID = -1,
} DeviceKind;

const char *device_kind_to_string(DeviceKind k);
DeviceKind device_kind_from_usb(uint16_t vid, uint16_t pid, const char *driver);

typedef struct DeviceInfo {
        char *node;            /* /dev/ttyUSB0 */
        char *syspath;
        char *usb_node;        /* the USB device's node, /dev/bus/usb/BBB/DDD; NULL if none */
        char *identity;        /* "usb:VID:PID:SERIAL" or "usb:VID:PID:path:PHYSPATH" */
        uint16_t vid, pid;
        char *serial, *manufacturer, *product;
        DeviceKind kind;
} DeviceInfo;

void device_info_done(DeviceInfo *d);

/* Describes one tty udev device (also for the hotplug monitor, so that there is
 * one way to describe a device). -ENODEV if it has no node or no USB device
 * above it (ttyS*, ptys, consoles). */
struct udev_device;
int device_info_from_udev(struct udev_device *tty, DeviceInfo *ret);

/* Enumerates tty devices that have a USB parent. */
int device_enumerate(DeviceInfo **ret_devices, size_t *ret_n);
void device_info_array_free(DeviceInfo *d, size_t n);
/* Looks up one device by node path (after resolving symlinks); -ENODEV if absent. */
int device_lookup(const char *node, DeviceInfo *ret);
