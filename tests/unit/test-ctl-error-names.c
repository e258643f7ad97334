/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The service and fbuildctl spell the error names from one header
 * (src/shared/bus-api.h), but the client's exit-code table is its own: every
 * error the service can return must be one it knows, so that a new name cannot
 * drift into "other failure" (exit 1). */

#include <assert.h>
#include <stdio.h>

#include "bus-error.h"
#include "ctl-exit.h"

int main(void) {
        size_t n = 0;

        for (const sd_bus_error_map *m = bus_deploy_error_map; m->name; m++, n++)
                if (ctl_exit_from_error_name(m->name) == CTL_EXIT_FAILURE) {
                        fprintf(stderr, "fbuildctl does not know %s\n", m->name);
                        assert(0);
                }
        assert(n > 0);
        return 0;
}
