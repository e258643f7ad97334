/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Devices as the Manager tracks them: udev add/remove edges (announced through
 * the device hooks; trust dropped as "device-removed"), foreign opens of their
 * nodes ("foreign-open"), and re-enumeration after our own reset of USB-OTG
 * boards, which keeps trust only if the identity returns within the window. */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "device-holders.h"
#include "log.h"
#include "manager-devices.h"
#include "manager-internal.h"

static void manager_arm_reenum_timer(Manager *m, usec_t deadline);

static void on_reenum_expired(const char *identity, void *userdata) {
        Manager *m = userdata;

        log_info("%s did not come back within %llu ms of its reset.", identity,
                 (unsigned long long) (TRUST_REENUM_WINDOW_USEC / USEC_PER_MSEC));
        (void) trust_table_invalidate(m->trust, identity, TRUST_INVALIDATION_DEVICE_REMOVED);
        job_scheduler_forget_device(m->scheduler, identity);
}

static int on_reenum_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        manager_arm_reenum_timer(m, reenum_expire(m->reenum, now_usec(), on_reenum_expired, m));
        return 0;
}

static void manager_arm_reenum_timer(Manager *m, usec_t deadline) {
        int r;

        if (deadline == USEC_INFINITY) {
                if (m->reenum_timer)
                        (void) sd_event_source_set_enabled(m->reenum_timer, SD_EVENT_OFF);
                return;
        }
        /* One past the deadline: reenum_expire() treats the deadline itself as in time. */
        deadline++;
        if (m->reenum_timer) {
                r = sd_event_source_set_time(m->reenum_timer, deadline);
                if (r >= 0)
                        r = sd_event_source_set_enabled(m->reenum_timer, SD_EVENT_ONESHOT);
        } else {
                r = sd_event_add_time(m->event, &m->reenum_timer, CLOCK_MONOTONIC, deadline, 0,
                                      on_reenum_timer, m);
                if (r >= 0)
                        (void) sd_event_source_set_description(m->reenum_timer, "reenum-window");
        }
        if (r < 0)
                log_warning_errno(r, "Cannot arm the re-enumeration timer: %m");
}

static void on_device_added(DeviceMonitor *mon, const DeviceInfo *d, void *userdata) {
        Manager *m = userdata;
        int r;

        r = device_watch_add(m->watch, d->identity, d->node, d->usb_node);
        if (r < 0)
                log_warning_errno(r, "Cannot watch %s: %m", d->node);

        switch (reenum_on_add(m->reenum, d->identity, now_usec())) {
        case REENUM_RETURNED:
                log_info("%s is back as %s after our reset; trust kept.", d->identity, d->node);
                break;
        case REENUM_LATE:
                (void) trust_table_invalidate(m->trust, d->identity, TRUST_INVALIDATION_REENUMERATED);
                job_scheduler_forget_device(m->scheduler, d->identity);
                break;
        case REENUM_NOT_PENDING:
                break;
        }
        port_monitor_device_added(m->monitors, d);
        MANAGER_HOOK(m, device_added, d);
}

static void on_device_removed(DeviceMonitor *mon, const DeviceInfo *d, void *userdata) {
        Manager *m = userdata;
        bool in_job;

        device_watch_remove(m->watch, d->identity);

        in_job = job_scheduler_port_flashing(m->scheduler, d->node);
        /* Only boards whose own USB resets with the chip re-enumerate on our reset. */
        if (d->kind == DEVICE_KIND_USB_OTG && reenum_on_remove(m->reenum, d->identity, now_usec(), in_job)) {
                log_info("%s left %s after our reset; waiting for it to come back.", d->identity, d->node);
                manager_arm_reenum_timer(m, reenum_expire(m->reenum, now_usec(), on_reenum_expired, m));
        } else {
                /* What connects learnt about the board leaves with it, as trust does. */
                (void) trust_table_invalidate(m->trust, d->identity, TRUST_INVALIDATION_DEVICE_REMOVED);
                job_scheduler_forget_device(m->scheduler, d->identity);
        }

        port_monitor_device_removed(m->monitors, d);
        MANAGER_HOOK(m, device_removed, d);
}

static void on_foreign_open(DeviceWatch *w, const char *identity, const char *node, void *userdata) {
        Manager *m = userdata;

        log_info("%s opened by another process: trust for %s dropped.", node, identity);
        (void) trust_table_invalidate(m->trust, identity, TRUST_INVALIDATION_FOREIGN_OPEN);
}

static void on_monitor_own_open_begin(const char *node, void *userdata) {
        Manager *m = userdata;

        device_watch_expect_own_open(m->watch, node);
}

static void on_monitor_own_open_end(const char *node, void *userdata) {
        Manager *m = userdata;

        device_watch_own_open_done(m->watch, node);
}

static void on_monitor_paused(const char *node, void *userdata) {
        Manager *m = userdata;

        MANAGER_HOOK(m, monitor_paused, node, true);
}

static void on_monitor_resumed(const char *node, void *userdata) {
        Manager *m = userdata;

        MANAGER_HOOK(m, monitor_paused, node, false);
}

int manager_devices_init(Manager *m) {
        static const DeviceMonitorCallbacks callbacks = {
                .added = on_device_added,
                .removed = on_device_removed,
        };
        static const PortMonitorCallbacks monitor_callbacks = {
                .own_open_begin = on_monitor_own_open_begin,
                .own_open_end = on_monitor_own_open_end,
                .paused = on_monitor_paused,
                .resumed = on_monitor_resumed,
        };
        int r;

        /* The watch, the window and the monitors first: enumeration reports
         * through on_device_added. */
        m->reenum = reenum_table_new();
        if (!m->reenum)
                return -ENOMEM;
        r = device_watch_new(m->event, on_foreign_open, m, &m->watch);
        if (r < 0)
                return r;
        r = port_monitor_set_new(m->event, &monitor_callbacks, m, &m->monitors);
        if (r < 0)
                return r;
        return device_monitor_new(m->event, &callbacks, m, &m->devices);
}

void manager_devices_done(Manager *m) {
        m->monitors = port_monitor_set_free(m->monitors);
        m->devices = device_monitor_free(m->devices);
        m->watch = device_watch_free(m->watch);
        m->reenum = reenum_table_free(m->reenum);
        m->reenum_timer = sd_event_source_disable_unref(m->reenum_timer);
}

void manager_devices_flush(Manager *m) {
        device_monitor_flush(m->devices);
        device_watch_flush(m->watch);
}

/* The tty or the USB device node open in another process right now: one
 * pass over /proc for both. */
static bool device_held_elsewhere(const DeviceInfo *d) {
        const char *nodes[] = { d->node, d->usb_node };

        return device_nodes_open_elsewhere(nodes, ELEMENTSOF(nodes)) > 0;
}

void manager_devices_job_granted(Manager *m, Job *j) {
        const DeviceInfo *d;

        /* Monitors let go of the port before the job's worker opens it. */
        port_monitor_pause(m->monitors, job_port(j));
        device_watch_own_begin(m->watch, job_port(j));
        /* Whoever opened the device before this moment and holds it still (the
         * USB node, which nothing refused; the tty with the force option) can
         * talk to the chip after the job's proof and be gone by the job's end:
         * the job must not leave trust. Later opens the watch sees. */
        d = device_monitor_find_node(m->devices, job_port(j));
        if (d && device_held_elsewhere(d))
                device_watch_own_foreign(m->watch, job_port(j));
}

static void manager_note_reset(Manager *m, Job *j) {
        const DeviceInfo *d = device_monitor_find_node(m->devices, job_port(j));

        if (d && d->kind == DEVICE_KIND_USB_OTG)
                (void) reenum_note_reset(m->reenum, d->identity, now_usec());
}

void manager_devices_job_progress(Manager *m, Job *j, JobPhase phase) {
        /* Posted just before the worker resets the chip: the window starts here. */
        if (phase == JOB_PHASE_RESET)
                manager_note_reset(m, j);
}

void manager_devices_job_finished(Manager *m, Job *j) {
        const DeviceInfo *d;
        bool opened_by_others;

        /* Always called: it ends the job's window of own opens. */
        opened_by_others = device_watch_own_end(m->watch, job_port(j));

        /* Someone else opened the port while the job had it, or still holds
         * it from before: whatever the job proved may not hold any more, so
         * the trust it set must go. */
        d = device_monitor_find_node(m->devices, job_port(j));
        if (d && (opened_by_others || device_held_elsewhere(d)))
                (void) trust_table_invalidate(m->trust, d->identity, TRUST_INVALIDATION_FOREIGN_OPEN);
        /* If the job reset the chip, the chip waits in reset on the job's open
         * port: the monitors take it and let the chip boot (one boot, heard
         * from its first byte). */
        port_monitor_resume_held(m->monitors, d, job_port(j), job_take_reset_port(j), job_reset_release_at(j));
}

const char *manager_devices_port_of(Manager *m, const char *device_id) {
        const DeviceInfo *d = device_monitor_find_identity(m->devices, device_id);

        return d ? d->node : device_id;
}

/* ---- monitors ------------------------------------------------------------------- */

bool manager_monitored_by_other(Manager *m, const char *identity, uid_t uid) {
        return port_monitor_set_other_owner(m->monitors, identity, uid);
}

size_t manager_n_monitors_of(Manager *m, uid_t uid) {
        return port_monitor_set_n_clients_of(m->monitors, uid);
}

int manager_reset(Manager *m, const DeviceInfo *d, bool bootloader) {
        assert(m && d);
        /* A job resets the chip as it sees fit; a reset now would break it. */
        return port_monitor_reset(m->monitors, d, bootloader, job_scheduler_port_flashing(m->scheduler, d->node));
}

int manager_monitor_attach(Manager *m, const DeviceInfo *d, uint32_t baud, bool input, uid_t uid, int *ret_fd) {
        assert(m && d && ret_fd);
        /* A monitor that arrives during a deploy starts paused, like the others. */
        return port_monitor_attach(m->monitors, d, baud, input, job_scheduler_port_flashing(m->scheduler, d->node),
                                   uid, ret_fd);
}
