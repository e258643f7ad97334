/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Partition table and ESP image parsing for the boot model (see sim-image.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "sim-digest.h"
#include "sim-image.h"

#define IMAGE_HEADER_LEN 24     /* 8-byte common header + 16-byte extended header */
#define IMAGE_HASH_APPENDED_OFFSET 23
#define PARTITION_ENTRY_LEN 32
#define PARTITION_MAGIC 0x50AA
#define PARTITION_MD5_MAGIC 0xEBEB
#define PARTITION_TYPE_APP 0x00
#define PARTITION_SUBTYPE_FACTORY 0x00

static uint32_t le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

int sim_image_parse(const SimFlash *f, uint32_t offset, uint32_t max_len, SimImageInfo *ret) {
        uint8_t h[IMAGE_HEADER_LEN];
        SimImageInfo info = {};
        uint64_t pos;

        if (max_len < IMAGE_HEADER_LEN)
                return -EBADMSG;
        sim_flash_read(f, offset, h, sizeof(h));
        if (h[0] != SIM_IMAGE_MAGIC || h[1] == 0 || h[1] > SIM_IMAGE_MAX_SEGMENTS)
                return -EBADMSG;

        info.entry = le32(h + 4);
        info.hash_appended = h[IMAGE_HASH_APPENDED_OFFSET] == 1;
        pos = IMAGE_HEADER_LEN;
        for (unsigned i = 0; i < h[1]; i++) {
                uint8_t s[8];

                if (pos + sizeof(s) > max_len)
                        return -EBADMSG;
                sim_flash_read(f, offset + (uint32_t) pos, s, sizeof(s));
                info.segments[i] = (SimImageSegment) { .load_addr = le32(s), .len = le32(s + 4) };
                pos += sizeof(s) + (uint64_t) info.segments[i].len;
                if (pos > max_len)
                        return -EBADMSG;
        }
        info.n_segments = h[1];
        /* One checksum byte, placed so the image ends on a 16-byte boundary. */
        pos = ALIGN_TO(pos + 1, 16);
        if (info.hash_appended)
                pos += 32;
        if (pos > max_len)
                return -EBADMSG;
        info.length = (uint32_t) pos;
        *ret = info;
        return 0;
}

int sim_partition_table_read(const SimFlash *f, SimPartition *ret, size_t max, size_t *ret_n) {
        uint8_t e[PARTITION_ENTRY_LEN];
        size_t n = 0;

        for (uint32_t off = 0; off + PARTITION_ENTRY_LEN <= SIM_PARTITION_TABLE_MAX && n < max;
             off += PARTITION_ENTRY_LEN) {
                uint16_t magic;

                sim_flash_read(f, SIM_PARTITION_TABLE_OFFSET + off, e, sizeof(e));
                magic = (uint16_t) (e[0] | e[1] << 8);
                if (magic != PARTITION_MAGIC)
                        break;  /* 0xFFFF end marker, or the MD5 entry (0xEBEB) */
                ret[n] = (SimPartition) {
                        .type = e[2],
                        .subtype = e[3],
                        .offset = le32(e + 4),
                        .size = le32(e + 8),
                };
                memcpy(ret[n].label, e + 12, 16);
                ret[n].label[16] = 0;
                n++;
        }
        if (n == 0)
                return -ENOENT;
        *ret_n = n;
        return 0;
}

int sim_app_locate(const SimFlash *f, uint32_t *ret_offset, uint32_t *ret_len, uint32_t *ret_partition_size) {
        SimPartition parts[SIM_PARTITION_TABLE_MAX / PARTITION_ENTRY_LEN];
        uint32_t offset = SIM_DEFAULT_APP_OFFSET, size = f->size - SIM_DEFAULT_APP_OFFSET;
        SimImageInfo info;
        size_t n = 0;
        uint32_t len;

        if (sim_partition_table_read(f, parts, ELEMENTSOF(parts), &n) >= 0) {
                const SimPartition *app = NULL;

                for (size_t i = 0; i < n; i++)
                        if (parts[i].type == PARTITION_TYPE_APP &&
                            parts[i].subtype == PARTITION_SUBTYPE_FACTORY) {
                                app = &parts[i];
                                break;
                        }
                for (size_t i = 0; !app && i < n; i++)
                        if (parts[i].type == PARTITION_TYPE_APP)
                                app = &parts[i];
                if (app && app->offset < f->size) {
                        offset = app->offset;
                        size = MIN(app->size, f->size - app->offset);
                }
        }

        if (sim_image_parse(f, offset, size, &info) >= 0)
                len = info.length;
        else {
                /* No image header: whatever was written, minus the erased tail. */
                uint8_t buf[4096];

                len = size;
                while (len > 0) {
                        uint32_t chunk = MIN(len, (uint32_t) sizeof(buf));
                        size_t i;

                        sim_flash_read(f, offset + len - chunk, buf, chunk);
                        for (i = chunk; i > 0 && buf[i - 1] == 0xFF; i--)
                                ;
                        len -= chunk - (uint32_t) i;
                        if (i > 0)
                                break;
                }
        }

        *ret_offset = offset;
        *ret_len = len;
        if (ret_partition_size)
                *ret_partition_size = size;
        return 0;
}

int sim_app_sha256(const SimFlash *f, uint8_t ret[32], uint32_t *ret_offset, uint32_t *ret_len) {
        uint8_t digest[SIM_DIGEST_MAX];
        uint32_t offset, len;
        int r;

        r = sim_app_locate(f, &offset, &len, NULL);
        if (r < 0)
                return r;
        r = sim_digest_flash(SIM_DIGEST_SHA256, f, offset, len, digest);
        if (r < 0)
                return r;
        memcpy(ret, digest, 32);
        *ret_offset = offset;
        *ret_len = len;
        return 0;
}
