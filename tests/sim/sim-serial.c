/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The serial side of the simulated chip: the pty (our own, or a master fd a
 * test bed hands over), reading the host's bytes through the fault injector
 * into the line model, writing the chip's bytes when the line model says they
 * have left, noticing when nobody has the port open, and unplugging. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "sim.h"

#define TX_CHUNK 64     /* bytes per wakeup at most, unless a millisecond passes first */

nsec_t sim_now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (nsec_t) ts.tv_sec * SIM_NSEC_PER_SEC + (nsec_t) ts.tv_nsec;
}

nsec_t sim_emit(Sim *s, const uint8_t *data, size_t n, nsec_t at) {
        nsec_t done = at;
        int r;

        if (s->state == SIM_STATE_GONE || s->serial_fd < 0)
                return at;
        r = sim_uart_tx_queue(&s->uart, data, n, at, &done);
        if (r < 0)
                log_warning_errno(r, "Dropping %zu output bytes: %m", n);
        return done;
}

nsec_t sim_emit_string(Sim *s, const char *str, nsec_t at) {
        return sim_emit(s, (const uint8_t *) str, strlen(str), at);
}

nsec_t sim_emit_frame(Sim *s, const uint8_t *payload, size_t n, nsec_t at) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t k;

        buf = malloc(sim_slip_encoded_max(n));
        if (!buf)
                return at;
        k = sim_slip_encode(payload, n, buf);
        return sim_emit(s, buf, k, at);
}

static bool fd_hung_up(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLIN };

        return poll(&p, 1, 0) > 0 && (p.revents & POLLHUP);
}

static void set_hup(Sim *s, bool hup, nsec_t now) {
        if (s->serial_hup == hup)
                return;
        s->serial_hup = hup;
        s->hup_recheck_at = hup ? now + SIM_HUP_RECHECK_NSEC : SIM_NSEC_INFINITY;
        sim_log_event(s->log, now, hup ? "port-closed" : "port-opened", NULL);
}

void sim_serial_set_fd(Sim *s, int fd) {
        int flags = fcntl(fd, F_GETFL);

        if (flags >= 0)
                (void) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        s->serial_fd = fd;
        s->serial_hup = fd_hung_up(fd);
        s->hup_recheck_at = s->serial_hup ? 0 : SIM_NSEC_INFINITY;
}

int sim_serial_open_pty(Sim *s, const char *link) {
        _cleanup_close_ int master = -EBADF, slave = -EBADF;
        char name[128];
        struct termios t;

        master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0)
                return log_error_errno(errno, "Failed to open /dev/ptmx: %m");
        if (grantpt(master) < 0 || unlockpt(master) < 0 || ptsname_r(master, name, sizeof(name)) != 0)
                return log_error_errno(errno, "Failed to set up pty: %m");

        /* Raw mode on the slave side, set once here: a host that opens the
         * port must not get our bytes echoed back or newlines translated. The
         * setting outlives this descriptor. */
        slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (slave < 0)
                return log_error_errno(errno, "Failed to open %s: %m", name);
        if (tcgetattr(slave, &t) < 0)
                return log_error_errno(errno, "tcgetattr(%s) failed: %m", name);
        cfmakeraw(&t);
        cfsetispeed(&t, B115200);
        cfsetospeed(&t, B115200);
        if (tcsetattr(slave, TCSANOW, &t) < 0)
                return log_error_errno(errno, "tcsetattr(%s) failed: %m", name);
        slave = safe_close(slave);

        if (link) {
                struct stat st;

                if (lstat(link, &st) >= 0 && S_ISLNK(st.st_mode))
                        (void) unlink(link);
                if (symlink(name, link) < 0)
                        return log_error_errno(errno, "Failed to link %s to %s: %m", link, name);
                s->pty_link = strdup(link);
                if (!s->pty_link)
                        return -ENOMEM;
        }
        sim_serial_set_fd(s, TAKE_FD(master));
        return 0;
}

/* Host UART rates, for naming the one a chip's rate is within tolerance of. */
static const uint32_t standard_rates[] = {
        9600, 19200, 38400, 57600, 74880, 115200, 230400, 250000, 460800, 500000,
        576000, 921600, 1000000, 1152000, 1500000, 2000000, 2500000, 3000000,
};

/* A UART receiver samples mid-bit and resynchronises on each start bit, so
 * the two ends of a 10-bit frame may differ by a few percent; 2.5% is the
 * usual budget for both ends together. */
#define SIM_UART_TOLERANCE_PERMILLE 25

uint32_t sim_serial_nominal_baud(uint32_t rate) {
        for (size_t i = 0; i < ELEMENTSOF(standard_rates); i++) {
                uint64_t r = standard_rates[i];
                uint64_t diff = rate > r ? rate - r : r - rate;

                if (diff * 1000 <= r * SIM_UART_TOLERANCE_PERMILLE)
                        return standard_rates[i];
        }
        return rate;
}

/* The UART now runs at `baud` bit/s (UART_CLKDIV is the loader's business). */
void sim_serial_set_baud(Sim *s, uint32_t baud, nsec_t at) {
        if (baud == 0)
                return;
        if (baud != s->baud)
                sim_log_event(s->log, at, "baud", "\"baud\":%" PRIu32 ",\"nominal\":%" PRIu32,
                              baud, sim_serial_nominal_baud(baud));
        s->baud = baud;
        s->faults.baud = baud;
        sim_uart_set_rate(&s->uart, sim_timing_byte_time(s->timing, s->console, baud), at);
}

/* Block faults hit the data of a flash write block (a request frame: 8-byte
 * header, then the 16-byte data header, then what the checksum covers). */
static void damage_data_block(Sim *s, uint8_t *frame, size_t n, nsec_t at) {
        if (n <= 8 + 16 || frame[0] != 0x00 ||
            (frame[1] != SIM_OP_FLASH_DATA && frame[1] != SIM_OP_FLASH_DEFL_DATA))
                return;
        if (sim_faults_block(&s->faults, frame + 8 + 16, n - 8 - 16))
                sim_log_event(s->log, at, "block-corrupt", "\"op\":%u", frame[1]);
}

/* Hands the host's bytes to the chip, as far as they have arrived by now. */
void sim_serial_deliver(Sim *s, nsec_t now) {
        nsec_t done;
        uint8_t b;

        while (sim_uart_rx_pop(&s->uart, now, &b, &done)) {
                switch (s->state) {
                case SIM_STATE_DOWNLOAD:
                        if (sim_slip_decoder_feed(&s->slip, b) > 0 &&
                            s->slip.len <= sim_loader_max_frame(&s->loader)) {
                                damage_data_block(s, s->slip.buf, s->slip.len, done);
                                (void) sim_loader_frame(&s->loader, s->slip.buf, s->slip.len, done);
                        }
                        break;
                case SIM_STATE_CONSOLE:
                        /* The ESP32 ROM's command interpreter echoes what it
                         * reads, swallows NUL and rubs out on backspace. */
                        if (b == 0x08)
                                (void) sim_emit(s, (const uint8_t *) "\b \b", 3, done);
                        else if (b != 0x00)
                                (void) sim_emit(s, &b, 1, done);
                        break;
                default:
                        /* In reset, halted or running the app: nobody listens. */
                        break;
                }
        }
}

static void receive(Sim *s, uint8_t *buf, size_t n, nsec_t now) {
        uint64_t before = s->rx_bytes;
        SimFaultResult fr = { .len = n };
        size_t split;

        s->rx_bytes += n;
        sim_log_bytes(s->log, now, "rx", buf, n, NULL);
        if (s->faults.n > 0)
                sim_faults_filter(&s->faults, buf, n, before, &fr);

        split = fr.stall ? MIN(fr.stall_index, fr.len) : fr.len;
        (void) sim_uart_rx_push(&s->uart, buf, split, now);
        if (fr.stall) {
                nsec_t until = now + fr.stall_msec * SIM_NSEC_PER_MSEC;

                sim_log_event(s->log, now, "stall", "\"msec\":%" PRIu64, fr.stall_msec);
                sim_uart_freeze(&s->uart, now, until);
                s->loader.busy_until = MAX(s->loader.busy_until, until);
                s->stall_until = until;
                (void) sim_uart_rx_push(&s->uart, buf + split, fr.len - split, now);
        }
        if (fr.vanish) {
                /* Whatever arrived before the unplug still takes effect. */
                sim_serial_deliver(s, SIM_NSEC_INFINITY);
                sim_serial_vanish(s, now);
        }
}

int sim_serial_read(Sim *s, nsec_t now) {
        static uint8_t buf[65536];

        for (unsigned i = 0; i < 16 && s->serial_fd >= 0; i++) {
                ssize_t k = read(s->serial_fd, buf, sizeof(buf));

                if (k > 0) {
                        receive(s, buf, (size_t) k, now);
                        continue;
                }
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == EAGAIN)
                        break;
                /* EOF or EIO on a pty master: the last opener closed the port. */
                set_hup(s, true, now);
                break;
        }
        return 0;
}

void sim_serial_flush(Sim *s, nsec_t now) {
        bool rechecked = false;

        for (;;) {
                const uint8_t *data;
                size_t n = sim_uart_tx_due(&s->uart, now, &data);
                ssize_t k;

                if (n == 0)
                        return;
                /* Before declaring bytes lost, look again: a host that just
                 * opened the port must get them, not wait for the recheck. */
                if (s->serial_fd >= 0 && s->serial_hup && !rechecked) {
                        rechecked = true;
                        if (!fd_hung_up(s->serial_fd))
                                set_hup(s, false, now);
                }
                if (s->serial_fd < 0 || s->serial_hup) {
                        /* On the wire with nobody listening: gone, like on a real UART. */
                        sim_log_bytes(s->log, now, "tx", data, n, "\"lost\":true");
                        s->tx_bytes += n;
                        s->tx_lost += n;
                        sim_uart_tx_consume(&s->uart, n);
                        continue;
                }
                k = write(s->serial_fd, data, n);
                if (k > 0) {
                        sim_log_bytes(s->log, now, "tx", data, (size_t) k, NULL);
                        s->tx_bytes += (uint64_t) k;
                        sim_uart_tx_consume(&s->uart, (size_t) k);
                        if ((size_t) k < n) {
                                s->serial_blocked = true;
                                return;
                        }
                        continue;
                }
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == EAGAIN) {
                        s->serial_blocked = true;
                        return;
                }
                set_hup(s, true, now);
        }
}

void sim_serial_check_hup(Sim *s, nsec_t now) {
        if (s->serial_fd < 0 || !s->serial_hup || now < s->hup_recheck_at)
                return;
        if (fd_hung_up(s->serial_fd))
                s->hup_recheck_at = now + SIM_HUP_RECHECK_NSEC;
        else
                set_hup(s, false, now);
}

nsec_t sim_serial_next_wakeup(const Sim *s, nsec_t now) {
        nsec_t t = SIM_NSEC_INFINITY;

        if (s->serial_fd < 0)
                return t;
        if (!s->serial_blocked && sim_uart_tx_pending(&s->uart) > 0) {
                nsec_t next = sim_uart_tx_next_due(&s->uart);

                /* Write in small chunks rather than per byte: a millisecond of
                 * lateness at most, and no wakeup storm at 921600 baud. */
                t = MAX(next, MIN(sim_uart_tx_chunk_due(&s->uart, TX_CHUNK), next + SIM_NSEC_PER_MSEC));
        }
        if (s->state == SIM_STATE_CONSOLE)
                t = MIN(t, sim_uart_rx_next_due(&s->uart));
        else
                t = MIN(t, sim_uart_rx_next_frame_due(&s->uart));
        if (s->serial_hup)
                t = MIN(t, s->hup_recheck_at);
        return MAX(t, now);
}

void sim_serial_close(Sim *s) {
        s->serial_fd = safe_close(s->serial_fd);
        if (s->pty_link) {
                (void) unlink(s->pty_link);
                free(s->pty_link);
                s->pty_link = NULL;
        }
}

void sim_serial_vanish(Sim *s, nsec_t now) {
        if (s->state == SIM_STATE_GONE)
                return;
        sim_log_event(s->log, now, "vanish", NULL);
        sim_uart_tx_discard(&s->uart, now);
        sim_uart_rx_discard(&s->uart, now);
        /* Closing the master is what a host sees as the device going away:
         * hangup on poll, EIO on read and write. */
        sim_serial_close(s);
        s->state = SIM_STATE_GONE;
        s->boot_at = s->reset_at = s->soft_reset_at = s->run_user_code_at = s->app_next_line = SIM_NSEC_INFINITY;
}
