/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Who else holds a device node open right now. inotify sees opens as they
 * happen; a process that opened the port before we looked, and still holds it,
 * is only found by asking /proc. */
#pragma once

#include <stddef.h>

/* 1 if a process other than this one has node open, 0 if none, -errno if node
 * cannot be examined. Processes whose fds cannot be read are skipped. */
int device_node_open_elsewhere(const char *node);

/* The same, naming one such process: 1 with *ret_pid and its command name
 * (/proc/PID/comm, at most 15 bytes, "" if unreadable) in ret_comm, 0 if none,
 * -errno if node cannot be examined. */
#define DEVICE_HOLDER_COMM_MAX 16
int device_node_holder(const char *node, int *ret_pid, char ret_comm[static DEVICE_HOLDER_COMM_MAX]);

/* Whether a process other than this one has any of nodes[0, n) open, in one
 * pass over /proc (a tty and its USB device node: the scan's cost is the
 * pass, not the nodes): 1 if one does, 0 if none. A NULL node, or one that
 * cannot be examined, is skipped; -E2BIG beyond DEVICE_HOLDER_NODES_MAX. */
#define DEVICE_HOLDER_NODES_MAX 4
int device_nodes_open_elsewhere(const char *const *nodes, size_t n);
