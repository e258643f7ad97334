/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Control socket server and command interpreter for the simulated chip (see
 * sim-control.h and README.md). Connections are non-blocking; a command line
 * is executed when its newline arrives and answered at once. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "sim-control.h"

#define CONTROL_LINE_MAX (1U << 20)     /* external-write of 512 KiB fits */
#define CONTROL_MAX_CONNS 32

typedef struct SimControlConn {
        int fd;
        char *buf;
        size_t len;
        size_t allocated;
        bool exit_on_eof;
} SimControlConn;

struct SimControl {
        int listen_fd;
        char *path;
        SimControlConn conns[CONTROL_MAX_CONNS];
        size_t n_conns;
};

int sim_control_new(SimControl **ret) {
        SimControl *c = calloc(1, sizeof(SimControl));

        if (!c)
                return -ENOMEM;
        c->listen_fd = -EBADF;
        *ret = c;
        return 0;
}

static void conn_close(SimControl *c, size_t i) {
        safe_close(c->conns[i].fd);
        free(c->conns[i].buf);
        c->conns[i] = c->conns[--c->n_conns];
}

SimControl *sim_control_free(SimControl *c) {
        if (!c)
                return NULL;
        while (c->n_conns > 0)
                conn_close(c, c->n_conns - 1);
        safe_close(c->listen_fd);
        if (c->path) {
                (void) unlink(c->path);
                free(c->path);
        }
        free(c);
        return NULL;
}

int sim_control_listen(SimControl *c, const char *path) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct stat st;

        if (strlen(path) >= sizeof(sa.sun_path))
                return log_error_errno(ENAMETOOLONG, "Control socket path too long: %s", path);
        strcpy(sa.sun_path, path);
        if (lstat(path, &st) >= 0 && S_ISSOCK(st.st_mode))
                (void) unlink(path);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return log_error_errno(errno, "socket() failed: %m");
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return log_error_errno(errno, "Failed to bind %s: %m", path);
        if (listen(fd, 8) < 0)
                return log_error_errno(errno, "listen() failed: %m");
        c->path = strdup(path);
        if (!c->path)
                return -ENOMEM;
        c->listen_fd = TAKE_FD(fd);
        return 0;
}

static int conn_add(SimControl *c, int fd, bool exit_on_eof) {
        int flags;

        if (c->n_conns >= CONTROL_MAX_CONNS) {
                safe_close(fd);
                return -EMFILE;
        }
        flags = fcntl(fd, F_GETFL);
        if (flags >= 0)
                (void) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        c->conns[c->n_conns++] = (SimControlConn) { .fd = fd, .exit_on_eof = exit_on_eof };
        return 0;
}

int sim_control_adopt(SimControl *c, int fd) {
        return conn_add(c, fd, true);
}

size_t sim_control_n_pollfds(const SimControl *c) {
        return (c->listen_fd >= 0) + c->n_conns;
}

size_t sim_control_fill_pollfds(const SimControl *c, struct pollfd *p, size_t max) {
        size_t n = 0;

        if (c->listen_fd >= 0 && n < max)
                p[n++] = (struct pollfd) { .fd = c->listen_fd, .events = POLLIN };
        for (size_t i = 0; i < c->n_conns && n < max; i++)
                p[n++] = (struct pollfd) { .fd = c->conns[i].fd, .events = POLLIN };
        return n;
}

/* ---- commands ---------------------------------------------------------------- */

static int parse_bool01(const char *s, bool *ret) {
        if (!s)
                return -EINVAL;
        if (strcmp(s, "0") == 0)
                *ret = false;
        else if (strcmp(s, "1") == 0)
                *ret = true;
        else
                return -EINVAL;
        return 0;
}

static int unhex(const char *s, uint8_t **ret, size_t *ret_len) {
        size_t n = strlen(s);
        uint8_t *b;

        if (n == 0 || n % 2 != 0)
                return -EINVAL;
        b = malloc(n / 2);
        if (!b)
                return -ENOMEM;
        for (size_t i = 0; i < n / 2; i++) {
                unsigned v;

                if (sscanf(s + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdefABCDEF", s[2 * i]) ||
                    !strchr("0123456789abcdefABCDEF", s[2 * i + 1])) {
                        free(b);
                        return -EINVAL;
                }
                b[i] = (uint8_t) v;
        }
        *ret = b;
        *ret_len = n / 2;
        return 0;
}

static void stats_json(Sim *s, char *out, size_t size) {
        snprintf(out, size,
                 "{\"flash_begins\":%" PRIu64 ",\"commands\":%" PRIu64 ",\"rx_bytes\":%" PRIu64
                 ",\"tx_bytes\":%" PRIu64 ",\"boots\":%" PRIu64 ",\"state\":\"%s\",\"baud\":%" PRIu32 ",\"uart_rate\":%" PRIu32
                 ",\"chip\":\"%s\",\"console\":\"%s\",\"stub\":%s,\"resets\":%" PRIu64
                 ",\"tx_lost\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"corrupted\":%" PRIu64
                 ",\"corrupted_blocks\":%" PRIu64
                 ",\"dtr\":%d,\"rts\":%d,\"en\":%d,\"io0\":%d,\"port_open\":%s"
                 ",\"wdt_disabled\":%s,\"flash_size\":%" PRIu32 ",\"app_sha256\":\"%s\""
                 ",\"erased_bytes\":%" PRIu64 "}",
                 s->loader.flash_begins, s->loader.commands, s->rx_bytes, s->tx_bytes, s->boots,
                 sim_state_to_string(s), sim_serial_nominal_baud(s->baud), s->baud, s->chip->name, sim_console_to_string(s->console),
                 s->loader.stub ? "true" : "false", s->resets, s->tx_lost, s->faults.dropped,
                 s->faults.corrupted, s->faults.corrupted_blocks, s->dtr, s->rts, s->en, s->io0,
                 s->serial_fd >= 0 && !s->serial_hup ? "true" : "false",
                 s->loader.wdt_disabled ? "true" : "false", s->flash->size, s->app_sha256,
                 s->loader.erased_bytes);
}

void sim_control_execute(Sim *s, char *line, char *reply, size_t reply_size, nsec_t now) {
        char *save = NULL, *cmd, *a1, *a2, *extra;
        bool d, r;

        cmd = strtok_r(line, " \t", &save);
        a1 = strtok_r(NULL, " \t", &save);
        a2 = strtok_r(NULL, " \t", &save);
        extra = strtok_r(NULL, " \t", &save);

        if (!cmd) {
                snprintf(reply, reply_size, "err empty command");
                return;
        }

        if (strcmp(cmd, "signals") == 0) {
                if (extra || parse_bool01(a1, &d) < 0 || parse_bool01(a2, &r) < 0) {
                        snprintf(reply, reply_size, "err usage: signals DTR RTS");
                        return;
                }
                sim_boot_set_signals(s, d, r, now);
        } else if (strcmp(cmd, "dtr") == 0 || strcmp(cmd, "rts") == 0) {
                bool v;

                if (a2 || parse_bool01(a1, &v) < 0) {
                        snprintf(reply, reply_size, "err usage: %s 0|1", cmd);
                        return;
                }
                if (cmd[0] == 'd')
                        sim_boot_set_signals(s, v, s->rts, now);
                else
                        sim_boot_set_signals(s, s->dtr, v, now);
        } else if (strcmp(cmd, "external-write") == 0) {
                _cleanup_free_ uint8_t *data = NULL;
                unsigned long long off;
                size_t n;
                char *end;

                if (!a1 || !a2 || extra) {
                        snprintf(reply, reply_size, "err usage: external-write OFFSET HEX");
                        return;
                }
                errno = 0;
                off = strtoull(a1, &end, 0);
                if (errno != 0 || *end || *a1 == '-' || unhex(a2, &data, &n) < 0) {
                        snprintf(reply, reply_size, "err bad offset or hex data");
                        return;
                }
                if (off > s->flash->size || n > s->flash->size - off) {
                        snprintf(reply, reply_size, "err outside flash (%" PRIu32 " bytes)", s->flash->size);
                        return;
                }
                sim_flash_overwrite(s->flash, (uint32_t) off, data, n);
                sim_log_event(s->log, now, "external-write", "\"offset\":%llu,\"length\":%zu", off, n);
        } else if (strcmp(cmd, "fault") == 0) {
                SimFault f;

                if (a2 || sim_fault_parse(a1, &f) < 0) {
                        snprintf(reply, reply_size,
                                 "err usage: fault drop=RATE|corrupt=RATE|stall=MS@BYTE|vanish=BYTE|flip=BYTE"
                                 "|block-corrupt=RATE|loss-above=BAUD:RATE|zero-erase=nowrite");
                        return;
                }
                if (sim_faults_add(&s->faults, &f) < 0) {
                        snprintf(reply, reply_size, "err out of memory");
                        return;
                }
                if (f.kind == SIM_FAULT_ZERO_ERASE)
                        s->loader.rom_zero_erase_nowrite = true;
                sim_log_event(s->log, now, "fault", "\"spec\":\"%s\"", a1);
        } else if (strcmp(cmd, "vanish") == 0) {
                if (a1) {
                        snprintf(reply, reply_size, "err usage: vanish");
                        return;
                }
                sim_serial_vanish(s, now);
        } else if (strcmp(cmd, "panic") == 0) {
                /* panic PC [PC…]: the running app crashes there (sim_boot_panic). */
                uint32_t pcs[3];
                char *args[3] = { a1, a2, extra }, *end;
                size_t n = 0;

                for (; n < ELEMENTSOF(args) && args[n]; n++) {
                        unsigned long v;

                        errno = 0;
                        v = strtoul(args[n], &end, 0);
                        if (errno != 0 || *end || end == args[n] || v > UINT32_MAX) {
                                snprintf(reply, reply_size, "err usage: panic PC [PC [PC]]");
                                return;
                        }
                        pcs[n] = (uint32_t) v;
                }
                int k = sim_boot_panic(s, pcs, n, now);
                if (k == -EAGAIN) {
                        snprintf(reply, reply_size, "err no application runs");
                        return;
                }
                if (k < 0) {
                        snprintf(reply, reply_size, "err usage: panic PC [PC [PC]]");
                        return;
                }
        } else if (strcmp(cmd, "stats") == 0) {
                char json[1024];

                stats_json(s, json, sizeof(json));
                snprintf(reply, reply_size, "ok %s", json);
                return;
        } else if (strcmp(cmd, "quit") == 0) {
                s->quit = true;
        } else if (strcmp(cmd, "help") == 0) {
                snprintf(reply, reply_size,
                         "ok signals DTR RTS | dtr 0|1 | rts 0|1 | external-write OFFSET HEX | "
                         "fault SPEC | vanish | panic PC [PC [PC]] | stats | quit | help");
                return;
        } else {
                snprintf(reply, reply_size, "err unknown command: %.64s", cmd);
                return;
        }
        snprintf(reply, reply_size, "ok");
}

/* ---- connections --------------------------------------------------------------- */

static void conn_reply(SimControlConn *conn, const char *reply) {
        size_t n = strlen(reply);
        char buf[2048];

        n = MIN(n, sizeof(buf) - 1);
        memcpy(buf, reply, n);
        buf[n++] = '\n';
        /* Replies are short; a peer that doesn't read them loses them rather
         * than stalling the chip. */
        (void) send(conn->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Returns false when the connection is to be closed. */
static bool conn_read(SimControlConn *conn, Sim *s, nsec_t now) {
        for (;;) {
                ssize_t k;
                char *nl;

                if (conn->allocated - conn->len < 4096) {
                        size_t a = MAX(conn->allocated * 2, (size_t) 8192);
                        char *b;

                        if (a > CONTROL_LINE_MAX + 4096)
                                return false;   /* a line this long is not a command */
                        b = realloc(conn->buf, a);
                        if (!b)
                                return false;
                        conn->buf = b;
                        conn->allocated = a;
                }
                k = read(conn->fd, conn->buf + conn->len, conn->allocated - conn->len - 1);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == EAGAIN)
                        return true;
                if (k <= 0)
                        return false;
                conn->len += (size_t) k;

                while ((nl = memchr(conn->buf, '\n', conn->len))) {
                        char reply[2048];
                        size_t line_len = (size_t) (nl - conn->buf);

                        *nl = 0;
                        if (line_len > 0 && conn->buf[line_len - 1] == '\r')
                                conn->buf[line_len - 1] = 0;
                        sim_log_event(s->log, now, "control", "\"length\":%zu", line_len);
                        sim_control_execute(s, conn->buf, reply, sizeof(reply), now);
                        conn_reply(conn, reply);
                        memmove(conn->buf, nl + 1, conn->len - line_len - 1);
                        conn->len -= line_len + 1;
                }
        }
}

void sim_control_process(SimControl *c, Sim *s, const struct pollfd *p, size_t n, nsec_t now) {
        size_t k = 0;
        size_t n_conns = c->n_conns;

        if (c->listen_fd >= 0 && k < n) {
                if (p[k].revents & POLLIN)
                        for (;;) {
                                int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

                                if (fd < 0)
                                        break;
                                (void) conn_add(c, fd, false);
                        }
                k++;
        }

        /* Walk the connections that were polled; closing swaps in the last
         * one, so go backwards over the polled range. */
        for (size_t i = n_conns; i > 0; i--) {
                size_t idx = i - 1;
                const struct pollfd *pf = k + idx < n ? &p[k + idx] : NULL;

                if (!pf || !(pf->revents & (POLLIN | POLLHUP | POLLERR)))
                        continue;
                if (!conn_read(&c->conns[idx], s, now)) {
                        if (c->conns[idx].exit_on_eof)
                                s->quit = true;
                        conn_close(c, idx);
                }
        }
}
