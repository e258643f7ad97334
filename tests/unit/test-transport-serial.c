/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The serial transport (src/transport/transport-serial.c) on a umockdev test
 * bed, in-process (run under umockdev-wrapper): a tty whose line is a pty the
 * test holds the master of, and whose modem lines an IoctlBase answers (a pty
 * has none). Bytes both ways with the counters, timeouts, DTR/RTS in one
 * TIOCMSET, baud, input flush, drain, interrupt, hang-up as -ENODEV, and the
 * open errors. Links the transport layer only. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

/* Ours first: GLib #undefs MIN/MAX before defining its own. */
#include "time-util.h"
#include "transport-serial.h"

#include <umockdev.h>

/* ---- modem lines: the driver's DTR/RTS, as esptestbed.ModemLines ------------- */

typedef struct ModemLines {
        UMockdevIoctlBase parent;
        int bits;               /* TIOCM_DTR | TIOCM_RTS as the "driver" holds them */
        unsigned n_set;         /* TIOCMSET calls */
        unsigned n_bis_bic;     /* TIOCMBIS/TIOCMBIC calls (one line at a time) */
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

#define NODE "/dev/ttyUSB0"

typedef struct Bed {
        UMockdevTestbed *tb;
        ModemLines *lines;
        int master;
} Bed;

/* A CP2102 bridge and its tty, as umockdev-record shows one (the shape of
 * tests/testbed/esptestbed.py): the tty's "N:" line makes umockdev back the
 * node with a pty, and its device link is what libserialport follows. */
static const char bed_description[] =
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

static void bed_init(Bed *b) {
        GError *error = NULL;

        b->tb = umockdev_testbed_new();
        assert(b->tb);
        assert(umockdev_testbed_add_from_string(b->tb, bed_description, &error));
        assert(!error);
        b->master = umockdev_testbed_get_dev_fd(b->tb, NODE);
        assert(b->master >= 0);
        b->lines = g_object_new(modem_lines_get_type(), NULL);
        assert(umockdev_testbed_attach_ioctl(b->tb, NODE, UMOCKDEV_IOCTL_BASE(b->lines), &error));
        assert(!error);
}

static usec_t in_ms(unsigned ms) {
        return now_usec() + (usec_t) ms * USEC_PER_MSEC;
}

/* Reads exactly n bytes from the master (the chip's side of the line). */
static void master_read(int fd, void *buf, size_t n) {
        size_t got = 0;

        while (got < n) {
                ssize_t k = read(fd, (uint8_t *) buf + got, n - got);

                assert(k > 0);
                got += (size_t) k;
        }
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_open_errors(void) {
        Transport *t = NULL;

        assert(transport_serial_open(NULL, 115200, &t) == -EINVAL);
        assert(transport_serial_open(NODE, 0, &t) == -EINVAL);
        assert(transport_serial_open(NODE, (uint32_t) INT32_MAX + 1, &t) == -EINVAL);
        /* No such file, and a file that is no serial port. */
        assert(transport_serial_open("/dev/ttyUSB9", 115200, &t) == -ENOENT);
        assert(transport_serial_open("/dev/null", 115200, &t) == -ENODEV);
        assert(!t);
        assert(transport_serial_fd(NULL) == -EBADF);
}

static void test_bytes_both_ways(Bed *b, Transport *t) {
        static const uint8_t out[] = { 0xc0, 0x00, 0x08, 0x24, 0xdb, 0xdc, 0x0a, 0xc0 };
        uint8_t buf[64];
        int r;

        /* Raw: no byte is translated (\n stays \n, 0xc0 passes). */
        assert(transport_write(t, out, sizeof(out), in_ms(1000)) == 0);
        assert(t->bytes_sent == sizeof(out));
        master_read(b->master, buf, sizeof(out));
        assert(memcmp(buf, out, sizeof(out)) == 0);

        assert(write(b->master, "\r\nboot\n", 7) == 7);
        size_t got = 0;
        while (got < 7) {
                r = transport_read(t, buf + got, sizeof(buf) - got, in_ms(1000));
                assert(r > 0);
                got += (size_t) r;
        }
        assert(got == 7 && memcmp(buf, "\r\nboot\n", 7) == 0);
        assert(t->bytes_received == 7);

        /* Nothing there: the deadline, not forever. */
        assert(transport_read(t, buf, sizeof(buf), in_ms(50)) == -ETIMEDOUT);
        assert(transport_read(t, buf, 0, in_ms(50)) == 0);
}

static void test_signals(Bed *b, Transport *t) {
        static const struct { bool dtr, rts; } seq[] = {
                { false, false }, { true, false }, { false, true }, { true, true }, { false, false },
        };

        for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
                unsigned set = b->lines->n_set, bis = b->lines->n_bis_bic;

                assert(transport_set_signals(t, seq[i].dtr, seq[i].rts) == 0);
                assert(!!(b->lines->bits & TIOCM_DTR) == seq[i].dtr);
                assert(!!(b->lines->bits & TIOCM_RTS) == seq[i].rts);
                /* Both lines at once, never one after the other. */
                assert(b->lines->n_set == set + 1);
                assert(b->lines->n_bis_bic == bis);
        }
}

static void test_baud(Transport *t) {
        struct termios tio;

        assert(t->baud == 115200);
        assert(transport_set_baud(t, 921600) == 0);
        assert(t->baud == 921600);
        assert(tcgetattr(transport_serial_fd(t), &tio) == 0);
        /* libserialport sets rates through termios2: BOTHER, or the B constant. */
        assert((tio.c_cflag & CBAUD) == B921600 || (tio.c_cflag & CBAUD) == 0010000 /* BOTHER */);
        assert(transport_set_baud(t, 0) == -EINVAL);
        assert(t->baud == 921600);
        assert(transport_set_baud(t, 115200) == 0);
}

static void test_flush_and_drain(Bed *b, Transport *t) {
        uint8_t buf[16];

        /* What arrived before the flush is gone; what comes after is read. */
        assert(write(b->master, "stale", 5) == 5);
        assert(transport_flush_input(t) == 0);
        assert(transport_read(t, buf, sizeof(buf), in_ms(50)) == -ETIMEDOUT);
        assert(write(b->master, "x", 1) == 1);
        assert(transport_read(t, buf, sizeof(buf), in_ms(1000)) == 1 && buf[0] == 'x');

        assert(transport_write(t, "abc", 3, in_ms(1000)) == 0);
        assert(transport_drain(t, in_ms(1000)) == 0);
        master_read(b->master, buf, 3);
        assert(memcmp(buf, "abc", 3) == 0);
}

static void test_interrupt(Transport *t) {
        uint8_t buf[4];

        assert(!transport_is_interrupted(t));
        transport_interrupt(t);
        assert(transport_is_interrupted(t));
        /* Blocking ops now and later: -ECANCELED, well before their deadline. */
        assert(transport_read(t, buf, sizeof(buf), USEC_INFINITY) == -ECANCELED);
        assert(transport_write(t, "a", 1, USEC_INFINITY) == -ECANCELED);
        transport_interrupt(t);         /* idempotent */
        assert(transport_read(t, buf, sizeof(buf), USEC_INFINITY) == -ECANCELED);
}

static void test_hangup(Bed *b, Transport *t) {
        _cleanup_close_ int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        uint8_t buf[16];

        assert(write(b->master, "last", 4) == 4);
        assert(transport_read(t, buf, sizeof(buf), in_ms(1000)) == 4 && memcmp(buf, "last", 4) == 0);
        /* The line goes (an unplug): reads and writes say the device is gone,
         * at once, not at their deadline. umockdev owns the master's fd number:
         * replace it rather than close it. */
        assert(devnull >= 0);
        assert(dup2(devnull, b->master) == b->master);
        assert(transport_read(t, buf, sizeof(buf), USEC_INFINITY) == -ENODEV);
        assert(transport_write(t, "x", 1, USEC_INFINITY) == -ENODEV);
}

int main(void) {
        Transport *t = NULL;
        Bed b = {};

        if (!strstr(getenv("LD_PRELOAD") ?: "", "umockdev-preload")) {
                fprintf(stderr, "not under umockdev-wrapper, skipping\n");
                return 77;
        }
        bed_init(&b);
        test_open_errors();

        assert(transport_serial_open(NODE, 115200, &t) == 0);
        assert(transport_serial_fd(t) >= 0);
        test_bytes_both_ways(&b, t);
        test_signals(&b, t);
        test_baud(t);
        test_flush_and_drain(&b, t);
        test_interrupt(t);
        t = transport_free(t);

        /* Closed and opened again: a fresh transport, not interrupted. */
        assert(transport_serial_open(NODE, 115200, &t) == 0);
        assert(!transport_is_interrupted(t));
        test_hangup(&b, t);
        t = transport_free(t);

        g_object_unref(b.lines);
        g_object_unref(b.tb);
        return 0;
}
