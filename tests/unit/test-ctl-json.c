/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fbuildctl's JSON parser and serializer: tables of valid texts (with their
 * canonical re-serialisation) and of invalid ones (with the error), depth and
 * size limits, error positions, number accessors, and a mutation loop that
 * must never crash. */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static char *format_compact(const JsonValue *v) {
        char *buf = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&buf, &n);

        assert(f);
        assert(json_format(f, v, false) == 0);
        assert(fclose(f) == 0);
        return buf;
}

static void test_valid(void) {
        static const struct {
                const char *in, *out;
        } vectors[] = {
                { "null", "null" },
                { " true ", "true" },
                { "false", "false" },
                { "0", "0" },
                { "-0", "-0" },
                { "12.5e-3", "12.5e-3" },
                { "1E+2", "1E+2" },
                { "\"\"", "\"\"" },
                { "[]", "[]" },
                { "{}", "{}" },
                { "\t[\n1 , 2\r\n,3]", "[1,2,3]" },
                { "{\"a\":[1,2,{\"b\":null}],\"c\":\"x\"}", "{\"a\":[1,2,{\"b\":null}],\"c\":\"x\"}" },
                /* escapes decode, and re-encode only where needed */
                { "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\\"\\\\/\\u0008\\u000c\\n\\r\\t\"" },
                { "\"\\u00e9\\u20ac\\ud83d\\ude00\"", "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"" },
                { "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"" },
                { "\"\x7f\"", "\"\\u007f\"" },
                { "{\"flash_files\":{\"0x1000\":\"bootloader/bootloader.bin\"}}",
                  "{\"flash_files\":{\"0x1000\":\"bootloader/bootloader.bin\"}}" },
                /* keys that differ only after a common prefix are not duplicates */
                { "{\"a\":1,\"ab\":2,\"b\":3}", "{\"a\":1,\"ab\":2,\"b\":3}" },
        };

        for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
                JsonValue *v = NULL;
                JsonParseError e = {};
                char *out;
                int r;

                r = json_parse(vectors[i].in, strlen(vectors[i].in), &v, &e);
                if (r < 0)
                        fprintf(stderr, "vector %zu: %s: %d %u:%u %s\n", i, vectors[i].in, r, e.line, e.column,
                                e.message);
                assert(r == 0);
                out = format_compact(v);
                if (strcmp(out, vectors[i].out) != 0)
                        fprintf(stderr, "vector %zu: got %s, want %s\n", i, out, vectors[i].out);
                assert(strcmp(out, vectors[i].out) == 0);
                free(out);
                json_value_free(v);
        }
}

static void test_invalid(void) {
        static const struct {
                const char *in;
                size_t len;             /* 0: strlen */
                int error;
        } vectors[] = {
                { "", 0, -EBADMSG },
                { "   ", 0, -EBADMSG },
                { "{", 0, -EBADMSG },
                { "[", 0, -EBADMSG },
                { "[1,]", 0, -EBADMSG },
                { "[,1]", 0, -EBADMSG },
                { "{\"a\":1,}", 0, -EBADMSG },
                { "{,}", 0, -EBADMSG },
                { "[1 2]", 0, -EBADMSG },
                { "{\"a\" 1}", 0, -EBADMSG },
                { "{\"a\":}", 0, -EBADMSG },
                { "{1:2}", 0, -EBADMSG },
                { "{'a':1}", 0, -EBADMSG },
                { "[]]", 0, -EBADMSG },
                { "1 2", 0, -EBADMSG },
                { "01", 0, -EBADMSG },
                { "-01", 0, -EBADMSG },
                { "1.", 0, -EBADMSG },
                { ".5", 0, -EBADMSG },
                { "-", 0, -EBADMSG },
                { "1e", 0, -EBADMSG },
                { "1e+", 0, -EBADMSG },
                { "+1", 0, -EBADMSG },
                { "0x10", 0, -EBADMSG },
                { "NaN", 0, -EBADMSG },
                { "Infinity", 0, -EBADMSG },
                { "tru", 0, -EBADMSG },
                { "True", 0, -EBADMSG },
                { "nul", 0, -EBADMSG },
                { "nulll", 0, -EBADMSG },
                { "\"abc", 0, -EBADMSG },
                { "\"\\", 0, -EBADMSG },
                { "\"\\x\"", 0, -EBADMSG },
                { "\"\\u12\"", 0, -EBADMSG },
                { "\"\\u12g4\"", 0, -EBADMSG },
                { "\"\\ud800\"", 0, -EBADMSG },             /* lone high surrogate */
                { "\"\\ud800\\u0041\"", 0, -EBADMSG },      /* high + non-low */
                { "\"\\udc00\"", 0, -EBADMSG },             /* lone low surrogate */
                { "\"\\u0000\"", 0, -EBADMSG },             /* would truncate a C string */
                { "\"a\nb\"", 0, -EBADMSG },                /* raw control character */
                { "\"\t\"", 0, -EBADMSG },
                { "\"\xff\"", 0, -EBADMSG },
                { "\"\xc0\x80\"", 0, -EBADMSG },            /* overlong NUL */
                { "\"\xe0\x80\xaf\"", 0, -EBADMSG },        /* overlong '/' */
                { "\"\xed\xa0\x80\"", 0, -EBADMSG },        /* UTF-8 encoded surrogate */
                { "\"\xf4\x90\x80\x80\"", 0, -EBADMSG },    /* past U+10FFFF */
                { "\"\xe2\x82\"", 0, -EBADMSG },            /* truncated sequence */
                { "\"\x80\"", 0, -EBADMSG },                /* stray continuation byte */
                { "{\"a\":1,\"a\":2}", 0, -EBADMSG },       /* duplicate key */
                { "{\"b\":{\"x\":1,\"y\":2,\"x\":3}}", 0, -EBADMSG },
                { "// comment\n1", 0, -EBADMSG },
                { "/* c */ 1", 0, -EBADMSG },
                { "\xef\xbb\xbf{}", 0, -EBADMSG },          /* BOM */
                { "[1]\0", 4, -EBADMSG },                   /* trailing NUL */
                { "[\0]", 3, -EBADMSG },
        };

        for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
                size_t len = vectors[i].len ?: strlen(vectors[i].in);
                JsonValue *v = NULL;
                JsonParseError e = {};
                int r;

                r = json_parse(vectors[i].in, len, &v, &e);
                if (r != vectors[i].error)
                        fprintf(stderr, "invalid vector %zu (%s): got %d\n", i, vectors[i].in, r);
                assert(r == vectors[i].error);
                assert(!v);
                assert(e.message[0]);
                assert(e.line >= 1 && e.column >= 1);
                /* The same without an error struct. */
                assert(json_parse(vectors[i].in, len, &v, NULL) == vectors[i].error);
        }
}

static void test_error_position(void) {
        const char *text = "{\n  \"a\": [1,\n   x]}";
        JsonValue *v = NULL;
        JsonParseError e = {};

        assert(json_parse(text, strlen(text), &v, &e) == -EBADMSG);
        assert(e.line == 3 && e.column == 4);
        assert(strstr(e.message, "unexpected character 'x'"));

        /* Columns count characters, not bytes. */
        text = "[\"\xc3\xa9\xc3\xa9\", ?]";
        assert(json_parse(text, strlen(text), &v, &e) == -EBADMSG);
        assert(e.line == 1 && e.column == 8);
}

static char *repeat(const char *s, size_t n, const char *tail) {
        size_t k = strlen(s), t = strlen(tail);
        char *buf = malloc(k * n + t + 1);

        assert(buf);
        for (size_t i = 0; i < n; i++)
                memcpy(buf + i * k, s, k);
        memcpy(buf + k * n, tail, t + 1);
        return buf;
}

static void test_depth(void) {
        JsonValue *v = NULL;
        char *open, *text;

        /* JSON_DEPTH_MAX containers nest; one more is refused. */
        open = repeat("[", JSON_DEPTH_MAX, "");
        text = repeat("]", JSON_DEPTH_MAX, "");
        char *ok = malloc(2 * JSON_DEPTH_MAX + 1);
        assert(ok);
        strcpy(ok, open);
        strcat(ok, text);
        assert(json_parse(ok, strlen(ok), &v, NULL) == 0);
        json_value_free(v);
        free(ok);
        free(open);
        free(text);

        open = repeat("{\"a\":", JSON_DEPTH_MAX + 1, "1");
        assert(json_parse(open, strlen(open), &v, NULL) == -E2BIG);
        free(open);

        /* Hostile depth: refused without recursing into it. */
        open = repeat("[", 1000000, "");
        assert(json_parse(open, strlen(open), &v, NULL) == -E2BIG);
        free(open);
}

static void test_wide(void) {
        /* Many members: the duplicate check must stay fast (sorted, not pairwise). */
        size_t n = 200000, len = 0;
        char *buf = malloc(n * 24 + 4);
        JsonValue *v = NULL;

        assert(buf);
        buf[len++] = '{';
        for (size_t i = 0; i < n; i++)
                len += (size_t) sprintf(buf + len, "%s\"k%zu\":%zu", i ? "," : "", i, i);
        buf[len++] = '}';
        assert(json_parse(buf, len, &v, NULL) == 0);
        assert(json_object_size(v) == n);
        assert(json_object_get(v, "k199999"));
        json_value_free(v);

        /* The same with one duplicate at the far end. */
        len--;
        len += (size_t) sprintf(buf + len, ",\"k7\":0}");
        assert(json_parse(buf, len, &v, NULL) == -EBADMSG);
        free(buf);
}

static void test_accessors(void) {
        const char *text = "{\"u\":18446744073709551615,\"big\":18446744073709551616,\"neg\":-1,"
                           "\"frac\":1.0,\"exp\":1e3,\"s\":\"str\",\"b\":true,\"a\":[1,\"x\"]}";
        JsonValue *v = NULL;
        uint64_t u = 0;

        assert(json_parse(text, strlen(text), &v, NULL) == 0);
        assert(json_value_type(v) == JSON_OBJECT);
        assert(json_number_uint64(json_object_get(v, "u"), &u) == 0 && u == UINT64_MAX);
        assert(json_number_uint64(json_object_get(v, "big"), &u) == -ERANGE);
        assert(json_number_uint64(json_object_get(v, "neg"), &u) == -EINVAL);
        assert(json_number_uint64(json_object_get(v, "frac"), &u) == -EINVAL);
        assert(json_number_uint64(json_object_get(v, "exp"), &u) == -EINVAL);
        assert(json_number_uint64(json_object_get(v, "s"), &u) == -EINVAL);
        assert(json_number_uint64(NULL, &u) == -EINVAL);
        assert(strcmp(json_string(json_object_get(v, "s")), "str") == 0);
        assert(!json_string(json_object_get(v, "b")));
        assert(json_boolean(json_object_get(v, "b")));
        assert(!json_boolean(json_object_get(v, "s")));
        assert(json_array_size(json_object_get(v, "a")) == 2);
        assert(!json_array_get(json_object_get(v, "a"), 2));
        assert(strcmp(json_string(json_array_get(json_object_get(v, "a"), 1)), "x") == 0);
        /* Lookups chain through NULL and wrong types. */
        assert(!json_object_get(json_object_get(v, "missing"), "x"));
        assert(!json_object_get(json_object_get(v, "a"), "x"));
        assert(json_array_size(json_object_get(v, "s")) == 0);
        assert(strcmp(json_object_key_at(v, 0), "u") == 0);
        assert(!json_object_key_at(v, 99));
        assert(strcmp(json_type_to_string(JSON_ARRAY), "array") == 0);
        json_value_free(v);
}

static void test_builder(void) {
        JsonValue *o = json_new_object(), *a = json_new_array();
        char *out;

        assert(o && a);
        assert(json_object_set(o, "port", json_new_string("/dev/ttyUSB0")) == 0);
        assert(json_object_set(o, "n", json_new_uint64(UINT64_MAX)) == 0);
        assert(json_object_set(o, "i", json_new_int64(-5)) == 0);
        assert(json_object_set(o, "d", json_new_double(0.5)) == 0);
        assert(json_object_set(o, "nan", json_new_double(0.0 / 0.0)) == 0);
        assert(json_object_set(o, "ctl", json_new_string("a\x01\"\\\n")) == 0);
        assert(json_object_set(o, "bad", json_new_string("\xff\xc3")) == 0);       /* invalid UTF-8 */
        assert(json_object_set(o, "none", json_new_string(NULL)) == 0);
        assert(json_array_append(a, json_new_boolean(false)) == 0);
        assert(json_array_append(a, json_new_null()) == 0);
        assert(json_object_set(o, "a", a) == 0);
        assert(json_object_set(o, "n", json_new_uint64(1)) == 0);                  /* replaces */
        assert(json_array_append(o, json_new_null()) == -EINVAL);                  /* not an array */
        assert(json_object_set(o, "x", NULL) == -ENOMEM);                          /* a failed builder */

        out = format_compact(o);
        assert(strcmp(out, "{\"port\":\"/dev/ttyUSB0\",\"n\":1,\"i\":-5,\"d\":0.5,\"nan\":null,"
                           "\"ctl\":\"a\\u0001\\\"\\\\\\n\",\"bad\":\"\xef\xbf\xbd\xef\xbf\xbd\","
                           "\"none\":null,\"a\":[false,null]}") == 0);

        /* What we print, we can read back. */
        JsonValue *back = NULL;
        assert(json_parse(out, strlen(out), &back, NULL) == 0);
        json_value_free(back);
        free(out);

        /* Pretty output: two-space indentation, empty containers stay short. */
        char *buf = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&buf, &n);
        JsonValue *p = json_new_object();
        assert(json_object_set(p, "e", json_new_array()) == 0);
        assert(json_object_set(p, "k", json_new_uint64(1)) == 0);
        assert(json_format(f, p, true) == 0);
        fclose(f);
        assert(strcmp(buf, "{\n  \"e\": [],\n  \"k\": 1\n}") == 0);
        free(buf);
        json_value_free(p);
        json_value_free(o);
}

/* Deterministic mutations of valid documents: whatever comes out, the parser
 * answers 0 or an error, never crashes (run under ASan in CI). */
static void test_mutations(void) {
        static const char *const seeds[] = {
                "{\"flash_files\":{\"0x1000\":\"bootloader/bootloader.bin\",\"0x8000\":\"p.bin\"},"
                "\"extra_esptool_args\":{\"chip\":\"esp32\",\"stub\":true},\"n\":[1.5e3,-0,null]}",
                "[\"\\ud83d\\ude00\",\"\xc3\xa9\",{\"a\":{\"b\":[[[]]]}}]",
        };
        uint64_t state = 0x9e3779b97f4a7c15ULL;

        for (size_t s = 0; s < sizeof(seeds) / sizeof(seeds[0]); s++) {
                size_t len = strlen(seeds[s]);

                for (unsigned iter = 0; iter < 20000; iter++) {
                        char *buf = malloc(len + 1);
                        size_t n = len;
                        JsonValue *v = NULL;

                        assert(buf);
                        memcpy(buf, seeds[s], len);
                        for (unsigned k = 0; k < 1 + iter % 4; k++) {
                                state = state * 6364136223846793005ULL + 1442695040888963407ULL;
                                size_t pos = (size_t) (state >> 33) % len;
                                switch ((state >> 20) % 4) {
                                case 0: buf[pos] = (char) (state >> 8); break;
                                case 1: buf[pos] ^= (char) (1u << ((state >> 12) % 8)); break;
                                case 2: n = pos; break;                         /* truncate */
                                default: buf[pos] = "{}[],:\"\\u0e-"[(state >> 5) % 13]; break;
                                }
                        }
                        if (json_parse(buf, n, &v, NULL) == 0) {
                                char *out = format_compact(v);
                                JsonValue *again = NULL;

                                /* Re-serialised output always parses. */
                                assert(json_parse(out, strlen(out), &again, NULL) == 0);
                                json_value_free(again);
                                free(out);
                                json_value_free(v);
                        }
                        free(buf);
                }
        }
}

int main(void) {
        test_valid();
        test_invalid();
        test_error_position();
        test_depth();
        test_wide();
        test_accessors();
        test_builder();
        test_mutations();
        return 0;
}
