/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* OpenSSL EVP wrappers for the simulated chip (see sim-digest.h). */
#include <errno.h>
#include <openssl/evp.h>

#include "sim-digest.h"

struct SimDigest {
        EVP_MD_CTX *ctx;
};

int sim_digest_new(SimDigestKind kind, SimDigest **ret) {
        _cleanup_(sim_digest_freep) SimDigest *d = NULL;

        d = calloc(1, sizeof(SimDigest));
        if (!d)
                return -ENOMEM;
        d->ctx = EVP_MD_CTX_new();
        if (!d->ctx)
                return -ENOMEM;
        if (EVP_DigestInit_ex(d->ctx, kind == SIM_DIGEST_MD5 ? EVP_md5() : EVP_sha256(), NULL) != 1)
                return -EIO;
        *ret = TAKE_PTR(d);
        return 0;
}

SimDigest *sim_digest_free(SimDigest *d) {
        if (!d)
                return NULL;
        EVP_MD_CTX_free(d->ctx);
        free(d);
        return NULL;
}

int sim_digest_update(SimDigest *d, const void *data, size_t n) {
        if (n == 0)
                return 0;
        return EVP_DigestUpdate(d->ctx, data, n) == 1 ? 0 : -EIO;
}

int sim_digest_final(SimDigest *d, uint8_t out[SIM_DIGEST_MAX]) {
        unsigned len = 0;

        if (EVP_DigestFinal_ex(d->ctx, out, &len) != 1)
                return -EIO;
        return (int) len;
}

int sim_digest_flash(SimDigestKind kind, const SimFlash *f, uint32_t addr, uint32_t len,
                     uint8_t out[SIM_DIGEST_MAX]) {
        _cleanup_(sim_digest_freep) SimDigest *d = NULL;
        uint8_t buf[4096];
        int r;

        r = sim_digest_new(kind, &d);
        if (r < 0)
                return r;
        for (uint32_t done = 0; done < len;) {
                uint32_t chunk = MIN(len - done, (uint32_t) sizeof(buf));

                sim_flash_read(f, addr + done, buf, chunk);
                r = sim_digest_update(d, buf, chunk);
                if (r < 0)
                        return r;
                done += chunk;
        }
        return sim_digest_final(d, out);
}

void sim_hex(const uint8_t *in, size_t n, char *out) {
        static const char digits[] = "0123456789abcdef";

        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[in[i] >> 4];
                out[2 * i + 1] = digits[in[i] & 0xF];
        }
        out[2 * n] = 0;
}
