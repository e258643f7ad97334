/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Foreign-open detection on plain files standing in for a tty and a USB device
 * node: an open announced as the service's own does not count, any other open
 * (of either node, inside or outside the service's window) does. */

#include <assert.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device-watch.h"
#include "macro.h"

#define ID "usb:10c4:ea60:0001"

typedef struct Seen {
        unsigned n;
        char node[256];
} Seen;

static void on_foreign(DeviceWatch *w, const char *identity, const char *node, void *userdata) {
        Seen *s = userdata;

        assert(strcmp(identity, ID) == 0);
        s->n++;
        assert(strlen(node) < sizeof(s->node));
        strcpy(s->node, node);
}

static void touch_open(const char *path) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        assert(fd >= 0);
        close(fd);
}

int main(void) {
        char dir[] = "/tmp/test-device-watch.XXXXXX", tty[300], usb[300];
        sd_event *e = NULL;
        DeviceWatch *w = NULL;
        Seen s = {};
        int fd;

        assert(mkdtemp(dir));
        snprintf(tty, sizeof(tty), "%s/ttyUSB0", dir);
        snprintf(usb, sizeof(usb), "%s/usb-001-002", dir);
        for (const char *p = tty; p; p = p == tty ? usb : NULL) {
                fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
                assert(fd >= 0);
                close(fd);
        }

        assert(sd_event_new(&e) >= 0);
        assert(device_watch_new(e, on_foreign, &s, &w) == 0);
        assert(device_watch_add(w, ID, tty, usb) == 0);

        /* Our own open, announced: not foreign, and nothing seen during it. */
        device_watch_own_begin(w, tty);
        touch_open(tty);
        assert(!device_watch_own_end(w, tty));
        assert(s.n == 0);

        /* Another process's open of the tty. */
        touch_open(tty);
        device_watch_flush(w);
        assert(s.n == 1 && strcmp(s.node, tty) == 0);

        /* … of the USB device node, also inside our window (and reported at its end). */
        device_watch_own_begin(w, tty);
        touch_open(tty);
        touch_open(usb);
        device_watch_flush(w);
        assert(s.n == 2 && strcmp(s.node, usb) == 0);
        assert(device_watch_own_end(w, tty));

        /* A second open of the tty inside the window is not ours. (Read in
         * between: inotify merges identical events left unread; the event loop
         * reads our own open as soon as it is queued.) */
        device_watch_own_begin(w, tty);
        touch_open(tty);
        device_watch_flush(w);
        touch_open(tty);
        assert(device_watch_own_end(w, tty));
        assert(s.n == 3);

        /* A holder from before the window, marked foreign in it: reported at
         * its end, though no foreign open happened inside it. */
        device_watch_own_begin(w, tty);
        device_watch_own_foreign(w, tty);
        touch_open(tty);
        assert(device_watch_own_end(w, tty));
        assert(s.n == 3);

        /* A job that never opened leaves no allowance behind. */
        device_watch_own_begin(w, tty);
        assert(!device_watch_own_end(w, tty));
        touch_open(tty);
        device_watch_flush(w);
        assert(s.n == 4);

        /* The event loop delivers too. */
        touch_open(usb);
        assert(sd_event_run(e, 5 * 1000 * 1000) > 0);
        assert(s.n == 5);

        /* Unwatched: nothing. */
        device_watch_remove(w, ID);
        touch_open(tty);
        device_watch_flush(w);
        assert(s.n == 5);

        device_watch_free(w);
        sd_event_unref(e);
        unlink(tty);
        unlink(usb);
        rmdir(dir);
        return 0;
}
