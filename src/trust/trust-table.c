/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The trust table: per device identity, the image it provably holds, since when,
 * and why trust was last lost. A small array: a host has a handful of boards. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "macro.h"
#include "string-util.h"
#include "trust-table.h"

typedef struct TrustRecord {
        char *device_id;
        TrustEntry entry;
} TrustRecord;

struct TrustTable {
        TrustRecord **records;   /* pointers, so a record survives the array growing */
        size_t n_records;
        TrustChangedFn on_change;
        void *userdata;
};

static const char *const trust_invalidation_table[_TRUST_INVALIDATION_MAX] = {
        [TRUST_INVALIDATION_NONE] = "",
        [TRUST_INVALIDATION_SERVICE_START] = "service-start",
        [TRUST_INVALIDATION_WRITE_FAILED] = "write-failed",
        [TRUST_INVALIDATION_CANCELLED] = "cancelled",
        [TRUST_INVALIDATION_FORGOTTEN] = "forgotten",
        [TRUST_INVALIDATION_REPLACED] = "replaced",
        [TRUST_INVALIDATION_DEVICE_REMOVED] = "device-removed",
        [TRUST_INVALIDATION_FOREIGN_OPEN] = "foreign-open",
        [TRUST_INVALIDATION_REENUMERATED] = "re-enumerated",
};

DEFINE_STRING_TABLE_LOOKUP_TO_STRING(trust_invalidation, TrustInvalidation);

/* "since" is shown to people and compared across restarts of clients: wall clock. */
static usec_t realtime_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / NSEC_PER_USEC;
}

static const TrustEntry untrusted_entry = {
        .trusted = false,
        .since_usec = 0,
        .last_invalidation = TRUST_INVALIDATION_SERVICE_START,
};

TrustTable *trust_table_new(TrustChangedFn on_change, void *userdata) {
        TrustTable *t;

        t = calloc(1, sizeof(*t));
        if (!t)
                return NULL;
        t->on_change = on_change;
        t->userdata = userdata;
        return t;
}

TrustTable *trust_table_free(TrustTable *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_records; i++) {
                free(t->records[i]->device_id);
                free(t->records[i]);
        }
        free(t->records);
        free(t);
        return NULL;
}

static TrustRecord *trust_table_find(TrustTable *t, const char *device_id) {
        for (size_t i = 0; i < t->n_records; i++)
                if (streq(t->records[i]->device_id, device_id))
                        return t->records[i];
        return NULL;
}

bool trust_table_contains(TrustTable *t, const char *device_id) {
        return t && device_id && trust_table_find(t, device_id);
}

static int trust_table_ensure(TrustTable *t, const char *device_id, TrustRecord **ret) {
        _cleanup_free_ TrustRecord *rec = NULL;
        TrustRecord **n;

        rec = trust_table_find(t, device_id);
        if (rec) {
                *ret = TAKE_PTR(rec);
                return 0;
        }

        rec = calloc(1, sizeof(*rec));
        if (!rec)
                return -ENOMEM;
        rec->device_id = strdup(device_id);
        if (!rec->device_id)
                return -ENOMEM;
        rec->entry = untrusted_entry;

        n = reallocarray(t->records, t->n_records + 1, sizeof(TrustRecord *));
        if (!n) {
                free(rec->device_id);
                return -ENOMEM;
        }
        t->records = n;
        t->records[t->n_records++] = rec;
        *ret = TAKE_PTR(rec);
        return 0;
}

/* The callback gets a copy of the entry: it may well call back into the table.
 * Records are never removed, so the id string stays valid. */
static void trust_table_notify(TrustTable *t, const TrustRecord *rec) {
        TrustEntry copy = rec->entry;

        if (t->on_change)
                t->on_change(t, rec->device_id, &copy, t->userdata);
}

TrustEntry trust_table_get(TrustTable *t, const char *device_id) {
        TrustRecord *rec;

        if (!t || !device_id)
                return untrusted_entry;
        rec = trust_table_find(t, device_id);
        return rec ? rec->entry : untrusted_entry;
}

bool trust_table_matches(TrustTable *t, const char *device_id, const uint8_t sha256[TRUST_HASH_SIZE]) {
        TrustRecord *rec;

        if (!t || !device_id || !sha256)
                return false;
        rec = trust_table_find(t, device_id);
        return rec && rec->entry.trusted &&
               memcmp(rec->entry.image_sha256, sha256, TRUST_HASH_SIZE) == 0;
}

int trust_table_set(TrustTable *t, const char *device_id, const uint8_t sha256[TRUST_HASH_SIZE]) {
        TrustRecord *rec;
        int r;

        if (!t || !device_id || !sha256)
                return -EINVAL;

        r = trust_table_ensure(t, device_id, &rec);
        if (r < 0)
                return r;

        /* The same image again: it has been held since the earlier moment. */
        if (rec->entry.trusted && memcmp(rec->entry.image_sha256, sha256, TRUST_HASH_SIZE) == 0)
                return 0;

        /* Trust in the previous image ended because another replaced it. */
        if (rec->entry.trusted)
                rec->entry.last_invalidation = TRUST_INVALIDATION_REPLACED;
        rec->entry.trusted = true;
        memcpy(rec->entry.image_sha256, sha256, TRUST_HASH_SIZE);
        rec->entry.since_usec = realtime_usec();
        trust_table_notify(t, rec);
        return 1;
}

int trust_table_invalidate(TrustTable *t, const char *device_id, TrustInvalidation reason) {
        TrustRecord *rec;
        int r;

        assert(t);
        if (!device_id || reason < 0 || reason >= _TRUST_INVALIDATION_MAX)
                return -EINVAL;

        r = trust_table_ensure(t, device_id, &rec);
        if (r < 0)
                return r;

        rec->entry.last_invalidation = reason;
        if (!rec->entry.trusted)
                return 0;

        rec->entry.trusted = false;
        memset(rec->entry.image_sha256, 0, TRUST_HASH_SIZE);
        rec->entry.since_usec = 0;
        trust_table_notify(t, rec);
        return 1;
}
