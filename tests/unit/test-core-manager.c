/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The core without a bus: a Manager on this host's (real) udev, with a fake
 * front end in ManagerHooks. What the front end holds keeps the service from
 * being idle; SIGTERM-style termination asks it to stop, drains it, flushes it
 * and returns the exit code; idle exit releases through the same hooks and
 * waits until the front end says nothing more can arrive. */
#include <assert.h>
#include <signal.h>
#include <stdlib.h>

#include "manager.h"

typedef struct FrontEnd {
        size_t pending;
        unsigned terminated, drained, flushed, stopped_asked;
        bool stopped;
        unsigned stop_after_asks;       /* "released" once asked this often (0: at once) */
} FrontEnd;

static size_t fe_n_pending(void *userdata) {
        FrontEnd *f = userdata;

        return f->pending;
}

static void fe_terminate(void *userdata) {
        FrontEnd *f = userdata;

        f->terminated++;
}

static bool fe_stopped(void *userdata) {
        FrontEnd *f = userdata;

        if (++f->stopped_asked >= f->stop_after_asks)
                f->stopped = true;
        return f->stopped;
}

static int fe_drain(void *userdata) {
        FrontEnd *f = userdata;

        f->drained++;
        return 0;
}

static void fe_flush(void *userdata) {
        FrontEnd *f = userdata;

        f->flushed++;
}

static const ManagerHooks hooks = {
        .n_pending = fe_n_pending,
        .terminate = fe_terminate,
        .stopped = fe_stopped,
        .drain = fe_drain,
        .flush = fe_flush,
};

static Manager *new_manager(usec_t idle_timeout, FrontEnd *f) {
        Manager *m = NULL;
        Config c;

        config_init(&c);
        c.idle_timeout_usec = idle_timeout;
        assert(manager_new(&c, &m) == 0);
        manager_set_hooks(m, &hooks, f);
        return m;
}

static void test_pending_calls_keep_it_busy(void) {
        FrontEnd f = { .pending = 2 };
        Manager *m = new_manager(USEC_INFINITY, &f);

        assert(!manager_is_idle(m));
        f.pending = 0;
        assert(manager_is_idle(m));
        /* No hooks at all: the core alone decides, and is idle. */
        manager_set_hooks(m, NULL, NULL);
        assert(manager_is_idle(m));
        manager_free(m);
}

static void test_terminate(void) {
        FrontEnd f = { .pending = 3, .stop_after_asks = 1000 };
        Manager *m = new_manager(USEC_INFINITY, &f);

        assert(!manager_is_terminating(m));
        manager_terminate(m, 7);
        manager_terminate(m, EXIT_SUCCESS);     /* once is enough; the first failure's code stays */
        assert(manager_is_terminating(m));
        assert(f.terminated == 1);
        /* Terminating waits for jobs only, not for connections or the name. */
        assert(manager_run(m) == 7);
        assert(f.drained >= 1 && f.flushed == 1);
        manager_free(m);
}

static void test_idle_exit(void) {
        FrontEnd f = { .stop_after_asks = 1 };
        Manager *m = new_manager(10 * USEC_PER_MSEC, &f);

        assert(manager_run(m) == EXIT_SUCCESS);
        assert(f.terminated == 1);
        /* It asked whether the front end had let go, then drained and flushed. */
        assert(f.stopped && f.stopped_asked >= 1);
        assert(f.drained >= 1 && f.flushed == 1);
        assert(!manager_is_terminating(m));
        manager_free(m);
}

int main(void) {
        sigset_t mask;

        /* As main() does: the Manager takes SIGTERM and SIGINT on its loop. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        assert(sigprocmask(SIG_BLOCK, &mask, NULL) == 0);

        test_pending_calls_keep_it_busy();
        test_terminate();
        test_idle_exit();
        return 0;
}
