/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Devices on the bus: one property dictionary for ListDevices and DeviceAdded,
 * and the DeviceAdded(s port, a{sv} properties) / DeviceRemoved(s port,
 * s identity) signals, fanned out to the system bus and every peer. */
#include <string.h>

#include "bus-context.h"
#include "bus-devices.h"
#include "bus-util.h"
#include "device-holders.h"
#include "log.h"
#include "manager.h"

int bus_device_append_properties(sd_bus_message *m, Manager *manager, const DeviceInfo *d) {
        TrustEntry t = trust_table_get(manager->trust, manager_device_trust_key(d));
        const char *owner = job_scheduler_port_owner(manager->scheduler, d->node);
        const char *chip = job_scheduler_known_chip(manager->scheduler, d->node);
        char holder_comm[DEVICE_HOLDER_COMM_MAX] = "";
        int holder_pid = 0, r;

        /* A job outranks the monitors it pauses; both outrank a foreign holder,
         * which only an idle port can have (the service's own opens are not one). */
        if (strcmp(owner, "idle") == 0 && port_monitor_set_monitors(manager->monitors, d->node))
                owner = "monitoring";
        if (strcmp(owner, "idle") == 0 && device_node_holder(d->node, &holder_pid, holder_comm) > 0)
                owner = "foreign";

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "{sv}{sv}{sv}{sv}{sv}{sv}{sv}",
                                  "identity", "s", strempty(d->identity),
                                  "vid", "q", d->vid,
                                  "pid", "q", d->pid,
                                  "kind", "s", strempty(device_kind_to_string(d->kind)),
                                  "serial", "s", strempty(d->serial),
                                  "trusted", "b", t.trusted,
                                  "owner", "s", owner);
        if (r < 0)
                return r;
        /* What the last job on the port detected; absent before any. */
        if (chip) {
                r = sd_bus_message_append(m, "{sv}", "chip", "s", chip);
                if (r < 0)
                        return r;
        }
        if (holder_pid > 0) {
                r = sd_bus_message_append(m, "{sv}{sv}", "holder_pid", "u", (uint32_t) holder_pid,
                                          "holder_name", "s", holder_comm);
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

void bus_deploy_emit_device_added(Manager *m, const DeviceInfo *d) {
        DeviceSignal s = { .manager = m, .device = d, .added = true };

        if (!m->bus)
                return;
        (void) bus_context_foreach(m->bus, send_device_signal, &s);
}

void bus_deploy_emit_device_removed(Manager *m, const DeviceInfo *d) {
        DeviceSignal s = { .manager = m, .device = d, .added = false };

        if (!m->bus)
                return;
        (void) bus_context_foreach(m->bus, send_device_signal, &s);
}
