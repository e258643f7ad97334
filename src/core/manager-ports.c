/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Ports, devices and trust as the core answers for them: a caller's port name
 * resolved to the scheduler's and the trust table's keys, each device's state
 * (trusted, who holds it), and TrustState/ForgetTrust. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "manager-devices.h"
#include "manager-internal.h"

void manager_port_done(ManagerPort *p) {
        free(p->node);
        free(p->device_id);
        *p = (ManagerPort) { .kind = _DEVICE_KIND_INVALID };
}

const char *manager_device_trust_key(const DeviceInfo *d) {
        /* The identity follows the board across ports and re-enumeration. */
        return d->identity;
}

int manager_resolve_port(Manager *m, const char *port, ManagerPortNeed need, ManagerPort *ret,
                         const DeviceInfo **ret_device) {
        _cleanup_(manager_port_done) ManagerPort p = { .kind = _DEVICE_KIND_INVALID };
        const DeviceInfo *listed = NULL;
        DeviceInfo d = {};
        const char *removed;
        struct stat st;
        int r;

        assert(m && ret);
        assert(need == MANAGER_PORT_UDEV_SERIAL || !ret_device);
        if (!port || port[0] != '/')
                return -ENODEV;

        /* Every remove and foreign open that happened before this call counts. */
        manager_devices_flush(m);
        r = device_lookup(port, &d);
        if (r >= 0) {
                p.node = strdup(d.node);
                p.device_id = p.node ? strdup(manager_device_trust_key(&d)) : NULL;
                p.kind = d.kind;
                device_info_done(&d);
        } else if (r != -ENODEV && r != -ENOENT && r != -ENOTDIR)
                return r;
        else if (stat(port, &st) >= 0 && S_ISCHR(st.st_mode)) {
                /* Not a USB serial device udev knows; a plain character device
                 * (a bare UART) is still a port. Canonical, so that one port is
                 * one key however the caller spells it. */
                p.node = realpath(port, NULL);
                if (!p.node)
                        return errno == ENOMEM ? -ENOMEM : -ENODEV;
                /* A device that was here keeps its identity's trust state. */
                p.device_id = strdup(device_monitor_removed_identity(m->devices, p.node) ?: p.node);
        } else if (need == MANAGER_PORT_MAY_BE_GONE && (removed = device_monitor_removed_identity(m->devices, port))) {
                /* Gone, but recently here: its trust state says why it was lost.
                 * Only the few nodes udev reported removed get here, so a caller
                 * cannot make up names that the service then keeps. */
                p.node = strdup(port);
                p.device_id = p.node ? strdup(removed) : NULL;
        } else
                return -ENODEV;
        if (!p.node || !p.device_id)
                return -ENOMEM;

        if (need == MANAGER_PORT_UDEV_SERIAL) {
                listed = device_monitor_find_node(m->devices, p.node);
                if (!listed)
                        return -EMEDIUMTYPE;
        }

        if (ret_device)
                *ret_device = listed;
        *ret = p;
        p = (ManagerPort) { .kind = _DEVICE_KIND_INVALID };
        return 0;
}

const DeviceInfo *manager_list_devices(Manager *m, size_t *ret_n) {
        manager_devices_flush(m);
        return device_monitor_devices(m->devices, ret_n);
}

PortOwner manager_port_owner(Manager *m, const char *node) {
        /* A job outranks the monitors it pauses. */
        if (job_scheduler_port_flashing(m->scheduler, node))
                return PORT_OWNER_FLASHING;
        if (port_monitor_set_monitors(m->monitors, node))
                return PORT_OWNER_MONITORING;
        return PORT_OWNER_IDLE;
}

ManagerDeviceState manager_device_state(Manager *m, const DeviceInfo *d) {
        ManagerDeviceState s = {
                .trusted = trust_table_get(m->trust, manager_device_trust_key(d)).trusted,
                .owner = manager_port_owner(m, d->node),
                .chip = job_scheduler_known_chip(m->scheduler, d->node),
        };

        /* Only an idle port can have a foreign holder: the service's own opens are not one. */
        if (s.owner == PORT_OWNER_IDLE && device_node_holder(d->node, &s.holder_pid, s.holder_name) > 0)
                s.owner = PORT_OWNER_FOREIGN;
        return s;
}

TrustEntry manager_trust_state(Manager *m, const ManagerPort *port) {
        assert(m && port && port->device_id);
        return trust_table_get(m->trust, port->device_id);
}

int manager_forget_trust(Manager *m, const ManagerPort *port) {
        assert(m && port && port->device_id);
        if (port->kind == _DEVICE_KIND_INVALID && !trust_table_contains(m->trust, port->device_id))
                return 0;
        return trust_table_invalidate(m->trust, port->device_id, TRUST_INVALIDATION_FORGOTTEN);
}
