/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Serial monitors on the sd-event loop: one non-blocking open per monitored
 * device, its output copied to every client's socket. A client that does not
 * read loses bytes (marked in its stream), never the port or a deploy. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "esp-reset.h"
#include "log.h"
#include "macro.h"
#include "port-monitor.h"
#include "string-util.h"
#include "time-util.h"
#include "transport-serial.h"

/* Room for notices beyond the data limit: they are never dropped. */
#define CLIENT_NOTICE_SLACK 1024u
/* Notices are lines of their own in the stream. */
#define NOTICE_PREFIX "\r\n[fbuild-deployd] "
#define PORT_READ_CHUNK 4096u
/* Reads per wake-up, so that one chatty port cannot starve the loop. */
#define PORT_READS_PER_EVENT 16
typedef struct PortMonitor PortMonitor;
typedef struct MonitorClient MonitorClient;

typedef enum PortState {
        PORT_OPEN,          /* reading */
        PORT_RESETTING,     /* reading, EN held low until the timer */
        PORT_PAUSED,        /* a job holds the port */
        PORT_WAITING,       /* the device left; the timer ends the monitors */
} PortState;

struct MonitorClient {
        PortMonitor *port;
        int fd;
        sd_event_source *source;
        bool write;
        uid_t owner;               /* who asked for it (per-user limits, who may write) */
        bool input_closed;         /* the client shut down its sending side */
        uint8_t *buf;
        size_t len, cap;
        uint64_t dropped;          /* bytes lost since the last marker */
        MonitorClient *next;
};

struct PortMonitor {
        PortMonitorSet *set;
        char *identity, *node;
        DeviceKind kind;
        uint32_t baud;
        PortState state;
        Transport *transport;
        int fd;
        sd_event_source *io, *timer;
        EspResetStep reset_steps[ESP_RESET_STEPS_MAX];  /* PORT_RESETTING: the sequence, */
        size_t n_reset_steps, reset_step;               /* and where it is */
        MonitorClient *clients;         /* none: opened for a Reset alone, closed after it */
        PortMonitor *next;
};

struct PortMonitorSet {
        sd_event *event;
        PortMonitorCallbacks cb;
        void *userdata;
        PortMonitor *ports;
};

static void port_monitor_free(PortMonitor *pm);

/* ---- clients ---------------------------------------------------------------------- */

static void client_free(MonitorClient *c) {
        PortMonitor *pm = c->port;

        for (MonitorClient **i = &pm->clients; *i; i = &(*i)->next)
                if (*i == c) {
                        *i = c->next;
                        break;
                }
        sd_event_source_disable_unref(c->source);
        if (c->fd >= 0)
                close(c->fd);
        free(c->buf);
        free(c);
}

/* The client is gone; the port closes with its last client. */
static void client_hangup(MonitorClient *c) {
        PortMonitor *pm = c->port;

        log_debug("%s: a monitor went away.", pm->node);
        client_free(c);
        if (!pm->clients)
                port_monitor_free(pm);
}

/* Returns -EPIPE if the client hung up (the caller frees it), else 0. */
static int client_flush(MonitorClient *c) {
        while (c->len > 0) {
                ssize_t n = send(c->fd, c->buf, c->len, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                break;
                        return -EPIPE;
                }
                memmove(c->buf, c->buf + n, c->len - (size_t) n);
                c->len -= (size_t) n;
        }
        (void) sd_event_source_set_io_events(c->source, (c->input_closed ? 0 : EPOLLIN) |
                                                        (c->len > 0 ? EPOLLOUT : 0));
        return 0;
}

static void client_append(MonitorClient *c, const void *data, size_t n) {
        if (c->len + n > c->cap) {
                /* Only notices get here (data is limited below): grow for them. */
                uint8_t *b = realloc(c->buf, c->len + n);

                if (!b)
                        return;
                c->buf = b;
                c->cap = c->len + n;
        }
        memcpy(c->buf + c->len, data, n);
        c->len += n;
}

static void client_queue(MonitorClient *c, const uint8_t *data, size_t n) {
        size_t take;

        if (c->dropped > 0 && c->len < PORT_MONITOR_CLIENT_BUFFER / 2) {
                char marker[96];
                int k = snprintf(marker, sizeof(marker), "\r\n[fbuild-deployd] %llu bytes dropped\r\n",
                                 (unsigned long long) c->dropped);

                client_append(c, marker, (size_t) k);
                c->dropped = 0;
        }
        if (c->dropped > 0) {
                c->dropped += n;
                return;
        }
        take = c->len < PORT_MONITOR_CLIENT_BUFFER ? MIN(n, PORT_MONITOR_CLIENT_BUFFER - c->len) : 0;
        client_append(c, data, take);
        c->dropped += n - take;
}

static int on_client_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        MonitorClient *c = userdata;
        PortMonitor *pm = c->port;
        uint8_t buf[1024];

        /* Both directions closed: the client is gone. */
        if (revents & (EPOLLHUP | EPOLLERR)) {
                client_hangup(c);
                return 0;
        }
        if (revents & EPOLLIN) {
                ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

                if (n < 0 && errno != EAGAIN && errno != EINTR) {
                        client_hangup(c);
                        return 0;
                }
                if (n == 0) {
                        /* Half-closed: it only wants to read; keep sending. */
                        c->input_closed = true;
                        (void) client_flush(c);
                }
                /* Input goes to the device only if asked for, and only while we
                 * have the port; a console does not queue keystrokes for later. */
                if (n > 0 && c->write && pm->fd >= 0 &&
                    (pm->state == PORT_OPEN || pm->state == PORT_RESETTING))
                        (void) !write(pm->fd, buf, (size_t) n);
        }
        if ((revents & EPOLLOUT) && client_flush(c) < 0)
                client_hangup(c);
        return 0;
}

static void port_notice(PortMonitor *pm, const char *fmt, ...) _printf_(2, 3);
static void port_notice(PortMonitor *pm, const char *fmt, ...) {
        char line[256];
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (k < 0)
                return;
        k = MIN(k, (int) sizeof(line) - 1);
        for (MonitorClient *c = pm->clients, *next; c; c = next) {
                next = c->next;
                client_append(c, NOTICE_PREFIX, strlen(NOTICE_PREFIX));
                client_append(c, line, (size_t) k);
                client_append(c, "\r\n", 2);
                /* A client that hung up is noticed by its own event source. */
                (void) client_flush(c);
        }
}

/* ---- the port ----------------------------------------------------------------------- */

static void port_fanout(PortMonitor *pm, const uint8_t *data, size_t n) {
        for (MonitorClient *c = pm->clients; c; c = c->next) {
                client_queue(c, data, n);
                (void) client_flush(c);
        }
}

/* Returns -EIO once the device stopped answering (hung up, gone). */
static int port_read(PortMonitor *pm, int max_reads) {
        uint8_t buf[PORT_READ_CHUNK];

        for (int i = 0; pm->fd >= 0 && i < max_reads; i++) {
                ssize_t n = read(pm->fd, buf, sizeof(buf));

                /* The port is raw with VMIN=0: 0 means "nothing now", like
                 * EAGAIN; a hang-up shows as EPOLLHUP or EIO. */
                if (n == 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
                        return 0;
                if (n < 0)
                        return -EIO;
                port_fanout(pm, buf, (size_t) n);
        }
        return 0;
}

static void port_close(PortMonitor *pm) {
        if (pm->fd >= 0)
                /* Nothing the device sent before the pause is lost. */
                (void) port_read(pm, INT32_MAX);
        pm->io = sd_event_source_disable_unref(pm->io);
        pm->timer = sd_event_source_disable_unref(pm->timer);
        pm->transport = transport_free(pm->transport);
        pm->fd = -1;
}

static int on_return_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        PortMonitor *pm = userdata;

        log_info("%s (%s) did not come back: its monitors end.", pm->node, pm->identity);
        port_notice(pm, "monitor ended: device-removed");
        port_monitor_free(pm);
        return 0;
}

static void port_wait_for_return(PortMonitor *pm, const char *why) {
        int r;

        port_close(pm);
        pm->state = PORT_WAITING;
        port_notice(pm, "%s; waiting for it to come back", why);
        r = sd_event_add_time_relative(pm->set->event, &pm->timer, CLOCK_MONOTONIC, PORT_MONITOR_RETURN_USEC, 0,
                                       on_return_timeout, pm);
        if (r < 0) {
                log_warning_errno(r, "%s: cannot wait for the device: %m", pm->node);
                port_notice(pm, "monitor ended: device-removed");
                port_monitor_free(pm);
        }
}

static int on_port_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        PortMonitor *pm = userdata;

        if (port_read(pm, PORT_READS_PER_EVENT) < 0 || (revents & (EPOLLHUP | EPOLLERR)))
                /* udev's remove edge usually follows; until then, or if it never
                 * comes (a hung-up line), wait as for a removal. */
                port_wait_for_return(pm, "device stopped answering");
        return 0;
}

/* Reads t from now on (takes it, also on failure). */
static int port_adopt(PortMonitor *pm, Transport *t) {
        PortMonitorSet *s = pm->set;
        int r, fd, flags;

        fd = transport_serial_fd(t);
        flags = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
                r = fd < 0 ? fd : -errno;
                transport_free(t);
                return r;
        }
        r = sd_event_add_io(s->event, &pm->io, fd, EPOLLIN, on_port_io, pm);
        if (r < 0) {
                transport_free(t);
                return r;
        }
        (void) sd_event_source_set_description(pm->io, "port-monitor");
        pm->transport = t;
        pm->fd = fd;
        pm->state = PORT_OPEN;
        return 0;
}

static int port_open(PortMonitor *pm) {
        PortMonitorSet *s = pm->set;
        Transport *t = NULL;
        int r;

        if (s->cb.own_open_begin)
                s->cb.own_open_begin(pm->node, s->userdata);
        r = transport_serial_open(pm->node, pm->baud, &t);
        if (s->cb.own_open_end)
                s->cb.own_open_end(pm->node, s->userdata);
        if (r < 0)
                return r;
        return port_adopt(pm, t);
}

/* The next line state of the reset; the last one ends it. */
static int on_reset_step(sd_event_source *source, uint64_t usec, void *userdata) {
        PortMonitor *pm = userdata;
        const EspResetStep *step;
        int r;

        pm->timer = sd_event_source_disable_unref(pm->timer);
        for (;;) {
                step = &pm->reset_steps[pm->reset_step++];
                r = transport_set_signals(pm->transport, step->dtr, step->rts);
                if (r < 0) {
                        log_warning_errno(r, "%s: cannot set the reset lines: %m", pm->node);
                        break;
                }
                if (pm->reset_step >= pm->n_reset_steps)
                        break;
                if (step->hold > 0) {
                        r = sd_event_add_time_relative(pm->set->event, &pm->timer, CLOCK_MONOTONIC, step->hold,
                                                       0, on_reset_step, pm);
                        if (r >= 0)
                                return 0;
                        log_warning_errno(r, "%s: cannot time the reset: %m", pm->node);
                        (void) transport_set_signals(pm->transport, false, false);
                        break;
                }
        }
        /* The chip runs, and we were listening from its first byte. */
        pm->state = PORT_OPEN;
        pm->n_reset_steps = 0;
        if (!pm->clients)
                port_monitor_free(pm);
        return 0;
}

/* A reset with the port open at the monitors' baud (esp-reset.h's sequences,
 * with timers instead of sleeps): into the application, or into the
 * bootloader. Both lines at once on a bridge (UnixTight), and esptool's holds:
 * a person is waiting, not a deploy. */
static int port_reset_start(PortMonitor *pm, bool bootloader) {
        bool usb = pm->kind == DEVICE_KIND_USB_SERIAL_JTAG;
        EspResetHolds h;

        esp_reset_holds(1, &h);       /* esptool's own: EN 100 ms, IO0 50 ms */
        pm->n_reset_steps = esp_reset_steps(usb ? ESP_RESET_USB_JTAG : ESP_RESET_UNIX_TIGHT, bootloader, &h,
                                            pm->reset_steps);
        pm->reset_step = 0;
        pm->state = PORT_RESETTING;
        return on_reset_step(NULL, 0, pm);
}

static void port_monitor_free(PortMonitor *pm) {
        PortMonitorSet *s = pm->set;

        for (PortMonitor **i = &s->ports; *i; i = &(*i)->next)
                if (*i == pm) {
                        *i = pm->next;
                        break;
                }
        while (pm->clients) {
                /* Best effort: what the socket takes now is all they get. */
                (void) client_flush(pm->clients);
                client_free(pm->clients);
        }
        port_close(pm);
        free(pm->identity);
        free(pm->node);
        free(pm);
}

static PortMonitor *set_find_identity(PortMonitorSet *s, const char *identity) {
        for (PortMonitor *pm = s->ports; pm; pm = pm->next)
                if (streq(pm->identity, identity))
                        return pm;
        return NULL;
}

static PortMonitor *set_find_node(PortMonitorSet *s, const char *node) {
        for (PortMonitor *pm = s->ports; pm; pm = pm->next)
                if (streq(pm->node, node))
                        return pm;
        return NULL;
}

/* ---- the public API ------------------------------------------------------------------ */

int port_monitor_set_new(sd_event *e, const PortMonitorCallbacks *cb, void *userdata, PortMonitorSet **ret) {
        PortMonitorSet *s;

        assert(e && ret);
        s = calloc(1, sizeof(PortMonitorSet));
        if (!s)
                return -ENOMEM;
        s->event = sd_event_ref(e);
        s->cb = cb ? *cb : (PortMonitorCallbacks) {};
        s->userdata = userdata;
        *ret = s;
        return 0;
}

PortMonitorSet *port_monitor_set_free(PortMonitorSet *s) {
        if (!s)
                return NULL;
        while (s->ports)
                port_monitor_free(s->ports);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

static int port_monitor_new(PortMonitorSet *s, const DeviceInfo *d, uint32_t baud, PortMonitor **ret) {
        PortMonitor *pm;

        pm = calloc(1, sizeof(PortMonitor));
        if (!pm)
                return -ENOMEM;
        *pm = (PortMonitor) {
                .set = s,
                .identity = strdup(d->identity),
                .node = strdup(d->node),
                .kind = d->kind,
                .baud = baud,
                .state = PORT_PAUSED,
                .fd = -1,
        };
        if (!pm->identity || !pm->node) {
                free(pm->identity);
                free(pm->node);
                free(pm);
                return -ENOMEM;
        }
        pm->next = s->ports;
        s->ports = pm;
        *ret = pm;
        return 0;
}

int port_monitor_attach(PortMonitorSet *s, const DeviceInfo *d, uint32_t baud, bool write,
                        bool job_running, uid_t owner, int *ret_fd) {
        _cleanup_close_ int ours = -1, theirs = -1;
        MonitorClient *c;
        PortMonitor *pm;
        int pair[2], r, sndbuf = (int) PORT_MONITOR_CLIENT_BUFFER;
        bool created = false;

        assert(s && d && ret_fd);
        if (!d->identity || !d->node || baud == 0)
                return -EINVAL;

        pm = set_find_identity(s, d->identity);
        if (pm && pm->baud != baud) {
                /* Open for a reset alone (or the end of a job's): nobody reads
                 * it at its rate yet, so it takes the first monitor's. */
                if (pm->clients)
                        return -EBUSY;
                if (pm->transport) {
                        r = transport_set_baud(pm->transport, baud);
                        if (r < 0)
                                return r;
                }
                pm->baud = baud;
        }

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
                return -errno;
        ours = pair[0];
        theirs = pair[1];
        if (fcntl(ours, F_SETFL, O_NONBLOCK) < 0)
                return -errno;
        /* Our buffering is bounded by us, not by the kernel's defaults. */
        (void) setsockopt(ours, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));

        if (!pm) {
                r = port_monitor_new(s, d, baud, &pm);
                if (r < 0)
                        return r;
                created = true;
                if (!job_running) {
                        r = port_open(pm);
                        if (r < 0) {
                                port_monitor_free(pm);
                                return r;
                        }
                }
        }

        c = calloc(1, sizeof(MonitorClient));
        if (c)
                c->buf = malloc(PORT_MONITOR_CLIENT_BUFFER + CLIENT_NOTICE_SLACK);
        if (!c || !c->buf) {
                if (c)
                        free(c);
                r = -ENOMEM;
                goto fail;
        }
        c->cap = PORT_MONITOR_CLIENT_BUFFER + CLIENT_NOTICE_SLACK;
        c->port = pm;
        c->write = write;
        c->owner = owner;
        c->fd = -1;
        r = sd_event_add_io(s->event, &c->source, ours, EPOLLIN, on_client_io, c);
        if (r < 0) {
                free(c->buf);
                free(c);
                goto fail;
        }
        (void) sd_event_source_set_description(c->source, "monitor-client");
        c->fd = TAKE_FD(ours);
        c->next = pm->clients;
        pm->clients = c;

        log_info("%s: monitor attached at %u baud%s (%s).", pm->node, baud, write ? ", with input" : "",
                 pm->state == PORT_PAUSED ? "paused: a job has the port" : "port open");
        if (pm->state == PORT_PAUSED) {
                static const char paused[] = "[fbuild-deployd] paused: a job has the port\r\n";

                client_append(c, paused, strlen(paused));
                (void) client_flush(c);
        }
        *ret_fd = TAKE_FD(theirs);
        return 0;
fail:
        if (created)
                port_monitor_free(pm);
        return r;
}

size_t port_monitor_set_n_clients(PortMonitorSet *s) {
        size_t n = 0;

        if (!s)
                return 0;
        for (PortMonitor *pm = s->ports; pm; pm = pm->next)
                for (MonitorClient *c = pm->clients; c; c = c->next)
                        n++;
        return n;
}

size_t port_monitor_set_n_clients_of(PortMonitorSet *s, uid_t owner) {
        size_t n = 0;

        if (!s)
                return 0;
        for (PortMonitor *pm = s->ports; pm; pm = pm->next)
                for (MonitorClient *c = pm->clients; c; c = c->next)
                        n += c->owner == owner;
        return n;
}

bool port_monitor_set_other_owner(PortMonitorSet *s, const char *identity, uid_t uid) {
        PortMonitor *pm;

        if (!s || !identity)
                return false;
        pm = set_find_identity(s, identity);
        if (!pm)
                return false;
        for (MonitorClient *c = pm->clients; c; c = c->next)
                if (c->owner != uid)
                        return true;
        return false;
}

bool port_monitor_set_monitors(PortMonitorSet *s, const char *node) {
        PortMonitor *pm;

        if (!s || !node)
                return false;
        pm = set_find_node(s, node);
        return pm && pm->clients;
}

void port_monitor_pause(PortMonitorSet *s, const char *node) {
        PortMonitor *pm;

        if (!s || !node)
                return;
        pm = set_find_node(s, node);
        if (!pm || (pm->state != PORT_OPEN && pm->state != PORT_RESETTING))
                return;
        if (!pm->clients) {
                /* Opened for a Reset alone: the job has the port now. */
                port_monitor_free(pm);
                return;
        }
        port_close(pm);
        pm->state = PORT_PAUSED;
        port_notice(pm, "paused: a job has the port");
        if (s->cb.paused)
                s->cb.paused(pm->node, s->userdata);
}

/* A chip held in reset on a port nobody monitors: let it run. */
static void release_held(Transport *held) {
        int r;

        if (!held)
                return;
        r = transport_set_signals(held, false, false);
        if (r < 0)
                log_warning_errno(r, "cannot release the chip's reset line: %m");
        transport_free(held);
}

/* EN released by the timer at release_at: a reset of one step. Falls back to
 * releasing it now. */
static void port_release_at(PortMonitor *pm, usec_t release_at) {
        int r;

        pm->reset_steps[0] = (EspResetStep) { .dtr = false, .rts = false };
        pm->n_reset_steps = 1;
        pm->reset_step = 0;
        pm->state = PORT_RESETTING;
        pm->timer = sd_event_source_disable_unref(pm->timer);
        /* accuracy 1 µs: 0 would let sd-event defer it by up to 250 ms */
        r = sd_event_add_time(pm->set->event, &pm->timer, CLOCK_MONOTONIC, release_at, 1, on_reset_step, pm);
        if (r < 0) {
                log_warning_errno(r, "%s: cannot time the end of the reset: %m", pm->node);
                (void) on_reset_step(NULL, 0, pm);
        }
}

/* A held port nobody monitors, kept open until the hold is over. */
static bool release_held_later(PortMonitorSet *s, const DeviceInfo *d, Transport *held, usec_t release_at) {
        PortMonitor *pm;

        if (!d || !d->identity || !d->node || release_at <= now_usec())
                return false;
        if (port_monitor_new(s, d, held->baud, &pm) < 0)
                return false;
        if (port_adopt(pm, held) < 0) {
                /* adopt took the port and closed it (EN released) */
                port_monitor_free(pm);
                return true;
        }
        port_release_at(pm, release_at);
        return true;
}

void port_monitor_resume(PortMonitorSet *s, const char *node, Transport *held) {
        port_monitor_resume_held(s, NULL, node, held, 0);
}

void port_monitor_resume_held(PortMonitorSet *s, const DeviceInfo *d, const char *node, Transport *held,
                              usec_t release_at) {
        PortMonitor *pm;
        int r;

        pm = s && node ? set_find_node(s, node) : NULL;
        if (!pm || pm->state != PORT_PAUSED) {
                if (!held || pm || !s || !release_held_later(s, d, held, release_at))
                        release_held(held);
                return;
        }
        if (held) {
                /* The job's port, the chip still in reset: listen at the
                 * monitors' rate, then let the chip boot. One boot, heard whole. */
                r = transport_set_baud(held, pm->baud);
                if (r >= 0)
                        r = port_adopt(pm, held);
                else
                        transport_free(held);
        } else
                r = port_open(pm);
        if (r < 0) {
                /* A USB-OTG board re-enumerating after the job's reset, most likely. */
                log_info_errno(r, "%s: cannot reopen for its monitors: %m", pm->node);
                port_wait_for_return(pm, "device not there after the job");
                return;
        }
        /* Before any byte of the new boot: the notice, then what the chip says. */
        port_notice(pm, "resumed at %u baud", pm->baud);
        if (s->cb.resumed)
                s->cb.resumed(pm->node, s->userdata);
        if (held && release_at > now_usec())
                port_release_at(pm, release_at);
        else if (held) {
                r = transport_set_signals(pm->transport, false, false);
                if (r < 0)
                        log_warning_errno(r, "%s: cannot release the chip's reset line: %m", pm->node);
        }
}

int port_monitor_reset(PortMonitorSet *s, const DeviceInfo *d, bool bootloader, bool job_running) {
        PortMonitor *pm;
        int r;

        assert(s && d);
        if (!d->identity || !d->node)
                return -EINVAL;
        if (job_running)
                return -EBUSY;
        pm = set_find_identity(s, d->identity);
        if (pm) {
                /* Paused for a job, or waiting for the device. A reset that runs
                 * gives way to the new one, as a second press of the button would. */
                if (pm->state == PORT_WAITING)
                        return -ENODEV;
                if (pm->state != PORT_OPEN && pm->state != PORT_RESETTING)
                        return -EBUSY;
                pm->timer = sd_event_source_disable_unref(pm->timer);
                return port_reset_start(pm, bootloader);
        }
        /* No monitors: the port is opened for the reset alone. */
        r = port_monitor_new(s, d, PORT_MONITOR_RESET_BAUD, &pm);
        if (r < 0)
                return r;
        r = port_open(pm);
        if (r < 0) {
                port_monitor_free(pm);
                return r;
        }
        log_info("%s: reset into the %s.", pm->node, bootloader ? "bootloader" : "application");
        return port_reset_start(pm, bootloader);
}

void port_monitor_device_removed(PortMonitorSet *s, const DeviceInfo *d) {
        PortMonitor *pm;

        if (!s || !d || !d->identity)
                return;
        pm = set_find_identity(s, d->identity);
        if (!pm || pm->state == PORT_WAITING)
                return;
        port_wait_for_return(pm, "device removed");
}

void port_monitor_device_added(PortMonitorSet *s, const DeviceInfo *d) {
        PortMonitor *pm;
        char *node;
        int r;

        if (!s || !d || !d->identity || !d->node)
                return;
        pm = set_find_identity(s, d->identity);
        if (!pm || pm->state != PORT_WAITING)
                return;
        node = strdup(d->node);
        if (!node)
                return;
        free(pm->node);
        pm->node = node;
        pm->timer = sd_event_source_disable_unref(pm->timer);
        r = port_open(pm);
        if (r < 0) {
                log_warning_errno(r, "%s: cannot reopen for its monitors: %m", pm->node);
                port_notice(pm, "monitor ended: cannot open %s", pm->node);
                port_monitor_free(pm);
                return;
        }
        port_notice(pm, "device back on %s", pm->node);
}
