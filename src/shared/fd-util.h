/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* How many file descriptors the process holds, and how many it may: the
 * service admits long-lived work (monitors, connections, jobs) only while this
 * leaves room, so that running out is a named refusal and never EMFILE. */
#pragma once

/* The number of fds open in this process (from /proc/self/fd), or -errno:
 * -EMFILE/-ENFILE when not even the directory could be opened. */
int fd_count_open(void);
/* RLIMIT_NOFILE's soft limit (the one open() obeys), or -errno. */
int fd_limit(unsigned *ret);
