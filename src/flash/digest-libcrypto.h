/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* MD5 and SHA-256 from OpenSSL's libcrypto, loaded with dlopen() on the first
 * digest. Only the digest helper (fbuild-deployd-digest) links this: OpenSSL 3
 * can never be unloaded, and the service must not keep its ~1.5 MiB mapped for
 * the rest of its life after one deploy (digest.h). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest-kind.h"
#include "macro.h"

typedef struct LibcryptoDigest LibcryptoDigest;

/* Loads libcrypto if it is not loaded yet (thread-safe; once per process,
 * never unloaded). -EOPNOTSUPP if it cannot be loaded or the digest is
 * disabled (FIPS), -ENOMEM. */
int libcrypto_digest_new(DigestKind kind, LibcryptoDigest **ret);
int libcrypto_digest_update(LibcryptoDigest *d, const void *data, size_t len);
/* ret holds the digest's size (DIGEST_MD5_SIZE or DIGEST_SHA256_SIZE). */
int libcrypto_digest_final(LibcryptoDigest *d, uint8_t *ret, size_t size);
LibcryptoDigest *libcrypto_digest_free(LibcryptoDigest *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(LibcryptoDigest *, libcrypto_digest_free);

/* Use EVP even where the low-level digests exist (digest-libcrypto.c says why
 * they come first). Before the first digest only: -EBUSY after. */
int libcrypto_digest_use_evp_only(void);

/* Whether libcrypto has been loaded into this process. */
bool libcrypto_digest_loaded(void);
