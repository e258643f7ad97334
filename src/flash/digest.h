/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* MD5 and SHA-256 from OpenSSL's libcrypto, loaded with dlopen() on the first
 * digest rather than at start: mapping and relocating libcrypto costs about
 * 1.4 MiB of RSS, which a service that never deploys (it only lists devices or
 * serves monitors) need not pay. The one place that talks to OpenSSL. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

#define DIGEST_MD5_SIZE 16
#define DIGEST_SHA256_SIZE 32

typedef enum DigestKind {
        DIGEST_MD5,
        DIGEST_SHA256,
} DigestKind;

typedef struct Digest Digest;

/* Loads libcrypto if it is not loaded yet (thread-safe; once per process,
 * never unloaded). -EOPNOTSUPP if it cannot be loaded or the digest is
 * disabled (FIPS), -ENOMEM. */
int digest_new(DigestKind kind, Digest **ret);
int digest_update(Digest *d, const void *data, size_t len);
/* ret holds the digest's size (DIGEST_MD5_SIZE or DIGEST_SHA256_SIZE). */
int digest_final(Digest *d, uint8_t *ret, size_t size);
Digest *digest_free(Digest *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(Digest *, digest_free);

/* One buffer's MD5. */
int digest_md5(const void *data, size_t len, uint8_t ret[DIGEST_MD5_SIZE]);

/* For tests: use EVP even where the low-level digests exist (digest.c says
 * why they come first). Before the first digest only: -EBUSY after. */
int digest_use_evp_only(void);

/* Whether libcrypto has been loaded into this process (for tests). */
bool digest_loaded(void);
