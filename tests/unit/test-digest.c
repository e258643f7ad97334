/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The built-in MD5 and SHA-256: the specifications' vectors, and agreement with
 * libcrypto on random data fed in random pieces (every padding boundary). */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "digest.h"
#include "macro.h"
#include "string-util.h"

static void hex(const uint8_t *d, size_t n, char *out) {
        for (size_t i = 0; i < n; i++)
                sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_vectors(void) {
        static const struct {
                const char *input;
                size_t repeat;
                const char *md5, *sha256;
        } v[] = {
                { "", 1, "d41d8cd98f00b204e9800998ecf8427e",
                  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
                { "abc", 1, "900150983cd24fb0d6963f7d28e17f72",
                  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
                { "message digest", 1, "f96b697d7cb7938d525a2f31aaf161d0",
                  "f7846f55cf23e14eebeab5b4e1550cad5b509e3348fbc4efa3a1413d393cb650" },
                { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
                  "8215ef0796a20bcaaae116d3876c664a",
                  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
                { "12345678901234567890123456789012345678901234567890123456789012345678901234567890", 1,
                  "57edf4a22be3c955ac49da2e2107b67a",
                  "f371bc4a311f2b009eef952dd83ca80e2b60026c8e935592d0f9c308453c813e" },
                { "a", 1000000, "7707d6ae4e027c70eea2a935c2296f21",
                  "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0" },
        };

        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                uint8_t md[DIGEST_MD5_SIZE], sha[DIGEST_SHA256_SIZE];
                char s[2 * DIGEST_SHA256_SIZE + 1];
                Md5 m;
                Sha256 h;

                md5_init(&m);
                sha256_init(&h);
                for (size_t k = 0; k < v[i].repeat; k++) {
                        md5_update(&m, v[i].input, strlen(v[i].input));
                        sha256_update(&h, v[i].input, strlen(v[i].input));
                }
                md5_final(&m, md);
                sha256_final(&h, sha);
                hex(md, sizeof(md), s);
                assert(streq(s, v[i].md5));
                hex(sha, sizeof(sha), s);
                assert(streq(s, v[i].sha256));
        }
}

static void openssl_digest(const EVP_MD *type, const uint8_t *data, size_t len, uint8_t *out) {
        unsigned n = 0;

        assert(EVP_Digest(data, len, out, &n, type, NULL) == 1);
        assert(n == (unsigned) EVP_MD_get_size(type));
}

static void test_against_libcrypto(void) {
        size_t size = 3 * 4096 + 77;
        uint8_t *data = malloc(size);

        assert(data);
        srand(16);
        for (size_t i = 0; i < size; i++)
                data[i] = (uint8_t) rand();

        /* Every length around the 56- and 64-byte boundaries, then random ones,
         * each fed in random pieces. */
        for (size_t t = 0; t < 600; t++) {
                size_t len = t < 200 ? t : (size_t) rand() % (size + 1);
                uint8_t md[DIGEST_MD5_SIZE], sha[DIGEST_SHA256_SIZE], md_ref[16], sha_ref[32];
                Md5 m;
                Sha256 h;

                md5_init(&m);
                sha256_init(&h);
                for (size_t done = 0; done < len;) {
                        size_t piece = (size_t) rand() % 150;

                        if (piece > len - done)
                                piece = len - done;
                        md5_update(&m, data + done, piece);
                        sha256_update(&h, data + done, piece);
                        done += piece;
                }
                md5_final(&m, md);
                sha256_final(&h, sha);
                openssl_digest(EVP_md5(), data, len, md_ref);
                openssl_digest(EVP_sha256(), data, len, sha_ref);
                assert(memcmp(md, md_ref, sizeof(md)) == 0);
                assert(memcmp(sha, sha_ref, sizeof(sha)) == 0);
        }
        free(data);
}

int main(void) {
        test_vectors();
        test_against_libcrypto();
        return 0;
}
