/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Who else holds a device node open right now. inotify sees opens as they
 * happen; a process that opened the port before we looked, and still holds it,
 * is only found by asking /proc. */
#pragma once

/* 1 if a process other than this one has node open, 0 if none, -errno if node
 * cannot be examined. Processes whose fds cannot be read are skipped. */
int device_node_open_elsewhere(const char *node);
