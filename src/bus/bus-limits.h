/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What one unprivileged user may hold at a time: peer-to-peer connections and
 * jobs (running or queued). root is never limited. Over a limit, a connection is
 * closed unanswered and a call fails with LimitsExceeded. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <systemd/sd-bus.h>

/* Enough for an IDE, a monitor per board and a few scripts; not enough for one
 * user to exhaust the service's fds or queue unbounded work. */
#define BUS_LIMIT_PEERS_PER_UID 16u
#define BUS_LIMIT_JOBS_PER_UID 8u

typedef struct BusJobOwner {
        const sd_bus_message *call;     /* the job's call: a key, not a reference */
        uid_t uid;
} BusJobOwner;

typedef struct BusJobOwners {
        BusJobOwner *items;
        size_t n;
} BusJobOwners;

void bus_job_owners_done(BusJobOwners *o);

/* The uid at the other end of a connected unix socket. */
int bus_limits_socket_uid(int fd, uid_t *ret);

/* A job slot taken for call's sender; given back by the cleanup unless kept. */
typedef struct BusJobCharge {
        BusJobOwners *owners;
        const sd_bus_message *call;
} BusJobCharge;

/* Takes a slot for call's sender, or fails with LimitsExceeded. */
int bus_job_charge(BusJobOwners *o, sd_bus_message *call, BusJobCharge *ret, sd_bus_error *error);
/* The job was queued: its slot stays taken until bus_job_owners_release(). */
void bus_job_charge_keep(BusJobCharge *c);
void bus_job_charge_done(BusJobCharge *c);
/* The job of call has ended. */
void bus_job_owners_release(BusJobOwners *o, const sd_bus_message *call);
