/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading what the chip would boot: the ESP-IDF partition table at 0x8000 and
 * ESP image headers (segments, entry point, total length), so the boot model
 * can print believable load lines and name the application's SHA-256. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim-flash.h"

#define SIM_IMAGE_MAGIC 0xE9
#define SIM_IMAGE_MAX_SEGMENTS 16
#define SIM_PARTITION_TABLE_OFFSET 0x8000U
#define SIM_PARTITION_TABLE_MAX 0xC00U
#define SIM_DEFAULT_APP_OFFSET 0x10000U

typedef struct SimImageSegment {
        uint32_t load_addr;
        uint32_t len;
} SimImageSegment;

typedef struct SimImageInfo {
        uint32_t entry;
        size_t n_segments;
        SimImageSegment segments[SIM_IMAGE_MAX_SEGMENTS];
        uint32_t length;        /* header through checksum, plus the appended SHA-256 */
        bool hash_appended;
} SimImageInfo;

typedef struct SimPartition {
        uint8_t type;
        uint8_t subtype;
        uint32_t offset;
        uint32_t size;
        char label[17];
} SimPartition;

/* Parses an ESP image header at offset, reading at most max_len bytes.
 * Returns -EBADMSG if there is no valid image there. */
int sim_image_parse(const SimFlash *f, uint32_t offset, uint32_t max_len, SimImageInfo *ret);

/* Reads up to max entries of the partition table; -ENOENT if there is none. */
int sim_partition_table_read(const SimFlash *f, SimPartition *ret, size_t max, size_t *ret_n);

/* The application the bootloader would start: the factory app partition, else
 * the first app partition, else 0x10000 to the end of flash. The image length
 * comes from its header, else the partition with trailing 0xFF trimmed. */
int sim_app_locate(const SimFlash *f, uint32_t *ret_offset, uint32_t *ret_len, uint32_t *ret_partition_size);
int sim_app_sha256(const SimFlash *f, uint8_t ret[32], uint32_t *ret_offset, uint32_t *ret_len);
