/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Picking a port: with exactly one fitting device attached, --port is
 * optional; none or several is the caller's to explain. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-port.h"
#include "source-parse.h"
#include "string-util.h"

void ctl_device_array_free(CtlDevice *d, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(d[i].port);
                json_value_free(d[i].properties);
        }
        free(d);
}

bool port_device_fits(const JsonValue *properties, const char *chip) {
        const char *dev_chip = json_string(json_object_get(properties, "chip"));
        const char *a, *b;

        if (!chip || !dev_chip || !*dev_chip)
                return true;
        /* Compare canonical names; an unknown spelling on either side cannot rule a device out. */
        if (source_chip_canonical(chip, &a) < 0 || source_chip_canonical(dev_chip, &b) < 0)
                return true;
        return streq(a, b);
}

int port_pick(const CtlDevice *devices, size_t n, const char *chip, size_t *ret_index) {
        size_t found = 0, index = 0;

        for (size_t i = 0; i < n; i++)
                if (port_device_fits(devices[i].properties, chip)) {
                        if (found++ == 0)
                                index = i;
                }
        if (found == 0)
                return -ENODEV;
        if (found > 1)
                return -ENOTUNIQ;
        *ret_index = index;
        return 0;
}
