/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one table that maps negative errno to the stable error names of
 * org.fbuild.Deploy1 (bus-api.h) (and back, for clients via sd_bus_error_add_map). */
#pragma once

#include <systemd/sd-bus.h>

#include "bus-api.h"
#include "macro.h"

/* errnos with no standard meaning that fits, chosen for our names. */
#define BUS_ERRNO_INVALID_OPTIONS EBADRQC   /* "invalid request code": an unknown or mistyped option */
/* The job layer fails with ENXIO ("no such device or address") when the chip
 * found is not the one the "chip" option asked for; a vanished device is
 * always ENODEV below the bus layer (the transport converts ENXIO). */
#define BUS_ERRNO_CHIP_MISMATCH ENXIO
/* A per-user quota (bus-limits.h): too many jobs or connections for one uid. */
#define BUS_ERRNO_LIMITS_EXCEEDED EDQUOT

/* Terminated by SD_BUS_ERROR_MAP_END. For one errno the first entry wins. */
extern const sd_bus_error_map bus_deploy_error_map[];

/* Registers the table with sd-bus (name → errno); idempotent. */
int bus_error_register(void);
/* Our error name for an errno (either sign), or NULL if the table has none. */
const char *bus_error_name_from_errno(int error);

/* Like sd_bus_error_set_errnof(), but names the error from our table; errnos
 * outside it keep sd-bus' standard names. %m in format prints strerror(error).
 * Returns -ERRNO_ABS(error). */
int bus_error_set_errnof(sd_bus_error *e, int error, const char *format, ...) _printf_(3, 4);
/* Replies to call with such an error. */
int bus_reply_errnof(sd_bus_message *call, int error, const char *format, ...) _printf_(3, 4);
