/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Error names and errnos → exit codes, in two tables, so that docs/fbuildctl.md
 * and --help can be checked against one place. */
#include <errno.h>
#include <string.h>

#include "bus-api.h"
#include "ctl-exit.h"
#include "macro.h"
#include "string-util.h"

static const struct {
        const char *name;
        CtlExit code;
} error_name_table[] = {
        { BUS_ERROR_NO_SUCH_DEVICE,                               CTL_EXIT_NO_DEVICE },
        { BUS_ERROR_PERMISSION_DENIED,                            CTL_EXIT_PERMISSION },
        { "org.freedesktop.DBus.Error.AccessDenied",              CTL_EXIT_PERMISSION },
        { "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", CTL_EXIT_PERMISSION },
        { BUS_ERROR_TIMEOUT,                                      CTL_EXIT_DEVICE_ERROR },
        { BUS_ERROR_PROTOCOL_ERROR,                               CTL_EXIT_DEVICE_ERROR },
        { BUS_ERROR_FLASH_ERROR,                                  CTL_EXIT_DEVICE_ERROR },
        { BUS_ERROR_DEVICE_BUSY,                                  CTL_EXIT_DEVICE_ERROR },
        /* Busy too, in the service rather than the device: try again later. */
        { BUS_ERROR_LIMITS_EXCEEDED,                              CTL_EXIT_DEVICE_ERROR },
        { BUS_ERROR_CANCELLED,                                    CTL_EXIT_CANCELLED },
        { BUS_ERROR_INVALID_REGIONS,                              CTL_EXIT_INVALID },
        { BUS_ERROR_INVALID_SOURCE,                               CTL_EXIT_INVALID },
        { BUS_ERROR_PATH_NOT_VISIBLE,                             CTL_EXIT_INVALID },
        { BUS_ERROR_INVALID_OPTIONS,                              CTL_EXIT_INVALID },
        { BUS_ERROR_NOT_SUPPORTED,                                CTL_EXIT_INVALID },
        /* The image (or --chip) is for another chip: retrying will not help. */
        { BUS_ERROR_CHIP_MISMATCH,                                CTL_EXIT_INVALID },
        { "org.freedesktop.DBus.Error.InvalidArgs",               CTL_EXIT_INVALID },
};

CtlExit ctl_exit_from_error_name(const char *name) {
        if (!name)
                return CTL_EXIT_FAILURE;
        for (size_t i = 0; i < ELEMENTSOF(error_name_table); i++)
                if (streq(error_name_table[i].name, name))
                        return error_name_table[i].code;
        return CTL_EXIT_FAILURE;
}

CtlExit ctl_exit_from_errno(int error) {
        switch (ERRNO_ABS(error)) {
        case 0:
                return CTL_EXIT_SUCCESS;
        case ENOENT:
        case ENOTDIR:
        case EISDIR:
        case ESPIPE:
        case EINVAL:
        case EBADMSG:
        case E2BIG:
        case EFBIG:
        case ERANGE:
        case EXDEV:
        case EOPNOTSUPP:
        case ENOTUNIQ:
        case ELOOP:
        case ENAMETOOLONG:
                return CTL_EXIT_INVALID;
        case ENODEV:
        case ENXIO:
                return CTL_EXIT_NO_DEVICE;
        case EACCES:
        case EPERM:
                return CTL_EXIT_PERMISSION;
        case ETIMEDOUT:
        case EPROTO:
        case EIO:
        case EBUSY:
                return CTL_EXIT_DEVICE_ERROR;
        case ECANCELED:
                return CTL_EXIT_CANCELLED;
        default:
                return CTL_EXIT_FAILURE;
        }
}
