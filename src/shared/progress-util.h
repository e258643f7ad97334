/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one progress throttle: while data moves, progress is reported at least
 * every PROGRESS_STEP bytes (the API's promise: a Progress signal at least
 * every 64 KiB written) and not much more often. The flash layer splits its
 * reports to that size; the job posts the fewest that keep the promise. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define PROGRESS_STEP (64u * 1024u)

/* The next count to report on the way from `reported` to `done`: at most
 * PROGRESS_STEP further. */
static inline uint64_t progress_next(uint64_t reported, uint64_t done) {
        return done - reported > PROGRESS_STEP ? reported + PROGRESS_STEP : done;
}

/* Whether `done` must be posted now, the last post having been at `posted` and
 * the latest advance `step` bytes: one more advance like it could carry the
 * count more than PROGRESS_STEP past the last post. */
static inline bool progress_due(uint64_t posted, uint64_t done, uint64_t step) {
        return done - posted + step > PROGRESS_STEP;
}
