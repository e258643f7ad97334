/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PortOwner's strings. */
#include "port-owner.h"
#include "string-util.h"

static const char *const port_owner_table[_PORT_OWNER_MAX] = {
        [PORT_OWNER_IDLE] = "idle",
        [PORT_OWNER_MONITORING] = "monitoring",
        [PORT_OWNER_FLASHING] = "flashing",
        [PORT_OWNER_FOREIGN] = "foreign",
};

DEFINE_STRING_TABLE_LOOKUP(port_owner, PortOwner);
