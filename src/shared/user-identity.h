/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A user's login identity: the primary group from the user database and every
 * group that lists the user (getgrouplist), as login(1) would set them up. The
 * service opens a caller's files with these, never with groups read from the
 * caller's process, which the caller can change (a setgid exec) at any time. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

typedef struct UserIdentity {
        uid_t uid;
        gid_t gid;              /* pw_gid */
        gid_t *groups;          /* supplementary groups, pw_gid included */
        size_t n_groups;
} UserIdentity;

void user_identity_done(UserIdentity *id);

/* Looks uid up through NSS (may be slow: LDAP, sssd). -ESRCH if the user
 * database has no such uid, -EINVAL for (uid_t) -1. */
int user_identity_from_uid(uid_t uid, UserIdentity *ret);
