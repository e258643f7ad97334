/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Monotonic time in microseconds, and deadlines built from it. Every blocking
 * call in the protocol stack takes an absolute deadline, never a relative timeout. */
#pragma once

#include <stdint.h>

typedef uint64_t usec_t;

#define USEC_INFINITY ((usec_t) UINT64_MAX)
#define USEC_PER_SEC ((usec_t) 1000000ULL)
#define USEC_PER_MSEC ((usec_t) 1000ULL)
#define NSEC_PER_USEC ((uint64_t) 1000ULL)

usec_t now_usec(void);                   /* CLOCK_MONOTONIC */
usec_t deadline_in(usec_t timeout);      /* now + timeout, saturating */
/* Milliseconds left until deadline for poll(): -1 for infinity, 0 if passed. */
int deadline_to_poll_ms(usec_t deadline);
void sleep_usec(usec_t t);
