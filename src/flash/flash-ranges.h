/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A set of flash byte ranges: what a deploy's writes may have changed and no
 * MD5 has proven since (writes add their footprint, proofs take away what they
 * proved; what is left of the image must be proven before trust), or what its
 * MD5s proved erased. Pure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct FlashRange {
        uint64_t start, end;            /* [start, end) */
} FlashRange;

typedef struct FlashRanges {
        FlashRange *v;                  /* sorted, disjoint, not adjacent */
        size_t n;
} FlashRanges;

void flash_ranges_done(FlashRanges *s);
/* -ENOMEM; empty ranges are ignored. */
int flash_ranges_add(FlashRanges *s, uint64_t start, uint64_t end);
int flash_ranges_remove(FlashRanges *s, uint64_t start, uint64_t end);
/* The first part of the set inside [start, end), as *ret; 0 if there is none. */
int flash_ranges_first_in(const FlashRanges *s, uint64_t start, uint64_t end, FlashRange *ret);
/* Whether every byte of [start, end) is in the set (s may be NULL: empty). */
bool flash_ranges_covers(const FlashRanges *s, uint64_t start, uint64_t end);
