/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The code addresses in ESP-IDF panic output, as the monitor's crash decoder
 * (ctl-decode.c) hands them to addr2line: pure, for the unit tests. */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "crash-lines.h"

/* "0x" and up to 8 hex digits at p: the value, and where it ends. */
static bool parse_hex(const char *p, const char *end, uint32_t *ret, const char **ret_end) {
        uint32_t v = 0;
        size_t digits = 0;

        if (end - p < 3 || p[0] != '0' || (p[1] != 'x' && p[1] != 'X'))
                return false;
        for (p += 2; p < end && isxdigit((unsigned char) *p) && digits < 8; p++, digits++)
                v = v << 4 | (uint32_t) (isdigit((unsigned char) *p) ? *p - '0' : (tolower(*p) - 'a' + 10));
        if (digits == 0)
                return false;
        *ret = v;
        *ret_end = p;
        return true;
}

/* The value after "NAME<spaces>:<spaces>" where NAME starts a word. */
static bool register_value(const char *line, const char *end, const char *name, uint32_t *ret) {
        size_t n = strlen(name);

        for (const char *p = line; p + n <= end; p++) {
                const char *q, *rest;

                if (memcmp(p, name, n) != 0 || (p > line && !isspace((unsigned char) p[-1])))
                        continue;
                q = p + n;
                while (q < end && *q == ' ')
                        q++;
                if (q >= end || *q != ':')
                        continue;
                q++;
                while (q < end && *q == ' ')
                        q++;
                if (parse_hex(q, end, ret, &rest))
                        return true;
        }
        return false;
}

size_t crash_line_addresses(const char *line, size_t len, uint32_t *ret, size_t max) {
        const char *end = line + len, *p;
        size_t n = 0;
        uint32_t v;

        p = memmem(line, len, "Backtrace:", strlen("Backtrace:"));
        if (p) {
                /* PC:SP pairs; the PCs are what names code. */
                for (p += strlen("Backtrace:"); p < end && n < max;) {
                        const char *after;

                        while (p < end && *p == ' ')
                                p++;
                        if (!parse_hex(p, end, &v, &after))
                                break;
                        ret[n++] = v;
                        p = after;
                        if (p < end && *p == ':' && parse_hex(p + 1, end, &v, &after))
                                p = after;
                }
                return n;
        }
        if (n < max && register_value(line, end, "MEPC", &v))
                ret[n++] = v;
        if (n < max && register_value(line, end, "RA", &v))
                ret[n++] = v;
        return n;
}
