/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Per-user limits (bus-limits.h): the socket peer's uid, the table of who
 * owns which job, keyed by the job's call, and the global fd budget. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bus-error.h"
#include "bus-limits.h"
#include "bus-util.h"
#include "fd-util.h"

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

void bus_fd_budget_init(BusFdBudget *b, unsigned limit) {
        unsigned reserve = MIN(MAX(limit / 4, 32u), 1024u);

        b->limit = limit;
        b->jobs = limit > BUS_FDS_MARGIN ? limit - BUS_FDS_MARGIN : 0;
        b->long_lived = b->jobs > reserve ? b->jobs - reserve : b->jobs / 2;
}

int bus_fd_budget_check(const BusFdBudget *b, unsigned need, bool long_lived, sd_bus_error *error) {
        unsigned threshold = long_lived ? b->long_lived : b->jobs;
        int n;

        n = fd_count_open();
        if (n < 0)
                /* Not even /proc/self/fd could be opened: certainly full. */
                return sd_bus_error_setf(error, BUS_ERROR_LIMITS_EXCEEDED,
                                         "The service cannot take more work now: %s", strerror(-n));
        if ((unsigned) n + need > threshold)
                return sd_bus_error_setf(error, BUS_ERROR_LIMITS_EXCEEDED,
                                         "The service has %d of its %u file descriptors open; %s %u "
                                         "(try again when other monitors, connections or jobs have ended)",
                                         n, b->limit, long_lived ? "monitors and connections stop at"
                                                                 : "jobs stop at", threshold);
        return 0;
}

int bus_limits_sender_uid(sd_bus_message *call, uid_t *ret) {
        _cleanup_bus_creds_unref_ sd_bus_creds *creds = NULL;
        int r;

        r = sd_bus_query_sender_creds(call, SD_BUS_CREDS_EUID | SD_BUS_CREDS_UID | SD_BUS_CREDS_AUGMENT, &creds);
        if (r < 0)
                return r;
        r = sd_bus_creds_get_euid(creds, ret);
        if (r < 0)
                r = sd_bus_creds_get_uid(creds, ret);
        return r;
}

int bus_job_charge(BusJobOwners *o, sd_bus_message *call, BusJobCharge *ret, sd_bus_error *error) {
        BusJobOwner *items;
        size_t n = 0;
        uid_t uid;
        int r;

        r = bus_limits_sender_uid(call, &uid);
        if (r < 0)
                return bus_error_set_errnof(error, EACCES, "Cannot determine the caller's user: %s",
                                            strerror(-r));
        /* root is recorded too (whose job it is decides who may cancel it), but
         * never limited. */
        for (size_t i = 0; i < o->n; i++)
                if (o->items[i].uid == uid)
                        n++;
        if (uid != 0 && n >= BUS_LIMIT_JOBS_PER_UID)
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

int bus_job_owner(const BusJobOwners *o, const sd_bus_message *call, uid_t *ret) {
        for (size_t i = 0; i < o->n; i++)
                if (o->items[i].call == call) {
                        *ret = o->items[i].uid;
                        return 0;
                }
        return -ENOENT;
}

void bus_job_owners_release(BusJobOwners *o, const sd_bus_message *call) {
        for (size_t i = 0; i < o->n; i++)
                if (o->items[i].call == call) {
                        o->items[i] = o->items[--o->n];
                        return;
                }
}
