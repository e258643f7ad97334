/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The part of the transport shared by every implementation: the interrupt
 * eventfd that lets another thread cancel a blocking read or write. */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "macro.h"
#include "transport.h"

int transport_init(Transport *t, const TransportOps *ops) {
        int fd;

        assert(t && ops);

        /* Non-blocking so that transport_interrupt() never blocks, even when the
         * counter is already high; close-on-exec so that children never inherit it. */
        fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd < 0)
                return -errno;

        *t = (Transport) {
                .ops = ops,
                .interrupt_fd = fd,
        };
        return 0;
}

void transport_deinit(Transport *t) {
        if (!t)
                return;
        t->interrupt_fd = safe_close(t->interrupt_fd);
}

void transport_interrupt(Transport *t) {
        uint64_t one = 1;

        if (!t || t->interrupt_fd < 0)
                return;
        /* write(2) on an eventfd is atomic, hence thread-safe. EAGAIN only means
         * the counter is saturated: it is readable already. */
        (void) !write(t->interrupt_fd, &one, sizeof(one));
}

bool transport_is_interrupted(Transport *t) {
        struct pollfd p;

        if (!t || t->interrupt_fd < 0)
                return false;

        /* Never consume the counter: an interrupt stays in force for every later op. */
        p = (struct pollfd) { .fd = t->interrupt_fd, .events = POLLIN };
        return poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

Transport *transport_free(Transport *t) {
        if (!t)
                return NULL;
        /* Each implementation releases its own resources and then calls
         * transport_deinit(). */
        if (t->ops && t->ops->free)
                t->ops->free(t);
        return NULL;
}
