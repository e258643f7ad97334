/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* How many file descriptors the process holds, and how many it may: the
 * service admits long-lived work (monitors, connections, jobs) only while this
 * leaves room, so that running out is a named refusal and never EMFILE. And
 * the one bounded read of a regular file that stubs and metadata files use. */
#pragma once

#include <stddef.h>

/* The number of fds open in this process (from /proc/self/fd), or -errno:
 * -EMFILE/-ENFILE when not even the directory could be opened. */
int fd_count_open(void);
/* RLIMIT_NOFILE's soft limit (the one open() obeys), or -errno. */
int fd_limit(unsigned *ret);

/* All of a regular file, NUL-terminated, at most max bytes: -EISDIR for a
 * directory, -ESPIPE for anything else not regular (a FIFO never blocks us),
 * -EFBIG past max, read to the bound rather than to st_size (the file may
 * grow meanwhile). */
int fd_read_regular(int fd, size_t max, char **ret, size_t *ret_len);
