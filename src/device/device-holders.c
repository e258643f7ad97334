/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Scans /proc/PID/fd for a node, like fuser(1): an fd holds it if it is the same
 * inode, or another node of the same character device. Never by path: symlinks
 * (by-id names, umockdev's nodes) lead to the same inode. A pty's major:minor
 * is not unique: each devpts instance (a container's) numbers its own ptys. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "device-holders.h"
#include "macro.h"

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

static bool pid_holds(int proc_fd, const char *pid, const struct stat *node, bool by_rdev) {
        _cleanup_(closedirp) DIR *fds = NULL;
        struct dirent *de;
        char path[NAME_MAX + sizeof("/fd")];
        int fd;

        (void) snprintf(path, sizeof(path), "%s/fd", pid);
        fd = openat(proc_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return false;   /* gone, or not ours to read */
        fds = fdopendir(fd);
        if (!fds) {
                safe_close(fd);
                return false;
        }
        while ((de = readdir(fds))) {
                struct stat st;

                if (de->d_name[0] == '.')
                        continue;
                /* Follows the fd's link to what it has open. */
                if (fstatat(dirfd(fds), de->d_name, &st, 0) < 0)
                        continue;
                if (st.st_dev == node->st_dev && st.st_ino == node->st_ino)
                        return true;
                if (by_rdev && S_ISCHR(st.st_mode) && st.st_rdev == node->st_rdev)
                        return true;
        }
        return false;
}

static void read_comm(int proc_fd, const char *pid, char comm[static DEVICE_HOLDER_COMM_MAX]) {
        char path[NAME_MAX + sizeof("/comm")];
        ssize_t n;
        int fd;

        comm[0] = '\0';
        (void) snprintf(path, sizeof(path), "%s/comm", pid);
        fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return;
        n = read(fd, comm, DEVICE_HOLDER_COMM_MAX - 1);
        safe_close(fd);
        if (n <= 0)
                return;
        comm[n] = '\0';
        comm[strcspn(comm, "\n")] = '\0';
}

int device_node_holder(const char *node, int *ret_pid, char ret_comm[static DEVICE_HOLDER_COMM_MAX]) {
        _cleanup_(closedirp) DIR *proc = NULL;
        struct dirent *de;
        struct stat st;
        struct statfs fs;
        pid_t self = getpid();
        bool by_rdev;

        if (!node)
                return -EINVAL;
        if (stat(node, &st) < 0)
                return -errno;
        if (!S_ISCHR(st.st_mode))
                return -ENOTTY;
        /* Another node of the same device counts, except for a pty: the same
         * number in another devpts instance is another terminal. */
        if (statfs(node, &fs) < 0)
                return -errno;
        by_rdev = fs.f_type != DEVPTS_SUPER_MAGIC;

        proc = opendir("/proc");
        if (!proc)
                return -errno;
        while ((de = readdir(proc))) {
                char *end;
                long pid = strtol(de->d_name, &end, 10);

                if (*end || end == de->d_name || pid == self)
                        continue;
                if (pid_holds(dirfd(proc), de->d_name, &st, by_rdev)) {
                        *ret_pid = (int) pid;
                        read_comm(dirfd(proc), de->d_name, ret_comm);
                        return 1;
                }
        }
        return 0;
}

int device_node_open_elsewhere(const char *node) {
        char comm[DEVICE_HOLDER_COMM_MAX];
        int pid;

        return device_node_holder(node, &pid, comm);
}
