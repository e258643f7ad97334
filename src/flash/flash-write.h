/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Whole-region operations the service calls: verify a region by on-chip MD5 and
 * write a region compressed, then prove it with MD5. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "esp-loader.h"
#include "flash-ranges.h"

/* Called after each block with bytes of the region written so far. Returning a
 * negative errno aborts the write with that error (-ECANCELED for cancellation). */
typedef int (*FlashProgressFn)(uint64_t done, uint64_t total, void *userdata);

/* MD5 of data compared with the chip's MD5 of [offset, offset+len).
 * ret_device_md5 may be NULL. */
int flash_verify_region(EspLoader *l, uint32_t offset, const void *data, size_t len,
                        bool *ret_match, uint8_t ret_device_md5[16]);
/* The same, with also(also_userdata) (may be NULL) run once while the chip
 * hashes, after the host's own digest: other host work the caller needs soon.
 * Its result is the caller's to keep in also_userdata. */
int flash_verify_region_also(EspLoader *l, uint32_t offset, const void *data, size_t len,
                             EspLoaderWorkFn also, void *also_userdata,
                             bool *ret_match, uint8_t ret_device_md5[16]);

/* Write of the whole region, then an MD5 check of it: -EIO (with the region
 * left marked bad by the caller) if the chip's MD5 differs. Compressed; on a
 * loader whose compressed writes spill past their end (the ESP32 ROM) the tail
 * goes uncompressed so that nothing past the region's last sector is touched
 * (flash_plan_spill_split). A stream that loses a block, or has one refused,
 * begins again from the first sector not surely on flash, within the loader's
 * restart budget (esp_loader_take_restart); at a raised baud rate
 * (esp_loader_baud_raised) two restarts in a row that keep nothing end the write
 * with the stream's error, so that the caller can go back to the connect rate.
 * A failed stub stream halves the stub's blocks (esp_loader_shrink_blocks).
 * A pass whose data reached the chip damaged (inflate error, MD5 mismatch) is
 * followed by one that writes only the sectors that differ, up to eight passes
 * in all. Progress fires after each block, in steps of at most 64 KiB of
 * the region. ret_wire_bytes (may be NULL) gets the data bytes sent, over every
 * stream. */
int flash_write_region(EspLoader *l, uint32_t offset, const void *data, size_t len,
                       FlashProgressFn progress, void *userdata, uint64_t *ret_wire_bytes);

/* flash_write_region() over flash of which `erased` (may be NULL) is proven
 * by MD5 in this session to hold 0xFF: on the ROM loader the streams over
 * whole sectors of it begin with erase size 0 (esp_loader_flash_defl_begin),
 * which saves the ROM's erase (3 s/MB). Their result is proven by the same
 * MD5; a write that fails it is done again with the erase, and the session
 * erases from then on (esp_loader_forbid_skip_erase). On the ESP32 ROM the
 * uncompressed tail a compressed head's spill lands in always erases. */
int flash_write_region_over(EspLoader *l, uint32_t offset, const void *data, size_t len,
                            const FlashRanges *erased, FlashProgressFn progress, void *userdata,
                            uint64_t *ret_wire_bytes);

/* The same compressed write without the MD5 proof, for chips that refuse MD5
 * (Secure Download Mode). The caller must report the write as unverified. */
int flash_write_region_unverified(EspLoader *l, uint32_t offset, const void *data, size_t len,
                                  FlashProgressFn progress, void *userdata);

/* The flash a flash_write_region() of [offset, offset+len) may change: the
 * sectors it covers. false if the loader's write behaviour is unknown (a ROM
 * without reference traces): then anything may have changed, and the caller
 * proves the whole image before trusting it. */
bool flash_write_footprint(EspLoader *l, uint32_t offset, size_t len, uint64_t *ret_start,
                           uint64_t *ret_end);

/* Local MD5 helper (OpenSSL EVP, converted once here). */
int flash_md5(const void *data, size_t len, uint8_t ret_digest[16]);
/* 1 if md5 is that of len bytes of 0xFF (a device MD5 of an erased range), else 0. */
int flash_md5_is_erased(const uint8_t md5[16], size_t len);
