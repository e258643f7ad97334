/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The digests through a libcrypto loaded on demand: not loaded before the first
 * digest, the RFC 1321 / FIPS 180-4 vectors after, pieces fed one by one giving
 * the one-shot result, and a wrong output size refused. Links no libcrypto. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "digest.h"

static void hex(const uint8_t *d, size_t n, char *out) {
        for (size_t i = 0; i < n; i++)
                sprintf(out + 2 * i, "%02x", d[i]);
}

static void check_md5(const char *msg, const char *want) {
        uint8_t d[DIGEST_MD5_SIZE];
        char h[2 * DIGEST_MD5_SIZE + 1];

        assert(digest_md5(msg, strlen(msg), d) == 0);
        hex(d, sizeof(d), h);
        assert(strcmp(h, want) == 0);
}

static void check_sha256(const char *msg, const char *want) {
        _cleanup_(digest_freep) Digest *d = NULL;
        uint8_t out[DIGEST_SHA256_SIZE];
        char h[2 * DIGEST_SHA256_SIZE + 1];

        assert(digest_new(DIGEST_SHA256, &d) == 0);
        assert(digest_update(d, msg, strlen(msg)) == 0);
        assert(digest_final(d, out, sizeof(out)) == 0);
        hex(out, sizeof(out), h);
        assert(strcmp(h, want) == 0);
}

static void test_pieces_equal_one_shot(void) {
        uint8_t buf[10000], one[DIGEST_SHA256_SIZE], many[DIGEST_SHA256_SIZE];
        _cleanup_(digest_freep) Digest *a = NULL, *b = NULL;
        size_t at = 0, step = 1;

        for (size_t i = 0; i < sizeof(buf); i++)
                buf[i] = (uint8_t) (i * 131 + (i >> 7));
        assert(digest_new(DIGEST_SHA256, &a) == 0);
        assert(digest_update(a, buf, sizeof(buf)) == 0);
        assert(digest_final(a, one, sizeof(one)) == 0);
        assert(digest_new(DIGEST_SHA256, &b) == 0);
        while (at < sizeof(buf)) {
                size_t n = step < sizeof(buf) - at ? step : sizeof(buf) - at;

                assert(digest_update(b, buf + at, n) == 0);
                at += n;
                step = step * 3 + 1;
        }
        assert(digest_update(b, NULL, 0) == 0);
        assert(digest_final(b, many, sizeof(many)) == 0);
        assert(memcmp(one, many, sizeof(one)) == 0);
}

static void test_refusals(void) {
        _cleanup_(digest_freep) Digest *d = NULL;
        uint8_t out[DIGEST_SHA256_SIZE];

        assert(digest_new((DigestKind) 7, &d) == -EINVAL);
        assert(digest_new(DIGEST_SHA256, NULL) == -EINVAL);
        assert(digest_md5(NULL, 1, out) == -EINVAL);
        assert(digest_new(DIGEST_MD5, &d) == 0);
        assert(digest_update(d, NULL, 1) == -EINVAL);
        /* An MD5 is not a SHA-256. */
        assert(digest_final(d, out, DIGEST_SHA256_SIZE) == -EINVAL);
}

static void test_all(void) {
        check_md5("", "d41d8cd98f00b204e9800998ecf8427e");
        assert(digest_loaded());
        check_md5("abc", "900150983cd24fb0d6963f7d28e17f72");
        check_md5("12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                  "57edf4a22be3c955ac49da2e2107b67a");
        check_sha256("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        check_sha256("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        check_sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
        test_pieces_equal_one_shot();
        test_refusals();
}

int main(void) {
        int status;
        pid_t pid;

        /* Nothing has asked for a digest yet: libcrypto is not in the process. */
        assert(!digest_loaded());

        /* The EVP path (what a libcrypto without the low-level digests gets),
         * in a child of its own: the choice is made once per process. */
        pid = fork();
        assert(pid >= 0);
        if (pid == 0) {
                assert(digest_use_evp_only() == 0);
                test_all();
                _exit(0);
        }
        assert(waitpid(pid, &status, 0) == pid);
        assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert(!digest_loaded());

        check_md5("", "d41d8cd98f00b204e9800998ecf8427e");
        assert(digest_loaded());
        assert(digest_use_evp_only() == -EBUSY);
        test_all();
        printf("digest: ok\n");
        return 0;
}
