/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* MD5 (RFC 1321) and SHA-256 (FIPS 180-4), written from the specifications:
 * a 64-byte block buffer each, compress on every full block, pad at the end. */
#include <string.h>

#include "digest.h"

static uint32_t rol32(uint32_t x, unsigned n) {
        return (x << n) | (x >> (32 - n));
}

static uint32_t ror32(uint32_t x, unsigned n) {
        return (x >> n) | (x << (32 - n));
}

static uint32_t le32_get(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static uint32_t be32_get(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | (uint32_t) p[3];
}

/* Feeds whole blocks to compress(), keeping the remainder in block[]. */
static void digest_feed(uint8_t block[64], size_t *filled, uint64_t *length, const uint8_t *p, size_t len,
                        void (*compress)(void *c, const uint8_t *b), void *c) {
        if (len == 0)
                return;
        *length += len;
        if (*filled > 0) {
                size_t n = 64 - *filled < len ? 64 - *filled : len;

                memcpy(block + *filled, p, n);
                *filled += n;
                p += n;
                len -= n;
                if (*filled < 64)
                        return;
                compress(c, block);
                *filled = 0;
        }
        for (; len >= 64; p += 64, len -= 64)
                compress(c, p);
        memcpy(block, p, len);
        *filled = len;
}

/* ---- MD5 ------------------------------------------------------------------------------ */

static const uint32_t md5_k[64] = {
        0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
        0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
        0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
        0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
        0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
        0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
        0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
        0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

static const uint8_t md5_shift[4][4] = {
        { 7, 12, 17, 22 }, { 5, 9, 14, 20 }, { 4, 11, 16, 23 }, { 6, 10, 15, 21 },
};

static void md5_compress(void *userdata, const uint8_t *b) {
        Md5 *c = userdata;
        uint32_t m[16], a = c->state[0], bb = c->state[1], cc = c->state[2], d = c->state[3];

        for (size_t i = 0; i < 16; i++)
                m[i] = le32_get(b + 4 * i);

        for (unsigned i = 0; i < 64; i++) {
                uint32_t f, t;
                unsigned g, round = i / 16;

                switch (round) {
                case 0:
                        f = (bb & cc) | (~bb & d);
                        g = i;
                        break;
                case 1:
                        f = (d & bb) | (~d & cc);
                        g = (5 * i + 1) % 16;
                        break;
                case 2:
                        f = bb ^ cc ^ d;
                        g = (3 * i + 5) % 16;
                        break;
                default:
                        f = cc ^ (bb | ~d);
                        g = (7 * i) % 16;
                        break;
                }
                t = d;
                d = cc;
                cc = bb;
                bb = bb + rol32(a + f + md5_k[i] + m[g], md5_shift[round][i % 4]);
                a = t;
        }
        c->state[0] += a;
        c->state[1] += bb;
        c->state[2] += cc;
        c->state[3] += d;
}

void md5_init(Md5 *c) {
        *c = (Md5) {
                .state = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476 },
        };
}

void md5_update(Md5 *c, const void *data, size_t len) {
        digest_feed(c->block, &c->filled, &c->length, data, len, md5_compress, c);
}

void md5_final(Md5 *c, uint8_t ret[DIGEST_MD5_SIZE]) {
        uint64_t bits = c->length * 8;
        uint8_t pad[72] = { 0x80 };
        size_t n = (c->filled < 56 ? 56 : 120) - c->filled;

        for (size_t i = 0; i < 8; i++)
                pad[n + i] = (uint8_t) (bits >> (8 * i));
        md5_update(c, pad, n + 8);
        for (size_t i = 0; i < 4; i++)
                for (size_t j = 0; j < 4; j++)
                        ret[4 * i + j] = (uint8_t) (c->state[i] >> (8 * j));
}

/* ---- SHA-256 -------------------------------------------------------------------------- */

static const uint32_t sha256_k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static void sha256_compress(void *userdata, const uint8_t *b) {
        Sha256 *c = userdata;
        uint32_t w[64], s[8];

        for (size_t i = 0; i < 16; i++)
                w[i] = be32_get(b + 4 * i);
        for (size_t i = 16; i < 64; i++) {
                uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
                uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);

                w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }

        memcpy(s, c->state, sizeof(s));
        for (size_t i = 0; i < 64; i++) {
                uint32_t e = s[4], a = s[0];
                uint32_t t1 = s[7] + (ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25)) + ((e & s[5]) ^ (~e & s[6])) +
                              sha256_k[i] + w[i];
                uint32_t t2 = (ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22)) + ((a & s[1]) ^ (a & s[2]) ^ (s[1] & s[2]));

                memmove(s + 1, s, 7 * sizeof(uint32_t));
                s[4] += t1;
                s[0] = t1 + t2;
        }
        for (size_t i = 0; i < 8; i++)
                c->state[i] += s[i];
}

void sha256_init(Sha256 *c) {
        *c = (Sha256) {
                .state = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                           0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 },
        };
}

void sha256_update(Sha256 *c, const void *data, size_t len) {
        digest_feed(c->block, &c->filled, &c->length, data, len, sha256_compress, c);
}

void sha256_final(Sha256 *c, uint8_t ret[DIGEST_SHA256_SIZE]) {
        uint64_t bits = c->length * 8;
        uint8_t pad[72] = { 0x80 };
        size_t n = (c->filled < 56 ? 56 : 120) - c->filled;

        for (size_t i = 0; i < 8; i++)
                pad[n + i] = (uint8_t) (bits >> (56 - 8 * i));
        sha256_update(c, pad, n + 8);
        for (size_t i = 0; i < 8; i++)
                for (size_t j = 0; j < 4; j++)
                        ret[4 * i + j] = (uint8_t) (c->state[i] >> (24 - 8 * j));
}
