/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sector-diff planner: narrows a region known to differ down to the 4 KiB
 * sectors that differ, by on-chip MD5 over 64 KiB blocks then sectors, asking
 * a cost model at every step whether probing can still pay. Pure decision
 * logic: the caller runs each probe and feeds back the verdict. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flash-ranges.h"
#include "macro.h"
#include "time-util.h"

#define FLASH_PLAN_SECTOR_SIZE 0x1000u
#define FLASH_PLAN_BLOCK_SIZE 0x10000u

/* What an operation costs on the link and the chip (DESIGN.md's timing model
 * gives the defaults; rtt is measured by the caller). */
typedef struct FlashCostModel {
        uint32_t baud;                  /* 10 bits a byte; 0: bytes are free (USB-Serial-JTAG) */
        usec_t rtt_usec;                /* one request → response exchange, wire bytes excluded */
        uint32_t md5_bytes_per_sec;     /* on-chip MD5 throughput */
        usec_t md5_request_usec;        /* fixed cost per MD5 request */
        uint32_t write_block_size;      /* compressed bytes per data packet */
        uint32_t compress_permille;     /* expected compressed size per 1000 raw bytes */
        usec_t sector_erase_usec, block_erase_usec, page_program_usec;
        /* The loader's compressed writes program flash up to the next multiple
         * of this past their end (the ESP32 ROM: 32 KiB; 0: they do not), so a
         * write there ends in an uncompressed tail (flash_plan_spill_split). */
        uint32_t spill_window;
        uint32_t raw_block_size;        /* bytes per uncompressed data packet */
        uint32_t md5_exchange_bytes;    /* an SPI_FLASH_MD5 request and its reply on the wire */
        /* Flash proven erased, which a write need not erase (the ROM loader
         * skips it there: flash_write_region_over()); NULL: none. Not owned:
         * it must outlive the model and every planner given it. */
        const FlashRanges *erased;
} FlashCostModel;

/* SPI_FLASH_MD5 on the wire: a 26-byte request (SLIP-framed header and 16
 * bytes of arguments) and the reply: the ROM's 32 hex characters and 4 status
 * bytes (46 bytes framed), the stub's 16 raw bytes and 2 (28). */
#define FLASH_MD5_EXCHANGE_BYTES_ROM 72u
#define FLASH_MD5_EXCHANGE_BYTES_STUB 54u

/* The round trip an MD5 exchange shows beyond what the model gives its wire
 * bytes and hashing (elapsed, for len bytes). */
usec_t flash_cost_rtt_of(const FlashCostModel *m, uint64_t len, usec_t elapsed);

/* The reference model for a ROM loader (stub = false) or a flasher stub. */
void flash_cost_model_init(FlashCostModel *m, uint32_t baud, usec_t rtt_usec, bool stub);

/* One MD5 probe of len bytes. */
usec_t flash_cost_probe(const FlashCostModel *m, uint64_t len);
/* Writing [offset, offset+len): begin, wire, packets, erase, program and the
 * MD5 that proves it; compressed, or with a spill window as
 * flash_plan_spill_split() lays it out. */
usec_t flash_cost_write(const FlashCostModel *m, uint32_t offset, uint64_t len);

/* Where a write of [offset, offset+len) (offset sector aligned) on a loader
 * whose compressed streams spill (m->spill_window) goes from compressed to
 * uncompressed, so that the uncompressed tail (FLASH_DATA, which never spills)
 * is what the compressed head's spill lands on and rewrites: the head ends one
 * sector below the last window boundary inside the write. Whichever of that and
 * all uncompressed (0) costs less; len (all compressed) without a spill window.
 * Lengthening the write with the image's following bytes never helps: the
 * spill always reaches past the end of a compressed stream. */
uint64_t flash_plan_spill_split(const FlashCostModel *m, uint32_t offset, uint64_t len);

typedef struct FlashRun {
        uint32_t offset;                /* absolute flash address */
        uint32_t size;
} FlashRun;

/* Merges changed sectors into runs (sector i of the region at region_offset is
 * changed[i]), joining two runs across a gap of unchanged sectors when one
 * write costs less than two. The last sector may be partial (region_size).
 * *ret_runs is NULL when nothing changed. */
int flash_plan_merge_runs(const FlashCostModel *m, uint32_t region_offset, uint32_t region_size,
                          const bool *changed, FlashRun **ret_runs, size_t *ret_n);

/* The 64 KiB blocks of a region: on absolute block boundaries (what erases as
 * one block), so the first and last may be partial. */
size_t flash_plan_n_blocks(uint32_t offset, uint32_t size);
void flash_plan_block_range(uint32_t offset, uint32_t size, size_t i, uint32_t *ret_offset,
                            uint32_t *ret_size);

/* The odds the cost model gives a region it knows nothing about of having
 * changed since it was last flashed: one deploy in FLASH_PLAN_CHANGE_ODDS. */
#define FLASH_PLAN_CHANGE_ODDS 8u

/* Into how many pieces of whole 64 KiB blocks to hash a region of unknown
 * state (1: the region whole, flash_plan_n_blocks(): block by block), for the
 * least expected cost: every piece past the first costs a round trip whether
 * or not anything changed; a piece that differs is hashed again block by block
 * for the planner (one change, in a piece by its share of the region), which
 * smaller pieces make cheaper. */
size_t flash_plan_verify_split(const FlashCostModel *m, uint32_t offset, uint32_t size);
/* The blocks [*ret_first, *ret_end) of piece i of k (as even as blocks allow). */
void flash_plan_piece_blocks(size_t n_blocks, size_t k, size_t i, size_t *ret_first, size_t *ret_end);

/* Whether the block [offset, offset + size) needs no MD5 after a sector write:
 * every byte of it lies in a run (each proven by its own MD5) or in `matched`
 * (ranges this session's MD5s found equal to the image). -ENOMEM, else 0/1. */
int flash_plan_block_proven(uint32_t offset, uint32_t size, const FlashRun *runs, size_t n_runs,
                            const FlashRanges *matched);

typedef struct FlashPlanner FlashPlanner;

typedef struct FlashPlanStats {
        size_t probes;                  /* MD5 requests asked for */
        usec_t probe_usec;              /* what they cost by the model */
        bool gave_up;                   /* probing stopped early: a part was written whole */
} FlashPlanStats;

/* A planner for the region [offset, offset+size), which is known to differ.
 * A region that does not start on a sector boundary is planned whole. */
int flash_planner_new(const FlashCostModel *m, uint32_t offset, uint32_t size, FlashPlanner **ret);
FlashPlanner *flash_planner_free(FlashPlanner *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(FlashPlanner *, flash_planner_free);

/* Block verdicts already known (the caller verified the region block by block):
 * the planner starts at the sectors of the changed blocks. Before the first
 * flash_planner_next() only (-EBUSY after); n must be flash_plan_n_blocks(). */
int flash_planner_seed_blocks(FlashPlanner *p, const bool *changed, size_t n);

/* 1 with the next range to probe (compare the chip's MD5 of it with the
 * image's, then flash_planner_feed()), 0 once the plan is final. */
int flash_planner_next(FlashPlanner *p, uint32_t *ret_offset, uint32_t *ret_size);
/* The verdict on the range the last flash_planner_next() returned.
 * -EINVAL if no probe is pending. */
int flash_planner_feed(FlashPlanner *p, bool changed);
/* The runs to write, once flash_planner_next() returned 0 (-EBUSY before).
 * Never costs more than writing the whole region by the model: if it would,
 * the one run is the region. */
int flash_planner_runs(FlashPlanner *p, FlashRun **ret_runs, size_t *ret_n);
const FlashPlanStats *flash_planner_stats(FlashPlanner *p);
