/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <time.h>

#include "time-util.h"

usec_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / NSEC_PER_USEC;
}

usec_t deadline_in(usec_t timeout) {
        usec_t n = now_usec();

        if (timeout == USEC_INFINITY || timeout > USEC_INFINITY - n)
                return USEC_INFINITY;
        return n + timeout;
}

int deadline_to_poll_ms(usec_t deadline) {
        usec_t n, left;

        if (deadline == USEC_INFINITY)
                return -1;
        n = now_usec();
        if (n >= deadline)
                return 0;
        left = deadline - n;
        if (left > (usec_t) 0x7fffffff * USEC_PER_MSEC)
                return 0x7fffffff;
        return (int) ((left + USEC_PER_MSEC - 1) / USEC_PER_MSEC);
}

void sleep_usec(usec_t t) {
        struct timespec ts = {
                .tv_sec = (time_t) (t / USEC_PER_SEC),
                .tv_nsec = (long) ((t % USEC_PER_SEC) * NSEC_PER_USEC),
        };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}
