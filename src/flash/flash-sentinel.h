/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A region's change detector: an ESP image with an appended SHA-256 (every
 * application esptool or ESP-IDF builds) carries a digest of all its bytes at
 * its end, so an on-chip MD5 of those 32 bytes tells a changed image from an
 * unchanged one for one round trip, before the whole region is hashed. Pure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLASH_SENTINEL_SIZE 32u

/* Where the appended SHA-256 of the ESP image at the start of data lies, as an
 * offset into data (its size is FLASH_SENTINEL_SIZE). false if data is not such
 * an image (no 0xE9 magic, no hash_appended flag, segments that do not fit). */
bool flash_sentinel_find(const uint8_t *data, uint64_t size, uint32_t *ret_offset);
