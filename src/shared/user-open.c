/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Opens a caller's file with the caller's credentials (user-open.h): the opener
 * process, the service's side that spawns it and reads its answer, and the
 * opening itself, which never follows /proc's magic links. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "spawn-util.h"
#include "string-util.h"
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

/* ---- opening ------------------------------------------------------------------ */

/* Without openat2() (before Linux 5.6) the magic links cannot be told apart
 * while resolving: refuse the places that hold them, by name. */
static bool path_in_proc_by_name(const char *path) {
        return path_is_under(path, "/proc") || path_is_under(path, "/dev/fd") ||
                path_is_under(path, "/dev/stdin") || path_is_under(path, "/dev/stdout") ||
                path_is_under(path, "/dev/stderr");
}

static int open_no_magiclinks(const char *path, int flags) {
        struct open_how how = { .flags = (uint64_t) flags, .resolve = RESOLVE_NO_MAGICLINKS };
        long fd;

        fd = syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
        if (fd >= 0)
                return (int) fd;
        if (errno != ENOSYS)
                return -errno;

        if (path_in_proc_by_name(path))
                return -EXDEV;
        fd = open(path, flags);
        return fd < 0 ? -errno : (int) fd;
}

/* ELOOP is both "a magic link on the way" (RESOLVE_NO_MAGICLINKS) and "too
 * many symlinks": resolving once more, to nothing but an O_PATH fd that is
 * closed at once (no read, no open side effects), tells them apart. */
static int open_resolved(const char *path, int flags) {
        int fd, probe;

        fd = open_no_magiclinks(path, flags);
        if (fd != -ELOOP)
                return fd;
        probe = open(path, O_PATH | O_CLOEXEC);
        if (probe < 0 && errno == ELOOP)
                return -ELOOP;
        safe_close(probe);
        return -EXDEV;
}

static int stat_type_error(const struct stat *st) {
        if (S_ISREG(st->st_mode))
                return 0;
        return S_ISDIR(st->st_mode) ? -EISDIR : -ESPIPE;
}

/* Checks the type before opening for reading, so that opening has no side
 * effects (a tty's DTR) and never blocks on a FIFO; re-checks what was opened.
 * Returns a blocking O_RDONLY fd. */
static int open_regular(const char *path) {
        _cleanup_close_ int pfd = -EBADF, fd = -EBADF;
        struct stat st;
        int flags, r;

        if (!path || path[0] != '/')
                return -EINVAL;

        pfd = open_resolved(path, O_PATH | O_CLOEXEC);
        if (pfd < 0)
                return pfd;
        if (fstat(pfd, &st) < 0)
                return -errno;
        r = stat_type_error(&st);
        if (r < 0)
                return r;

        fd = open_resolved(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0)
                return -errno;
        r = stat_type_error(&st);
        if (r < 0)
                return r;

        /* Regular files ignore O_NONBLOCK; whoever reads gets a plain fd. */
        flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
                return -errno;
        return TAKE_FD(fd);
}

int user_open_as_identity(const UserIdentity *id, const char *path) {
        if (!id || id->uid == (uid_t) -1 || id->gid == (gid_t) -1 || (id->n_groups > 0 && !id->groups))
                return -EINVAL;
        for (size_t i = 0; i < id->n_groups; i++)
                if (id->groups[i] == (gid_t) -1)
                        return -EINVAL;

        /* Not even the user may ptrace us while we hold its identity and the
         * socket to the service (the kernel does this too on the uid change). */
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                return -errno;
        /* Raw syscalls: glibc's set*id wrappers synchronise every thread through
         * signals, which a forked child of a threaded program must not rely on.
         * Groups first, uid last, while we may still change the others. */
        if (syscall(USER_OPEN_SYS_SETGROUPS, id->n_groups, id->groups) < 0)
                return -errno;
        if (syscall(USER_OPEN_SYS_SETRESGID, id->gid, id->gid, id->gid) < 0)
                return -errno;
        if (syscall(USER_OPEN_SYS_SETRESUID, id->uid, id->uid, id->uid) < 0)
                return -errno;
        return open_regular(path);
}

/* ---- the opener process ------------------------------------------------------- */

typedef union ControlBuffer {
        struct cmsghdr align;
        uint8_t buf[CMSG_SPACE(sizeof(int))];
} ControlBuffer;

/* result < 0 goes as an errno, else the fd rides along. */
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

static int parse_uid(const char *s, uid_t *ret) {
        unsigned long long v;
        char *end;

        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || *end != '\0' || v >= UINT32_MAX)
                return -EINVAL;
        *ret = (uid_t) v;
        return 0;
}

int user_open_main(int argc, char *argv[]) {
        _cleanup_(user_identity_done) UserIdentity id = {};
        int type = 0, r;
        socklen_t len = sizeof(type);
        uid_t uid = (uid_t) -1;

        /* Only ever started by user_open_spawn(): the reply socket is there. */
        if (getsockopt(USER_OPEN_REPLY_FD, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_SEQPACKET) {
                fprintf(stderr, "%s is internal: it answers on fd %d only.\n", USER_OPEN_ARGV1,
                        USER_OPEN_REPLY_FD);
                return EXIT_FAILURE;
        }

        /* /proc/self/cwd would otherwise be the service's working directory. */
        if (chdir("/") < 0)
                r = -errno;
        else if (argc != 4 || !streq(argv[1], USER_OPEN_ARGV1))
                r = -EINVAL;
        else
                r = parse_uid(argv[2], &uid);
        if (r >= 0)
                r = user_identity_from_uid(uid, &id);
        if (r >= 0)
                r = user_open_as_identity(&id, argv[3]);

        send_result(USER_OPEN_REPLY_FD, r);
        safe_close(r);
        return EXIT_SUCCESS;
}

/* ---- the service's side -------------------------------------------------------- */

void user_opener_close(UserOpener *o) {
        o->pidfd = safe_close(o->pidfd);
        o->sock = safe_close(o->sock);
}

int user_open_spawn(const char *exe, const char *path, uid_t uid, UserOpener *ret) {
        _cleanup_close_ int parent_sock = -EBADF, child_sock = -EBADF, pidfd = -EBADF;
        char uid_str[16];
        char *argv[] = { (char *) exe, (char *) USER_OPEN_ARGV1, uid_str, (char *) path, NULL };
        int pair[2], r;
        pid_t pid;

        if (!exe || !path || path[0] != '/' || uid == (uid_t) -1)
                return -EINVAL;
        (void) snprintf(uid_str, sizeof(uid_str), "%" PRIu32, (uint32_t) uid);

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
                return -errno;
        parent_sock = pair[0];
        child_sock = pair[1];
        r = spawn_with_socket(exe, argv, child_sock, USER_OPEN_REPLY_FD, &pid);
        if (r < 0)
                return r;

        /* Nobody has reaped it yet (we are its only waiter), so the pid is
         * still ours. Without pidfds (before Linux 5.3, or under valgrind 3.19)
         * whoever waits for the opener polls user_opener_reap(). */
        pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (pidfd < 0 && errno != ENOSYS) {
                r = -errno;
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);   /* killed: gone at once */
                return r;
        }

        *ret = (UserOpener) { .pid = pid, .pidfd = TAKE_FD(pidfd), .sock = TAKE_FD(parent_sock) };
        return 0;
}

/* What came back must be what we asked for, whatever the opener did. */
static int check_received_fd(int fd) {
        struct stat st;
        int flags, r;

        if (fstat(fd, &st) < 0)
                return -errno;
        r = stat_type_error(&st);
        if (r < 0)
                return r;
        flags = fcntl(fd, F_GETFL);
        if (flags < 0)
                return -errno;
        if ((flags & O_ACCMODE) == O_WRONLY || (flags & O_PATH))
                return -EBADF;
        if ((flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
                return -errno;
        return 0;
}

int user_open_receive(UserOpener *o) {
        int32_t err = 0;
        struct iovec iov = { .iov_base = &err, .iov_len = sizeof(err) };
        ControlBuffer control;
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control.buf),
        };
        _cleanup_close_ int fd = -EBADF;
        struct cmsghdr *cmsg;
        ssize_t n;
        int r;

        if (o->sock < 0)
                return -EBADF;
        do
                n = recvmsg(o->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return errno == EWOULDBLOCK ? -EAGAIN : -errno;

        for (cmsg = CMSG_FIRSTHDR(&mh); cmsg; cmsg = CMSG_NXTHDR(&mh, cmsg))
                if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS &&
                    cmsg->cmsg_len == CMSG_LEN(sizeof(int))) {
                        safe_close(fd);
                        memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
                }

        /* EOF or a truncated message: the opener died before answering. */
        if (n != (ssize_t) sizeof(err) || (mh.msg_flags & MSG_CTRUNC))
                return -EIO;
        if (err != 0)
                return err > 0 ? -err : -EIO;
        if (fd < 0)
                return -EIO;
        r = check_received_fd(fd);
        if (r < 0)
                return r;
        return TAKE_FD(fd);
}

void user_opener_kill(UserOpener *o) {
        if (o->pid <= 0)
                return;
        if (o->pidfd >= 0)
                (void) syscall(SYS_pidfd_send_signal, o->pidfd, SIGKILL, NULL, 0);
        else
                (void) kill(o->pid, SIGKILL);
}

int user_opener_reap(UserOpener *o) {
        pid_t p;

        if (o->pid <= 0)
                return 0;
        do
                p = waitpid(o->pid, NULL, WNOHANG);
        while (p < 0 && errno == EINTR);
        if (p == 0)
                return -EAGAIN;
        /* Reaped now, or by someone else already (ECHILD): gone either way. */
        o->pid = 0;
        return 0;
}
