/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The digest helper (fbuild-deployd-digest): a process of its own that hashes
 * what the service sends it, so that libcrypto never maps into the long-lived
 * service (digest.h). This is its side of the conversation and the wire format
 * both sides share: SOCK_SEQPACKET messages on fd DIGEST_HELPER_FD, one digest
 * at a time per helper. */
#pragma once

#include <stdint.h>

#include "digest-kind.h"

#define DIGEST_HELPER_FD 3
/* argv[1]: the EVP functions even where the low-level ones exist (tests). */
#define DIGEST_HELPER_ARGV_EVP_ONLY "--evp-only"
/* The most bytes to hash one request carries: well inside a socket's default
 * send buffer, so that one message always fits. */
#define DIGEST_HELPER_CHUNK_SIZE (64U * 1024U)

/* A request is this header, then the bytes to hash (maybe none). BEGIN starts a
 * digest of `kind` (dropping any unfinished one); FINAL asks for the answer. A
 * one-shot digest of up to a chunk is one message with both. */
enum {
        DIGEST_HELPER_BEGIN = 1 << 0,
        DIGEST_HELPER_FINAL = 1 << 1,
};

typedef struct DigestHelperRequest {
        uint8_t flags;
        uint8_t kind;           /* DigestKind; read with BEGIN only */
} DigestHelperRequest;

/* The only message the helper sends, after each FINAL: an errno (0: success)
 * and, on success, exactly the digest's size in bytes after it. */
typedef struct DigestHelperReply {
        int32_t error;
        uint8_t digest[DIGEST_MAX_SIZE];
} DigestHelperReply;

#define DIGEST_HELPER_REPLY_SIZE(n) (sizeof(int32_t) + (n))

/* The helper's main(): argv = { any[, DIGEST_HELPER_ARGV_EVP_ONLY] }, the
 * socket on DIGEST_HELPER_FD. Serves until the service closes its end. */
int digest_helper_main(int argc, char *argv[]);
