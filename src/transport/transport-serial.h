/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The libserialport implementation of the transport: 8N1, no flow control, raw. */
#pragma once

#include "transport.h"

/* Opens a serial port by device path (/dev/ttyUSB0). -ENOENT if no such port,
 * -EACCES/-EPERM if not allowed, -EBUSY if locked by another process. */
int transport_serial_open(const char *path, uint32_t baud, Transport **ret);
/* The underlying fd (for the device layer's inotify exclusion); -EBADF if none. */
int transport_serial_fd(Transport *t);
