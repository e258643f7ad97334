/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A small strict JSON (RFC 8259) value tree: a parser for the build metadata
 * fbuildctl reads (flasher_args.json, idedata.json, sdkconfig.json) and a
 * builder/serializer for its --json output. Pure: no I/O besides a FILE *. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "macro.h"

typedef enum JsonType {
        JSON_NULL,
        JSON_BOOLEAN,
        JSON_NUMBER,
        JSON_STRING,
        JSON_ARRAY,
        JSON_OBJECT,
        _JSON_TYPE_MAX,
} JsonType;

typedef struct JsonValue JsonValue;

/* Nesting deeper than this is refused (-E2BIG), so hostile input cannot
 * exhaust the stack. */
#define JSON_DEPTH_MAX 64

typedef struct JsonParseError {
        unsigned line, column;          /* 1-based position of the problem */
        char message[128];
} JsonParseError;

/* Parses exactly one JSON text of len bytes (NUL bytes anywhere are refused).
 * Refuses what RFC 8259 does not allow (comments, trailing commas, leading
 * zeros, bare control characters, invalid UTF-8, lone surrogates) and, being
 * used for configuration, duplicate object keys and "\u0000".
 * Returns 0, -EBADMSG (malformed; ret_error says where), -E2BIG (too deep)
 * or -ENOMEM. ret_error may be NULL. */
int json_parse(const char *text, size_t len, JsonValue **ret, JsonParseError *ret_error);

JsonValue *json_value_free(JsonValue *v);
DEFINE_TRIVIAL_CLEANUP_FUNC(JsonValue *, json_value_free);

JsonType json_value_type(const JsonValue *v);
const char *json_type_to_string(JsonType t);

/* Accessors: NULL/false/0 when v is NULL or of another type, so lookups chain. */
const char *json_string(const JsonValue *v);            /* NUL-terminated UTF-8 */
bool json_boolean(const JsonValue *v);
/* A number as written, e.g. "4096" or "1.5e3". */
const char *json_number_text(const JsonValue *v);
/* A number that is a non-negative integer fitting uint64_t: 0 or -ERANGE/-EINVAL. */
int json_number_uint64(const JsonValue *v, uint64_t *ret);

size_t json_array_size(const JsonValue *v);
const JsonValue *json_array_get(const JsonValue *v, size_t i);

size_t json_object_size(const JsonValue *v);
const JsonValue *json_object_get(const JsonValue *v, const char *key);
/* The i-th member in document order. */
const char *json_object_key_at(const JsonValue *v, size_t i);
const JsonValue *json_object_value_at(const JsonValue *v, size_t i);

/* Builders, for output. Each returns NULL on allocation failure. */
JsonValue *json_new_null(void);
JsonValue *json_new_boolean(bool b);
JsonValue *json_new_uint64(uint64_t u);
JsonValue *json_new_int64(int64_t i);
JsonValue *json_new_double(double d);          /* non-finite values become null */
JsonValue *json_new_string(const char *s);     /* copied; NULL gives null */
JsonValue *json_new_string_len(const char *s, size_t n);
JsonValue *json_new_array(void);
JsonValue *json_new_object(void);

/* Take ownership of value (freed on failure too): 0 or -ENOMEM/-EINVAL.
 * json_object_set replaces an existing member of the same key. */
int json_array_append(JsonValue *array, JsonValue *value);
int json_object_set(JsonValue *object, const char *key, JsonValue *value);

/* Serializes compactly (pretty=false) or with two-space indentation. Strings
 * are written with \uXXXX escapes for control characters; invalid UTF-8 (from
 * a builder) is replaced by U+FFFD, so the output is always valid JSON. */
int json_format(FILE *f, const JsonValue *v, bool pretty);
