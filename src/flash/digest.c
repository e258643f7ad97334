/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* MD5 (RFC 1321) and SHA-256 (FIPS 180-4), written from the specifications:
 * a 64-byte block buffer each, compress on every full block, pad at the end. */
#include <stdbool.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define DIGEST_HAVE_SHA_NI 1
#endif

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

/* One MD5 step; F is the round's function of b, c, d. */
#define MD5_STEP(F, a, b, c, d, g, i, shift)                                    \
        do {                                                                    \
                a = b + rol32(a + F(b, c, d) + md5_k[i] + m[g], shift);         \
        } while (0)
#define MD5_F(b, c, d) (d ^ (b & (c ^ d)))
#define MD5_G(b, c, d) (c ^ (d & (b ^ c)))
#define MD5_H(b, c, d) (b ^ c ^ d)
#define MD5_I(b, c, d) (c ^ (b | ~d))

static void md5_compress(void *userdata, const uint8_t *blk) {
        Md5 *ctx = userdata;
        uint32_t m[16], a = ctx->state[0], b = ctx->state[1], c = ctx->state[2], d = ctx->state[3];

        for (size_t i = 0; i < 16; i++)
                m[i] = le32_get(blk + 4 * i);

        /* Four steps per iteration, the registers rotating by name. */
        for (unsigned i = 0; i < 16; i += 4) {
                MD5_STEP(MD5_F, a, b, c, d, i, i, 7);
                MD5_STEP(MD5_F, d, a, b, c, i + 1, i + 1, 12);
                MD5_STEP(MD5_F, c, d, a, b, i + 2, i + 2, 17);
                MD5_STEP(MD5_F, b, c, d, a, i + 3, i + 3, 22);
        }
        for (unsigned i = 16; i < 32; i += 4) {
                MD5_STEP(MD5_G, a, b, c, d, (5 * i + 1) % 16, i, 5);
                MD5_STEP(MD5_G, d, a, b, c, (5 * i + 6) % 16, i + 1, 9);
                MD5_STEP(MD5_G, c, d, a, b, (5 * i + 11) % 16, i + 2, 14);
                MD5_STEP(MD5_G, b, c, d, a, (5 * i + 16) % 16, i + 3, 20);
        }
        for (unsigned i = 32; i < 48; i += 4) {
                MD5_STEP(MD5_H, a, b, c, d, (3 * i + 5) % 16, i, 4);
                MD5_STEP(MD5_H, d, a, b, c, (3 * i + 8) % 16, i + 1, 11);
                MD5_STEP(MD5_H, c, d, a, b, (3 * i + 11) % 16, i + 2, 16);
                MD5_STEP(MD5_H, b, c, d, a, (3 * i + 14) % 16, i + 3, 23);
        }
        for (unsigned i = 48; i < 64; i += 4) {
                MD5_STEP(MD5_I, a, b, c, d, (7 * i) % 16, i, 6);
                MD5_STEP(MD5_I, d, a, b, c, (7 * i + 7) % 16, i + 1, 10);
                MD5_STEP(MD5_I, c, d, a, b, (7 * i + 14) % 16, i + 2, 15);
                MD5_STEP(MD5_I, b, c, d, a, (7 * i + 21) % 16, i + 3, 21);
        }
        ctx->state[0] += a;
        ctx->state[1] += b;
        ctx->state[2] += c;
        ctx->state[3] += d;
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

#if DIGEST_HAVE_SHA_NI
/* The x86 SHA extensions: about 15× the portable code, which matters for an
 * image of a few MiB hashed on every new deploy. Four rounds per step; the
 * message schedule lives in four registers, each replaced by the group four
 * steps on once its own rounds are done. */
__attribute__((target("sha,sse4.1")))
static void sha256_compress_sha_ni(void *userdata, const uint8_t *b) {
        Sha256 *c = userdata;
        const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
        __m128i t, abef, cdgh, abef_in, cdgh_in, w[4];

        t = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *) &c->state[0]), 0xB1);      /* CDAB */
        cdgh = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *) &c->state[4]), 0x1B);   /* EFGH */
        abef = _mm_alignr_epi8(t, cdgh, 8);                                                 /* ABEF */
        cdgh = _mm_blend_epi16(cdgh, t, 0xF0);                                              /* CDGH */
        abef_in = abef;
        cdgh_in = cdgh;

        for (size_t i = 0; i < 4; i++)
                w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *) (b + 16 * i)), bswap);
        for (size_t i = 0; i < 16; i++) {
                __m128i msg = _mm_add_epi32(w[i % 4], _mm_loadu_si128((const __m128i *) &sha256_k[4 * i]));

                cdgh = _mm_sha256rnds2_epu32(cdgh, abef, msg);
                abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(msg, 0x0E));
                if (i < 12) {
                        t = _mm_sha256msg1_epu32(w[i % 4], w[(i + 1) % 4]);
                        t = _mm_add_epi32(t, _mm_alignr_epi8(w[(i + 3) % 4], w[(i + 2) % 4], 4));
                        w[i % 4] = _mm_sha256msg2_epu32(t, w[(i + 3) % 4]);
                }
        }
        abef = _mm_add_epi32(abef, abef_in);
        cdgh = _mm_add_epi32(cdgh, cdgh_in);

        t = _mm_shuffle_epi32(abef, 0x1B);                                                  /* FEBA */
        cdgh = _mm_shuffle_epi32(cdgh, 0xB1);                                               /* DCHG */
        _mm_storeu_si128((__m128i *) &c->state[0], _mm_blend_epi16(t, cdgh, 0xF0));         /* DCBA */
        _mm_storeu_si128((__m128i *) &c->state[4], _mm_alignr_epi8(cdgh, t, 8));            /* HGFE */
}
#endif

static bool digest_cpu_extensions = true;

void digest_use_cpu_extensions(bool on) {
        digest_cpu_extensions = on;
}

static void (*sha256_pick_compress(void))(void *, const uint8_t *) {
#if DIGEST_HAVE_SHA_NI
        if (digest_cpu_extensions && __builtin_cpu_supports("sha") && __builtin_cpu_supports("sse4.1"))
                return sha256_compress_sha_ni;
#endif
        return sha256_compress;
}

void sha256_init(Sha256 *c) {
        *c = (Sha256) {
                .state = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                           0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 },
                .compress = sha256_pick_compress(),
        };
}

void sha256_update(Sha256 *c, const void *data, size_t len) {
        digest_feed(c->block, &c->filled, &c->length, data, len, c->compress, c);
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
