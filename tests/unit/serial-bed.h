/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A umockdev test bed with one USB serial board, for unit tests that run
 * in-process under umockdev-wrapper (test-transport-serial.c,
 * test-port-monitor.c): /dev/ttyUSB0 backed by a pty whose master the test
 * holds, and modem lines answered by an IoctlBase (a pty has none), as
 * tests/testbed/esptestbed.py does for the whole-service tests. */
#pragma once

#include <assert.h>
#include <string.h>
#include <sys/ioctl.h>

/* Ours first: GLib #undefs MIN/MAX before defining its own. */
#include "macro.h"

#include <umockdev.h>

/* ---- modem lines: the driver's DTR/RTS, as esptestbed.ModemLines ------------- */

typedef struct ModemLines {
        UMockdevIoctlBase parent;
        int bits;               /* TIOCM_DTR | TIOCM_RTS as the "driver" holds them */
        unsigned n_set;         /* TIOCMSET calls */
        unsigned n_bis_bic;     /* TIOCMBIS/TIOCMBIC calls (one line at a time) */
        int history[32];        /* bits after each TIOCMSET, in order */
        unsigned n_history;
} ModemLines;

typedef struct ModemLinesClass {
        UMockdevIoctlBaseClass parent_class;
} ModemLinesClass;

static GType modem_lines_get_type(void);
G_DEFINE_TYPE(ModemLines, modem_lines, UMOCKDEV_TYPE_IOCTL_BASE)

static gboolean modem_lines_handle_ioctl(UMockdevIoctlBase *base, UMockdevIoctlClient *client) {
        ModemLines *m = (ModemLines *) base;
        gulong request = umockdev_ioctl_client_get_request(client);
        UMockdevIoctlData *arg;
        GError *error = NULL;
        int bits = 0;

        if (request != TIOCMGET && request != TIOCMSET && request != TIOCMBIS && request != TIOCMBIC) {
                int errno_ = 0, ret = umockdev_ioctl_client_execute(client, &errno_, &error);

                assert(!error);
                umockdev_ioctl_client_complete(client, ret, errno_);
                return TRUE;
        }
        arg = umockdev_ioctl_data_resolve(umockdev_ioctl_client_get_arg(client), 0, sizeof(int), &error);
        assert(arg && !error);
        if (request == TIOCMGET)
                umockdev_ioctl_data_update(arg, 0, (guint8 *) &m->bits, sizeof(int));
        else {
                memcpy(&bits, arg->data, sizeof(int));
                if (request == TIOCMSET) {
                        m->bits = bits & (TIOCM_DTR | TIOCM_RTS);
                        m->n_set++;
                        if (m->n_history < ELEMENTSOF(m->history))
                                m->history[m->n_history++] = m->bits;
                } else {
                        m->bits = request == TIOCMBIS ? (m->bits | bits) : (m->bits & ~bits);
                        m->n_bis_bic++;
                }
        }
        umockdev_ioctl_data_unref(arg);
        umockdev_ioctl_client_complete(client, 0, 0);
        return TRUE;
}

static void modem_lines_class_init(ModemLinesClass *klass) {
        UMOCKDEV_IOCTL_BASE_CLASS(klass)->handle_ioctl = modem_lines_handle_ioctl;
}

static void modem_lines_init(ModemLines *m) {
}

/* ---- the bed -------------------------------------------------------------------- */

#define SERIAL_BED_NODE "/dev/ttyUSB0"

typedef struct SerialBed {
        UMockdevTestbed *tb;
        ModemLines *lines;
        int master;
} SerialBed;

/* A CP2102 bridge and its tty, as umockdev-record shows one (the shape of
 * tests/testbed/esptestbed.py): the tty's "N:" line makes umockdev back the
 * node with a pty, and its device link is what libserialport follows. */
static const char serial_bed_description[] =
        "P: /devices/pci0000:00/0000:00:14.0/usb1/1-1\n"
        "N: bus/usb/001/002\n"
        "E: DEVNAME=/dev/bus/usb/001/002\n"
        "E: DEVTYPE=usb_device\n"
        "E: SUBSYSTEM=usb\n"
        "A: idVendor=10c4\n"
        "A: idProduct=ea60\n"
        "A: serial=0001\n"
        "A: manufacturer=Silicon Labs\n"
        "A: product=CP2102 USB to UART Bridge Controller\n"
        "A: busnum=1\n"
        "A: devnum=2\n"
        "A: dev=189:1\n"
        "\n"
        "P: /devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0\n"
        "E: DEVTYPE=usb_interface\n"
        "E: DRIVER=cp210x\n"
        "E: SUBSYSTEM=usb\n"
        "\n"
        "P: /devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/ttyUSB0/tty/ttyUSB0\n"
        "N: ttyUSB0\n"
        "E: DEVNAME=/dev/ttyUSB0\n"
        "E: MAJOR=188\n"
        "E: MINOR=0\n"
        "E: SUBSYSTEM=tty\n"
        "A: dev=188:0\n"
        "L: device=../../../1-1:1.0\n";

static void serial_bed_init(SerialBed *b) {
        GError *error = NULL;

        b->tb = umockdev_testbed_new();
        assert(b->tb);
        assert(umockdev_testbed_add_from_string(b->tb, serial_bed_description, &error));
        assert(!error);
        b->master = umockdev_testbed_get_dev_fd(b->tb, SERIAL_BED_NODE);
        assert(b->master >= 0);
        b->lines = g_object_new(modem_lines_get_type(), NULL);
        assert(umockdev_testbed_attach_ioctl(b->tb, SERIAL_BED_NODE, UMOCKDEV_IOCTL_BASE(b->lines), &error));
        assert(!error);
}

