/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The digests through the helper process: the RFC 1321 / FIPS 180-4 vectors
 * (low-level and EVP), pieces fed one by one giving the one-shot result,
 * digests from several threads at once, and a helper that dies, hangs, answers
 * garbage or is missing: a named error (-ECHILD), no digest, no fd or child left
 * behind. libcrypto never maps into this process. This binary is also its own
 * misbehaving helper, when run under one of the names below. */

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "digest-helper.h"
#include "digest.h"
#include "fd-util.h"

#define MILLION_A_MD5 "7707d6ae4e027c70eea2a935c2296f21"
#define MILLION_A_SHA256 "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"

static void hex(const uint8_t *d, size_t n, char *out) {
        for (size_t i = 0; i < n; i++)
                sprintf(out + 2 * i, "%02x", d[i]);
}

static void check_md5(const void *msg, size_t len, const char *want) {
        uint8_t d[DIGEST_MD5_SIZE];
        char h[2 * DIGEST_MD5_SIZE + 1];

        assert(digest_md5(msg, len, d) == 0);
        hex(d, sizeof(d), h);
        assert(strcmp(h, want) == 0);
}

static void check_sha256(const void *msg, size_t len, const char *want) {
        _cleanup_(digest_freep) Digest *d = NULL;
        uint8_t out[DIGEST_SHA256_SIZE];
        char h[2 * DIGEST_SHA256_SIZE + 1];

        assert(digest_new(DIGEST_SHA256, &d) == 0);
        assert(digest_update(d, msg, len) == 0);
        assert(digest_final(d, out, sizeof(out)) == 0);
        hex(out, sizeof(out), h);
        assert(strcmp(h, want) == 0);
}

#define CHECK_MD5(s, want) check_md5((s), strlen(s), (want))
#define CHECK_SHA256(s, want) check_sha256((s), strlen(s), (want))

static void test_pieces_equal_one_shot(void) {
        /* Past several of the helper's chunks, so that pieces straddle them. */
        static uint8_t buf[3 * DIGEST_HELPER_CHUNK_SIZE + 1000];
        uint8_t one[DIGEST_SHA256_SIZE], many[DIGEST_SHA256_SIZE];
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

/* An unfinished digest leaves its helper fit for the next one. */
static void test_abandoned(void) {
        _cleanup_(digest_freep) Digest *d = NULL;

        assert(digest_new(DIGEST_SHA256, &d) == 0);
        assert(digest_update(d, "half of something", 17) == 0);
        d = digest_free(d);
        CHECK_SHA256("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_vectors(void) {
        _cleanup_free_ char *million = malloc(1000000);

        assert(million);
        memset(million, 'a', 1000000);
        CHECK_MD5("", "d41d8cd98f00b204e9800998ecf8427e");
        CHECK_MD5("abc", "900150983cd24fb0d6963f7d28e17f72");
        CHECK_MD5("12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                  "57edf4a22be3c955ac49da2e2107b67a");
        check_md5(million, 1000000, MILLION_A_MD5);
        CHECK_SHA256("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        CHECK_SHA256("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        CHECK_SHA256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
        check_sha256(million, 1000000, MILLION_A_SHA256);
        test_pieces_equal_one_shot();
        test_refusals();
        test_abandoned();
}

/* ---- several threads at once ----------------------------------------------- */

#define N_THREADS 6
#define N_ROUNDS 40

static void *digest_thread(void *arg) {
        _cleanup_free_ char *million = malloc(1000000);
        unsigned id = (unsigned) (uintptr_t) arg;

        assert(million);
        memset(million, 'a', 1000000);
        for (unsigned i = 0; i < N_ROUNDS; i++) {
                /* The large ones take several chunks: long enough to overlap. */
                if ((i + id) % 4 == 0)
                        check_sha256(million, 1000000, MILLION_A_SHA256);
                else if ((i + id) % 4 == 1)
                        check_md5(million, 1000000, MILLION_A_MD5);
                else if ((i + id) % 4 == 2)
                        CHECK_MD5("abc", "900150983cd24fb0d6963f7d28e17f72");
                else
                        CHECK_SHA256("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        }
        return NULL;
}

static void test_threads(void) {
        pthread_t threads[N_THREADS];

        for (unsigned i = 0; i < N_THREADS; i++)
                assert(pthread_create(&threads[i], NULL, digest_thread, (void *) (uintptr_t) i) == 0);
        for (unsigned i = 0; i < N_THREADS; i++)
                assert(pthread_join(threads[i], NULL) == 0);
        /* One helper per digest under way, never more. */
        assert(digest_helpers_running() >= 1 && digest_helpers_running() <= N_THREADS);
}

/* ---- helpers that fail -------------------------------------------------------- */

/* Our children (the helpers), from /proc: their pids into ret, how many. */
static size_t children(pid_t *ret, size_t max) {
        DIR *dir = opendir("/proc");
        struct dirent *de;
        size_t n = 0;

        assert(dir);
        while ((de = readdir(dir))) {
                char path[300], buf[512], *p;
                FILE *f;
                int ppid;

                if (de->d_name[0] < '0' || de->d_name[0] > '9')
                        continue;
                snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
                f = fopen(path, "re");
                if (!f)
                        continue;
                if (!fgets(buf, sizeof(buf), f)) {
                        fclose(f);
                        continue;
                }
                fclose(f);
                p = strrchr(buf, ')');
                if (p && sscanf(p + 2, "%*c %d", &ppid) == 1 && ppid == getpid() && n < max)
                        ret[n++] = (pid_t) atoi(de->d_name);
        }
        closedir(dir);
        return n;
}

static pid_t only_child(void) {
        pid_t pids[4];

        assert(children(pids, 4) == 1);
        return pids[0];
}

/* The helper of a digest under way, signalled between its bytes and its answer. */
static void test_helper_signalled(int sig) {
        _cleanup_(digest_freep) Digest *d = NULL;
        uint8_t out[DIGEST_SHA256_SIZE];
        int fds_before;
        pid_t pid;

        digest_helpers_stop();
        fds_before = fd_count_open();
        assert(digest_new(DIGEST_SHA256, &d) == 0);
        assert(digest_update(d, "abc", 3) == 0);
        pid = only_child();
        assert(kill(pid, sig) == 0);
        /* Killed: the answer never comes. Stopped: it is not waited for forever. */
        assert(digest_final(d, out, sizeof(out)) == -ECHILD);
        /* A failed digest stays failed. */
        assert(digest_update(d, "abc", 3) == -ECHILD);
        assert(digest_final(d, out, sizeof(out)) == -ECHILD);
        d = digest_free(d);
        /* Reaped, its socket closed. */
        assert(digest_helpers_running() == 0);
        assert(children(&pid, 1) == 0);
        assert(fd_count_open() == fds_before);
        /* The next digest gets a new helper. */
        CHECK_SHA256("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* A helper killed while idle between digests: the next digest fails (it
 * cannot know what it lost), and the one after gets a new helper. */
static void test_helper_killed_idle(void) {
        uint8_t out[DIGEST_MD5_SIZE];
        pid_t pid;

        digest_helpers_stop();
        CHECK_MD5("abc", "900150983cd24fb0d6963f7d28e17f72");
        pid = only_child();
        assert(kill(pid, SIGKILL) == 0);
        assert(digest_md5("abc", 3, out) == -ECHILD);
        assert(digest_helpers_running() == 0);
        CHECK_MD5("abc", "900150983cd24fb0d6963f7d28e17f72");
}

/* The misbehaving helpers this binary plays, by the name it is run as. */
static const char *const BAD_HELPERS[] = {
        "helper-exits",         /* gone before any answer */
        "helper-short",         /* an answer shorter than a digest */
        "helper-long",          /* an answer longer than a digest */
        "helper-bad-errno",     /* an error that is no errno */
        "helper-error-and-digest",
        "helper-eio",           /* a well-formed error of its own */
};

static int bad_helper_main(const char *name) {
        uint8_t buf[sizeof(DigestHelperRequest) + DIGEST_HELPER_CHUNK_SIZE];
        DigestHelperReply reply = {};
        size_t len = DIGEST_HELPER_REPLY_SIZE(DIGEST_SHA256_SIZE);

        if (strcmp(name, "helper-exits") == 0)
                return 0;
        if (strcmp(name, "helper-short") == 0)
                len = DIGEST_HELPER_REPLY_SIZE(DIGEST_SHA256_SIZE - 1);
        else if (strcmp(name, "helper-long") == 0)
                len = DIGEST_HELPER_REPLY_SIZE(DIGEST_SHA256_SIZE) + 1;
        else if (strcmp(name, "helper-bad-errno") == 0) {
                reply.error = -5;
                len = sizeof(reply.error);
        } else if (strcmp(name, "helper-eio") == 0) {
                reply.error = EIO;
                len = sizeof(reply.error);
        } else
                reply.error = 5;
        for (;;) {
                ssize_t n = recv(DIGEST_HELPER_FD, buf, sizeof(buf), 0);

                if (n <= 0)
                        return 0;
                if (((DigestHelperRequest *) buf)->flags & DIGEST_HELPER_FINAL) {
                        uint8_t out[sizeof(reply) + 1] = {};

                        memcpy(out, &reply, sizeof(reply));
                        (void) send(DIGEST_HELPER_FD, out, len, MSG_NOSIGNAL);
                }
        }
}

static void test_bad_helpers(const char *self) {
        char dir[] = "/tmp/test-digest-XXXXXX";
        int fds_before;

        assert(mkdtemp(dir));
        for (size_t i = 0; i < sizeof(BAD_HELPERS) / sizeof(BAD_HELPERS[0]); i++) {
                _cleanup_(digest_freep) Digest *d = NULL;
                uint8_t out[DIGEST_SHA256_SIZE];
                char path[PATH_MAX];

                snprintf(path, sizeof(path), "%s/%s", dir, BAD_HELPERS[i]);
                assert(symlink(self, path) == 0);
                digest_helpers_stop();
                assert(digest_set_helper(path) == 0);
                fds_before = fd_count_open();

                assert(digest_new(DIGEST_SHA256, &d) == 0);
                assert(digest_update(d, "abc", 3) == 0);
                assert(digest_final(d, out, sizeof(out)) == -ECHILD);
                /* One that answered in form is kept for the next digest; the
                 * others are stopped at once. */
                if (strcmp(BAD_HELPERS[i], "helper-eio") == 0)
                        assert(digest_helpers_stop() == 1);
                assert(digest_helpers_running() == 0);
                assert(fd_count_open() == fds_before);
                assert(unlink(path) == 0);
        }

        /* No helper at all. */
        assert(digest_set_helper("/nonexistent/" DIGEST_HELPER_NAME) == 0);
        assert(digest_md5("abc", 3, (uint8_t[DIGEST_MD5_SIZE]) {}) == -ECHILD);
        assert(digest_helpers_running() == 0);

        assert(rmdir(dir) == 0);
        assert(digest_set_helper(DIGEST_HELPER_PATH) == 0);
}

int main(int argc, char *argv[]) {
        char self[PATH_MAX];
        ssize_t n;
        int fds_before;

        for (size_t i = 0; i < sizeof(BAD_HELPERS) / sizeof(BAD_HELPERS[0]); i++)
                if (strcmp(basename(argv[0]), BAD_HELPERS[i]) == 0)
                        return bad_helper_main(BAD_HELPERS[i]);

        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        assert(n > 0);
        self[n] = '\0';
        fds_before = fd_count_open();

        /* The helper in the build tree: not beside this test. */
        assert(digest_set_helper(DIGEST_HELPER_PATH) == 0);
        test_vectors();
        test_threads();
        test_helper_signalled(SIGKILL);
        test_helper_signalled(SIGSTOP);
        test_helper_killed_idle();
        test_bad_helpers(self);

        /* The EVP path (what a libcrypto without the low-level digests gets). */
        CHECK_MD5("abc", "900150983cd24fb0d6963f7d28e17f72");
        assert(digest_helpers_running() > 0);
        assert(digest_use_evp_only() == -EBUSY);
        assert(digest_set_helper(DIGEST_HELPER_PATH) == -EBUSY);
        assert(digest_helpers_stop() > 0);
        assert(digest_use_evp_only() == 0);
        test_vectors();

        /* Going idle stops every helper and leaves nothing behind. */
        digest_helpers_stop();
        assert(digest_helpers_running() == 0);
        assert(fd_count_open() == fds_before);
        /* The point of the helper: not even after all this. */
        assert(!digest_loaded());
        printf("digest: ok\n");
        return 0;
}
