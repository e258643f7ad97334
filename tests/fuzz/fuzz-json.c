/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for fbuildctl's JSON parser: any input either parses or is
 * refused with one of the documented errors, and whatever parses survives a
 * format/parse round trip (compact and pretty) unchanged. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *format(const JsonValue *v, bool pretty, size_t *ret_len) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        assert(f);
        assert(json_format(f, v, pretty) >= 0);
        assert(fclose(f) == 0);
        *ret_len = len;
        return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        JsonValue *v = NULL, *again = NULL;
        JsonParseError err;
        char *text, *text2;
        size_t len, len2;
        int r;

        r = json_parse((const char *) data, size, &v, &err);
        assert(r == 0 || r == -EBADMSG || r == -E2BIG || r == -ENOMEM);
        if (r < 0) {
                assert(!v);
                /* The message is a terminated string. */
                if (r == -EBADMSG)
                        assert(memchr(err.message, 0, sizeof(err.message)));
                return 0;
        }

        for (int pretty = 0; pretty <= 1; pretty++) {
                text = format(v, pretty, &len);
                r = json_parse(text, len, &again, NULL);
                if (r < 0) {
                        fprintf(stderr, "formatted JSON does not parse (%d): %.*s\n", r, (int) len, text);
                        abort();
                }
                text2 = format(again, pretty, &len2);
                assert(len == len2 && memcmp(text, text2, len) == 0);
                free(text);
                free(text2);
                json_value_free(again);
                again = NULL;
        }
        json_value_free(v);
        return 0;
}
