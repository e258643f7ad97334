/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Manager and the service's lifetime. Idle exit follows systemd's
 * bus_event_loop_with_idle(): any event restarts the idle timer; once idle,
 * stop accepting, release the bus name, answer what was already queued, exit
 * (the front end does its part through ManagerHooks). */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <systemd/sd-daemon.h>

#include "digest.h"
#include "log.h"
#include "manager-devices.h"
#include "manager-internal.h"
#include "page-out.h"
#include "transport-serial.h"
#include "zlib-dl.h"

/* How long the digest helpers and zlib stay after the last job while the
 * service is not idle (a monitor, a connected client): long enough for a burst
 * of deploys, short against a monitor left open all day. */
#define MANAGER_RELEASE_AFTER_JOBS_USEC (10 * USEC_PER_SEC)

static const ManagerHooks no_hooks = {};

static void on_job_progress(Job *j, JobPhase phase, uint64_t done, uint64_t total, void *userdata) {
        Manager *m = userdata;

        manager_devices_job_progress(m, j, phase);
        MANAGER_HOOK(m, job_progress, j, phase, done, total);
}

static void on_job_granted(Job *j, void *userdata) {
        manager_devices_job_granted(userdata, j);
}

static void on_job_finished(Job *j, void *userdata) {
        Manager *m = userdata;

        /* Ownership is ours: settle the device's trust, answer the caller, then let go. */
        manager_devices_job_finished(m, j);
        MANAGER_HOOK(m, job_finished, j);
        job_free(j);
}

static const JobSchedulerCallbacks scheduler_callbacks = {
        .progress = on_job_progress,
        .granted = on_job_granted,
        .finished = on_job_finished,
        .open_transport = transport_serial_open,
};

static void on_trust_changed(TrustTable *t, const char *device_id, const TrustEntry *e, void *userdata) {
        Manager *m = userdata;

        log_info("Trust for %s %s%s%s.", ESC(device_id), e->trusted ? "set" : "cleared",
                 e->trusted ? "" : ": ", e->trusted ? "" : trust_invalidation_to_string(e->last_invalidation));
        MANAGER_HOOK(m, trust_changed, manager_devices_port_of(m, device_id), e);
}

static size_t front_end_n_pending(Manager *m) {
        return m->hooks->n_pending ? m->hooks->n_pending(m->hooks_userdata) : 0;
}

static void manager_begin_exit(Manager *m) {
        if (m->exiting)
                return;
        m->exiting = true;

        (void) sd_notify(false, "STOPPING=1");
        /* Under Accept=no new connections wait in the socket for the next instance;
         * on the bus, calls to the name go to the next activation. */
        if (m->hooks->terminate)
                m->hooks->terminate(m->hooks_userdata);
}

void manager_terminate(Manager *m, int exit_code) {
        if (exit_code != EXIT_SUCCESS)
                m->exit_code = exit_code;
        if (m->terminating)
                return;
        m->terminating = true;
        manager_begin_exit(m);
        /* Each job ends with -ECANCELED: its caller is answered, trust cleared,
         * the port released. manager_run() exits once none is left. */
        job_scheduler_cancel_all(m->scheduler);
}

bool manager_is_terminating(Manager *m) {
        return m->terminating;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        const char *sig = sigabbrev_np(si->ssi_signo);

        if (m->terminating) {
                /* The workers were told; joining them is all that is left. */
                log_notice("Received SIG%s again, still waiting for %zu job(s) to stop.", sig,
                           job_scheduler_n_jobs(m->scheduler));
                return 0;
        }
        log_info("Received SIG%s, cancelling %zu job(s) and exiting.", sig,
                 job_scheduler_n_jobs(m->scheduler));
        manager_terminate(m, EXIT_SUCCESS);
        return 0;
}

int manager_new(const Config *config, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        assert(config && ret);

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->config = *config;
        m->hooks = &no_hooks;

        r = sd_event_new(&m->event);
        if (r < 0)
                return r;
        (void) sd_event_set_watchdog(m->event, true);

        /* SIGTERM and SIGINT are blocked by main() before any thread exists. */
        r = sd_event_add_signal(m->event, &m->sigterm_source, SIGTERM, on_signal, m);
        if (r < 0)
                return r;
        r = sd_event_add_signal(m->event, &m->sigint_source, SIGINT, on_signal, m);
        if (r < 0)
                return r;

        m->trust = trust_table_new(on_trust_changed, m);
        if (!m->trust)
                return -ENOMEM;
        r = job_scheduler_new(m->event, m->trust, &scheduler_callbacks, m, &m->scheduler);
        if (r < 0)
                return r;
        /* Enumeration reports the devices already present through device_added:
         * nobody is connected yet to hear it. */
        r = manager_devices_init(m);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(m);
        return 0;
}

void manager_set_hooks(Manager *m, const ManagerHooks *hooks, void *userdata) {
        assert(m);
        m->hooks = hooks ?: &no_hooks;
        m->hooks_userdata = userdata;
}

void manager_stop(Manager *m) {
        if (!m)
                return;
        /* Jobs first, while their callers and the trust table can still be told. */
        m->scheduler = job_scheduler_free(m->scheduler);
        manager_devices_done(m);
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;

        manager_stop(m);
        /* The jobs are gone, so every helper is idle: none outlives us. */
        m->release_timer = sd_event_source_disable_unref(m->release_timer);
        (void) digest_helpers_stop();
        m->trust = trust_table_free(m->trust);
        m->sigterm_source = sd_event_source_disable_unref(m->sigterm_source);
        m->sigint_source = sd_event_source_disable_unref(m->sigint_source);
        m->event = sd_event_unref(m->event);
        free(m);
        return NULL;
}

sd_event *manager_get_event(Manager *m) {
        return m->event;
}

const Config *manager_get_config(Manager *m) {
        return &m->config;
}

bool manager_is_idle(Manager *m) {
        /* Every call still waiting for its answer is a job, or pending in the front
         * end (a polkit check, an open). */
        return job_scheduler_n_jobs(m->scheduler) == 0 && front_end_n_pending(m) == 0 &&
                port_monitor_set_n_clients(m->monitors) == 0;
}

/* Whether trust is held for a board that is attached now: trust dies with the
 * process, so that is what a longer stay preserves. */
static bool manager_holds_trust(Manager *m) {
        const DeviceInfo *devices;
        size_t n;
        int enabled;

        /* A board re-enumerating after our own reset is away for a moment and
         * keeps its trust: the window's timer ends the question either way. */
        if (m->reenum_timer && sd_event_source_get_enabled(m->reenum_timer, &enabled) >= 0 &&
            enabled != SD_EVENT_OFF)
                return true;

        devices = device_monitor_devices(m->devices, &n);
        for (size_t i = 0; i < n; i++)
                if (trust_table_get(m->trust, manager_device_trust_key(&devices[i])).trusted)
                        return true;
        return false;
}

/* Idle this long, then exit. Re-chosen on every loop iteration, so trust that
 * is dropped (an event) shortens the stay from that moment. */
static usec_t manager_idle_timeout(Manager *m) {
        usec_t idle = m->config.idle_timeout_usec, trusted = m->config.trust_idle_timeout_usec;

        if (trusted == 0 || trusted <= idle || !manager_holds_trust(m))
                return idle;
        return trusted;
}

static bool manager_can_exit(Manager *m) {
        if (job_scheduler_n_jobs(m->scheduler) > 0)
                return false;
        if (m->terminating)
                return true;
        return front_end_n_pending(m) == 0 && port_monitor_set_n_clients(m->monitors) == 0 &&
                (!m->hooks->stopped || m->hooks->stopped(m->hooks_userdata));
}

/* What only jobs use, given back once none runs: zlib (no job compressing),
 * the digest helpers (zlib first, so that no helper left means both are
 * gone), then the free memory of the heap. */
static void manager_release_job_resources(void) {
        zlib_dl_unload();
        (void) digest_helpers_stop();
        (void) malloc_trim(0);
}

static int on_release_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        if (job_scheduler_n_jobs(m->scheduler) == 0)
                manager_release_job_resources();
        return 0;
}

/* A monitor or a connected client can keep the service from going idle for
 * hours: what only jobs use goes a while after the last job rather than with
 * the idle spell. */
static void manager_arm_release_timer(Manager *m) {
        int enabled = SD_EVENT_OFF, r;
        uint64_t now;

        if (job_scheduler_n_jobs(m->scheduler) > 0 || digest_helpers_running() == 0)
                return;
        if (m->release_timer && sd_event_source_get_enabled(m->release_timer, &enabled) >= 0 &&
            enabled != SD_EVENT_OFF)
                return;
        r = sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return;
        if (m->release_timer) {
                r = sd_event_source_set_time(m->release_timer, now + MANAGER_RELEASE_AFTER_JOBS_USEC);
                if (r >= 0)
                        r = sd_event_source_set_enabled(m->release_timer, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time(m->event, &m->release_timer, CLOCK_MONOTONIC,
                                      now + MANAGER_RELEASE_AFTER_JOBS_USEC, 0, on_release_timer, m);
        if (r < 0)
                log_debug_errno(r, "Cannot arm the timer that releases what jobs used: %m");
}

/* How long until this idle spell pages out: only when the service stays longer
 * than PageOutIdleSec= (holding trust); without trust it exits first. */
static usec_t manager_page_out_in(Manager *m, usec_t timeout, usec_t quiet) {
        usec_t after = m->config.page_out_idle_usec;

        if (after == 0 || after >= timeout)
                return USEC_INFINITY;
        return after > quiet ? after - quiet : 0;
}

static PagedOut *manager_page_out(void) {
        PagedOut *p = NULL;
        uint64_t kib;
        int r;

        r = page_out_file_pages(&p, &kib);
        if (r < 0)
                log_debug_errno(r, "Cannot page out the idle service's code: %m");
        else
                log_debug("Idle: paged out code and read-only data (%" PRIu64 " KiB were resident).", kib);
        return p;
}

int manager_run(Manager *m) {
        bool trimmed = false, paged_out = false;
        usec_t quiet = 0;       /* of this idle spell: waited since its last event */
        PagedOut *paged = NULL; /* until the next event */
        int r, code;

        for (;;) {
                usec_t timeout, wait, page_out_in = USEC_INFINITY;
                bool at_rest, idle;

                r = sd_event_get_state(m->event);
                if (r < 0)
                        return log_error_errno(r, "Event loop failed: %m");
                if (r == SD_EVENT_FINISHED)
                        break;

                if (m->exiting && manager_can_exit(m)) {
                        /* Calls routed to us before the name went away are answered,
                         * not dropped; one of them may start a job and keep us. */
                        if ((m->hooks->drain && m->hooks->drain(m->hooks_userdata) > 0) || !manager_can_exit(m))
                                continue;
                        break;
                }

                at_rest = !m->exiting && manager_is_idle(m);
                timeout = at_rest ? manager_idle_timeout(m) : USEC_INFINITY;
                idle = at_rest && timeout != USEC_INFINITY;
                /* Going idle (with trust held, for up to half an hour): give back
                 * what the jobs used, once per idle spell, rather than keep it
                 * until the exit. */
                if (idle && !trimmed)
                        manager_release_job_resources();
                else if (!idle)
                        manager_arm_release_timer(m);
                trimmed = idle;
                if (at_rest && !paged_out)
                        page_out_in = manager_page_out_in(m, timeout, quiet);
                /* Every event restarts the idle countdown; quiet is what has
                 * passed of it since, when the page-out split the wait. */
                wait = MIN(page_out_in, idle ? (timeout > quiet ? timeout - quiet : 0) : USEC_INFINITY);
                r = sd_event_run(m->event, wait == USEC_INFINITY ? UINT64_MAX : wait);
                if (r != 0 || !at_rest) {
                        /* Something to do: normal readahead again, a new quiet spell. */
                        paged = page_out_end(paged);
                        quiet = 0;
                        paged_out = false;
                        if (r < 0)
                                return log_error_errno(r, "Event loop failed: %m");
                        continue;
                }
                quiet += wait;
                if (wait == page_out_in) {
                        paged = manager_page_out();
                        paged_out = true;
                        continue;
                }
                if (idle) {
                        log_info("Idle for %llu ms%s, exiting.", (unsigned long long) (timeout / USEC_PER_MSEC),
                                 timeout != m->config.idle_timeout_usec ? " holding trust" : "");
                        manager_begin_exit(m);
                }
        }

        paged = page_out_end(paged);
        if (m->hooks->flush)
                m->hooks->flush(m->hooks_userdata);
        code = m->exit_code;
        if (sd_event_get_state(m->event) == SD_EVENT_FINISHED)
                (void) sd_event_get_exit_code(m->event, &code);
        return code;
}
