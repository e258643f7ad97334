/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `fbuildctl monitor` and the monitor half of `deploy --monitor`: a serial
 * monitor through the service's Monitor socket (so a deploy elsewhere pauses it
 * instead of fighting over the port), raw with an escape key on a terminal,
 * line-oriented otherwise, ending with the reason the stream gives. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "ctl-decode.h"
#include "ctl.h"
#include "string-util.h"

/* Ctrl-], as telnet and miniterm. */
#define ESCAPE_KEY 0x1d
/* idf_monitor's menu key, Ctrl-T, and what may follow it. */
#define MENU_KEY 0x14
#define KEY_CTRL_R 0x12
#define KEY_CTRL_P 0x10
#define KEY_CTRL_H 0x08
#define KEY_CTRL_X 0x18
/* What is kept in memory before the output may be printed (deploy --monitor
 * reads all along, to lose nothing, but prints after the outcome): the tail,
 * since the new firmware's boot is what comes last. */
#define HELD_MAX (1024u * 1024u)
/* The service's in-band notices (see Monitor in data/dbus). */
#define NOTICE_PREFIX "[fbuild-deployd] "
#define NOTICE_ENDED NOTICE_PREFIX "monitor ended: "

struct CtlMonitor {
        Ctl *ctl;
        char *port;
        struct stat port_stat;          /* to recognise the port under the service's name */
        uint32_t baud;
        int fd;                         /* the stream socket */
        bool write;                     /* input goes to the device */
        bool terminal;                  /* raw terminal with an escape key */
        bool menu;                      /* Ctrl-T came: the next key is a command */

        sd_event_source *sock_source, *stdin_source;
        sd_event_source *signal_sources[3];
        sd_bus_slot *paused_slot, *resumed_slot;

        /* Until ctl_monitor_run(): output kept, not printed. */
        bool live;
        uint8_t *held;
        size_t n_held;
        uint64_t held_skipped;

        bool termios_saved;
        struct termios saved_termios;
        bool at_line_start;             /* of what we printed, for our own messages */

        char line[128];                 /* the stream's current line, for the end notice */
        size_t line_len;
        char *end_reason;

        /* What is shown: --raw, else with --timestamps and the crash decoder. */
        bool raw, timestamps;
        CtlEol eol;
        CtlDecoder *decoder;
        char dline[1024];               /* the device's current line, for the decoder */
        size_t dline_len;
        bool shown_line_start;          /* of the device's output, for timestamps */
        bool input_after_cr;            /* --eol: the LF of a CRLF typed is not a second end */
        int log_fd;                     /* --log FILE, or -EBADF */

        bool ended;                     /* the service closed the stream */
        bool stopped;                   /* the user did (escape key, signal, EPIPE) */
        const char *stop_why;
};

CtlMonitor *ctl_monitor_free(CtlMonitor *m) {
        if (!m)
                return NULL;
        m->sock_source = sd_event_source_disable_unref(m->sock_source);
        m->stdin_source = sd_event_source_disable_unref(m->stdin_source);
        for (size_t i = 0; i < ELEMENTSOF(m->signal_sources); i++)
                m->signal_sources[i] = sd_event_source_disable_unref(m->signal_sources[i]);
        m->paused_slot = sd_bus_slot_unref(m->paused_slot);
        m->resumed_slot = sd_bus_slot_unref(m->resumed_slot);
        if (m->termios_saved)
                (void) tcsetattr(STDIN_FILENO, TCSADRAIN, &m->saved_termios);
        safe_close(m->fd);
        safe_close(m->log_fd);
        ctl_decoder_free(m->decoder);
        free(m->held);
        free(m->end_reason);
        free(m->port);
        free(m);
        return NULL;
}

/* ---- output --------------------------------------------------------------------------- */

static int write_all(int fd, const void *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                /* stdout set non-blocking by someone else: wait. */
                                fd_set w;

                                FD_ZERO(&w);
                                FD_SET(fd, &w);
                                (void) select(fd + 1, NULL, &w, NULL, NULL);
                                continue;
                        }
                        return -errno;
                }
                p = (const uint8_t *) p + k;
                n -= (size_t) k;
        }
        return 0;
}

/* A message of ours on stderr, on a line of its own even if the device's
 * output stopped mid-line on the same terminal. */
_printf_(2, 3)
static void monitor_log(CtlMonitor *m, const char *format, ...) {
        char buf[512];
        va_list ap;

        va_start(ap, format);
        (void) vsnprintf(buf, sizeof(buf), format, ap);
        va_end(ap);
        if (!m->at_line_start && isatty(STDERR_FILENO) > 0 && isatty(STDOUT_FILENO) > 0)
                fputs("\n", stderr);
        m->at_line_start = true;
        ctl_log("%s", buf);
}

static void stop(CtlMonitor *m, const char *why) {
        if (!m->stopped && !m->ended) {
                m->stopped = true;
                m->stop_why = why;
        }
}

static void output(CtlMonitor *m, const uint8_t *p, size_t n) {
        int r;

        if (n == 0 || m->stopped)
                return;
        r = write_all(STDOUT_FILENO, p, n);
        if (r < 0) {
                /* A closed pipe (`| head`) ends the monitor like the user would. */
                if (r != -EPIPE)
                        ctl_log("Cannot write the output: %s", strerror(-r));
                stop(m, NULL);
                return;
        }
        m->at_line_start = p[n - 1] == '\n';
}

static void hold(CtlMonitor *m, const uint8_t *p, size_t n) {
        if (n >= HELD_MAX) {
                m->held_skipped += m->n_held + (n - HELD_MAX);
                p += n - HELD_MAX;
                n = HELD_MAX;
                m->n_held = 0;
        } else if (m->n_held + n > HELD_MAX) {
                size_t drop = m->n_held + n - HELD_MAX;

                memmove(m->held, m->held + drop, m->n_held - drop);
                m->n_held -= drop;
                m->held_skipped += drop;
        }
        memcpy(m->held + m->n_held, p, n);
        m->n_held += n;
}

/* What is shown goes to stdout (or is held until it may be), and to --log. */
static void deliver(CtlMonitor *m, const void *p, size_t n) {
        if (n == 0)
                return;
        int r;

        if (m->log_fd >= 0 && (r = write_all(m->log_fd, p, n)) < 0) {
                monitor_log(m, "Cannot write the log: %s; no longer logging.", strerror(-r));
                m->log_fd = safe_close(m->log_fd);
        }
        if (m->live)
                output(m, p, n);
        else
                hold(m, p, n);
}

static void deliver_timestamp(CtlMonitor *m) {
        struct timespec ts;
        struct tm tm;
        char stamp[32];
        int k;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        if (!localtime_r(&ts.tv_sec, &tm))
                return;
        k = snprintf(stamp, sizeof(stamp), "[%02d:%02d:%02d.%03ld] ", tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000L);
        if (k > 0)
                deliver(m, stamp, (size_t) k);
}

/* At the end of a device line: what the decoder adds after it. */
static void decode_line(CtlMonitor *m) {
        _cleanup_free_ char *text = NULL;

        if (m->decoder && ctl_decoder_line(m->decoder, m->dline, m->dline_len, &text) > 0)
                deliver(m, text, strlen(text));
        m->dline_len = 0;
}

/* The device's bytes as shown: as they came with --raw, else each line
 * stamped (--timestamps) and panic lines followed by their decoding. */
static void show(CtlMonitor *m, const uint8_t *p, size_t n) {
        size_t start = 0;

        if (m->raw || (!m->timestamps && !m->decoder)) {
                deliver(m, p, n);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                if (m->timestamps && m->shown_line_start) {
                        deliver(m, p + start, i - start);
                        start = i;
                        deliver_timestamp(m);
                        m->shown_line_start = false;
                }
                if (p[i] == '\n') {
                        deliver(m, p + start, i + 1 - start);
                        start = i + 1;
                        decode_line(m);
                        m->shown_line_start = true;
                } else if (p[i] != '\r' && m->dline_len < sizeof(m->dline))
                        m->dline[m->dline_len++] = (char) p[i];
        }
        deliver(m, p + start, n - start);
}

/* Remembers the reason of "[fbuild-deployd] monitor ended: REASON". */
static void scan(CtlMonitor *m, const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++) {
                if (p[i] != '\r' && p[i] != '\n') {
                        if (m->line_len < sizeof(m->line) - 1)
                                m->line[m->line_len++] = (char) p[i];
                        continue;
                }
                m->line[m->line_len] = '\0';
                if (strncmp(m->line, NOTICE_ENDED, strlen(NOTICE_ENDED)) == 0) {
                        free(m->end_reason);
                        m->end_reason = strdup(m->line + strlen(NOTICE_ENDED));
                }
                m->line_len = 0;
        }
}

/* ---- the stream and the keyboard --------------------------------------------------------- */

static int on_stream(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        CtlMonitor *m = userdata;
        uint8_t buf[4096];
        ssize_t n;

        n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n <= 0) {
                /* The service closed it (or reset it): the monitor is over. */
                m->ended = true;
                m->sock_source = sd_event_source_disable_unref(m->sock_source);
                m->stdin_source = sd_event_source_disable_unref(m->stdin_source);
                return 0;
        }
        scan(m, buf, (size_t) n);
        show(m, buf, (size_t) n);
        return 0;
}

static void input_done(CtlMonitor *m) {
        m->stdin_source = sd_event_source_disable_unref(m->stdin_source);
        /* Half-close: the service keeps sending. */
        (void) shutdown(m->fd, SHUT_WR);
}

/* --eol: every line end typed (CR, LF or CRLF) as the one asked for. */
static size_t translate_eol(CtlMonitor *m, const uint8_t *p, size_t n, uint8_t *out) {
        static const char *const ends[] = { [CTL_EOL_CR] = "\r", [CTL_EOL_LF] = "\n", [CTL_EOL_CRLF] = "\r\n" };
        size_t k = 0;

        for (size_t i = 0; i < n; i++) {
                bool after_cr = m->input_after_cr;

                m->input_after_cr = p[i] == '\r';
                if (p[i] == '\n' && after_cr)
                        continue;
                if (p[i] == '\r' || p[i] == '\n') {
                        for (const char *e = ends[m->eol]; *e; e++)
                                out[k++] = (uint8_t) *e;
                } else
                        out[k++] = p[i];
        }
        return k;
}

static int send_input(CtlMonitor *m, const uint8_t *p, size_t n) {
        uint8_t buf[2 * 1024];

        if (m->raw || m->eol == CTL_EOL_ASIS)
                return write_all(m->fd, p, n);
        for (size_t done = 0; done < n;) {
                size_t chunk = MIN(n - done, sizeof(buf) / 2);
                int r = write_all(m->fd, buf, translate_eol(m, p + done, chunk, buf));

                if (r < 0)
                        return r;
                done += chunk;
        }
        return 0;
}

static void monitor_reset(CtlMonitor *m, bool bootloader) {
        monitor_log(m, "%s: resetting into the %s", m->port, bootloader ? "bootloader" : "application");
        /* A refusal is reported by ctl_reset(); the monitor goes on. */
        (void) ctl_reset(m->ctl, m->port, bootloader);
}

static void menu_help(CtlMonitor *m) {
        monitor_log(m, "Keys: Ctrl-] quit | Ctrl-T Ctrl-R reset the board | Ctrl-T Ctrl-P reset into the "
                    "bootloader | Ctrl-T Ctrl-H these keys | Ctrl-T Ctrl-X quit | Ctrl-T Ctrl-T send Ctrl-T");
}

/* The key after Ctrl-T; returns false to quit. */
static bool menu_key(CtlMonitor *m, uint8_t key) {
        static const uint8_t menu_key_byte = MENU_KEY;

        switch (key) {
        case KEY_CTRL_R:
        case 'r':
        case 'R':
                monitor_reset(m, false);
                break;
        case KEY_CTRL_P:
        case 'p':
        case 'P':
                monitor_reset(m, true);
                break;
        case KEY_CTRL_H:
        case 'h':
        case 'H':
        case '?':
                menu_help(m);
                break;
        case MENU_KEY:
                if (m->write && send_input(m, &menu_key_byte, 1) < 0)
                        input_done(m);
                break;
        case KEY_CTRL_X:
        case 'x':
        case 'X':
        case ESCAPE_KEY:
                return false;
        default:
                monitor_log(m, "Ctrl-T 0x%02x: no such command; Ctrl-T Ctrl-H lists the keys", key);
                break;
        }
        return true;
}

/* Sends input on; returns false at the escape key (what precedes it is
 * sent). On a terminal, unless --raw, Ctrl-T starts a command (idf_monitor's
 * keys). */
static bool forward(CtlMonitor *m, const uint8_t *p, size_t n) {
        size_t start = 0;

        for (size_t i = 0; m->terminal && i < n; i++) {
                bool command = m->menu;

                if (!command && p[i] != ESCAPE_KEY && (m->raw || p[i] != MENU_KEY))
                        continue;
                if (i > start && send_input(m, p + start, i - start) < 0) {
                        /* The stream's own end says why; stop sending. */
                        input_done(m);
                        return true;
                }
                start = i + 1;
                if (command) {
                        m->menu = false;
                        if (!menu_key(m, p[i]))
                                return false;
                } else if (p[i] == ESCAPE_KEY)
                        return false;
                else
                        m->menu = true;
        }
        if (n > start && send_input(m, p + start, n - start) < 0)
                input_done(m);
        return true;
}

static int on_stdin(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        CtlMonitor *m = userdata;
        uint8_t buf[1024];
        ssize_t n;

        n = read(fd, buf, sizeof(buf));
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n <= 0) {
                input_done(m);
                return 0;
        }
        if (!forward(m, buf, (size_t) n))
                stop(m, NULL);
        return 0;
}

/* stdin that epoll refuses (a regular file, /dev/null): send it all now. */
static void forward_file(CtlMonitor *m) {
        uint8_t buf[4096];
        ssize_t n;

        while ((n = read(STDIN_FILENO, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
                if (n > 0)
                        (void) forward(m, buf, (size_t) n);
        (void) shutdown(m->fd, SHUT_WR);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        stop(userdata, NULL);
        return 0;
}

/* ---- out-of-band notices ------------------------------------------------------------------ */

static bool is_our_port(CtlMonitor *m, const char *port) {
        struct stat st;

        if (streq(port, m->port))
                return true;
        /* We may have been given a symlink (/dev/serial/by-id/…): same inode. */
        return m->port_stat.st_ino != 0 && stat(port, &st) >= 0 && st.st_dev == m->port_stat.st_dev &&
               st.st_ino == m->port_stat.st_ino;
}

static int on_monitor_signal(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        CtlMonitor *m = userdata;
        const char *port;

        /* Before the output is printed, the stream's own notice lines say it. */
        if (!m->live || sd_bus_message_read(msg, "s", &port) < 0 || !is_our_port(m, port))
                return 0;
        if (streq(sd_bus_message_get_member(msg), "MonitorPaused"))
                monitor_log(m, "%s: monitor paused: a job has the port", m->port);
        else
                monitor_log(m, "%s: monitor resumed", m->port);
        return 0;
}

/* ---- the public part ------------------------------------------------------------------------ */

CtlExit ctl_monitor_open(Ctl *c, const char *port, uint32_t baud, bool write, CtlMonitor **ret) {
        _cleanup_(ctl_monitor_freep) CtlMonitor *m = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
        const char *sender = c->peer_to_peer ? NULL : BUS_SERVICE_NAME;
        CtlExit code;
        int r, fd;

        /* The stream is a socket the service hands over: no fd, no monitor. */
        if (sd_bus_can_send(c->bus, SD_BUS_TYPE_UNIX_FD) <= 0) {
                ctl_log("This connection cannot carry file descriptors (-H), so it cannot carry a monitor; "
                        "run fbuildctl monitor on %s itself.", c->host ?: "the service's machine");
                ctl_json_error(c, NULL, "the connection cannot carry a monitor", CTL_EXIT_INVALID);
                return CTL_EXIT_INVALID;
        }

        m = calloc(1, sizeof(CtlMonitor));
        if (!m)
                return ctl_report_error(c, "Monitor", NULL, -ENOMEM);
        m->ctl = c;
        m->fd = -EBADF;
        m->log_fd = -EBADF;
        m->raw = c->raw;
        m->timestamps = c->timestamps;
        m->eol = c->eol;
        m->shown_line_start = true;
        m->baud = baud;
        m->write = write;
        m->at_line_start = true;
        m->port = strdup(port);
        m->held = malloc(HELD_MAX);
        if (!m->port || !m->held)
                return ctl_report_error(c, "Monitor", NULL, -ENOMEM);
        if (!c->host)           /* a remote port is not ours to stat */
                (void) stat(port, &m->port_stat);
        if (c->elf && !c->raw) {
                _cleanup_free_ char *why = NULL;

                r = ctl_decoder_new(c->elf, &m->decoder, &why);
                if (r == -ENOMEM)
                        return ctl_report_error(c, "Monitor", NULL, r);
                if (r < 0)
                        return ctl_fail(c, CTL_EXIT_INVALID, "--elf: %s", why ?: strerror(-r));
        }
        if (c->log_path) {
                m->log_fd = open(c->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0644);
                if (m->log_fd < 0)
                        return ctl_fail(c, CTL_EXIT_INVALID, "--log: cannot open %s: %s", c->log_path,
                                        strerror(errno));
        }

        /* Subscribed first, so that no pause after the call is missed. */
        r = sd_bus_match_signal(c->bus, &m->paused_slot, sender, BUS_OBJECT_PATH, BUS_INTERFACE,
                                "MonitorPaused", on_monitor_signal, m);
        if (r >= 0)
                r = sd_bus_match_signal(c->bus, &m->resumed_slot, sender, BUS_OBJECT_PATH, BUS_INTERFACE,
                                        "MonitorResumed", on_monitor_signal, m);
        if (r < 0)
                return ctl_report_error(c, "Subscribing to MonitorPaused/MonitorResumed", NULL, r);

        r = ctl_new_call(c, "Monitor", &call);
        if (r >= 0)
                r = sd_bus_message_append(call, "su", port, baud);
        if (r >= 0)
                r = sd_bus_message_append(call, "a{sv}", 1, "write", "b", write);
        if (r < 0)
                return ctl_report_error(c, "Monitor", NULL, r);
        code = ctl_call(c, call, &reply);
        if (code != CTL_EXIT_SUCCESS)
                return code;
        r = sd_bus_message_read(reply, "h", &fd);
        if (r < 0)
                return ctl_report_error(c, "Monitor (reading the reply)", NULL, r);
        /* The message owns its fd. */
        m->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (m->fd < 0)
                return ctl_report_error(c, "Monitor", NULL, -errno);

        /* Read from now on, also while a deploy runs on this loop: the service
         * buffers little for a client that does not read. */
        r = sd_event_add_io(c->event, &m->sock_source, m->fd, EPOLLIN, on_stream, m);
        if (r < 0)
                return ctl_report_error(c, "Monitor", NULL, r);
        *ret = TAKE_PTR(m);
        return CTL_EXIT_SUCCESS;
}

static int terminal_raw(CtlMonitor *m) {
        struct termios t;

        if (tcgetattr(STDIN_FILENO, &m->saved_termios) < 0)
                return -errno;
        t = m->saved_termios;
        /* Keys go to the device as typed (Ctrl-C too: a REPL wants it); the
         * output side stays as it is, so our own messages keep their lines. */
        t.c_lflag &= ~(ICANON | ECHO | ISIG | IEXTEN);
        t.c_iflag &= ~(IXON | IXOFF | ICRNL | INLCR | IGNCR | ISTRIP | BRKINT);
        t.c_cc[VMIN] = 1;
        t.c_cc[VTIME] = 0;
        if (tcsetattr(STDIN_FILENO, TCSADRAIN, &t) < 0)
                return -errno;
        m->termios_saved = true;
        return 0;
}

CtlExit ctl_monitor_run(CtlMonitor *m, bool terminal, bool reset) {
        static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
        Ctl *c = m->ctl;
        sigset_t mask;
        CtlExit code;
        int r;

        m->terminal = terminal;
        /* A closed stdout is an EPIPE to handle, not a death with the terminal raw. */
        (void) signal(SIGPIPE, SIG_IGN);
        sigemptyset(&mask);
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
                sigaddset(&mask, sigs[i]);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
                ctl_log("Cannot handle signals: %s", strerror(errno));
                return CTL_EXIT_FAILURE;
        }
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++) {
                r = sd_event_add_signal(c->event, &m->signal_sources[i], sigs[i], on_signal, m);
                if (r < 0) {
                        ctl_log("Cannot handle signals: %s", strerror(-r));
                        return CTL_EXIT_FAILURE;
                }
        }

        /* What came before (deploy --monitor: from before the deploy on). */
        m->live = true;
        if (m->held_skipped > 0)
                monitor_log(m, "%s: %llu bytes of earlier output not shown", m->port,
                            (unsigned long long) m->held_skipped);
        output(m, m->held, m->n_held);
        free(m->held);
        m->held = NULL;
        m->n_held = 0;

        if (!m->ended && !m->stopped) {
                if (terminal) {
                        r = terminal_raw(m);
                        if (r < 0)
                                ctl_log("Cannot put the terminal into raw mode: %s", strerror(-r));
                }
                monitor_log(m, "Monitoring %s at %u baud%s; %s.", m->port, m->baud,
                            m->write ? ", input goes to the device" : "",
                            !terminal ? "Ctrl-C to stop" :
                            m->raw ? "Ctrl-] to quit" : "Ctrl-] to quit, Ctrl-T Ctrl-H for keys");
                /* As espflash: the output from the boot on (after the message, so
                 * that the boot is not shown above it). */
                if (reset)
                        monitor_reset(m, false);
        }

        if (!m->ended && !m->stopped) {
                if (!m->write)
                        /* Half-close: only reading. */
                        (void) shutdown(m->fd, SHUT_WR);
                else {
                        r = sd_event_add_io(c->event, &m->stdin_source, STDIN_FILENO, EPOLLIN, on_stdin, m);
                        if (r == -EPERM)
                                forward_file(m);
                        else if (r < 0) {
                                ctl_log("Cannot read the input: %s", strerror(-r));
                                input_done(m);
                        }
                }
        }

        while (!m->ended && !m->stopped) {
                r = sd_event_run(c->event, UINT64_MAX);
                if (r < 0) {
                        ctl_log("Event loop failed: %s", strerror(-r));
                        code = CTL_EXIT_FAILURE;
                        goto out;
                }
        }

        if (m->stopped) {
                monitor_log(m, "Monitor of %s stopped.", m->port);
                code = CTL_EXIT_SUCCESS;
        } else if (m->end_reason && streq(m->end_reason, "device-removed")) {
                monitor_log(m, "Monitor of %s ended: the device is gone (device-removed).", m->port);
                code = CTL_EXIT_NO_DEVICE;
        } else if (m->end_reason) {
                monitor_log(m, "Monitor of %s ended: %s.", m->port, m->end_reason);
                code = CTL_EXIT_DEVICE_ERROR;
        } else {
                monitor_log(m, "Monitor of %s ended: the service closed it.", m->port);
                code = CTL_EXIT_FAILURE;
        }
out:
        if (m->termios_saved) {
                (void) tcsetattr(STDIN_FILENO, TCSADRAIN, &m->saved_termios);
                m->termios_saved = false;
        }
        return code;
}

/* ---- the verb ----------------------------------------------------------------------------- */

int verb_monitor(Ctl *c, int argc, char **argv) {
        _cleanup_(ctl_monitor_freep) CtlMonitor *m = NULL;
        _cleanup_free_ char *port = NULL;
        bool terminal;
        CtlExit code;

        if (c->json) {
                return ctl_fail(c, CTL_EXIT_INVALID, "monitor does not take --json");
        }
        code = ctl_take_port_argument(c, argc > 1 ? argv[1] : NULL);
        if (code != CTL_EXIT_SUCCESS)
                return code;

        /* Raw with an escape key only when a person is at both ends. */
        terminal = isatty(STDIN_FILENO) > 0 && isatty(STDOUT_FILENO) > 0;

        code = ctl_connect(c);
        if (code != CTL_EXIT_SUCCESS)
                return code;
        code = ctl_pick_port(c, NULL, &port, NULL);
        if (code != CTL_EXIT_SUCCESS)
                return code;
        code = ctl_monitor_open(c, port, c->baud ?: CTL_MONITOR_BAUD, terminal || c->write, &m);
        if (code != CTL_EXIT_SUCCESS)
                return code;
        return ctl_monitor_run(m, terminal, !c->no_reset);
}
