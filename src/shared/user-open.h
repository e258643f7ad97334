/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Opening a file as someone else, in a process of its own: the service spawns
 * its own binary as "the opener" (user_open_spawn), which takes the user's uid
 * and login groups (user-identity.h), opens the path read-only without following
 * /proc's magic links, and sends the fd back over a socket. The opener inherits
 * nothing but that socket and /dev/null, and the service never waits for it: the
 * socket says when the answer is in, a pidfd when the opener is gone. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "user-identity.h"

/* argv[1] of an opener. A program that spawns openers of itself hands such an
 * argv to user_open_main() before doing anything else. */
#define USER_OPEN_ARGV1 "--internal-open-as-user"
/* The opener's reply socket. */
#define USER_OPEN_REPLY_FD 3

typedef struct UserOpener {
        pid_t pid;      /* 0: none, or reaped */
        int pidfd;      /* readable once the opener has exited; -EBADF without pidfds */
        int sock;       /* readable once it has answered, or died */
} UserOpener;

#define USER_OPENER_INIT ((UserOpener) { .pid = 0, .pidfd = -EBADF, .sock = -EBADF })

/* Starts an opener of path for uid, exec'ing exe (posix_spawn: the caller is
 * blocked only until the exec). -EINVAL for a relative or empty path or uid -1. */
int user_open_spawn(const char *exe, const char *path, uid_t uid, UserOpener *ret);
/* Once o->sock is readable: the fd (O_RDONLY, O_CLOEXEC, blocking, a regular
 * file) or what the opener answered: -EACCES/-EPERM (the user may not), -ENOENT,
 * -ENOTDIR, -ELOOP (symlink loop) …, -EISDIR, -ESPIPE (not a regular file),
 * -EXDEV (the path goes through a /proc magic link: /proc/PID/fd/N, …/root,
 * …/cwd, …/exe), -ESRCH (no such user), -EIO (the opener died unanswered).
 * -EAGAIN: no answer yet. */
int user_open_receive(UserOpener *o);
/* SIGKILL, without waiting: an opener stuck in a hung file system may take its
 * time to die. */
void user_opener_kill(UserOpener *o);
/* Once o->pidfd is readable (or whenever): reaps the opener if it has exited.
 * 0 reaped (or nothing to reap), -EAGAIN still running. */
int user_opener_reap(UserOpener *o);
/* Closes the fds; does not kill or reap. */
void user_opener_close(UserOpener *o);

/* Opens path as id in *this* process, which takes id for good (groups, gid,
 * uid, in that order, and becomes undumpable): only for a process about to exit.
 * Errors as user_open_receive(). */
int user_open_as_identity(const UserIdentity *id, const char *path);

/* The opener's main(): argv = { any, USER_OPEN_ARGV1, uid, path }, the reply
 * socket on USER_OPEN_REPLY_FD. Returns the exit status. */
int user_open_main(int argc, char *argv[]);
