/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Whether a path a caller names lies in a temporary directory the service sees
 * privately (systemd's PrivateTmp=yes): then the caller's file there does not
 * exist for the service, and the caller should pass the file itself. */
#pragma once

#include <stdbool.h>

/* From mountinfo text (/proc/self/mountinfo's format): whether the last mount
 * on mount_point is one of systemd's private temporary directories. */
bool mountinfo_is_private_tmp(const char *mountinfo, const char *mount_point);

/* The temporary directory (/tmp or /var/tmp) that path lies under, if this
 * process sees it privately (reads /proc/self/mountinfo); else NULL. */
const char *path_private_tmp_dir(const char *path);
