/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The connection set: the system bus, where we own org.fbuild.Deploy1 when a
 * bus is reachable, and the peer-to-peer connections of bus-server.c. Signals
 * fan out over all of them. */
#include <errno.h>
#include <stdlib.h>

#include "bus-context.h"
#include "bus-error.h"
#include "bus-util.h"
#include "fd-util.h"
#include "log.h"
#include "manager.h"

static bool name_held(BusNameState s) {
        return s == BUS_NAME_REQUESTING || s == BUS_NAME_OWNED;
}

int bus_context_new(Manager *m, sd_event *e, BusContext **ret) {
        BusContext *b;
        unsigned limit;
        int r;

        r = bus_error_register();
        if (r < 0)
                return r;

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->manager = m;
        b->event = sd_event_ref(e);
        b->name_state = BUS_NAME_NONE;
        b->polkit = bus_polkit_new();
        if (!b->polkit) {
                bus_context_free(b);
                return -ENOMEM;
        }
        r = sd_id128_randomize(&b->server_id);
        if (r < 0) {
                bus_context_free(b);
                return r;
        }
        /* The unit's LimitNOFILE= as this process sees it sizes the budget. */
        r = fd_limit(&limit);
        if (r < 0) {
                bus_context_free(b);
                return r;
        }
        bus_fd_budget_init(&b->fd_budget, limit);
        log_info("RLIMIT_NOFILE is %u: monitors and connections are admitted below %u open fds, jobs up to %u.",
                 b->fd_budget.limit, b->fd_budget.long_lived, b->fd_budget.jobs);
        *ret = b;
        return 0;
}

BusContext *bus_context_free(BusContext *b) {
        if (!b)
                return NULL;
        /* Pending checks hold calls, and slots on the connections below. */
        b->polkit = bus_polkit_free(b->polkit);
        bus_job_owners_done(&b->job_owners);
        bus_server_free_all(b);
        if (b->system_bus) {
                (void) sd_bus_detach_event(b->system_bus);
                b->system_bus = sd_bus_flush_close_unref(b->system_bus);
        }
        sd_event_unref(b->event);
        free(b);
        return NULL;
}

static int on_name_requested(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        BusContext *b = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        if (b->name_state != BUS_NAME_REQUESTING)
                return 0;       /* already releasing: ReleaseName decides */

        if (e) {
                int r = sd_bus_error_get_errno(e);

                b->name_state = BUS_NAME_NONE;
                if (b->n_listeners > 0 || b->n_peers > 0) {
                        log_warning_errno(r, "Failed to acquire %s on the system bus, serving peer-to-peer only: %s",
                                          BUS_SERVICE_NAME, e->message ?: e->name);
                        return 0;
                }
                log_error_errno(r, "Failed to acquire %s on the system bus: %s", BUS_SERVICE_NAME,
                                e->message ?: e->name);
                manager_terminate(b->manager, EXIT_FAILURE);
                return 0;
        }

        b->name_state = BUS_NAME_OWNED;
        log_info("Acquired %s on the system bus.", BUS_SERVICE_NAME);
        return 0;
}

static int on_name_released(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        BusContext *b = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        /* Either way, nothing more will be routed to us by name. */
        if (e)
                log_warning("Failed to release %s: %s", BUS_SERVICE_NAME, e->message ?: e->name);
        else
                log_debug("Released %s.", BUS_SERVICE_NAME);
        b->name_state = BUS_NAME_RELEASED;
        return 0;
}

static int system_bus_filter(sd_bus_message *message, void *userdata, sd_bus_error *ret_error) {
        BusContext *b = userdata;

        if (!sd_bus_message_is_signal(message, "org.freedesktop.DBus.Local", "Disconnected"))
                return 0;

        b->name_state = BUS_NAME_NONE;
        bus_polkit_forget_bus(b->polkit, b->system_bus);
        (void) sd_bus_detach_event(b->system_bus);
        b->system_bus = sd_bus_close_unref(b->system_bus);
        if (b->n_listeners > 0) {
                log_warning("Lost the system bus connection, serving peer-to-peer only.");
                return 0;
        }
        log_error("Lost the system bus connection.");
        manager_terminate(b->manager, EXIT_FAILURE);
        return 0;
}

int bus_context_connect_system(BusContext *b) {
        _cleanup_bus_flush_close_unref_ sd_bus *bus = NULL;
        int r;

        r = sd_bus_open_system_with_description(&bus, "system-bus");
        if (r < 0)
                return r;

        r = sd_bus_add_filter(bus, NULL, system_bus_filter, b);
        if (r < 0)
                return r;
        r = bus_deploy_add_object(bus, b->manager);
        if (r < 0)
                return r;
        r = sd_bus_request_name_async(bus, NULL, BUS_SERVICE_NAME, 0, on_name_requested, b);
        if (r < 0)
                return r;
        r = sd_bus_attach_event(bus, b->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;

        b->system_bus = TAKE_PTR(bus);
        b->name_state = BUS_NAME_REQUESTING;
        return 0;
}

int bus_context_add_listener(BusContext *b, int fd) {
        return bus_server_add_listener(b, fd);
}

void bus_context_stop_listening(BusContext *b) {
        bus_server_stop_listening(b);
}

size_t bus_context_n_listeners(BusContext *b) {
        return b->n_listeners;
}

size_t bus_context_n_peers(BusContext *b) {
        return b->n_peers;
}

size_t bus_context_n_polkit_queries(BusContext *b) {
        return bus_polkit_n_queries(b->polkit);
}

int bus_context_release_name(BusContext *b) {
        int r;

        if (!b->system_bus || !name_held(b->name_state))
                return 0;

        r = sd_bus_release_name_async(b->system_bus, NULL, BUS_SERVICE_NAME, on_name_released, b);
        if (r < 0) {
                b->name_state = BUS_NAME_NONE;
                return r;
        }
        b->name_state = BUS_NAME_RELEASING;
        return 1;
}

bool bus_context_name_released(BusContext *b) {
        return !name_held(b->name_state) && b->name_state != BUS_NAME_RELEASING;
}

int bus_context_drain(BusContext *b) {
        int n = 0, r;

        if (b->system_bus) {
                _cleanup_bus_unref_ sd_bus *bus = sd_bus_ref(b->system_bus);

                while ((r = sd_bus_process(bus, NULL)) > 0)
                        n++;
        }
        return n + bus_server_drain(b);
}

void bus_context_flush(BusContext *b) {
        if (b->system_bus)
                (void) sd_bus_flush(b->system_bus);
        bus_server_flush(b);
}

int bus_context_foreach(BusContext *b, BusForeachFn fn, void *userdata) {
        int r;

        if (b->system_bus && sd_bus_is_open(b->system_bus) > 0) {
                r = fn(b->system_bus, userdata);
                if (r < 0)
                        return r;
        }
        return bus_server_foreach_peer(b, fn, userdata);
}
