/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The bus layer as the daemon sees it: the set of connections (the system bus
 * and peer-to-peer clients) and the hooks the scheduler's callbacks call.
 * No sd-bus types here: only src/bus includes sd-bus.h. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "device-enum.h"
#include "job.h"
#include "macro.h"
#include "trust-table.h"

typedef struct Manager Manager;
typedef struct BusContext BusContext;

int bus_context_new(Manager *m, sd_event *e, BusContext **ret);
/* Closes every connection (after flushing what is queued). */
BusContext *bus_context_free(BusContext *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(BusContext *, bus_context_free);

/* Connects to the system bus (DBUS_SYSTEM_BUS_ADDRESS honoured) and asks for
 * org.fbuild.Deploy1 asynchronously. -errno if no system bus is reachable. */
int bus_context_connect_system(BusContext *b);
/* Serves D-Bus peer-to-peer on a listening stream socket (takes the fd). */
int bus_context_add_listener(BusContext *b, int fd);
/* Stops accepting: under Accept=no, new connections wait for the next instance. */
void bus_context_stop_listening(BusContext *b);
size_t bus_context_n_listeners(BusContext *b);
size_t bus_context_n_peers(BusContext *b);
/* Calls waiting for polkit's answer: the service is not idle. */
size_t bus_context_n_polkit_queries(BusContext *b);
/* Calls whose region paths are being opened: not idle either. */
size_t bus_context_n_opens(BusContext *b);

/* Gives up org.fbuild.Deploy1 (async). Calls routed to us before the release
 * still arrive; once the daemon's answer is in, the name is released. */
int bus_context_release_name(BusContext *b);
/* True once no name is owned, requested or being released. */
bool bus_context_name_released(BusContext *b);
/* Processes every message already received on every connection; returns how
 * many were processed (> 0: new work may have started). */
int bus_context_drain(BusContext *b);
void bus_context_flush(BusContext *b);

/* Hooks for the scheduler's callbacks (main thread). */
void bus_deploy_job_finished(Manager *m, Job *j);
void bus_deploy_emit_progress(Manager *m, Job *j, JobPhase phase, uint64_t done, uint64_t total);
void bus_deploy_emit_trust_changed(Manager *m, const char *device_id, const TrustEntry *e);
/* DeviceAdded / DeviceRemoved (src/bus/bus-devices.c). */
void bus_deploy_emit_device_added(Manager *m, const DeviceInfo *d);
void bus_deploy_emit_device_removed(Manager *m, const DeviceInfo *d);
/* MonitorPaused / MonitorResumed (src/bus/bus-monitor.c). */
void bus_deploy_emit_monitor_paused(Manager *m, const char *port, bool paused);
