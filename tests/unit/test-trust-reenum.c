/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The re-enumeration window: a remove after our own reset (or during our own
 * job) is excused until the window ends; the same identity back in time keeps
 * trust, late or never does not; one reset excuses one removal. */

#include <assert.h>
#include <string.h>

#include "macro.h"
#include "trust-reenum.h"

#define ID_A "usb:303a:4001:A"
#define ID_B "usb:303a:4001:B"
#define T0 ((usec_t) 1000 * USEC_PER_SEC)
#define W TRUST_REENUM_WINDOW_USEC

typedef struct Expired {
        unsigned n;
        char last[64];
} Expired;

static void on_expired(const char *identity, void *userdata) {
        Expired *e = userdata;

        e->n++;
        assert(strlen(identity) < sizeof(e->last));
        strcpy(e->last, identity);
}

static void test_no_reset_no_excuse(void) {
        ReenumTable *t = reenum_table_new();
        Expired e = {};

        assert(t);
        assert(!reenum_on_remove(t, ID_A, T0, false));
        assert(reenum_on_add(t, ID_A, T0 + 1) == REENUM_NOT_PENDING);
        assert(reenum_expire(t, T0 + 10 * W, on_expired, &e) == USEC_INFINITY);
        assert(e.n == 0);
        reenum_table_free(t);
}

static void test_back_in_time(void) {
        ReenumTable *t = reenum_table_new();
        Expired e = {};

        assert(reenum_note_reset(t, ID_A, T0) == 0);
        assert(reenum_on_remove(t, ID_A, T0 + 100, false));
        /* The timer goes off at the end of the window. */
        assert(reenum_expire(t, T0 + 200, on_expired, &e) == T0 + W);
        assert(reenum_on_add(t, ID_A, T0 + W) == REENUM_RETURNED);
        assert(reenum_expire(t, T0 + 2 * W, on_expired, &e) == USEC_INFINITY);
        assert(e.n == 0);
        /* The reset was used up: the next removal is a removal. */
        assert(!reenum_on_remove(t, ID_A, T0 + W + 1, false));
        reenum_table_free(t);
}

static void test_never_back(void) {
        ReenumTable *t = reenum_table_new();
        Expired e = {};

        assert(reenum_note_reset(t, ID_A, T0) == 0);
        assert(reenum_on_remove(t, ID_A, T0 + 1, false));
        assert(reenum_expire(t, T0 + W + 1, on_expired, &e) == USEC_INFINITY);
        assert(e.n == 1 && strcmp(e.last, ID_A) == 0);
        /* Coming back after that is an ordinary add. */
        assert(reenum_on_add(t, ID_A, T0 + W + 2) == REENUM_NOT_PENDING);
        reenum_table_free(t);
}

static void test_late(void) {
        ReenumTable *t = reenum_table_new();

        /* The timer has not run yet, but the window is over. */
        assert(reenum_note_reset(t, ID_A, T0) == 0);
        assert(reenum_on_remove(t, ID_A, T0 + 1, false));
        assert(reenum_on_add(t, ID_A, T0 + W + 1) == REENUM_LATE);
        reenum_table_free(t);
}

static void test_remove_long_after_reset(void) {
        ReenumTable *t = reenum_table_new();

        assert(reenum_note_reset(t, ID_A, T0) == 0);
        assert(!reenum_on_remove(t, ID_A, T0 + W + 1, false));
        assert(reenum_on_add(t, ID_A, T0 + W + 2) == REENUM_NOT_PENDING);
        reenum_table_free(t);
}

static void test_during_own_job(void) {
        ReenumTable *t = reenum_table_new();
        Expired e = {};

        /* The reset is under way, its job not finished: the window starts now. */
        assert(reenum_on_remove(t, ID_B, T0, true));
        assert(reenum_expire(t, T0, on_expired, &e) == T0 + W);
        assert(reenum_on_add(t, ID_B, T0 + 1) == REENUM_RETURNED);
        reenum_table_free(t);
}

static void test_devices_are_independent(void) {
        ReenumTable *t = reenum_table_new();
        Expired e = {};

        assert(reenum_note_reset(t, ID_A, T0) == 0);
        assert(!reenum_on_remove(t, ID_B, T0 + 1, false));
        assert(reenum_on_remove(t, ID_A, T0 + 2, false));
        assert(reenum_on_add(t, ID_B, T0 + 3) == REENUM_NOT_PENDING);
        assert(reenum_expire(t, T0 + W + 3, on_expired, &e) == USEC_INFINITY);
        assert(e.n == 1 && strcmp(e.last, ID_A) == 0);
        reenum_table_free(t);
}

int main(void) {
        test_no_reset_no_excuse();
        test_back_in_time();
        test_never_back();
        test_late();
        test_remove_long_after_reset();
        test_during_own_job();
        test_devices_are_independent();
        assert(!reenum_table_free(NULL));
        return 0;
}
