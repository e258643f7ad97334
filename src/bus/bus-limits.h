/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What one unprivileged user may hold at a time: peer-to-peer connections,
 * jobs (running or queued) and monitors (MonitorsPerUser=); root is never
 * limited. And what everyone together may hold: a budget of file descriptors
 * below RLIMIT_NOFILE. Over a limit, a connection is closed unanswered and a
 * call fails with LimitsExceeded. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <systemd/sd-bus.h>

/* Enough for an IDE, a monitor per board and a few scripts; not enough for one
 * user to exhaust the service's fds or queue unbounded work. */
#define BUS_LIMIT_PEERS_PER_UID 16u
#define BUS_LIMIT_JOBS_PER_UID 8u

/* fds the service keeps for itself beyond every admission: bus traffic (fds
 * arriving in messages, the duplicate a reply carries) and counting its fds. */
#define BUS_FDS_MARGIN 16u
/* What a running job opens besides its region files: the port, the worker's
 * pipe and event fds, a little slack. */
#define BUS_FDS_PER_JOB 8u

/* Admission thresholds, from RLIMIT_NOFILE as the service found it at start. */
typedef struct BusFdBudget {
        unsigned limit;         /* RLIMIT_NOFILE (soft) */
        unsigned long_lived;    /* monitors and connections: only while fewer fds than this are open */
        unsigned jobs;          /* a job: only if it keeps the open fds at or below this */
} BusFdBudget;

/* Monitors and connections stop a quarter (32…1024 fds) short of where jobs
 * stop, so that a port somebody monitors can still be deployed to. */
void bus_fd_budget_init(BusFdBudget *b, unsigned limit);
/* Room for need more fds: 0, or LimitsExceeded with a message. */
int bus_fd_budget_check(const BusFdBudget *b, unsigned need, bool long_lived, sd_bus_error *error);

/* The effective uid of call's sender, as the bus (or the socket) reports it. */
int bus_limits_sender_uid(sd_bus_message *call, uid_t *ret);

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
/* Who started the job of call (-ENOENT: no such job). */
int bus_job_owner(const BusJobOwners *o, const sd_bus_message *call, uid_t *ret);
/* The job of call has ended. */
void bus_job_owners_release(BusJobOwners *o, const sd_bus_message *call);
