/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The bounded window in which a device may re-enumerate after our own reset
 * and keep its trust. A handful of boards: a small array. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "string-util.h"
#include "trust-reenum.h"

typedef struct ReenumEntry {
        char *identity;
        usec_t reset_usec;      /* our last reset of it; 0: none outstanding */
        usec_t deadline;        /* removed, expected back by then; 0: not pending */
} ReenumEntry;

struct ReenumTable {
        ReenumEntry *entries;
        size_t n;
};

ReenumTable *reenum_table_new(void) {
        return calloc(1, sizeof(ReenumTable));
}

ReenumTable *reenum_table_free(ReenumTable *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n; i++)
                free(t->entries[i].identity);
        free(t->entries);
        free(t);
        return NULL;
}

static ReenumEntry *reenum_find(ReenumTable *t, const char *identity) {
        for (size_t i = 0; i < t->n; i++)
                if (streq(t->entries[i].identity, identity))
                        return &t->entries[i];
        return NULL;
}

static int reenum_ensure(ReenumTable *t, const char *identity, ReenumEntry **ret) {
        ReenumEntry *e, *n;

        e = reenum_find(t, identity);
        if (!e) {
                n = reallocarray(t->entries, t->n + 1, sizeof(ReenumEntry));
                if (!n)
                        return -ENOMEM;
                t->entries = n;
                e = &t->entries[t->n];
                *e = (ReenumEntry) { .identity = strdup(identity) };
                if (!e->identity)
                        return -ENOMEM;
                t->n++;
        }
        *ret = e;
        return 0;
}

int reenum_note_reset(ReenumTable *t, const char *identity, usec_t now) {
        ReenumEntry *e;
        int r;

        assert(t);
        if (!identity)
                return -EINVAL;
        r = reenum_ensure(t, identity, &e);
        if (r < 0)
                return r;
        e->reset_usec = now;
        return 0;
}

bool reenum_on_remove(ReenumTable *t, const char *identity, usec_t now, bool in_own_job) {
        ReenumEntry *e;
        usec_t from;

        if (!t || !identity)
                return false;
        e = reenum_find(t, identity);
        if (e && e->reset_usec > 0 && now - e->reset_usec <= TRUST_REENUM_WINDOW_USEC)
                from = e->reset_usec;
        else if (in_own_job) {
                /* The reset may be happening right now, its job not yet finished. */
                if (!e && reenum_ensure(t, identity, &e) < 0)
                        return false;
                from = now;
        } else {
                if (e)
                        e->reset_usec = e->deadline = 0;
                return false;
        }
        e->reset_usec = 0;
        e->deadline = from + TRUST_REENUM_WINDOW_USEC;
        return true;
}

ReenumVerdict reenum_on_add(ReenumTable *t, const char *identity, usec_t now) {
        ReenumEntry *e;
        bool in_time;

        if (!t || !identity)
                return REENUM_NOT_PENDING;
        e = reenum_find(t, identity);
        if (!e || e->deadline == 0)
                return REENUM_NOT_PENDING;
        in_time = now <= e->deadline;
        e->deadline = 0;
        return in_time ? REENUM_RETURNED : REENUM_LATE;
}

usec_t reenum_expire(ReenumTable *t, usec_t now, ReenumExpiredFn expired, void *userdata) {
        usec_t next = USEC_INFINITY;

        if (!t)
                return next;
        for (size_t i = 0; i < t->n; i++) {
                ReenumEntry *e = &t->entries[i];

                if (e->deadline == 0)
                        continue;
                if (now > e->deadline) {
                        e->deadline = 0;
                        if (expired)
                                expired(e->identity, userdata);
                        continue;
                }
                next = MIN(next, e->deadline);
        }
        return next;
}
