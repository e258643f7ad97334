/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Compression and blocking for compressed flash writes. zlib (loaded on first
 * use, zlib-dl.h) errors are converted to errno here. Pure: no I/O. */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "flash-compress.h"
#include "macro.h"
#include "zlib-dl.h"

static int zlib_to_errno(int z) {
        switch (z) {
        case Z_MEM_ERROR:
                return -ENOMEM;
        case Z_BUF_ERROR:
                return -ENOBUFS;
        case Z_DATA_ERROR:
                return -EBADMSG;
        default:
                return -EIO;
        }
}

int flash_deflate(const void *data, size_t len, int level, uint8_t **ret_buf, size_t *ret_len) {
        _cleanup_free_ uint8_t *buf = NULL;
        uLongf out_len;
        int z, r;

        assert(data && ret_buf && ret_len);
        if (len == 0 || len > ULONG_MAX)
                return -EINVAL;

        r = zlib_dl_load();
        if (r < 0)
                return r;
        out_len = sym_compressBound((uLong) len);
        buf = malloc(out_len);
        if (!buf)
                return -ENOMEM;

        /* compress2() writes a zlib stream (header + adler32), as the ROM and
         * the stub expect, exactly like Python's zlib.compress(). */
        z = sym_compress2(buf, &out_len, data, (uLong) len, level);
        if (z != Z_OK)
                return zlib_to_errno(z);

        *ret_buf = TAKE_PTR(buf);
        *ret_len = out_len;
        return 0;
}

/* Inflates the stream block by block, recording the output after each block:
 * what the chip will have written when it acknowledges that block. */
static int plan_measure_blocks(FlashDeflatePlan *p) {
        _cleanup_free_ uint8_t *out = NULL;
        const size_t out_size = 64 * 1024;
        z_stream zs = {};
        size_t total = 0;
        int z, r = 0;

        out = malloc(out_size);
        if (!out)
                return -ENOMEM;

        r = zlib_dl_load();   /* loaded by flash_deflate() already: a no-op */
        if (r < 0)
                return r;
        z = sym_inflateInit_(&zs, ZLIB_VERSION, (int) sizeof(zs));
        if (z != Z_OK)
                return zlib_to_errno(z);

        for (size_t i = 0; i < p->n_blocks; i++) {
                size_t len;
                const uint8_t *block = flash_deflate_plan_block(p, i, &len);

                zs.next_in = (Bytef *) block;
                zs.avail_in = (uInt) len;
                for (;;) {
                        zs.next_out = out;
                        zs.avail_out = (uInt) out_size;
                        z = sym_inflate(&zs, Z_NO_FLUSH);
                        if (z != Z_OK && z != Z_STREAM_END && z != Z_BUF_ERROR) {
                                r = zlib_to_errno(z);
                                goto finish;
                        }
                        total += out_size - zs.avail_out;
                        /* Z_BUF_ERROR: no progress possible, this block is used up */
                        if (z != Z_OK || (zs.avail_in == 0 && zs.avail_out > 0))
                                break;
                }
                p->block_output[i] = total;
        }

        if (z != Z_STREAM_END || total != p->image_size)
                r = -EIO;   /* our own stream does not round-trip: never expected */
finish:
        sym_inflateEnd(&zs);
        return r;
}

int flash_deflate_plan_build(uint32_t offset, const void *data, size_t len, size_t block_size,
                             bool align_to_sector, FlashDeflatePlan *ret) {
        _cleanup_(flash_deflate_plan_done) FlashDeflatePlan p = {};
        _cleanup_free_ uint8_t *image = NULL;
        size_t padded;
        int r;

        if (!data || !ret || len == 0 || block_size == 0 || block_size > UINT32_MAX)
                return -EINVAL;
        if ((uint64_t) offset + len > (uint64_t) UINT32_MAX + 1)
                return -EINVAL;

        p.offset = offset;
        p.block_size = block_size;
        p.region_size = len;
        if (align_to_sector) {
                p.prefix = offset % FLASH_SECTOR_SIZE;
                p.offset = offset - (uint32_t) p.prefix;
        }
        padded = ALIGN_TO(p.prefix + len, FLASH_WRITE_ALIGN);
        p.image_size = padded;

        image = malloc(padded);
        if (!image)
                return -ENOMEM;
        memset(image, 0xff, p.prefix);
        memcpy(image + p.prefix, data, len);
        memset(image + p.prefix + len, 0xff, padded - p.prefix - len);

        r = flash_deflate(image, padded, FLASH_DEFLATE_LEVEL, &p.stream, &p.stream_size);
        if (r < 0)
                return r;

        p.n_blocks = DIV_ROUND_UP(p.stream_size, block_size);
        p.block_output = calloc(p.n_blocks, sizeof(size_t));
        if (!p.block_output)
                return -ENOMEM;

        r = plan_measure_blocks(&p);
        if (r < 0)
                return r;

        *ret = p;
        p = (FlashDeflatePlan) {};
        return 0;
}

void flash_deflate_plan_done(FlashDeflatePlan *p) {
        if (!p)
                return;
        free(p->stream);
        free(p->block_output);
        *p = (FlashDeflatePlan) {};
}

const uint8_t *flash_deflate_plan_block(const FlashDeflatePlan *p, size_t i, size_t *ret_len) {
        size_t start;

        if (!p || i >= p->n_blocks)
                return NULL;
        start = i * p->block_size;
        if (ret_len)
                *ret_len = MIN(p->block_size, p->stream_size - start);
        return p->stream + start;
}

size_t flash_deflate_plan_region_done(const FlashDeflatePlan *p, size_t i) {
        size_t out;

        if (!p || p->n_blocks == 0)
                return 0;
        out = p->block_output[MIN(i, p->n_blocks - 1)];
        /* the alignment prefix and the tail padding are not the caller's bytes */
        if (out <= p->prefix)
                return 0;
        return MIN(out - p->prefix, p->region_size);
}
