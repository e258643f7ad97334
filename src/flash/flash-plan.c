/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sector-diff planner and its cost model: which ranges of a changed region
 * to probe by on-chip MD5, when to stop probing, and which runs to write.
 * No I/O: the job asks the chip and feeds the verdicts back. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "flash-plan.h"
#include "macro.h"

/* Framing of one command and its reply on the wire (SLIP, header, status),
 * roughly: only the cost model uses it. */
#define PLAN_COMMAND_OVERHEAD_BYTES 40u
#define PLAN_PAGE_SIZE 256u

/* Giving up: after PLAN_GIVE_UP_MIN probes at one level, if at least 3/4 of
 * them changed, or after PLAN_GIVE_UP_STREAK changed in a row (a code edit
 * shifts everything after it), the rest is written without probing. The cost
 * model alone would keep probing longer: a probe costs a few percent of the
 * write it may save, but changes cluster, and these rules bound the waste. */
#define PLAN_GIVE_UP_MIN 2u
#define PLAN_GIVE_UP_STREAK 3u

typedef enum PlanState {
        PLAN_UNKNOWN,
        PLAN_SAME,
        PLAN_CHANGED,           /* probed (or inferred) changed: look closer */
        PLAN_WHOLE,             /* assumed changed: written without probing */
} PlanState;

typedef enum PlanLevel {
        PLAN_LEVEL_BLOCKS,
        PLAN_LEVEL_SECTORS,
        PLAN_LEVEL_DONE,
} PlanLevel;

/* Verdicts so far at one level (the whole region's blocks, or one block's sectors). */
typedef struct PlanCounter {
        unsigned probed, changed, streak;
} PlanCounter;

struct FlashPlanner {
        FlashCostModel model;
        uint32_t offset, size;
        size_t n_sectors, n_blocks;
        PlanState *sector;
        PlanState *block;

        PlanLevel level;
        size_t cursor;                  /* next block (level 1) or sector (level 2) */
        PlanCounter counter;
        bool pending;
        size_t pending_index;
        bool started;                   /* flash_planner_next() was called */

        FlashPlanStats stats;
};

void flash_cost_model_init(FlashCostModel *m, uint32_t baud, usec_t rtt_usec, bool stub) {
        *m = (FlashCostModel) {
                .baud = baud,
                .rtt_usec = rtt_usec,
                .md5_bytes_per_sec = stub ? 4000000u : 2000000u,
                .md5_request_usec = 200,
                .write_block_size = stub ? 0x4000u : 0x400u,
                .compress_permille = 500,
                .sector_erase_usec = 45 * USEC_PER_MSEC,
                .block_erase_usec = 150 * USEC_PER_MSEC,
                .page_program_usec = 600,
                .raw_block_size = stub ? 0x4000u : 0x400u,
                .md5_exchange_bytes = stub ? FLASH_MD5_EXCHANGE_BYTES_STUB : FLASH_MD5_EXCHANGE_BYTES_ROM,
        };
}

static usec_t wire_usec(const FlashCostModel *m, uint64_t bytes) {
        return m->baud > 0 ? bytes * 10u * USEC_PER_SEC / m->baud : 0;
}

static usec_t md5_usec(const FlashCostModel *m, uint64_t len) {
        return m->md5_request_usec + len * USEC_PER_SEC / MAX(m->md5_bytes_per_sec, 1u);
}

usec_t flash_cost_probe(const FlashCostModel *m, uint64_t len) {
        return m->rtt_usec + wire_usec(m, m->md5_exchange_bytes) + md5_usec(m, len);
}

usec_t flash_cost_rtt_of(const FlashCostModel *m, uint64_t len, usec_t elapsed) {
        usec_t model = wire_usec(m, m->md5_exchange_bytes) + md5_usec(m, len);

        return elapsed > model ? elapsed - model : 0;
}

/* The erase of [start, end) (whole sectors) where m->erased leaves it to do:
 * an aligned 64 KiB block none of which is proven erased as a block, else the
 * sectors not proven erased one by one. */
static usec_t erase_usec_over(const FlashCostModel *m, uint64_t start, uint64_t end) {
        usec_t c = 0;

        for (uint64_t a = start; a < end;) {
                uint64_t b = MIN(ALIGN_TO(a + 1, (uint64_t) FLASH_PLAN_BLOCK_SIZE), end);
                uint64_t left = 0;

                for (uint64_t s = a; s < b; s += FLASH_PLAN_SECTOR_SIZE)
                        left += !flash_ranges_covers(m->erased, s, s + FLASH_PLAN_SECTOR_SIZE);
                if (b - a == FLASH_PLAN_BLOCK_SIZE && left * FLASH_PLAN_SECTOR_SIZE == FLASH_PLAN_BLOCK_SIZE)
                        c += m->block_erase_usec;
                else
                        c += left * m->sector_erase_usec;
                a = b;
        }
        return c;
}

/* Aligned 64 KiB blocks erase as blocks, the rest sector by sector (ROM and
 * stub alike, as the timing model says); nothing where proven erased. */
static usec_t erase_usec(const FlashCostModel *m, uint32_t offset, uint64_t len) {
        uint64_t start = offset / FLASH_PLAN_SECTOR_SIZE * FLASH_PLAN_SECTOR_SIZE;
        uint64_t end = ALIGN_TO((uint64_t) offset + len, FLASH_PLAN_SECTOR_SIZE);
        uint64_t bstart = ALIGN_TO(start, FLASH_PLAN_BLOCK_SIZE);
        uint64_t bend = end / FLASH_PLAN_BLOCK_SIZE * FLASH_PLAN_BLOCK_SIZE;
        uint64_t blocks = 0, sectors;

        if (m->erased && m->erased->n > 0)
                return erase_usec_over(m, start, end);
        if (bend > bstart)
                blocks = (bend - bstart) / FLASH_PLAN_BLOCK_SIZE;
        sectors = (end - start) / FLASH_PLAN_SECTOR_SIZE - blocks * (FLASH_PLAN_BLOCK_SIZE / FLASH_PLAN_SECTOR_SIZE);
        return blocks * m->block_erase_usec + sectors * m->sector_erase_usec;
}

static usec_t cost_stream(const FlashCostModel *m, uint32_t offset, uint64_t len, uint64_t sent,
                          uint32_t block_size) {
        uint64_t packets = DIV_ROUND_UP(sent, MAX(block_size, 1u));

        /* FLASH_(DEFL_)BEGIN, the data packets and the MD5 that proves the run. */
        return (packets + 2) * m->rtt_usec +
               wire_usec(m, sent + (packets + 2) * PLAN_COMMAND_OVERHEAD_BYTES) +
               erase_usec(m, offset, len) +
               DIV_ROUND_UP(len, PLAN_PAGE_SIZE) * m->page_program_usec +
               md5_usec(m, len);
}

static usec_t cost_compressed(const FlashCostModel *m, uint32_t offset, uint64_t len) {
        if (len == 0)
                return 0;
        return cost_stream(m, offset, len, MAX(len * m->compress_permille / 1000u, 1u),
                           m->write_block_size);
}

static usec_t cost_raw(const FlashCostModel *m, uint32_t offset, uint64_t len) {
        if (len == 0)
                return 0;
        /* every packet is full: the last one is padded */
        return cost_stream(m, offset, len, ALIGN_TO(len, MAX(m->raw_block_size, 1u)), m->raw_block_size);
}

/* The head of a split write: one sector below the last window boundary. 0 if
 * the write does not reach past a whole window. */
static uint64_t split_head(const FlashCostModel *m, uint64_t len) {
        uint64_t boundary = len / m->spill_window * m->spill_window;

        return boundary > FLASH_PLAN_SECTOR_SIZE ? boundary - FLASH_PLAN_SECTOR_SIZE : 0;
}

static usec_t cost_split(const FlashCostModel *m, uint32_t offset, uint64_t len, uint64_t head) {
        /* one MD5 proves both streams */
        return cost_compressed(m, offset, head) + cost_raw(m, offset + (uint32_t) head, len - head) -
               (head > 0 ? md5_usec(m, len - head) + m->rtt_usec : 0);
}

uint64_t flash_plan_spill_split(const FlashCostModel *m, uint32_t offset, uint64_t len) {
        uint64_t head;

        if (!m || m->spill_window == 0)
                return len;
        head = split_head(m, len);
        if (head > 0 && cost_split(m, offset, len, head) < cost_raw(m, offset, len))
                return head;
        return 0;
}

usec_t flash_cost_write(const FlashCostModel *m, uint32_t offset, uint64_t len) {
        if (len == 0)
                return 0;
        if (m->spill_window == 0)
                return cost_compressed(m, offset, len);
        return cost_split(m, offset, len, flash_plan_spill_split(m, offset, len));
}

static usec_t runs_cost(const FlashCostModel *m, const FlashRun *runs, size_t n) {
        usec_t c = 0;

        for (size_t i = 0; i < n; i++)
                c += flash_cost_write(m, runs[i].offset, runs[i].size);
        return c;
}

int flash_plan_merge_runs(const FlashCostModel *m, uint32_t region_offset, uint32_t region_size,
                          const bool *changed, FlashRun **ret_runs, size_t *ret_n) {
        _cleanup_free_ FlashRun *runs = NULL;
        size_t n_sectors, n = 0;

        if (!m || !changed || !ret_runs || !ret_n || region_size == 0)
                return -EINVAL;
        if ((uint64_t) region_offset + region_size > UINT32_MAX)
                return -EINVAL;

        n_sectors = DIV_ROUND_UP(region_size, FLASH_PLAN_SECTOR_SIZE);
        runs = calloc(n_sectors, sizeof(FlashRun));
        if (!runs)
                return -ENOMEM;

        for (size_t i = 0; i < n_sectors; i++) {
                uint32_t off = region_offset + (uint32_t) (i * FLASH_PLAN_SECTOR_SIZE);
                uint32_t end = (uint32_t) MIN((uint64_t) off + FLASH_PLAN_SECTOR_SIZE,
                                              (uint64_t) region_offset + region_size);

                if (!changed[i])
                        continue;
                if (n > 0 && runs[n - 1].offset + runs[n - 1].size == off)
                        runs[n - 1].size = end - runs[n - 1].offset;
                else
                        runs[n++] = (FlashRun) { .offset = off, .size = end - off };
        }

        /* Join neighbours across a gap when one write beats two: each run costs
         * a FLASH_DEFL_BEGIN, an MD5 and erases rounded to sectors. */
        for (size_t i = 0; i + 1 < n;) {
                FlashRun merged = {
                        .offset = runs[i].offset,
                        .size = runs[i + 1].offset + runs[i + 1].size - runs[i].offset,
                };

                if (flash_cost_write(m, merged.offset, merged.size) <= runs_cost(m, runs + i, 2)) {
                        runs[i] = merged;
                        for (size_t k = i + 1; k + 1 < n; k++)
                                runs[k] = runs[k + 1];
                        n--;
                } else
                        i++;
        }

        if (n == 0) {
                free(runs);
                runs = NULL;
        }
        *ret_runs = TAKE_PTR(runs);
        *ret_n = n;
        return 0;
}

int flash_planner_new(const FlashCostModel *m, uint32_t offset, uint32_t size, FlashPlanner **ret) {
        _cleanup_(flash_planner_freep) FlashPlanner *p = NULL;

        if (!m || !ret || size == 0 || (uint64_t) offset + size > UINT32_MAX)
                return -EINVAL;

        p = calloc(1, sizeof(FlashPlanner));
        if (!p)
                return -ENOMEM;
        p->model = *m;
        p->offset = offset;
        p->size = size;
        p->n_sectors = DIV_ROUND_UP(size, FLASH_PLAN_SECTOR_SIZE);
        p->n_blocks = flash_plan_n_blocks(offset, size);

        p->sector = calloc(p->n_sectors, sizeof(PlanState));
        p->block = calloc(p->n_blocks, sizeof(PlanState));
        if (!p->sector || !p->block)
                return -ENOMEM;

        if (offset % FLASH_PLAN_SECTOR_SIZE != 0) {
                /* Sectors would straddle the region's neighbours: plan it whole. */
                for (size_t i = 0; i < p->n_sectors; i++)
                        p->sector[i] = PLAN_WHOLE;
                p->level = PLAN_LEVEL_DONE;
        } else if (p->n_blocks == 1) {
                /* The region itself was the block-level probe. */
                p->block[0] = PLAN_CHANGED;
                p->level = PLAN_LEVEL_SECTORS;
        } else
                p->level = PLAN_LEVEL_BLOCKS;

        *ret = TAKE_PTR(p);
        return 0;
}

FlashPlanner *flash_planner_free(FlashPlanner *p) {
        if (!p)
                return NULL;
        free(p->sector);
        free(p->block);
        free(p);
        return NULL;
}

size_t flash_plan_n_blocks(uint32_t offset, uint32_t size) {
        if (size == 0)
                return 0;
        return ((uint64_t) offset + size - 1) / FLASH_PLAN_BLOCK_SIZE - offset / FLASH_PLAN_BLOCK_SIZE + 1;
}

void flash_plan_block_range(uint32_t offset, uint32_t size, size_t i, uint32_t *ret_offset,
                            uint32_t *ret_size) {
        uint64_t start = ((uint64_t) offset / FLASH_PLAN_BLOCK_SIZE + i) * FLASH_PLAN_BLOCK_SIZE;
        uint64_t end = start + FLASH_PLAN_BLOCK_SIZE;

        start = MAX(start, (uint64_t) offset);
        end = MIN(end, (uint64_t) offset + size);
        *ret_offset = (uint32_t) start;
        *ret_size = end > start ? (uint32_t) (end - start) : 0;
}

void flash_plan_piece_blocks(size_t n_blocks, size_t k, size_t i, size_t *ret_first, size_t *ret_end) {
        k = MAX(MIN(k, n_blocks), (size_t) 1);
        *ret_first = i * n_blocks / k;
        *ret_end = (i + 1) * n_blocks / k;
}

/* Bytes [first, end) of the region's blocks. */
static uint64_t blocks_size(uint32_t offset, uint32_t size, size_t first, size_t end) {
        uint32_t a, b, a_size, b_size;

        if (end <= first)
                return 0;
        flash_plan_block_range(offset, size, first, &a, &a_size);
        flash_plan_block_range(offset, size, end - 1, &b, &b_size);
        return (uint64_t) b + b_size - a;
}

/* The expected cost of hashing the region in k pieces, times the region's size
 * and FLASH_PLAN_CHANGE_ODDS (integers: no rounding decides a tie). */
static uint64_t split_cost(const FlashCostModel *m, uint32_t offset, uint32_t size, size_t k) {
        size_t n_blocks = flash_plan_n_blocks(offset, size);
        uint64_t always = 0, narrowing = 0;

        for (size_t i = 0; i < k; i++) {
                size_t first, end;
                uint64_t piece, blocks = 0;

                flash_plan_piece_blocks(n_blocks, k, i, &first, &end);
                piece = blocks_size(offset, size, first, end);
                always += flash_cost_probe(m, piece);
                /* Narrowing the piece: its blocks, the last inferred when the
                 * others match; weighed by the odds the change lands in it. */
                for (size_t b = first; b + 1 < end; b++)
                        blocks += flash_cost_probe(m, blocks_size(offset, size, b, b + 1));
                narrowing += piece * blocks;
        }
        return always * size * FLASH_PLAN_CHANGE_ODDS + narrowing;
}

size_t flash_plan_verify_split(const FlashCostModel *m, uint32_t offset, uint32_t size) {
        size_t n_blocks = flash_plan_n_blocks(offset, size), best = 1;
        uint64_t best_cost;

        if (!m || n_blocks <= 1)
                return 1;
        best_cost = split_cost(m, offset, size, 1);
        for (size_t k = 2; k <= n_blocks; k++) {
                uint64_t c = split_cost(m, offset, size, k);

                if (c < best_cost) {
                        best = k;
                        best_cost = c;
                }
        }
        return best;
}

/* The part of the region covered by block b / sector s. */
static void block_range(const FlashPlanner *p, size_t b, uint32_t *ret_offset, uint32_t *ret_size) {
        flash_plan_block_range(p->offset, p->size, b, ret_offset, ret_size);
}

static void sector_range(const FlashPlanner *p, size_t s, uint32_t *ret_offset, uint32_t *ret_size) {
        uint64_t start = (uint64_t) p->offset + s * FLASH_PLAN_SECTOR_SIZE;
        uint64_t end = MIN(start + FLASH_PLAN_SECTOR_SIZE, (uint64_t) p->offset + p->size);

        *ret_offset = (uint32_t) start;
        *ret_size = (uint32_t) (end - start);
}

static size_t sector_block(const FlashPlanner *p, size_t s) {
        return ((uint64_t) p->offset + s * FLASH_PLAN_SECTOR_SIZE) / FLASH_PLAN_BLOCK_SIZE -
               p->offset / FLASH_PLAN_BLOCK_SIZE;
}

static bool counter_gives_up(const PlanCounter *c) {
        if (c->streak >= PLAN_GIVE_UP_STREAK)
                return true;
        return c->probed >= PLAN_GIVE_UP_MIN && c->changed * 4 >= c->probed * 3;
}

/* Whether a probe of a unit can pay for itself: it saves the unit's write only
 * if the unit turns out unchanged, whose odds are estimated from this level's
 * verdicts so far (Laplace's rule: (same + 1) / (probed + 2)). */
static bool probe_pays(const FlashPlanner *p, const PlanCounter *c, uint32_t offset, uint32_t size) {
        usec_t probe = flash_cost_probe(&p->model, size), write = flash_cost_write(&p->model, offset, size);

        return probe * (c->probed + 2) < write * (c->probed - c->changed + 1);
}

static void counter_add(PlanCounter *c, bool changed) {
        c->probed++;
        if (changed) {
                c->changed++;
                c->streak++;
        } else
                c->streak = 0;
}

/* Level 1: the next block to probe, or give up on the rest. Returns true with a probe. */
static bool next_block(FlashPlanner *p, uint32_t *ret_offset, uint32_t *ret_size) {
        while (p->cursor < p->n_blocks) {
                size_t b = p->cursor;
                uint32_t off, size;

                block_range(p, b, &off, &size);

                /* The region differs: if every other block matched, this one is it. */
                if (b == p->n_blocks - 1 && p->counter.changed == 0) {
                        p->block[b] = PLAN_CHANGED;
                        p->cursor++;
                        continue;
                }
                if (counter_gives_up(&p->counter) || !probe_pays(p, &p->counter, off, size)) {
                        for (size_t k = b; k < p->n_blocks; k++)
                                p->block[k] = PLAN_WHOLE;
                        p->stats.gave_up = true;
                        p->cursor = p->n_blocks;
                        break;
                }

                p->pending = true;
                p->pending_index = b;
                *ret_offset = off;
                *ret_size = size;
                return true;
        }

        /* Level 2 walks every sector, looking only inside changed blocks. */
        p->level = PLAN_LEVEL_SECTORS;
        p->cursor = 0;
        p->counter = (PlanCounter) {};
        return false;
}

/* Whether sector s is the last of its block within the region. */
static bool sector_last_in_block(const FlashPlanner *p, size_t s) {
        return s + 1 == p->n_sectors || sector_block(p, s + 1) != sector_block(p, s);
}

static bool next_sector(FlashPlanner *p, uint32_t *ret_offset, uint32_t *ret_size) {
        while (p->cursor < p->n_sectors) {
                size_t s = p->cursor, b = sector_block(p, s);
                uint32_t off, size;

                if (s == 0 || sector_block(p, s - 1) != b)
                        p->counter = (PlanCounter) {};   /* a new block */

                switch (p->block[b]) {
                case PLAN_SAME:
                        p->sector[s] = PLAN_SAME;
                        p->cursor++;
                        continue;
                case PLAN_WHOLE:
                        p->sector[s] = PLAN_WHOLE;
                        p->cursor++;
                        continue;
                default:
                        break;
                }

                sector_range(p, s, &off, &size);

                /* The block differs: if its other sectors matched, this one is it. */
                if (sector_last_in_block(p, s) && p->counter.changed == 0) {
                        p->sector[s] = PLAN_CHANGED;
                        p->cursor++;
                        continue;
                }
                if (counter_gives_up(&p->counter) || !probe_pays(p, &p->counter, off, size)) {
                        /* The rest of this block is written as it is. */
                        p->block[b] = PLAN_WHOLE;
                        p->stats.gave_up = true;
                        continue;
                }

                p->pending = true;
                p->pending_index = s;
                *ret_offset = off;
                *ret_size = size;
                return true;
        }

        p->level = PLAN_LEVEL_DONE;
        return false;
}

int flash_planner_seed_blocks(FlashPlanner *p, const bool *changed, size_t n) {
        if (!p || !changed || n != p->n_blocks)
                return -EINVAL;
        if (p->started)
                return -EBUSY;
        if (p->level == PLAN_LEVEL_DONE)
                return 0;   /* planned whole already (unaligned region) */

        for (size_t b = 0; b < n; b++) {
                p->block[b] = changed[b] ? PLAN_CHANGED : PLAN_SAME;
                counter_add(&p->counter, changed[b]);
        }
        /* Most of the region changed (a blank chip, a new application): write
         * the changed blocks whole without looking at their sectors. The streak
         * rule is left out: with every verdict known, a changed tail still
         * deserves a look at where it starts. */
        if (p->counter.probed >= PLAN_GIVE_UP_MIN && p->counter.changed * 4 >= p->counter.probed * 3) {
                for (size_t b = 0; b < n; b++)
                        if (p->block[b] == PLAN_CHANGED)
                                p->block[b] = PLAN_WHOLE;
                p->stats.gave_up = true;
        }
        p->level = PLAN_LEVEL_SECTORS;
        p->cursor = 0;
        p->counter = (PlanCounter) {};
        return 0;
}

int flash_planner_next(FlashPlanner *p, uint32_t *ret_offset, uint32_t *ret_size) {
        uint32_t off = 0, size = 0;
        bool probe = false;

        assert(p && ret_offset && ret_size);
        if (p->pending)
                return -EBUSY;

        p->started = true;
        if (p->level == PLAN_LEVEL_BLOCKS)
                probe = next_block(p, &off, &size);
        if (!probe && p->level == PLAN_LEVEL_SECTORS)
                probe = next_sector(p, &off, &size);
        if (!probe)
                return 0;

        p->stats.probes++;
        p->stats.probe_usec += flash_cost_probe(&p->model, size);
        *ret_offset = off;
        *ret_size = size;
        return 1;
}

int flash_planner_feed(FlashPlanner *p, bool changed) {
        if (!p || !p->pending)
                return -EINVAL;

        p->pending = false;
        counter_add(&p->counter, changed);
        if (p->level == PLAN_LEVEL_BLOCKS)
                p->block[p->pending_index] = changed ? PLAN_CHANGED : PLAN_SAME;
        else
                p->sector[p->pending_index] = changed ? PLAN_CHANGED : PLAN_SAME;
        p->cursor = p->pending_index + 1;
        return 0;
}

int flash_planner_runs(FlashPlanner *p, FlashRun **ret_runs, size_t *ret_n) {
        _cleanup_free_ FlashRun *runs = NULL;
        _cleanup_free_ bool *changed = NULL;
        size_t n = 0;
        int r;

        assert(p && ret_runs && ret_n);
        if (p->level != PLAN_LEVEL_DONE || p->pending)
                return -EBUSY;

        changed = calloc(p->n_sectors, sizeof(bool));
        if (!changed)
                return -ENOMEM;
        for (size_t i = 0; i < p->n_sectors; i++)
                changed[i] = p->sector[i] == PLAN_CHANGED || p->sector[i] == PLAN_WHOLE;

        r = flash_plan_merge_runs(&p->model, p->offset, p->size, changed, &runs, &n);
        if (r < 0)
                return r;

        /* Never worse than the region whole (nor empty: the region differs). */
        if (n == 0 || runs_cost(&p->model, runs, n) >= flash_cost_write(&p->model, p->offset, p->size)) {
                free(runs);
                runs = calloc(1, sizeof(FlashRun));
                if (!runs)
                        return -ENOMEM;
                runs[0] = (FlashRun) { .offset = p->offset, .size = p->size };
                n = 1;
        }

        *ret_runs = TAKE_PTR(runs);
        *ret_n = n;
        return 0;
}

const FlashPlanStats *flash_planner_stats(FlashPlanner *p) {
        static const FlashPlanStats none = {};

        return p ? &p->stats : &none;
}

int flash_plan_block_proven(uint32_t offset, uint32_t size, const FlashRun *runs, size_t n_runs,
                            const FlashRanges *matched) {
        FlashRanges rest = {};
        bool proven;
        int r;

        r = flash_ranges_add(&rest, offset, (uint64_t) offset + size);
        for (size_t i = 0; r >= 0 && i < n_runs; i++)
                r = flash_ranges_remove(&rest, runs[i].offset, (uint64_t) runs[i].offset + runs[i].size);
        for (size_t i = 0; r >= 0 && matched && i < matched->n; i++)
                r = flash_ranges_remove(&rest, matched->v[i].start, matched->v[i].end);
        proven = rest.n == 0;
        flash_ranges_done(&rest);
        if (r < 0)
                return r;
        return proven;
}
