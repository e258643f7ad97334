/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Who holds a port right now: the core's answer, a stable string on the bus
 * ("owner" in ListDevices and DeviceAdded). */
#pragma once

typedef enum PortOwner {
        PORT_OWNER_IDLE,                /* "idle" */
        PORT_OWNER_MONITORING,          /* "monitoring": readers share one open */
        PORT_OWNER_FLASHING,            /* "flashing": a job holds the device */
        PORT_OWNER_FOREIGN,             /* "foreign": another process has the tty open */
        _PORT_OWNER_MAX,
        _PORT_OWNER_INVALID = -1,
} PortOwner;

const char *port_owner_to_string(PortOwner o);
PortOwner port_owner_from_string(const char *s);
