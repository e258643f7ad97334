/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Giving the kernel back what an idle process keeps mapped but will not run for a
 * while: the pages of its binary and libraries (MADV_PAGEOUT). The kernel leaves
 * pages that another process maps too (libc), so what goes is memory only this
 * process held; the next use reads it back from the file. */
#pragma once

#include <stdint.h>

typedef struct PagedOut PagedOut;

/* Asks the kernel to reclaim the resident pages of every read-only file mapping
 * that holds none of the process's own copies (no relocated data, which would go
 * to swap). Until page_out_end(), those mappings read back only the pages that
 * are touched (MADV_RANDOM): otherwise the few pages the caller runs on its way
 * back to sleep would read back their whole neighbourhood. *ret_offered_kib: what
 * was resident in those mappings (offered, not all of it freed). -EOPNOTSUPP on
 * kernels before 5.4, or -errno. */
int page_out_file_pages(PagedOut **ret, uint64_t *ret_offered_kib);
/* Back to normal readahead for the process's next burst of work; frees p. */
PagedOut *page_out_end(PagedOut *p);
