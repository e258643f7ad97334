/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The JSON value tree: accessors for parsed build metadata, builders and a
 * serializer for fbuildctl's --json output. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json-internal.h"
#include "macro.h"
#include "string-util.h"

JsonValue *json_value_new(JsonType type) {
        JsonValue *v = calloc(1, sizeof(JsonValue));

        if (v)
                v->type = type;
        return v;
}

JsonValue *json_value_free(JsonValue *v) {
        if (!v)
                return NULL;

        switch (v->type) {
        case JSON_NUMBER:
        case JSON_STRING:
                free(v->text);
                break;
        case JSON_ARRAY:
                for (size_t i = 0; i < v->array.n; i++)
                        json_value_free(v->array.items[i]);
                free(v->array.items);
                break;
        case JSON_OBJECT:
                for (size_t i = 0; i < v->object.n; i++) {
                        free(v->object.members[i].key);
                        json_value_free(v->object.members[i].value);
                }
                free(v->object.members);
                break;
        default:
                break;
        }
        free(v);
        return NULL;
}

JsonType json_value_type(const JsonValue *v) {
        return v ? v->type : JSON_NULL;
}

static const char *const json_type_table[_JSON_TYPE_MAX] = {
        [JSON_NULL] = "null",
        [JSON_BOOLEAN] = "boolean",
        [JSON_NUMBER] = "number",
        [JSON_STRING] = "string",
        [JSON_ARRAY] = "array",
        [JSON_OBJECT] = "object",
};

DEFINE_STRING_TABLE_LOOKUP_TO_STRING(json_type, JsonType);

const char *json_string(const JsonValue *v) {
        return v && v->type == JSON_STRING ? v->text : NULL;
}

bool json_boolean(const JsonValue *v) {
        return v && v->type == JSON_BOOLEAN && v->boolean;
}

const char *json_number_text(const JsonValue *v) {
        return v && v->type == JSON_NUMBER ? v->text : NULL;
}

int json_number_uint64(const JsonValue *v, uint64_t *ret) {
        const char *s = json_number_text(v);
        uint64_t u = 0;

        if (!s || !*s)
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;         /* sign, fraction or exponent */
                if (u > (UINT64_MAX - (uint64_t) (*p - '0')) / 10)
                        return -ERANGE;
                u = u * 10 + (uint64_t) (*p - '0');
        }
        *ret = u;
        return 0;
}

size_t json_array_size(const JsonValue *v) {
        return v && v->type == JSON_ARRAY ? v->array.n : 0;
}

const JsonValue *json_array_get(const JsonValue *v, size_t i) {
        if (i >= json_array_size(v))
                return NULL;
        return v->array.items[i];
}

size_t json_object_size(const JsonValue *v) {
        return v && v->type == JSON_OBJECT ? v->object.n : 0;
}

const JsonValue *json_object_get(const JsonValue *v, const char *key) {
        size_t n = json_object_size(v);

        if (!key)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (streq(v->object.members[i].key, key))
                        return v->object.members[i].value;
        return NULL;
}

const char *json_object_key_at(const JsonValue *v, size_t i) {
        if (i >= json_object_size(v))
                return NULL;
        return v->object.members[i].key;
}

const JsonValue *json_object_value_at(const JsonValue *v, size_t i) {
        if (i >= json_object_size(v))
                return NULL;
        return v->object.members[i].value;
}

/* ---- builders ------------------------------------------------------------------- */

JsonValue *json_new_null(void) {
        return json_value_new(JSON_NULL);
}

JsonValue *json_new_boolean(bool b) {
        JsonValue *v = json_value_new(JSON_BOOLEAN);

        if (v)
                v->boolean = b;
        return v;
}

static JsonValue *json_new_number_text(const char *text) {
        JsonValue *v;

        v = json_value_new(JSON_NUMBER);
        if (!v)
                return NULL;
        v->text = strdup(text);
        if (!v->text)
                return json_value_free(v);
        return v;
}

JsonValue *json_new_uint64(uint64_t u) {
        char buf[32];

        (void) snprintf(buf, sizeof(buf), "%" PRIu64, u);
        return json_new_number_text(buf);
}

JsonValue *json_new_int64(int64_t i) {
        char buf[32];

        (void) snprintf(buf, sizeof(buf), "%" PRIi64, i);
        return json_new_number_text(buf);
}

JsonValue *json_new_double(double d) {
        char buf[64];

        /* JSON has no NaN or infinity. */
        if (!isfinite(d))
                return json_new_null();
        (void) snprintf(buf, sizeof(buf), "%.6g", d);
        return json_new_number_text(buf);
}

JsonValue *json_new_string_len(const char *s, size_t n) {
        JsonValue *v;

        if (!s)
                return json_new_null();
        v = json_value_new(JSON_STRING);
        if (!v)
                return NULL;
        v->text = strndup(s, n);
        if (!v->text)
                return json_value_free(v);
        return v;
}

JsonValue *json_new_string(const char *s) {
        return json_new_string_len(s, s ? strlen(s) : 0);
}

JsonValue *json_new_array(void) {
        return json_value_new(JSON_ARRAY);
}

JsonValue *json_new_object(void) {
        return json_value_new(JSON_OBJECT);
}

int json_array_append(JsonValue *array, JsonValue *value) {
        if (!value)
                return -ENOMEM;         /* a failed builder call passed straight in */
        if (!array || array->type != JSON_ARRAY) {
                json_value_free(value);
                return -EINVAL;
        }
        if (array->array.n == array->array.allocated) {
                size_t k = MAX(array->array.allocated * 2, (size_t) 4);
                JsonValue **items = reallocarray(array->array.items, k, sizeof(JsonValue *));

                if (!items) {
                        json_value_free(value);
                        return -ENOMEM;
                }
                array->array.items = items;
                array->array.allocated = k;
        }
        array->array.items[array->array.n++] = value;
        return 0;
}

int json_object_append(JsonValue *object, char *key, JsonValue *value) {
        if (object->object.n == object->object.allocated) {
                size_t k = MAX(object->object.allocated * 2, (size_t) 4);
                JsonMember *m = reallocarray(object->object.members, k, sizeof(JsonMember));

                if (!m)
                        return -ENOMEM;
                object->object.members = m;
                object->object.allocated = k;
        }
        object->object.members[object->object.n++] = (JsonMember) { .key = key, .value = value };
        return 0;
}

int json_object_set(JsonValue *object, const char *key, JsonValue *value) {
        char *k;
        int r;

        if (!value)
                return -ENOMEM;
        if (!object || object->type != JSON_OBJECT || !key) {
                json_value_free(value);
                return -EINVAL;
        }
        for (size_t i = 0; i < object->object.n; i++)
                if (streq(object->object.members[i].key, key)) {
                        json_value_free(object->object.members[i].value);
                        object->object.members[i].value = value;
                        return 0;
                }

        k = strdup(key);
        if (!k) {
                json_value_free(value);
                return -ENOMEM;
        }
        r = json_object_append(object, k, value);
        if (r < 0) {
                free(k);
                json_value_free(value);
        }
        return r;
}

/* ---- serializer ----------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 if invalid. */
static size_t utf8_sequence_length(const unsigned char *s, size_t n) {
        uint32_t cp;
        size_t len;

        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xc2 && s[0] <= 0xdf)
                len = 2, cp = s[0] & 0x1f;
        else if (s[0] >= 0xe0 && s[0] <= 0xef)
                len = 3, cp = s[0] & 0x0f;
        else if (s[0] >= 0xf0 && s[0] <= 0xf4)
                len = 4, cp = s[0] & 0x07;
        else
                return 0;
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        /* Overlong forms, surrogates and values past U+10FFFF. */
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return len;
}

static void format_string(FILE *f, const char *s) {
        const unsigned char *p = (const unsigned char *) s;
        size_t n = strlen(s);

        fputc('"', f);
        while (n > 0) {
                size_t len = utf8_sequence_length(p, n);

                if (len == 0) {
                        fputs("\xef\xbf\xbd", f);       /* U+FFFD */
                        p++, n--;
                        continue;
                }
                if (len > 1) {
                        fwrite(p, 1, len, f);
                        p += len, n -= len;
                        continue;
                }
                switch (*p) {
                case '"':
                        fputs("\\\"", f);
                        break;
                case '\\':
                        fputs("\\\\", f);
                        break;
                case '\n':
                        fputs("\\n", f);
                        break;
                case '\r':
                        fputs("\\r", f);
                        break;
                case '\t':
                        fputs("\\t", f);
                        break;
                default:
                        if (*p < 0x20 || *p == 0x7f)
                                fprintf(f, "\\u%04x", *p);
                        else
                                fputc(*p, f);
                }
                p++, n--;
        }
        fputc('"', f);
}

static void format_indent(FILE *f, bool pretty, unsigned level) {
        if (!pretty)
                return;
        fputc('\n', f);
        for (unsigned i = 0; i < level; i++)
                fputs("  ", f);
}

static void format_value(FILE *f, const JsonValue *v, bool pretty, unsigned level) {
        switch (json_value_type(v)) {
        case JSON_NULL:
                fputs("null", f);
                break;
        case JSON_BOOLEAN:
                fputs(v->boolean ? "true" : "false", f);
                break;
        case JSON_NUMBER:
                fputs(v->text, f);
                break;
        case JSON_STRING:
                format_string(f, v->text);
                break;
        case JSON_ARRAY:
                fputc('[', f);
                for (size_t i = 0; i < v->array.n; i++) {
                        if (i > 0)
                                fputc(',', f);
                        format_indent(f, pretty, level + 1);
                        format_value(f, v->array.items[i], pretty, level + 1);
                }
                if (v->array.n > 0)
                        format_indent(f, pretty, level);
                fputc(']', f);
                break;
        case JSON_OBJECT:
                fputc('{', f);
                for (size_t i = 0; i < v->object.n; i++) {
                        if (i > 0)
                                fputc(',', f);
                        format_indent(f, pretty, level + 1);
                        format_string(f, v->object.members[i].key);
                        fputs(pretty ? ": " : ":", f);
                        format_value(f, v->object.members[i].value, pretty, level + 1);
                }
                if (v->object.n > 0)
                        format_indent(f, pretty, level);
                fputc('}', f);
                break;
        default:
                fputs("null", f);
        }
}

int json_format(FILE *f, const JsonValue *v, bool pretty) {
        format_value(f, v, pretty, 0);
        return ferror(f) ? -EIO : 0;
}
