/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The parameter rules of bus-validate.h. Messages name the rule, and quote a
 * caller's string only once it is known to be short. */
#include <inttypes.h>
#include <string.h>

#include "bus-error.h"
#include "bus-validate.h"

int bus_validate_port(const char *port, sd_bus_error *error) {
        size_t n = strnlen(port, BUS_PORT_MAX + 1);

        if (n == 0)
                return sd_bus_error_set(error, BUS_ERROR_NO_SUCH_DEVICE, "No such device: the port is empty");
        if (n > BUS_PORT_MAX)
                return sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_DEVICE,
                                         "No such device: a port is a device node of at most %u bytes",
                                         BUS_PORT_MAX);
        if (port[0] != '/')
                return sd_bus_error_set(error, BUS_ERROR_NO_SUCH_DEVICE,
                                        "No such device: a port is an absolute device node path");
        return 0;
}

int bus_validate_baud(uint32_t baud, bool zero_ok, const char *what, sd_bus_error *error) {
        if (baud == 0 && zero_ok)
                return 0;
        if (baud < BUS_BAUD_MIN || baud > BUS_BAUD_MAX)
                return sd_bus_error_setf(error, BUS_ERROR_INVALID_OPTIONS,
                                         "%s: %" PRIu32 " is outside %u…%u%s", what, baud, BUS_BAUD_MIN,
                                         BUS_BAUD_MAX, zero_ok ? " (0: stay at 115200)" : "");
        return 0;
}

int bus_validate_region_path(const char *path, uint64_t offset, sd_bus_error *error) {
        if (strnlen(path, BUS_REGION_PATH_MAX + 1) > BUS_REGION_PATH_MAX)
                return sd_bus_error_setf(error, BUS_ERROR_INVALID_SOURCE,
                                         "Region at 0x%" PRIx64 ": the path is longer than %u bytes", offset,
                                         BUS_REGION_PATH_MAX);
        /* Relative to what? The service's cwd means nothing to the caller. */
        if (path[0] != '/')
                return sd_bus_error_setf(error, BUS_ERROR_INVALID_SOURCE,
                                         "Region at 0x%" PRIx64 ": the path is not absolute", offset);
        return 0;
}

int bus_validate_option_key(const char *key, sd_bus_error *error) {
        if (strnlen(key, BUS_OPTION_STRING_MAX + 1) > BUS_OPTION_STRING_MAX)
                return sd_bus_error_setf(error, BUS_ERROR_INVALID_OPTIONS,
                                         "Unknown option: keys are at most %u bytes", BUS_OPTION_STRING_MAX);
        return 0;
}

int bus_validate_option_string(const char *key, const char *value, sd_bus_error *error) {
        if (strnlen(value, BUS_OPTION_STRING_MAX + 1) > BUS_OPTION_STRING_MAX)
                return sd_bus_error_setf(error, BUS_ERROR_INVALID_OPTIONS,
                                         "Option '%s': values are at most %u bytes", key,
                                         BUS_OPTION_STRING_MAX);
        return 0;
}
