/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Opening a file with someone else's credentials: a short-lived child drops to
 * the caller's uid, gid and groups, opens the path read-only and hands the fd
 * back over a socketpair. The service never reads a file the caller could not. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Returns the fd (O_RDONLY|O_CLOEXEC|O_NOCTTY|O_NONBLOCK cleared after open)
 * or the errno the open failed with as the user (-EACCES, -ENOENT, …). Only
 * regular files: the type is checked before opening (so opening never blocks on
 * a FIFO nor has a device's side effects) and again after: -EISDIR for a
 * directory, -ESPIPE for anything else. uid 0 opens directly, without a child.
 * gids may be NULL (no supplementary groups); (uid_t) -1 or (gid_t) -1 → -EINVAL.
 * Blocks for a fork and an open: short, but not for a hot path. */
int open_as_user(const char *path, uid_t uid, gid_t gid, const gid_t *gids, size_t n_gids);
