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

/* A node to look for: its inode, and whether another node of the same
 * character device counts (not for a pty). */
typedef struct HeldNode {
        struct stat st;
        bool by_rdev;
} HeldNode;

static bool pid_holds(int proc_fd, const char *pid, const HeldNode *nodes, size_t n) {
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
                for (size_t i = 0; i < n; i++) {
                        if (st.st_dev == nodes[i].st.st_dev && st.st_ino == nodes[i].st.st_ino)
                                return true;
                        if (nodes[i].by_rdev && S_ISCHR(st.st_mode) && st.st_rdev == nodes[i].st.st_rdev)
                                return true;
                }
        }
        return false;
}

static int held_node_init(HeldNode *ret, const char *node) {
        struct statfs fs;

        if (stat(node, &ret->st) < 0)
                return -errno;
        if (!S_ISCHR(ret->st.st_mode))
                return -ENOTTY;
        /* Another node of the same device counts, except for a pty: the same
         * number in another devpts instance is another terminal. */
        if (statfs(node, &fs) < 0)
                return -errno;
        ret->by_rdev = fs.f_type != DEVPTS_SUPER_MAGIC;
        return 0;
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

/* One pass over /proc for all of nodes[0, n). */
static int scan_holders(const HeldNode *nodes, size_t n, int *ret_pid,
                        char ret_comm[static DEVICE_HOLDER_COMM_MAX]) {
        _cleanup_(closedirp) DIR *proc = NULL;
        struct dirent *de;
        pid_t self = getpid();

        proc = opendir("/proc");
        if (!proc)
                return -errno;
        while ((de = readdir(proc))) {
                char *end;
                long pid = strtol(de->d_name, &end, 10);

                if (*end || end == de->d_name || pid == self)
                        continue;
                if (pid_holds(dirfd(proc), de->d_name, nodes, n)) {
                        *ret_pid = (int) pid;
                        read_comm(dirfd(proc), de->d_name, ret_comm);
                        return 1;
                }
        }
        return 0;
}

int device_node_holder(const char *node, int *ret_pid, char ret_comm[static DEVICE_HOLDER_COMM_MAX]) {
        HeldNode h;
        int r;

        if (!node)
                return -EINVAL;
        r = held_node_init(&h, node);
        if (r < 0)
                return r;
        return scan_holders(&h, 1, ret_pid, ret_comm);
}

int device_node_open_elsewhere(const char *node) {
        char comm[DEVICE_HOLDER_COMM_MAX];
        int pid;

        return device_node_holder(node, &pid, comm);
}

int device_nodes_open_elsewhere(const char *const *nodes, size_t n) {
        HeldNode held[DEVICE_HOLDER_NODES_MAX];
        char comm[DEVICE_HOLDER_COMM_MAX];
        size_t k = 0;
        int pid;

        if (n > DEVICE_HOLDER_NODES_MAX)
                return -E2BIG;
        for (size_t i = 0; i < n; i++)
                if (nodes[i] && held_node_init(&held[k], nodes[i]) >= 0)
                        k++;
        if (k == 0)
                return 0;
        return scan_holders(held, k, &pid, comm);
}
