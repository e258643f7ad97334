/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* D-Bus peer-to-peer on the service's own socket (fbuild-deployd.socket): every
 * accepted connection is an sd-bus server carrying the same objects as the
 * system bus, plus just enough of org.freedesktop.DBus for clients that
 * believe they talk to a bus (busctl and gdbus send Hello even here). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bus-context.h"
#include "bus-util.h"
#include "log.h"

#define DBUS_SERVICE "org.freedesktop.DBus"
#define DBUS_INTERFACE "org.freedesktop.DBus"
/* The unique name the service answers for itself on a peer connection. */
#define PEER_SERVICE_UNIQUE_NAME ":1.0"
/* After EMFILE on accept, how long the listeners rest. */
#define ACCEPT_RETRY_USEC (100 * 1000ull)

struct BusListener {
        BusContext *context;
        int fd;
        sd_event_source *source;
        BusListener *next;
};

struct BusPeer {
        BusContext *context;
        sd_bus *bus;
        sd_event_source *post_source;
        uid_t uid;
        char unique_name[32];
        BusPeer *prev, *next;
};

static BusPeer *bus_peer_free(BusPeer *p) {
        BusContext *b;

        if (!p)
                return NULL;

        b = p->context;
        if (p->prev)
                p->prev->next = p->next;
        else if (b->peers == p)
                b->peers = p->next;
        if (p->next)
                p->next->prev = p->prev;
        b->n_peers--;

        /* A caller that hangs up while polkit decides gets no answer. */
        bus_polkit_forget_bus(b->polkit, p->bus);
        p->post_source = sd_event_source_disable_unref(p->post_source);
        if (p->bus) {
                (void) sd_bus_detach_event(p->bus);
                p->bus = sd_bus_flush_close_unref(p->bus);
        }
        log_debug("Peer connection %s closed, %zu left.", p->unique_name, b->n_peers);
        free(p);
        return NULL;
}

static int reply_name_owner(sd_bus_message *message, const char *name) {
        if (streq_ptr(name, BUS_SERVICE_NAME) || streq_ptr(name, DBUS_SERVICE))
                return sd_bus_reply_method_return(message, "s",
                                                  streq(name, DBUS_SERVICE) ? DBUS_SERVICE
                                                                            : PEER_SERVICE_UNIQUE_NAME);
        if (streq_ptr(name, PEER_SERVICE_UNIQUE_NAME))
                return sd_bus_reply_method_return(message, "s", name);
        return sd_bus_reply_method_errorf(message, SD_BUS_ERROR_NAME_HAS_NO_OWNER,
                                          "Name \"%s\" does not exist on this connection", strempty(name));
}

/* The bus driver's methods that clients send unconditionally; everything else
 * of org.freedesktop.DBus is answered UnknownMethod. */
static int peer_handle_driver_call(BusPeer *p, sd_bus_message *message) {
        const char *member = sd_bus_message_get_member(message), *name = NULL;
        int r;

        if (streq_ptr(member, "Hello"))
                return sd_bus_reply_method_return(message, "s", p->unique_name);
        if (streq_ptr(member, "AddMatch") || streq_ptr(member, "RemoveMatch"))
                /* Every signal goes to every peer anyway. */
                return sd_bus_reply_method_return(message, NULL);
        if (streq_ptr(member, "GetId")) {
                char id[SD_ID128_STRING_MAX];

                return sd_bus_reply_method_return(message, "s", sd_id128_to_string(p->context->server_id, id));
        }
        if (streq_ptr(member, "ListNames"))
                return sd_bus_reply_method_return(message, "as", 3, DBUS_SERVICE, BUS_SERVICE_NAME,
                                                  PEER_SERVICE_UNIQUE_NAME);
        if (streq_ptr(member, "GetNameOwner") || streq_ptr(member, "NameHasOwner") ||
            streq_ptr(member, "StartServiceByName")) {
                r = sd_bus_message_read(message, "s", &name);
                if (r < 0)
                        return sd_bus_reply_method_errorf(message, SD_BUS_ERROR_INVALID_ARGS,
                                                          "Expected a name argument");
                if (streq(member, "GetNameOwner"))
                        return reply_name_owner(message, name);
                if (streq(member, "NameHasOwner"))
                        return sd_bus_reply_method_return(message, "b",
                                                          streq(name, BUS_SERVICE_NAME) ||
                                                          streq(name, DBUS_SERVICE) ||
                                                          streq(name, PEER_SERVICE_UNIQUE_NAME));
                /* DBUS_START_REPLY_ALREADY_RUNNING */
                if (streq(name, BUS_SERVICE_NAME))
                        return sd_bus_reply_method_return(message, "u", 2);
                return sd_bus_reply_method_errorf(message, SD_BUS_ERROR_SERVICE_UNKNOWN,
                                                  "Only %s is served on this connection", BUS_SERVICE_NAME);
        }
        return sd_bus_reply_method_errorf(message, SD_BUS_ERROR_UNKNOWN_METHOD,
                                          "%s.%s is not available on a peer-to-peer connection",
                                          DBUS_INTERFACE, strempty(member));
}

static int peer_filter(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        BusPeer *p = userdata;
        int r;

        if (sd_bus_message_is_signal(message, "org.freedesktop.DBus.Local", "Disconnected")) {
                bus_peer_free(p);
                return 0;
        }

        if (!sd_bus_message_is_method_call(message, DBUS_INTERFACE, NULL))
                return 0;

        r = peer_handle_driver_call(p, message);
        if (r < 0)
                log_full_errno(bus_error_is_disconnect(r) ? LOG_DEBUG : LOG_WARNING, r,
                               "Failed to answer %s on peer connection %s: %m",
                               strempty(sd_bus_message_get_member(message)), p->unique_name);
        /* Handled: the object tree must not answer UnknownObject as well. */
        return 1;
}

/* libsystemd 252 can leave a client's first message (libdbus sends it with the
 * end of the auth handshake) in its read buffer, and the fd never becomes
 * readable for it again: after every loop iteration, process until idle. */
static int peer_post(sd_event_source *s, void *userdata) {
        BusPeer *p = userdata;
        _cleanup_bus_unref_ sd_bus *bus = sd_bus_ref(p->bus);
        int r;

        /* p may be freed (Disconnected) inside sd_bus_process(); bus is ours. */
        do
                r = sd_bus_process(bus, NULL);
        while (r > 0);
        if (r < 0 && !bus_error_is_disconnect(r))
                log_debug_errno(r, "Failed to process peer connection: %m");
        return 0;
}

static int bus_peer_new(BusContext *b, int fd, uid_t uid) {
        _cleanup_close_ int fd_owned = fd;
        _cleanup_free_ BusPeer *p = NULL;
        _cleanup_bus_unref_ sd_bus *bus = NULL;
        int r;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->context = b;
        p->uid = uid;
        (void) snprintf(p->unique_name, sizeof(p->unique_name), ":1.%" PRIu64, ++b->n_accepted);

        r = sd_bus_new(&bus);
        if (r < 0)
                return r;
        r = sd_bus_set_fd(bus, fd, fd);
        if (r < 0)
                return r;
        TAKE_FD(fd_owned);
        (void) sd_bus_set_description(bus, p->unique_name);
        /* Name ourselves in what we send, so that clients that match signals
         * on the owner of org.fbuild.Deploy1 (GetNameOwner below) see them. */
        r = sd_bus_set_sender(bus, PEER_SERVICE_UNIQUE_NAME);
        if (r < 0)
                return r;
        r = sd_bus_set_server(bus, 1, b->server_id);
        if (r < 0)
                return r;
        r = sd_bus_negotiate_fds(bus, 1);
        if (r < 0)
                return r;
        r = sd_bus_add_filter(bus, NULL, peer_filter, p);
        if (r < 0)
                return r;
        r = bus_add_objects(bus, b);
        if (r < 0)
                return r;
        r = sd_bus_start(bus);
        if (r < 0)
                return r;
        r = sd_bus_attach_event(bus, b->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;
        r = sd_event_add_post(b->event, &p->post_source, peer_post, p);
        if (r < 0) {
                (void) sd_bus_detach_event(bus);
                return r;
        }

        p->bus = TAKE_PTR(bus);
        p->next = b->peers;
        if (b->peers)
                b->peers->prev = p;
        b->peers = p;
        b->n_peers++;
        log_debug("Peer connection %s accepted, %zu open.", p->unique_name, b->n_peers);
        TAKE_PTR(p);
        return 0;
}

/* One user may not hold every connection (bus-limits.h); root may. Nobody
 * gets one past the fd budget. A refused client sees its connection closed
 * before authentication. */
static int peer_admit(BusContext *b, int fd, uid_t *ret_uid) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        size_t n = 0;
        uid_t uid;
        int r;

        r = bus_limits_socket_uid(fd, &uid);
        if (r < 0)
                return log_warning_errno(r, "Refusing a peer connection with no credentials: %m");
        /* This connection's fd is already counted: it needs nothing more. */
        if (bus_fd_budget_check(&b->fd_budget, 0, true, &e) < 0) {
                log_warning("Refusing a peer connection from uid %u: %s", (unsigned) uid, e.message);
                return -EDQUOT;
        }
        if (uid != 0) {
                for (BusPeer *p = b->peers; p; p = p->next)
                        if (p->uid == uid)
                                n++;
                if (n >= BUS_LIMIT_PEERS_PER_UID) {
                        log_warning("Refusing a peer connection from uid %u: it has %zu open already (at most %u).",
                                    (unsigned) uid, n, BUS_LIMIT_PEERS_PER_UID);
                        return -EDQUOT;
                }
        }
        *ret_uid = uid;
        return 0;
}

static void listeners_set_enabled(BusContext *b, int enabled) {
        for (BusListener *l = b->listeners; l; l = l->next)
                (void) sd_event_source_set_enabled(l->source, enabled);
}

static int on_accept_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        BusContext *b = userdata;

        b->accept_retry = sd_event_source_disable_unref(b->accept_retry);
        listeners_set_enabled(b, SD_EVENT_ON);
        return 0;
}

/* Out of fds: a pending connection keeps the listener readable, and accepting
 * again at once would spin. Stop listening for a moment; the connection waits
 * in the backlog (it is not refused) and is admitted, or refused by the
 * budget, once fds are free again. */
static void listeners_back_off(BusContext *b) {
        int r;

        if (b->accept_retry)
                return;
        listeners_set_enabled(b, SD_EVENT_OFF);
        r = sd_event_add_time_relative(b->event, &b->accept_retry, CLOCK_MONOTONIC, ACCEPT_RETRY_USEC, 0,
                                       on_accept_retry, b);
        if (r < 0) {
                log_warning_errno(r, "Cannot arm the accept retry timer: %m");
                listeners_set_enabled(b, SD_EVENT_ON);
        }
}

static int on_listener_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        BusListener *l = userdata;
        uid_t uid = (uid_t) -1;
        int nfd, r;

        nfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (nfd < 0) {
                if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                        return 0;
                if (errno == EMFILE || errno == ENFILE) {
                        log_warning_errno(errno, "Cannot accept a peer connection now (%m): the fd budget is spent.");
                        listeners_back_off(l->context);
                        return 0;
                }
                log_warning_errno(errno, "Failed to accept a peer connection: %m");
                return 0;
        }

        r = peer_admit(l->context, nfd, &uid);
        if (r < 0) {
                safe_close(nfd);
                return 0;
        }
        r = bus_peer_new(l->context, nfd, uid);
        if (r < 0)
                log_warning_errno(r, "Failed to set up a peer connection: %m");
        return 0;
}

int bus_server_add_listener(BusContext *b, int fd) {
        _cleanup_close_ int fd_owned = fd;
        BusListener *l;
        int r;

        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;

        r = sd_event_add_io(b->event, &l->source, fd, EPOLLIN, on_listener_io, l);
        if (r < 0) {
                free(l);
                return r;
        }
        (void) sd_event_source_set_description(l->source, "bus-listener");
        l->context = b;
        l->fd = TAKE_FD(fd_owned);
        l->next = b->listeners;
        b->listeners = l;
        b->n_listeners++;
        return 0;
}

void bus_server_stop_listening(BusContext *b) {
        b->accept_retry = sd_event_source_disable_unref(b->accept_retry);
        while (b->listeners) {
                BusListener *l = b->listeners;

                b->listeners = l->next;
                l->source = sd_event_source_disable_unref(l->source);
                /* Closing our copy leaves the socket to systemd (or the test's
                 * activator), which holds it for the next instance. */
                safe_close(l->fd);
                free(l);
        }
        b->n_listeners = 0;
}

void bus_server_free_all(BusContext *b) {
        bus_server_stop_listening(b);
        while (b->peers)
                bus_peer_free(b->peers);
}

int bus_server_foreach_peer(BusContext *b, BusForeachFn fn, void *userdata) {
        for (BusPeer *p = b->peers; p; p = p->next) {
                int r;

                if (!sd_bus_is_open(p->bus))
                        continue;
                r = fn(p->bus, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

int bus_server_drain(BusContext *b) {
        int n = 0;

        for (BusPeer *p = b->peers, *next; p; p = next) {
                _cleanup_bus_unref_ sd_bus *bus = sd_bus_ref(p->bus);
                int r;

                /* p may go away while processing (Disconnected). */
                next = p->next;
                while ((r = sd_bus_process(bus, NULL)) > 0)
                        n++;
        }
        return n;
}

void bus_server_flush(BusContext *b) {
        for (BusPeer *p = b->peers; p; p = p->next)
                (void) sd_bus_flush(p->bus);
}
