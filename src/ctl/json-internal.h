/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The JSON value tree's layout, shared by the tree code (json.c) and the
 * parser (json-parse.c) and nothing else. */
#pragma once

#include "json.h"

typedef struct JsonMember {
        char *key;
        JsonValue *value;
} JsonMember;

struct JsonValue {
        JsonType type;
        union {
                bool boolean;
                char *text;                     /* JSON_NUMBER as written, JSON_STRING decoded */
                struct {
                        JsonValue **items;
                        size_t n, allocated;
                } array;
                struct {
                        JsonMember *members;
                        size_t n, allocated;
                } object;
        };
};

JsonValue *json_value_new(JsonType type);
/* Append without the duplicate-key check (the parser checks all keys at once). */
int json_object_append(JsonValue *object, char *key, JsonValue *value);
