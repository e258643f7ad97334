/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fbuildctl keeps its own copy of the service's error names (src/ctl has no
 * sd-bus): every name in the service's table must be one it knows, so that a
 * new name cannot drift into "other failure" (exit 1). */

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
