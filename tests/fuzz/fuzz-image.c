/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for region validation: fuzz input describes a set of
 * regions (offset, size, kind of source) backed by real files, and
 * image_validate() must agree with a direct statement of the rules (aligned,
 * non-overlapping, inside flash, readable regular non-empty files). Small
 * accepted images are also loaded and hashed.
 *
 * Input: u8 flash size selector, then per region 10 bytes:
 *   u32 offset (LE), u32 size (LE), u8 kind, u8 fill. */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "digest.h"
#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REGION_DESC 10
/* Files are sparse (ftruncate), but data is loaded only when it is small. */
#define LOAD_MAX (256u * 1024u)

enum { KIND_FILE, KIND_EMPTY, KIND_WRITE_ONLY, KIND_PIPE, KIND_DIRECTORY, _KIND_MAX };

static uint32_t le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static int make_source(unsigned kind, uint32_t size, uint8_t fill, uint64_t *ret_size) {
        char path[64];
        int fd, wfd, p[2];

        switch (kind) {
        case KIND_PIPE:
                assert(pipe2(p, O_CLOEXEC) == 0);
                close(p[1]);
                *ret_size = 0;
                return p[0];
        case KIND_DIRECTORY:
                *ret_size = 0;
                fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                assert(fd >= 0);
                return fd;
        }

        fd = memfd_create("fuzz-region", MFD_CLOEXEC);
        assert(fd >= 0);
        if (kind == KIND_EMPTY)
                size = 0;
        if (size > 0 && size <= LOAD_MAX) {
                uint8_t *buf = malloc(size);

                assert(buf);
                memset(buf, fill, size);
                assert(write(fd, buf, size) == (ssize_t) size);
                free(buf);
        } else
                assert(ftruncate(fd, size) == 0);
        *ret_size = size;

        if (kind == KIND_WRITE_ONLY) {
                snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
                wfd = open(path, O_WRONLY | O_CLOEXEC);
                assert(wfd >= 0);
                close(fd);
                return wfd;
        }
        return fd;
}

typedef struct Desc {
        uint32_t offset;
        uint64_t size;
        unsigned kind;
} Desc;

static int desc_compare(const void *a, const void *b) {
        const Desc *x = a, *y = b;

        return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* The rules, stated directly; the first failing check in image_validate()'s
 * order decides the errno. */
static int expected_result(Desc *d, size_t n, uint64_t flash_size) {
        if (n == 0 || n > IMAGE_MAX_REGIONS)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                switch (d[i].kind) {
                case KIND_DIRECTORY:
                        return -EISDIR;
                case KIND_PIPE:
                        return -ESPIPE;
                case KIND_WRITE_ONLY:
                        return -EBADF;
                }
                if (d[i].size == 0)
                        return -ENODATA;
                if (d[i].offset % IMAGE_ALIGNMENT != 0)
                        return -EINVAL;
        }
        qsort(d, n, sizeof(Desc), desc_compare);
        for (size_t i = 0; i + 1 < n; i++)
                if (d[i].offset + d[i].size > d[i + 1].offset)
                        return -EINVAL;
        if (flash_size == 0 || flash_size > IMAGE_MAX_FLASH_SIZE)
                flash_size = IMAGE_MAX_FLASH_SIZE;
        for (size_t i = 0; i < n; i++)
                if (d[i].offset + d[i].size > flash_size)
                        return -ERANGE;
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const uint64_t flash_sizes[] = { 0, 2u << 20, 4u << 20, 16u << 20, 1ull << 40 };
        Desc desc[IMAGE_MAX_REGIONS + 1];
        Image *img;
        uint64_t flash_size, total = 0;
        size_t n = 0;
        int r, expected;

        static bool helper_set = false;

        /* The digest helper in the build tree: not beside this fuzzer. */
        if (!helper_set) {
                assert(digest_set_helper(DIGEST_HELPER_PATH) == 0);
                helper_set = true;
        }
        if (size < 1)
                return 0;
        flash_size = flash_sizes[data[0] % (sizeof(flash_sizes) / sizeof(flash_sizes[0]))];
        data++;
        size--;

        img = image_new();
        assert(img);
        for (; size >= REGION_DESC && n <= IMAGE_MAX_REGIONS; data += REGION_DESC, size -= REGION_DESC) {
                uint32_t offset = le32(data), rsize = le32(data + 4);
                unsigned kind = data[8] % 16 < 12 ? KIND_FILE : data[8] % _KIND_MAX;
                int fd;

                /* Mostly aligned offsets and modest sizes, so validation gets
                 * past the first check and overlaps are likely. */
                if (!(data[9] & 0x80))
                        offset &= ~(IMAGE_ALIGNMENT - 1) & 0x00fff000u;
                if (!(data[9] & 0x40))
                        rsize &= 0x3ffff;
                desc[n] = (Desc) { .offset = offset, .kind = kind };
                fd = make_source(kind, rsize, data[9], &desc[n].size);
                r = image_add_region(img, offset, fd);
                if (n == IMAGE_MAX_REGIONS) {
                        assert(r == -EINVAL);
                        break;
                }
                assert(r == 0);
                total += desc[n].size;
                n++;
        }

        expected = expected_result(desc, n, flash_size);
        r = image_validate(img, flash_size);
        if (r != expected) {
                fprintf(stderr, "image_validate: %d, expected %d\n", r, expected);
                abort();
        }
        if (r == 0) {
                for (size_t i = 0; i < img->n_regions; i++) {
                        assert(img->regions[i].offset == desc[i].offset);
                        assert(img->regions[i].size == desc[i].size);
                }
                assert(image_check_flash_size(img, flash_size) == 0);
                if (total <= LOAD_MAX) {
                        assert(image_load(img) == 0);
                        assert(image_compute_hash(img) == 0);
                        assert(img->hash_valid);
                }
        }
        image_free(img);
        return 0;
}
