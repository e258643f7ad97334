/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pure half of compressed writes: padding and sector alignment as esptool
 * does them, the zlib stream, and its cut into blocks (exact multiples of the
 * block size, one byte over, a single block), with what each block writes. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "flash-compress.h"
#include "macro.h"

/* Deterministic filler: incompressible (lcg), compressible (text-like) or
 * constant. */
typedef enum Fill {
        FILL_RANDOM,
        FILL_TEXT,
        FILL_ERASED,
} Fill;

static uint8_t *make_data(size_t n, Fill fill, uint32_t seed) {
        uint8_t *d = malloc(n ?: 1);
        uint32_t x = seed;

        assert(d);
        for (size_t i = 0; i < n; i++) {
                switch (fill) {
                case FILL_RANDOM:
                        x = x * 1103515245u + 12345u;
                        d[i] = (uint8_t) (x >> 16);
                        break;
                case FILL_TEXT:
                        d[i] = (uint8_t) "app running sha256=0123456789abcdef\n"[(i + seed) % 36];
                        break;
                case FILL_ERASED:
                        d[i] = 0xff;
                        break;
                }
        }
        return d;
}

static uint8_t *inflate_all(const uint8_t *stream, size_t n, size_t expected) {
        uint8_t *out = malloc(expected + 1);
        uLongf out_len = expected + 1;

        assert(out);
        assert(uncompress(out, &out_len, stream, n) == Z_OK);
        assert(out_len == expected);
        return out;
}

/* Every invariant of a plan, given the input it was built from. */
static void check_plan(const FlashDeflatePlan *p, uint32_t offset, const uint8_t *data, size_t len,
                       size_t block_size, bool align) {
        size_t prefix = align ? offset % FLASH_SECTOR_SIZE : 0, total = 0, prev = 0;
        _cleanup_free_ uint8_t *image = NULL, *joined = NULL;

        assert(p->offset == offset - prefix);
        assert(p->offset % (align ? FLASH_SECTOR_SIZE : 1) == 0);
        assert(p->prefix == prefix);
        assert(p->region_size == len);
        assert(p->image_size % FLASH_WRITE_ALIGN == 0);
        assert(p->image_size >= prefix + len && p->image_size < prefix + len + FLASH_WRITE_ALIGN);
        assert(p->block_size == block_size);

        /* a zlib stream at level 9, like Python's zlib.compress(data, 9) */
        assert(p->stream_size >= 2 && p->stream[0] == 0x78 && p->stream[1] == 0xda);

        /* the image: 0xFF prefix, the data, 0xFF padding */
        image = inflate_all(p->stream, p->stream_size, p->image_size);
        for (size_t i = 0; i < prefix; i++)
                assert(image[i] == 0xff);
        assert(memcmp(image + prefix, data, len) == 0);
        for (size_t i = prefix + len; i < p->image_size; i++)
                assert(image[i] == 0xff);

        /* blocks: all full but the last, covering the stream exactly once */
        assert(p->n_blocks == DIV_ROUND_UP(p->stream_size, block_size));
        joined = malloc(p->stream_size);
        assert(joined);
        for (size_t i = 0; i < p->n_blocks; i++) {
                size_t n = 0;
                const uint8_t *b = flash_deflate_plan_block(p, i, &n);

                assert(b);
                assert(n > 0 && n <= block_size);
                if (i + 1 < p->n_blocks)
                        assert(n == block_size);
                memcpy(joined + total, b, n);
                total += n;

                /* flash written grows with every block and ends at the image */
                assert(p->block_output[i] >= prev);
                prev = p->block_output[i];
                assert(flash_deflate_plan_region_done(p, i) <= len);
        }
        assert(total == p->stream_size);
        assert(memcmp(joined, p->stream, total) == 0);
        assert(p->block_output[p->n_blocks - 1] == p->image_size);
        assert(flash_deflate_plan_region_done(p, p->n_blocks - 1) == len);
        assert(flash_deflate_plan_block(p, p->n_blocks, NULL) == NULL);
}

static void build_and_check(uint32_t offset, const uint8_t *data, size_t len, size_t block_size,
                            bool align, FlashDeflatePlan *ret) {
        FlashDeflatePlan p;

        assert(flash_deflate_plan_build(offset, data, len, block_size, align, &p) == 0);
        check_plan(&p, offset, data, len, block_size, align);
        if (ret)
                *ret = p;
        else
                flash_deflate_plan_done(&p);
}

static void test_rejects(void) {
        uint8_t b[4] = {};
        FlashDeflatePlan p = {};

        assert(flash_deflate_plan_build(0, b, 0, 0x400, false, &p) == -EINVAL);     /* empty */
        assert(flash_deflate_plan_build(0, NULL, 4, 0x400, false, &p) == -EINVAL);
        assert(flash_deflate_plan_build(0, b, 4, 0, false, &p) == -EINVAL);         /* no block size */
        assert(flash_deflate_plan_build(UINT32_MAX, b, 4, 0x400, false, &p) == -EINVAL);  /* past 4 GiB */
        assert(flash_deflate_plan_build(UINT32_MAX - 3, b, 4, 0x400, false, &p) == 0);    /* ends at 4 GiB */
        flash_deflate_plan_done(&p);
        flash_deflate_plan_done(&p);   /* idempotent */
        flash_deflate_plan_done(NULL);

        assert(flash_deflate(b, 0, 9, &(uint8_t *) { NULL }, &(size_t) { 0 }) == -EINVAL);
}

/* Block sizes around the stream size: exact multiples, one byte over, one block. */
static void test_block_boundaries(void) {
        static const struct {
                size_t len;
                Fill fill;
        } inputs[] = {
                { 1, FILL_RANDOM },
                { 3, FILL_RANDOM },
                { 4, FILL_RANDOM },
                { 5, FILL_TEXT },
                { 0x400, FILL_RANDOM },         /* exactly one ROM block of input */
                { 0x401, FILL_RANDOM },
                { 0x4000, FILL_RANDOM },        /* exactly one stub block of input */
                { 0x4001, FILL_RANDOM },
                { 3 * 0x400 + 2, FILL_TEXT },
                { 0x10000, FILL_TEXT },
        };

        for (size_t k = 0; k < ELEMENTSOF(inputs); k++) {
                _cleanup_free_ uint8_t *data = make_data(inputs[k].len, inputs[k].fill, (uint32_t) k);
                FlashDeflatePlan ref;
                size_t s;

                /* the stream size, to aim block sizes at it */
                build_and_check(0x10000, data, inputs[k].len, 0x100000, false, &ref);
                s = ref.stream_size;
                assert(ref.n_blocks == 1);
                flash_deflate_plan_done(&ref);

                build_and_check(0x10000, data, inputs[k].len, s, false, NULL);          /* one exact block */
                if (s > 1) {
                        FlashDeflatePlan p;
                        size_t n = 0;

                        /* one byte over a block: a 1-byte last block */
                        build_and_check(0x10000, data, inputs[k].len, s - 1, false, &p);
                        assert(p.n_blocks == 2);
                        assert(flash_deflate_plan_block(&p, 1, &n) && n == 1);
                        flash_deflate_plan_done(&p);
                }
                /* every divisor of s: exact multiples, all blocks full */
                for (size_t bs = 1; bs <= MIN(s, (size_t) 64); bs++)
                        if (s % bs == 0) {
                                FlashDeflatePlan p;

                                build_and_check(0x10000, data, inputs[k].len, bs, false, &p);
                                assert(p.n_blocks == s / bs);
                                flash_deflate_plan_done(&p);
                        }
                /* the real block sizes */
                build_and_check(0x10000, data, inputs[k].len, 0x400, false, NULL);
                build_and_check(0x10000, data, inputs[k].len, 0x4000, false, NULL);
        }
}

/* Sizes that are not a multiple of 4 are padded with 0xFF (esptool pad_to(…, 4)). */
static void test_padding(void) {
        for (size_t len = 1; len <= 9; len++) {
                _cleanup_free_ uint8_t *data = make_data(len, FILL_RANDOM, 7);
                FlashDeflatePlan p;

                build_and_check(0x8000, data, len, 0x400, false, &p);
                assert(p.image_size == ALIGN_TO(len, 4));
                assert(p.prefix == 0);
                flash_deflate_plan_done(&p);
        }
}

/* ROM loaders: the start moves down to the sector, the gap is 0xFF; progress
 * never counts the gap. */
static void test_sector_alignment(void) {
        _cleanup_free_ uint8_t *data = make_data(0x3000, FILL_RANDOM, 3);
        FlashDeflatePlan p;

        build_and_check(0x11234, data, 0x3000, 0x400, true, &p);
        assert(p.offset == 0x11000);
        assert(p.prefix == 0x234);
        assert(p.image_size == 0x3234);
        for (size_t i = 0; i < p.n_blocks; i++)
                assert(flash_deflate_plan_region_done(&p, i) ==
                       MIN(p.block_output[i] > 0x234 ? p.block_output[i] - 0x234 : 0, (size_t) 0x3000));
        flash_deflate_plan_done(&p);

        /* aligned already, or alignment not asked for: nothing moves */
        build_and_check(0x11000, data, 0x3000, 0x400, true, &p);
        assert(p.offset == 0x11000 && p.prefix == 0);
        flash_deflate_plan_done(&p);
        build_and_check(0x11234, data, 0x3000, 0x4000, false, &p);
        assert(p.offset == 0x11234 && p.prefix == 0);
        flash_deflate_plan_done(&p);
}

/* Highly compressible data: one small block can stand for a lot of flash, and
 * the per-block output (timeouts, progress) must still add up. */
static void test_compressible(void) {
        const size_t len = 1024 * 1024;
        _cleanup_free_ uint8_t *data = make_data(len, FILL_ERASED, 0);
        FlashDeflatePlan p;

        build_and_check(0, data, len, 0x400, false, &p);
        assert(p.stream_size < len / 100);
        flash_deflate_plan_done(&p);

        /* a block size of 16 bytes: many blocks produce nothing, none goes back */
        build_and_check(0, data, len, 16, false, &p);
        assert(p.n_blocks > 2);
        flash_deflate_plan_done(&p);
}

int main(void) {
        test_rejects();
        test_block_boundaries();
        test_padding();
        test_sector_alignment();
        test_compressible();
        printf("test-flash-compress: OK\n");
        return 0;
}
