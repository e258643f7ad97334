/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The stub-or-ROM decision: DESIGN.md's timing model applied to the upload
 * and to the writes a deploy expects, once for each loader. */
#include "flash-loader-choice.h"
#include "macro.h"

/* The ROM's MEM_DATA block (esptool ESP_RAM_BLOCK), and the framing of one
 * command with its reply, as the planner counts it. */
#define CHOICE_MEM_BLOCK 0x1800u
#define CHOICE_COMMAND_OVERHEAD_BYTES 40u
#define CHOICE_PAGE_SIZE 256u

static usec_t wire_usec(uint32_t baud, uint64_t bytes) {
        return baud > 0 ? bytes * 10u * USEC_PER_SEC / baud : 0;
}

usec_t flash_cost_stub_upload(uint32_t baud, usec_t rtt_usec, uint64_t stub_bytes) {
        /* two segments' MEM_BEGIN, their blocks, MEM_END, the greeting and SPI_SET_PARAMS */
        uint64_t commands = DIV_ROUND_UP(stub_bytes, CHOICE_MEM_BLOCK) + 5;

        return commands * rtt_usec + wire_usec(baud, stub_bytes + commands * CHOICE_COMMAND_OVERHEAD_BYTES);
}

/* Erase of whole sectors, or 64 KiB blocks where aligned: as flash-plan.c. */
static usec_t erase_usec(const FlashCostModel *m, uint32_t offset, uint64_t len) {
        uint64_t start = offset / FLASH_PLAN_SECTOR_SIZE * FLASH_PLAN_SECTOR_SIZE;
        uint64_t end = ALIGN_TO((uint64_t) offset + len, FLASH_PLAN_SECTOR_SIZE);
        uint64_t bstart = ALIGN_TO(start, FLASH_PLAN_BLOCK_SIZE);
        uint64_t bend = end / FLASH_PLAN_BLOCK_SIZE * FLASH_PLAN_BLOCK_SIZE;
        uint64_t blocks = bend > bstart ? (bend - bstart) / FLASH_PLAN_BLOCK_SIZE : 0;
        uint64_t sectors = (end - start) / FLASH_PLAN_SECTOR_SIZE -
                           blocks * (FLASH_PLAN_BLOCK_SIZE / FLASH_PLAN_SECTOR_SIZE);

        return blocks * m->block_erase_usec + sectors * m->sector_erase_usec;
}

usec_t flash_cost_runs_stub(uint32_t baud, usec_t rtt_usec, const FlashRun *runs, size_t n) {
        FlashCostModel m;
        usec_t c = 0;

        flash_cost_model_init(&m, baud, rtt_usec, true);
        for (size_t i = 0; i < n; i++) {
                uint64_t len = runs[i].size;
                uint64_t sent = MAX(len * m.compress_permille / 1000u, 1u);
                uint64_t packets = DIV_ROUND_UP(sent, m.write_block_size);
                usec_t wire = wire_usec(baud, sent + (packets + 2) * CHOICE_COMMAND_OVERHEAD_BYTES);
                usec_t flash = erase_usec(&m, runs[i].offset, len) +
                               DIV_ROUND_UP(len, CHOICE_PAGE_SIZE) * m.page_program_usec;

                if (len == 0)
                        continue;
                /* begin and end, the blocks streamed, the MD5 that proves the run */
                c += 3 * rtt_usec + MAX(wire, flash) + flash_cost_probe(&m, len);
        }
        return c;
}

usec_t flash_cost_runs_rom(uint32_t baud, usec_t rtt_usec, uint32_t spill_window, const FlashRanges *erased,
                           const FlashRun *runs, size_t n) {
        FlashCostModel m;
        usec_t c = 0;

        flash_cost_model_init(&m, baud, rtt_usec, false);
        m.spill_window = spill_window;
        m.erased = erased;
        for (size_t i = 0; i < n; i++)
                c += flash_cost_write(&m, runs[i].offset, runs[i].size);
        return c;
}

bool flash_stub_pays(uint32_t baud, usec_t rtt_usec, uint32_t spill_window, const FlashRanges *erased,
                     uint64_t stub_bytes, const FlashRun *runs, size_t n) {
        usec_t rom, stub;

        if (n == 0)
                return false;
        rom = flash_cost_runs_rom(baud, rtt_usec, spill_window, erased, runs, n);
        stub = flash_cost_stub_upload(baud, rtt_usec, stub_bytes) + flash_cost_runs_stub(baud, rtt_usec, runs, n);
        return stub < rom;
}
