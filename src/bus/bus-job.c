/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.fbuild.Deploy1.Job: one object per Verify or DeployRegions while it is
 * queued or running (like importd's transfers), its progress as properties,
 * and Cancel on the job itself. The call keeps its reply (bus-deploy.c). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-context.h"
#include "bus-creds.h"
#include "bus-error.h"
#include "bus-job.h"
#include "bus-polkit.h"
#include "bus-util.h"
#include "log.h"

int bus_job_new(BusContext *b, JobKind kind, const char *port, uid_t uid, sd_bus_message *call, BusJob **ret) {
        _cleanup_(bus_job_freep) BusJob *j = NULL;

        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->bus = b;
        j->id = ++b->last_job_id;
        j->kind = kind;
        j->uid = uid;
        j->phase = JOB_PHASE_HASH;
        if (asprintf(&j->path, BUS_JOB_PATH_PREFIX "/%" PRIu32, j->id) < 0) {
                j->path = NULL;
                return -ENOMEM;
        }
        j->port = strdup(port);
        if (!j->port)
                return -ENOMEM;
        j->call = sd_bus_message_ref(call);
        *ret = TAKE_PTR(j);
        return 0;
}

static bool bus_job_is_listed(BusJob *j) {
        return j->prev || j->bus->jobs == j;
}

BusJob *bus_job_free(BusJob *j) {
        if (!j)
                return NULL;
        if (bus_job_is_listed(j)) {
                if (j->prev)
                        j->prev->next = j->next;
                else
                        j->bus->jobs = j->next;
                if (j->next)
                        j->next->prev = j->prev;
        }
        sd_bus_message_unref(j->call);
        free(j->port);
        free(j->path);
        free(j);
        return NULL;
}

void bus_job_publish(BusJob *j) {
        BusContext *b = j->bus;

        if (bus_job_is_listed(j))
                return;
        /* At the end, so that ListJobs lists them in the order they came. */
        if (!b->jobs)
                b->jobs = j;
        else {
                BusJob *last = b->jobs;

                while (last->next)
                        last = last->next;
                last->next = j;
                j->prev = last;
        }
}

int bus_job_announce(BusJob *j) {
        _cleanup_bus_message_unref_ sd_bus_message *s = NULL;
        sd_bus *bus = sd_bus_message_get_bus(j->call);
        const char *sender = sd_bus_message_get_sender(j->call);
        int r;

        /* To the caller alone: it learns which job is its own before any of the
         * job's Progress (same connection, so in order). Peer-to-peer the
         * connection is the caller. */
        r = sd_bus_message_new_signal(bus, &s, BUS_OBJECT_PATH, BUS_INTERFACE, "JobQueued");
        if (r < 0)
                return r;
        if (sender) {
                r = sd_bus_message_set_destination(s, sender);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_append(s, "os", j->path, j->port);
        if (r < 0)
                return r;
        return sd_bus_send(bus, s, NULL);
}

/* ---- progress ------------------------------------------------------------------ */

static int send_properties_changed(sd_bus *bus, void *userdata) {
        const BusJob *j = userdata;
        int r;

        r = sd_bus_emit_properties_changed(bus, j->path, BUS_JOB_INTERFACE,
                                           "Phase", "Progress", "BytesDone", "BytesTotal", NULL);
        if (r < 0)
                log_full_errno(bus_error_is_disconnect(r) ? LOG_DEBUG : LOG_WARNING, r,
                               "Failed to emit PropertiesChanged for %s: %m", j->path);
        return 0;
}

static int send_progress(sd_bus *bus, void *userdata) {
        const BusJob *j = userdata;
        int r;

        r = sd_bus_emit_signal(bus, BUS_OBJECT_PATH, BUS_INTERFACE, "Progress", "sstto",
                               j->port, job_phase_to_string(j->phase), j->done, j->total, j->path);
        if (r < 0)
                log_full_errno(bus_error_is_disconnect(r) ? LOG_DEBUG : LOG_WARNING, r,
                               "Failed to emit Progress: %m");
        return send_properties_changed(bus, userdata);
}

void bus_job_progress(BusJob *j, JobPhase phase, uint64_t done, uint64_t total) {
        j->phase = phase;
        j->done = done;
        j->total = total;
        /* The core's progress is throttled already (64 KiB, coalesced): the
         * properties change at the pace of the signal. */
        (void) bus_context_foreach(j->bus, send_progress, j);
}

void bus_job_finish(BusJob *j) {
        /* No Progress for it: the reply says how the job ended. */
        j->phase = JOB_PHASE_DONE;
        (void) bus_context_foreach(j->bus, send_properties_changed, j);
}

/* ---- the object ---------------------------------------------------------------- */

static BusJob *bus_job_by_path(BusContext *b, const char *path) {
        for (BusJob *j = b->jobs; j; j = j->next)
                if (streq(j->path, path))
                        return j;
        return NULL;
}

static int job_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                           void **ret_found, sd_bus_error *error) {
        BusJob *j = bus_job_by_path(userdata, path);

        if (!j)
                return 0;
        *ret_found = j;
        return 1;
}

static int job_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***ret_nodes,
                               sd_bus_error *error) {
        BusContext *b = userdata;
        char **nodes;
        size_t n = 0, i = 0;

        for (BusJob *j = b->jobs; j; j = j->next)
                n++;
        nodes = calloc(n + 1, sizeof(char *));
        if (!nodes)
                return -ENOMEM;
        for (BusJob *j = b->jobs; j; j = j->next) {
                nodes[i] = strdup(j->path);
                if (!nodes[i]) {
                        for (size_t k = 0; k < i; k++)
                                free(nodes[k]);
                        free(nodes);
                        return -ENOMEM;
                }
                i++;
        }
        *ret_nodes = nodes;
        return 0;
}

static int property_get_kind(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        BusJob *j = userdata;

        return sd_bus_message_append(reply, "s", job_kind_to_string(j->kind));
}

static int property_get_phase(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        BusJob *j = userdata;

        return sd_bus_message_append(reply, "s", job_phase_to_string(j->phase));
}

static int property_get_progress(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        BusJob *j = userdata;

        /* Of the current phase, as Progress' done/total. */
        return sd_bus_message_append(reply, "d", j->total > 0 ? (double) j->done / (double) j->total : 0.0);
}

static bool job_is(Job *job, void *userdata) {
        return job_get_userdata(job) == userdata;
}

/* The manager's Cancel rule for one job: the caller's own job with
 * manage-trust, another user's with manage-others; root cancels any. */
static int cancel_job(sd_bus_message *message, BusJob *j, sd_bus_error *error) {
        _cleanup_(sd_bus_error_free) sd_bus_error denied = SD_BUS_ERROR_NULL;
        BusContext *b = j->bus;
        const char *action;
        char outcome[32];
        uid_t uid;
        int r;

        r = bus_sender_uid(message, &uid);
        if (r < 0)
                return bus_error_set_errnof(error, EACCES, "Cannot determine the caller's user: %s", strerror(-r));

        /* The second dispatch asks what the first asked. */
        action = bus_polkit_asked_action(b, message) ?:
                (uid == j->uid ? POLKIT_ACTION_MANAGE_TRUST : POLKIT_ACTION_MANAGE_OTHERS);
        r = bus_polkit_verify(b, message, action, &denied);
        if (r < 0) {
                if (streq(action, POLKIT_ACTION_MANAGE_OTHERS))
                        return sd_bus_error_setf(error, BUS_ERROR_PERMISSION_DENIED,
                                                 "Job %s belongs to another user; cancelling it needs %s (%s)",
                                                 j->path, POLKIT_ACTION_MANAGE_OTHERS, strempty(denied.message));
                (void) sd_bus_error_copy(error, &denied);
                return r;
        }
        if (r == 0)
                return 1;       /* polkit decides; this call comes back then */

        /* Idempotent: a job already cancelling is not an error. */
        r = manager_cancel_jobs(b->manager, j->port, job_is, j);
        if (r < 0)
                return bus_error_set_errnof(error, r, "Cannot cancel %s: %m", j->path);
        (void) snprintf(outcome, sizeof(outcome), "cancelled:%d", r);
        log_fields(LOG_INFO, LOG_FIELDS(.port = j->port, .caller_uid = &uid, .outcome = outcome),
                   "Cancelled %s (%s on %s of uid %d) for uid %d.", j->path, job_kind_to_string(j->kind),
                   ESC(j->port), (int) j->uid, (int) uid);
        return sd_bus_reply_method_return(message, NULL);
}

static int method_job_cancel(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        BusJob *j = userdata;
        int r;

        r = cancel_job(message, j, error);
        if (r < 0) {
                uid_t uid = (uid_t) -1;

                (void) bus_sender_uid(message, &uid);
                log_fields(LOG_NOTICE, LOG_FIELDS(.port = j->port, .caller_uid = &uid, .outcome = "refused"),
                           "Cancel of %s refused for uid %d: %s", j->path, (int) uid,
                           sd_bus_error_is_set(error) ? ESC(error->name) : strerror(ERRNO_ABS(r)));
        }
        return r;
}

static const sd_bus_vtable bus_job_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Id", "u", NULL, offsetof(BusJob, id), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Kind", "s", property_get_kind, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Port", "s", NULL, offsetof(BusJob, port), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Uid", "u", NULL, offsetof(BusJob, uid), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Phase", "s", property_get_phase, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Progress", "d", property_get_progress, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("BytesDone", "t", NULL, offsetof(BusJob, done), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("BytesTotal", "t", NULL, offsetof(BusJob, total), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("Cancel",
                                SD_BUS_NO_ARGS,
                                SD_BUS_NO_RESULT,
                                method_job_cancel,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

int bus_job_add_objects(sd_bus *bus, BusContext *b) {
        int r;

        r = sd_bus_add_fallback_vtable(bus, NULL, BUS_JOB_PATH_PREFIX, BUS_JOB_INTERFACE, bus_job_vtable,
                                       job_object_find, b);
        if (r < 0)
                return r;
        return sd_bus_add_node_enumerator(bus, NULL, BUS_JOB_PATH_PREFIX, job_node_enumerator, b);
}

int bus_job_method_list(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_bus_message_unref_ sd_bus_message *reply = NULL;
        BusContext *b = userdata;
        int r;

        r = sd_bus_message_new_method_return(message, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(usssuo)");
        if (r < 0)
                return r;
        for (BusJob *j = b->jobs; j; j = j->next) {
                r = sd_bus_message_append(reply, "(usssuo)", j->id, job_kind_to_string(j->kind), j->port,
                                          job_phase_to_string(j->phase), (uint32_t) j->uid, j->path);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_message_send(reply);
}
