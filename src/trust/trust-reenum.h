/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Re-enumeration after the service's own reset (USB-OTG / TinyUSB CDC boards
 * drop off the bus and come back): a remove that follows our reset is excused
 * only if the same identity returns within TRUST_REENUM_WINDOW_USEC. Pure:
 * the caller passes monotonic time and acts on the verdicts. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "time-util.h"

#define TRUST_REENUM_WINDOW_USEC (3 * USEC_PER_SEC)

typedef struct ReenumTable ReenumTable;

typedef enum ReenumVerdict {
        REENUM_NOT_PENDING,     /* an add nobody waited for */
        REENUM_RETURNED,        /* came back in time after our reset: trust stays */
        REENUM_LATE,            /* came back, but after the window: "re-enumerated" */
} ReenumVerdict;

ReenumTable *reenum_table_new(void);
ReenumTable *reenum_table_free(ReenumTable *t);

/* The service has just reset the device into its application. */
int reenum_note_reset(ReenumTable *t, const char *identity, usec_t now);
/* The device left. in_own_job: a job of ours holds its port (its reset may be
 * what is happening). Returns true if the removal is excused for now (a
 * re-enumeration is expected; the window runs), false if trust must go. One
 * reset excuses one removal. */
bool reenum_on_remove(ReenumTable *t, const char *identity, usec_t now, bool in_own_job);
ReenumVerdict reenum_on_add(ReenumTable *t, const char *identity, usec_t now);
/* Calls expired(identity) for every removal whose window has passed without a
 * return (and forgets it); returns the earliest deadline still pending, or
 * USEC_INFINITY. */
typedef void (*ReenumExpiredFn)(const char *identity, void *userdata);
usec_t reenum_expire(ReenumTable *t, usec_t now, ReenumExpiredFn expired, void *userdata);
