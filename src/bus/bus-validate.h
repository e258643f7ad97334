/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One rule per kind of caller-supplied parameter, shared by every method, each
 * failure with one error name: a port (NoSuchDevice), a baud rate
 * (InvalidOptions), a region path (InvalidSource), an option key or string
 * value (InvalidOptions). Every string has a length bound, checked before
 * anything is looked up or kept. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-bus.h>

/* Device nodes are short ("/dev/serial/by-id/usb-…" at most ~120 bytes). */
#define BUS_PORT_MAX 255u
/* Region paths: what open() takes. */
#define BUS_REGION_PATH_MAX 4095u
/* Option keys and string values ("chip", "before", …: a word each). */
#define BUS_OPTION_STRING_MAX 64u
/* Baud rates, wherever one is given (Monitor's argument, the "baud" option):
 * below, a deploy would take hours and no ESP console runs; above, no bridge. */
#define BUS_BAUD_MIN 9600u
#define BUS_BAUD_MAX 12000000u

/* A port names a device node: non-empty, absolute, at most BUS_PORT_MAX bytes.
 * Whether it exists is the resolver's question (also NoSuchDevice). */
int bus_validate_port(const char *port, sd_bus_error *error);
/* BUS_BAUD_MIN…BUS_BAUD_MAX; 0 only where it means something (zero_ok). */
int bus_validate_baud(uint32_t baud, bool zero_ok, const char *what, sd_bus_error *error);
/* An absolute path of at most BUS_REGION_PATH_MAX bytes. */
int bus_validate_region_path(const char *path, uint64_t offset, sd_bus_error *error);
/* An option key, or the string value of option key: at most BUS_OPTION_STRING_MAX bytes. */
int bus_validate_option_key(const char *key, sd_bus_error *error);
int bus_validate_option_string(const char *key, const char *value, sd_bus_error *error);
