/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* MD5 and SHA-256 for the service, computed by a helper process
 * (fbuild-deployd-digest, digest-helper.h) rather than in the service: OpenSSL
 * 3's libcrypto cannot be unloaded, so a service that had hashed once kept
 * about 1.5 MiB of it mapped for as long as it stayed up holding trust. The
 * helper is started on the first digest, kept while the service is busy (one
 * per digest under way, so threads never wait for each other), and stopped
 * when the service goes idle (digest_helpers_stop()). Thread-safe. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest-kind.h"
#include "macro.h"

/* The helper's file name; the service runs the one beside its own binary
 * (installed: both in libexecdir; built: both in src/daemon). */
#define DIGEST_HELPER_NAME "fbuild-deployd-digest"
/* How long a helper may take to take a request or to answer before it counts
 * as hung (it hashes at hundreds of MB/s; a request is at most 64 KiB). */
#define DIGEST_HELPER_TIMEOUT_MSEC 10000

typedef struct Digest Digest;

/* A helper that could not be started, died, hung or answered anything but a
 * digest fails the digest with -ECHILD (logged): not -EIO, which the job reads
 * as a serial link losing data. The bus names it FlashError. */

/* -EINVAL for a bad kind; -ECHILD if no helper could be started. */
int digest_new(DigestKind kind, Digest **ret);
/* -ECHILD if the helper died or hung (it is then stopped, and the digest is
 * unusable: free it). */
int digest_update(Digest *d, const void *data, size_t len);
/* ret holds the digest's size (DIGEST_MD5_SIZE or DIGEST_SHA256_SIZE): -EINVAL
 * otherwise. -ECHILD if the helper died, hung or answered something that is not
 * a digest; -EOPNOTSUPP if it cannot compute this digest (no libcrypto, FIPS). */
int digest_final(Digest *d, uint8_t *ret, size_t size);
Digest *digest_free(Digest *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(Digest *, digest_free);

/* One buffer's MD5. */
int digest_md5(const void *data, size_t len, uint8_t ret[DIGEST_MD5_SIZE]);

/* Stops the helpers no digest is using (the service going idle), and waits
 * for them. Returns how many. */
unsigned digest_helpers_stop(void);
/* Helpers started and not yet stopped (for tests). */
unsigned digest_helpers_running(void);

/* The helper to run instead of the one beside this program's binary: for
 * programs that do not live beside it (tests, tools in the build tree). An
 * absolute path; -EBUSY while helpers run. */
int digest_set_helper(const char *path);
/* For tests: helpers started from now on use EVP even where the low-level
 * digests exist (digest-libcrypto.c says why they come first). -EBUSY while
 * helpers run. */
int digest_use_evp_only(void);

/* Whether libcrypto is mapped into this process (for tests: it never should be). */
bool digest_loaded(void);
