/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Flash file for the simulated chip (see sim-flash.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "sim-flash.h"

#define SIM_FLASH_MIN (256U * 1024U)
#define SIM_FLASH_MAX (128U * 1024U * 1024U)

static bool is_valid_size(uint64_t s) {
        return s >= SIM_FLASH_MIN && s <= SIM_FLASH_MAX && (s & (s - 1)) == 0;
}

int sim_flash_parse_size(const char *s, uint32_t *ret) {
        unsigned long long v;
        char *end;

        if (!s || !*s)
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 0);
        if (errno != 0 || end == s)
                return -EINVAL;
        if (strcasecmp(end, "MB") == 0 || strcasecmp(end, "M") == 0 || strcasecmp(end, "MiB") == 0)
                v *= 1024ULL * 1024ULL;
        else if (strcasecmp(end, "KB") == 0 || strcasecmp(end, "K") == 0 || strcasecmp(end, "KiB") == 0)
                v *= 1024ULL;
        else if (*end)
                return -EINVAL;
        if (!is_valid_size(v))
                return -ERANGE;
        *ret = (uint32_t) v;
        return 0;
}

static int fill_erased(int fd, uint32_t size) {
        static uint8_t ff[65536];
        uint32_t done = 0;

        memset(ff, 0xFF, sizeof(ff));
        if (ftruncate(fd, 0) < 0)
                return -errno;
        while (done < size) {
                ssize_t k = pwrite(fd, ff, MIN(sizeof(ff), (size_t) (size - done)), done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                done += (uint32_t) k;
        }
        return 0;
}

int sim_flash_open(const char *path, uint32_t size, bool size_explicit, SimFlash **ret) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *p = NULL;
        struct stat st;
        SimFlash *f;
        void *map;
        int r;

        p = strdup(path);
        if (!p)
                return -ENOMEM;
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                return log_error_errno(errno, "Failed to open flash file %s: %m", path);
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return log_error_errno(EINVAL, "Flash file %s is not a regular file.", path);

        if (st.st_size == 0) {
                r = fill_erased(fd, size);
                if (r < 0)
                        return log_error_errno(r, "Failed to create flash file %s: %m", path);
        } else if ((uint64_t) st.st_size != size) {
                if (size_explicit || !is_valid_size((uint64_t) st.st_size))
                        return log_error_errno(EINVAL,
                                               "Flash file %s has %lld bytes, expected %u.",
                                               path, (long long) st.st_size, size);
                size = (uint32_t) st.st_size;
        }

        map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED)
                return log_error_errno(errno, "Failed to map flash file %s: %m", path);

        f = calloc(1, sizeof(SimFlash));
        if (!f) {
                munmap(map, size);
                return -ENOMEM;
        }
        f->fd = TAKE_FD(fd);
        f->map = map;
        f->size = size;
        f->path = TAKE_PTR(p);
        *ret = f;
        return 0;
}

SimFlash *sim_flash_free(SimFlash *f) {
        if (!f)
                return NULL;
        if (f->map) {
                /* MAP_SHARED pages are already in the page cache; msync only
                 * makes them durable, which a test comparing files doesn't need
                 * but a crash-free exit should still provide. */
                (void) msync(f->map, f->size, MS_SYNC);
                munmap(f->map, f->size);
        }
        safe_close(f->fd);
        free(f->path);
        free(f);
        return NULL;
}

/* Walks [addr, addr+n) in pieces that don't cross the wrap-around point. */
#define FOR_EACH_PIECE(f, addr, n, off, len, done)                                      \
        for (size_t done = 0, off, len;                                                 \
             done < (n) && ((off = ((addr) + done) & ((f)->size - 1)),                  \
                            (len = MIN((n) - done, (size_t) ((f)->size - off))), true); \
             done += len)

void sim_flash_read(const SimFlash *f, uint32_t addr, void *buf, size_t n) {
        FOR_EACH_PIECE(f, addr, n, off, len, done)
                memcpy((uint8_t *) buf + done, f->map + off, len);
}

void sim_flash_erase(SimFlash *f, uint32_t addr, size_t n) {
        FOR_EACH_PIECE(f, addr, n, off, len, done)
                memset(f->map + off, 0xFF, len);
}

void sim_flash_program(SimFlash *f, uint32_t addr, const void *data, size_t n) {
        const uint8_t *d = data;

        FOR_EACH_PIECE(f, addr, n, off, len, done)
                for (size_t i = 0; i < len; i++)
                        f->map[off + i] &= d[done + i];
}

void sim_flash_overwrite(SimFlash *f, uint32_t addr, const void *data, size_t n) {
        FOR_EACH_PIECE(f, addr, n, off, len, done)
                memcpy(f->map + off, (const uint8_t *) data + done, len);
}

uint8_t sim_flash_capacity_id(const SimFlash *f) {
        return (uint8_t) __builtin_ctz(f->size);
}
