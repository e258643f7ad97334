/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A device as the bus shows it (ListDevices entries, DeviceAdded properties),
 * the DeviceAdded/DeviceRemoved signals, and a caller's port resolved through
 * the core (the one place its errors become bus errors), and the refusal every
 * handler that would start work gives while the service shuts down. */
#pragma once

#include <systemd/sd-bus.h>

#include "device-enum.h"
#include "manager.h"

/* manager_resolve_port() with its errors as the caller sees them. The port
 * string has passed bus_validate_port() where the handler read it. */
int bus_resolve_port(Manager *m, const char *port, ManagerPortNeed need, ManagerPort *ret,
                     const DeviceInfo **ret_device, sd_bus_error *error);

/* Cancelled while the service is shutting down: nothing new starts then. */
int bus_refuse_when_terminating(Manager *m, sd_bus_error *error);

/* Appends the a{sv} of one device. */
int bus_device_append_properties(sd_bus_message *m, Manager *manager, const DeviceInfo *d);
