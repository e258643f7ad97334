/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The groups a user logs in with (user-identity.h), from getpwuid_r() and
 * getgrouplist(). */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

#include "macro.h"
#include "user-identity.h"

/* getgrouplist() cannot say how many groups there are before it is asked. */
#define USER_IDENTITY_MAX_GROUPS 65536

void user_identity_done(UserIdentity *id) {
        free(id->groups);
        *id = (UserIdentity) {};
}

int user_identity_from_uid(uid_t uid, UserIdentity *ret) {
        _cleanup_free_ gid_t *groups = NULL;
        _cleanup_free_ char *buf = NULL;
        struct passwd pw, *pwp = NULL;
        long size_hint = sysconf(_SC_GETPW_R_SIZE_MAX);
        size_t bufsize = size_hint > 0 ? (size_t) size_hint : 16384;
        int n = 64, r;

        if (uid == (uid_t) -1)
                return -EINVAL;

        for (;;) {
                free(buf);
                buf = malloc(bufsize);
                if (!buf)
                        return -ENOMEM;
                r = getpwuid_r(uid, &pw, buf, bufsize, &pwp);
                if (r != ERANGE)
                        break;
                if (bufsize >= 1024 * 1024)
                        return -ERANGE;
                bufsize *= 2;
        }
        if (r != 0)
                return -r;
        if (!pwp)
                return -ESRCH;
        if (pw.pw_gid == (gid_t) -1)
                return -EINVAL;

        for (;;) {
                gid_t *t = reallocarray(groups, n, sizeof(gid_t));
                int want = n;

                if (!t)
                        return -ENOMEM;
                groups = t;
                if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &want) >= 0) {
                        n = want;
                        break;
                }
                /* want now holds how many there are (glibc), or is unchanged. */
                if (n >= USER_IDENTITY_MAX_GROUPS)
                        return -E2BIG;
                n = MAX(want, n * 2);
        }

        for (int i = 0; i < n; i++)
                if (groups[i] == (gid_t) -1)
                        return -EINVAL;

        *ret = (UserIdentity) {
                .uid = uid,
                .gid = pw.pw_gid,
                .groups = TAKE_PTR(groups),
                .n_groups = (size_t) n,
        };
        return 0;
}
