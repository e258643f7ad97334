/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* posix_spawn with fd hygiene for our helper processes (spawn-util.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "spawn-util.h"

char *spawn_self_exe(void) {
        char buf[4096];
        ssize_t n;

        n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
        if (n <= 0)
                return NULL;
        buf[n] = '\0';
        return strdup(buf);
}

/* fds 0-2 and target_fd are the targets of the child's dup2()s: ours must not
 * be among them, or one would overwrite another. */
static int fd_dup_above(int fd, int min) {
        int nfd = fcntl(fd, F_DUPFD_CLOEXEC, min);

        return nfd < 0 ? -errno : nfd;
}

int spawn_with_socket(const char *exe, char *const argv[], int child_sock, int target_fd, pid_t *ret_pid) {
        _cleanup_close_ int sock = -EBADF, fd = -EBADF, devnull = -EBADF;
        posix_spawn_file_actions_t actions;
        posix_spawnattr_t attr;
        char *envp[] = { NULL };
        sigset_t none;
        pid_t pid;
        int r;

        if (!exe || !argv || !argv[0] || child_sock < 0 || target_fd <= STDERR_FILENO || !ret_pid)
                return -EINVAL;

        sock = fd_dup_above(child_sock, target_fd + 1);
        if (sock < 0)
                return sock;
        fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        devnull = fd_dup_above(fd, target_fd + 1);
        if (devnull < 0)
                return devnull;

        r = posix_spawn_file_actions_init(&actions);
        if (r != 0)
                return -r;
        r = posix_spawnattr_init(&attr);
        if (r != 0) {
                posix_spawn_file_actions_destroy(&actions);
                return -r;
        }
        sigemptyset(&none);
        /* Nothing of the service's but the socket and /dev/null: its log, the
         * ports, callers' region files stay behind (exec closes the O_CLOEXEC
         * ones, closefrom the rest), and neither its environment nor its signal
         * mask. */
        r = posix_spawn_file_actions_adddup2(&actions, devnull, STDIN_FILENO);
        if (r == 0)
                r = posix_spawn_file_actions_adddup2(&actions, devnull, STDOUT_FILENO);
        if (r == 0)
                r = posix_spawn_file_actions_adddup2(&actions, devnull, STDERR_FILENO);
        if (r == 0)
                r = posix_spawn_file_actions_adddup2(&actions, sock, target_fd);
        if (r == 0)
                r = posix_spawn_file_actions_addclosefrom_np(&actions, target_fd + 1);
        if (r == 0)
                r = posix_spawnattr_setsigmask(&attr, &none);
        if (r == 0)
                r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
        if (r == 0)
                r = posix_spawn(&pid, exe, &actions, &attr, argv, envp);
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
        if (r != 0)
                return -r;
        *ret_pid = pid;
        return 0;
}
