/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fbuildctl's output helpers: sizes, rates and times; the progress bar's text
 * and the plain-line policy; choosing a port from a device list; and the exit
 * code tables (the codes are an interface: docs/fbuildctl.md lists them). */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-exit.h"
#include "ctl-format.h"
#include "ctl-port.h"
#include "ctl-progress.h"
#include "json.h"

static void test_format(void) {
        static const struct {
                uint64_t n;
                const char *s;
        } bytes[] = {
                { 0, "0 B" }, { 1023, "1023 B" }, { 1024, "1.0 KiB" }, { 1536, "1.5 KiB" },
                { 26624, "26.0 KiB" }, { 204800, "200 KiB" }, { 234496, "229 KiB" },
                { 4194304, "4.0 MiB" }, { 16777216, "16.0 MiB" }, { UINT64_MAX, "16.0 EiB" },
        };
        char b[FORMAT_BYTES_MAX], r[FORMAT_RATE_MAX], d[FORMAT_DURATION_MAX], h[FORMAT_HEX_MAX(4)];

        for (size_t i = 0; i < sizeof(bytes) / sizeof(bytes[0]); i++) {
                format_bytes(b, bytes[i].n);
                if (strcmp(b, bytes[i].s) != 0)
                        fprintf(stderr, "%llu: %s\n", (unsigned long long) bytes[i].n, b);
                assert(strcmp(b, bytes[i].s) == 0);
        }
        assert(strcmp(format_rate(r, 100663.0), "98.3 KiB/s") == 0);
        assert(strcmp(format_rate(r, -1.0), "0 B/s") == 0);
        assert(strcmp(format_rate(r, 0.0 / 0.0), "0 B/s") == 0);
        assert(strcmp(format_clock(d, 7 * 1000000ULL), "0:07") == 0);
        assert(strcmp(format_clock(d, 754 * 1000000ULL), "12:34") == 0);
        assert(strcmp(format_clock(d, 3723 * 1000000ULL), "1:02:03") == 0);
        assert(strcmp(format_clock(d, 400000), "0:00") == 0);
        assert(strcmp(format_timespan(d, 849600), "850 ms") == 0);
        assert(strcmp(format_timespan(d, 3210000), "3.2 s") == 0);
        assert(strcmp(format_timespan(d, 125 * 1000000ULL), "2 min 5 s") == 0);
        assert(strcmp(format_hex(h, (const uint8_t *) "\x00\xff\x10\xab", 4), "00ff10ab") == 0);
        assert(strcmp(format_hex(h, NULL, 0), "") == 0);
}

static void test_bar(void) {
        char line[256];

        progress_format_bar(line, sizeof(line), 100, "write", 65536, 262144, 100663.0);
        assert(strncmp(line, "write       [##########------------------------------]  25%", 59) == 0);
        assert(strstr(line, " 25%  64.0 KiB/256 KiB  98.3 KiB/s  ETA 0:02"));
        assert(strlen(line) <= 100);

        /* Done: no ETA. Unknown rate: neither. */
        progress_format_bar(line, sizeof(line), 100, "verify", 100, 100, 50.0);
        assert(strstr(line, "100%  100 B/100 B  50 B/s") && !strstr(line, "ETA"));
        progress_format_bar(line, sizeof(line), 100, "write", 0, 100, 0);
        assert(strstr(line, "  0%  0 B/100 B") && !strstr(line, "/s"));

        /* A narrow terminal drops the bar, never the numbers. */
        progress_format_bar(line, sizeof(line), 30, "write", 50, 100, 0);
        assert(!strchr(line, '[') && strstr(line, "50%"));

        /* Steps (total 0) and nonsense (done past total). */
        progress_format_bar(line, sizeof(line), 80, "connect", 0, 0, 0);
        assert(strncmp(line, "connect", 7) == 0);
        progress_format_bar(line, sizeof(line), 80, "write", 500, 100, 0);
        assert(strstr(line, "100%"));

        /* A tiny buffer is truncated, not overrun. */
        char tiny[8];
        progress_format_bar(tiny, sizeof(tiny), 200, "post-verify", 1, 2, 1.0);
        assert(strlen(tiny) < sizeof(tiny));
}

static char *run_plain(void (*feed)(Progress *p)) {
        char *buf = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&buf, &n);
        Progress p;

        assert(f);
        progress_init(&p, f, false, 80);
        feed(&p);
        progress_clear(&p);
        fclose(f);
        return buf;
}

static void feed_job(Progress *p) {
        uint64_t t = 0;

        progress_update(p, "hash", 0, 1000, t);
        progress_update(p, "connect", 0, 0, t += 1000);
        progress_update(p, "connect", 0, 0, t += 1000);          /* repeated: one line */
        for (uint64_t d = 0; d <= 1000; d += 50)
                progress_update(p, "verify", d, 1000, t += 1000);
        /* write and post-verify take turns, as they do per region */
        progress_update(p, "write", 0, 1000, t += 1000);
        progress_update(p, "post-verify", 100, 1000, t += 1000);
        progress_update(p, "write", 100, 1000, t += 1000);
        progress_update(p, "write", 150, 1000, t += 1000);
        progress_update(p, "post-verify", 1000, 1000, t += 1000);
        progress_update(p, "write", 1000, 1000, t += 1000);
        progress_update(p, "reset", 0, 0, t += 1000);
}

static void test_plain(void) {
        char *out = run_plain(feed_job);

        assert(strcmp(out,
                      "hash: 0/1000 bytes (0%)\n"
                      "connect\n"
                      "verify: 0/1000 bytes (0%)\n"
                      "verify: 100/1000 bytes (10%)\n"
                      "verify: 200/1000 bytes (20%)\n"
                      "verify: 300/1000 bytes (30%)\n"
                      "verify: 400/1000 bytes (40%)\n"
                      "verify: 500/1000 bytes (50%)\n"
                      "verify: 600/1000 bytes (60%)\n"
                      "verify: 700/1000 bytes (70%)\n"
                      "verify: 800/1000 bytes (80%)\n"
                      "verify: 900/1000 bytes (90%)\n"
                      "verify: 1000/1000 bytes (100%)\n"
                      "write: 0/1000 bytes (0%)\n"
                      "post-verify: 100/1000 bytes (10%)\n"
                      "write: 100/1000 bytes (10%)\n"
                      "post-verify: 1000/1000 bytes (100%)\n"
                      "write: 1000/1000 bytes (100%)\n"
                      "reset\n") == 0);
        free(out);
}

static void feed_many_phases(Progress *p) {
        char name[16];

        /* More phase names than slots: still one line each, no overflow. */
        for (int i = 0; i < 3 * PROGRESS_PHASES_MAX; i++) {
                snprintf(name, sizeof(name), "p%d", i);
                progress_update(p, name, 0, 0, (uint64_t) i);
        }
}

static void test_plain_many_phases(void) {
        char *out = run_plain(feed_many_phases);
        int lines = 0;

        for (char *c = out; *c; c++)
                lines += *c == '\n';
        assert(lines == 3 * PROGRESS_PHASES_MAX);
        free(out);
}

static void test_tty(void) {
        char *buf = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&buf, &n);
        Progress p;

        progress_init(&p, f, true, 100);
        progress_update(&p, "write", 0, 1000, 0);
        progress_update(&p, "write", 10, 1000, 1000);           /* within 100 ms: no redraw */
        progress_update(&p, "write", 500, 1000, 500000);        /* redraw, with rate and ETA */
        progress_update(&p, "write", 1000, 1000, 510000);       /* done always draws */
        progress_clear(&p);
        fclose(f);

        assert(strncmp(buf, "\rwrite       [", 14) == 0);
        assert(strstr(buf, "  0%  0 B/1000 B\033[K\rwrite"));
        assert(!strstr(buf, " 1%"));
        assert(strstr(buf, " 50%  500 B/1000 B  1000 B/s  ETA 0:01\033[K"));
        assert(strstr(buf, "100%  1000 B/1000 B"));
        assert(!strchr(buf, '\n'));
        assert(n >= 4 && strcmp(buf + n - 4, "\r\033[K") == 0);
        free(buf);
}

/* Issue 15: phases take turns (write, post-verify, write…); each keeps its own
 * line, so no bar is ever redrawn lower than before, and the rate stays. */
static void test_tty_phases(void) {
        char *buf = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&buf, &n);
        Progress p;

        progress_init(&p, f, true, 100);
        progress_update(&p, "connect", 0, 0, 0);
        progress_update(&p, "write", 0, 1000, 100000);
        progress_update(&p, "write", 800, 1000, 600000);         /* 80 %, 1600 B/s */
        progress_update(&p, "post-verify", 100, 1000, 700000);   /* a new line below */
        progress_update(&p, "write", 700, 1000, 800000);         /* a late signal: still 80 % */
        progress_update(&p, "write", 900, 1000, 810000);         /* within 100 ms: no redraw */
        progress_update(&p, "write", 1000, 1000, 1000000);
        progress_clear(&p);
        fclose(f);

        /* connect, write and post-verify: three lines, two newlines. */
        assert(strchr(buf, '\n') && strchr(strchr(buf, '\n') + 1, '\n') && !strchr(strchr(strchr(buf, '\n') + 1, '\n') + 1, '\n'));
        /* A phase left behind is drawn once more as it stopped, on its own line. */
        assert(strstr(buf, "\rconnect     …\033[K\rconnect     done\033[K\n\rwrite "));
        assert(strstr(buf, " 80%  800 B/1000 B  1.6 KiB/s  ETA 0:00\033[K\r"
                           "write       [################################--------]  80%  800 B/1000 B  1.6 KiB/s"));
        /* Back to write: one line up, 80 % again (never 70 %), rate and ETA shown. */
        assert(!strstr(buf, " 70%"));
        assert(strstr(buf, "\033[1A\rwrite       [################################--------]  80%  800 B/1000 B  "));
        assert(strstr(buf, " KiB/s  ETA 0:00\033[K\033[1B"));
        assert(strstr(buf, "100%  1000 B/1000 B"));
        /* Cleared from the last line up. */
        assert(n >= 20 && strcmp(buf + n - 20, "\r\033[K\033[1A\r\033[K\033[1A\r\033[K") == 0);
        free(buf);
}

static void test_port_pick(void) {
        JsonValue *a = json_new_object(), *b = json_new_object(), *c = json_new_object();
        size_t i = 99;

        assert(json_object_set(a, "kind", json_new_string("uart-bridge")) == 0);
        assert(json_object_set(b, "chip", json_new_string("esp32s3")) == 0);
        assert(json_object_set(c, "chip", json_new_string("ESP32-C3")) == 0);

        CtlDevice devs[] = { { "/dev/ttyUSB0", a }, { "/dev/ttyACM0", b }, { "/dev/ttyUSB1", c } };

        assert(port_pick(devs, 0, NULL, &i) == -ENODEV);
        assert(port_pick(devs, 1, NULL, &i) == 0 && i == 0);
        assert(port_pick(devs, 3, NULL, &i) == -ENOTUNIQ);
        /* A chip rules out devices the service knows to be another chip, and only those. */
        assert(port_pick(devs, 3, "esp32c3", &i) == -ENOTUNIQ);         /* USB0's chip is unknown */
        assert(port_pick(devs + 1, 2, "esp32c3", &i) == 0 && i == 1);
        assert(port_pick(devs + 1, 2, "esp32", &i) == -ENODEV);
        assert(port_device_fits(a, "esp32"));
        assert(port_device_fits(c, "esp32-c3"));
        assert(port_device_fits(b, "no-such-chip"));                     /* cannot rule it out */
        assert(port_device_fits(NULL, "esp32"));

        json_value_free(a);
        json_value_free(b);
        json_value_free(c);
}

static void test_exit_codes(void) {
        /* The documented values. */
        assert(CTL_EXIT_SUCCESS == 0 && CTL_EXIT_FAILURE == 1 && CTL_EXIT_INVALID == 2 &&
               CTL_EXIT_NO_DEVICE == 3 && CTL_EXIT_PERMISSION == 4 && CTL_EXIT_DEVICE_ERROR == 5 &&
               CTL_EXIT_CANCELLED == 6 && CTL_EXIT_MISMATCH == 7);

        static const struct {
                const char *name;
                CtlExit code;
        } names[] = {
                { "org.fbuild.Deploy1.Error.NoSuchDevice", CTL_EXIT_NO_DEVICE },
                { "org.fbuild.Deploy1.Error.PermissionDenied", CTL_EXIT_PERMISSION },
                { "org.freedesktop.DBus.Error.AccessDenied", CTL_EXIT_PERMISSION },
                { "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", CTL_EXIT_PERMISSION },
                { "org.fbuild.Deploy1.Error.Timeout", CTL_EXIT_DEVICE_ERROR },
                { "org.fbuild.Deploy1.Error.ProtocolError", CTL_EXIT_DEVICE_ERROR },
                { "org.fbuild.Deploy1.Error.FlashError", CTL_EXIT_DEVICE_ERROR },
                { "org.fbuild.Deploy1.Error.DeviceBusy", CTL_EXIT_DEVICE_ERROR },
                { "org.fbuild.Deploy1.Error.LimitsExceeded", CTL_EXIT_DEVICE_ERROR },
                { "org.fbuild.Deploy1.Error.Cancelled", CTL_EXIT_CANCELLED },
                { "org.fbuild.Deploy1.Error.InvalidRegions", CTL_EXIT_INVALID },
                { "org.fbuild.Deploy1.Error.InvalidSource", CTL_EXIT_INVALID },
                { "org.fbuild.Deploy1.Error.InvalidOptions", CTL_EXIT_INVALID },
                { "org.fbuild.Deploy1.Error.NotSupported", CTL_EXIT_INVALID },
                { "org.fbuild.Deploy1.Error.ChipMismatch", CTL_EXIT_INVALID },
                { "org.freedesktop.DBus.Error.ServiceUnknown", CTL_EXIT_FAILURE },
                { "org.freedesktop.DBus.Error.NoReply", CTL_EXIT_FAILURE },
                { "org.fbuild.Deploy1.Error.SomethingNew", CTL_EXIT_FAILURE },
                { NULL, CTL_EXIT_FAILURE },
        };
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                assert(ctl_exit_from_error_name(names[i].name) == names[i].code);

        assert(ctl_exit_from_errno(0) == CTL_EXIT_SUCCESS);
        assert(ctl_exit_from_errno(-ENOENT) == CTL_EXIT_INVALID);
        assert(ctl_exit_from_errno(EBADMSG) == CTL_EXIT_INVALID);
        assert(ctl_exit_from_errno(-ENODEV) == CTL_EXIT_NO_DEVICE);
        assert(ctl_exit_from_errno(-EACCES) == CTL_EXIT_PERMISSION);
        assert(ctl_exit_from_errno(-ETIMEDOUT) == CTL_EXIT_DEVICE_ERROR);
        assert(ctl_exit_from_errno(-ECANCELED) == CTL_EXIT_CANCELLED);
        assert(ctl_exit_from_errno(-ENOMEM) == CTL_EXIT_FAILURE);
}

int main(void) {
        test_format();
        test_bar();
        test_plain();
        test_plain_many_phases();
        test_tty();
        test_tty_phases();
        test_port_pick();
        test_exit_codes();
        return 0;
}
