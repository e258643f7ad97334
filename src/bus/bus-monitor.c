/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Serial monitors on the bus: Monitor reads and checks its arguments and hands
 * the core a monitor client (src/core, over src/device/port-monitor.c); MonitorPaused and
 * MonitorResumed tell clients out of band what their stream says in band. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "bus-context.h"
#include "bus-creds.h"
#include "bus-devices.h"
#include "bus-error.h"
#include "bus-monitor.h"
#include "bus-polkit.h"
#include "bus-util.h"
#include "bus-validate.h"
#include "log.h"

/* a{sv}: "write" b. */
static int read_monitor_options(sd_bus_message *m, bool *ret_input, sd_bus_error *error) {
        bool input = false;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key;
                int b;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                r = bus_validate_option_key(key, error);
                if (r < 0)
                        return r;
                if (!streq(key, "write"))
                        return sd_bus_error_setf(error, BUS_ERROR_INVALID_OPTIONS, "Unknown monitor option '%s'", key);
                r = sd_bus_message_read(m, "v", "b", &b);
                if (r < 0)
                        return sd_bus_error_setf(error, BUS_ERROR_INVALID_OPTIONS,
                                                 "Monitor option 'write' must be a boolean");
                input = b;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        *ret_input = input;
        return 0;
}

/* Opening a port is not opening a region source: the errnos that the table
 * names for sources (ENOENT, EINVAL, …) mean something else here. */
static int monitor_error(sd_bus_error *error, int r, const char *node) {
        switch (-r) {
        case EBUSY:
                return sd_bus_error_setf(error, BUS_ERROR_DEVICE_BUSY, "%s is monitored at another baud rate", node);
        case ENOENT:
        case ENODEV:
        case ENXIO:
                return sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_DEVICE, "Cannot monitor %s: %s", node,
                                         strerror(-r));
        case EINVAL:
                return sd_bus_error_setf(error, BUS_ERROR_INVALID_OPTIONS,
                                         "Cannot monitor %s: the port refuses the baud rate", node);
        case EACCES:
        case EPERM:
        case ENOMEM:
        case EMFILE:
        case ENFILE:
                return bus_error_set_errnof(error, r, "Cannot monitor %s: %m", node);
        default:
                /* The device answered the open with an error of its own. */
                return sd_bus_error_setf(error, BUS_ERROR_DEVICE_BUSY, "Cannot monitor %s: %s", node,
                                         strerror(-r));
        }
}

int bus_method_monitor(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(manager_port_done) ManagerPort port = {};
        BusContext *b = userdata;
        Manager *m = b->manager;
        const DeviceInfo *d;
        const char *port_arg;
        _cleanup_(sd_bus_error_free) sd_bus_error denied = SD_BUS_ERROR_NULL;
        const char *action;
        uint32_t baud;
        uid_t uid;
        bool input = false, others;
        int r, fd = -1;

        r = sd_bus_message_read(message, "su", &port_arg, &baud);
        if (r < 0)
                return r;
        r = bus_validate_port(port_arg, error);
        if (r < 0)
                return r;
        r = bus_validate_baud(baud, false, "Monitor baud rate", error);
        if (r < 0)
                return r;
        r = read_monitor_options(message, &input, error);
        if (r < 0)
                return r;
        r = bus_refuse_when_terminating(m, error);
        if (r < 0)
                return r;

        r = bus_resolve_port(m, port_arg, MANAGER_PORT_UDEV_SERIAL, &port, &d, error);
        if (r < 0)
                return r;
        r = bus_sender_uid(message, &uid);
        if (r < 0)
                return bus_error_set_errnof(error, EACCES, "Cannot determine the caller's user: %s", strerror(-r));

        /* Typing into a console that another user is watching (and may be
         * typing into) is acting on their session: that takes manage-others,
         * as cancelling their jobs does. Reading alongside them does not. */
        others = input && manager_monitored_by_other(m, d->identity, uid);
        action = bus_polkit_asked_action(b, message) ?:
                (others ? POLKIT_ACTION_MANAGE_OTHERS : POLKIT_ACTION_MONITOR);
        r = bus_polkit_verify(b, message, action, &denied);
        if (r < 0) {
                if (streq(action, POLKIT_ACTION_MANAGE_OTHERS))
                        return sd_bus_error_setf(error, BUS_ERROR_PERMISSION_DENIED,
                                                 "Another user monitors %s; a writing monitor next to theirs "
                                                 "needs %s (%s)", port.node, POLKIT_ACTION_MANAGE_OTHERS,
                                                 strempty(denied.message));
                (void) sd_bus_error_copy(error, &denied);
                return r;
        }
        if (r == 0)
                return 1;       /* polkit decides; this call comes back then */
        /* Someone else started monitoring while polkit decided. */
        if (input && uid != 0 && !streq(action, POLKIT_ACTION_MANAGE_OTHERS) &&
            manager_monitored_by_other(m, d->identity, uid))
                return sd_bus_error_setf(error, BUS_ERROR_PERMISSION_DENIED,
                                         "Another user monitors %s; a writing monitor next to theirs needs %s",
                                         port.node, POLKIT_ACTION_MANAGE_OTHERS);

        if (uid != 0 && manager_n_monitors_of(m, uid) >= manager_get_config(m)->monitors_per_user)
                return sd_bus_error_setf(error, BUS_ERROR_LIMITS_EXCEEDED,
                                         "uid %u already holds %zu monitors (at most %u, MonitorsPerUser=)",
                                         (unsigned) uid, manager_n_monitors_of(m, uid),
                                         manager_get_config(m)->monitors_per_user);
        /* Both ends of the socket pair, and the port if nobody monitors it yet. */
        r = bus_fd_budget_check(&b->fd_budget, 3, true, error);
        if (r < 0)
                return r;

        r = manager_monitor_attach(m, d, baud, input, uid, &fd);
        if (r < 0)
                return monitor_error(error, r, port.node);

        r = sd_bus_reply_method_return(message, "h", fd);
        /* The reply holds its own duplicate. */
        close(fd);
        return r;
}

int bus_method_reset(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(manager_port_done) ManagerPort port = {};
        BusContext *b = userdata;
        Manager *m = b->manager;
        const DeviceInfo *d;
        const char *port_arg;
        int bootloader, r;

        r = sd_bus_message_read(message, "sb", &port_arg, &bootloader);
        if (r < 0)
                return r;
        r = bus_validate_port(port_arg, error);
        if (r < 0)
                return r;
        r = bus_refuse_when_terminating(m, error);
        if (r < 0)
                return r;
        r = bus_resolve_port(m, port_arg, MANAGER_PORT_UDEV_SERIAL, &port, &d, error);
        if (r < 0)
                return r;
        r = bus_polkit_verify(b, message, POLKIT_ACTION_DEPLOY, error);
        if (r <= 0)
                return r < 0 ? r : 1;   /* 0: polkit decides; this call comes back then */

        r = manager_reset(m, d, bootloader);
        if (r == -EBUSY)
                return sd_bus_error_setf(error, BUS_ERROR_DEVICE_BUSY,
                                         "%s: a job has the port; the job resets the chip when it ends", port.node);
        if (r < 0)
                return bus_error_set_errnof(error, r, "Cannot reset %s: %m", port.node);
        log_info("%s: reset into the %s for a client.", ESC(port.node), bootloader ? "bootloader" : "application");
        return sd_bus_reply_method_return(message, NULL);
}

typedef struct MonitorSignal {
        const char *port;
        bool paused;
} MonitorSignal;

static int send_monitor_signal(sd_bus *bus, void *userdata) {
        const MonitorSignal *s = userdata;
        int r;

        r = sd_bus_emit_signal(bus, BUS_OBJECT_PATH, BUS_INTERFACE, s->paused ? "MonitorPaused" : "MonitorResumed",
                               "s", s->port);
        if (r < 0)
                log_full_errno(bus_error_is_disconnect(r) ? LOG_DEBUG : LOG_WARNING, r, "Failed to emit %s: %m",
                               s->paused ? "MonitorPaused" : "MonitorResumed");
        return 0;
}

void bus_monitor_emit_paused(BusContext *b, const char *port, bool paused) {
        MonitorSignal s = { .port = port, .paused = paused };

        (void) bus_context_foreach(b, send_monitor_signal, &s);
}
