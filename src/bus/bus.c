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

static bool name_held(BusNameState s) {
        return s == BUS_NAME_REQUESTING || s == BUS_NAME_OWNED;
}

int bus_context_new(Manager *m, BusContext **ret) {
        sd_event *e = manager_get_event(m);
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
        b->opens = bus_opens_new(e);
        if (!b->polkit || !b->opens) {
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
        b->opens = bus_opens_free(b->opens);
        /* Jobs the core still holds end without a reply: the service is going. */
        while (b->jobs)
                bus_job_free(b->jobs);
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

int bus_add_objects(sd_bus *bus, BusContext *b) {
        int r;

        r = bus_deploy_add_object(bus, b);
        if (r < 0)
                return r;
        return bus_job_add_objects(bus, b);
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
        r = bus_add_objects(bus, b);
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

size_t bus_context_n_opens(BusContext *b) {
        return bus_opens_n_pending(b->opens);
}

int bus_context_cancel_opens(BusContext *b) {
        return b ? bus_opens_cancel(b->opens, NULL) : 0;
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

/* ---- the core's hooks ------------------------------------------------------------- */

static void hook_job_progress(Job *j, JobPhase phase, uint64_t done, uint64_t total, void *userdata) {
        BusJob *bj = job_get_userdata(j);

        if (bj)
                bus_job_progress(bj, phase, done, total);
}

static void hook_job_finished(Job *j, void *userdata) {
        bus_deploy_job_finished(userdata, j);
}

static void hook_trust_changed(const char *port, const TrustEntry *e, void *userdata) {
        bus_deploy_emit_trust_changed(userdata, port, e);
}

static void hook_device_added(const DeviceInfo *d, void *userdata) {
        bus_devices_emit_added(userdata, d);
}

static void hook_device_removed(const DeviceInfo *d, void *userdata) {
        bus_devices_emit_removed(userdata, d);
}

static void hook_monitor_paused(const char *port, bool paused, void *userdata) {
        bus_monitor_emit_paused(userdata, port, paused);
}

static size_t hook_n_pending(void *userdata) {
        BusContext *b = userdata;

        /* Every call still waiting for its answer that is not a job: a polkit
         * check or an open; and every peer connection. */
        return bus_context_n_peers(b) + bus_context_n_polkit_queries(b) + bus_context_n_opens(b);
}

static void hook_terminate(void *userdata) {
        BusContext *b = userdata;
        int r;

        /* Under Accept=no new connections wait in the socket for the next instance;
         * on the bus, calls to the name go to the next activation. Calls still
         * opening their files would have become jobs: they end Cancelled like
         * the jobs (when idle there are none). */
        bus_context_stop_listening(b);
        (void) bus_context_cancel_opens(b);
        r = bus_context_release_name(b);
        if (r < 0)
                log_warning_errno(r, "Failed to release the bus name: %m");
}

static bool hook_stopped(void *userdata) {
        return bus_context_name_released(userdata);
}

static int hook_drain(void *userdata) {
        return bus_context_drain(userdata);
}

static void hook_flush(void *userdata) {
        bus_context_flush(userdata);
}

const ManagerHooks bus_manager_hooks = {
        .job_progress = hook_job_progress,
        .job_finished = hook_job_finished,
        .trust_changed = hook_trust_changed,
        .device_added = hook_device_added,
        .device_removed = hook_device_removed,
        .monitor_paused = hook_monitor_paused,
        .n_pending = hook_n_pending,
        .terminate = hook_terminate,
        .stopped = hook_stopped,
        .drain = hook_drain,
        .flush = hook_flush,
};
