/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fbuildctl's exit codes, one per kind of outcome a script can act on, and
 * the mapping from the service's error names and from errno to them. */
#pragma once

typedef enum CtlExit {
        CTL_EXIT_SUCCESS = 0,           /* done (verify: every region matches) */
        CTL_EXIT_FAILURE = 1,           /* other failure: service unreachable, unexpected error */
        CTL_EXIT_INVALID = 2,           /* invalid usage or input (arguments, sources, options) */
        CTL_EXIT_NO_DEVICE = 3,         /* device not found: no such device, or none to pick */
        CTL_EXIT_PERMISSION = 4,        /* permission denied (polkit, bus policy, a file) */
        CTL_EXIT_DEVICE_ERROR = 5,      /* device error: timeout, protocol, flash, busy; or the service's limits */
        CTL_EXIT_CANCELLED = 6,         /* cancelled (Ctrl-C, or Cancel from elsewhere) */
        CTL_EXIT_MISMATCH = 7,          /* verify: some region differs from the device */
} CtlExit;

/* org.fbuild.Deploy1.Error.* and the org.freedesktop.DBus.Error.* names a
 * caller can meet; unknown names are CTL_EXIT_FAILURE. */
CtlExit ctl_exit_from_error_name(const char *name);
/* A local failure (negative or positive errno) while reading sources or opening files. */
CtlExit ctl_exit_from_errno(int error);
