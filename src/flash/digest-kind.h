/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The digests the service computes, shared by the service's side (digest.h)
 * and the helper's (digest-libcrypto.h). */
#pragma once

#include <stddef.h>

#define DIGEST_MD5_SIZE 16
#define DIGEST_SHA256_SIZE 32
#define DIGEST_MAX_SIZE DIGEST_SHA256_SIZE

typedef enum DigestKind {
        DIGEST_MD5,
        DIGEST_SHA256,
        _DIGEST_KIND_MAX,
} DigestKind;

static inline size_t digest_kind_size(DigestKind kind) {
        return kind == DIGEST_MD5 ? DIGEST_MD5_SIZE : DIGEST_SHA256_SIZE;
}
