/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Starting one of our helper programs from a threaded service: posix_spawn (the
 * child execs at once, so no code runs between fork and exec), with nothing of
 * ours but one socket at a fixed fd and /dev/null on 0-2: no other fd, no
 * environment, no signal mask. The user opener and the digest helper use it. */
#pragma once

#include <sys/types.h>

/* This program's own binary (/proc/self/exe: never what the environment says,
 * the service runs as root), newly allocated, or NULL. After an upgrade it
 * reads "… (deleted)", whose directory is still the one it was run from. */
char *spawn_self_exe(void);

/* Spawns exe with argv (argv[0] included; envp empty), child_sock dup'ed to
 * target_fd in the child (target_fd > 2). The caller keeps child_sock and closes
 * it once this returns. Blocks only until the exec. */
int spawn_with_socket(const char *exe, char *const argv[], int child_sock, int target_fd, pid_t *ret_pid);
