/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* MADV_PAGEOUT over the process's own read-only file mappings (page-out.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "macro.h"
#include "page-out.h"

typedef struct FileMapping {
        unsigned long start, end;
        uint64_t rss_kib, anonymous_kib;
} FileMapping;

static void fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}

/* The read-only file mappings of /proc/self/smaps with their Rss and Anonymous
 * (copy-on-write) sizes. Read whole before any madvise, so the list the kernel
 * generates is not changed under the reader. */
static int read_file_mappings(FileMapping **ret, size_t *ret_n) {
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_free_ FileMapping *maps = NULL;
        _cleanup_free_ char *line = NULL;
        size_t n = 0, allocated = 0, line_size = 0;
        bool current = false;

        f = fopen("/proc/self/smaps", "re");
        if (!f)
                return -errno;
        while (getline(&line, &line_size, f) > 0) {
                unsigned long start, end, kib;
                char perms[5];
                int path_at = 0;

                if (sscanf(line, "%lx-%lx %4s %*s %*s %*s %n", &start, &end, perms, &path_at) == 3 && path_at > 0) {
                        /* A mapping's header: range, perms, offset, device, inode, path. */
                        current = line[path_at] == '/' && perms[1] != 'w';
                        if (!current)
                                continue;
                        if (n == allocated) {
                                size_t more = allocated ? allocated * 2 : 64;
                                FileMapping *p = realloc(maps, more * sizeof(*maps));

                                if (!p)
                                        return -ENOMEM;
                                maps = p;
                                allocated = more;
                        }
                        maps[n++] = (FileMapping) { .start = start, .end = end };
                } else if (current && sscanf(line, "Rss: %lu kB", &kib) == 1)
                        maps[n - 1].rss_kib = kib;
                else if (current && sscanf(line, "Anonymous: %lu kB", &kib) == 1)
                        maps[n - 1].anonymous_kib = kib;
        }
        if (ferror(f))
                return -EIO;
        *ret = TAKE_PTR(maps);
        *ret_n = n;
        return 0;
}

struct PagedOut {
        FileMapping *maps;
        size_t n;
};

int page_out_file_pages(PagedOut **ret, uint64_t *ret_offered_kib) {
        PagedOut *p;
        uint64_t offered = 0;
        size_t n = 0;
        int r;

        /* Allocated first: once a mapping is advised, page_out_end() undoes it. */
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        r = read_file_mappings(&p->maps, &n);
        if (r < 0) {
                free(p);
                return r;
        }
        for (size_t i = 0; i < n; i++) {
                FileMapping m = p->maps[i];
                void *start = (void *) m.start;
                size_t len = m.end - m.start;

                if (m.rss_kib == 0 || m.anonymous_kib > 0)
                        continue;
                /* One mapping refused (locked, say) does not keep the others. */
                if (madvise(start, len, MADV_RANDOM) < 0 || madvise(start, len, MADV_PAGEOUT) < 0) {
                        if (r == 0)
                                r = errno == EINVAL ? -EOPNOTSUPP : -errno;
                        (void) madvise(start, len, MADV_NORMAL);
                        continue;
                }
                offered += m.rss_kib;
                p->maps[p->n++] = m;
        }
        if (p->n == 0 && r < 0) {
                page_out_end(p);
                return r;
        }
        *ret = p;
        if (ret_offered_kib)
                *ret_offered_kib = offered;
        return 0;
}

PagedOut *page_out_end(PagedOut *p) {
        if (!p)
                return NULL;
        /* A mapping gone since (a library unloaded) refuses: nothing to undo. */
        for (size_t i = 0; i < p->n; i++)
                (void) madvise((void *) p->maps[i].start, p->maps[i].end - p->maps[i].start, MADV_NORMAL);
        free(p->maps);
        free(p);
        return NULL;
}
