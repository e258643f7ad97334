/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Device kinds from USB ids and drivers (a table), and enumeration and lookup
 * on whatever this host has: every device found must be complete and must be
 * found again by its node. The test bed covers real (mocked) devices. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device-enum.h"
#include "macro.h"

static const struct {
        uint16_t vid, pid;
        const char *driver;
        DeviceKind kind;
} kind_cases[] = {
        { 0x303a, 0x1001, "cdc_acm", DEVICE_KIND_USB_SERIAL_JTAG },
        { 0x303a, 0x1001, NULL, DEVICE_KIND_USB_SERIAL_JTAG },
        { 0x303a, 0x4001, "cdc_acm", DEVICE_KIND_USB_OTG },      /* TinyUSB CDC on an S2/S3 */
        { 0x10c4, 0xea60, "cp210x", DEVICE_KIND_UART_BRIDGE },
        { 0x1a86, 0x7523, "ch341", DEVICE_KIND_UART_BRIDGE },
        { 0x1a86, 0x55d4, "cdc_acm", DEVICE_KIND_UART_BRIDGE },  /* CH9102 speaks ACM */
        { 0x0403, 0x6001, "ftdi_sio", DEVICE_KIND_UART_BRIDGE },
        { 0x067b, 0x2303, "pl2303", DEVICE_KIND_UART_BRIDGE },
        { 0x1234, 0x5678, "cp210x", DEVICE_KIND_UART_BRIDGE },   /* rebadged bridge */
        { 0x2341, 0x0043, "cdc_acm", DEVICE_KIND_USB_OTG },
        { 0x2341, 0x0043, NULL, DEVICE_KIND_USB_OTG },
};

static void test_kinds(void) {
        for (size_t i = 0; i < ELEMENTSOF(kind_cases); i++)
                assert(device_kind_from_usb(kind_cases[i].vid, kind_cases[i].pid, kind_cases[i].driver) ==
                       kind_cases[i].kind);
        assert(strcmp(device_kind_to_string(DEVICE_KIND_UART_BRIDGE), "uart-bridge") == 0);
        assert(strcmp(device_kind_to_string(DEVICE_KIND_USB_SERIAL_JTAG), "usb-serial-jtag") == 0);
        assert(strcmp(device_kind_to_string(DEVICE_KIND_USB_OTG), "usb-otg") == 0);
        assert(!device_kind_to_string(_DEVICE_KIND_MAX));
}

static void test_host_devices(void) {
        DeviceInfo *devices = NULL;
        size_t n = 0;
        int r;

        r = device_enumerate(&devices, &n);
        assert(r == 0);
        for (size_t i = 0; i < n; i++) {
                DeviceInfo d;
                char prefix[32];

                assert(devices[i].node && devices[i].syspath && devices[i].identity);
                if (getenv("TEST_VERBOSE"))
                        fprintf(stderr, "%s %s %04x:%04x %s serial=%s manufacturer=%s product=%s\n",
                                devices[i].node, devices[i].identity, devices[i].vid, devices[i].pid,
                                device_kind_to_string(devices[i].kind), devices[i].serial ?: "-",
                                devices[i].manufacturer ?: "-", devices[i].product ?: "-");
                assert(devices[i].kind >= 0 && devices[i].kind < _DEVICE_KIND_MAX);
                snprintf(prefix, sizeof(prefix), "usb:%04x:%04x:", devices[i].vid, devices[i].pid);
                assert(strncmp(devices[i].identity, prefix, strlen(prefix)) == 0);

                assert(device_lookup(devices[i].node, &d) == 0);
                assert(strcmp(d.identity, devices[i].identity) == 0);
                device_info_done(&d);
        }
        device_info_array_free(devices, n);

        assert(device_lookup("/dev/fbuild-no-such-tty", NULL) == -ENODEV);
        /* A node that exists but is no USB serial device. */
        assert(device_lookup("/dev/null", NULL) == -ENODEV);
        assert(device_lookup(NULL, NULL) == -EINVAL);
}

/* Under umockdev-run with device-enum.umockdev: exactly its three USB ports. */
static const struct {
        const char *node, *identity, *serial, *product;
        DeviceKind kind;
} mock_devices[] = {
        { "/dev/ttyUSB0", "usb:10c4:ea60:SER123", "SER123", "CP2102 USB to UART Bridge Controller",
          DEVICE_KIND_UART_BRIDGE },
        /* No serial number: known by where it is plugged in. */
        { "/dev/ttyACM0", "usb:303a:1001:path:/devices/pci0000:00/0000:00:14.0/usb1/1-2", NULL,
          "USB JTAG/serial debug unit", DEVICE_KIND_USB_SERIAL_JTAG },
        { "/dev/ttyACM1", "usb:303a:4001:SN9", "SN9", "TinyUSB CDC", DEVICE_KIND_USB_OTG },
};

static void test_mock_devices(void) {
        DeviceInfo *devices = NULL, d;
        size_t n = 0;

        assert(device_enumerate(&devices, &n) == 0);
        assert(n == ELEMENTSOF(mock_devices));
        for (size_t i = 0; i < n; i++) {
                size_t k;

                for (k = 0; k < ELEMENTSOF(mock_devices); k++)
                        if (strcmp(devices[i].node, mock_devices[k].node) == 0)
                                break;
                assert(k < ELEMENTSOF(mock_devices));
                assert(strcmp(devices[i].identity, mock_devices[k].identity) == 0);
                assert(devices[i].kind == mock_devices[k].kind);
                assert(strcmp(devices[i].product, mock_devices[k].product) == 0);
                if (mock_devices[k].serial)
                        assert(devices[i].serial && strcmp(devices[i].serial, mock_devices[k].serial) == 0);
                else
                        assert(!devices[i].serial);
                assert(strstr(devices[i].syspath, "/tty/"));
        }
        device_info_array_free(devices, n);

        /* (udev's by-id symlinks live in its database, which umockdev does not
         * fill from E: DEVLINKS; real systems match them literally.) */
        assert(device_lookup("/dev/ttyUSB0", &d) == 0);
        assert(strcmp(d.identity, "usb:10c4:ea60:SER123") == 0 && d.vid == 0x10c4 && d.pid == 0xea60);
        device_info_done(&d);
        /* A tty without a USB device above it is no port of ours. */
        assert(device_lookup("/dev/ttyS0", NULL) == -ENODEV);
        assert(device_lookup("/dev/ttyUSB7", NULL) == -ENODEV);
}

int main(int argc, char **argv) {
        test_kinds();
        test_host_devices();
        if (argc > 1 && strcmp(argv[1], "--mock") == 0)
                test_mock_devices();
        return 0;
}
