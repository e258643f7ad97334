/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pure half of a compressed write: pad and align the region as esptool does,
 * deflate it (zlib, level 9) and cut the stream into loader-sized blocks, knowing
 * how many flash bytes each block produces. No I/O; unit-tested on its own. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLASH_DEFLATE_LEVEL 9          /* esptool: zlib.compress(image, 9) */
#define FLASH_WRITE_ALIGN 4            /* esptool pads every image to 4 bytes with 0xFF */
#define FLASH_SECTOR_SIZE 0x1000

typedef struct FlashDeflatePlan {
        uint32_t offset;               /* flash address of the first byte sent */
        size_t prefix;                 /* 0xFF bytes added in front to align offset */
        size_t region_size;            /* the caller's bytes */
        size_t image_size;             /* bytes the chip writes: prefix + region + padding */

        uint8_t *stream;               /* zlib stream of the image */
        size_t stream_size;

        size_t block_size;
        size_t n_blocks;
        size_t *block_output;          /* image bytes completed by each block */
} FlashDeflatePlan;

/* Builds the plan for writing data (len > 0) at offset. align_to_sector moves
 * the start down to a sector boundary and fills the gap with 0xFF (what esptool
 * does for ROM loaders, which cannot write unaligned). -EINVAL for empty input,
 * a zero block size or a region past 4 GiB; -ENOMEM; -EIO if zlib fails. */
int flash_deflate_plan_build(uint32_t offset, const void *data, size_t len, size_t block_size,
                             bool align_to_sector, FlashDeflatePlan *ret);
void flash_deflate_plan_done(FlashDeflatePlan *p);

/* Block i of the stream (i < n_blocks): every block is block_size bytes except
 * possibly the last. */
const uint8_t *flash_deflate_plan_block(const FlashDeflatePlan *p, size_t i, size_t *ret_len);

/* Bytes of the caller's region written once blocks [0, i] have been written. */
size_t flash_deflate_plan_region_done(const FlashDeflatePlan *p, size_t i);

/* zlib deflate of a buffer at the given level, zlib errors converted to errno. */
int flash_deflate(const void *data, size_t len, int level, uint8_t **ret_buf, size_t *ret_len);
