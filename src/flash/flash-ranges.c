/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A sorted set of disjoint byte ranges with add, remove and a lookup of the
 * first part inside a window. Sets stay small (a few ranges per deploy), so
 * every change rebuilds the array. */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "flash-ranges.h"
#include "macro.h"

void flash_ranges_done(FlashRanges *s) {
        if (!s)
                return;
        free(s->v);
        *s = (FlashRanges) {};
}

/* The set with [start, end) added (add) or taken away (!add). */
static int ranges_apply(FlashRanges *s, uint64_t start, uint64_t end, bool add) {
        _cleanup_free_ FlashRange *v = NULL;
        size_t n = 0;

        assert(s);
        if (start >= end)
                return 0;

        /* at most one more range than before (a removal splits one in two) */
        v = calloc(s->n + 2, sizeof(FlashRange));
        if (!v)
                return -ENOMEM;

        for (size_t i = 0; i < s->n; i++) {
                FlashRange r = s->v[i];

                if (add) {
                        if (r.end < start || r.start > end) {
                                v[n++] = r;
                                continue;
                        }
                        /* overlapping or adjacent: merge into the new range */
                        start = MIN(start, r.start);
                        end = MAX(end, r.end);
                        continue;
                }
                if (r.end <= start || r.start >= end) {
                        v[n++] = r;
                        continue;
                }
                if (r.start < start)
                        v[n++] = (FlashRange) { r.start, start };
                if (r.end > end)
                        v[n++] = (FlashRange) { end, r.end };
        }
        if (add) {
                size_t k = n;

                while (k > 0 && v[k - 1].start > start) {
                        v[k] = v[k - 1];
                        k--;
                }
                v[k] = (FlashRange) { start, end };
                n++;
        }

        free(s->v);
        s->v = n > 0 ? TAKE_PTR(v) : NULL;
        s->n = n;
        return 0;
}

int flash_ranges_add(FlashRanges *s, uint64_t start, uint64_t end) {
        return ranges_apply(s, start, end, true);
}

int flash_ranges_remove(FlashRanges *s, uint64_t start, uint64_t end) {
        return ranges_apply(s, start, end, false);
}

int flash_ranges_first_in(const FlashRanges *s, uint64_t start, uint64_t end, FlashRange *ret) {
        assert(s && ret);
        for (size_t i = 0; i < s->n; i++) {
                uint64_t a = MAX(s->v[i].start, start), b = MIN(s->v[i].end, end);

                if (a < b) {
                        *ret = (FlashRange) { a, b };
                        return 1;
                }
        }
        return 0;
}

bool flash_ranges_covers(const FlashRanges *s, uint64_t start, uint64_t end) {
        if (start >= end)
                return true;
        if (!s)
                return false;
        /* disjoint and never adjacent: one range holds all of it, or none does */
        for (size_t i = 0; i < s->n; i++)
                if (s->v[i].start <= start && end <= s->v[i].end)
                        return true;
        return false;
}
