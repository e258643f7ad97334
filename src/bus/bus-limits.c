/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Per-user limits (bus-limits.h): the socket peer's uid, and the table of who
 * owns which job, keyed by the job's call. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bus-creds.h"
#include "bus-error.h"
#include "bus-limits.h"
#include "bus-util.h"

void bus_job_owners_done(BusJobOwners *o) {
        free(o->items);
        *o = (BusJobOwners) {};
}

int bus_limits_socket_uid(int fd, uid_t *ret) {
        struct ucred ucred;
        socklen_t len = sizeof(ucred);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &ucred, &len) < 0)
                return -errno;
        if (len != sizeof(ucred) || ucred.uid == (uid_t) -1)
                return -EIO;
        *ret = ucred.uid;
        return 0;
}

int bus_job_charge(BusJobOwners *o, sd_bus_message *call, BusJobCharge *ret, sd_bus_error *error) {
        BusJobOwner *items;
        size_t n = 0;
        uid_t uid;
        int r;

        r = bus_sender_uid(call, &uid);
        if (r < 0)
                return bus_error_set_errnof(error, EACCES, "Cannot determine the caller's user: %s",
                                            strerror(-r));
        if (uid == 0) {
                *ret = (BusJobCharge) {};
                return 0;
        }

        for (size_t i = 0; i < o->n; i++)
                if (o->items[i].uid == uid)
                        n++;
        if (n >= BUS_LIMIT_JOBS_PER_UID)
                return sd_bus_error_setf(error, BUS_ERROR_LIMITS_EXCEEDED,
                                         "uid %u already has %zu jobs running or queued (at most %u)",
                                         (unsigned) uid, n, BUS_LIMIT_JOBS_PER_UID);

        items = reallocarray(o->items, o->n + 1, sizeof(*items));
        if (!items)
                return -ENOMEM;
        o->items = items;
        o->items[o->n++] = (BusJobOwner) { .call = call, .uid = uid };
        *ret = (BusJobCharge) { .owners = o, .call = call };
        return 0;
}

void bus_job_charge_keep(BusJobCharge *c) {
        *c = (BusJobCharge) {};
}

void bus_job_charge_done(BusJobCharge *c) {
        if (c->owners)
                bus_job_owners_release(c->owners, c->call);
        *c = (BusJobCharge) {};
}

void bus_job_owners_release(BusJobOwners *o, const sd_bus_message *call) {
        for (size_t i = 0; i < o->n; i++)
                if (o->items[i].call == call) {
                        o->items[i] = o->items[--o->n];
                        return;
                }
}
