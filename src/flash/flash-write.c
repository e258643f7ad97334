/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Whole-region operations over a loader session: verify by on-chip MD5, and
 * write compressed then prove the result by MD5. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "flash-compress.h"
#include "flash-plan.h"
#include "flash-write.h"
#include "log.h"
#include "macro.h"
#include "progress-util.h"

/* A region whose data arrived damaged (inflate error, MD5 mismatch) gets this
 * many passes in all; after the first, a pass writes only the sectors that do
 * not hold the image (a block with two flipped bits in the same position
 * passes the loader's XOR checksum, so on a noisy link every long pass has a
 * damaged block somewhere: repassing the whole region never converges). */
#define FLASH_WRITE_PASSES 8
/* Restarts of a compressed ROM stream in a row that keep nothing before the
 * rest goes uncompressed, and of any stream before the write gives up: a link
 * that lets no block through is not mended by the rest of the budget. */
#define FLASH_WRITE_FRUITLESS_RESTARTS 2
#define FLASH_WRITE_FRUITLESS_LIMIT 6
/* The round trip the write layout's cost model assumes (DESIGN.md: 1 ms USB
 * turnaround on a bridge). */
#define FLASH_WRITE_RTT_USEC (1 * USEC_PER_MSEC)

int flash_md5(const void *data, size_t len, uint8_t ret_digest[16]) {
        return digest_md5(data, len, ret_digest);
}

int flash_md5_is_erased(const uint8_t md5[16], size_t len) {
        _cleanup_free_ uint8_t *ff = NULL;
        uint8_t local[16];
        int r;

        assert(md5);
        if (len == 0)
                return -EINVAL;
        ff = malloc(len);
        if (!ff)
                return -ENOMEM;
        memset(ff, 0xff, len);
        r = flash_md5(ff, len, local);
        if (r < 0)
                return r;
        return memcmp(local, md5, sizeof(local)) == 0;
}

/* The region rule every call here checks: some bytes, all below 4 GiB. */
static bool region_in_32_bits(uint32_t offset, size_t len) {
        return len > 0 && (uint64_t) offset + len <= UINT32_MAX;
}

typedef struct LocalMd5 {
        const void *data;
        size_t len;
        uint8_t digest[16];
        int r;
        EspLoaderWorkFn also;
        void *also_userdata;
} LocalMd5;

static void local_md5(void *userdata) {
        LocalMd5 *m = userdata;

        m->r = flash_md5(m->data, m->len, m->digest);
        if (m->also)
                m->also(m->also_userdata);
}

int flash_verify_region(EspLoader *l, uint32_t offset, const void *data, size_t len,
                        bool *ret_match, uint8_t ret_device_md5[16]) {
        return flash_verify_region_also(l, offset, data, len, NULL, NULL, ret_match, ret_device_md5);
}

int flash_verify_region_also(EspLoader *l, uint32_t offset, const void *data, size_t len,
                             EspLoaderWorkFn also, void *also_userdata,
                             bool *ret_match, uint8_t ret_device_md5[16]) {
        LocalMd5 local = { .data = data, .len = len, .also = also, .also_userdata = also_userdata };
        uint8_t device[16];
        int r;

        assert(l && data && ret_match);
        if (!region_in_32_bits(offset, len))
                return -EINVAL;

        /* Our digest while the chip computes its own (1 MB: a few ms here,
         * half a second there). */
        r = esp_loader_flash_md5_while(l, offset, (uint32_t) len, local_md5, &local, device);
        if (r < 0)
                return r;
        if (local.r < 0)
                return local.r;

        *ret_match = memcmp(local.digest, device, sizeof(device)) == 0;
        if (ret_device_md5)
                memcpy(ret_device_md5, device, sizeof(device));
        return 0;
}

/* Reports progress up to `done`, in steps no larger than PROGRESS_STEP, even
 * when one highly compressed block covers more. */
static int report_progress(FlashProgressFn progress, void *userdata, uint64_t *reported,
                           uint64_t done, uint64_t total) {
        int r;

        if (!progress)
                return 0;
        while (*reported < done) {
                uint64_t next = progress_next(*reported, done);

                r = progress(next, total, userdata);
                if (r < 0)
                        return r;
                *reported = next;
        }
        return 0;
}

/* What a region write sends: the caller's bytes, moved down to a sector
 * boundary on a ROM (0xFF in front: it cannot begin mid-sector, esptool aligns
 * for it too) and padded to 4 bytes with 0xFF. Streams cover parts of it. */
typedef struct WriteImage {
        uint32_t base;                  /* flash address of buf[0] */
        size_t prefix;                  /* 0xFF bytes in front of the caller's */
        size_t region_size;             /* the caller's bytes */
        uint8_t *buf;
        size_t size;

        FlashProgressFn progress;
        void *userdata;
        uint64_t reported;              /* region bytes reported so far */
        uint64_t wire;                  /* data bytes sent, over every stream */

        /* Flash proven to hold 0xFF that no stream of this write has begun
         * over yet (absolute addresses; empty unless the ROM may skip its
         * erase), and whether a stream begun without erase wrote any of it. */
        FlashRanges erased;
        bool skipped_erase;
} WriteImage;

static void write_image_done(WriteImage *w) {
        free(w->buf);
        w->buf = NULL;
        flash_ranges_done(&w->erased);
}

/* The caller's bytes inside image bytes [from, to), for an MD5 of them. */
static bool write_image_region_part(const WriteImage *w, size_t from, size_t to, uint32_t *ret_addr,
                                    size_t *ret_skip, size_t *ret_len) {
        size_t a = MAX(from, w->prefix), b = MIN(to, w->prefix + w->region_size);

        if (a >= b)
                return false;
        *ret_addr = w->base + (uint32_t) a;
        *ret_skip = a - w->prefix;
        *ret_len = b - a;
        return true;
}

/* Whether a stream over image bytes [from, to) may skip the erase: the
 * caller's bytes there are proven 0xFF and untouched by this write so far
 * (the prefix and padding are 0xFF, which programming leaves as it is). */
static bool write_image_erased(const WriteImage *w, size_t from, size_t to) {
        uint32_t addr;
        size_t skip, len;

        if (w->erased.n == 0 || !write_image_region_part(w, from, to, &addr, &skip, &len))
                return false;
        return flash_ranges_covers(&w->erased, addr, (uint64_t) addr + len);
}

/* A stream over image bytes [from, to) begins: whether it must erase, and what
 * it may program (on a loader whose compressed writes spill, up to the end of
 * the inflate buffer past it) is no longer known to be erased. */
static int write_image_begin(EspLoader *l, WriteImage *w, size_t from, size_t to, bool compressed,
                             bool *ret_erase) {
        uint64_t start = (uint64_t) w->base + from, end = (uint64_t) w->base + to;
        uint32_t window = 0;
        bool erased = write_image_erased(w, from, to);
        int r;

        if (compressed && esp_loader_defl_spill(l, &window) && window > 0)
                end = start + ((to - from) / window + 1) * window;
        r = flash_ranges_remove(&w->erased, start, end);
        if (r < 0)
                return r;
        if (erased) {
                log_debug("Writing 0x%zx bytes at 0x%" PRIx64 " without erasing: proven erased.", to - from,
                          start);
                w->skipped_erase = true;
        }
        *ret_erase = !erased;
        return 0;
}

static int write_image_init(WriteImage *w, EspLoader *l, uint32_t offset, const void *data, size_t len,
                            const FlashRanges *erased) {
        int r;

        /* what is proven erased inside the region (the ROM only) */
        for (size_t i = 0; erased && esp_loader_can_skip_erase(l) && i < erased->n; i++) {
                uint64_t a = MAX(erased->v[i].start, (uint64_t) offset);
                uint64_t b = MIN(erased->v[i].end, (uint64_t) offset + len);

                if (a < b) {
                        r = flash_ranges_add(&w->erased, a, b);
                        if (r < 0)
                                return r;
                }
        }

        w->prefix = esp_loader_is_stub(l) ? 0 : offset % FLASH_SECTOR_SIZE;
        w->base = offset - (uint32_t) w->prefix;
        w->region_size = len;
        w->size = ALIGN_TO(w->prefix + len, FLASH_WRITE_ALIGN);
        w->buf = malloc(w->size);
        if (!w->buf)
                return -ENOMEM;
        memset(w->buf, 0xff, w->prefix);
        memcpy(w->buf + w->prefix, data, len);
        memset(w->buf + w->prefix + len, 0xff, w->size - w->prefix - len);
        return 0;
}

/* Progress up to image byte `pos`, in the caller's terms. */
static int write_image_progress(WriteImage *w, size_t pos) {
        uint64_t done = pos <= w->prefix ? 0 : MIN(pos - w->prefix, w->region_size);

        return report_progress(w->progress, w->userdata, &w->reported, done, w->region_size);
}

/* A compressed stream of buf[from, to): FLASH_DEFL_BEGIN, every block, and a
 * FLASH_DEFL_END only for a stub (the ROM's leaves the loader). On failure
 * *ret_acked is what the acknowledged blocks carried, and *ret_begun says
 * whether the stream got that far. */
static int stream_compressed(EspLoader *l, WriteImage *w, size_t from, size_t to, size_t *ret_acked,
                             bool *ret_begun) {
        _cleanup_(flash_deflate_plan_done) FlashDeflatePlan plan = {};
        bool erase = true;
        int r;

        r = flash_deflate_plan_build(w->base + (uint32_t) from, w->buf + from, to - from,
                                     esp_loader_flash_block_size(l), false, &plan);
        if (r < 0)
                return log_debug_errno(r, "Failed to compress 0x%zx bytes at 0x%zx: %m", to - from,
                                       w->base + from);

        r = write_image_begin(l, w, from, to, true, &erase);
        if (r < 0)
                return r;
        r = esp_loader_flash_defl_begin(l, plan.offset, (uint32_t) plan.image_size,
                                        (uint32_t) plan.stream_size, (uint32_t) plan.block_size, erase);
        if (r < 0)
                return r;
        *ret_begun = true;

        for (size_t i = 0; i < plan.n_blocks; i++) {
                size_t block_len, before = i > 0 ? plan.block_output[i - 1] : 0;
                const uint8_t *block = flash_deflate_plan_block(&plan, i, &block_len);

                r = esp_loader_flash_defl_data(l, (uint32_t) i, block, block_len,
                                               (uint32_t) (plan.block_output[i] - before));
                w->wire += block_len;
                if (r < 0)
                        return r;
                *ret_acked = plan.block_output[i];

                r = write_image_progress(w, from + plan.block_output[i]);
                if (r < 0)
                        return r;
        }

        return esp_loader_flash_defl_end(l, /* stay_in_loader= */ true);
}

/* An uncompressed stream of buf[from, to): FLASH_BEGIN and every block. */
static int stream_raw(EspLoader *l, WriteImage *w, size_t from, size_t to, size_t *ret_acked,
                      bool *ret_begun) {
        uint32_t block_size = esp_loader_flash_block_size(l);
        bool erase = true;
        int r;

        r = write_image_begin(l, w, from, to, false, &erase);
        if (r < 0)
                return r;
        r = esp_loader_flash_begin(l, w->base + (uint32_t) from, (uint32_t) (to - from), block_size, erase);
        if (r < 0)
                return r;
        *ret_begun = true;

        for (size_t pos = from; pos < to; pos += block_size) {
                size_t n = MIN((size_t) block_size, to - pos);

                r = esp_loader_flash_data(l, w->buf + pos, n, block_size);
                w->wire += block_size;
                if (r < 0)
                        return r;
                *ret_acked = pos + n - from;

                r = write_image_progress(w, pos + n);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Errors after which beginning the stream again can help: a refused, lost or
 * garbled block, an inflater the damage reached. */
static bool stream_error_restartable(int r) {
        return r == -EPROTO || r == -ETIMEDOUT || r == -EBADMSG || r == -EILSEQ;
}

/* The one place the protocol's inflate failure becomes what callers of this
 * layer see: a protocol error like any other the chip reports. */
static int write_error(int r) {
        return r == -EILSEQ ? -EPROTO : r;
}

/* buf[from, to) in streams, begun again after a refused or lost block from
 * the first sector that is not surely on flash yet (a ROM erases at begin, so a
 * restart must not begin below what it keeps), within the session's restart
 * budget. A compressed stream keeps only whole inflate buffers on the ROM: on a
 * link that mangles blocks so often that two restarts in a row keep nothing,
 * the rest goes uncompressed, whose blocks count one by one; after six such
 * restarts it gives up, and at a raised baud rate already after two (the
 * caller may go back to the connect rate). A failed stub stream halves the
 * stub's blocks, which counts as a change, not a fruitless restart. */
static int write_segment(EspLoader *l, WriteImage *w, size_t from, size_t to, bool compressed) {
        unsigned fruitless = 0;
        size_t pos = from;
        int r;

        for (;;) {
                size_t acked = 0, kept;
                bool begun = false, shrunk;

                r = compressed ? stream_compressed(l, w, pos, to, &acked, &begun)
                               : stream_raw(l, w, pos, to, &acked, &begun);
                if (r >= 0)
                        return 0;
                /* a chip that does not even take a begin is not helped by another */
                if (!begun || !stream_error_restartable(r))
                        return r;
                if (w->skipped_erase)
                        /* maybe this ROM does not take data after an erase
                         * size of 0: the rest of the session erases */
                        esp_loader_forbid_skip_erase(l);
                if (esp_loader_take_restart(l) < 0)
                        return r;

                kept = (size_t) esp_loader_stream_flushed(l, compressed, acked);
                kept = kept / FLASH_SECTOR_SIZE * FLASH_SECTOR_SIZE;
                log_debug("Write stream at 0x%zx failed after 0x%zx bytes (%s): beginning again at 0x%zx.",
                          w->base + pos, acked, strerror(-r), w->base + pos + kept);
                pos += kept;

                /* a stub block that never arrived whole: smaller ones may
                 * (the link is no less busy, but each has better odds) */
                shrunk = esp_loader_is_stub(l) && esp_loader_shrink_blocks(l);
                fruitless = kept > 0 || shrunk ? 0 : fruitless + 1;
                if (fruitless >= FLASH_WRITE_FRUITLESS_RESTARTS && esp_loader_baud_raised(l))
                        /* the raised rate may be what breaks the link: the
                         * caller can go back to the connect rate (a reset) */
                        return log_debug_errno(r, "%u restarts in a row kept nothing at a raised baud rate: %m",
                                               fruitless);
                if (fruitless >= FLASH_WRITE_FRUITLESS_LIMIT)
                        return log_debug_errno(r, "%u restarts in a row kept nothing, giving up: %m", fruitless);
                if (compressed && fruitless >= FLASH_WRITE_FRUITLESS_RESTARTS &&
                    !esp_loader_is_stub(l)) {
                        log_debug("Writing the rest from 0x%zx uncompressed.", w->base + pos);
                        compressed = false;
                }
        }
}

/* Image bytes [from, to) (from sector aligned on a ROM): on a loader whose
 * compressed streams spill, a compressed head and an uncompressed tail that the
 * head's spill lands in (flash_plan_spill_split), else one compressed stream. */
static int write_piece(EspLoader *l, WriteImage *w, size_t from, size_t to) {
        FlashCostModel m;
        size_t head;
        int r;

        flash_cost_model_init(&m, esp_loader_uses_usb_jtag(l) ? 0 : esp_loader_baud(l),
                              FLASH_WRITE_RTT_USEC, esp_loader_is_stub(l));
        (void) esp_loader_defl_spill(l, &m.spill_window);
        head = from + (size_t) flash_plan_spill_split(&m, w->base + (uint32_t) from, to - from);

        if (head > from) {
                r = write_segment(l, w, from, head, true);
                if (r < 0)
                        return r;
        }
        if (head < to) {
                r = write_segment(l, w, head, to, false);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Image bytes [from, to), in pieces of whole sectors that are all proven
 * erased or all not: the first kind goes without the ROM's erase, which is
 * most of a ROM write's time on a blank chip (3 s/MB). */
static int write_range(EspLoader *l, WriteImage *w, size_t from, size_t to) {
        int r;

        if (w->erased.n == 0)
                return write_piece(l, w, from, to);

        while (from < to) {
                size_t end = MIN(ALIGN_TO(from + 1, FLASH_SECTOR_SIZE), to);
                bool erased = write_image_erased(w, from, end);

                while (end < to && write_image_erased(w, end, MIN(end + FLASH_SECTOR_SIZE, to)) == erased)
                        end = MIN(end + FLASH_SECTOR_SIZE, to);
                r = write_piece(l, w, from, end);
                if (r < 0)
                        return r;
                from = end;
        }
        return 0;
}

/* Marks in damaged[] (one per sector of the image, from its base) the sectors
 * whose flash does not hold the caller's bytes: 64 KiB blocks first, then the
 * sectors of the blocks that differ. */
static int write_image_find_damage(EspLoader *l, WriteImage *w, const uint8_t *data, bool *damaged,
                                   size_t n_sectors, size_t *ret_n_damaged) {
        const size_t per_block = FLASH_PLAN_BLOCK_SIZE / FLASH_SECTOR_SIZE;
        size_t n_damaged = 0;
        int r;

        for (size_t b = 0; b < n_sectors; b += per_block) {
                size_t end = MIN(b + per_block, n_sectors), skip, len;
                bool match = false;
                uint32_t addr;

                for (size_t i = b; i < end; i++)
                        damaged[i] = false;
                if (!write_image_region_part(w, b * FLASH_SECTOR_SIZE, end * FLASH_SECTOR_SIZE, &addr,
                                             &skip, &len))
                        continue;
                r = flash_verify_region(l, addr, data + skip, len, &match, NULL);
                if (r < 0)
                        return r;
                if (match)
                        continue;
                for (size_t i = b; i < end; i++) {
                        if (!write_image_region_part(w, i * FLASH_SECTOR_SIZE, (i + 1) * FLASH_SECTOR_SIZE,
                                                     &addr, &skip, &len))
                                continue;
                        r = flash_verify_region(l, addr, data + skip, len, &match, NULL);
                        if (r < 0)
                                return r;
                        damaged[i] = !match;
                        n_damaged += !match;
                }
        }
        *ret_n_damaged = n_damaged;
        return 0;
}

/* One pass: every run of damaged sectors (all of them on the first pass). */
static int write_pass(EspLoader *l, WriteImage *w, const bool *damaged, size_t n_sectors) {
        int r;

        for (size_t i = 0; i < n_sectors;) {
                size_t k = i;

                if (!damaged[i]) {
                        i++;
                        continue;
                }
                while (k < n_sectors && damaged[k])
                        k++;
                r = write_range(l, w, i * FLASH_SECTOR_SIZE, MIN(k * FLASH_SECTOR_SIZE, w->size));
                if (r < 0)
                        return r;
                i = k;
        }
        return 0;
}

/* Whether a failed pass is worth repeating from the start: the data reached
 * the chip damaged in a way its per-block checksum could not see. */
static bool write_pass_corrupted(int r) {
        return r == -EBADMSG || r == -EILSEQ;
}

int flash_write_region(EspLoader *l, uint32_t offset, const void *data, size_t len,
                       FlashProgressFn progress, void *userdata, uint64_t *ret_wire_bytes) {
        return flash_write_region_over(l, offset, data, len, NULL, progress, userdata, ret_wire_bytes);
}

int flash_write_region_over(EspLoader *l, uint32_t offset, const void *data, size_t len,
                            const FlashRanges *erased, FlashProgressFn progress, void *userdata,
                            uint64_t *ret_wire_bytes) {
        _cleanup_(write_image_done) WriteImage w = { .progress = progress, .userdata = userdata };
        _cleanup_free_ bool *damaged = NULL;
        size_t n_sectors;
        bool match = false;
        int r;

        assert(l && data);
        if (!region_in_32_bits(offset, len))
                return -EINVAL;
        if (esp_loader_secure_download_mode(l))
                /* no MD5 in Secure Download Mode: the write could not be proven */
                return -EOPNOTSUPP;

        r = write_image_init(&w, l, offset, data, len, erased);
        if (r < 0)
                return r;

        log_debug("Writing %zu bytes at 0x%x.", len, offset);

        r = report_progress(progress, userdata, &w.reported, 0, len);
        if (r < 0)
                return r;

        n_sectors = DIV_ROUND_UP(w.size, FLASH_SECTOR_SIZE);
        damaged = malloc(n_sectors * sizeof(bool));
        if (!damaged)
                return -ENOMEM;
        for (size_t i = 0; i < n_sectors; i++)
                damaged[i] = true;

        for (unsigned pass = 0; pass < FLASH_WRITE_PASSES; pass++) {
                if (pass > 0 && w.skipped_erase) {
                        /* No trace shows what a ROM does with data after an
                         * erase size of 0: this one did not take it as
                         * expected, so the region is written again, all of it,
                         * with the erase (every stream from now on erases:
                         * w.erased was used up as the streams began). */
                        log_debug("The region at 0x%x written without erasing did not prove out: writing it again with the erase.",
                                  offset);
                        esp_loader_forbid_skip_erase(l);
                        w.skipped_erase = false;
                        for (size_t i = 0; i < n_sectors; i++)
                                damaged[i] = true;
                        r = esp_loader_take_restart(l);
                        if (r < 0)
                                break;
                } else if (pass > 0) {
                        size_t n_damaged = 0;

                        r = write_image_find_damage(l, &w, data, damaged, n_sectors, &n_damaged);
                        if (r < 0)
                                return r;
                        if (n_damaged == 0) {
                                /* every part holds the image (a failed pass may
                                 * have got it all there), unless the flash is
                                 * changing under us: the region's MD5 decides */
                                r = flash_verify_region(l, offset, data, len, &match, NULL);
                                if (r < 0)
                                        return r;
                                break;
                        }
                        r = esp_loader_take_restart(l);
                        if (r < 0)
                                break;
                        log_debug("Writing %zu damaged sector(s) of the region at 0x%x again (pass %u).",
                                  n_damaged, offset, pass + 1);
                }

                r = write_pass(l, &w, damaged, n_sectors);
                if (r < 0) {
                        if (write_pass_corrupted(r))
                                continue;
                        return write_error(r);
                }

                r = flash_verify_region(l, offset, data, len, &match, NULL);
                if (r < 0)
                        return r;
                if (match)
                        break;
                log_debug("MD5 of the region at 0x%x differs after writing it.", offset);
        }
        if (r < 0)
                return write_error(r);
        if (!match)
                return log_debug_errno(EIO, "The region at 0x%x did not read back as written.",
                                       offset);

        if (ret_wire_bytes)
                *ret_wire_bytes = w.wire;
        return 0;
}

bool flash_write_footprint(EspLoader *l, uint32_t offset, size_t len, uint64_t *ret_start,
                           uint64_t *ret_end) {
        uint64_t start = offset / FLASH_SECTOR_SIZE * FLASH_SECTOR_SIZE;
        uint64_t end = ALIGN_TO((uint64_t) offset + len, FLASH_SECTOR_SIZE);

        /* Erases cover whole sectors; a spill is always covered by the
         * uncompressed tail that write_pass() puts after a compressed head. */
        if (ret_start)
                *ret_start = start;
        if (ret_end)
                *ret_end = end;
        return esp_loader_defl_spill(l, NULL);
}

/* One pass: FLASH_DEFL_BEGIN, every block, FLASH_DEFL_END. */
static int write_plan(EspLoader *l, const FlashDeflatePlan *plan, FlashProgressFn progress,
                      void *userdata, uint64_t *reported) {
        int r;

        r = esp_loader_flash_defl_begin(l, plan->offset, (uint32_t) plan->image_size,
                                        (uint32_t) plan->stream_size, (uint32_t) plan->block_size,
                                        /* erase= */ true);
        if (r < 0)
                return r;

        for (size_t i = 0; i < plan->n_blocks; i++) {
                size_t block_len, before = i > 0 ? plan->block_output[i - 1] : 0;
                const uint8_t *block = flash_deflate_plan_block(plan, i, &block_len);

                r = esp_loader_flash_defl_data(l, (uint32_t) i, block, block_len,
                                               (uint32_t) (plan->block_output[i] - before));
                if (r < 0)
                        return r;

                r = report_progress(progress, userdata, reported,
                                    flash_deflate_plan_region_done(plan, i), plan->region_size);
                if (r < 0)
                        return r;
        }

        return esp_loader_flash_defl_end(l, /* stay_in_loader= */ true);
}

int flash_write_region_unverified(EspLoader *l, uint32_t offset, const void *data, size_t len,
                                  FlashProgressFn progress, void *userdata) {
        _cleanup_(flash_deflate_plan_done) FlashDeflatePlan plan = {};
        uint64_t reported = 0;
        int r;

        assert(l && data);
        if (!region_in_32_bits(offset, len))
                return -EINVAL;

        r = flash_deflate_plan_build(offset, data, len, esp_loader_flash_block_size(l),
                                     !esp_loader_is_stub(l), &plan);
        if (r < 0)
                return log_debug_errno(r, "Failed to compress the region at 0x%x: %m", offset);

        /* One pass only: without MD5 a damaged write could not be told apart. */
        return write_error(write_plan(l, &plan, progress, userdata, &reported));
}
