/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* escape_c() (escape.h): a small UTF-8 decoder that accepts only well-formed
 * sequences (no overlong forms, no surrogates, nothing past U+10FFFF). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "escape.h"

/* The length of the well-formed UTF-8 sequence at s, or 0; its code point in *ret. */
static size_t utf8_sequence(const unsigned char *s, uint32_t *ret) {
        uint32_t cp, min;
        size_t n;

        if (s[0] < 0x80) {
                *ret = s[0];
                return 1;
        }
        if ((s[0] & 0xe0) == 0xc0) {
                n = 2, cp = s[0] & 0x1f, min = 0x80;
        } else if ((s[0] & 0xf0) == 0xe0) {
                n = 3, cp = s[0] & 0x0f, min = 0x800;
        } else if ((s[0] & 0xf8) == 0xf0) {
                n = 4, cp = s[0] & 0x07, min = 0x10000;
        } else
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)      /* also stops at the NUL */
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        *ret = cp;
        return n;
}

/* The escaped form of the character at p into piece; returns the bytes of p it takes. */
static size_t escape_one(const unsigned char *p, char piece[static 8]) {
        uint32_t cp;
        size_t len;

        len = utf8_sequence(p, &cp);
        if (len == 0) {
                snprintf(piece, 8, "\\x%02x", *p);
                return 1;
        }
        if (cp == '\\')
                strcpy(piece, "\\\\");
        else if (cp < 0x20 || cp == 0x7f) {
                static const char letters[] = "abtnvfr";

                if (cp >= '\a' && cp <= '\r')
                        snprintf(piece, 8, "\\%c", letters[cp - '\a']);
                else
                        snprintf(piece, 8, "\\x%02x", (unsigned) cp);
        } else if (cp >= 0x80 && cp < 0xa0)
                snprintf(piece, 8, "\\u%04x", (unsigned) cp);
        else {
                memcpy(piece, p, len);
                piece[len] = '\0';
        }
        return len;
}

char *escape_c(const char *s, char *buf, size_t size) {
        static const char ellipsis[] = "...";
        const unsigned char *start = (const unsigned char *) (s ?: "(null)"), *p;
        size_t out = 0, total = 0, reserve;
        char piece[8];

        if (size < sizeof(ellipsis))
                return size > 0 ? (buf[0] = '\0', buf) : buf;

        /* Whether it all fits decides whether room for "..." must be kept. */
        for (p = start; *p && total <= size - 1; ) {
                p += escape_one(p, piece);
                total += strlen(piece);
        }
        reserve = total <= size - 1 ? 0 : sizeof(ellipsis) - 1;

        for (p = start; *p; ) {
                size_t adv = escape_one(p, piece), len = strlen(piece);

                if (out + len + reserve > size - 1) {
                        /* Never half an escape; earlier pieces kept room for this. */
                        memcpy(buf + out, ellipsis, sizeof(ellipsis));
                        return buf;
                }
                memcpy(buf + out, piece, len);
                out += len;
                p += adv;
        }
        buf[out] = '\0';
        return buf;
}
