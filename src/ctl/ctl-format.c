/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sizes in IEC units (flash is sized in powers of two), times as people read
 * them on a progress line. */
#include <inttypes.h>
#include <stdio.h>

#include "ctl-format.h"

char *format_bytes(char buf[static FORMAT_BYTES_MAX], uint64_t n) {
        static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
        double v = (double) n;
        unsigned u = 0;

        if (n < 1024) {
                (void) snprintf(buf, FORMAT_BYTES_MAX, "%" PRIu64 " B", n);
                return buf;
        }
        v /= 1024.0;
        while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
                v /= 1024.0;
                u++;
        }
        /* One decimal below 100 (4.0 MiB), none above (200 KiB). */
        if (v < 99.95)
                (void) snprintf(buf, FORMAT_BYTES_MAX, "%.1f %s", v, units[u]);
        else
                (void) snprintf(buf, FORMAT_BYTES_MAX, "%.0f %s", v, units[u]);
        return buf;
}

char *format_rate(char buf[static FORMAT_RATE_MAX], double bytes_per_second) {
        char b[FORMAT_BYTES_MAX];

        if (!(bytes_per_second >= 0) || bytes_per_second > 1e18)
                bytes_per_second = 0;
        (void) snprintf(buf, FORMAT_RATE_MAX, "%s/s", format_bytes(b, (uint64_t) (bytes_per_second + 0.5)));
        return buf;
}

char *format_clock(char buf[static FORMAT_DURATION_MAX], uint64_t usec) {
        uint64_t s = (usec + 500000) / 1000000;

        if (s >= 3600)
                (void) snprintf(buf, FORMAT_DURATION_MAX, "%" PRIu64 ":%02u:%02u", s / 3600,
                                (unsigned) (s / 60 % 60), (unsigned) (s % 60));
        else
                (void) snprintf(buf, FORMAT_DURATION_MAX, "%u:%02u", (unsigned) (s / 60), (unsigned) (s % 60));
        return buf;
}

char *format_timespan(char buf[static FORMAT_DURATION_MAX], uint64_t usec) {
        if (usec < 1000000)
                (void) snprintf(buf, FORMAT_DURATION_MAX, "%" PRIu64 " ms", (usec + 500) / 1000);
        else if (usec < 60000000)
                (void) snprintf(buf, FORMAT_DURATION_MAX, "%.1f s", (double) usec / 1e6);
        else {
                uint64_t s = (usec + 500000) / 1000000;

                (void) snprintf(buf, FORMAT_DURATION_MAX, "%" PRIu64 " min %u s", s / 60, (unsigned) (s % 60));
        }
        return buf;
}

char *format_hex(char *buf, const uint8_t *bytes, size_t n) {
        static const char digits[] = "0123456789abcdef";

        for (size_t i = 0; i < n; i++) {
                buf[2 * i] = digits[bytes[i] >> 4];
                buf[2 * i + 1] = digits[bytes[i] & 15];
        }
        buf[2 * n] = '\0';
        return buf;
}
