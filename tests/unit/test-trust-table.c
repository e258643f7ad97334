/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The trust table: its transitions (set, same image again, replaced, every
 * invalidation reason), the change callback and its re-entrancy, the stable
 * reason strings, and independence of devices. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "macro.h"
#include "trust-table.h"

typedef struct Recorder {
        unsigned calls;
        char last_id[64];
        TrustEntry last;
        TrustEntry seen_inside;   /* trust_table_get() from inside the callback */
} Recorder;

static void on_change(TrustTable *t, const char *device_id, const TrustEntry *e, void *userdata) {
        Recorder *r = userdata;

        r->calls++;
        assert(strlen(device_id) < sizeof(r->last_id));
        strcpy(r->last_id, device_id);
        r->last = *e;
        /* Re-entrant: the table is consistent when it calls us. */
        r->seen_inside = trust_table_get(t, device_id);
}

static usec_t realtime_now(void) {
        struct timespec ts;

        assert(clock_gettime(CLOCK_REALTIME, &ts) == 0);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

static void hash_fill(uint8_t h[TRUST_HASH_SIZE], uint8_t v) {
        memset(h, v, TRUST_HASH_SIZE);
}

static void test_strings(void) {
        static const struct {
                TrustInvalidation r;
                const char *s;
        } table[] = {
                { TRUST_INVALIDATION_NONE, "" },
                { TRUST_INVALIDATION_SERVICE_START, "service-start" },
                { TRUST_INVALIDATION_WRITE_FAILED, "write-failed" },
                { TRUST_INVALIDATION_CANCELLED, "cancelled" },
                { TRUST_INVALIDATION_FORGOTTEN, "forgotten" },
                { TRUST_INVALIDATION_REPLACED, "replaced" },
                { TRUST_INVALIDATION_DEVICE_REMOVED, "device-removed" },
                { TRUST_INVALIDATION_FOREIGN_OPEN, "foreign-open" },
                { TRUST_INVALIDATION_REENUMERATED, "re-enumerated" },
        };

        assert(ELEMENTSOF(table) == _TRUST_INVALIDATION_MAX);
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                assert(strcmp(trust_invalidation_to_string(table[i].r), table[i].s) == 0);
        assert(trust_invalidation_to_string(_TRUST_INVALIDATION_MAX) == NULL);
        assert(trust_invalidation_to_string(_TRUST_INVALIDATION_INVALID) == NULL);
}

static void test_unknown_device(void) {
        TrustTable *t = trust_table_new(NULL, NULL);
        uint8_t h[TRUST_HASH_SIZE];
        TrustEntry e;

        assert(t);
        hash_fill(h, 1);
        e = trust_table_get(t, "nobody");
        assert(!e.trusted);
        assert(e.since_usec == 0);
        assert(e.last_invalidation == TRUST_INVALIDATION_SERVICE_START);
        assert(!trust_table_matches(t, "nobody", h));
        trust_table_free(t);
}

static void test_transitions(void) {
        Recorder rec = {};
        TrustTable *t = trust_table_new(on_change, &rec);
        uint8_t a[TRUST_HASH_SIZE], b[TRUST_HASH_SIZE], zero[TRUST_HASH_SIZE] = {};
        usec_t before, after, since;
        TrustEntry e;

        hash_fill(a, 0xaa);
        hash_fill(b, 0xbb);

        /* Untrusted → trusted(a). */
        before = realtime_now();
        assert(trust_table_set(t, "dev", a) == 1);
        after = realtime_now();
        assert(rec.calls == 1);
        assert(strcmp(rec.last_id, "dev") == 0);
        assert(rec.last.trusted && memcmp(rec.last.image_sha256, a, TRUST_HASH_SIZE) == 0);
        assert(rec.last.since_usec >= before && rec.last.since_usec <= after);
        assert(rec.last.last_invalidation == TRUST_INVALIDATION_SERVICE_START);
        assert(rec.seen_inside.trusted);
        assert(trust_table_matches(t, "dev", a));
        assert(!trust_table_matches(t, "dev", b));
        since = rec.last.since_usec;

        /* The same image again: no change, and "since" keeps the older moment. */
        assert(trust_table_set(t, "dev", a) == 0);
        assert(rec.calls == 1);
        assert(trust_table_get(t, "dev").since_usec == since);

        /* Another image replaces it. */
        assert(trust_table_set(t, "dev", b) == 1);
        assert(rec.calls == 2);
        e = trust_table_get(t, "dev");
        assert(e.trusted && memcmp(e.image_sha256, b, TRUST_HASH_SIZE) == 0);
        assert(e.since_usec >= since);
        assert(e.last_invalidation == TRUST_INVALIDATION_REPLACED);
        assert(!trust_table_matches(t, "dev", a));

        /* Every reason drops trust, with a callback, and is remembered. */
        for (TrustInvalidation r = TRUST_INVALIDATION_WRITE_FAILED; r < _TRUST_INVALIDATION_MAX; r++) {
                unsigned calls;

                assert(trust_table_set(t, "dev", a) == 1);
                calls = rec.calls;
                assert(trust_table_invalidate(t, "dev", r) == 1);
                assert(rec.calls == calls + 1);
                assert(!rec.last.trusted);
                assert(!rec.seen_inside.trusted);
                assert(rec.last.last_invalidation == r);
                assert(rec.last.since_usec == 0);
                assert(memcmp(rec.last.image_sha256, zero, TRUST_HASH_SIZE) == 0);
                assert(!trust_table_matches(t, "dev", a));
        }

        /* Already untrusted: the reason is recorded, but nothing is signalled. */
        {
                unsigned calls = rec.calls;

                assert(trust_table_invalidate(t, "dev", TRUST_INVALIDATION_CANCELLED) == 0);
                assert(rec.calls == calls);
                assert(trust_table_get(t, "dev").last_invalidation == TRUST_INVALIDATION_CANCELLED);

                /* Also for a device never seen before. */
                assert(trust_table_invalidate(t, "fresh", TRUST_INVALIDATION_WRITE_FAILED) == 0);
                assert(rec.calls == calls);
                e = trust_table_get(t, "fresh");
                assert(!e.trusted && e.last_invalidation == TRUST_INVALIDATION_WRITE_FAILED);
        }

        /* Trust again after a loss keeps the loss's reason until the next loss. */
        assert(trust_table_set(t, "dev", a) == 1);
        assert(trust_table_get(t, "dev").last_invalidation == TRUST_INVALIDATION_CANCELLED);

        trust_table_free(t);
}

static void test_devices_independent(void) {
        Recorder rec = {};
        TrustTable *t = trust_table_new(on_change, &rec);
        uint8_t a[TRUST_HASH_SIZE];
        char id[32];

        hash_fill(a, 0x11);
        /* Enough devices to make the table grow several times. */
        for (int i = 0; i < 40; i++) {
                snprintf(id, sizeof(id), "usb:10c4:ea60:%02d", i);
                assert(trust_table_set(t, id, a) == 1);
        }
        assert(trust_table_invalidate(t, "usb:10c4:ea60:07", TRUST_INVALIDATION_FOREIGN_OPEN) == 1);
        for (int i = 0; i < 40; i++) {
                snprintf(id, sizeof(id), "usb:10c4:ea60:%02d", i);
                assert(trust_table_matches(t, id, a) == (i != 7));
        }
        assert(rec.calls == 41);
        trust_table_free(t);
}

static void test_invalid_arguments(void) {
        TrustTable *t = trust_table_new(NULL, NULL);
        uint8_t a[TRUST_HASH_SIZE] = {};

        assert(trust_table_set(t, NULL, a) == -EINVAL);
        assert(trust_table_set(NULL, "x", a) == -EINVAL);
        assert(trust_table_invalidate(t, "x", _TRUST_INVALIDATION_MAX) == -EINVAL);
        assert(trust_table_invalidate(t, "x", _TRUST_INVALIDATION_INVALID) == -EINVAL);
        assert(!trust_table_matches(t, NULL, a));
        assert(!trust_table_get(t, NULL).trusted);
        trust_table_free(t);
        assert(trust_table_free(NULL) == NULL);
}

int main(void) {
        test_strings();
        test_unknown_device();
        test_transitions();
        test_devices_independent();
        test_invalid_arguments();
        return 0;
}
