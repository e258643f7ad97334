/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* MD5 and SHA-256 for the simulated chip, the one place that talks to OpenSSL
 * so its return codes are converted to -errno exactly once. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "sim-flash.h"

typedef enum SimDigestKind {
        SIM_DIGEST_MD5,
        SIM_DIGEST_SHA256,
} SimDigestKind;

#define SIM_DIGEST_MAX 32

typedef struct SimDigest SimDigest;

int sim_digest_new(SimDigestKind kind, SimDigest **ret);
SimDigest *sim_digest_free(SimDigest *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(SimDigest *, sim_digest_free);
int sim_digest_update(SimDigest *d, const void *data, size_t n);
/* Writes the digest (16 or 32 bytes) and returns its length. */
int sim_digest_final(SimDigest *d, uint8_t out[SIM_DIGEST_MAX]);

/* Digest of a flash range; returns the digest length. */
int sim_digest_flash(SimDigestKind kind, const SimFlash *f, uint32_t addr, uint32_t len,
                     uint8_t out[SIM_DIGEST_MAX]);

void sim_hex(const uint8_t *in, size_t n, char *out);  /* out: 2n+1 bytes, lowercase */
