/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A call's region paths opened as its sender (bus-open.h): a BusOpen walks the
 * regions; each path gets an opener process, watched by its answer socket and a
 * timer; every opener stays registered until its pidfd says it has exited and
 * it is reaped, also after its call has moved on. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus-creds.h"
#include "bus-error.h"
#include "bus-open.h"
#include "bus-util.h"
#include "escape.h"
#include "log.h"
#include "spawn-util.h"
#include "user-open.h"

typedef struct OpenerProcess OpenerProcess;
typedef struct BusOpen BusOpen;

struct OpenerProcess {
        BusOpens *registry;
        BusOpen *owner;                 /* waiting for its answer, or NULL */
        UserOpener opener;
        sd_event_source *exit_source;   /* on the pidfd */
        OpenerProcess *prev, *next;
};

struct BusOpen {
        BusOpens *registry;
        sd_bus_message *call;
        char *order_key;                /* calls with the same key complete in order */
        bool opened;                    /* img is complete, waiting for earlier calls */
        BusRegionList regions;
        size_t next_region;             /* the first not yet in img */
        uid_t uid;
        Image *img;
        OpenerProcess *process;         /* the current path's, until it answers */
        sd_event_source *answer_source, *timeout_source;
        BusOpenDoneFn done;
        void *userdata;
        void (*free_userdata)(void *userdata);
        BusOpen *prev, *next;
};

struct BusOpens {
        sd_event *event;
        char *exe;                      /* our own binary: the opener */
        BusOpen *opens, *opens_tail;    /* in the order the calls came */
        OpenerProcess *processes;
        size_t n_opens;
};

#define LIST_UNLINK(head, item)                                 \
        do {                                                    \
                if ((item)->prev)                               \
                        (item)->prev->next = (item)->next;      \
                else if ((head) == (item))                      \
                        (head) = (item)->next;                  \
                if ((item)->next)                               \
                        (item)->next->prev = (item)->prev;      \
                (item)->prev = (item)->next = NULL;             \
        } while (0)

#define LIST_PREPEND(head, item)                                \
        do {                                                    \
                (item)->next = (head);                          \
                if ((head))                                     \
                        (head)->prev = (item);                  \
                (head) = (item);                                \
        } while (0)

/* ---- opener processes ------------------------------------------------------------ */

static OpenerProcess *opener_process_free(OpenerProcess *p) {
        if (!p)
                return NULL;
        LIST_UNLINK(p->registry->processes, p);
        p->exit_source = sd_event_source_disable_unref(p->exit_source);
        user_opener_close(&p->opener);
        free(p);
        return NULL;
}

/* Without a pidfd (user-open.h), how often to look whether the opener is gone. */
#define OPENER_REAP_POLL_USEC (100 * USEC_PER_MSEC)

static void opener_process_exited(OpenerProcess *p) {
        p->exit_source = sd_event_source_disable_unref(p->exit_source);
        /* Its answer may still be unread in the socket: its call frees it. */
        if (!p->owner)
                opener_process_free(p);
}

static int on_opener_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        OpenerProcess *p = userdata;

        if (user_opener_reap(&p->opener) == -EAGAIN)
                return 0;       /* cannot be: the pidfd is readable once it has exited */
        opener_process_exited(p);
        return 0;
}

static int on_opener_poll(sd_event_source *s, uint64_t usec, void *userdata) {
        OpenerProcess *p = userdata;
        int r;

        if (user_opener_reap(&p->opener) == 0) {
                opener_process_exited(p);
                return 0;
        }
        r = sd_event_source_set_time_relative(s, OPENER_REAP_POLL_USEC);
        if (r >= 0)
                r = sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        if (r < 0)
                log_warning_errno(r, "Cannot wait for opener %" PRIi32 " any more: %m", (int32_t) p->opener.pid);
        return 0;
}

static int opener_process_spawn(BusOpens *o, const char *path, uid_t uid, OpenerProcess **ret) {
        OpenerProcess *p;
        int r;

        if (!o->exe)
                return -ENOEXEC;
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->registry = o;
        p->opener = USER_OPENER_INIT;
        LIST_PREPEND(o->processes, p);

        r = user_open_spawn(o->exe, path, uid, &p->opener);
        if (r < 0) {
                opener_process_free(p);
                return r;
        }
        if (p->opener.pidfd >= 0)
                r = sd_event_add_io(o->event, &p->exit_source, p->opener.pidfd, EPOLLIN, on_opener_exit, p);
        else
                r = sd_event_add_time_relative(o->event, &p->exit_source, CLOCK_MONOTONIC, OPENER_REAP_POLL_USEC,
                                               0, on_opener_poll, p);
        if (r < 0) {
                user_opener_kill(&p->opener);
                opener_process_free(p);
                return r;
        }
        (void) sd_event_source_set_description(p->exit_source, "opener-exit");
        *ret = p;
        return 0;
}

/* ---- a call's regions ------------------------------------------------------------ */

/* The current opener answered, timed out or failed: it is on its own now,
 * until it has exited and been reaped. */
static void bus_open_detach_process(BusOpen *op, bool kill) {
        OpenerProcess *p = op->process;

        op->answer_source = sd_event_source_disable_unref(op->answer_source);
        op->timeout_source = sd_event_source_disable_unref(op->timeout_source);
        if (!p)
                return;
        op->process = NULL;
        p->owner = NULL;
        if (p->opener.pid == 0) {       /* reaped already */
                opener_process_free(p);
                return;
        }
        if (kill)
                user_opener_kill(&p->opener);
        p->opener.sock = safe_close(p->opener.sock);
}

static BusOpen *bus_open_free(BusOpen *op) {
        if (!op)
                return NULL;
        if (op->registry->opens_tail == op)
                op->registry->opens_tail = op->prev;
        LIST_UNLINK(op->registry->opens, op);
        op->registry->n_opens--;

        /* An opener that has not answered is of no use to anyone now. */
        bus_open_detach_process(op, true);
        image_free(op->img);
        bus_region_list_done(&op->regions);
        if (op->free_userdata)
                op->free_userdata(op->userdata);
        sd_bus_message_unref(op->call);
        free(op->order_key);
        free(op);
        return NULL;
}

static bool key_in(const char *key, char *const *keys, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (streq(keys[i], key))
                        return true;
        return false;
}

/* Hands every opened image on whose calls with the same key before it have
 * all been answered: one port's jobs queue in the order their calls came,
 * whatever each took to open. */
static void bus_opens_deliver(BusOpens *o) {
        _cleanup_free_ char **blocked = NULL;
        size_t n_blocked = 0;
        BusOpen *op, *next;

        if (o->n_opens == 0)
                return;
        blocked = calloc(o->n_opens, sizeof(char *));
        for (op = o->opens; op; op = next) {
                next = op->next;
                if (!op->opened) {
                        if (blocked)
                                blocked[n_blocked++] = op->order_key;
                        continue;
                }
                /* Out of memory for the list: deliver nothing but the oldest. */
                if (!blocked ? op != o->opens : key_in(op->order_key, blocked, n_blocked))
                        continue;
                op->done(op->call, TAKE_PTR(op->img), NULL, op->userdata);
                bus_open_free(op);
        }
}

static void bus_open_finish(BusOpen *op, int r, sd_bus_error *error) {
        _cleanup_bus_error_free_ sd_bus_error e = SD_BUS_ERROR_NULL;
        BusOpens *o = op->registry;

        bus_open_detach_process(op, true);
        if (r >= 0)
                op->opened = true;
        else {
                /* A refusal starts no job: it need not wait for anyone. */
                if (!error || !sd_bus_error_is_set(error)) {
                        (void) bus_error_set_errnof(&e, r, "Cannot open the regions: %m");
                        error = &e;
                }
                op->done(op->call, NULL, error, op->userdata);
                bus_open_free(op);
        }
        bus_opens_deliver(o);
}

static int bus_open_next(BusOpen *op, sd_bus_error *error);

static int on_answer(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        _cleanup_bus_error_free_ sd_bus_error error = SD_BUS_ERROR_NULL;
        BusOpen *op = userdata;
        BusRegionSource *src = &op->regions.items[op->next_region];
        int r;

        r = user_open_receive(&op->process->opener);
        if (r == -EAGAIN)
                return 0;
        bus_open_detach_process(op, false);
        if (r < 0) {
                bus_error_set_open_failure(&error, src->path, op->uid, r);
                bus_open_finish(op, r, &error);
                return 0;
        }

        r = image_add_region(op->img, (uint32_t) src->offset, r);
        if (r < 0) {
                (void) bus_error_set_errnof(&error, r, "Cannot add the region at 0x%" PRIx64 ": %m", src->offset);
                bus_open_finish(op, r, &error);
                return 0;
        }
        op->next_region++;

        r = bus_open_next(op, &error);
        if (r != 0)
                bus_open_finish(op, r, &error);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        _cleanup_bus_error_free_ sd_bus_error error = SD_BUS_ERROR_NULL;
        BusOpen *op = userdata;
        const char *path = op->regions.items[op->next_region].path;

        log_warning("Opening %s as uid %" PRIu32 " took longer than %" PRIu64 " s: killed the opener.", ESC(path),
                    (uint32_t) op->uid, (uint64_t) (BUS_OPEN_TIMEOUT_USEC / USEC_PER_SEC));
        bus_error_set_open_failure(&error, path, op->uid, -ETIMEDOUT);
        bus_open_finish(op, -ETIMEDOUT, &error);
        return 0;
}

/* Adds passed fds up to the next path and starts its opener: 0 waiting for it,
 * 1 all done, < 0 failed (error set). */
static int bus_open_next(BusOpen *op, sd_bus_error *error) {
        BusOpens *o = op->registry;
        const char *path;
        int r;

        for (; op->next_region < op->regions.n; op->next_region++) {
                BusRegionSource *src = &op->regions.items[op->next_region];

                if (src->path)
                        break;
                r = image_add_region(op->img, (uint32_t) src->offset, TAKE_FD(src->fd));
                if (r < 0)
                        return bus_error_set_errnof(error, r, "Cannot add the region at 0x%" PRIx64 ": %m",
                                                    src->offset);
        }
        if (op->next_region >= op->regions.n)
                return 1;

        path = op->regions.items[op->next_region].path;
        r = opener_process_spawn(o, path, op->uid, &op->process);
        if (r >= 0)
                op->process->owner = op;
        if (r < 0) {
                log_warning_errno(r, "Cannot start the opener for %s: %m", ESC(path));
                return bus_error_set_open_failure(error, path, op->uid, r);
        }
        r = sd_event_add_io(o->event, &op->answer_source, op->process->opener.sock, EPOLLIN, on_answer, op);
        if (r < 0)
                return bus_error_set_errnof(error, r, "Cannot watch the opener of %s: %m", path);
        (void) sd_event_source_set_description(op->answer_source, "opener-answer");
        r = sd_event_add_time_relative(o->event, &op->timeout_source, CLOCK_MONOTONIC, BUS_OPEN_TIMEOUT_USEC, 0,
                                       on_timeout, op);
        if (r < 0)
                return bus_error_set_errnof(error, r, "Cannot time the opener of %s: %m", path);
        (void) sd_event_source_set_description(op->timeout_source, "opener-timeout");
        return 0;
}

int bus_opens_start(BusOpens *o, sd_bus_message *call, const char *order_key, BusRegionList *regions,
                    BusOpenDoneFn done, void *userdata, void (*free_userdata)(void *userdata),
                    sd_bus_error *error) {
        BusOpen *op;
        int r;

        op = calloc(1, sizeof(*op));
        if (!op) {
                bus_region_list_done(regions);
                if (free_userdata)
                        free_userdata(userdata);
                return -ENOMEM;
        }
        *op = (BusOpen) {
                .registry = o,
                .call = sd_bus_message_ref(call),
                .regions = *regions,
                .done = done,
                .userdata = userdata,
                .free_userdata = free_userdata,
        };
        *regions = (BusRegionList) {};
        /* Appended: the list is in arrival order. */
        op->prev = o->opens_tail;
        if (o->opens_tail)
                o->opens_tail->next = op;
        else
                o->opens = op;
        o->opens_tail = op;
        o->n_opens++;

        op->order_key = strdup(order_key ?: "");
        op->img = image_new();
        if (!op->img || !op->order_key) {
                bus_open_free(op);
                return -ENOMEM;
        }
        for (size_t i = 0; i < op->regions.n; i++)
                if (op->regions.items[i].path) {
                        /* Whose files: the uid of the connection, never /proc. */
                        r = bus_sender_uid(call, &op->uid);
                        if (r < 0) {
                                bus_open_free(op);
                                return bus_error_set_errnof(error, EACCES,
                                                            "Cannot determine the caller's credentials: %s",
                                                            strerror(ERRNO_ABS(r)));
                        }
                        break;
                }

        r = bus_open_next(op, error);
        if (r < 0) {
                bus_open_free(op);
                return r;
        }
        if (r > 0)
                bus_open_finish(op, 0, NULL);
        return 0;
}

int bus_opens_cancel(BusOpens *o, const char *order_key) {
        return bus_opens_cancel_where(o, order_key, NULL, NULL);
}

int bus_opens_cancel_where(BusOpens *o, const char *order_key, BusOpenMatchFn match, void *userdata) {
        BusOpen *op, *next;
        int n = 0;

        if (!o)
                return 0;
        for (op = o->opens; op; op = next) {
                _cleanup_bus_error_free_ sd_bus_error error = SD_BUS_ERROR_NULL;

                next = op->next;
                if (order_key && !streq(op->order_key, order_key))
                        continue;
                if (match && !match(op->call, userdata))
                        continue;
                /* Its caller may be gone already: then nobody learns, and nothing
                 * happens either. */
                bus_open_detach_process(op, true);
                (void) sd_bus_error_set(&error, BUS_ERROR_CANCELLED, "Cancelled before its job was queued");
                op->done(op->call, NULL, &error, op->userdata);
                bus_open_free(op);
                n++;
        }
        bus_opens_deliver(o);
        return n;
}

BusOpens *bus_opens_new(sd_event *e) {
        BusOpens *o;

        o = calloc(1, sizeof(*o));
        if (!o)
                return NULL;
        o->event = sd_event_ref(e);
        /* The opener is this very binary (user_open_main()). Resolved now: it
         * stays right under valgrind, which virtualizes this readlink. */
        o->exe = spawn_self_exe();
        if (!o->exe)
                log_warning("Cannot find my own binary: paths cannot be opened, only passed fds.");
        return o;
}

BusOpens *bus_opens_free(BusOpens *o) {
        if (!o)
                return NULL;
        while (o->opens)
                bus_open_free(o->opens);
        /* Killed, never waited for: we are going away. */
        while (o->processes) {
                user_opener_kill(&o->processes->opener);
                opener_process_free(o->processes);
        }
        free(o->exe);
        sd_event_unref(o->event);
        free(o);
        return NULL;
}

size_t bus_opens_n_pending(BusOpens *o) {
        return o ? o->n_opens : 0;
}
