/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Opens a caller's file with the caller's credentials: a forked child drops to
 * the caller's uid, gid and groups, opens, and passes the fd back (SCM_RIGHTS),
 * so that the service can never be made to read what the caller could not. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "user-open.h"

/* Prefer the 32-bit-id variants where an architecture has both. */
#ifdef SYS_setgroups32
#  define USER_OPEN_SYS_SETGROUPS SYS_setgroups32
#  define USER_OPEN_SYS_SETRESGID SYS_setresgid32
#  define USER_OPEN_SYS_SETRESUID SYS_setresuid32
#else
#  define USER_OPEN_SYS_SETGROUPS SYS_setgroups
#  define USER_OPEN_SYS_SETRESGID SYS_setresgid
#  define USER_OPEN_SYS_SETRESUID SYS_setresuid
#endif

/* Only async-signal-safe calls: this runs in the forked child too. Checks the
 * type before opening so that opening has no side effects (a tty's DTR) and
 * never blocks (a FIFO without writer); re-checks the opened file for races. */
static int open_regular(const char *path) {
        struct stat st;
        int fd;

        if (stat(path, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -ESPIPE;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                int r = -errno;

                safe_close(fd);
                return r;
        }
        if (!S_ISREG(st.st_mode)) {
                safe_close(fd);
                return S_ISDIR(st.st_mode) ? -EISDIR : -ESPIPE;
        }
        return fd;
}

/* Regular files ignore O_NONBLOCK, but whoever reads the fd later should get
 * a plain blocking descriptor. */
static int clear_nonblock(int fd) {
        int flags;

        flags = fcntl(fd, F_GETFL);
        if (flags < 0)
                return -errno;
        if (fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
                return -errno;
        return 0;
}

typedef union ControlBuffer {
        struct cmsghdr align;
        uint8_t buf[CMSG_SPACE(sizeof(int))];
} ControlBuffer;

/* Child side: result < 0 is sent as an errno, else the fd rides along. */
static void send_result(int sock, int result) {
        int32_t err = result < 0 ? (int32_t) -result : 0;
        struct iovec iov = { .iov_base = &err, .iov_len = sizeof(err) };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        ControlBuffer control;

        if (result >= 0) {
                struct cmsghdr *cmsg;

                memset(&control, 0, sizeof(control));
                mh.msg_control = &control;
                mh.msg_controllen = sizeof(control.buf);
                cmsg = CMSG_FIRSTHDR(&mh);
                cmsg->cmsg_level = SOL_SOCKET;
                cmsg->cmsg_type = SCM_RIGHTS;
                cmsg->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(cmsg), &result, sizeof(int));
        }

        while (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 && errno == EINTR)
                ;
}

_Noreturn static void child_run(int sock, const char *path, uid_t uid, gid_t gid,
                                const gid_t *gids, size_t n_gids) {
        int r;

        /* Raw syscalls: glibc's set*id wrappers synchronise every thread of the
         * parent through signals and locks; in the child we are the only thread
         * and want nothing but the syscall itself. Groups first, uid last, while
         * we still have the privilege to change the others. */
        if (syscall(USER_OPEN_SYS_SETGROUPS, n_gids, gids) < 0)
                r = -errno;
        else if (syscall(USER_OPEN_SYS_SETRESGID, gid, gid, gid) < 0)
                r = -errno;
        else if (syscall(USER_OPEN_SYS_SETRESUID, uid, uid, uid) < 0)
                r = -errno;
        else
                r = open_regular(path);

        send_result(sock, r);
        _exit(0);
}

static int receive_result(int sock) {
        int32_t err = 0;
        struct iovec iov = { .iov_base = &err, .iov_len = sizeof(err) };
        ControlBuffer control;
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control.buf),
        };
        struct cmsghdr *cmsg;
        ssize_t n;
        int fd = -EBADF;

        do
                n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;

        for (cmsg = CMSG_FIRSTHDR(&mh); cmsg; cmsg = CMSG_NXTHDR(&mh, cmsg))
                if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS &&
                    cmsg->cmsg_len == CMSG_LEN(sizeof(int)))
                        memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));

        /* EOF or a truncated message: the child died before answering. */
        if (n != (ssize_t) sizeof(err) || (mh.msg_flags & MSG_CTRUNC)) {
                safe_close(fd);
                return -EIO;
        }
        if (err != 0) {
                safe_close(fd);
                return err > 0 ? -err : -EIO;
        }
        if (fd < 0)
                return -EIO;
        return fd;
}

int open_as_user(const char *path, uid_t uid, gid_t gid, const gid_t *gids, size_t n_gids) {
        _cleanup_close_ int parent_sock = -EBADF, child_sock = -EBADF, fd = -EBADF;
        int pair[2], r, status;
        pid_t pid;

        if (!path || !*path)
                return -EINVAL;
        /* (uid_t) -1 means "unchanged" to setresuid(): that would stay root. */
        if (uid == (uid_t) -1 || gid == (gid_t) -1 || (n_gids > 0 && !gids))
                return -EINVAL;
        for (size_t i = 0; i < n_gids; i++)
                if (gids[i] == (gid_t) -1)
                        return -EINVAL;

        if (uid == 0) {
                /* root may read anything we may: no need to fork. */
                fd = open_regular(path);
                if (fd < 0)
                        return fd;
                r = clear_nonblock(fd);
                if (r < 0)
                        return r;
                return TAKE_FD(fd);
        }

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
                return -errno;
        parent_sock = pair[0];
        child_sock = pair[1];

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                (void) close(parent_sock);
                child_run(child_sock, path, uid, gid, gids, n_gids);
        }

        /* Our copy closed, recvmsg() sees EOF if the child dies silently. */
        child_sock = safe_close(child_sock);
        fd = receive_result(parent_sock);

        /* The answer is in; reaping only avoids a zombie (ECHILD if someone
         * reaped it already is harmless). */
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;

        if (fd < 0)
                return fd;
        r = clear_nonblock(fd);
        if (r < 0)
                return r;
        return TAKE_FD(fd);
}
