/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Opening a call's region paths as its sender, from the event loop without ever
 * blocking it: one opener process (src/shared/user-open.h) per path, one path
 * at a time, each bounded by BUS_OPEN_TIMEOUT_USEC; an opener that takes longer
 * (a hung or slow file system, NSS) is killed and reaped whenever it dies. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus-request.h"
#include "image.h"
#include "time-util.h"

#define BUS_OPEN_TIMEOUT_USEC (BUS_OPEN_TIMEOUT_SEC * USEC_PER_SEC)

typedef struct BusOpens BusOpens;

/* Called exactly once per started call, from the event loop (or from within
 * bus_opens_start() when there was no path to open): img (the callee takes it)
 * on success, else error says why. The callee replies. */
typedef void (*BusOpenDoneFn)(sd_bus_message *call, Image *img, const sd_bus_error *error, void *userdata);

BusOpens *bus_opens_new(sd_event *e);
/* Kills the openers and drops the calls still opening, unanswered. */
BusOpens *bus_opens_free(BusOpens *o);
/* Calls whose paths are being opened: the service is not idle. */
size_t bus_opens_n_pending(BusOpens *o);
/* Answers Cancelled to the calls with order_key (NULL: all) whose jobs are not
 * queued yet, and kills their openers (Cancel, SIGTERM). Returns how many. */
int bus_opens_cancel(BusOpens *o, const char *order_key);
/* Only the calls match() says yes to (NULL: all). */
typedef bool (*BusOpenMatchFn)(sd_bus_message *call, void *userdata);
int bus_opens_cancel_where(BusOpens *o, const char *order_key, BusOpenMatchFn match, void *userdata);

/* Builds call's image from regions (taken): passed fds as they are, paths opened
 * as the sender's uid (bus-creds.h) with its login groups. Calls with the same
 * order_key (the port) get their images in the order they were started; a
 * refusal comes as soon as it is known. userdata is taken too: free_userdata
 * runs after done, or when the call is dropped, or on failure here. */
int bus_opens_start(BusOpens *o, sd_bus_message *call, const char *order_key, BusRegionList *regions,
                    BusOpenDoneFn done, void *userdata, void (*free_userdata)(void *userdata),
                    sd_bus_error *error);
