/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A device as the bus shows it (ListDevices entries, DeviceAdded properties)
 * and the DeviceAdded/DeviceRemoved signals. */
#pragma once

#include <systemd/sd-bus.h>

#include "device-enum.h"
#include "manager.h"

/* Appends the a{sv} of one device. */
int bus_device_append_properties(sd_bus_message *m, Manager *manager, const DeviceInfo *d);
