/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A deploy image: regions (offset + an open regular file), their validation, and
 * the image hash — SHA-256 over each region's (offset u64 LE, length u64 LE,
 * bytes) — memoized by file identity so an unchanged image is never re-read. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "macro.h"

#define IMAGE_SHA256_SIZE 32
#define IMAGE_ALIGNMENT 0x1000u
#define IMAGE_MAX_REGIONS 64
/* Largest flash any supported chip addresses; the detected size is checked
 * again after connecting. */
#define IMAGE_MAX_FLASH_SIZE (128u * 1024u * 1024u)

typedef struct ImageRegion {
        uint32_t offset;
        int fd;                  /* owned; read-only, regular file */
        struct stat st;          /* from fstat at validation */
        uint64_t size;           /* st.st_size */
        uint8_t *data;           /* loaded on demand by image_load() */
} ImageRegion;

typedef struct Image {
        ImageRegion *regions;    /* sorted by offset after image_validate() */
        size_t n_regions;
        bool hash_valid;
        /* Set by image_validate(): every source's last change is strictly older
         * than the validation, so its identity pins its content and the hash may
         * be memoized (a file rewritten within one timestamp tick keeps its
         * size/mtime/ctime; such an image is hashed but never memoized). */
        bool memoizable;
        uint8_t sha256[IMAGE_SHA256_SIZE];
} Image;

Image *image_new(void);
Image *image_free(Image *img);   /* closes fds, frees data */
DEFINE_TRIVIAL_CLEANUP_FUNC(Image *, image_free);
/* Takes ownership of fd even on failure. -EINVAL beyond IMAGE_MAX_REGIONS. */
int image_add_region(Image *img, uint32_t offset, int fd);

/* fstat every source and check the layout, without reading any data:
 *   -EINVAL  no regions, too many, offset not 4 KiB aligned, regions overlap
 *   -EISDIR  a source is a directory;  -ESPIPE a pipe/socket/device (not regular)
 *   -EBADF   a source is not open for reading (O_PATH or O_WRONLY)
 *   -ENODATA a source is empty
 *   -ERANGE  a region ends past flash_size (0: IMAGE_MAX_FLASH_SIZE)
 * Sorts the regions by offset. Drops loaded data and the hash (the identities
 * are refreshed). */
int image_validate(Image *img, uint64_t flash_size);
/* Re-check the region ends against a (newly detected) flash size: -ERANGE. */
int image_check_flash_size(const Image *img, uint64_t flash_size);
/* The region rules' one message table: what an errno of image_validate(),
 * image_check_flash_size() or image_load() says of its subject ("Regions …",
 * "A region …", "A region source …", or a named file), e.g. "is not a regular
 * file". NULL for an errno that is no region rule. */
const char *image_rule_strerror(int error);

/* Reads all region data into memory (blocking; for the job worker). -EIO on a
 * short read, -ESTALE if a file changed (identity, size, mtime or ctime) since
 * validation, checked before and after reading. Regions already loaded are kept. */
int image_load(Image *img);
/* Computes the image hash from loaded data (image_load first; -ENODATA if not). */
int image_compute_hash(Image *img);

/* The memo: file identity (dev, ino, size, mtime, ctime) of every region plus its
 * offset → image hash. Owned by the job scheduler; used from the main thread only. */
typedef struct ImageHashCache ImageHashCache;
ImageHashCache *image_hash_cache_new(size_t max_entries);
ImageHashCache *image_hash_cache_free(ImageHashCache *c);
/* Fills img->sha256 and sets hash_valid if the identical file set was hashed
 * before; returns true on a hit. */
bool image_hash_cache_lookup(ImageHashCache *c, Image *img);
/* No-op unless img->hash_valid and img->memoizable. Bounded: evicts the least
 * recently used entry. */
void image_hash_cache_store(ImageHashCache *c, const Image *img);
size_t image_hash_cache_size(ImageHashCache *c);
