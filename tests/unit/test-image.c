/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Deploy images: a table of region layouts and source types against
 * image_validate(), the image hash against fixed vectors and an independent
 * SHA-256 of the concatenation, change detection in image_load(), and the memo. */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "image.h"
#include "digest.h"
#include "macro.h"

static char tmpdir[] = "/tmp/test-image-XXXXXX";

static char *tmp_path(const char *name) {
        static char buf[4][256];
        static unsigned k;
        char *p = buf[k++ % 4];

        snprintf(p, sizeof(buf[0]), "%s/%s", tmpdir, name);
        return p;
}

static void write_file(const char *name, const void *data, size_t n) {
        int fd = open(tmp_path(name), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert(fd >= 0);
        assert(write(fd, data, n) == (ssize_t) n);
        close(fd);
}

static void write_pattern(const char *name, size_t n, uint8_t seed) {
        _cleanup_free_ uint8_t *b = malloc(n ?: 1);

        assert(b);
        for (size_t i = 0; i < n; i++)
                b[i] = (uint8_t) (seed + i * 7);
        write_file(name, b, n);
}

static int open_ro(const char *name) {
        int fd = open(tmp_path(name), O_RDONLY | O_CLOEXEC);

        assert(fd >= 0);
        return fd;
}

/* Lets the coarse clock move past the files' ctime so that a fresh validation
 * finds them memoizable. */
static void settle(void) {
        struct timespec ts = { .tv_nsec = 30 * 1000 * 1000 };

        nanosleep(&ts, NULL);
}

/* ---- validation table ---------------------------------------------------------------- */

typedef enum SourceKind {
        SRC_FILE,       /* regular file of `size` bytes */
        SRC_EMPTY,
        SRC_DIR,
        SRC_PIPE,
        SRC_SOCKET,
        SRC_CHARDEV,    /* /dev/null */
        SRC_WRONLY,
        SRC_OPATH,
} SourceKind;

typedef struct RegionSpec {
        uint32_t offset;
        SourceKind kind;
        size_t size;
} RegionSpec;

typedef struct ValidateCase {
        const char *name;
        RegionSpec regions[4];
        size_t n;
        uint64_t flash_size;
        int expected;
        uint32_t sorted[4];       /* offsets after validation, when it succeeds */
} ValidateCase;

#define MIB (1024u * 1024u)

static const ValidateCase validate_cases[] = {
        { "single", { { 0x0, SRC_FILE, 100 } }, 1, 4 * MIB, 0, { 0x0 } },
        { "unsorted gets sorted",
          { { 0x10000, SRC_FILE, 100 }, { 0x1000, SRC_FILE, 100 }, { 0x8000, SRC_FILE, 10 } }, 3,
          4 * MIB, 0, { 0x1000, 0x8000, 0x10000 } },
        { "adjacent", { { 0x0, SRC_FILE, 0x1000 }, { 0x1000, SRC_FILE, 1 } }, 2, 4 * MIB, 0,
          { 0x0, 0x1000 } },
        { "overlap", { { 0x0, SRC_FILE, 0x1001 }, { 0x1000, SRC_FILE, 10 } }, 2, 4 * MIB, -EINVAL, {} },
        { "overlap unsorted", { { 0x1000, SRC_FILE, 10 }, { 0x0, SRC_FILE, 0x2000 } }, 2, 4 * MIB,
          -EINVAL, {} },
        { "same offset", { { 0x1000, SRC_FILE, 10 }, { 0x1000, SRC_FILE, 10 } }, 2, 4 * MIB, -EINVAL, {} },
        { "unaligned", { { 0x800, SRC_FILE, 10 } }, 1, 4 * MIB, -EINVAL, {} },
        { "unaligned second", { { 0x0, SRC_FILE, 10 }, { 0x10010, SRC_FILE, 10 } }, 2, 4 * MIB,
          -EINVAL, {} },
        { "fits exactly", { { 0x3ff000, SRC_FILE, 0x1000 } }, 1, 4 * MIB, 0, { 0x3ff000 } },
        { "out of range", { { 0x3ff000, SRC_FILE, 0x1001 } }, 1, 4 * MIB, -ERANGE, {} },
        { "starts past flash", { { 0x400000, SRC_FILE, 1 } }, 1, 4 * MIB, -ERANGE, {} },
        { "past the largest flash", { { IMAGE_MAX_FLASH_SIZE - 0x1000, SRC_FILE, 0x1001 } }, 1, 0,
          -ERANGE, {} },
        { "32-bit end overflow", { { 0xfffff000, SRC_FILE, 0x2000 } }, 1, 0, -ERANGE, {} },
        { "empty file", { { 0x0, SRC_EMPTY, 0 } }, 1, 4 * MIB, -ENODATA, {} },
        { "directory", { { 0x0, SRC_DIR, 0 } }, 1, 4 * MIB, -EISDIR, {} },
        { "pipe", { { 0x0, SRC_PIPE, 0 } }, 1, 4 * MIB, -ESPIPE, {} },
        { "socket", { { 0x0, SRC_SOCKET, 0 } }, 1, 4 * MIB, -ESPIPE, {} },
        { "character device", { { 0x0, SRC_CHARDEV, 0 } }, 1, 4 * MIB, -ESPIPE, {} },
        { "write-only fd", { { 0x0, SRC_WRONLY, 10 } }, 1, 4 * MIB, -EBADF, {} },
        { "O_PATH fd", { { 0x0, SRC_OPATH, 10 } }, 1, 4 * MIB, -EBADF, {} },
        { "directory among files", { { 0x0, SRC_FILE, 10 }, { 0x1000, SRC_DIR, 0 } }, 2, 4 * MIB,
          -EISDIR, {} },
        { "no regions", {}, 0, 4 * MIB, -EINVAL, {} },
};

static int open_source(const RegionSpec *spec, size_t index, int *extra_fd) {
        char name[64];
        int fds[2], fd;

        snprintf(name, sizeof(name), "src-%zu", index);
        switch (spec->kind) {
        case SRC_FILE:
                write_pattern(name, spec->size, (uint8_t) index);
                return open_ro(name);
        case SRC_EMPTY:
                write_file(name, "", 0);
                return open_ro(name);
        case SRC_DIR:
                fd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                assert(fd >= 0);
                return fd;
        case SRC_PIPE:
                assert(pipe2(fds, O_CLOEXEC) == 0);
                *extra_fd = fds[1];
                return fds[0];
        case SRC_SOCKET:
                assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
                *extra_fd = fds[1];
                return fds[0];
        case SRC_CHARDEV:
                fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                assert(fd >= 0);
                return fd;
        case SRC_WRONLY:
                write_pattern(name, spec->size, 1);
                fd = open(tmp_path(name), O_WRONLY | O_CLOEXEC);
                assert(fd >= 0);
                return fd;
        case SRC_OPATH:
                write_pattern(name, spec->size, 1);
                fd = open(tmp_path(name), O_PATH | O_CLOEXEC);
                assert(fd >= 0);
                return fd;
        }
        abort();
}

static void test_validate_table(void) {
        for (size_t c = 0; c < ELEMENTSOF(validate_cases); c++) {
                const ValidateCase *t = &validate_cases[c];
                _cleanup_(image_freep) Image *img = image_new();
                int extra[4] = { -1, -1, -1, -1 }, r;

                assert(img);
                for (size_t i = 0; i < t->n; i++)
                        assert(image_add_region(img, t->regions[i].offset,
                                                open_source(&t->regions[i], i, &extra[i])) == 0);

                r = image_validate(img, t->flash_size);
                if (r != t->expected) {
                        fprintf(stderr, "validate case '%s': got %d, expected %d\n", t->name, r,
                                t->expected);
                        abort();
                }
                if (r == 0)
                        for (size_t i = 0; i < t->n; i++) {
                                assert(img->regions[i].offset == t->sorted[i]);
                                assert(img->regions[i].size > 0);
                                assert(img->regions[i].data == NULL);  /* nothing read */
                        }
                for (size_t i = 0; i < 4; i++)
                        safe_close(extra[i]);
        }
}

static void test_too_many_regions(void) {
        _cleanup_(image_freep) Image *img = image_new();
        int fd;

        write_pattern("many", 16, 3);
        for (uint32_t i = 0; i < IMAGE_MAX_REGIONS; i++)
                assert(image_add_region(img, i * IMAGE_ALIGNMENT, open_ro("many")) == 0);
        assert(image_validate(img, 0) == 0);

        /* The fd is taken (closed) even when refused. */
        fd = open_ro("many");
        assert(image_add_region(img, IMAGE_MAX_REGIONS * IMAGE_ALIGNMENT, fd) == -EINVAL);
        assert(fcntl(fd, F_GETFD) < 0 && errno == EBADF);
        assert(img->n_regions == IMAGE_MAX_REGIONS);
}

static void test_check_flash_size(void) {
        _cleanup_(image_freep) Image *img = image_new();

        write_pattern("fs", 0x1000, 0);
        assert(image_add_region(img, 0x1ff000, open_ro("fs")) == 0);
        assert(image_validate(img, 0) == 0);
        assert(image_check_flash_size(img, 2 * MIB) == 0);
        assert(image_check_flash_size(img, 1 * MIB) == -ERANGE);
        assert(image_check_flash_size(img, 0) == 0);
}

/* ---- hash ------------------------------------------------------------------------------ */

static void hex(const uint8_t *d, size_t n, char *out) {
        for (size_t i = 0; i < n; i++)
                sprintf(out + 2 * i, "%02x", d[i]);
}

static Image *image_of(const char *const *names, const uint32_t *offsets, size_t n) {
        Image *img = image_new();

        assert(img);
        for (size_t i = 0; i < n; i++)
                assert(image_add_region(img, offsets[i], open_ro(names[i])) == 0);
        assert(image_validate(img, 0) == 0);
        return img;
}

/* Independent of image.c: one SHA-256 over a buffer built by hand. */
static void sha256_concat(const uint32_t *offsets, const uint8_t *const *data, const size_t *sizes,
                          size_t n, uint8_t out[32]) {
        uint8_t buf[4096];
        size_t len = 0;
        unsigned dlen = 0;

        for (size_t i = 0; i < n; i++) {
                uint64_t o = offsets[i], s = sizes[i];

                for (size_t b = 0; b < 8; b++)
                        buf[len++] = (uint8_t) (o >> (8 * b));
                for (size_t b = 0; b < 8; b++)
                        buf[len++] = (uint8_t) (s >> (8 * b));
                memcpy(buf + len, data[i], sizes[i]);
                len += sizes[i];
        }
        assert(EVP_Digest(buf, len, out, &dlen, EVP_sha256(), NULL) == 1 && dlen == 32);
}

static void test_hash_vectors(void) {
        static const uint8_t bin[] = { 0x00, 0xff, 0x7f };
        char h[65];

        write_file("abc", "abc", 3);
        write_file("hello", "hello", 5);
        write_file("bin", bin, sizeof(bin));

        {
                /* sha256(u64le 0, u64le 3, "abc"), computed with Python's hashlib */
                _cleanup_(image_freep) Image *img = image_of((const char *[]) { "abc" },
                                                             (uint32_t[]) { 0 }, 1);

                assert(image_compute_hash(img) == -ENODATA);   /* not loaded yet */
                assert(image_load(img) == 0);
                assert(image_compute_hash(img) == 0);
                assert(img->hash_valid);
                hex(img->sha256, 32, h);
                assert(strcmp(h, "4e403ba3511c0e7306e298fd34975ed62fbdfe948a9199de59551ede1378be99") == 0);
        }
        {
                /* Two regions given out of order: the hash is over the sorted list. */
                _cleanup_(image_freep) Image *img = image_of((const char *[]) { "bin", "hello" },
                                                             (uint32_t[]) { 0x10000, 0x1000 }, 2);
                uint8_t expected[32];

                assert(image_load(img) == 0);
                assert(image_compute_hash(img) == 0);
                hex(img->sha256, 32, h);
                assert(strcmp(h, "c6840ed191572128d437557810bde5e3ff9427f444d152bb3bddd9bab4480813") == 0);

                sha256_concat((uint32_t[]) { 0x1000, 0x10000 },
                              (const uint8_t *[]) { (const uint8_t *) "hello", bin },
                              (size_t[]) { 5, 3 }, 2, expected);
                assert(memcmp(expected, img->sha256, 32) == 0);
        }
        {
                /* Same bytes at another offset: another image. */
                _cleanup_(image_freep) Image *a = image_of((const char *[]) { "abc" }, (uint32_t[]) { 0 }, 1);
                _cleanup_(image_freep) Image *b = image_of((const char *[]) { "abc" },
                                                           (uint32_t[]) { 0x1000 }, 1);

                assert(image_load(a) == 0 && image_compute_hash(a) == 0);
                assert(image_load(b) == 0 && image_compute_hash(b) == 0);
                assert(memcmp(a->sha256, b->sha256, 32) != 0);
        }
        {
                /* A larger pseudo-random pair against the independent computation. */
                _cleanup_(image_freep) Image *img = NULL;
                uint8_t expected[32], d1[1500], d2[700];

                for (size_t i = 0; i < sizeof(d1); i++)
                        d1[i] = (uint8_t) (i * 31 + 7);
                for (size_t i = 0; i < sizeof(d2); i++)
                        d2[i] = (uint8_t) (i ^ 0x5a);
                write_file("d1", d1, sizeof(d1));
                write_file("d2", d2, sizeof(d2));
                img = image_of((const char *[]) { "d1", "d2" }, (uint32_t[]) { 0x8000, 0xe000 }, 2);
                assert(image_load(img) == 0 && image_compute_hash(img) == 0);
                sha256_concat((uint32_t[]) { 0x8000, 0xe000 }, (const uint8_t *[]) { d1, d2 },
                              (size_t[]) { sizeof(d1), sizeof(d2) }, 2, expected);
                assert(memcmp(expected, img->sha256, 32) == 0);
        }
}

/* ---- load ------------------------------------------------------------------------------ */

static void test_load_detects_changes(void) {
        {
                /* Grown after validation. */
                _cleanup_(image_freep) Image *img = NULL;
                int fd;

                write_pattern("grow", 100, 1);
                img = image_of((const char *[]) { "grow" }, (uint32_t[]) { 0 }, 1);
                fd = open(tmp_path("grow"), O_WRONLY | O_APPEND | O_CLOEXEC);
                assert(fd >= 0 && write(fd, "x", 1) == 1);
                close(fd);
                assert(image_load(img) == -ESTALE);
        }
        {
                /* Same size, new modification time. */
                _cleanup_(image_freep) Image *img = NULL;
                struct timespec times[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = 1000000000 } };

                write_pattern("touch", 100, 1);
                img = image_of((const char *[]) { "touch" }, (uint32_t[]) { 0 }, 1);
                assert(utimensat(AT_FDCWD, tmp_path("touch"), times, 0) == 0);
                assert(image_load(img) == -ESTALE);
        }
        {
                /* Replaced by rename: the old inode lost its name, and its ctime
                 * says so. Conservative, but a changed image all the same. */
                _cleanup_(image_freep) Image *img = NULL;

                write_pattern("replaced", 100, 1);
                img = image_of((const char *[]) { "replaced" }, (uint32_t[]) { 0 }, 1);
                write_pattern("replacement", 100, 2);
                assert(rename(tmp_path("replacement"), tmp_path("replaced")) == 0);
                assert(image_load(img) == -ESTALE);
        }
        {
                /* Unchanged: loads, and the bytes are the file's. */
                _cleanup_(image_freep) Image *img = NULL;

                write_pattern("plain", 100, 1);
                img = image_of((const char *[]) { "plain" }, (uint32_t[]) { 0 }, 1);
                assert(image_load(img) == 0);
                assert(img->regions[0].data[1] == (uint8_t) (1 + 7));
        }
        {
                /* Loading twice keeps the data; validating again drops it. */
                _cleanup_(image_freep) Image *img = NULL;

                write_pattern("twice", 100, 1);
                img = image_of((const char *[]) { "twice" }, (uint32_t[]) { 0 }, 1);
                assert(image_load(img) == 0 && image_compute_hash(img) == 0);
                assert(image_load(img) == 0);
                assert(image_validate(img, 0) == 0);
                assert(!img->hash_valid && !img->regions[0].data);
        }
}

/* ---- memo ------------------------------------------------------------------------------- */

static Image *hashed_image(const char *name, uint32_t offset) {
        Image *img = image_of((const char *[]) { name }, (uint32_t[]) { offset }, 1);

        assert(image_load(img) == 0 && image_compute_hash(img) == 0);
        return img;
}

static bool memo_hits(ImageHashCache *c, const char *name, uint32_t offset, const uint8_t *expected) {
        _cleanup_(image_freep) Image *img = image_of((const char *[]) { name }, (uint32_t[]) { offset }, 1);
        bool hit = image_hash_cache_lookup(c, img);

        assert(hit == img->hash_valid);
        if (hit && expected)
                assert(memcmp(img->sha256, expected, 32) == 0);
        /* A hit never reads the file. */
        assert(img->regions[0].data == NULL);
        return hit;
}

static void test_memo(void) {
        ImageHashCache *c = image_hash_cache_new(8);
        uint8_t sha[32];

        assert(c);
        write_pattern("memo", 5000, 9);
        settle();
        {
                _cleanup_(image_freep) Image *img = hashed_image("memo", 0x10000);

                assert(img->memoizable);
                memcpy(sha, img->sha256, 32);
                assert(!memo_hits(c, "memo", 0x10000, NULL));
                image_hash_cache_store(c, img);
                assert(image_hash_cache_size(c) == 1);
        }

        /* Unchanged: a hit, with the right hash, without reading. */
        assert(memo_hits(c, "memo", 0x10000, sha));
        assert(memo_hits(c, "memo", 0x10000, sha));
        /* The same file at another offset is another image. */
        assert(!memo_hits(c, "memo", 0x20000, NULL));

        /* A touched mtime is a miss. */
        {
                struct timespec times[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = 1500000000 } };

                assert(utimensat(AT_FDCWD, tmp_path("memo"), times, 0) == 0);
                assert(!memo_hits(c, "memo", 0x10000, NULL));
        }

        /* Rewritten in place (same size, same inode): a miss. */
        {
                _cleanup_(image_freep) Image *img = NULL;
                int fd;

                settle();
                img = hashed_image("memo", 0x10000);
                image_hash_cache_store(c, img);
                assert(memo_hits(c, "memo", 0x10000, img->sha256));

                fd = open(tmp_path("memo"), O_WRONLY | O_CLOEXEC);
                assert(fd >= 0 && pwrite(fd, "Z", 1, 100) == 1);
                close(fd);
                assert(!memo_hits(c, "memo", 0x10000, NULL));
        }

        /* Replaced by a new file of the same size: a miss. */
        {
                _cleanup_(image_freep) Image *img = NULL;

                settle();
                img = hashed_image("memo", 0x10000);
                image_hash_cache_store(c, img);
                assert(memo_hits(c, "memo", 0x10000, img->sha256));
                write_pattern("memo-new", 5000, 9);
                assert(rename(tmp_path("memo-new"), tmp_path("memo")) == 0);
                assert(!memo_hits(c, "memo", 0x10000, NULL));
        }

        /* Never stored: images that are not memoizable or not hashed. */
        {
                _cleanup_(image_freep) Image *img = NULL;
                size_t n = image_hash_cache_size(c);

                write_pattern("racy", 100, 1);
                settle();
                img = hashed_image("racy", 0);
                img->memoizable = false;
                image_hash_cache_store(c, img);
                assert(image_hash_cache_size(c) == n);
                img->memoizable = true;
                img->hash_valid = false;
                image_hash_cache_store(c, img);
                assert(image_hash_cache_size(c) == n);
        }
        image_hash_cache_free(c);
}

static void test_memo_lru(void) {
        ImageHashCache *c = image_hash_cache_new(2);
        _cleanup_(image_freep) Image *a = NULL, *b = NULL, *d = NULL;

        write_pattern("lru-a", 10, 1);
        write_pattern("lru-b", 10, 2);
        write_pattern("lru-c", 10, 3);
        settle();
        a = hashed_image("lru-a", 0);
        b = hashed_image("lru-b", 0);
        d = hashed_image("lru-c", 0);

        image_hash_cache_store(c, a);
        image_hash_cache_store(c, b);
        assert(image_hash_cache_size(c) == 2);
        /* Using a makes b the least recently used one. */
        assert(memo_hits(c, "lru-a", 0, a->sha256));
        image_hash_cache_store(c, d);
        assert(image_hash_cache_size(c) == 2);
        assert(memo_hits(c, "lru-a", 0, a->sha256));
        assert(memo_hits(c, "lru-c", 0, d->sha256));
        assert(!memo_hits(c, "lru-b", 0, NULL));
        /* Storing again is no duplicate. */
        image_hash_cache_store(c, d);
        assert(image_hash_cache_size(c) == 2);
        image_hash_cache_free(c);
}

static void cleanup_tmpdir(void) {
        char cmd[300];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        (void) !system(cmd);
}

int main(void) {
        /* The helper in the build tree: not beside this test. */
        assert(digest_set_helper(DIGEST_HELPER_PATH) == 0);
        assert(mkdtemp(tmpdir));
        atexit(cleanup_tmpdir);

        test_validate_table();
        test_too_many_regions();
        test_check_flash_size();
        test_hash_vectors();
        test_load_detects_changes();
        test_memo();
        test_memo_lru();
        return 0;
}
