/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sector-diff planner against a fake chip that is just a bitmap of changed
 * sectors: which probes it asks for, when it gives up, which runs it writes;
 * plus the cost model's boundaries and run merging. */
#undef NDEBUG
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flash-plan.h"
#include "flash-ranges.h"
#include "flash-sentinel.h"
#include "macro.h"

#define S FLASH_PLAN_SECTOR_SIZE
#define MAX_SECTORS 512

/* Runs the planner to the end; the fake chip says a range changed if any of
 * its sectors is in changed[]. */
static void plan(const FlashCostModel *m, uint32_t offset, uint32_t size, const bool *changed,
                 FlashRun **ret_runs, size_t *ret_n, FlashPlanStats *ret_stats) {
        _cleanup_(flash_planner_freep) FlashPlanner *p = NULL;
        uint32_t off, len;
        int r;

        assert(flash_planner_new(m, offset, size, &p) == 0);
        if (offset % S == 0)    /* an unaligned region is planned whole at once */
                assert(flash_planner_runs(p, ret_runs, ret_n) == -EBUSY);
        while ((r = flash_planner_next(p, &off, &len)) > 0) {
                bool c = false;

                assert(off >= offset && (uint64_t) off + len <= (uint64_t) offset + size);
                assert(len > 0);
                assert(flash_planner_next(p, &off, &len) == -EBUSY);
                for (uint32_t s = (off - offset) / S; s < DIV_ROUND_UP(off - offset + len, S); s++)
                        c = c || changed[s];
                assert(flash_planner_feed(p, c) == 0);
        }
        assert(r == 0);
        assert(flash_planner_feed(p, true) == -EINVAL);
        assert(flash_planner_runs(p, ret_runs, ret_n) == 0);
        *ret_stats = *flash_planner_stats(p);
}

/* Every changed sector is inside a run, runs are sorted, disjoint and inside the region. */
static void assert_covers(uint32_t offset, uint32_t size, const bool *changed, const FlashRun *runs, size_t n) {
        for (size_t i = 0; i < n; i++) {
                assert(runs[i].size > 0);
                assert(runs[i].offset >= offset);
                assert((uint64_t) runs[i].offset + runs[i].size <= (uint64_t) offset + size);
                if (i > 0)
                        assert(runs[i - 1].offset + runs[i - 1].size < runs[i].offset);
        }
        for (uint32_t s = 0; s < DIV_ROUND_UP(size, S); s++) {
                uint32_t a = offset + s * S;
                bool in = false;

                if (!changed[s])
                        continue;
                for (size_t i = 0; i < n; i++)
                        in = in || (a >= runs[i].offset && a < runs[i].offset + runs[i].size);
                assert(in);
        }
}

typedef struct PlanCase {
        const char *name;
        uint32_t offset, size;
        int changed[8];                 /* sector indices; -1 ends */
        int changed_from;               /* every sector from here on changed; -1: none */
        /* expectations */
        size_t n_runs;
        FlashRun runs[4];               /* relative to offset; checked if n_runs <= 4 */
        size_t max_probes;
        bool gave_up;
} PlanCase;

static const PlanCase plan_cases[] = {
        { "one sector in 1 MiB", 0x10000, 0x100000, { 100, -1 }, -1,
          1, { { 100 * S, S } }, 16 + 16, false },
        { "one sector in the first block", 0x10000, 0x100000, { 3, -1 }, -1,
          1, { { 3 * S, S } }, 16 + 16, false },
        { "last sector, inferred", 0x10000, 0x100000, { 255, -1 }, -1,
          1, { { 255 * S, S } }, 15 + 15, false },
        { "scattered", 0x10000, 0x100000, { 5, 40, 41, 200, -1 }, -1,
          3, { { 5 * S, S }, { 40 * S, 2 * S }, { 200 * S, S } }, 16 + 3 * 16, false },
        { "everything changed: give up", 0x10000, 0x100000, { -1 }, 0,
          1, { { 0, 0x100000 } }, 2 + 2 * 2, true },
        { "shifted tail", 0x10000, 0x100000, { -1 }, 130,
          1, { { 130 * S, 0x100000 - 130 * S } }, 8 + 3 + 16, true },
        { "partial last sector", 0x10000, 0x80000 + 100, { 128, -1 }, -1,
          1, { { 128 * S, 100 } }, 9 + 1, false },
        { "small region, one block", 0x8000, 0x1000, { 0, -1 }, -1,
          1, { { 0, 0x1000 } }, 0, false },
        { "bootloader-sized, unaligned blocks", 0x1000, 0x6800, { 2, -1 }, -1,
          1, { { 2 * S, S } }, 7, false },
        { "unaligned start: whole", 0x10100, 0x20000, { 3, -1 }, -1,
          1, { { 0, 0x20000 } }, 0, false },
};

static void test_plan_cases(void) {
        FlashCostModel m;

        flash_cost_model_init(&m, 921600, 1000, false);

        for (size_t c = 0; c < ELEMENTSOF(plan_cases); c++) {
                const PlanCase *t = &plan_cases[c];
                _cleanup_free_ FlashRun *runs = NULL;
                bool changed[MAX_SECTORS] = {};
                FlashPlanStats st;
                size_t n = 0, n_sectors = DIV_ROUND_UP(t->size, S);

                assert(n_sectors <= MAX_SECTORS);
                for (size_t i = 0; i < ELEMENTSOF(t->changed) && t->changed[i] >= 0; i++)
                        changed[t->changed[i]] = true;
                if (t->changed_from >= 0)
                        for (size_t i = (size_t) t->changed_from; i < n_sectors; i++)
                                changed[i] = true;

                plan(&m, t->offset, t->size, changed, &runs, &n, &st);
                printf("%-40s runs=%zu probes=%zu gave_up=%d\n", t->name, n, st.probes, st.gave_up);
                assert_covers(t->offset, t->size, changed, runs, n);
                assert(n == t->n_runs);
                for (size_t i = 0; i < n; i++) {
                        assert(runs[i].offset == t->offset + t->runs[i].offset);
                        assert(runs[i].size == t->runs[i].size);
                }
                assert(st.probes <= t->max_probes);
                assert(st.gave_up == t->gave_up);
        }
}

/* Probing that can never pay is not done: an on-chip MD5 so slow that one
 * probe costs more than writing what it covers. */
static void test_probe_never_pays(void) {
        _cleanup_free_ FlashRun *runs = NULL;
        bool changed[MAX_SECTORS] = { [7] = true };
        FlashCostModel m;
        FlashPlanStats st;
        size_t n;

        flash_cost_model_init(&m, 921600, 1000, true);
        m.md5_bytes_per_sec = 1000;
        plan(&m, 0x10000, 0x40000, changed, &runs, &n, &st);
        assert(st.probes == 0);
        assert(n == 1 && runs[0].offset == 0x10000 && runs[0].size == 0x40000);
}

static void test_cost_model(void) {
        FlashCostModel rom, fast;

        flash_cost_model_init(&rom, 115200, 1000, false);
        flash_cost_model_init(&fast, 921600, 1000, false);

        /* Monotonic in size and cheaper at a higher baud. */
        assert(flash_cost_write(&rom, 0, S) < flash_cost_write(&rom, 0, 2 * S));
        assert(flash_cost_write(&fast, 0, 0x10000) < flash_cost_write(&rom, 0, 0x10000));
        assert(flash_cost_write(&rom, 0, 0) == 0);
        /* An aligned 64 KiB block erases as one block (150 ms), not 16 sectors (720 ms). */
        assert(flash_cost_write(&fast, 0x10000, 0x10000) + 500 * USEC_PER_MSEC <
               flash_cost_write(&fast, 0x11000, 0x10000));
        /* A probe is much cheaper than the write it may save, at both levels. */
        assert(flash_cost_probe(&fast, 0x10000) * 10 < flash_cost_write(&fast, 0, 0x10000));
        assert(flash_cost_probe(&fast, S) * 10 < flash_cost_write(&fast, 0, S));
        /* The ROM's MD5: 2 MB/s + 0.2 ms + the round trip. */
        assert(flash_cost_probe(&fast, 2000000) >= USEC_PER_SEC + 1200);
        /* The stub hashes twice as fast. */
        flash_cost_model_init(&fast, 921600, 1000, true);
        assert(flash_cost_probe(&fast, 2000000) < 600 * USEC_PER_MSEC);

        /* An MD5 exchange puts 72 bytes on the wire with the ROM (32 hex
         * characters and 4 status bytes back), 54 with the stub: at 115200
         * that alone is 6.25 ms, beside the 0.2 ms request and the round trip. */
        flash_cost_model_init(&rom, 115200, 0, false);
        assert(flash_cost_probe(&rom, 0) == 200 + 72 * 10 * USEC_PER_SEC / 115200);
        flash_cost_model_init(&rom, 115200, 0, true);
        assert(flash_cost_probe(&rom, 0) == 200 + 54 * 10 * USEC_PER_SEC / 115200);

        /* The round trip an exchange shows is what is left of its time after
         * the wire and the hashing: the inverse of the probe's cost, whatever
         * it is (not capped), and never below 0. */
        for (usec_t rtt = 0; rtt <= 8 * USEC_PER_MSEC; rtt += 1900) {
                FlashCostModel with, without;

                flash_cost_model_init(&with, 921600, rtt, false);
                flash_cost_model_init(&without, 921600, 0, false);
                assert(flash_cost_rtt_of(&without, 0x1000, flash_cost_probe(&with, 0x1000)) == rtt);
                assert(flash_cost_rtt_of(&without, 32, flash_cost_probe(&with, 32)) == rtt);
        }
        flash_cost_model_init(&rom, 921600, 0, false);
        assert(flash_cost_rtt_of(&rom, 0x10000, 1000) == 0);
}

static FlashRun *runs_free(FlashRun *r) {
        free(r);
        return NULL;
}

static void test_merge_runs(void) {
        _cleanup_free_ FlashRun *runs = NULL;
        FlashCostModel m, slow_rtt;
        bool changed[16] = {};
        size_t n = 99;

        flash_cost_model_init(&m, 921600, 1000, false);

        /* Nothing changed: no runs. */
        assert(flash_plan_merge_runs(&m, 0x10000, 16 * S, changed, &runs, &n) == 0);
        assert(n == 0 && !runs);

        /* Adjacent sectors form one run. */
        changed[1] = changed[2] = changed[3] = true;
        assert(flash_plan_merge_runs(&m, 0x10000, 16 * S, changed, &runs, &n) == 0);
        assert(n == 1 && runs[0].offset == 0x10000 + S && runs[0].size == 3 * S);
        runs = runs_free(runs);

        /* A one-sector gap: erasing and programming it costs more than a second
         * FLASH_DEFL_BEGIN and MD5 at 1 ms round trips → two runs. */
        memset(changed, 0, sizeof(changed));
        changed[1] = changed[3] = true;
        assert(flash_plan_merge_runs(&m, 0x10000, 16 * S, changed, &runs, &n) == 0);
        assert(n == 2 && runs[0].offset == 0x10000 + S && runs[1].offset == 0x10000 + 3 * S);
        runs = runs_free(runs);

        /* … but with slow round trips, stub-sized packets and free flash, one run wins. */
        slow_rtt = m;
        slow_rtt.rtt_usec = USEC_PER_SEC;
        slow_rtt.write_block_size = 0x4000;
        slow_rtt.sector_erase_usec = slow_rtt.block_erase_usec = slow_rtt.page_program_usec = 0;
        assert(flash_plan_merge_runs(&slow_rtt, 0x10000, 16 * S, changed, &runs, &n) == 0);
        assert(n == 1 && runs[0].offset == 0x10000 + S && runs[0].size == 3 * S);
        runs = runs_free(runs);

        /* A partial last sector is clipped to the region. */
        memset(changed, 0, sizeof(changed));
        changed[15] = true;
        assert(flash_plan_merge_runs(&m, 0x10000, 15 * S + 10, changed, &runs, &n) == 0);
        assert(n == 1 && runs[0].offset == 0x10000 + 15 * S && runs[0].size == 10);

        assert(flash_plan_merge_runs(&m, 0x10000, 0, changed, &runs, &n) == -EINVAL);
}

/* Block verdicts from a block-by-block verify: only sectors are probed. */
static void test_seeded_blocks(void) {
        _cleanup_(flash_planner_freep) FlashPlanner *p = NULL;
        _cleanup_free_ FlashRun *runs = NULL;
        bool blocks[16] = { [3] = true }, wrong[15] = {};
        FlashCostModel m;
        uint32_t off, len, region = 0x10000;
        size_t n, probes = 0;
        int r;

        assert(flash_plan_n_blocks(0x10000, 0x100000) == 16);
        assert(flash_plan_n_blocks(0x1000, 0x6800) == 1);
        assert(flash_plan_n_blocks(0xF000, 0x2000) == 2);
        flash_plan_block_range(0xF000, 0x2000, 1, &off, &len);
        assert(off == 0x10000 && len == 0x1000);

        flash_cost_model_init(&m, 921600, 1000, false);
        assert(flash_planner_new(&m, region, 0x100000, &p) == 0);
        assert(flash_planner_seed_blocks(p, wrong, ELEMENTSOF(wrong)) == -EINVAL);
        assert(flash_planner_seed_blocks(p, blocks, ELEMENTSOF(blocks)) == 0);
        while ((r = flash_planner_next(p, &off, &len)) > 0) {
                /* Only sectors of block 3; sector 50 (block 3, sixth from its start
                 * at sector 48… here 0x10000 + 50 * 4 KiB) changed. */
                assert(len == S);
                assert(off >= region + 3 * 0x10000 && off < region + 4 * 0x10000);
                assert(flash_planner_feed(p, off == region + 50 * S) == 0);
                probes++;
        }
        assert(r == 0);
        assert(probes <= 16);
        assert(flash_planner_seed_blocks(p, blocks, ELEMENTSOF(blocks)) == -EBUSY);
        assert(flash_planner_runs(p, &runs, &n) == 0);
        assert(n == 1 && runs[0].offset == region + 50 * S && runs[0].size == S);
        runs = runs_free(runs);
        p = flash_planner_free(p);

        /* Most blocks changed (a new application): no probes, the region whole. */
        for (size_t b = 0; b < ELEMENTSOF(blocks); b++)
                blocks[b] = b != 4 && b != 9;
        assert(flash_planner_new(&m, region, 0x100000, &p) == 0);
        assert(flash_planner_seed_blocks(p, blocks, ELEMENTSOF(blocks)) == 0);
        assert(flash_planner_next(p, &off, &len) == 0);
        assert(flash_planner_stats(p)->gave_up && flash_planner_stats(p)->probes == 0);
        assert(flash_planner_runs(p, &runs, &n) == 0);
        /* Two unchanged blocks between written ones: cheaper to skip them. */
        assert(n == 3 && runs[0].offset == region && runs[0].size == 4 * 0x10000);
        assert(runs[2].offset + runs[2].size == region + 0x100000);
}

static void test_api_errors(void) {
        _cleanup_(flash_planner_freep) FlashPlanner *p = NULL;
        FlashCostModel m;
        uint32_t off, len;

        flash_cost_model_init(&m, 921600, 1000, false);
        assert(flash_planner_new(&m, 0, 0, &p) == -EINVAL);
        assert(flash_planner_new(&m, 0xFFFFF000u, 0x2000, &p) == -EINVAL);
        assert(flash_planner_new(&m, 0x10000, 0x20000, &p) == 0);
        assert(flash_planner_feed(p, true) == -EINVAL);
        assert(flash_planner_next(p, &off, &len) == 1);
        assert(off == 0x10000 && len == 0x10000);
}

/* The ESP32 ROM's spill: the layout's compressed head ends one sector below a
 * 32 KiB boundary so the uncompressed tail covers the spill; short writes go
 * uncompressed whole; without a spill window everything is compressed. */
static void test_spill_split(void) {
        FlashCostModel m;

        flash_cost_model_init(&m, 921600, 1000, false);
        assert(flash_plan_spill_split(&m, 0x10000, 0x1000) == 0x1000);    /* no window */
        m.spill_window = 0x8000;
        assert(flash_plan_spill_split(&m, 0x10000, 0x1000) == 0);         /* one sector: raw */
        assert(flash_plan_spill_split(&m, 0x1000, 26 * 1024) == 0);       /* a bootloader */
        for (uint64_t len = 0x8000; len <= 0x200000; len += 0x3100) {
                uint64_t head = flash_plan_spill_split(&m, 0x10000, len);

                if (head == 0)
                        continue;
                /* the head's spill, up to the next window boundary, is in the tail */
                assert(head % S == 0 && head < len);
                assert((head / m.spill_window + 1) * m.spill_window <= len);
                assert(head + S == len / m.spill_window * m.spill_window);
        }
        /* a big write is worth a compressed head (half the wire bytes) */
        assert(flash_plan_spill_split(&m, 0x10000, 0x100000) == 0x100000 - S);
        /* the cost of a write counts the layout */
        assert(flash_cost_write(&m, 0x10000, 0x1000) > 0);
}

static void test_ranges(void) {
        FlashRanges s = {};
        FlashRange r;

        assert(flash_ranges_add(&s, 0x1000, 0x2000) == 0);
        assert(flash_ranges_add(&s, 0x3000, 0x4000) == 0);
        assert(flash_ranges_add(&s, 0x2000, 0x2800) == 0);     /* adjacent: merged */
        assert(s.n == 2 && s.v[0].start == 0x1000 && s.v[0].end == 0x2800);
        assert(flash_ranges_add(&s, 0x500, 0x600) == 0);
        assert(s.n == 3 && s.v[0].start == 0x500 && s.v[1].start == 0x1000);
        assert(flash_ranges_add(&s, 0x700, 0x3800) == 0);      /* swallows two */
        assert(s.n == 2 && s.v[1].start == 0x700 && s.v[1].end == 0x4000);
        assert(flash_ranges_remove(&s, 0x1000, 0x1100) == 0);  /* splits one */
        assert(s.n == 3 && s.v[1].end == 0x1000 && s.v[2].start == 0x1100);
        assert(flash_ranges_first_in(&s, 0x800, 0x2000, &r) == 1 && r.start == 0x800 && r.end == 0x1000);
        assert(flash_ranges_first_in(&s, 0x1000, 0x1100, &r) == 0);
        assert(flash_ranges_first_in(&s, 0x0, 0x10000, &r) == 1 && r.start == 0x500 && r.end == 0x600);
        /* covers: all of it inside one range, or nothing to cover */
        assert(flash_ranges_covers(&s, 0x1100, 0x4000));
        assert(flash_ranges_covers(&s, 0x500, 0x600));
        assert(!flash_ranges_covers(&s, 0xf00, 0x1200));       /* across the gap */
        assert(!flash_ranges_covers(&s, 0x3f00, 0x4001));
        assert(flash_ranges_covers(&s, 0x9000, 0x9000));
        assert(!flash_ranges_covers(NULL, 0x500, 0x600));
        assert(flash_ranges_remove(&s, 0, 0x10000) == 0);
        assert(s.n == 0 && !s.v);
        assert(flash_ranges_add(&s, 5, 5) == 0 && s.n == 0);   /* empty */
        flash_ranges_done(&s);
}

/* Flash proven erased costs a write no erase: a block wholly inside none, a
 * block partly inside its other sectors one by one. */
static void test_cost_erased(void) {
        FlashRanges erased = {};
        FlashCostModel m, e;

        flash_cost_model_init(&m, 921600, 1000, false);
        e = m;
        e.erased = &erased;
        assert(flash_cost_write(&e, 0x10000, 0x10000) == flash_cost_write(&m, 0x10000, 0x10000));
        assert(flash_ranges_add(&erased, 0x10000, 0x30000) == 0);
        assert(flash_ranges_add(&erased, 0x40000, 0x42000) == 0);
        assert(flash_cost_write(&m, 0x10000, 0x20000) - flash_cost_write(&e, 0x10000, 0x20000) ==
               2 * m.block_erase_usec);
        /* 0x2f000 erased, 0x30000 and 0x31000 not */
        assert(flash_cost_write(&m, 0x2f000, 0x3000) - flash_cost_write(&e, 0x2f000, 0x3000) ==
               m.sector_erase_usec);
        /* the block at 0x40000: 14 sectors erased one by one instead of one block erase */
        assert(flash_cost_write(&e, 0x40000, 0x10000) - flash_cost_write(&m, 0x40000, 0x10000) ==
               14 * m.sector_erase_usec - m.block_erase_usec);
        flash_ranges_done(&erased);
}

/* After a sector write, a touched block needs its MD5 only where neither a
 * run (proven by its own MD5) nor a matching probe covers it. */
static void test_block_proven(void) {
        FlashRanges matched = {};
        const FlashRun runs[] = { { 0x12000, 0x1000 }, { 0x15000, 0x2000 } };

        /* nothing probed: the runs alone do not cover the block */
        assert(flash_plan_block_proven(0x10000, 0x10000, runs, 2, NULL) == 0);
        assert(flash_plan_block_proven(0x10000, 0x10000, runs, 2, &matched) == 0);

        /* probes matched every other sector of the block */
        assert(flash_ranges_add(&matched, 0x10000, 0x12000) == 0);
        assert(flash_ranges_add(&matched, 0x13000, 0x15000) == 0);
        assert(flash_plan_block_proven(0x10000, 0x10000, runs, 2, &matched) == 0);   /* 0x17000.. open */
        assert(flash_ranges_add(&matched, 0x17000, 0x20000) == 0);
        assert(flash_plan_block_proven(0x10000, 0x10000, runs, 2, &matched) == 1);

        /* one sector neither written nor probed: hash the block */
        assert(flash_ranges_remove(&matched, 0x1c000, 0x1d000) == 0);
        assert(flash_plan_block_proven(0x10000, 0x10000, runs, 2, &matched) == 0);

        /* a partial last block, covered by a run and a probe */
        assert(flash_plan_block_proven(0x15000, 0x3000, runs, 2, &matched) == 1);
        /* a run alone covering a block */
        assert(flash_plan_block_proven(0x15000, 0x2000, runs, 2, NULL) == 1);
        flash_ranges_done(&matched);
}

static void put_le32(uint8_t *p, uint32_t v) {
        for (unsigned i = 0; i < 4; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

/* The appended SHA-256 of an ESP image: after the 24-byte header, the
 * segments, padding whose last byte is the checksum (a multiple of 16). */
static void test_sentinel(void) {
        static uint8_t img[4096];
        uint32_t at = 0;
        size_t pos = 24;
        const uint32_t seg_len[] = { 100, 36, 1000 };

        memset(img, 0xFF, sizeof(img));
        memset(img, 0, 24);
        img[0] = 0xE9;
        img[1] = ELEMENTSOF(seg_len);
        img[23] = 1;
        for (size_t i = 0; i < ELEMENTSOF(seg_len); i++) {
                put_le32(img + pos, 0x3fc80000u + (uint32_t) i * 0x1000u);
                put_le32(img + pos + 4, seg_len[i]);
                pos += 8 + seg_len[i];
        }
        /* 24 + 3 * 8 + 1136 = 1184: the checksum at 1199, the digest at 1200 */
        assert(pos == 1184);
        assert(flash_sentinel_find(img, 1232, &at) && at == 1200);
        assert(flash_sentinel_find(img, sizeof(img), &at) && at == 1200);
        /* The digest cut off, no hash flag, no magic, a segment past the end. */
        assert(!flash_sentinel_find(img, 1231, &at));
        img[23] = 0;
        assert(!flash_sentinel_find(img, sizeof(img), &at));
        img[23] = 1;
        img[0] = 0xE8;
        assert(!flash_sentinel_find(img, sizeof(img), &at));
        img[0] = 0xE9;
        put_le32(img + 24 + 4, 0x10000);
        assert(!flash_sentinel_find(img, sizeof(img), &at));
        put_le32(img + 24 + 4, 100);
        img[1] = 0;
        assert(!flash_sentinel_find(img, sizeof(img), &at));
        img[1] = 17;
        assert(!flash_sentinel_find(img, sizeof(img), &at));
        assert(!flash_sentinel_find(img, 10, &at));
        assert(!flash_sentinel_find(NULL, 0, &at));
}

/* Into how many pieces a region of unknown state is hashed: each vector worked
 * out by hand from the model (probe = rtt + 40 wire bytes + 200 us + len at
 * 2 MB/s; a change in one deploy of eight, narrowed block by block). */
static void test_verify_split(void) {
        static const struct {
                uint32_t baud;
                usec_t rtt;
                uint32_t offset, size;
                size_t pieces;
        } cases[] = {
                /* the benchmark's 512 KiB data partition at 921600: 1.6 ms a round
                 * trip against 4.2 ms for a block hashed again one deploy in eight */
                { 921600, 1000, 0x110000, 0x80000, 4 },
                /* USB-Serial-JTAG: round trips are all but free, so block by block */
                { 0, 0, 0x110000, 0x80000, 8 },
                /* 115200 and a slow adapter: 13.7 ms a round trip, two halves */
                { 115200, 10000, 0x110000, 0x80000, 2 },
                /* two blocks on that link: the region whole */
                { 115200, 10000, 0x110000, 0x20000, 1 },
                /* one block, or less: nothing to split */
                { 0, 0, 0x110000, 0x10000, 1 },
                { 0, 0, 0x10000 + S, 0x8000, 1 },
                /* a partial block at each end counts as a block of its own */
                { 0, 0, 0x10000 + S, 0x10000, 2 },
        };
        FlashCostModel m;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                size_t k;

                flash_cost_model_init(&m, cases[i].baud, cases[i].rtt, false);
                k = flash_plan_verify_split(&m, cases[i].offset, cases[i].size);
                if (k != cases[i].pieces) {
                        fprintf(stderr, "case %zu: %zu pieces, expected %zu\n", i, k, cases[i].pieces);
                        abort();
                }
        }

        /* More pieces for a bigger region, fewer for a slower round trip. */
        flash_cost_model_init(&m, 921600, 1000, false);
        assert(flash_plan_verify_split(&m, 0x100000, 0x800000) > flash_plan_verify_split(&m, 0x100000, 0x80000));
        assert(flash_plan_verify_split(&m, 0x100000, 0x800000) < flash_plan_n_blocks(0x100000, 0x800000));
        {
                FlashCostModel slow;

                flash_cost_model_init(&slow, 921600, 20000, false);
                assert(flash_plan_verify_split(&slow, 0x100000, 0x800000) <
                       flash_plan_verify_split(&m, 0x100000, 0x800000));
        }
        assert(flash_plan_verify_split(NULL, 0, 0x80000) == 1);

        /* The pieces tile the blocks, as even as they can be. */
        for (size_t n = 1; n <= 20; n++)
                for (size_t k = 1; k <= n; k++) {
                        size_t next = 0;

                        for (size_t i = 0; i < k; i++) {
                                size_t first, end;

                                flash_plan_piece_blocks(n, k, i, &first, &end);
                                assert(first == next);
                                assert(end - first == n / k || end - first == n / k + 1);
                                next = end;
                        }
                        assert(next == n);
                }
}

int main(void) {
        test_verify_split();
        test_sentinel();
        test_block_proven();
        test_spill_split();
        test_ranges();
        test_cost_model();
        test_cost_erased();
        test_merge_runs();
        test_plan_cases();
        test_probe_never_pays();
        test_seeded_blocks();
        test_api_errors();
        printf("flash-plan: ok\n");
        return 0;
}
