/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* errno ↔ org.fbuild.Deploy1.Error.* in one table. sd-bus only consults
 * registered maps for name → errno, so errno → name is our own lookup here. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-error.h"

const sd_bus_error_map bus_deploy_error_map[] = {
        SD_BUS_ERROR_MAP(BUS_ERROR_DEVICE_BUSY, EBUSY),
        SD_BUS_ERROR_MAP(BUS_ERROR_NO_SUCH_DEVICE, ENODEV),
        SD_BUS_ERROR_MAP(BUS_ERROR_TIMEOUT, ETIMEDOUT),
        SD_BUS_ERROR_MAP(BUS_ERROR_PROTOCOL_ERROR, EPROTO),      /* the chip reported a failure */
        SD_BUS_ERROR_MAP(BUS_ERROR_PROTOCOL_ERROR, EBADMSG),     /* malformed reply */
        SD_BUS_ERROR_MAP(BUS_ERROR_FLASH_ERROR, EIO),
        SD_BUS_ERROR_MAP(BUS_ERROR_FLASH_ERROR, ECHILD),   /* the digest helper failed (src/flash/digest.h) */
        SD_BUS_ERROR_MAP(BUS_ERROR_CANCELLED, ECANCELED),
        SD_BUS_ERROR_MAP(BUS_ERROR_INVALID_REGIONS, EINVAL),     /* empty, unaligned, overlapping, too many */
        SD_BUS_ERROR_MAP(BUS_ERROR_INVALID_REGIONS, ERANGE),     /* past the end of flash, offset > 32 bits */
        SD_BUS_ERROR_MAP(BUS_ERROR_INVALID_REGIONS, ENODATA),    /* an empty source */
        SD_BUS_ERROR_MAP(BUS_ERROR_INVALID_SOURCE, EISDIR),
        SD_BUS_ERROR_MAP(BUS_ERROR_INVALID_SOURCE, ESPIPE),      /* pipe, socket, device: not a regular file */
        SD_BUS_ERROR_MAP(BUS_ERROR_INVALID_SOURCE, ENOENT),      /* a region path that does not exist */
        /* Set by name (bus-request.c); ENOENT for clients, after InvalidSource
         * so that ENOENT still maps to InvalidSource. */
        SD_BUS_ERROR_MAP(BUS_ERROR_PATH_NOT_VISIBLE, ENOENT),
        SD_BUS_ERROR_MAP(BUS_ERROR_INVALID_SOURCE, ESTALE),      /* a source changed while we used it */
        SD_BUS_ERROR_MAP(BUS_ERROR_INVALID_SOURCE, EBADF),       /* an fd not open for reading */
        SD_BUS_ERROR_MAP(BUS_ERROR_PERMISSION_DENIED, EACCES),
        SD_BUS_ERROR_MAP(BUS_ERROR_PERMISSION_DENIED, EPERM),
        SD_BUS_ERROR_MAP(BUS_ERROR_INVALID_OPTIONS, BUS_ERRNO_INVALID_OPTIONS),
        SD_BUS_ERROR_MAP(BUS_ERROR_NOT_SUPPORTED, EOPNOTSUPP),
        SD_BUS_ERROR_MAP(BUS_ERROR_CHIP_MISMATCH, BUS_ERRNO_CHIP_MISMATCH), /* ENXIO, see bus-error.h */
        SD_BUS_ERROR_MAP(BUS_ERROR_LIMITS_EXCEEDED, BUS_ERRNO_LIMITS_EXCEEDED), /* EDQUOT: per-user limits */
        SD_BUS_ERROR_MAP(BUS_ERROR_LIMITS_EXCEEDED, EMFILE),     /* the fd budget, had it not caught it first */
        SD_BUS_ERROR_MAP(BUS_ERROR_LIMITS_EXCEEDED, ENFILE),     /* the system's fd table */
        SD_BUS_ERROR_MAP_END
};

int bus_error_register(void) {
        return sd_bus_error_add_map(bus_deploy_error_map);
}

const char *bus_error_name_from_errno(int error) {
        error = ERRNO_ABS(error);
        if (error == 0)
                return NULL;
        for (const sd_bus_error_map *m = bus_deploy_error_map; m->name; m++)
                if (m->code == error)
                        return m->name;
        return NULL;
}

static _printf_(3, 0) int bus_error_set_errnofv(sd_bus_error *e, int error, const char *format, va_list ap) {
        const char *name;
        char *message = NULL;
        int r;

        error = ERRNO_ABS(error);
        name = bus_error_name_from_errno(error);
        if (!name)
                return sd_bus_error_set_errnofv(e, error, format, ap);

        if (format) {
                /* vasprintf() expands %m from errno. */
                errno = error;
                if (vasprintf(&message, format, ap) < 0)
                        message = NULL;
        }
        r = sd_bus_error_set(e, name, message ?: strerror(error));
        free(message);
        /* sd_bus_error_set() returns the errno registered for the name, which
         * is not necessarily ours (ENXIO → NoSuchDevice → ENODEV). */
        return r == -ENOMEM ? r : -error;
}

int bus_error_set_errnof(sd_bus_error *e, int error, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = bus_error_set_errnofv(e, error, format, ap);
        va_end(ap);
        return r;
}

int bus_reply_errnof(sd_bus_message *call, int error, const char *format, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        va_list ap;

        va_start(ap, format);
        (void) bus_error_set_errnofv(&e, error, format, ap);
        va_end(ap);
        return sd_bus_reply_method_error(call, &e);
}
