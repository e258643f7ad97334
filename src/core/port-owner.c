/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PortOwner's strings. */
#include <string.h>

#include "port-owner.h"

static const char *const port_owner_table[_PORT_OWNER_MAX] = {
        [PORT_OWNER_IDLE] = "idle",
        [PORT_OWNER_MONITORING] = "monitoring",
        [PORT_OWNER_FLASHING] = "flashing",
};

const char *port_owner_to_string(PortOwner o) {
        if (o < 0 || o >= _PORT_OWNER_MAX)
                return NULL;
        return port_owner_table[o];
}

PortOwner port_owner_from_string(const char *s) {
        if (!s)
                return _PORT_OWNER_INVALID;
        for (PortOwner o = 0; o < _PORT_OWNER_MAX; o++)
                if (strcmp(port_owner_table[o], s) == 0)
                        return o;
        return _PORT_OWNER_INVALID;
}
