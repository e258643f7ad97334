/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Manager and the service's lifetime. Idle exit follows systemd's
 * bus_event_loop_with_idle(): any event restarts the idle timer; once idle,
 * stop accepting, release the bus name, answer what was already queued, exit. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "manager-devices.h"
#include "manager.h"

static void on_job_progress(Job *j, JobPhase phase, uint64_t done, uint64_t total, void *userdata) {
        manager_devices_job_progress(userdata, j, phase);
        bus_deploy_emit_progress(userdata, j, phase, done, total);
}

static void on_job_granted(Job *j, void *userdata) {
        manager_devices_job_granted(userdata, j);
}

static void on_job_finished(Job *j, void *userdata) {
        /* Ownership is ours: settle the device's trust, answer the caller, then let go. */
        manager_devices_job_finished(userdata, j);
        bus_deploy_job_finished(userdata, j);
        job_free(j);
}

static const JobSchedulerCallbacks scheduler_callbacks = {
        .progress = on_job_progress,
        .granted = on_job_granted,
        .finished = on_job_finished,
};

static void on_trust_changed(TrustTable *t, const char *device_id, const TrustEntry *e, void *userdata) {
        Manager *m = userdata;

        log_info("Trust for %s %s%s%s.", ESC(device_id), e->trusted ? "set" : "cleared",
                 e->trusted ? "" : ": ", e->trusted ? "" : trust_invalidation_to_string(e->last_invalidation));
        bus_deploy_emit_trust_changed(m, manager_devices_port_of(m, device_id), e);
}

static void manager_begin_exit(Manager *m) {
        int r;

        if (m->exiting)
                return;
        m->exiting = true;

        (void) sd_notify(false, "STOPPING=1");
        /* Under Accept=no new connections wait in the socket for the next instance;
         * on the bus, calls to the name go to the next activation. */
        bus_context_stop_listening(m->bus);
        r = bus_context_release_name(m->bus);
        if (r < 0)
                log_warning_errno(r, "Failed to release the bus name: %m");
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

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->config = *config;

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
        r = bus_context_new(m, m->event, &m->bus);
        if (r < 0)
                return r;
        r = manager_devices_init(m);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;

        /* Jobs first, while their callers and the trust table can still be told. */
        m->scheduler = job_scheduler_free(m->scheduler);
        manager_devices_done(m);
        m->bus = bus_context_free(m->bus);
        m->trust = trust_table_free(m->trust);
        m->sigterm_source = sd_event_source_disable_unref(m->sigterm_source);
        m->sigint_source = sd_event_source_disable_unref(m->sigint_source);
        m->event = sd_event_unref(m->event);
        free(m);
        return NULL;
}

int manager_start(Manager *m, const int *listen_fds, size_t n_listen_fds) {
        int r;

        for (size_t i = 0; i < n_listen_fds; i++) {
                r = bus_context_add_listener(m->bus, listen_fds[i]);
                if (r < 0)
                        return log_error_errno(r, "Failed to serve listening socket %d: %m", listen_fds[i]);
        }

        r = bus_context_connect_system(m->bus);
        if (r < 0) {
                if (n_listen_fds == 0) {
                        log_error_errno(r, "Cannot connect to the system bus (%m) and no listening socket was "
                                        "passed (start via fbuild-deployd.socket or D-Bus activation): "
                                        "nothing to serve.");
                        return -ENOTCONN;
                }
                log_info_errno(r, "No system bus (%m); serving peer-to-peer only.");
        }

        if (m->config.idle_timeout_usec == USEC_INFINITY)
                log_debug("Serving on %zu socket(s)%s; no idle exit.", n_listen_fds,
                          r >= 0 ? " and the system bus" : "");
        else
                log_debug("Serving on %zu socket(s)%s; idle exit after %llu ms.", n_listen_fds,
                          r >= 0 ? " and the system bus" : "",
                          (unsigned long long) (m->config.idle_timeout_usec / USEC_PER_MSEC));
        return 0;
}

bool manager_is_idle(Manager *m) {
        /* Every call still waiting for its answer is a job or a polkit check. */
        return job_scheduler_n_jobs(m->scheduler) == 0 && bus_context_n_peers(m->bus) == 0 &&
                bus_context_n_polkit_queries(m->bus) == 0 && port_monitor_set_n_clients(m->monitors) == 0;
}

static bool manager_can_exit(Manager *m) {
        if (job_scheduler_n_jobs(m->scheduler) > 0)
                return false;
        if (m->terminating)
                return true;
        return bus_context_n_peers(m->bus) == 0 && bus_context_n_polkit_queries(m->bus) == 0 &&
                port_monitor_set_n_clients(m->monitors) == 0 && bus_context_name_released(m->bus);
}

int manager_run(Manager *m) {
        int r, code;

        for (;;) {
                bool idle;

                r = sd_event_get_state(m->event);
                if (r < 0)
                        return log_error_errno(r, "Event loop failed: %m");
                if (r == SD_EVENT_FINISHED)
                        break;

                if (m->exiting && manager_can_exit(m)) {
                        /* Calls routed to us before the name went away are answered,
                         * not dropped; one of them may start a job and keep us. */
                        if (bus_context_drain(m->bus) > 0 || !manager_can_exit(m))
                                continue;
                        break;
                }

                idle = !m->exiting && m->config.idle_timeout_usec != USEC_INFINITY && manager_is_idle(m);
                r = sd_event_run(m->event, idle ? m->config.idle_timeout_usec : UINT64_MAX);
                if (r < 0)
                        return log_error_errno(r, "Event loop failed: %m");
                if (r == 0 && idle) {
                        log_info("Idle for %llu ms, exiting.",
                                 (unsigned long long) (m->config.idle_timeout_usec / USEC_PER_MSEC));
                        manager_begin_exit(m);
                }
        }

        bus_context_flush(m->bus);
        code = m->exit_code;
        if (sd_event_get_state(m->event) == SD_EVENT_FINISHED)
                (void) sd_event_get_exit_code(m->event, &code);
        return code;
}

void manager_port_done(ManagerPort *p) {
        free(p->node);
        free(p->device_id);
        *p = (ManagerPort) { .kind = _DEVICE_KIND_INVALID };
}

const char *manager_port_job_trust_key(const ManagerPort *p) {
        return p->kind == _DEVICE_KIND_INVALID ? NULL : p->device_id;
}

const char *manager_device_trust_key(const DeviceInfo *d) {
        /* The identity follows the board across ports and re-enumeration. */
        return d->identity;
}

int manager_resolve_port(Manager *m, const char *port, bool must_exist, ManagerPort *ret) {
        _cleanup_(manager_port_done) ManagerPort p = { .kind = _DEVICE_KIND_INVALID };
        DeviceInfo d = {};
        const char *removed;
        struct stat st;
        int r;

        if (!port || port[0] != '/')
                return -ENODEV;

        /* Every remove and foreign open that happened before this call counts. */
        manager_devices_flush(m);
        r = device_lookup(port, &d);
        if (r >= 0) {
                p.node = strdup(d.node);
                p.device_id = p.node ? strdup(manager_device_trust_key(&d)) : NULL;
                p.kind = d.kind;
                device_info_done(&d);
        } else if (r != -ENODEV && r != -ENOENT && r != -ENOTDIR)
                return r;
        else if (stat(port, &st) >= 0 && S_ISCHR(st.st_mode)) {
                /* Not a USB serial device udev knows; a plain character device
                 * (a bare UART) is still a port. Canonical, so that one port is
                 * one key however the caller spells it. */
                p.node = realpath(port, NULL);
                if (!p.node)
                        return errno == ENOMEM ? -ENOMEM : -ENODEV;
                /* A device that was here keeps its identity's trust state. */
                p.device_id = strdup(device_monitor_removed_identity(m->devices, p.node) ?: p.node);
        } else if (!must_exist && (removed = device_monitor_removed_identity(m->devices, port))) {
                /* Gone, but recently here: its trust state says why it was lost.
                 * Only the few nodes udev reported removed get here, so a caller
                 * cannot make up names that the service then keeps. */
                p.node = strdup(port);
                p.device_id = p.node ? strdup(removed) : NULL;
        } else
                return -ENODEV;
        if (!p.node || !p.device_id)
                return -ENOMEM;

        *ret = p;
        p = (ManagerPort) { .kind = _DEVICE_KIND_INVALID };
        return 0;
}

EspResetStrategy manager_default_reset(DeviceKind kind) {
        return kind == DEVICE_KIND_USB_SERIAL_JTAG ? ESP_RESET_USB_JTAG : ESP_RESET_CLASSIC;
}
