/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Flash offsets as people and build tools write them ("0x10000", "65536")
 * and explicit OFFSET=FILE pairs on the command line. */
#include <errno.h>
#include <string.h>

#include "source-parse.h"

static int hex_value(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Parses exactly n bytes of s. */
static int parse_offset_n(const char *s, size_t n, uint32_t *ret) {
        uint64_t v = 0;
        unsigned base = 10;
        bool any = false;

        if (n == 0)
                return -EINVAL;
        if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
                base = 16;
                s += 2, n -= 2;
        } else if (n > 1 && s[0] == '0')
                return -EINVAL;         /* "010": octal to C, decimal to people; refuse both */

        for (size_t i = 0; i < n; i++) {
                int d = hex_value(s[i]);

                if (d < 0 || (unsigned) d >= base)
                        return -EINVAL;
                v = v * base + (unsigned) d;
                if (v > UINT32_MAX)
                        return -ERANGE;
                any = true;
        }
        if (!any)
                return -EINVAL;
        *ret = (uint32_t) v;
        return 0;
}

int source_parse_offset(const char *s, uint32_t *ret) {
        if (!s)
                return -EINVAL;
        return parse_offset_n(s, strlen(s), ret);
}

int source_parse_pair(const char *arg, uint32_t *ret_offset, const char **ret_file) {
        const char *eq;
        uint32_t offset;
        int r;

        if (!arg)
                return -EINVAL;
        eq = strchr(arg, '=');
        if (!eq)
                return -EINVAL;
        r = parse_offset_n(arg, (size_t) (eq - arg), &offset);
        if (r < 0)
                return r;
        if (eq[1] == '\0')
                return -EINVAL;
        *ret_offset = offset;
        *ret_file = eq + 1;
        return 0;
}
