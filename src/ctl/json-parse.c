/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A strict recursive-descent JSON parser. Its input is build metadata written
 * by other tools, so it treats every byte as hostile: bounded depth, no
 * reads past len, and an error with a position instead of a guess. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "json-internal.h"
#include "macro.h"
#include "string-util.h"

typedef struct JsonParser {
        const unsigned char *p, *end, *start;
        unsigned depth;
        JsonParseError *error;
} JsonParser;

_printf_(3, 4)
static int parser_fail(JsonParser *ps, const unsigned char *at, const char *format, ...) {
        JsonParseError *e = ps->error;
        va_list ap;

        if (!e)
                return -EBADMSG;
        *e = (JsonParseError) { .line = 1, .column = 1 };
        for (const unsigned char *q = ps->start; q < at && q < ps->end; q++) {
                if (*q == '\n') {
                        e->line++;
                        e->column = 1;
                } else if ((*q & 0xc0) != 0x80)         /* count characters, not bytes */
                        e->column++;
        }
        va_start(ap, format);
        (void) vsnprintf(e->message, sizeof(e->message), format, ap);
        va_end(ap);
        return -EBADMSG;
}

static void skip_whitespace(JsonParser *ps) {
        while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
                ps->p++;
}

static bool consume_literal(JsonParser *ps, const char *word) {
        size_t n = strlen(word);

        if ((size_t) (ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
                return false;
        ps->p += n;
        return true;
}

static int hex_digit(unsigned char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Reads the 4 hex digits after "\u". */
static int parse_hex4(JsonParser *ps, uint32_t *ret) {
        uint32_t v = 0;

        if (ps->end - ps->p < 4)
                return parser_fail(ps, ps->p, "truncated \\u escape");
        for (int i = 0; i < 4; i++) {
                int d = hex_digit(ps->p[i]);

                if (d < 0)
                        return parser_fail(ps, ps->p + i, "invalid hex digit in \\u escape");
                v = v << 4 | (uint32_t) d;
        }
        ps->p += 4;
        *ret = v;
        return 0;
}

static size_t utf8_encode(uint32_t cp, unsigned char out[static 4]) {
        if (cp < 0x80) {
                out[0] = (unsigned char) cp;
                return 1;
        }
        if (cp < 0x800) {
                out[0] = (unsigned char) (0xc0 | cp >> 6);
                out[1] = (unsigned char) (0x80 | (cp & 0x3f));
                return 2;
        }
        if (cp < 0x10000) {
                out[0] = (unsigned char) (0xe0 | cp >> 12);
                out[1] = (unsigned char) (0x80 | (cp >> 6 & 0x3f));
                out[2] = (unsigned char) (0x80 | (cp & 0x3f));
                return 3;
        }
        out[0] = (unsigned char) (0xf0 | cp >> 18);
        out[1] = (unsigned char) (0x80 | (cp >> 12 & 0x3f));
        out[2] = (unsigned char) (0x80 | (cp >> 6 & 0x3f));
        out[3] = (unsigned char) (0x80 | (cp & 0x3f));
        return 4;
}

/* Validates one raw UTF-8 sequence at ps->p; returns its length or fails. */
static int check_utf8(JsonParser *ps) {
        const unsigned char *s = ps->p;
        size_t avail = (size_t) (ps->end - s), len;
        uint32_t cp;

        if (s[0] >= 0xc2 && s[0] <= 0xdf)
                len = 2, cp = s[0] & 0x1f;
        else if (s[0] >= 0xe0 && s[0] <= 0xef)
                len = 3, cp = s[0] & 0x0f;
        else if (s[0] >= 0xf0 && s[0] <= 0xf4)
                len = 4, cp = s[0] & 0x07;
        else
                return parser_fail(ps, s, "invalid UTF-8 byte 0x%02x", s[0]);
        if (len > avail)
                return parser_fail(ps, s, "truncated UTF-8 sequence");
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return parser_fail(ps, s, "invalid UTF-8 sequence");
                cp = cp << 6 | (s[i] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
                return parser_fail(ps, s, "overlong UTF-8 sequence");
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return parser_fail(ps, s, "UTF-8 sequence for an invalid code point");
        return (int) len;
}

/* ps->p is at the opening quote. The decoded string is never longer than its
 * encoding, so one allocation of the raw length suffices. */
static int parse_string(JsonParser *ps, char **ret) {
        const unsigned char *open = ps->p, *q;
        _cleanup_free_ char *buf = NULL;
        size_t n = 0;
        int r;

        ps->p++;
        /* Find the closing quote first, to size the buffer. */
        for (q = ps->p; q < ps->end && *q != '"'; q++)
                if (*q == '\\' && q + 1 < ps->end)
                        q++;
        if (q >= ps->end)
                return parser_fail(ps, open, "unterminated string");

        buf = malloc((size_t) (q - ps->p) + 1);
        if (!buf)
                return -ENOMEM;

        while (*ps->p != '"') {
                unsigned char c = *ps->p;

                if (c < 0x20)
                        return parser_fail(ps, ps->p, "control character 0x%02x in string", c);
                if (c >= 0x80) {
                        r = check_utf8(ps);
                        if (r < 0)
                                return r;
                        memcpy(buf + n, ps->p, (size_t) r);
                        n += (size_t) r;
                        ps->p += r;
                        continue;
                }
                if (c != '\\') {
                        buf[n++] = (char) c;
                        ps->p++;
                        continue;
                }

                const unsigned char *esc = ps->p;
                uint32_t cp;

                ps->p++;
                switch (*ps->p++) {
                case '"':  buf[n++] = '"';  continue;
                case '\\': buf[n++] = '\\'; continue;
                case '/':  buf[n++] = '/';  continue;
                case 'b':  buf[n++] = '\b'; continue;
                case 'f':  buf[n++] = '\f'; continue;
                case 'n':  buf[n++] = '\n'; continue;
                case 'r':  buf[n++] = '\r'; continue;
                case 't':  buf[n++] = '\t'; continue;
                case 'u':
                        break;
                default:
                        return parser_fail(ps, esc, "invalid escape sequence");
                }

                r = parse_hex4(ps, &cp);
                if (r < 0)
                        return r;
                if (cp >= 0xdc00 && cp <= 0xdfff)
                        return parser_fail(ps, esc, "lone low surrogate in \\u escape");
                if (cp >= 0xd800 && cp <= 0xdbff) {
                        uint32_t low;

                        if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
                                return parser_fail(ps, esc, "high surrogate without a low surrogate");
                        ps->p += 2;
                        r = parse_hex4(ps, &low);
                        if (r < 0)
                                return r;
                        if (low < 0xdc00 || low > 0xdfff)
                                return parser_fail(ps, esc, "high surrogate without a low surrogate");
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
                }
                /* Strings end up as C strings (paths, names): an embedded NUL would
                 * silently truncate them. */
                if (cp == 0)
                        return parser_fail(ps, esc, "\\u0000 is not allowed in strings");
                n += utf8_encode(cp, (unsigned char *) buf + n);
        }
        ps->p++;        /* closing quote */
        buf[n] = '\0';
        *ret = TAKE_PTR(buf);
        return 0;
}

static bool is_digit(unsigned char c) {
        return c >= '0' && c <= '9';
}

static int parse_number(JsonParser *ps, JsonValue **ret) {
        const unsigned char *start = ps->p;
        JsonValue *v;

        if (ps->p < ps->end && *ps->p == '-')
                ps->p++;
        if (ps->p >= ps->end || !is_digit(*ps->p))
                return parser_fail(ps, start, "invalid number");
        if (*ps->p == '0') {
                ps->p++;
                if (ps->p < ps->end && is_digit(*ps->p))
                        return parser_fail(ps, start, "leading zero in number");
        } else
                while (ps->p < ps->end && is_digit(*ps->p))
                        ps->p++;
        if (ps->p < ps->end && *ps->p == '.') {
                ps->p++;
                if (ps->p >= ps->end || !is_digit(*ps->p))
                        return parser_fail(ps, start, "invalid fraction in number");
                while (ps->p < ps->end && is_digit(*ps->p))
                        ps->p++;
        }
        if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
                ps->p++;
                if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
                        ps->p++;
                if (ps->p >= ps->end || !is_digit(*ps->p))
                        return parser_fail(ps, start, "invalid exponent in number");
                while (ps->p < ps->end && is_digit(*ps->p))
                        ps->p++;
        }

        v = json_value_new(JSON_NUMBER);
        if (!v)
                return -ENOMEM;
        v->text = strndup((const char *) start, (size_t) (ps->p - start));
        if (!v->text) {
                json_value_free(v);
                return -ENOMEM;
        }
        *ret = v;
        return 0;
}

static int parse_value(JsonParser *ps, JsonValue **ret);

static int parse_array(JsonParser *ps, JsonValue **ret) {
        _cleanup_(json_value_freep) JsonValue *a = NULL;
        int r;

        a = json_value_new(JSON_ARRAY);
        if (!a)
                return -ENOMEM;
        ps->p++;        /* [ */
        skip_whitespace(ps);
        if (ps->p < ps->end && *ps->p == ']') {
                ps->p++;
                *ret = TAKE_PTR(a);
                return 0;
        }
        for (;;) {
                JsonValue *item = NULL;

                r = parse_value(ps, &item);
                if (r < 0)
                        return r;
                r = json_array_append(a, item);
                if (r < 0)
                        return r;
                skip_whitespace(ps);
                if (ps->p >= ps->end)
                        return parser_fail(ps, ps->p, "unterminated array");
                if (*ps->p == ']') {
                        ps->p++;
                        break;
                }
                if (*ps->p != ',')
                        return parser_fail(ps, ps->p, "expected ',' or ']' in array");
                ps->p++;
        }
        *ret = TAKE_PTR(a);
        return 0;
}

static int member_compare(const void *a, const void *b) {
        return strcmp(((const JsonMember *) a)->key, ((const JsonMember *) b)->key);
}

/* Sorting a copy keeps the check O(n log n) however many keys hostile input has. */
static int check_duplicate_keys(JsonParser *ps, const JsonValue *o, const unsigned char *at) {
        _cleanup_free_ JsonMember *sorted = NULL;
        size_t n = o->object.n;

        if (n < 2)
                return 0;
        sorted = reallocarray(NULL, n, sizeof(JsonMember));
        if (!sorted)
                return -ENOMEM;
        memcpy(sorted, o->object.members, n * sizeof(JsonMember));
        qsort(sorted, n, sizeof(JsonMember), member_compare);
        for (size_t i = 1; i < n; i++)
                if (streq(sorted[i - 1].key, sorted[i].key))
                        return parser_fail(ps, at, "duplicate key \"%.64s\" in object", sorted[i].key);
        return 0;
}

static int parse_object(JsonParser *ps, JsonValue **ret) {
        _cleanup_(json_value_freep) JsonValue *o = NULL;
        const unsigned char *open = ps->p;
        int r;

        o = json_value_new(JSON_OBJECT);
        if (!o)
                return -ENOMEM;
        ps->p++;        /* { */
        skip_whitespace(ps);
        if (ps->p < ps->end && *ps->p == '}') {
                ps->p++;
                *ret = TAKE_PTR(o);
                return 0;
        }
        for (;;) {
                _cleanup_free_ char *key = NULL;
                JsonValue *value = NULL;

                skip_whitespace(ps);
                if (ps->p >= ps->end || *ps->p != '"')
                        return parser_fail(ps, ps->p, "expected a string key in object");
                r = parse_string(ps, &key);
                if (r < 0)
                        return r;
                skip_whitespace(ps);
                if (ps->p >= ps->end || *ps->p != ':')
                        return parser_fail(ps, ps->p, "expected ':' after object key");
                ps->p++;
                r = parse_value(ps, &value);
                if (r < 0)
                        return r;
                r = json_object_append(o, key, value);
                if (r < 0) {
                        json_value_free(value);
                        return r;
                }
                TAKE_PTR(key);
                skip_whitespace(ps);
                if (ps->p >= ps->end)
                        return parser_fail(ps, ps->p, "unterminated object");
                if (*ps->p == '}') {
                        ps->p++;
                        break;
                }
                if (*ps->p != ',')
                        return parser_fail(ps, ps->p, "expected ',' or '}' in object");
                ps->p++;
        }
        r = check_duplicate_keys(ps, o, open);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

static int parse_value(JsonParser *ps, JsonValue **ret) {
        JsonValue *v;
        int r;

        skip_whitespace(ps);
        if (ps->p >= ps->end)
                return parser_fail(ps, ps->p, "unexpected end of input");

        switch (*ps->p) {
        case '{':
        case '[':
                if (ps->depth >= JSON_DEPTH_MAX) {
                        (void) parser_fail(ps, ps->p, "nested deeper than %d levels", JSON_DEPTH_MAX);
                        return -E2BIG;
                }
                ps->depth++;
                r = *ps->p == '{' ? parse_object(ps, ret) : parse_array(ps, ret);
                ps->depth--;
                return r;
        case '"':
                v = json_value_new(JSON_STRING);
                if (!v)
                        return -ENOMEM;
                r = parse_string(ps, &v->text);
                if (r < 0) {
                        json_value_free(v);
                        return r;
                }
                *ret = v;
                return 0;
        case 't':
        case 'f': {
                bool b = *ps->p == 't';

                if (!consume_literal(ps, b ? "true" : "false"))
                        break;
                v = json_new_boolean(b);
                if (!v)
                        return -ENOMEM;
                *ret = v;
                return 0;
        }
        case 'n':
                if (!consume_literal(ps, "null"))
                        break;
                v = json_new_null();
                if (!v)
                        return -ENOMEM;
                *ret = v;
                return 0;
        default:
                if (*ps->p == '-' || is_digit(*ps->p))
                        return parse_number(ps, ret);
        }
        return parser_fail(ps, ps->p, "unexpected character '%c'",
                           *ps->p >= 0x20 && *ps->p < 0x7f ? *ps->p : '?');
}

int json_parse(const char *text, size_t len, JsonValue **ret, JsonParseError *ret_error) {
        _cleanup_(json_value_freep) JsonValue *v = NULL;
        JsonParser ps = {
                .p = (const unsigned char *) text,
                .start = (const unsigned char *) text,
                .end = (const unsigned char *) text + len,
                .error = ret_error,
        };
        const void *nul;
        int r;

        if (!text && len > 0)
                return -EINVAL;
        /* A NUL can only be an error in JSON text; refusing it up front keeps
         * every later step free to treat the buffer as text. */
        nul = len > 0 ? memchr(text, 0, len) : NULL;
        if (nul)
                return parser_fail(&ps, nul, "NUL byte in input");

        r = parse_value(&ps, &v);
        if (r < 0)
                return r;
        skip_whitespace(&ps);
        if (ps.p != ps.end)
                return parser_fail(&ps, ps.p, "trailing characters after the JSON value");
        *ret = TAKE_PTR(v);
        return 0;
}
