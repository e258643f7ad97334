/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Choosing the device to work on when --port is not given: pure, over the
 * device list as ListDevices returned it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "json.h"

typedef struct CtlDevice {
        char *port;
        JsonValue *properties;          /* the a{sv} as a JSON object */
} CtlDevice;

void ctl_device_array_free(CtlDevice *d, size_t n);

/* Whether a device may take an image for chip: yes unless the service
 * reports a different chip for it. chip NULL fits every device. */
bool port_device_fits(const JsonValue *properties, const char *chip);

/* The one device that fits chip: 0 with *ret_index, -ENODEV if none fits,
 * -ENOTUNIQ if several do. */
int port_pick(const CtlDevice *devices, size_t n, const char *chip, size_t *ret_index);
