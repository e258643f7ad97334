/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Asynchronous polkit checks: a registry of queries keyed by the call they
 * authorize. A handler asks, returns 1 (handled, reply later); polkit's answer is
 * cached on the query and the call is enqueued to be read again, so that the
 * handler runs a second time and finds the answer (systemd's bus-polkit.c). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-context.h"
#include "bus-creds.h"
#include "bus-error.h"
#include "bus-polkit.h"
#include "bus-util.h"
#include "log.h"

/* What a refused caller reads next: how an administrator lets them. */
#define POLKIT_HOW_TO_ALLOW \
        "To allow it without a password, an administrator adds a polkit rule granting the " \
        "action, e.g. installs with -Dpolkit_group=GROUP and adds the user to GROUP " \
        "(README, \"Who may do what\")."

#define POLKIT_SERVICE "org.freedesktop.PolicyKit1"
#define POLKIT_PATH "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_INTERFACE "org.freedesktop.PolicyKit1.Authority"
/* CheckAuthorizationFlags.AllowUserInteraction */
#define POLKIT_FLAG_ALLOW_USER_INTERACTION 1u
/* Waiting for a human to authenticate takes longer than sd-bus' default 25 s;
 * a non-interactive check that takes that long has failed. */
#define POLKIT_INTERACTIVE_TIMEOUT_USEC (5ull * 60 * 1000000)

typedef struct PolkitQuery PolkitQuery;

struct PolkitQuery {
        BusPolkit *registry;
        char *action;
        sd_bus_message *request;        /* the call being authorized */
        sd_bus_slot *call_slot;         /* CheckAuthorization in flight */
        sd_bus_slot *watch_slot;        /* the caller's bus name going away */
        sd_event_source *defer_source;  /* frees the query after the second dispatch */
        bool done, authorized;
        char *denial;                   /* why not, once done and not authorized */
        PolkitQuery *prev, *next;
};

struct BusPolkit {
        PolkitQuery *queries;
        size_t n_queries;
};

static PolkitQuery *polkit_query_free(PolkitQuery *q) {
        BusPolkit *p;

        if (!q)
                return NULL;
        p = q->registry;
        if (q->prev)
                q->prev->next = q->next;
        else if (p->queries == q)
                p->queries = q->next;
        if (q->next)
                q->next->prev = q->prev;
        p->n_queries--;

        /* Unref'ing a pending call's slot abandons it: a late answer is dropped. */
        sd_bus_slot_unref(q->call_slot);
        sd_bus_slot_unref(q->watch_slot);
        sd_event_source_disable_unref(q->defer_source);
        sd_bus_message_unref(q->request);
        free(q->action);
        free(q->denial);
        free(q);
        return NULL;
}

BusPolkit *bus_polkit_new(void) {
        return calloc(1, sizeof(BusPolkit));
}

BusPolkit *bus_polkit_free(BusPolkit *p) {
        if (!p)
                return NULL;
        while (p->queries)
                polkit_query_free(p->queries);
        free(p);
        return NULL;
}

size_t bus_polkit_n_queries(BusPolkit *p) {
        return p ? p->n_queries : 0;
}

void bus_polkit_forget_bus(BusPolkit *p, sd_bus *bus) {
        if (!p)
                return;
        for (PolkitQuery *q = p->queries, *next; q; q = next) {
                next = q->next;
                if (sd_bus_message_get_bus(q->request) != bus)
                        continue;
                log_debug("Dropping the %s check for %s: the caller hung up.", q->action,
                          bus_message_origin(q->request));
                polkit_query_free(q);
        }
}

static PolkitQuery *polkit_find(BusPolkit *p, sd_bus_message *call) {
        for (PolkitQuery *q = p->queries; q; q = q->next)
                if (q->request == call)
                        return q;
        return NULL;
}

static int on_defer(sd_event_source *s, void *userdata) {
        /* The call has been dispatched again and found its answer (or never
         * reached its handler): nothing refers to the query any more. */
        polkit_query_free(userdata);
        return 0;
}

/* Caches the answer and puts the call back in its connection's read queue. */
static void polkit_query_complete(PolkitQuery *q, bool authorized, const char *denial) {
        sd_bus *bus = sd_bus_message_get_bus(q->request);
        int r;

        q->done = true;
        q->authorized = authorized;
        if (!authorized) {
                q->denial = strdup(denial ?: "Not authorized");
                if (!q->denial) {
                        log_error("Out of memory.");
                        goto fail;
                }
        }
        q->call_slot = sd_bus_slot_unref(q->call_slot);
        q->watch_slot = sd_bus_slot_unref(q->watch_slot);

        r = sd_event_add_defer(sd_bus_get_event(bus), &q->defer_source, on_defer, q);
        if (r < 0)
                goto fail_errno;
        /* Idle priority: after the connection has processed the call again. */
        r = sd_event_source_set_priority(q->defer_source, SD_EVENT_PRIORITY_IDLE);
        if (r < 0)
                goto fail_errno;
        (void) sd_event_source_set_description(q->defer_source, "polkit-query");

        r = sd_bus_message_rewind(q->request, true);
        if (r < 0)
                goto fail_errno;
        r = sd_bus_enqueue_for_read(bus, q->request);
        if (r < 0)
                goto fail_errno;
        return;

fail_errno:
        log_full_errno(bus_error_is_disconnect(r) ? LOG_DEBUG : LOG_WARNING, r,
                       "Failed to dispatch the call authorized by %s again: %m", q->action);
fail:
        /* Whoever is still there is told no; nothing else happens. */
        if (sd_bus_is_open(bus) > 0)
                (void) sd_bus_reply_method_errorf(q->request, BUS_ERROR_PERMISSION_DENIED,
                                                  "Not authorized for %s: the check failed", q->action);
        polkit_query_free(q);
}

static int on_check_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        _cleanup_free_ char *denial = NULL;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        PolkitQuery *q = userdata;
        int authorized = 0, challenge = 0, r;

        if (e) {
                /* polkit absent, crashed or refusing to answer: denied. */
                log_warning("polkit could not check %s for %s: %s", q->action, bus_message_origin(q->request),
                            e->message ?: e->name);
                r = asprintf(&denial, "Not authorized for %s: polkit could not decide: %s", q->action,
                             e->message ?: e->name);
        } else {
                /* (bba{ss}): is_authorized, is_challenge, details */
                r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
                if (r >= 0)
                        r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
                if (r < 0) {
                        log_warning_errno(r, "Bad CheckAuthorization reply for %s: %m", q->action);
                        r = asprintf(&denial, "Not authorized for %s: malformed answer from polkit",
                                     q->action);
                } else if (authorized)
                        r = 0;
                else if (challenge && !sd_bus_message_get_allow_interactive_authorization(q->request))
                        r = asprintf(&denial, "Not authorized for %s without authentication (allow "
                                     "interactive authorization in the call to be asked, as fbuildctl "
                                     "does on a terminal). " POLKIT_HOW_TO_ALLOW, q->action);
                else
                        r = asprintf(&denial, "Not authorized for %s. " POLKIT_HOW_TO_ALLOW, q->action);
        }
        if (r < 0)
                denial = NULL;  /* polkit_query_complete() says "Not authorized" */

        log_debug("polkit: %s for %s: %s.", q->action, bus_message_origin(q->request),
                  authorized ? "yes" : "no");
        polkit_query_complete(q, authorized, denial);
        return 0;
}

static int on_caller_gone(sd_bus_message *signal, void *userdata, sd_bus_error *ret_error) {
        const char *name, *old_owner, *new_owner;
        PolkitQuery *q = userdata;

        if (sd_bus_message_read(signal, "sss", &name, &old_owner, &new_owner) < 0 || (new_owner && *new_owner))
                return 0;
        log_debug("Dropping the %s check for %s: the caller hung up.", q->action, name);
        polkit_query_free(q);
        return 0;
}

/* Field 22 of /proc/PID/stat: polkit binds a unix-process subject to it so
 * that a recycled pid is not the same subject. */
static int process_start_time(pid_t pid, uint64_t *ret) {
        _cleanup_free_ char *line = NULL;
        char path[64];
        unsigned long long t;
        size_t n = 0;
        FILE *f;
        char *p;

        (void) snprintf(path, sizeof(path), "/proc/%" PRIi32 "/stat", (int32_t) pid);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        if (getline(&line, &n, f) < 0) {
                fclose(f);
                return -EIO;
        }
        fclose(f);

        /* comm may contain anything, even ") ": skip to the last ')'. */
        p = strrchr(line, ')');
        if (!p)
                return -EIO;
        p++;
        /* After comm: state is field 3, starttime field 22. */
        for (int field = 2; field < 21; field++) {
                p = strchr(p + 1, ' ');
                if (!p)
                        return -EIO;
        }
        if (sscanf(p, " %llu", &t) != 1)
                return -EIO;
        *ret = t;
        return 0;
}

/* On the bus, the caller's bus name: polkitd asks the bus daemon who that is
 * (nothing racy). Peer-to-peer, a sender field is whatever the client wrote in
 * it: the process at the other end of the socket, as SO_PEERCRED recorded it at
 * connect(), with its start time so that a recycled pid is not the subject, and
 * the uid from the socket too, never from /proc. */
static int append_subject(sd_bus_message *m, sd_bus_message *call, bool on_system_bus) {
        const char *sender = sd_bus_message_get_sender(call);
        uint64_t start_time = 0;
        pid_t pid;
        uid_t uid;
        int r;

        if (on_system_bus) {
                if (!sender)
                        return -ESRCH;
                return sd_bus_message_append(m, "(sa{sv})", "system-bus-name", 1, "name", "s", sender);
        }

        r = bus_peer_creds(sd_bus_message_get_bus(call), &pid, &uid);
        if (r < 0)
                return r;
        r = process_start_time(pid, &start_time);
        if (r < 0)
                return r;
        return sd_bus_message_append(m, "(sa{sv})", "unix-process", 3,
                                     "pid", "u", (uint32_t) pid,
                                     "start-time", "t", start_time,
                                     "uid", "i", (int32_t) uid);
}

static int polkit_query_start(BusContext *b, sd_bus_message *call, const char *action) {
        _cleanup_bus_message_unref_ sd_bus_message *m = NULL;
        const char *sender = sd_bus_message_get_sender(call);
        bool on_system_bus = sd_bus_message_get_bus(call) == b->system_bus;
        PolkitQuery *q;
        uint32_t flags = 0;
        int r;

        if (sd_bus_message_get_allow_interactive_authorization(call) > 0)
                flags |= POLKIT_FLAG_ALLOW_USER_INTERACTION;

        r = sd_bus_message_new_method_call(b->system_bus, &m, POLKIT_SERVICE, POLKIT_PATH, POLKIT_INTERFACE,
                                           "CheckAuthorization");
        if (r < 0)
                return r;
        r = append_subject(m, call, on_system_bus);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "sa{ss}us", action, 0, flags, "");
        if (r < 0)
                return r;

        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        q->registry = b->polkit;
        q->request = sd_bus_message_ref(call);
        q->next = b->polkit->queries;
        if (q->next)
                q->next->prev = q;
        b->polkit->queries = q;
        b->polkit->n_queries++;

        q->action = strdup(action);
        if (!q->action) {
                polkit_query_free(q);
                return -ENOMEM;
        }
        r = sd_bus_call_async(b->system_bus, &q->call_slot, m, on_check_reply, q,
                              flags & POLKIT_FLAG_ALLOW_USER_INTERACTION ? POLKIT_INTERACTIVE_TIMEOUT_USEC : 0);
        if (r < 0) {
                polkit_query_free(q);
                return r;
        }

        /* On the bus, a caller that goes away while polkit decides leaves
         * nothing behind. (Peer-to-peer, its connection closing does that.) */
        if (on_system_bus) {
                char match[256];

                (void) snprintf(match, sizeof(match),
                                "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
                                "member='NameOwnerChanged',path='/org/freedesktop/DBus',arg0='%s'", sender);
                r = sd_bus_add_match_async(b->system_bus, &q->watch_slot, match, on_caller_gone, NULL, q);
                if (r < 0)
                        log_debug_errno(r, "Cannot watch %s while polkit decides: %m", sender);
        }
        log_debug("Asked polkit whether %s may %s.", bus_message_origin(call), action);
        return 0;
}

const char *bus_polkit_asked_action(BusContext *b, sd_bus_message *call) {
        PolkitQuery *q = b && b->polkit ? polkit_find(b->polkit, call) : NULL;

        return q ? q->action : NULL;
}

int bus_polkit_verify(BusContext *b, sd_bus_message *call, const char *action, sd_bus_error *error) {
        PolkitQuery *q;
        uid_t uid;
        int r;

        /* The second dispatch: the answer is in. */
        q = polkit_find(b->polkit, call);
        if (q) {
                if (!q->done)
                        return 0;       /* still asking (the call was dispatched twice?) */
                if (!streq(q->action, action))
                        return sd_bus_error_setf(error, BUS_ERROR_PERMISSION_DENIED,
                                                 "Not authorized for %s: polkit was asked about %s", action,
                                                 q->action);
                if (q->authorized)
                        return 1;
                return sd_bus_error_set(error, BUS_ERROR_PERMISSION_DENIED, q->denial);
        }

        /* root is root by its connection's uid, never by an euid read from
         * /proc: a caller that execs a setuid-root program after sending is not. */
        r = bus_sender_uid(call, &uid);
        if (r < 0)
                return sd_bus_error_setf(error, BUS_ERROR_PERMISSION_DENIED,
                                         "Not authorized: cannot determine the caller's user: %s", strerror(-r));
        if (uid == 0)
                return 1;

        if (!b->system_bus || sd_bus_is_open(b->system_bus) <= 0)
                return sd_bus_error_setf(error, BUS_ERROR_PERMISSION_DENIED,
                                         "Not authorized for %s: only root may do this while the service "
                                         "has no system bus to ask polkit on", action);

        r = polkit_query_start(b, call, action);
        if (r < 0) {
                log_warning_errno(r, "Cannot ask polkit about %s for %s: %m", action, bus_message_origin(call));
                return sd_bus_error_setf(error, BUS_ERROR_PERMISSION_DENIED,
                                         "Not authorized for %s: cannot ask polkit: %s", action, strerror(-r));
        }
        return 0;
}
