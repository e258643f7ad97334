/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The service and fbuildctl spell the error names from one header
 * (src/shared/bus-api.h), but the client's exit-code table is its own: every
 * error the service can return must be one it knows, so that a new name cannot
 * drift into "other failure" (exit 1). The service returns the names of its
 * errno map and sets a few by name; both come from the header, which is read
 * here as text (argv[1]) so that a name added to it is checked too. */

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "bus-api.h"
#include "bus-error.h"
#include "ctl-exit.h"
#include "string-util.h"

static bool in_service_map(const char *name) {
        for (const sd_bus_error_map *m = bus_deploy_error_map; m->name; m++)
                if (streq(m->name, name))
                        return true;
        return false;
}

/* Every `#define BUS_ERROR_FOO BUS_ERROR_PREFIX "Foo"` of the header. */
static size_t check_header(const char *path) {
        char line[512];
        size_t n = 0;
        FILE *f;

        f = fopen(path, "re");
        assert(f);
        while (fgets(line, sizeof(line), f)) {
                char name[256];
                const char *q, *end;

                if (!startswith(line, "#define BUS_ERROR_") || startswith(line, "#define BUS_ERROR_PREFIX ") ||
                    !(q = strstr(line, "BUS_ERROR_PREFIX \"")))
                        continue;
                q += strlen("BUS_ERROR_PREFIX \"");
                end = strchr(q, '"');
                assert(end);
                assert(snprintf(name, sizeof(name), "%s%.*s", BUS_ERROR_PREFIX, (int) (end - q), q) <
                       (int) sizeof(name));
                if (ctl_exit_from_error_name(name) == CTL_EXIT_FAILURE) {
                        fprintf(stderr, "fbuildctl does not know %s\n", name);
                        assert(0);
                }
                /* sd-bus clients get an errno for it too */
                if (!in_service_map(name)) {
                        fprintf(stderr, "the service's errno map lacks %s\n", name);
                        assert(0);
                }
                n++;
        }
        fclose(f);
        return n;
}

int main(int argc, char *argv[]) {
        size_t n = 0;

        for (const sd_bus_error_map *m = bus_deploy_error_map; m->name; m++, n++)
                if (ctl_exit_from_error_name(m->name) == CTL_EXIT_FAILURE) {
                        fprintf(stderr, "fbuildctl does not know %s\n", m->name);
                        assert(0);
                }
        assert(n > 0);

        assert(argc == 2);
        /* DeviceBusy … PathNotVisible: 14 today; fewer means the parse broke */
        assert(check_header(argv[1]) >= 14);
        return 0;
}
