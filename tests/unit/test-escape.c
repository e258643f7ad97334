/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* escape_c(): what a caller-supplied string looks like in a log line. No
 * output may contain a control character, and truncation ends in "...". */

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "escape.h"

static const struct {
        const char *in, *out;
} vectors[] = {
        { "/dev/ttyUSB0",               "/dev/ttyUSB0" },
        { "",                           "" },
        { NULL,                         "(null)" },
        { "a\n<0>EMERG",                "a\\n<0>EMERG" },
        { "\r\n<3>x",                   "\\r\\n<3>x" },
        { "tab\there",                  "tab\\there" },
        { "\a\b\v\f",                   "\\a\\b\\v\\f" },
        { "\x01\x1b[31mred",            "\\x01\\x1b[31mred" },
        { "del\x7f",                    "del\\x7f" },
        { "back\\slash",                "back\\\\slash" },
        { "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x8c", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x8c" },
        { "\xc2\x85next-line",          "\\u0085next-line" },           /* C1 NEL */
        { "bad\xff\xfe",                "bad\\xff\\xfe" },
        { "\xc3",                       "\\xc3" },                      /* truncated sequence */
        { "\xc0\xaf",                   "\\xc0\\xaf" },                 /* overlong '/' */
        { "\xed\xa0\x80",               "\\xed\\xa0\\x80" },            /* a surrogate */
        { "\xf4\x90\x80\x80",           "\\xf4\\x90\\x80\\x80" },       /* past U+10FFFF */
};

static void test_vectors(void) {
        char buf[ESCAPE_BUF];

        for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
                const char *got = escape_c(vectors[i].in, buf, sizeof(buf));

                if (strcmp(got, vectors[i].out) != 0) {
                        fprintf(stderr, "vector %zu: got \"%s\", want \"%s\"\n", i, got, vectors[i].out);
                        assert(0);
                }
        }
}

static void test_truncation(void) {
        char big[1000], buf[16];

        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        assert(strcmp(escape_c(big, buf, sizeof(buf)), "xxxxxxxxxxxx...") == 0);
        /* Exactly fits: no ellipsis. */
        assert(strcmp(escape_c("123456789012345", buf, sizeof(buf)), "123456789012345") == 0);
        assert(strcmp(escape_c("1234567890123456", buf, sizeof(buf)), "123456789012...") == 0);
        /* An escape is never cut in half. */
        assert(strcmp(escape_c("12345678901\n\n\n", buf, sizeof(buf)), "12345678901...") == 0);
        /* ESC() in a log call. */
        assert(strcmp(ESC("\n<0>"), "\\n<0>") == 0);
}

static void test_no_controls(void) {
        char in[257], buf[1100];

        /* Every byte value, in every position: the output has no byte below 0x20. */
        for (int b = 1; b < 256; b++)
                in[b - 1] = (char) b;
        in[255] = '\0';
        escape_c(in, buf, sizeof(buf));
        for (const char *p = buf; *p; p++)
                assert((unsigned char) *p >= 0x20 && *p != 0x7f);
        assert(strcmp(buf + strlen(buf) - 3, "...") != 0);
}

int main(void) {
        test_vectors();
        test_truncation();
        test_no_controls();
        return 0;
}
