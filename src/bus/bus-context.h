/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Inside the bus layer: the connection set shared by bus.c (system bus),
 * bus-server.c (peer-to-peer) and the objects that fan signals out. */
#pragma once

#include <stdbool.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <systemd/sd-id128.h>

#include "bus.h"
#include "bus-job.h"
#include "bus-limits.h"
#include "bus-open.h"
#include "bus-polkit.h"

typedef enum BusNameState {
        BUS_NAME_NONE,          /* no system bus, or the request failed */
        BUS_NAME_REQUESTING,
        BUS_NAME_OWNED,
        BUS_NAME_RELEASING,
        BUS_NAME_RELEASED,
} BusNameState;

typedef struct BusListener BusListener;
typedef struct BusPeer BusPeer;

struct BusContext {
        Manager *manager;
        sd_event *event;

        sd_bus *system_bus;
        BusNameState name_state;

        BusListener *listeners;
        BusPeer *peers;         /* doubly linked */
        size_t n_listeners, n_peers;
        uint64_t n_accepted;
        sd_id128_t server_id;

        BusPolkit *polkit;      /* pending authorization checks (bus-polkit.c) */
        BusJobOwners job_owners; /* per-user job limit (bus-limits.c) */
        BusFdBudget fd_budget;  /* everyone's limit (bus-limits.c) */
        sd_event_source *accept_retry; /* re-arms the listeners after EMFILE on accept */
        BusOpens *opens;        /* region paths being opened as their callers (bus-open.c) */
        BusJob *jobs;           /* queued and running jobs, oldest first (bus-job.c) */
        uint32_t last_job_id;
};

/* bus-server.c */
int bus_server_add_listener(BusContext *b, int fd);
void bus_server_stop_listening(BusContext *b);
void bus_server_free_all(BusContext *b);

/* Calls fn for the system bus and every peer connection that is still open;
 * stops at the first error and returns it. */
typedef int (*BusForeachFn)(sd_bus *bus, void *userdata);
int bus_context_foreach(BusContext *b, BusForeachFn fn, void *userdata);
int bus_server_foreach_peer(BusContext *b, BusForeachFn fn, void *userdata);
int bus_server_drain(BusContext *b);
void bus_server_flush(BusContext *b);

/* bus-deploy.c: attaches the org.fbuild.Deploy1 object to a connection. */
int bus_deploy_add_object(sd_bus *bus, BusContext *b);
/* bus.c: every object the service exports (the manager, the jobs), on one
 * connection: the system bus or a peer. */
int bus_add_objects(sd_bus *bus, BusContext *b);

/* The core's hooks (bus_manager_hooks in bus.c), one object type each. */
void bus_deploy_job_finished(BusContext *b, Job *j);
void bus_deploy_emit_trust_changed(BusContext *b, const char *port, const TrustEntry *e);
void bus_devices_emit_added(BusContext *b, const DeviceInfo *d);
void bus_devices_emit_removed(BusContext *b, const DeviceInfo *d);
void bus_monitor_emit_paused(BusContext *b, const char *port, bool paused);
