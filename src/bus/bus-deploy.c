/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.fbuild.Deploy1: handlers read → validate → authorize → translate →
 * delegate to the core (src/core/manager.h) → reply. Verify and DeployRegions
 * reply when their job ends (the core's job_finished hook): the call's message
 * rides on the job's bus object (bus-job.c), the core job's userdata. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bus-context.h"
#include "bus-creds.h"
#include "bus-deploy.h"
#include "bus-devices.h"
#include "bus-error.h"
#include "bus-job.h"
#include "bus-monitor.h"
#include "bus-open.h"
#include "bus-polkit.h"
#include "bus-request.h"
#include "bus-util.h"
#include "bus-validate.h"
#include "device-enum.h"
#include "device-holders.h"
#include "log.h"

#ifndef PROJECT_VERSION
#  error "PROJECT_VERSION must be defined by the build"
#endif

/* ---- methods ------------------------------------------------------------------ */

static int append_device(sd_bus_message *reply, Manager *m, const DeviceInfo *d) {
        int r;

        r = sd_bus_message_open_container(reply, 'r', "sa{sv}");
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "s", d->node);
        if (r < 0)
                return r;
        r = bus_device_append_properties(reply, m, d);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

static int method_list_devices(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_bus_message_unref_ sd_bus_message *reply = NULL;
        BusContext *b = userdata;
        Manager *m = b->manager;
        const DeviceInfo *devices;
        size_t n;
        int r;

        devices = manager_list_devices(m, &n);

        r = sd_bus_message_new_method_return(message, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(sa{sv})");
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                r = append_device(reply, m, &devices[i]);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_message_send(reply);
}

/* A Verify or DeployRegions between its checks and its job, while its region
 * paths are opened as the caller (bus-open.c). */
typedef struct JobRequest {
        BusContext *bus;
        JobKind kind;
        ManagerPort port;
        ManagerJobOptions options;
        BusJobCharge charge;    /* the caller's job slot, taken from the start */
} JobRequest;

static void job_request_free(void *userdata) {
        JobRequest *req = userdata;

        if (!req)
                return;
        bus_job_charge_done(&req->charge);
        manager_port_done(&req->port);
        free((char *) req->options.job.stub_json);     /* the job took a copy */
        free(req);
}

static int job_request_submit(JobRequest *req, sd_bus_message *call, Image *image, sd_bus_error *error) {
        _cleanup_(image_freep) Image *img = image;
        _cleanup_(bus_job_freep) BusJob *job = NULL;
        Manager *m = req->bus->manager;
        uid_t owner;
        int r;

        r = bus_refuse_when_terminating(m, error);
        if (r < 0)
                return r;
        /* The first of the two flash size checks (the second at connect): what
         * the last connect on the port learnt rejects an image before it waits. */
        r = bus_image_validate(img, manager_known_flash_size(m, req->port.node), error);
        if (r < 0)
                return r;

        /* Whose job it is was settled with its slot; unknown: nobody's but an admin's. */
        if (bus_job_owner(&req->bus->job_owners, call, &owner) < 0)
                owner = (uid_t) -1;
        r = bus_job_new(req->bus, req->kind, req->port.node, owner, call, &job);
        if (r < 0)
                return r;
        /* The job object holds the call until bus_deploy_job_finished() replies;
         * it is listed before the core can report on it. */
        bus_job_publish(job);
        r = manager_submit_job(m, req->kind, &req->port, TAKE_PTR(img), &req->options, job);
        if (r < 0)
                return bus_error_set_errnof(error, r, "Cannot queue the %s on %s: %m",
                                            job_kind_to_string(req->kind), req->port.node);
        bus_job_charge_keep(&req->charge);      /* given back in bus_deploy_job_finished() */
        r = bus_job_announce(job);
        if (r < 0)
                log_full_errno(bus_error_is_disconnect(r) ? LOG_DEBUG : LOG_WARNING, r,
                               "Failed to announce %s to its caller: %m", job->path);
        TAKE_PTR(job);  /* the core's now, until job_finished */
        log_debug("Queued a %s on %s for %s.", job_kind_to_string(req->kind), ESC(req->port.node),
                  ESC(bus_message_origin(call)));
        return 0;
}

static void on_regions_opened(sd_bus_message *call, Image *img, const sd_bus_error *open_error, void *userdata) {
        _cleanup_bus_error_free_ sd_bus_error error = SD_BUS_ERROR_NULL;
        JobRequest *req = userdata;
        int r;

        if (!img)
                r = sd_bus_reply_method_error(call, open_error);
        else {
                r = job_request_submit(req, call, img, &error);
                if (r >= 0)
                        return;
                if (sd_bus_error_is_set(&error))
                        r = sd_bus_reply_method_error(call, &error);
                else
                        r = bus_reply_errnof(call, r, "Cannot queue the %s: %m", job_kind_to_string(req->kind));
        }
        if (r < 0)
                log_full_errno(bus_error_is_disconnect(r) ? LOG_DEBUG : LOG_WARNING, r,
                               "Failed to reply to the %s on %s: %m", job_kind_to_string(req->kind),
                               req->port.node);
}

/* The caller's options in the core's terms; what it left out the core resolves. */
static ManagerJobOptions job_options_from_bus(const BusJobOptions *o) {
        return (ManagerJobOptions) {
                .trust = o->trust,
                .reset_before_default = o->reset_before_default,
                .baud_default = o->baud_default,
                .granularity_default = o->granularity_default,
                .loader_default = o->loader_default,
                .job = o->job,
        };
}

static int submit_job(sd_bus_message *message, BusContext *b, JobKind kind, sd_bus_error *error) {
        _cleanup_(bus_job_charge_done) BusJobCharge charge = {};
        _cleanup_(bus_region_list_done) BusRegionList regions = {};
        _cleanup_(manager_port_done) ManagerPort port = {};
        Manager *m = b->manager;
        JobRequest *req;
        _cleanup_(bus_job_options_done) BusJobOptions o = {};
        const char *port_arg;
        int r;

        r = sd_bus_message_read(message, "s", &port_arg);
        if (r < 0)
                return r;
        r = bus_validate_port(port_arg, error);
        if (r < 0)
                return r;
        r = bus_message_read_regions(message, &regions, error);
        if (r < 0)
                return r;
        r = bus_message_read_options(message, &o, error);
        if (r < 0)
                return r;

        r = bus_refuse_when_terminating(m, error);
        if (r < 0)
                return r;

        /* Before the port or a file is touched. */
        r = bus_polkit_verify(b, message, kind == JOB_KIND_VERIFY ? POLKIT_ACTION_VERIFY : POLKIT_ACTION_DEPLOY,
                              error);
        if (r < 0)
                return r;
        if (r == 0)
                return 1;       /* polkit decides; this call comes back then */
        r = bus_job_charge(&b->job_owners, message, &charge, error);
        if (r < 0)
                return r;
        /* Passed fds are open already; paths are opened below. */
        r = bus_fd_budget_check(&b->fd_budget, regions.n + BUS_FDS_PER_JOB, false, error);
        if (r < 0)
                return r;

        r = bus_resolve_port(m, port_arg, MANAGER_PORT_PRESENT, &port, NULL, error);
        if (r < 0)
                return r;

        /* Two programs writing to one serial port garble both: name the other one.
         * Its open already dropped the device's trust (foreign-open). */
        if (kind == JOB_KIND_DEPLOY && !o.force) {
                char comm[DEVICE_HOLDER_COMM_MAX];
                int pid;

                if (device_node_holder(port.node, &pid, comm) > 0)
                        return sd_bus_error_setf(error, BUS_ERROR_DEVICE_BUSY,
                                                 "%s is open by %s (pid %d): close it, or deploy anyway with "
                                                 "the force option", port.node, comm[0] ? comm : "?", pid);
        }

        req = calloc(1, sizeof(*req));
        if (!req)
                return -ENOMEM;
        *req = (JobRequest) {
                .bus = b,
                .kind = kind,
                .port = port,
                .options = job_options_from_bus(&o),
                .charge = charge,
        };
        port = (ManagerPort) { .kind = _DEVICE_KIND_INVALID };
        charge = (BusJobCharge) {};
        o.job.stub_json = NULL;         /* the request's now */

        /* Everything is checked before the port is opened; the paths are opened
         * off the event loop, and the job is queued once they are. */
        r = bus_opens_start(b->opens, message, req->port.node, &regions, on_regions_opened, req,
                            job_request_free, error);
        if (r < 0)
                return r;
        return 1;
}

/* A refused call, for the log (and the journal's fields): which method, which
 * port, whose, why. Denials and limits are notices; bad arguments debug only,
 * so that a caller cannot flood the journal with them. */
static int log_refusal(sd_bus_message *message, int r, const sd_bus_error *error) {
        const char *port = NULL, *name, *why;
        char outcome[96];
        uid_t uid = (uid_t) -1;
        int level;

        if (r >= 0)
                return r;
        /* Every method that gets here takes the port first. */
        if (sd_bus_message_rewind(message, true) >= 0)
                (void) sd_bus_message_read(message, "s", &port);
        (void) bus_sender_uid(message, &uid);
        name = sd_bus_error_is_set(error) ? error->name : bus_error_name_from_errno(r);
        why = sd_bus_error_is_set(error) && error->message ? error->message : strerror(ERRNO_ABS(r));
        if (name && startswith(name, BUS_ERROR_PREFIX))
                name += strlen(BUS_ERROR_PREFIX);
        (void) snprintf(outcome, sizeof(outcome), "refused:%s", name ?: "error");
        level = STR_IN_SET(name, "PermissionDenied", "LimitsExceeded") ? LOG_NOTICE : LOG_DEBUG;
        log_fields(level, LOG_FIELDS(.port = port, .caller_uid = &uid, .outcome = outcome),
                   "%s on %s refused for uid %d: %s: %s", strempty(sd_bus_message_get_member(message)),
                   ESC(port), (int) uid, name ?: "error", ESC(why));
        return r;
}

static int method_verify(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return log_refusal(message, submit_job(message, userdata, JOB_KIND_VERIFY, error), error);
}

static int method_deploy_regions(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return log_refusal(message, submit_job(message, userdata, JOB_KIND_DEPLOY, error), error);
}

static int method_monitor(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return log_refusal(message, bus_method_monitor(message, userdata, error), error);
}

static int trust_state(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_bus_message_unref_ sd_bus_message *reply = NULL;
        _cleanup_(manager_port_done) ManagerPort port = {};
        BusContext *b = userdata;
        Manager *m = b->manager;
        const char *port_arg;
        TrustEntry t;
        int r;

        r = sd_bus_message_read(message, "s", &port_arg);
        if (r < 0)
                return r;
        r = bus_validate_port(port_arg, error);
        if (r < 0)
                return r;
        /* A device that is gone still has a trust state (why it was lost). */
        r = bus_resolve_port(m, port_arg, MANAGER_PORT_MAY_BE_GONE, &port, NULL, error);
        if (r < 0)
                return r;

        t = manager_trust_state(m, &port);

        r = sd_bus_message_new_method_return(message, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "b", t.trusted);
        if (r < 0)
                return r;
        r = sd_bus_message_append_array(reply, 'y', t.image_sha256, t.trusted ? sizeof(t.image_sha256) : 0);
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "ts", (uint64_t) t.since_usec,
                                  strempty(trust_invalidation_to_string(t.last_invalidation)));
        if (r < 0)
                return r;
        return sd_bus_message_send(reply);
}

/* The prologue of the port-only trust methods: read the port, authorize,
 * resolve. Returns 0 while polkit decides (the call is re-dispatched then). */
static int read_authorized_port(BusContext *b, sd_bus_message *message, ManagerPort *ret,
                                sd_bus_error *error) {
        const char *port_arg;
        int r;

        r = sd_bus_message_read(message, "s", &port_arg);
        if (r < 0)
                return r;
        r = bus_validate_port(port_arg, error);
        if (r < 0)
                return r;
        r = bus_polkit_verify(b, message, POLKIT_ACTION_MANAGE_TRUST, error);
        if (r <= 0)
                return r;
        r = bus_resolve_port(b->manager, port_arg, MANAGER_PORT_MAY_BE_GONE, ret, NULL, error);
        if (r < 0)
                return r;
        return 1;
}

static int forget_trust(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(manager_port_done) ManagerPort port = {};
        BusContext *b = userdata;
        int r;

        r = read_authorized_port(b, message, &port, error);
        if (r <= 0)
                return r < 0 ? r : 1;   /* 0: polkit decides; this call comes back then */

        r = manager_forget_trust(b->manager, &port);
        if (r < 0)
                return bus_error_set_errnof(error, r, "Cannot forget trust for %s: %m", port.node);
        return sd_bus_reply_method_return(message, NULL);
}

typedef struct JobOwnerFilter {
        const BusJobOwners *owners;
        uid_t uid;
} JobOwnerFilter;

static bool job_is_callers(Job *j, void *userdata) {
        const JobOwnerFilter *f = userdata;
        const BusJob *bj = job_get_userdata(j);

        /* A job whose owner is not known is nobody's to cancel but an admin's. */
        return bj && bj->uid != (uid_t) -1 && bj->uid == f->uid;
}

static bool call_is_callers(sd_bus_message *call, void *userdata) {
        const JobOwnerFilter *f = userdata;
        uid_t owner;

        return bus_job_owner(f->owners, call, &owner) >= 0 && owner == f->uid;
}

static bool job_is_someone_elses(Job *j, void *userdata) {
        return !job_is_callers(j, userdata);
}

/* Cancel: the caller's own jobs with manage-trust; jobs of other users (when
 * the caller has none there) with manage-others (administrators,
 * auth_admin_keep), like systemd's manage-units. root cancels every job. */
static int cancel(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(manager_port_done) ManagerPort port = {};
        BusContext *b = userdata;
        Manager *m = b->manager;
        const char *port_arg, *action;
        _cleanup_(sd_bus_error_free) sd_bus_error denied = SD_BUS_ERROR_NULL;
        JobOwnerFilter filter = { .owners = &b->job_owners };
        bool others;
        char outcome[32];
        int r;

        r = sd_bus_message_read(message, "s", &port_arg);
        if (r < 0)
                return r;
        r = bus_validate_port(port_arg, error);
        if (r < 0)
                return r;
        r = bus_resolve_port(m, port_arg, MANAGER_PORT_MAY_BE_GONE, &port, NULL, error);
        if (r < 0)
                return r;
        r = bus_sender_uid(message, &filter.uid);
        if (r < 0)
                return bus_error_set_errnof(error, EACCES, "Cannot determine the caller's user: %s", strerror(-r));

        /* Whose jobs are there decides what to ask: a caller with jobs of its
         * own cancels those (Ctrl-C in a client while someone else's job is
         * queued too); with none, other users' jobs need manage-others. The
         * second dispatch asks the same, and cancels no more than it allowed. */
        action = bus_polkit_asked_action(b, message) ?:
                (manager_count_jobs(m, port.node, job_is_callers, &filter) == 0 &&
                 manager_count_jobs(m, port.node, job_is_someone_elses, &filter) > 0
                 ? POLKIT_ACTION_MANAGE_OTHERS : POLKIT_ACTION_MANAGE_TRUST);
        r = bus_polkit_verify(b, message, action, &denied);
        if (r < 0) {
                if (streq(action, POLKIT_ACTION_MANAGE_OTHERS))
                        return sd_bus_error_setf(error, BUS_ERROR_PERMISSION_DENIED,
                                                 "Jobs of another user are queued or running on %s; cancelling "
                                                 "them needs %s (%s)", port.node, POLKIT_ACTION_MANAGE_OTHERS,
                                                 strempty(denied.message));
                (void) sd_bus_error_copy(error, &denied);
                return r;
        }
        if (r == 0)
                return 1;       /* polkit decides; this call comes back then */
        others = filter.uid == 0 || streq(action, POLKIT_ACTION_MANAGE_OTHERS);

        /* Idempotent: nothing to cancel is not an error. */
        r = manager_cancel_jobs(m, port.node, others ? NULL : job_is_callers, &filter);
        if (r < 0)
                return bus_error_set_errnof(error, r, "Cannot cancel jobs on %s: %m", port.node);
        /* Also the calls whose files are still being opened: they are as good as
         * queued (whose they are is known from the start: their job slot). */
        r += bus_opens_cancel_where(b->opens, port.node, others ? NULL : call_is_callers, &filter);
        (void) snprintf(outcome, sizeof(outcome), "cancelled:%d", r);
        log_fields(LOG_INFO, LOG_FIELDS(.port = port.node, .caller_uid = &filter.uid, .outcome = outcome),
                   "Cancelled %d job(s) on %s for uid %d%s.", r, ESC(port.node), (int) filter.uid,
                   others ? "" : " (its own)");
        return sd_bus_reply_method_return(message, NULL);
}

static int method_reset(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return log_refusal(message, bus_method_reset(message, userdata, error), error);
}

static int method_trust_state(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return log_refusal(message, trust_state(message, userdata, error), error);
}

static int method_forget_trust(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return log_refusal(message, forget_trust(message, userdata, error), error);
}

static int method_cancel(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return log_refusal(message, cancel(message, userdata, error), error);
}

static int property_get_version(sd_bus *bus, const char *path, const char *interface,
                                const char *property, sd_bus_message *reply, void *userdata,
                                sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", PROJECT_VERSION);
}

const sd_bus_vtable bus_deploy_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_METHOD_WITH_ARGS("ListDevices",
                                SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(sa{sv})", devices),
                                method_list_devices,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Verify",
                                SD_BUS_ARGS("s", port, "a(tv)", regions, "a{sv}", options),
                                SD_BUS_RESULT("a(ttbay)", results),
                                method_verify,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("DeployRegions",
                                SD_BUS_ARGS("s", port, "a(tv)", regions, "a{sv}", options),
                                SD_BUS_RESULT("s", outcome, "a(tt)", written, "a{sv}", stats),
                                method_deploy_regions,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("TrustState",
                                SD_BUS_ARGS("s", port),
                                SD_BUS_RESULT("b", trusted, "ay", image_sha256, "t", since_usec,
                                              "s", last_invalidation),
                                method_trust_state,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ForgetTrust",
                                SD_BUS_ARGS("s", port),
                                SD_BUS_NO_RESULT,
                                method_forget_trust,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Cancel",
                                SD_BUS_ARGS("s", port),
                                SD_BUS_NO_RESULT,
                                method_cancel,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListJobs",
                                SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(usssuo)", jobs),
                                bus_job_method_list,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("Progress",
                                SD_BUS_ARGS("s", port, "s", phase, "t", done, "t", total, "o", job),
                                0),
        SD_BUS_SIGNAL_WITH_ARGS("JobQueued",
                                SD_BUS_ARGS("o", job, "s", port),
                                0),
        SD_BUS_SIGNAL_WITH_ARGS("TrustChanged",
                                SD_BUS_ARGS("s", port, "b", trusted, "ay", image_sha256, "s", reason),
                                0),
        SD_BUS_METHOD_WITH_ARGS("Monitor",
                                SD_BUS_ARGS("s", port, "u", baud, "a{sv}", options),
                                SD_BUS_RESULT("h", fd),
                                method_monitor,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Reset",
                                SD_BUS_ARGS("s", port, "b", bootloader),
                                SD_BUS_NO_RESULT,
                                method_reset,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("DeviceAdded",
                                SD_BUS_ARGS("s", port, "a{sv}", properties),
                                0),
        SD_BUS_SIGNAL_WITH_ARGS("DeviceRemoved",
                                SD_BUS_ARGS("s", port, "s", identity),
                                0),
        SD_BUS_SIGNAL_WITH_ARGS("MonitorPaused",
                                SD_BUS_ARGS("s", port),
                                0),
        SD_BUS_SIGNAL_WITH_ARGS("MonitorResumed",
                                SD_BUS_ARGS("s", port),
                                0),
        SD_BUS_VTABLE_END
};

int bus_deploy_add_object(sd_bus *bus, BusContext *b) {
        return sd_bus_add_object_vtable(bus, NULL, BUS_OBJECT_PATH, BUS_INTERFACE, bus_deploy_vtable, b);
}

/* ---- job completion ------------------------------------------------------------- */

static int reply_verify(sd_bus_message *call, Job *j) {
        _cleanup_bus_message_unref_ sd_bus_message *reply = NULL;
        const JobRegionResult *results;
        size_t n;
        int r;

        results = job_region_results(j, &n);
        r = sd_bus_message_new_method_return(call, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(ttbay)");
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                r = sd_bus_message_open_container(reply, 'r', "ttbay");
                if (r < 0)
                        return r;
                r = sd_bus_message_append(reply, "ttb", (uint64_t) results[i].offset, results[i].size,
                                          results[i].matched);
                if (r < 0)
                        return r;
                r = sd_bus_message_append_array(reply, 'y', results[i].device_md5,
                                                sizeof(results[i].device_md5));
                if (r < 0)
                        return r;
                r = sd_bus_message_close_container(reply);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_message_send(reply);
}

static int append_stats(sd_bus_message *reply, Job *j) {
        const JobStats *s = job_stats(j);
        const Image *img = job_image(j);
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}",
                                  "connect_usec", "t", (uint64_t) s->connect_usec,
                                  "verify_usec", "t", (uint64_t) s->verify_usec,
                                  "write_usec", "t", (uint64_t) s->write_usec,
                                  "post_verify_usec", "t", (uint64_t) s->post_verify_usec,
                                  "reset_usec", "t", (uint64_t) s->reset_usec,
                                  "bytes_sent", "t", s->bytes_sent,
                                  "bytes_received", "t", s->bytes_received,
                                  "flash_begins", "t", s->flash_begins,
                                  "stream_restarts", "t", s->stream_restarts,
                                  "repairs", "t", s->repairs,
                                  "baud", "u", s->baud,
                                  "baud_fallback", "b", s->baud_fallback,
                                  "flash_size", "t", s->flash_size,
                                  "verification_impossible", "b", s->verification_impossible);
        if (r < 0)
                return r;
        if (s->chip) {
                r = sd_bus_message_append(reply, "{sv}", "chip", "s", s->chip);
                if (r < 0)
                        return r;
        }
        if (s->loader) {
                r = sd_bus_message_append(reply, "{sv}{sv}", "loader", "s", s->loader,
                                          "stub_failed", "b", s->stub_failed);
                if (r < 0)
                        return r;
        }
        if (img && img->hash_valid) {
                r = sd_bus_message_open_container(reply, 'e', "sv");
                if (r < 0)
                        return r;
                r = sd_bus_message_append(reply, "s", "image_sha256");
                if (r < 0)
                        return r;
                r = sd_bus_message_open_container(reply, 'v', "ay");
                if (r < 0)
                        return r;
                r = sd_bus_message_append_array(reply, 'y', img->sha256, sizeof(img->sha256));
                if (r < 0)
                        return r;
                r = sd_bus_message_close_container(reply);
                if (r < 0)
                        return r;
                r = sd_bus_message_close_container(reply);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

static int reply_deploy(sd_bus_message *call, Job *j) {
        _cleanup_bus_message_unref_ sd_bus_message *reply = NULL;
        const JobRange *written;
        size_t n;
        int r;

        written = job_written(j, &n);
        r = sd_bus_message_new_method_return(call, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "s", job_outcome_to_string(job_outcome(j)));
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(tt)");
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                r = sd_bus_message_append(reply, "(tt)", written[i].offset, written[i].size);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        r = append_stats(reply, j);
        if (r < 0)
                return r;
        return sd_bus_message_send(reply);
}

void bus_deploy_job_finished(BusContext *b, Job *j) {
        /* Freed after the reply: the object goes once the caller has its answer. */
        _cleanup_(bus_job_freep) BusJob *job = job_get_userdata(j);
        sd_bus_message *call = job ? job->call : NULL;
        const char *what = job_kind_to_string(job_kind(j)), *port = job_port(j), *outcome;
        uid_t uid = (uid_t) -1;
        uint64_t cookie = 0;
        char job_id[128];
        int r;

        if (!call)
                return;
        bus_job_owners_release(&b->job_owners, call);
        bus_job_finish(job);

        /* The job is the call that asked for it. */
        (void) sd_bus_message_get_cookie(call, &cookie);
        (void) snprintf(job_id, sizeof(job_id), "%s/%" PRIu64, bus_message_origin(call), cookie);
        (void) bus_sender_uid(call, &uid);

        r = job_error(j);
        if (r < 0) {
                outcome = bus_error_name_from_errno(r) ?: "failed";
                if (startswith(outcome, BUS_ERROR_PREFIX))
                        outcome += strlen(BUS_ERROR_PREFIX);
                log_fields_errno(r == -ECANCELED ? LOG_INFO : LOG_WARNING, r,
                                 LOG_FIELDS(.port = port, .job = job_id, .caller_uid = &uid, .outcome = outcome),
                                 "%s on %s for uid %d failed: %s", what, ESC(port), (int) uid,
                                 ESC(job_error_message(j) ?: strerror(-r)));
                if (job_error_message(j))
                        r = bus_reply_errnof(call, r, "%s on %s failed: %s", what, port, job_error_message(j));
                else
                        r = bus_reply_errnof(call, r, "%s on %s failed: %m", what, port);
        } else {
                if (job_kind(j) == JOB_KIND_VERIFY)
                        r = reply_verify(call, j);
                else
                        r = reply_deploy(call, j);
                outcome = job_kind(j) == JOB_KIND_DEPLOY ? job_outcome_to_string(job_outcome(j)) : "verified";
                log_fields(LOG_INFO, LOG_FIELDS(.port = port, .job = job_id, .caller_uid = &uid, .outcome = outcome),
                           "%s on %s for uid %d done%s%s.", what, ESC(port), (int) uid,
                           job_kind(j) == JOB_KIND_DEPLOY ? ": " : "",
                           job_kind(j) == JOB_KIND_DEPLOY ? outcome : "");
        }
        /* The caller may have hung up meanwhile: nobody to tell. */
        if (r < 0)
                log_full_errno(bus_error_is_disconnect(r) ? LOG_DEBUG : LOG_WARNING, r,
                               "Failed to reply to the %s on %s: %m", what, ESC(port));
}

/* ---- signals ------------------------------------------------------------------- */

typedef struct TrustSignal {
        const char *port;
        const TrustEntry *entry;
} TrustSignal;

static int send_trust_changed(sd_bus *bus, void *userdata) {
        _cleanup_bus_message_unref_ sd_bus_message *s = NULL;
        const TrustSignal *t = userdata;
        int r;

        r = sd_bus_message_new_signal(bus, &s, BUS_OBJECT_PATH, BUS_INTERFACE, "TrustChanged");
        if (r < 0)
                goto fail;
        r = sd_bus_message_append(s, "sb", t->port, t->entry->trusted);
        if (r < 0)
                goto fail;
        r = sd_bus_message_append_array(s, 'y', t->entry->image_sha256,
                                        t->entry->trusted ? sizeof(t->entry->image_sha256) : 0);
        if (r < 0)
                goto fail;
        /* Why trust was lost; empty when it was (re)gained. */
        r = sd_bus_message_append(s, "s",
                                  t->entry->trusted ? "" :
                                  strempty(trust_invalidation_to_string(t->entry->last_invalidation)));
        if (r < 0)
                goto fail;
        r = sd_bus_send(bus, s, NULL);
        if (r < 0)
                goto fail;
        return 0;
fail:
        log_full_errno(bus_error_is_disconnect(r) ? LOG_DEBUG : LOG_WARNING, r,
                       "Failed to emit TrustChanged: %m");
        return 0;
}

void bus_deploy_emit_trust_changed(BusContext *b, const char *port, const TrustEntry *e) {
        TrustSignal t = { .port = port, .entry = e };

        (void) bus_context_foreach(b, send_trust_changed, &t);
}
