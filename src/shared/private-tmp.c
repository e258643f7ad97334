/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PrivateTmp= detection from mountinfo: systemd mounts a directory named
 * systemd-private-… over /tmp and /var/tmp, so the mount's root says so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "private-tmp.h"
#include "string-util.h"

#define PRIVATE_TMP_MARK "/systemd-private-"

bool mountinfo_is_private_tmp(const char *mountinfo, const char *mount_point) {
        bool private = false;

        for (const char *line = mountinfo; line && *line; ) {
                const char *end = strchrnul(line, '\n');
                /* id parent major:minor root mount-point options … */
                const char *field[5] = {};
                size_t len[5] = {};
                const char *p = line;

                for (size_t i = 0; i < ELEMENTSOF(field) && p < end; i++) {
                        while (p < end && *p == ' ')
                                p++;
                        field[i] = p;
                        while (p < end && *p != ' ')
                                p++;
                        len[i] = (size_t) (p - field[i]);
                }
                if (field[4] && len[4] == strlen(mount_point) &&
                    strncmp(field[4], mount_point, len[4]) == 0) {
                        /* Later lines mount over earlier ones: the last one counts. */
                        private = memmem(field[3], len[3], PRIVATE_TMP_MARK, strlen(PRIVATE_TMP_MARK)) != NULL;
                }
                line = *end ? end + 1 : end;
        }
        return private;
}

const char *path_private_tmp_dir(const char *path) {
        static const char *const dirs[] = { "/tmp", "/var/tmp" };
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f;

        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                if (!path_is_under(path, dirs[i]))
                        continue;
                if (!text) {
                        f = fopen("/proc/self/mountinfo", "re");
                        if (!f)
                                return NULL;
                        if (getdelim(&text, &size, '\0', f) < 0) {
                                fclose(f);
                                return NULL;
                        }
                        fclose(f);
                }
                return mountinfo_is_private_tmp(text, dirs[i]) ? dirs[i] : NULL;
        }
        return NULL;
}
