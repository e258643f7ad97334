/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Asynchronous polkit authorization of method calls, in the shape of systemd's
 * src/shared/bus-polkit.c: ask CheckAuthorization without blocking, keep the
 * call, and dispatch it a second time when polkit has answered. */
#pragma once

#include <stddef.h>

#include <systemd/sd-bus.h>

/* The actions of polkit/org.fbuild.deploy1.policy. */
#define POLKIT_ACTION_VERIFY "org.fbuild.deploy1.verify"
#define POLKIT_ACTION_DEPLOY "org.fbuild.deploy1.deploy"
/* Monitor (the devices issue) authorizes its call with this one. */
#define POLKIT_ACTION_MONITOR "org.fbuild.deploy1.monitor"
#define POLKIT_ACTION_MANAGE_TRUST "org.fbuild.deploy1.manage-trust"
/* Acting on what another user started: cancelling their jobs, a writing
 * monitor next to theirs. Administrators only by default (auth_admin_keep). */
#define POLKIT_ACTION_MANAGE_OTHERS "org.fbuild.deploy1.manage-others"

typedef struct BusContext BusContext;
typedef struct BusPolkit BusPolkit;

BusPolkit *bus_polkit_new(void);
/* Drops every pending query unanswered (the service is going away). */
BusPolkit *bus_polkit_free(BusPolkit *p);

/* Is the sender of call allowed action? Call it from the method handler, after
 * the arguments are read and checked and before anything is touched:
 *   1   allowed (root always is): go on;
 *   0   polkit was asked: return 1 from the handler (the call is handled, its
 *       reply comes later): the same call is dispatched again once polkit
 *       answers, and this then returns 1 or < 0;
 *   < 0 denied: error is set (PermissionDenied), return r from the handler.
 * polkit missing, failing or unreachable (no system bus) means denied. */
int bus_polkit_verify(BusContext *b, sd_bus_message *call, const char *action, sd_bus_error *error);

/* The action polkit was (or is being) asked about for call, or NULL: a handler
 * that picks its action from the state of things asks the same one again on
 * the second dispatch, whatever changed meanwhile. */
const char *bus_polkit_asked_action(BusContext *b, sd_bus_message *call);

/* Forgets the queries of calls that arrived on bus (the caller hung up): no
 * reply is attempted, the polkit call is abandoned. */
void bus_polkit_forget_bus(BusPolkit *p, sd_bus *bus);
/* Queries in flight or answered but not yet re-dispatched: the service is busy. */
size_t bus_polkit_n_queries(BusPolkit *p);
