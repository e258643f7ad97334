/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* In-memory trust: which image each device provably holds. Keyed by device
 * identity (the udev identity; a bare character device's path). Main thread
 * only. Trust never survives the service: a restart starts empty. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "time-util.h"

#define TRUST_HASH_SIZE 32

/* Why trust was last lost; stable strings for TrustState. */
typedef enum TrustInvalidation {
        TRUST_INVALIDATION_NONE,           /* "" — never trusted since start */
        TRUST_INVALIDATION_SERVICE_START,  /* "service-start" */
        TRUST_INVALIDATION_WRITE_FAILED,   /* "write-failed" */
        TRUST_INVALIDATION_CANCELLED,      /* "cancelled" */
        TRUST_INVALIDATION_FORGOTTEN,      /* "forgotten" (ForgetTrust) */
        TRUST_INVALIDATION_REPLACED,       /* "replaced": a different image was deployed */
        TRUST_INVALIDATION_DEVICE_REMOVED, /* "device-removed" (udev remove edge) */
        TRUST_INVALIDATION_FOREIGN_OPEN,   /* "foreign-open" (another process opened the tty/USB node) */
        TRUST_INVALIDATION_REENUMERATED,   /* "re-enumerated" */
        _TRUST_INVALIDATION_MAX,
        _TRUST_INVALIDATION_INVALID = -1,
} TrustInvalidation;

const char *trust_invalidation_to_string(TrustInvalidation r);

typedef struct TrustEntry {
        bool trusted;
        uint8_t image_sha256[TRUST_HASH_SIZE];
        usec_t since_usec;                 /* CLOCK_REALTIME µs when trust was set; 0 if none */
        TrustInvalidation last_invalidation;
} TrustEntry;

typedef struct TrustTable TrustTable;

/* Called after every change (the bus layer emits TrustChanged from it). */
typedef void (*TrustChangedFn)(TrustTable *t, const char *device_id, const TrustEntry *e,
                               void *userdata);

TrustTable *trust_table_new(TrustChangedFn on_change, void *userdata);
TrustTable *trust_table_free(TrustTable *t);

/* Never fails for an unknown id: returns an untrusted entry with reason
 * "service-start". */
TrustEntry trust_table_get(TrustTable *t, const char *device_id);
/* Whether the table holds a record for device_id (trusted or not). */
bool trust_table_contains(TrustTable *t, const char *device_id);
bool trust_table_matches(TrustTable *t, const char *device_id, const uint8_t sha256[TRUST_HASH_SIZE]);
/* Returns 1 if trust changed (callback called), 0 if the device already trusted
 * this image (since_usec is kept). Replacing another trusted image records
 * "replaced" as the last invalidation. */
int trust_table_set(TrustTable *t, const char *device_id, const uint8_t sha256[TRUST_HASH_SIZE]);
/* No-op (no signal) if the device is not trusted, except that the reason is
 * recorded. Returns 1 if trust was dropped, else 0. */
int trust_table_invalidate(TrustTable *t, const char *device_id, TrustInvalidation reason);
