/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Whole-region operations over a loader session: verify by on-chip MD5, and
 * write compressed then prove the result by MD5. OpenSSL errors are converted
 * to errno here, once. */
#include <errno.h>
#include <openssl/evp.h>
#include <string.h>

#include "flash-compress.h"
#include "flash-write.h"
#include "esp-status.h"
#include "log.h"
#include "macro.h"

/* Progress is reported in steps of at most this much flash, even when one
 * highly compressed block covers more. */
#define FLASH_PROGRESS_STEP (64 * 1024)
/* A region whose data arrived damaged (inflate error, MD5 mismatch) is written
 * again from the start, this many times in all. */
#define FLASH_WRITE_PASSES 3

static void evp_md_ctx_freep(EVP_MD_CTX **c) {
        if (*c)
                EVP_MD_CTX_free(*c);
}

int flash_md5(const void *data, size_t len, uint8_t ret_digest[16]) {
        _cleanup_(evp_md_ctx_freep) EVP_MD_CTX *ctx = NULL;
        uint8_t digest[EVP_MAX_MD_SIZE];
        unsigned n = 0;

        if ((!data && len > 0) || !ret_digest)
                return -EINVAL;

        ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -ENOMEM;
        /* OpenSSL reports failure without an errno: a disabled digest (FIPS) or
         * an internal error. */
        if (EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1)
                return -EOPNOTSUPP;
        if (len > 0 && EVP_DigestUpdate(ctx, data, len) != 1)
                return -EIO;
        if (EVP_DigestFinal_ex(ctx, digest, &n) != 1 || n != 16)
                return -EIO;

        memcpy(ret_digest, digest, 16);
        return 0;
}

int flash_verify_region(EspLoader *l, uint32_t offset, const void *data, size_t len,
                        bool *ret_match, uint8_t ret_device_md5[16]) {
        uint8_t local[16], device[16];
        int r;

        if (!l || !data || len == 0 || !ret_match)
                return -EINVAL;
        if ((uint64_t) offset + len > UINT32_MAX)
                return -EINVAL;

        r = flash_md5(data, len, local);
        if (r < 0)
                return r;
        r = esp_loader_flash_md5(l, offset, (uint32_t) len, device);
        if (r < 0)
                return r;

        *ret_match = memcmp(local, device, sizeof(local)) == 0;
        if (ret_device_md5)
                memcpy(ret_device_md5, device, sizeof(device));
        return 0;
}

/* Reports progress up to `done`, in steps no larger than FLASH_PROGRESS_STEP. */
static int report_progress(FlashProgressFn progress, void *userdata, uint64_t *reported,
                           uint64_t done, uint64_t total) {
        int r;

        if (!progress)
                return 0;
        while (*reported < done) {
                uint64_t next = MIN(done, *reported + FLASH_PROGRESS_STEP);

                r = progress(next, total, userdata);
                if (r < 0)
                        return r;
                *reported = next;
        }
        return 0;
}

/* One pass: FLASH_DEFL_BEGIN, every block, FLASH_DEFL_END. */
static int write_plan(EspLoader *l, const FlashDeflatePlan *plan, FlashProgressFn progress,
                      void *userdata, uint64_t *reported) {
        int r;

        r = esp_loader_flash_defl_begin(l, plan->offset, (uint32_t) plan->image_size,
                                        (uint32_t) plan->stream_size, (uint32_t) plan->block_size);
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

/* Whether a failed pass is worth repeating from the start: the data reached
 * the chip damaged in a way its per-block checksum could not see. */
static bool write_pass_corrupted(EspLoader *l, int r) {
        uint8_t e = esp_loader_last_error(l);

        return r == -EBADMSG ||
               (r == -EPROTO && (e == ESP_ERROR_DEFLATE || e == ESP_ERROR_INFLATE));
}

int flash_write_region(EspLoader *l, uint32_t offset, const void *data, size_t len,
                       FlashProgressFn progress, void *userdata, uint64_t *ret_wire_bytes) {
        _cleanup_(flash_deflate_plan_done) FlashDeflatePlan plan = {};
        uint64_t reported = 0, wire = 0;
        bool match = false;
        int r;

        if (!l || !data || len == 0)
                return -EINVAL;
        if ((uint64_t) offset + len > UINT32_MAX)
                return -EINVAL;
        if (esp_loader_secure_download_mode(l))
                /* no MD5 in Secure Download Mode: the write could not be proven */
                return -EOPNOTSUPP;

        /* ROM loaders cannot start a write mid-sector (esptool aligns for them). */
        r = flash_deflate_plan_build(offset, data, len, esp_loader_flash_block_size(l),
                                     !esp_loader_is_stub(l), &plan);
        if (r < 0)
                return log_debug_errno(r, "Failed to compress the region at 0x%x: %m", offset);

        log_debug("Writing %zu bytes at 0x%x: %zu compressed in %zu block(s).", len, offset,
                  plan.stream_size, plan.n_blocks);

        r = report_progress(progress, userdata, &reported, 0, len);
        if (r < 0)
                return r;

        for (unsigned pass = 0; pass < FLASH_WRITE_PASSES; pass++) {
                if (pass > 0)
                        log_debug("Writing the region at 0x%x again (pass %u).", offset, pass + 1);

                r = write_plan(l, &plan, progress, userdata, &reported);
                wire += plan.stream_size;
                if (r < 0) {
                        if (write_pass_corrupted(l, r))
                                continue;
                        return r;
                }

                r = flash_verify_region(l, offset, data, len, &match, NULL);
                if (r < 0)
                        return r;
                if (match)
                        break;
                log_debug("MD5 of the region at 0x%x differs after writing it.", offset);
        }
        if (r < 0)
                return r;
        if (!match)
                return log_debug_errno(EIO, "The region at 0x%x did not read back as written.",
                                       offset);

        if (ret_wire_bytes)
                *ret_wire_bytes = wire;
        return 0;
}

int flash_write_region_unverified(EspLoader *l, uint32_t offset, const void *data, size_t len,
                                  FlashProgressFn progress, void *userdata) {
        _cleanup_(flash_deflate_plan_done) FlashDeflatePlan plan = {};
        uint64_t reported = 0;
        int r;

        if (!l || !data || len == 0)
                return -EINVAL;
        if ((uint64_t) offset + len > UINT32_MAX)
                return -EINVAL;

        r = flash_deflate_plan_build(offset, data, len, esp_loader_flash_block_size(l),
                                     !esp_loader_is_stub(l), &plan);
        if (r < 0)
                return log_debug_errno(r, "Failed to compress the region at 0x%x: %m", offset);

        /* One pass only: without MD5 a damaged write could not be told apart. */
        return write_plan(l, &plan, progress, userdata, &reported);
}
