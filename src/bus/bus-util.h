/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sd-bus glue shared by the bus-*.c files: cleanup helpers in the style of
 * src/shared/macro.h (the API's names come from src/shared/bus-api.h, the
 * string helpers from src/shared/string-util.h). */
#pragma once

#include <stdbool.h>
#include <string.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus-api.h"
#include "macro.h"
#include "string-util.h"

#define _cleanup_bus_unref_ _cleanup_(sd_bus_unrefp)
#define _cleanup_bus_flush_close_unref_ _cleanup_(sd_bus_flush_close_unrefp)
#define _cleanup_bus_message_unref_ _cleanup_(sd_bus_message_unrefp)
#define _cleanup_bus_creds_unref_ _cleanup_(sd_bus_creds_unrefp)
#define _cleanup_bus_slot_unref_ _cleanup_(sd_bus_slot_unrefp)
#define _cleanup_bus_error_free_ _cleanup_(sd_bus_error_free)
#define _cleanup_event_source_unref_ _cleanup_(sd_event_source_disable_unrefp)

/* A reply or signal to a connection that has gone away is not worth a warning. */
static inline int bus_error_is_disconnect(int r) {
        r = ERRNO_ABS(r);
        return r == ENOTCONN || r == ECONNRESET || r == EPIPE || r == ESHUTDOWN;
}

/* Who sent a message, for logs: the sender on a bus, the connection's
 * description peer-to-peer. */
static inline const char *bus_message_origin(sd_bus_message *m) {
        const char *s = sd_bus_message_get_sender(m);

        if (!s && sd_bus_get_description(sd_bus_message_get_bus(m), &s) < 0)
                s = NULL;
        return s ?: "?";
}
