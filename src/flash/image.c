/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Deploy images: the region list, its validation (fstat only, no data read),
 * loading with change detection, the SHA-256 image hash and its LRU memo. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "image.h"
#include "macro.h"

/* ---- the image ------------------------------------------------------------------ */

Image *image_new(void) {
        return calloc(1, sizeof(Image));
}

static void image_drop_data(Image *img) {
        for (size_t i = 0; i < img->n_regions; i++) {
                free(img->regions[i].data);
                img->regions[i].data = NULL;
        }
}

Image *image_free(Image *img) {
        if (!img)
                return NULL;
        for (size_t i = 0; i < img->n_regions; i++) {
                safe_close(img->regions[i].fd);
                free(img->regions[i].data);
        }
        free(img->regions);
        free(img);
        return NULL;
}

int image_add_region(Image *img, uint32_t offset, int fd) {
        _cleanup_close_ int owned = fd;
        ImageRegion *n;

        assert(img);
        if (fd < 0)
                return -EINVAL;
        /* Refused early so that a huge request cannot pin thousands of fds. */
        if (img->n_regions >= IMAGE_MAX_REGIONS)
                return -EINVAL;

        n = reallocarray(img->regions, img->n_regions + 1, sizeof(ImageRegion));
        if (!n)
                return -ENOMEM;
        img->regions = n;
        img->regions[img->n_regions++] = (ImageRegion) {
                .offset = offset,
                .fd = TAKE_FD(owned),
        };
        img->hash_valid = false;
        img->memoizable = false;
        return 0;
}

static int region_compare(const void *a, const void *b) {
        const ImageRegion *x = a, *y = b;

        return x->offset < y->offset ? -1 : x->offset > y->offset ? 1 : 0;
}

static uint64_t timespec_to_nsec(const struct timespec *ts) {
        return (uint64_t) ts->tv_sec * UINT64_C(1000000000) + (uint64_t) ts->tv_nsec;
}

static int region_check_source(ImageRegion *r) {
        struct stat st;
        int flags;

        if (fstat(r->fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -ESPIPE;

        /* An O_PATH or write-only descriptor passes fstat but cannot be read. */
        flags = fcntl(r->fd, F_GETFL);
        if (flags < 0)
                return -errno;
        if ((flags & O_PATH) || (flags & O_ACCMODE) == O_WRONLY)
                return -EBADF;

        if (st.st_size <= 0)
                return -ENODATA;

        r->st = st;
        r->size = (uint64_t) st.st_size;
        return 0;
}

int image_validate(Image *img, uint64_t flash_size) {
        struct timespec started;
        bool memoizable = true;
        int r;

        assert(img);
        if (img->n_regions == 0 || img->n_regions > IMAGE_MAX_REGIONS)
                return -EINVAL;

        /* Taken before any fstat; see the memoizable check below. */
        if (clock_gettime(CLOCK_REALTIME_COARSE, &started) < 0)
                return -errno;

        for (size_t i = 0; i < img->n_regions; i++) {
                r = region_check_source(&img->regions[i]);
                if (r < 0)
                        return r;
                if (img->regions[i].offset % IMAGE_ALIGNMENT != 0)
                        return -EINVAL;
        }

        qsort(img->regions, img->n_regions, sizeof(ImageRegion), region_compare);
        for (size_t i = 0; i + 1 < img->n_regions; i++)
                if ((uint64_t) img->regions[i].offset + img->regions[i].size >
                    img->regions[i + 1].offset)
                        return -EINVAL;

        r = image_check_flash_size(img, flash_size);
        if (r < 0)
                return r;

        /* A file modified within the timestamp tick of its last change keeps its
         * (size, mtime, ctime): its identity pins its content only if that change
         * is strictly older than our fstat. Otherwise hash it, but never memoize
         * it (git's "racily clean" rule). */
        for (size_t i = 0; i < img->n_regions; i++)
                if (timespec_to_nsec(&img->regions[i].st.st_ctim) >= timespec_to_nsec(&started))
                        memoizable = false;

        /* The identities were just refreshed: whatever was loaded or hashed
         * before describes other bytes, possibly. */
        image_drop_data(img);
        img->hash_valid = false;
        img->memoizable = memoizable;
        return 0;
}

const char *image_rule_strerror(int error) {
        switch (ERRNO_ABS(error)) {
        case EINVAL:
                return "must be 1 to " STRINGIFY(IMAGE_MAX_REGIONS) ", 4 KiB aligned and non-overlapping";
        case ERANGE:
                return "ends past the end of flash";
        case ENODATA:
                return "is empty";
        case EISDIR:
                return "is a directory";
        case ESPIPE:
                return "is not a regular file";
        case EBADF:
                return "is not open for reading";
        case ESTALE:
                return "changed after it was submitted";
        default:
                return NULL;
        }
}

int image_check_flash_size(const Image *img, uint64_t flash_size) {
        assert(img);
        if (flash_size == 0 || flash_size > IMAGE_MAX_FLASH_SIZE)
                flash_size = IMAGE_MAX_FLASH_SIZE;

        for (size_t i = 0; i < img->n_regions; i++)
                if ((uint64_t) img->regions[i].offset + img->regions[i].size > flash_size)
                        return -ERANGE;
        return 0;
}

static bool stat_same_file(const struct stat *a, const struct stat *b) {
        return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
               a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
               a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static int region_check_unchanged(const ImageRegion *r) {
        struct stat st;

        if (fstat(r->fd, &st) < 0)
                return -errno;
        if (!stat_same_file(&st, &r->st))
                return -ESTALE;
        return 0;
}

static int region_load(ImageRegion *r) {
        _cleanup_free_ uint8_t *buf = NULL;
        uint64_t done = 0;
        int k;

        /* Validation bounds every region to the flash size, so this fits. */
        if (r->size == 0 || r->size > IMAGE_MAX_FLASH_SIZE)
                return -EINVAL;

        k = region_check_unchanged(r);
        if (k < 0)
                return k;

        buf = malloc(r->size);
        if (!buf)
                return -ENOMEM;

        /* pread, not mmap: a file truncated under a mapping would SIGBUS us. */
        while (done < r->size) {
                ssize_t n = pread(r->fd, buf + done, r->size - done, (off_t) done);
                if (n < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EIO;
                done += (uint64_t) n;
        }

        /* Catches writes that happened while we read. */
        k = region_check_unchanged(r);
        if (k < 0)
                return k;

        r->data = TAKE_PTR(buf);
        return 0;
}

int image_load(Image *img) {
        int r;

        assert(img);
        if (img->n_regions == 0)
                return -EINVAL;

        for (size_t i = 0; i < img->n_regions; i++) {
                if (img->regions[i].data)
                        continue;
                r = region_load(&img->regions[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- the hash --------------------------------------------------------------------- */

static void le64_put(uint8_t out[8], uint64_t v) {
        for (size_t i = 0; i < 8; i++)
                out[i] = (uint8_t) (v >> (8 * i));
}

static int sha256_regions(const ImageRegion *regions, size_t n, uint8_t ret[IMAGE_SHA256_SIZE]) {
        _cleanup_(digest_freep) Digest *d = NULL;
        int r;

        r = digest_new(DIGEST_SHA256, &d);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                uint8_t header[16];

                le64_put(header, regions[i].offset);
                le64_put(header + 8, regions[i].size);
                r = digest_update(d, header, sizeof(header));
                if (r < 0)
                        return r;
                r = digest_update(d, regions[i].data, regions[i].size);
                if (r < 0)
                        return r;
        }
        return digest_final(d, ret, IMAGE_SHA256_SIZE);
}

int image_compute_hash(Image *img) {
        uint8_t digest[IMAGE_SHA256_SIZE];
        int r;

        assert(img);
        if (img->n_regions == 0)
                return -EINVAL;
        for (size_t i = 0; i < img->n_regions; i++)
                if (!img->regions[i].data)
                        return -ENODATA;

        r = sha256_regions(img->regions, img->n_regions, digest);
        if (r < 0)
                return r;
        memcpy(img->sha256, digest, sizeof(digest));
        img->hash_valid = true;
        return 0;
}

/* ---- the memo ---------------------------------------------------------------------- */

typedef struct RegionKey {
        uint64_t offset;
        uint64_t dev, ino, size;
        uint64_t mtime_nsec, ctime_nsec;
} RegionKey;

typedef struct CacheEntry CacheEntry;
struct CacheEntry {
        CacheEntry *prev, *next;  /* most recently used first */
        RegionKey *keys;
        size_t n_keys;
        uint8_t sha256[IMAGE_SHA256_SIZE];
};

struct ImageHashCache {
        CacheEntry *head, *tail;
        size_t n_entries, max_entries;
};

static void region_key_from(RegionKey *k, const ImageRegion *r) {
        /* Every field set explicitly: keys are compared with memcmp. */
        memset(k, 0, sizeof(*k));
        k->offset = r->offset;
        k->dev = (uint64_t) r->st.st_dev;
        k->ino = (uint64_t) r->st.st_ino;
        k->size = r->size;
        k->mtime_nsec = timespec_to_nsec(&r->st.st_mtim);
        k->ctime_nsec = timespec_to_nsec(&r->st.st_ctim);
}

static bool entry_matches(const CacheEntry *e, const Image *img) {
        if (e->n_keys != img->n_regions)
                return false;
        for (size_t i = 0; i < img->n_regions; i++) {
                RegionKey k;

                region_key_from(&k, &img->regions[i]);
                if (memcmp(&k, &e->keys[i], sizeof(k)) != 0)
                        return false;
        }
        return true;
}

static void cache_unlink(ImageHashCache *c, CacheEntry *e) {
        if (e->prev)
                e->prev->next = e->next;
        else
                c->head = e->next;
        if (e->next)
                e->next->prev = e->prev;
        else
                c->tail = e->prev;
        e->prev = e->next = NULL;
        c->n_entries--;
}

static void cache_push_front(ImageHashCache *c, CacheEntry *e) {
        e->prev = NULL;
        e->next = c->head;
        if (c->head)
                c->head->prev = e;
        else
                c->tail = e;
        c->head = e;
        c->n_entries++;
}

static CacheEntry *cache_entry_free(CacheEntry *e) {
        if (!e)
                return NULL;
        free(e->keys);
        free(e);
        return NULL;
}

static CacheEntry *cache_find(ImageHashCache *c, const Image *img) {
        for (CacheEntry *e = c->head; e; e = e->next)
                if (entry_matches(e, img))
                        return e;
        return NULL;
}

ImageHashCache *image_hash_cache_new(size_t max_entries) {
        ImageHashCache *c;

        c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        c->max_entries = MAX(max_entries, (size_t) 1);
        return c;
}

ImageHashCache *image_hash_cache_free(ImageHashCache *c) {
        if (!c)
                return NULL;
        while (c->head) {
                CacheEntry *e = c->head;

                cache_unlink(c, e);
                cache_entry_free(e);
        }
        free(c);
        return NULL;
}

bool image_hash_cache_lookup(ImageHashCache *c, Image *img) {
        CacheEntry *e;

        if (!c || !img || img->n_regions == 0)
                return false;
        /* Unvalidated regions have no identity to look up. */
        for (size_t i = 0; i < img->n_regions; i++)
                if (img->regions[i].size == 0)
                        return false;

        e = cache_find(c, img);
        if (!e)
                return false;

        cache_unlink(c, e);
        cache_push_front(c, e);
        memcpy(img->sha256, e->sha256, IMAGE_SHA256_SIZE);
        img->hash_valid = true;
        return true;
}

void image_hash_cache_store(ImageHashCache *c, const Image *img) {
        CacheEntry *e;

        if (!c || !img || !img->hash_valid || !img->memoizable || img->n_regions == 0)
                return;

        e = cache_find(c, img);
        if (e) {
                cache_unlink(c, e);
                memcpy(e->sha256, img->sha256, IMAGE_SHA256_SIZE);
                cache_push_front(c, e);
                return;
        }

        /* A memo is an optimisation: running out of memory just means no entry. */
        e = calloc(1, sizeof(*e));
        if (!e)
                return;
        e->keys = calloc(img->n_regions, sizeof(RegionKey));
        if (!e->keys) {
                free(e);
                return;
        }
        e->n_keys = img->n_regions;
        for (size_t i = 0; i < img->n_regions; i++)
                region_key_from(&e->keys[i], &img->regions[i]);
        memcpy(e->sha256, img->sha256, IMAGE_SHA256_SIZE);

        while (c->n_entries >= c->max_entries) {
                CacheEntry *old = c->tail;

                cache_unlink(c, old);
                cache_entry_free(old);
        }
        cache_push_front(c, e);
}

size_t image_hash_cache_size(ImageHashCache *c) {
        return c ? c->n_entries : 0;
}
