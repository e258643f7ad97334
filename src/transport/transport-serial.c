/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The serial port transport: libserialport opens and configures the port (8N1,
 * no flow control, raw); reads and writes poll its fd together with the
 * interrupt eventfd. Every libserialport and errno failure is converted to a
 * negative errno here, once; "device gone" (hang-up, EIO, ENXIO) is -ENODEV. */
#include <errno.h>
#include <libserialport.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "transport-serial.h"

typedef struct SerialTransport {
        Transport base;          /* first: the ops receive a Transport * */
        struct sp_port *port;
        int fd;                  /* owned by libserialport; used for poll() and ioctl() */
} SerialTransport;

static SerialTransport *serial_from(Transport *t) {
        return (SerialTransport *) t;
}

/* What a tty answers once its USB device is unplugged (or its pty master closed). */
static bool errno_is_device_gone(int e) {
        return e == EIO || e == ENXIO || e == ENODEV || e == EPIPE;
}

/* What an ioctl answers on a file that is not a real tty (or whose driver lacks it). */
static bool errno_is_not_a_tty(int e) {
        return e == ENOTTY || e == EINVAL || e == ENOSYS;
}

static int errno_to_transport(int e) {
        if (e <= 0)
                return -EIO;
        if (errno_is_device_gone(e))
                return -ENODEV;
        return -e;
}

static int sp_to_errno(enum sp_return r) {
        switch (r) {
        case SP_ERR_ARG:
                return -EINVAL;
        case SP_ERR_FAIL:
                return errno_to_transport(sp_last_error_code());
        case SP_ERR_MEM:
                return -ENOMEM;
        case SP_ERR_SUPP:
                return -EOPNOTSUPP;
        default:
                return r >= 0 ? (int) r : -EIO;
        }
}

/* Waits until fd has `events` (or the device is gone), the deadline passes or
 * the transport is interrupted. */
static int serial_wait(SerialTransport *s, short events, usec_t deadline) {
        for (;;) {
                struct pollfd p[2] = {
                        { .fd = s->fd, .events = events },
                        { .fd = s->base.interrupt_fd, .events = POLLIN },
                };
                int r;

                r = poll(p, 2, deadline_to_poll_ms(deadline));
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (p[1].revents & POLLIN)
                        return -ECANCELED;
                if (p[0].revents & POLLNVAL)
                        return -EBADF;
                /* Let data that arrived before a hang-up be read first. */
                if (p[0].revents & events)
                        return 0;
                if (p[0].revents & (POLLHUP | POLLERR))
                        return -ENODEV;
                if (r == 0)
                        return -ETIMEDOUT;
        }
}

/* The fd is read and written directly: libserialport's non-blocking calls
 * report both "nothing yet" and "hung up" as 0, and we must tell them apart. */
static int serial_read(Transport *t, void *buf, size_t n, usec_t deadline) {
        SerialTransport *s = serial_from(t);

        if (n == 0)
                return 0;
        for (;;) {
                ssize_t k;
                int r;

                r = serial_wait(s, POLLIN, deadline);
                if (r < 0)
                        return r;
                k = read(s->fd, buf, MIN(n, (size_t) INT32_MAX));
                if (k < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                continue;
                        return errno_to_transport(errno);
                }
                if (k == 0)
                        return -ENODEV;         /* end of file on a tty: hung up */
                t->bytes_received += (uint64_t) k;
                return (int) k;
        }
}

static int serial_write(Transport *t, const void *buf, size_t n, usec_t deadline) {
        SerialTransport *s = serial_from(t);
        const uint8_t *p = buf;

        while (n > 0) {
                ssize_t k;
                int r;

                if (transport_is_interrupted(t))
                        return -ECANCELED;
                k = write(s->fd, p, MIN(n, (size_t) INT32_MAX));
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                return errno_to_transport(errno);
                        r = serial_wait(s, POLLOUT, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                t->bytes_sent += (uint64_t) k;
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

static int serial_set_signals(Transport *t, bool dtr, bool rts) {
        SerialTransport *s = serial_from(t);
        enum sp_return k;
        int bits;

        /* Both lines in one TIOCMSET, so that the auto-reset circuit never sees
         * an intermediate state (esptool's UnixTightReset depends on this). */
        if (ioctl(s->fd, TIOCMGET, &bits) >= 0) {
                bits = dtr ? (bits | TIOCM_DTR) : (bits & ~TIOCM_DTR);
                bits = rts ? (bits | TIOCM_RTS) : (bits & ~TIOCM_RTS);
                if (ioctl(s->fd, TIOCMSET, &bits) >= 0)
                        return 0;
        }
        if (!errno_is_not_a_tty(errno))
                return errno_to_transport(errno);

        /* Drivers without TIOCMGET/TIOCMSET: one line after the other. */
        k = sp_set_dtr(s->port, dtr ? SP_DTR_ON : SP_DTR_OFF);
        if (k < 0)
                return sp_to_errno(k);
        k = sp_set_rts(s->port, rts ? SP_RTS_ON : SP_RTS_OFF);
        if (k < 0)
                return sp_to_errno(k);
        return 0;
}

static int serial_set_baud(Transport *t, uint32_t baud) {
        SerialTransport *s = serial_from(t);
        enum sp_return k;

        if (baud == 0 || baud > INT32_MAX)
                return -EINVAL;
        k = sp_set_baudrate(s->port, (int) baud);
        if (k < 0)
                return sp_to_errno(k);
        t->baud = baud;
        return 0;
}

static int serial_flush_input(Transport *t) {
        SerialTransport *s = serial_from(t);
        enum sp_return k;

        k = sp_flush(s->port, SP_BUF_INPUT);
        if (k < 0)
                return sp_to_errno(k);
        return 0;
}

static int serial_drain(Transport *t, usec_t deadline) {
        SerialTransport *s = serial_from(t);

        /* tcdrain() cannot be bounded or interrupted: poll the output queue. */
        for (;;) {
                enum sp_return k;
                struct pollfd p = { .fd = t->interrupt_fd, .events = POLLIN };

                k = sp_output_waiting(s->port);
                if (k == SP_ERR_FAIL && errno_is_not_a_tty(sp_last_error_code())) {
                        k = sp_drain(s->port);
                        return k < 0 ? sp_to_errno(k) : 0;
                }
                if (k < 0)
                        return sp_to_errno(k);
                if (k == 0)
                        break;
                if (deadline != USEC_INFINITY && now_usec() >= deadline)
                        return -ETIMEDOUT;
                if (poll(&p, 1, 1) > 0)
                        return -ECANCELED;
        }

        /* The queue is empty once the last byte is in the shift register: wait
         * one more character time (10 bits). */
        if (t->baud > 0)
                sleep_usec(DIV_ROUND_UP(10 * USEC_PER_SEC, t->baud));
        return 0;
}

static void serial_free(Transport *t) {
        SerialTransport *s = serial_from(t);

        if (s->port) {
                (void) sp_close(s->port);
                sp_free_port(s->port);
        }
        transport_deinit(t);
        free(s);
}

static const TransportOps serial_ops = {
        .name = "serial",
        .read = serial_read,
        .write = serial_write,
        .set_signals = serial_set_signals,
        .set_baud = serial_set_baud,
        .flush_input = serial_flush_input,
        .drain = serial_drain,
        .free = serial_free,
};

int transport_serial_open(const char *path, uint32_t baud, Transport **ret) {
        struct sp_port_config *config = NULL;
        SerialTransport *s;
        _cleanup_(transport_freep) Transport *t = NULL;
        enum sp_return k;
        int r;

        if (!path || !ret || baud == 0 || baud > INT32_MAX)
                return -EINVAL;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->fd = -EBADF;
        r = transport_init(&s->base, &serial_ops);
        if (r < 0) {
                free(s);
                return r;
        }
        t = &s->base;

        k = sp_get_port_by_name(path, &s->port);
        if (k < 0) {
                /* libserialport looks the port up in sysfs and answers SP_ERR_ARG
                 * for anything it cannot find there: tell "no such file" apart
                 * from "not a serial port". */
                if (k == SP_ERR_ARG)
                        return access(path, F_OK) < 0 ? -errno : -ENODEV;
                return sp_to_errno(k);
        }

        k = sp_open(s->port, SP_MODE_READ_WRITE);
        if (k < 0) {
                r = sp_to_errno(k);
                sp_free_port(s->port);
                s->port = NULL;
                return r;
        }

        k = sp_get_port_handle(s->port, &s->fd);
        if (k < 0)
                return sp_to_errno(k);

        /* One configuration, applied at once: each sp_set_*() on the port reads
         * and writes the whole termios (and the modem lines) again, a USB
         * request each on a bridge, and all of it before the reset can start. */
        k = sp_new_config(&config);
        if (k >= 0)
                k = sp_set_config_baudrate(config, (int) baud);
        if (k >= 0)
                k = sp_set_config_bits(config, 8);
        if (k >= 0)
                k = sp_set_config_parity(config, SP_PARITY_NONE);
        if (k >= 0)
                k = sp_set_config_stopbits(config, 1);
        if (k >= 0)
                k = sp_set_config_flowcontrol(config, SP_FLOWCONTROL_NONE);
        if (k >= 0)
                k = sp_set_config(s->port, config);
        if (config)
                sp_free_config(config);
        if (k < 0)
                return log_debug_errno(sp_to_errno(k), "Failed to configure %s: %m", path);
        t->baud = baud;

        *ret = TAKE_PTR(t);
        return 0;
}

int transport_serial_fd(Transport *t) {
        if (!t || t->ops != &serial_ops)
                return -EBADF;
        return serial_from(t)->fd;
}
