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

#include "serial-bed.h"
#include "time-util.h"
#include "transport-serial.h"

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
        assert(transport_serial_open(SERIAL_BED_NODE, 0, &t) == -EINVAL);
        assert(transport_serial_open(SERIAL_BED_NODE, (uint32_t) INT32_MAX + 1, &t) == -EINVAL);
        /* No such file, and a file that is no serial port. */
        assert(transport_serial_open("/dev/ttyUSB9", 115200, &t) == -ENOENT);
        assert(transport_serial_open("/dev/null", 115200, &t) == -ENODEV);
        assert(!t);
        assert(transport_serial_fd(NULL) == -EBADF);
}

/* Opened 8N1, raw, without flow control, at the rate asked (one
 * configuration, however it is applied). */
static void test_line_settings(Transport *t, speed_t speed) {
        struct termios tio;

        assert(tcgetattr(transport_serial_fd(t), &tio) == 0);
        /* libserialport sets rates above 460800 through termios2 (BOTHER) */
        assert(cfgetospeed(&tio) == speed || speed == 0);
        assert((tio.c_cflag & CSIZE) == CS8);
        assert(!(tio.c_cflag & (PARENB | CSTOPB | CRTSCTS)));
        assert(!(tio.c_iflag & (IXON | IXOFF)));
        assert(!(tio.c_lflag & ICANON));
}

static void test_bytes_both_ways(SerialBed *b, Transport *t) {
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

static void test_signals(SerialBed *b, Transport *t) {
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

static void test_flush_and_drain(SerialBed *b, Transport *t) {
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

static void test_hangup(SerialBed *b, Transport *t) {
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
        SerialBed b = {};

        if (!strstr(getenv("LD_PRELOAD") ?: "", "umockdev-preload")) {
                fprintf(stderr, "not under umockdev-wrapper, skipping\n");
                return 77;
        }
        serial_bed_init(&b);
        test_open_errors();

        assert(transport_serial_open(SERIAL_BED_NODE, 115200, &t) == 0);
        assert(transport_serial_fd(t) >= 0);
        test_line_settings(t, B115200);
        test_bytes_both_ways(&b, t);
        test_signals(&b, t);
        test_baud(t);
        test_flush_and_drain(&b, t);
        test_interrupt(t);
        t = transport_free(t);

        assert(transport_serial_open(SERIAL_BED_NODE, 921600, &t) == 0);
        assert(t->baud == 921600);
        test_line_settings(t, 0);
        t = transport_free(t);

        /* Closed and opened again: a fresh transport, not interrupted. */
        assert(transport_serial_open(SERIAL_BED_NODE, 115200, &t) == 0);
        assert(!transport_is_interrupted(t));
        test_hangup(&b, t);
        t = transport_free(t);

        g_object_unref(b.lines);
        g_object_unref(b.tb);
        return 0;
}
