/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Counting the process's own fds, reading its fd limit, and a bounded read of
 * a regular file (fd-util.h). */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"

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

int fd_read_regular(int fd, size_t max, char **ret, size_t *ret_len) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, size;
        struct stat st;

        assert(fd >= 0 && ret && ret_len);
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -ESPIPE;
        if ((uint64_t) st.st_size > max)
                return -EFBIG;

        /* Room for st_size and one byte more, which shows whether the file
         * grew; the buffer grows with it up to the bound. */
        size = (size_t) st.st_size + 1;
        buf = malloc(size + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n;

                if (len == size) {
                        size_t grown = MIN(size * 2, max + 1);
                        char *p = realloc(buf, grown + 1);

                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        size = grown;
                }
                n = pread(fd, buf + len, size - len, (off_t) len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len > max)
                        return -EFBIG;
        }
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}
