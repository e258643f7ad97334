/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Finds the appended SHA-256 of an ESP image (esptool's image format: a 24-byte
 * header, segments of (address, length, bytes), padding to 16 bytes with the
 * checksum last, then the digest when header byte 23 says so). */
#include "flash-sentinel.h"
#include "macro.h"

#define ESP_IMAGE_MAGIC 0xE9u
#define ESP_IMAGE_HEADER_SIZE 24u
#define ESP_IMAGE_HASH_APPENDED_AT 23u
#define ESP_IMAGE_SEGMENT_HEADER_SIZE 8u
#define ESP_IMAGE_MAX_SEGMENTS 16u

static uint32_t le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

bool flash_sentinel_find(const uint8_t *data, uint64_t size, uint32_t *ret_offset) {
        uint64_t pos = ESP_IMAGE_HEADER_SIZE;
        unsigned n_segments;

        if (!data || size < ESP_IMAGE_HEADER_SIZE || data[0] != ESP_IMAGE_MAGIC)
                return false;
        if (data[ESP_IMAGE_HASH_APPENDED_AT] != 1)
                return false;
        n_segments = data[1];
        if (n_segments == 0 || n_segments > ESP_IMAGE_MAX_SEGMENTS)
                return false;

        for (unsigned i = 0; i < n_segments; i++) {
                if (pos + ESP_IMAGE_SEGMENT_HEADER_SIZE > size)
                        return false;
                pos += ESP_IMAGE_SEGMENT_HEADER_SIZE + le32(data + pos + 4);
                if (pos > size)
                        return false;
        }
        /* padding up to the checksum byte, the last of a 16-byte unit */
        pos = ALIGN_TO(pos + 1, 16u);
        if (pos + FLASH_SENTINEL_SIZE > size || pos > UINT32_MAX)
                return false;
        *ret_offset = (uint32_t) pos;
        return true;
}
