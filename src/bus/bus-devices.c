/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Devices on the bus: one property dictionary for ListDevices and DeviceAdded,
 * and the DeviceAdded(s port, a{sv} properties) / DeviceRemoved(s port,
 * s identity) signals, fanned out to the system bus and every peer. */
#include <errno.h>
#include <string.h>

#include "bus-context.h"
#include "bus-devices.h"
#include "bus-error.h"
#include "bus-util.h"
#include "log.h"

int bus_resolve_port(Manager *m, const char *port, ManagerPortNeed need, ManagerPort *ret,
                     const DeviceInfo **ret_device, sd_bus_error *error) {
        int r;

        r = manager_resolve_port(m, port, need, ret, ret_device);
        if (r == -ENODEV && need == MANAGER_PORT_UDEV_SERIAL)
                return sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_DEVICE, "No such device: '%s'", port);
        if (r == -ENODEV)
                return sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_DEVICE,
                                         "No such device: '%s' is neither a serial device udev knows nor a character device",
                                         port);
        if (r == -EMEDIUMTYPE)
                return sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_DEVICE,
                                         "'%s' is not a USB serial device udev knows", port);
        if (r < 0)
                return bus_error_set_errnof(error, r, "Cannot resolve port '%s': %m", port);
        return 0;
}

int bus_refuse_when_terminating(Manager *m, sd_bus_error *error) {
        if (manager_is_terminating(m))
                return sd_bus_error_set(error, BUS_ERROR_CANCELLED, "The service is shutting down");
        return 0;
}

int bus_device_append_properties(sd_bus_message *m, Manager *manager, const DeviceInfo *d) {
        ManagerDeviceState state = manager_device_state(manager, d);
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "{sv}{sv}{sv}{sv}{sv}{sv}{sv}",
                                  "identity", "s", strempty(d->identity),
                                  "vid", "q", d->vid,
                                  "pid", "q", d->pid,
                                  "kind", "s", strempty(device_kind_to_string(d->kind)),
                                  "serial", "s", strempty(d->serial),
                                  "trusted", "b", state.trusted,
                                  "owner", "s", port_owner_to_string(state.owner));
        if (r < 0)
                return r;
        /* What the last job on the port detected; absent before any. */
        if (state.chip) {
                r = sd_bus_message_append(m, "{sv}", "chip", "s", state.chip);
                if (r < 0)
                        return r;
        }
        if (state.owner == PORT_OWNER_FOREIGN) {
                r = sd_bus_message_append(m, "{sv}{sv}", "holder_pid", "u", (uint32_t) state.holder_pid,
                                          "holder_name", "s", state.holder_name);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

typedef struct DeviceSignal {
        Manager *manager;
        const DeviceInfo *device;
        bool added;
} DeviceSignal;

static int send_device_signal(sd_bus *bus, void *userdata) {
        _cleanup_bus_message_unref_ sd_bus_message *s = NULL;
        const DeviceSignal *d = userdata;
        int r;

        r = sd_bus_message_new_signal(bus, &s, BUS_OBJECT_PATH, BUS_INTERFACE,
                                      d->added ? "DeviceAdded" : "DeviceRemoved");
        if (r < 0)
                goto fail;
        r = sd_bus_message_append(s, "s", d->device->node);
        if (r < 0)
                goto fail;
        if (d->added)
                r = bus_device_append_properties(s, d->manager, d->device);
        else
                r = sd_bus_message_append(s, "s", strempty(d->device->identity));
        if (r < 0)
                goto fail;
        r = sd_bus_send(bus, s, NULL);
        if (r < 0)
                goto fail;
        return 0;
fail:
        log_full_errno(bus_error_is_disconnect(r) ? LOG_DEBUG : LOG_WARNING, r,
                       "Failed to emit %s: %m", d->added ? "DeviceAdded" : "DeviceRemoved");
        return 0;
}

void bus_devices_emit_added(BusContext *b, const DeviceInfo *d) {
        DeviceSignal s = { .manager = b->manager, .device = d, .added = true };

        (void) bus_context_foreach(b, send_device_signal, &s);
}

void bus_devices_emit_removed(BusContext *b, const DeviceInfo *d) {
        DeviceSignal s = { .manager = b->manager, .device = d, .added = false };

        (void) bus_context_foreach(b, send_device_signal, &s);
}
