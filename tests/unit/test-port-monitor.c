/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Serial monitors (src/device/port-monitor.c) on a umockdev tty in-process (run
 * under umockdev-wrapper), the test holding the line's other end: one shared
 * open fans the device's output out to every client; a baud clash is -EBUSY;
 * only a writing client's input reaches the device; a job pauses and resumes
 * them with in-band notices and the callbacks, resuming with a hard reset
 * (EN pulsed, then released by a timer); a device that leaves and comes back
 * is followed; a client that does not read gets a "bytes dropped" marker and
 * nothing out of order; the port closes with its last client. Links the device
 * layer only. */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "port-monitor.h"
#include "transport-serial.h"
#include "serial-bed.h"
#include "time-util.h"

typedef struct Seen {
        unsigned own_begin, own_end, paused, resumed;
} Seen;

static void on_own_begin(const char *node, void *userdata) {
        ((Seen *) userdata)->own_begin++;
}
static void on_own_end(const char *node, void *userdata) {
        ((Seen *) userdata)->own_end++;
}
static void on_paused(const char *node, void *userdata) {
        ((Seen *) userdata)->paused++;
}
static void on_resumed(const char *node, void *userdata) {
        ((Seen *) userdata)->resumed++;
}

/* What a client socket has received so far. */
typedef struct Stream {
        int fd;
        char buf[8192];
        size_t len;
} Stream;

static void stream_pull(Stream *s) {
        for (;;) {
                ssize_t n;

                if (s->len + 1 >= sizeof(s->buf))
                        s->len = 0;     /* the tests look for what came last */
                n = recv(s->fd, s->buf + s->len, sizeof(s->buf) - 1 - s->len, MSG_DONTWAIT);
                if (n <= 0)
                        break;
                s->len += (size_t) n;
        }
        s->buf[s->len] = '\0';
}

/* Runs the loop until every stream has received needle (and consumes up to it). */
static void run_until_seen(sd_event *e, Stream **streams, size_t n, const char *needle) {
        for (int i = 0; i < 1000; i++) {
                bool all = true;

                for (size_t k = 0; k < n; k++) {
                        stream_pull(streams[k]);
                        all = all && strstr(streams[k]->buf, needle);
                }
                if (all) {
                        for (size_t k = 0; k < n; k++) {
                                char *at = strstr(streams[k]->buf, needle) + strlen(needle);
                                size_t rest = streams[k]->len - (size_t) (at - streams[k]->buf);

                                memmove(streams[k]->buf, at, rest + 1);
                                streams[k]->len = rest;
                        }
                        return;
                }
                assert(sd_event_run(e, 10 * USEC_PER_MSEC) >= 0);
        }
        fprintf(stderr, "never saw \"%s\"; got \"%s\"\n", needle, streams[0]->buf);
        abort();
}

/* The device's side: read exactly n bytes while the loop runs. */
static void master_expect(sd_event *e, int master, const char *want) {
        size_t n = strlen(want), got = 0;
        char buf[256];

        assert(n < sizeof(buf));
        for (int i = 0; i < 1000 && got < n; i++) {
                struct pollfd p = { .fd = master, .events = POLLIN };

                assert(sd_event_run(e, 5 * USEC_PER_MSEC) >= 0);
                if (poll(&p, 1, 0) > 0) {
                        ssize_t k = read(master, buf + got, n - got);

                        assert(k > 0);
                        got += (size_t) k;
                }
        }
        assert(got == n && memcmp(buf, want, n) == 0);
}

static void test_dropped_marker(sd_event *e, PortMonitorSet *set, const DeviceInfo *d, SerialBed *b) {
        Stream slow = {};
        char chunk[4096];
        uint64_t sent = 0, data = 0, dropped = 0;

        assert(port_monitor_attach(set, d, 115200, false, false, 1000, &slow.fd) == 0);
        /* Far more than the client's buffer and its socket hold, while it does
         * not read: the port keeps being read, the excess is counted. */
        memset(chunk, 'D', sizeof(chunk));
        assert(fcntl(b->master, F_SETFL, fcntl(b->master, F_GETFL) | O_NONBLOCK) == 0);
        while (sent < 512 * 1024) {
                ssize_t k = write(b->master, chunk, sizeof(chunk));

                if (k > 0)
                        sent += (uint64_t) k;
                assert(sd_event_run(e, 1 * USEC_PER_MSEC) >= 0);
        }
        for (int i = 0; i < 50; i++)
                assert(sd_event_run(e, 1 * USEC_PER_MSEC) >= 0);
        assert(fcntl(b->master, F_SETFL, fcntl(b->master, F_GETFL) & ~O_NONBLOCK) == 0);

        /* It reads now; the next bytes come after a marker saying how many it lost. */
        for (int i = 0; i < 200; i++) {
                char buf[65536];
                ssize_t n = recv(slow.fd, buf, sizeof(buf), MSG_DONTWAIT);

                if (n > 0) {
                        for (ssize_t k = 0; k < n; k++)
                                assert(buf[k] == 'D');
                        data += (uint64_t) n;
                }
                assert(sd_event_run(e, 1 * USEC_PER_MSEC) >= 0);
        }
        assert(data > 0 && data < sent);

        /* The next bytes come after a marker saying how many it lost; every byte
         * sent is either received or counted there. */
        assert(write(b->master, "tail", 4) == 4);
        {
                char text[256] = "";
                size_t tlen = 0;
                bool in_data = true;

                for (int i = 0; i < 1000 && !strstr(text, "tail"); i++) {
                        char buf[65536];
                        ssize_t n = recv(slow.fd, buf, sizeof(buf), MSG_DONTWAIT);

                        for (ssize_t k = 0; k < n; k++) {
                                if (in_data && buf[k] == 'D') {
                                        data++;
                                        continue;
                                }
                                in_data = false;
                                assert(tlen + 1 < sizeof(text));
                                text[tlen++] = buf[k];
                                text[tlen] = '\0';
                        }
                        assert(sd_event_run(e, 1 * USEC_PER_MSEC) >= 0);
                }
                assert(sscanf(text, "\r\n[fbuild-deployd] %" SCNu64 " bytes dropped\r\n", &dropped) == 1);
                assert(tlen > 4 && strstr(text, " bytes dropped\r\ntail") == text + tlen - strlen(" bytes dropped\r\ntail"));
                assert(dropped > 0);
                assert(data + dropped == sent);
        }
        close(slow.fd);
}

/* A job's port handed back with EN low and a time before which it may not be
 * released (its reply did not wait for the hold): the timer releases it then,
 * not before (a lower bound: timers never fire early), on the monitors' port
 * and, with none, on one kept open for it alone. */
static void test_held_release_at(sd_event *e, PortMonitorSet *set, const DeviceInfo *d, SerialBed *b) {
        /* the last test's monitor is gone once its hang-up is seen */
        for (int i = 0; i < 100 && port_monitor_set_monitors(set, SERIAL_BED_NODE); i++)
                assert(sd_event_run(e, 10 * USEC_PER_MSEC) >= 0);
        assert(!port_monitor_set_monitors(set, SERIAL_BED_NODE));

        for (unsigned monitored = 0; monitored < 2; monitored++) {
                Transport *held = NULL;
                usec_t release_at;
                int fd = -1;

                if (monitored) {
                        assert(port_monitor_attach(set, d, 115200, false, false, 1000, &fd) == 0);
                        port_monitor_pause(set, SERIAL_BED_NODE);
                }
                assert(transport_serial_open(SERIAL_BED_NODE, 115200, &held) >= 0);
                assert(transport_set_signals(held, false, true) >= 0);
                b->lines->n_history = 0;
                release_at = now_usec() + 50 * USEC_PER_MSEC;
                port_monitor_resume_held(set, d, SERIAL_BED_NODE, held, release_at);
                /* still in reset (setting the monitors' baud may set the
                 * same lines again) */
                for (size_t k = 0; k < b->lines->n_history; k++)
                        assert(b->lines->history[k] == TIOCM_RTS);
                assert(port_monitor_set_monitors(set, SERIAL_BED_NODE) == monitored);
                while (b->lines->n_history == 0 || b->lines->history[b->lines->n_history - 1] != 0) {
                        assert(now_usec() < release_at + 10 * USEC_PER_SEC);
                        assert(sd_event_run(e, 10 * USEC_PER_MSEC) >= 0);
                }
                /* DTR and RTS off: EN released, not before its time */
                assert(now_usec() >= release_at);
                if (monitored) {
                        close(fd);
                        for (int i = 0; i < 100 && port_monitor_set_n_clients(set) > 0; i++)
                                assert(sd_event_run(e, 10 * USEC_PER_MSEC) >= 0);
                }
                assert(!port_monitor_set_monitors(set, SERIAL_BED_NODE));
        }

        /* A monitor that comes while the hold lasts, at a rate of its own:
         * nobody reads the held port yet, so it takes the monitor's rate. */
        {
                Transport *held = NULL;
                usec_t release_at;
                int fd = -1;

                assert(transport_serial_open(SERIAL_BED_NODE, 921600, &held) >= 0);
                assert(transport_set_signals(held, false, true) >= 0);
                b->lines->n_history = 0;
                release_at = now_usec() + 50 * USEC_PER_MSEC;
                port_monitor_resume_held(set, d, SERIAL_BED_NODE, held, release_at);
                assert(port_monitor_attach(set, d, 115200, false, false, 1000, &fd) == 0);
                while (b->lines->n_history == 0 || b->lines->history[b->lines->n_history - 1] != 0) {
                        assert(now_usec() < release_at + 10 * USEC_PER_SEC);
                        assert(sd_event_run(e, 10 * USEC_PER_MSEC) >= 0);
                }
                assert(now_usec() >= release_at);
                assert(write(b->master, "hello", 5) == 5);
                {
                        char buf[64] = "";
                        size_t len = 0;

                        for (int i = 0; i < 200 && !strstr(buf, "hello"); i++) {
                                ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, MSG_DONTWAIT);

                                if (n > 0) {
                                        len += (size_t) n;
                                        buf[len] = 0;
                                }
                                assert(sd_event_run(e, 5 * USEC_PER_MSEC) >= 0);
                        }
                        assert(strstr(buf, "hello"));
                }
                close(fd);
                for (int i = 0; i < 100 && port_monitor_set_n_clients(set) > 0; i++)
                        assert(sd_event_run(e, 10 * USEC_PER_MSEC) >= 0);
                assert(!port_monitor_set_monitors(set, SERIAL_BED_NODE));
        }

        /* A release time already past: released at once. */
        {
                Transport *held = NULL;

                assert(transport_serial_open(SERIAL_BED_NODE, 115200, &held) >= 0);
                assert(transport_set_signals(held, false, true) >= 0);
                b->lines->n_history = 0;
                port_monitor_resume_held(set, d, SERIAL_BED_NODE, held, now_usec() - 1);
                assert(b->lines->n_history >= 1 && b->lines->history[b->lines->n_history - 1] == 0);
                assert(!port_monitor_set_monitors(set, SERIAL_BED_NODE));
        }
}

int main(void) {
        PortMonitorCallbacks cb = {
                .own_open_begin = on_own_begin, .own_open_end = on_own_end,
                .paused = on_paused, .resumed = on_resumed,
        };
        DeviceInfo d = {
                .node = (char *) SERIAL_BED_NODE,
                .identity = (char *) "usb:10c4:ea60:0001",
                .kind = DEVICE_KIND_UART_BRIDGE,
        };
        PortMonitorSet *set = NULL;
        Stream a = {}, w = {};
        Stream *both[] = { &a, &w };
        sd_event *e = NULL;
        SerialBed b = {};
        Seen seen = {};
        int other = -1;

        if (!strstr(getenv("LD_PRELOAD") ?: "", "umockdev-preload")) {
                fprintf(stderr, "not under umockdev-wrapper, skipping\n");
                return 77;
        }
        serial_bed_init(&b);
        assert(sd_event_new(&e) >= 0);
        assert(port_monitor_set_new(e, &cb, &seen, &set) == 0);

        /* Two clients, one open of the port. */
        assert(port_monitor_attach(set, &d, 115200, false, false, 1000, &a.fd) == 0);
        assert(port_monitor_attach(set, &d, 115200, true, false, 1001, &w.fd) == 0);
        assert(seen.own_begin == 1 && seen.own_end == 1);
        assert(port_monitor_set_n_clients(set) == 2);
        assert(port_monitor_set_n_clients_of(set, 1000) == 1);
        assert(port_monitor_set_other_owner(set, d.identity, 1000));
        assert(!port_monitor_set_other_owner(set, "usb:0:0:none", 1000));
        assert(port_monitor_set_monitors(set, SERIAL_BED_NODE));
        /* Every monitor of a device runs at one baud. */
        assert(port_monitor_attach(set, &d, 921600, false, false, 1000, &other) == -EBUSY);
        assert(other < 0);

        assert(write(b.master, "hello\r\n", 7) == 7);
        run_until_seen(e, both, 2, "hello\r\n");

        /* Only the writing client's input reaches the device. */
        assert(send(a.fd, "nope", 4, 0) == 4);
        assert(send(w.fd, "ping", 4, 0) == 4);
        master_expect(e, b.master, "ping");
        {
                struct pollfd p = { .fd = b.master, .events = POLLIN };

                for (int i = 0; i < 20; i++)
                        assert(sd_event_run(e, 1 * USEC_PER_MSEC) >= 0);
                assert(poll(&p, 1, 0) == 0);
        }

        /* A job takes the port: notice and callback; it hands its port back
         * still open with the chip held in reset (EN low: RTS), the monitors
         * release EN, and the boot output follows the resume notice. */
        port_monitor_pause(set, SERIAL_BED_NODE);
        assert(seen.paused == 1);
        run_until_seen(e, both, 2, "[fbuild-deployd] paused: a job has the port\r\n");
        /* Input while paused goes nowhere. */
        assert(send(w.fd, "lost", 4, 0) == 4);
        for (int i = 0; i < 20; i++)
                assert(sd_event_run(e, 1 * USEC_PER_MSEC) >= 0);
        {
                Transport *held = NULL;
                unsigned own_begin = seen.own_begin, own_end = seen.own_end;

                assert(transport_serial_open(SERIAL_BED_NODE, 115200, &held) >= 0);
                b.lines->n_history = 0;
                assert(transport_set_signals(held, false, true) >= 0);
                port_monitor_resume(set, SERIAL_BED_NODE, held);
                /* The job's open is adopted: the monitors open nothing of their own. */
                assert(seen.resumed == 1 && seen.own_begin == own_begin && seen.own_end == own_end);
        }
        run_until_seen(e, both, 2, "[fbuild-deployd] resumed at 115200 baud\r\n");
        /* EN low (RTS), then released by the timer: DTR and RTS both off. */
        for (int i = 0; i < 1000 && b.lines->n_history < 2; i++)
                assert(sd_event_run(e, 10 * USEC_PER_MSEC) >= 0);
        assert(b.lines->n_history == 2);
        assert(b.lines->history[0] == TIOCM_RTS);
        assert(b.lines->history[1] == 0);
        assert(write(b.master, "boot", 4) == 4);
        run_until_seen(e, both, 2, "boot");
        {
                struct pollfd p = { .fd = b.master, .events = POLLIN };

                /* "lost" was never sent to the device. */
                assert(poll(&p, 1, 0) == 0);
        }

        /* The device leaves and comes back (same identity): followed. */
        port_monitor_device_removed(set, &d);
        run_until_seen(e, both, 2, "[fbuild-deployd] device removed; waiting for it to come back\r\n");
        assert(port_monitor_set_n_clients(set) == 2);
        port_monitor_device_added(set, &d);
        run_until_seen(e, both, 2, "[fbuild-deployd] device back on " SERIAL_BED_NODE "\r\n");
        assert(write(b.master, "again", 5) == 5);
        run_until_seen(e, both, 2, "again");

        /* The port closes with its last client. */
        close(a.fd);
        close(w.fd);
        for (int i = 0; i < 100 && port_monitor_set_n_clients(set) > 0; i++)
                assert(sd_event_run(e, 10 * USEC_PER_MSEC) >= 0);
        assert(port_monitor_set_n_clients(set) == 0);
        assert(!port_monitor_set_monitors(set, SERIAL_BED_NODE));
        /* … so a new monitor may pick another baud. */
        assert(port_monitor_attach(set, &d, 921600, false, false, 1000, &other) == 0);
        close(other);
        for (int i = 0; i < 100 && port_monitor_set_n_clients(set) > 0; i++)
                assert(sd_event_run(e, 10 * USEC_PER_MSEC) >= 0);
        assert(port_monitor_set_n_clients(set) == 0);

        test_dropped_marker(e, set, &d, &b);
        test_held_release_at(e, set, &d, &b);

        set = port_monitor_set_free(set);
        sd_event_unref(e);
        g_object_unref(b.lines);
        g_object_unref(b.tb);
        return 0;
}
