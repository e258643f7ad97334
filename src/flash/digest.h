/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* MD5 (what the ESP loader's SPI_FLASH_MD5 answers) and SHA-256 (the image
 * identity trust keys on), built in: linking libcrypto for two digests cost the
 * idle service about 1.4 MiB of RSS in relocations alone. Pure, no errors. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define DIGEST_MD5_SIZE 16
#define DIGEST_SHA256_SIZE 32

typedef struct Md5 {
        uint32_t state[4];
        uint64_t length;                /* bytes fed so far */
        uint8_t block[64];
        size_t filled;
} Md5;

typedef struct Sha256 {
        uint32_t state[8];
        uint64_t length;
        uint8_t block[64];
        size_t filled;
} Sha256;

void md5_init(Md5 *c);
void md5_update(Md5 *c, const void *data, size_t len);
void md5_final(Md5 *c, uint8_t ret[DIGEST_MD5_SIZE]);

void sha256_init(Sha256 *c);
void sha256_update(Sha256 *c, const void *data, size_t len);
void sha256_final(Sha256 *c, uint8_t ret[DIGEST_SHA256_SIZE]);
