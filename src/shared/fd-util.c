/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Counting the process's own fds and reading its fd limit (fd-util.h). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sys/resource.h>

#include "fd-util.h"

int fd_count_open(void) {
        struct dirent *de;
        int n = 0;
        DIR *d;

        d = opendir("/proc/self/fd");
        if (!d)
                return -errno;
        errno = 0;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        if (errno != 0) {
                int r = -errno;

                closedir(d);
                return r;
        }
        closedir(d);
        /* Not the directory's own fd: it is gone again. */
        return n > 0 ? n - 1 : 0;
}

int fd_limit(unsigned *ret) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return -errno;
        *ret = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > INT_MAX ? INT_MAX : (unsigned) rl.rlim_cur;
        return 0;
}
