/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* inotify IN_OPEN on every served device's tty and USB device node, on the
 * sd-event loop. Our own opens are counted in: a job announces its open before
 * the worker makes it, and the first IN_OPEN of that tty afterwards is ours.
 * inotify merges identical events left unread, so the watch is read at high
 * priority: an open by someone else in the instant between our open and that
 * read could merge with ours (it would find the port in use by our job). */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "device-watch.h"
#include "log.h"
#include "macro.h"
#include "string-util.h"

typedef struct WatchEntry {
        char *identity;
        char *tty_node, *usb_node;
        int tty_wd, usb_wd;          /* -1: not watched */
        unsigned own_expected;       /* opens of the tty announced as ours, not yet seen */
        bool own_active;             /* between own_begin and own_end */
        bool foreign_during_own;
} WatchEntry;

struct DeviceWatch {
        int fd;
        sd_event_source *source;
        WatchEntry *entries;
        size_t n_entries;
        DeviceWatchForeignFn on_foreign;
        void *userdata;
};

static void watch_entry_done(DeviceWatch *w, WatchEntry *e) {
        /* The node may be gone already (the kernel dropped the watch): ignore. */
        if (e->tty_wd >= 0)
                (void) inotify_rm_watch(w->fd, e->tty_wd);
        if (e->usb_wd >= 0 && e->usb_wd != e->tty_wd)
                (void) inotify_rm_watch(w->fd, e->usb_wd);
        free(e->identity);
        free(e->tty_node);
        free(e->usb_node);
}

static WatchEntry *watch_find_identity(DeviceWatch *w, const char *identity) {
        for (size_t i = 0; i < w->n_entries; i++)
                if (streq(w->entries[i].identity, identity))
                        return &w->entries[i];
        return NULL;
}

static WatchEntry *watch_find_tty(DeviceWatch *w, const char *tty_node) {
        for (size_t i = 0; i < w->n_entries; i++)
                if (streq(w->entries[i].tty_node, tty_node))
                        return &w->entries[i];
        return NULL;
}

static void watch_handle(DeviceWatch *w, const struct inotify_event *ev) {
        for (size_t i = 0; i < w->n_entries; i++) {
                WatchEntry *e = &w->entries[i];
                const char *node;

                if (ev->wd == e->tty_wd) {
                        if (e->own_expected > 0) {
                                e->own_expected--;
                                continue;
                        }
                        node = e->tty_node;
                } else if (ev->wd == e->usb_wd)
                        /* The service never opens USB device nodes. */
                        node = e->usb_node;
                else
                        continue;

                if (e->own_active)
                        e->foreign_during_own = true;
                log_debug("%s: opened by another process (%s).", node, e->identity);
                if (w->on_foreign)
                        w->on_foreign(w, e->identity, node, w->userdata);
                return;   /* the callback may have changed the entries */
        }
}

void device_watch_flush(DeviceWatch *w) {
        _Alignas(struct inotify_event) char buf[4096];

        if (!w)
                return;
        for (;;) {
                ssize_t n = read(w->fd, buf, sizeof(buf));

                if (n <= 0)
                        return;   /* EAGAIN: all read */
                for (char *p = buf; p < buf + n;) {
                        const struct inotify_event *ev = (const struct inotify_event *) p;

                        if (ev->mask & IN_OPEN)
                                watch_handle(w, ev);
                        p += sizeof(struct inotify_event) + ev->len;
                }
        }
}

static int on_inotify(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        device_watch_flush(userdata);
        return 0;
}

int device_watch_new(sd_event *e, DeviceWatchForeignFn on_foreign, void *userdata, DeviceWatch **ret) {
        DeviceWatch *w;
        int r;

        assert(e && ret);
        w = calloc(1, sizeof(DeviceWatch));
        if (!w)
                return -ENOMEM;
        w->on_foreign = on_foreign;
        w->userdata = userdata;
        w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (w->fd < 0) {
                r = -errno;
                free(w);
                return r;
        }
        r = sd_event_add_io(e, &w->source, w->fd, EPOLLIN, on_inotify, w);
        if (r < 0) {
                device_watch_free(w);
                return r;
        }
        /* Before bus calls: a trust decision must see every open that happened. */
        (void) sd_event_source_set_priority(w->source, SD_EVENT_PRIORITY_IMPORTANT);
        (void) sd_event_source_set_description(w->source, "device-watch");
        *ret = w;
        return 0;
}

DeviceWatch *device_watch_free(DeviceWatch *w) {
        if (!w)
                return NULL;
        for (size_t i = 0; i < w->n_entries; i++)
                watch_entry_done(w, &w->entries[i]);
        free(w->entries);
        sd_event_source_disable_unref(w->source);
        if (w->fd >= 0)
                close(w->fd);
        free(w);
        return NULL;
}

static int watch_node(DeviceWatch *w, const char *node) {
        int wd;

        if (!node)
                return -1;
        /* Follows symlinks: opens through any name reach the same inode. */
        wd = inotify_add_watch(w->fd, node, IN_OPEN);
        if (wd < 0)
                log_warning_errno(errno, "Cannot watch %s for foreign opens: %m", node);
        return wd;
}

int device_watch_add(DeviceWatch *w, const char *identity, const char *tty_node, const char *usb_node) {
        WatchEntry e = { .tty_wd = -1, .usb_wd = -1 }, *n;

        assert(w);
        if (!identity || !tty_node)
                return -EINVAL;
        device_watch_remove(w, identity);

        /* Whatever is queued belongs to the nodes as they were before. */
        device_watch_flush(w);

        e.identity = strdup(identity);
        e.tty_node = strdup(tty_node);
        e.usb_node = usb_node ? strdup(usb_node) : NULL;
        if (!e.identity || !e.tty_node || (usb_node && !e.usb_node))
                goto oom;
        n = reallocarray(w->entries, w->n_entries + 1, sizeof(WatchEntry));
        if (!n)
                goto oom;
        w->entries = n;
        e.tty_wd = watch_node(w, tty_node);
        e.usb_wd = watch_node(w, usb_node);
        w->entries[w->n_entries++] = e;
        return 0;
oom:
        free(e.identity);
        free(e.tty_node);
        free(e.usb_node);
        return -ENOMEM;
}

void device_watch_remove(DeviceWatch *w, const char *identity) {
        WatchEntry *e;

        if (!w || !identity)
                return;
        e = watch_find_identity(w, identity);
        if (!e)
                return;
        watch_entry_done(w, e);
        *e = w->entries[--w->n_entries];
}

void device_watch_own_begin(DeviceWatch *w, const char *tty_node) {
        WatchEntry *e;

        if (!w || !tty_node)
                return;
        e = watch_find_tty(w, tty_node);
        if (!e)
                return;
        /* Opens before this moment are not ours, whenever they are read. */
        device_watch_flush(w);
        e->own_expected++;
        e->own_active = true;
        e->foreign_during_own = false;
}

bool device_watch_own_end(DeviceWatch *w, const char *tty_node) {
        WatchEntry *e;
        bool foreign;

        if (!w || !tty_node)
                return false;
        /* Our open's event was queued when the worker opened the port, before it
         * could finish: read it now, or it would count as foreign later. */
        device_watch_flush(w);
        e = watch_find_tty(w, tty_node);
        if (!e)
                return false;
        foreign = e->foreign_during_own;
        /* A job that failed before opening never used its allowance. */
        e->own_expected = 0;
        e->own_active = false;
        e->foreign_during_own = false;
        return foreign;
}

void device_watch_own_foreign(DeviceWatch *w, const char *tty_node) {
        WatchEntry *e;

        if (!w || !tty_node)
                return;
        e = watch_find_tty(w, tty_node);
        if (e && e->own_active)
                e->foreign_during_own = true;
}

void device_watch_expect_own_open(DeviceWatch *w, const char *tty_node) {
        WatchEntry *e;

        if (!w || !tty_node)
                return;
        device_watch_flush(w);
        e = watch_find_tty(w, tty_node);
        if (e)
                e->own_expected++;
}

void device_watch_own_open_done(DeviceWatch *w, const char *tty_node) {
        WatchEntry *e;

        if (!w || !tty_node)
                return;
        /* The open was synchronous: its event is queued already. */
        device_watch_flush(w);
        e = watch_find_tty(w, tty_node);
        if (e && !e->own_active)
                e->own_expected = 0;
}
