/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Whether a deploy should upload the flasher stub or stay with the ROM loader:
 * the stub's upload against what it saves on the writes the deploy expects to
 * make. Pure decision logic on the planner's cost model. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flash-plan.h"

/* Uploading a stub of stub_bytes (text + data) through the ROM's MEM_* commands,
 * its greeting and the SPI_SET_PARAMS that follows. */
usec_t flash_cost_stub_upload(uint32_t baud, usec_t rtt_usec, uint64_t stub_bytes);
/* Writing runs (and the MD5 that proves each) with the stub: it acknowledges a
 * block before it programs it and erases as it goes, so the wire and the flash
 * work overlap, and it hashes twice as fast as the ROM. */
usec_t flash_cost_runs_stub(uint32_t baud, usec_t rtt_usec, const FlashRun *runs, size_t n);
/* The same with the ROM loader: erase first (except where `erased`, which may
 * be NULL, says the flash holds 0xFF: the ROM writes there without), then each
 * 1 KiB block sent, programmed and acknowledged in turn (flash_cost_write();
 * spill_window as the loader says, esp_loader_defl_spill()). */
usec_t flash_cost_runs_rom(uint32_t baud, usec_t rtt_usec, uint32_t spill_window, const FlashRanges *erased,
                           const FlashRun *runs, size_t n);
/* Whether uploading the stub and writing runs with it takes less time than
 * writing them with the ROM. */
bool flash_stub_pays(uint32_t baud, usec_t rtt_usec, uint32_t spill_window, const FlashRanges *erased,
                     uint64_t stub_bytes, const FlashRun *runs, size_t n);
