/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* String helpers every layer may use (streq() rather than strcmp() == 0), and
 * the string table behind each enum's foo_to_string()/foo_from_string(). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "macro.h"

#define streq(a, b) (strcmp((a), (b)) == 0)
static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return streq(a, b);
}
static inline const char *strempty(const char *s) {
        return s ?: "";
}
/* For messages: never print "(null)". */
static inline const char *strna(const char *s) {
        return s ?: "n/a";
}

static inline bool startswith(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}
/* path is dir itself or lies below it ("/tmp" covers "/tmp/x", not "/tmpx"). */
static inline bool path_is_under(const char *path, const char *dir) {
        size_t n = strlen(dir);

        return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static inline bool str_in_set_internal(const char *s, const char *const *set) {
        for (; *set; set++)
                if (streq_ptr(s, *set))
                        return true;
        return false;
}
#define STR_IN_SET(s, ...) str_in_set_internal((s), (const char *const[]) { __VA_ARGS__, NULL })

/* Given `static const char *const name##_table[_MAX] = { [FOO] = "foo", … };`,
 * defines name##_to_string(type) (NULL out of range) and, with _FROM_STRING,
 * name##_from_string(const char *) (-1, i.e. _FOO_INVALID, if unknown). */
#define DEFINE_STRING_TABLE_LOOKUP_TO_STRING(name, type)                        \
        const char *name##_to_string(type i) {                                  \
                if ((int) i < 0 || (size_t) i >= ELEMENTSOF(name##_table))      \
                        return NULL;                                            \
                return name##_table[i];                                         \
        }
#define DEFINE_STRING_TABLE_LOOKUP_FROM_STRING(name, type)                      \
        type name##_from_string(const char *s) {                                \
                if (!s)                                                         \
                        return (type) -1;                                       \
                for (size_t i = 0; i < ELEMENTSOF(name##_table); i++)           \
                        if (streq_ptr(name##_table[i], s))                      \
                                return (type) i;                                \
                return (type) -1;                                               \
        }
#define DEFINE_STRING_TABLE_LOOKUP(name, type)                                  \
        DEFINE_STRING_TABLE_LOOKUP_TO_STRING(name, type)                        \
        DEFINE_STRING_TABLE_LOOKUP_FROM_STRING(name, type)
