/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The bus layer as the daemon sees it: the set of connections (the system bus
 * and peer-to-peer clients) in front of the core, and the hooks through which
 * the core reaches them (bus_manager_hooks, userdata: the BusContext). No
 * sd-bus types here: only src/bus includes sd-bus.h. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "macro.h"
#include "manager.h"

typedef struct BusContext BusContext;

/* Serves m (on its event loop); main.c hands the core bus_manager_hooks with it. */
int bus_context_new(Manager *m, BusContext **ret);
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
/* Answers them Cancelled (shutting down); returns how many. */
int bus_context_cancel_opens(BusContext *b);

/* Gives up org.fbuild.Deploy1 (async). Calls routed to us before the release
 * still arrive; once the daemon's answer is in, the name is released. */
int bus_context_release_name(BusContext *b);
/* True once no name is owned, requested or being released. */
bool bus_context_name_released(BusContext *b);
/* Processes every message already received on every connection; returns how
 * many were processed (> 0: new work may have started). */
int bus_context_drain(BusContext *b);
void bus_context_flush(BusContext *b);

/* What the core calls: signals, job replies, and the front end's part of the
 * idle policy (pending calls, releasing the name, draining). */
extern const ManagerHooks bus_manager_hooks;
