/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `fbuildctl deploy` and `fbuildctl verify`: gather regions from the SOURCE
 * arguments, pick the port, open every file here (so the service reads with
 * our rights), then run the long call asynchronously on an sd-event loop so
 * that Progress signals and Ctrl-C are handled while it runs; `deploy
 * --monitor` then hands the loop to a monitor opened before the deploy. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl-format.h"
#include "ctl-progress.h"
#include "ctl.h"
#include "source-parse.h"
#include "source-stub.h"
#include "source.h"
#include "string-util.h"

/* After Ctrl-C, a job that still reports progress this long after our
 * Cancel was asked again (it may not have been queued when Cancel came). */
#define CANCEL_RETRY_USEC (1000ULL * 1000ULL)

typedef struct JobRun {
        Ctl *ctl;
        const char *method;             /* "DeployRegions" or "Verify" */
        const char *port;
        struct stat port_stat;          /* the port here, to recognise it by another name */
        char *port_alias;               /* the service's name for it, once recognised */

        bool show_progress;
        Progress progress;

        sd_bus_slot *match_slot, *queued_slot, *call_slot, *cancel_slot;
        char *job_path;                 /* our job's object, from JobQueued */
        sd_event_source *signal_sources[2];

        bool started;                   /* a Progress signal of ours came: the job ran */
        bool done;
        sd_bus_message *reply;          /* the method return, once done */
        sd_bus_error error;             /* or the error */

        unsigned interrupts;
        bool cancel_in_flight;
        uint64_t last_cancel_usec;
        bool abandoned;                 /* second Ctrl-C: stop waiting */
} JobRun;

static void job_run_done(JobRun *j) {
        for (size_t i = 0; i < ELEMENTSOF(j->signal_sources); i++)
                j->signal_sources[i] = sd_event_source_disable_unref(j->signal_sources[i]);
        j->match_slot = sd_bus_slot_unref(j->match_slot);
        j->queued_slot = sd_bus_slot_unref(j->queued_slot);
        free(j->job_path);
        j->call_slot = sd_bus_slot_unref(j->call_slot);
        j->cancel_slot = sd_bus_slot_unref(j->cancel_slot);
        j->reply = sd_bus_message_unref(j->reply);
        sd_bus_error_free(&j->error);
        free(j->port_alias);
}

static uint64_t now_monotonic_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

static unsigned terminal_columns(int fd) {
        struct winsize ws = {};
        const char *e;

        if (ioctl(fd, TIOCGWINSZ, &ws) >= 0 && ws.ws_col > 0)
                return ws.ws_col;
        e = getenv("COLUMNS");
        if (e && atoi(e) > 0)
                return (unsigned) atoi(e);
        return 80;
}

/* ---- cancellation ----------------------------------------------------------------------- */

static int on_cancel_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        JobRun *j = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        j->cancel_in_flight = false;
        if (e && !j->done)
                ctl_log("Cancel failed: %s (%s)", e->message ?: "no message", e->name);
        return 0;
}

static void send_cancel(JobRun *j) {
        int r;

        if (j->cancel_in_flight)
                return;
        /* The reply is only worth a message if it fails. */
        j->cancel_slot = sd_bus_slot_unref(j->cancel_slot);
        r = sd_bus_call_method_async(j->ctl->bus, &j->cancel_slot, j->ctl->peer_to_peer ? NULL : BUS_SERVICE_NAME,
                                     BUS_OBJECT_PATH, BUS_INTERFACE, "Cancel", on_cancel_reply, j, "s",
                                     j->port);
        if (r < 0) {
                ctl_log("Cannot send Cancel: %s", strerror(ERRNO_ABS(r)));
                return;
        }
        j->cancel_in_flight = true;
        j->last_cancel_usec = now_monotonic_usec();
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        JobRun *j = userdata;

        if (j->show_progress)
                progress_clear(&j->progress);
        if (j->interrupts++ == 0) {
                ctl_log("Cancelling the %s on %s… (again to stop waiting)",
                        streq(j->method, "Verify") ? "verify" : "deploy", j->port);
                send_cancel(j);
                return 0;
        }
        ctl_log("Not waiting for the service any longer; the job may still be cancelling.");
        j->abandoned = true;
        return 0;
}

/* ---- progress -------------------------------------------------------------------------- */

/* The service names the port by its device node; we may have been given a
 * symlink (/dev/serial/by-id/…). Same inode, same port. */
static bool is_our_port(JobRun *j, const char *port) {
        struct stat st;

        if (streq(port, j->port) || (j->port_alias && streq(port, j->port_alias)))
                return true;
        if (j->port_alias || j->port_stat.st_ino == 0 || stat(port, &st) < 0 ||
            st.st_dev != j->port_stat.st_dev || st.st_ino != j->port_stat.st_ino)
                return false;
        j->port_alias = strdup(port);
        return true;
}

/* The service tells us alone which job our call became, before its Progress. */
static int on_job_queued(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        JobRun *j = userdata;
        const char *path, *port;

        if (j->job_path || sd_bus_message_read(m, "os", &path, &port) < 0 || !is_our_port(j, port))
                return 0;
        j->job_path = strdup(path);
        return 0;
}

static int on_progress(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        JobRun *j = userdata;
        const char *port, *phase, *path = NULL;
        uint64_t done, total;
        int r;

        r = sd_bus_message_read(m, "sstt", &port, &phase, &done, &total);
        if (r < 0 || !is_our_port(j, port) || j->done)
                return 0;
        /* Our job by its path; other jobs on the port (queued behind ours, or
         * ours behind them) are not ours to show. A service that names no job
         * in Progress is followed by port. */
        if (sd_bus_message_read(m, "o", &path) > 0 && !streq_ptr(path, j->job_path))
                return 0;

        /* A job that was not queued yet when Cancel came keeps going: ask again. */
        if (j->interrupts > 0 && !streq(phase, "done") &&
            now_monotonic_usec() - j->last_cancel_usec > CANCEL_RETRY_USEC)
                send_cancel(j);

        j->started = true;
        if (j->show_progress)
                progress_update(&j->progress, phase, done, total, now_monotonic_usec());
        return 0;
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        JobRun *j = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        j->done = true;
        if (e)
                (void) sd_bus_error_copy(&j->error, e);
        else
                j->reply = sd_bus_message_ref(m);
        return 0;
}

/* Whether the port left: on this machine its node is gone; over -H, the
 * service no longer lists it (udev's remove edge). */
static bool port_is_gone(JobRun *j) {
        CtlDevice *devices = NULL;
        size_t n = 0;
        bool listed = false;
        struct stat st;

        /* Here, the node says it (udev removes it with the device). */
        if (!j->ctl->host)
                return stat(j->port, &st) < 0 && errno == ENOENT;
        /* Quietly: a failure to ask is no answer. */
        CtlJson json = j->ctl->json;
        j->ctl->json = CTL_JSON_OFF;
        CtlExit code = ctl_list_devices(j->ctl, &devices, &n);
        j->ctl->json = json;
        if (code != CTL_EXIT_SUCCESS)
                return false;
        for (size_t i = 0; i < n; i++)
                if (streq(devices[i].port, j->port) ||
                    (j->port_alias && streq(devices[i].port, j->port_alias)))
                        listed = true;
        ctl_device_array_free(devices, n);
        return !listed;
}

/* ---- the request ------------------------------------------------------------------------- */

static int append_options(sd_bus_message *m, const Ctl *c, const char *chip, const SourceImage *img,
                          int stub_fd) {
        const char *before = c->before ?: img->before, *after = c->after ?: img->after;
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        if (c->trust >= 0) {
                r = sd_bus_message_append(m, "{sv}", "trust", "b", c->trust);
                if (r < 0)
                        return r;
        }
        if (chip) {
                r = sd_bus_message_append(m, "{sv}", "chip", "s", chip);
                if (r < 0)
                        return r;
        }
        if (c->baud > 0) {
                r = sd_bus_message_append(m, "{sv}", "baud", "u", c->baud);
                if (r < 0)
                        return r;
        }
        if (before) {
                r = sd_bus_message_append(m, "{sv}", "before", "s", before);
                if (r < 0)
                        return r;
        }
        if (after) {
                r = sd_bus_message_append(m, "{sv}", "after", "s", after);
                if (r < 0)
                        return r;
        }
        if (c->loader) {
                r = sd_bus_message_append(m, "{sv}", "loader", "s", c->loader);
                if (r < 0)
                        return r;
        }
        if (stub_fd >= 0) {
                r = sd_bus_message_append(m, "{sv}", "stub", "h", stub_fd);
                if (r < 0)
                        return r;
        }
        if (c->force) {
                r = sd_bus_message_append(m, "{sv}", "force", "b", true);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

static CtlExit region_error(Ctl *c, const SourceRegion *region, int error) {
        CtlExit code = ctl_exit_from_errno(error);

        /* A file we cannot use is the input's fault unless it is about rights. */
        if (code != CTL_EXIT_PERMISSION)
                code = CTL_EXIT_INVALID;
        return ctl_fail(c, code, "%s%s%s%s: %s", region->path, region->name ? " (" : "",
                        region->name ?: "", region->name ? ")" : "",
                        error == ESPIPE ? "not a regular file" : strerror(error));
}

/* Opens one region's file as the caller. With fds, the service reads through
 * them; without (a transport that cannot carry fds), it gets the absolute
 * path and opens it with our credentials on its own machine. */
static CtlExit open_region(Ctl *c, SourceRegion *region, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        /* O_NONBLOCK: a FIFO swapped in since stat() must not hang us. */
        fd = open(region->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0 || fstat(fd, &st) < 0)
                return region_error(c, region, errno);
        if (!S_ISREG(st.st_mode))
                return region_error(c, region, ESPIPE);
        region->size = (uint64_t) st.st_size;
        *ret_fd = TAKE_FD(fd);
        return CTL_EXIT_SUCCESS;
}

/* Checks early, before any connection, that a region's file can be opened. */
static CtlExit check_region(Ctl *c, SourceRegion *region) {
        _cleanup_close_ int fd = -EBADF;

        return open_region(c, region, &fd);
}

static int append_regions(sd_bus_message *m, const SourceImage *img, const int *fds, bool pass_fds) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "(tv)");
        if (r < 0)
                return r;
        for (size_t i = 0; i < img->n_regions; i++) {
                if (pass_fds)
                        r = sd_bus_message_append(m, "(tv)", img->regions[i].offset, "h", fds[i]);
                else {
                        _cleanup_free_ char *abs = NULL;

                        r = source_absolute_path(img->regions[i].path, &abs);
                        if (r < 0)
                                return r;
                        r = sd_bus_message_append(m, "(tv)", img->regions[i].offset, "s", abs);
                }
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

/* ---- output ----------------------------------------------------------------------------- */

static const SourceRegion *region_at(const SourceImage *img, uint64_t offset) {
        for (size_t i = 0; i < img->n_regions; i++)
                if (offset >= img->regions[i].offset && offset < img->regions[i].offset + MAX(img->regions[i].size, (uint64_t) 1))
                        return &img->regions[i];
        return NULL;
}

static const char *region_label(const SourceRegion *r) {
        const char *slash;

        if (!r)
                return "?";
        if (r->name)
                return r->name;
        slash = strrchr(r->path, '/');
        return slash ? slash + 1 : r->path;
}

static JsonValue *image_json(const SourceImage *img) {
        _cleanup_(json_value_freep) JsonValue *sources = json_new_array(), *regions = json_new_array(),
                *o = json_new_object();

        if (!sources || !regions || !o)
                return NULL;
        for (size_t i = 0; i < img->n_sources; i++) {
                JsonValue *s = json_new_object();

                if (json_array_append(sources, s) < 0 ||
                    json_object_set(s, "format", json_new_string(source_format_to_string(img->sources[i].format))) < 0 ||
                    json_object_set(s, "argument", json_new_string(img->sources[i].argument)) < 0 ||
                    json_object_set(s, "directory", json_new_string(img->sources[i].directory)) < 0)
                        return NULL;
        }
        for (size_t i = 0; i < img->n_regions; i++) {
                JsonValue *r = json_new_object();

                if (json_array_append(regions, r) < 0 ||
                    json_object_set(r, "offset", json_new_uint64(img->regions[i].offset)) < 0 ||
                    json_object_set(r, "size", json_new_uint64(img->regions[i].size)) < 0 ||
                    json_object_set(r, "path", json_new_string(img->regions[i].path)) < 0 ||
                    json_object_set(r, "name", json_new_string(img->regions[i].name)) < 0)
                        return NULL;
        }
        if (json_object_set(o, "sources", TAKE_PTR(sources)) < 0 ||
            json_object_set(o, "regions", TAKE_PTR(regions)) < 0)
                return NULL;
        if (img->flash_mode || img->flash_size || img->flash_freq) {
                JsonValue *fs = json_new_object();

                if (json_object_set(o, "flash_settings", fs) < 0 ||
                    json_object_set(fs, "flash_mode", json_new_string(img->flash_mode)) < 0 ||
                    json_object_set(fs, "flash_size", json_new_string(img->flash_size)) < 0 ||
                    json_object_set(fs, "flash_freq", json_new_string(img->flash_freq)) < 0)
                        return NULL;
        }
        return TAKE_PTR(o);
}

static void print_plan(const SourceImage *img, const char *port, const char *chip, bool deploy) {
        char b[FORMAT_BYTES_MAX];
        uint64_t total = 0;

        for (size_t i = 0; i < img->n_regions; i++)
                total += img->regions[i].size;
        fprintf(stderr, "%s %zu region%s (%s) %s %s%s%s%s:\n", deploy ? "Deploying" : "Verifying", img->n_regions,
                img->n_regions == 1 ? "" : "s", format_bytes(b, total), deploy ? "to" : "against", port,
                chip ? " (" : "", chip ?: "", chip ? ")" : "");
        for (size_t i = 0; i < img->n_regions; i++)
                fprintf(stderr, "  0x%08" PRIx64 "  %9s  %-16s %s\n", img->regions[i].offset,
                        format_bytes(b, img->regions[i].size), img->regions[i].name ?: "",
                        img->regions[i].path);
        fflush(stderr);
}

static const char *outcome_explanation(const char *outcome) {
        if (streq(outcome, "trust-skip"))
                return "the device provably holds this image; the port was not opened";
        if (streq(outcome, "verify-skip"))
                return "the device already held this image; nothing written";
        if (streq(outcome, "selective"))
                return "only the regions that differed were written";
        if (streq(outcome, "full"))
                return "every region was written";
        return "";
}

static CtlExit deploy_result(JobRun *j, const SourceImage *img, const char *chip) {
        _cleanup_(json_value_freep) JsonValue *o = NULL, *written = NULL, *stats = NULL;
        sd_bus_message *m = j->reply;
        const char *outcome;
        int r;

        r = sd_bus_message_read(m, "s", &outcome);
        if (r >= 0)
                r = ctl_message_read_json(m, &written);
        if (r >= 0)
                r = ctl_message_read_json(m, &stats);
        if (r < 0)
                return ctl_report_error(j->ctl, "DeployRegions (reading the reply)", NULL, r);

        if (j->ctl->json) {
                _cleanup_(json_value_freep) JsonValue *ranges = json_new_array();

                o = image_json(img);
                if (!o || !ranges)
                        return CTL_EXIT_FAILURE;
                for (size_t i = 0; i < json_array_size(written); i++) {
                        const JsonValue *w = json_array_get(written, i);
                        uint64_t off = 0, size = 0;
                        JsonValue *e = json_new_object();

                        (void) json_number_uint64(json_array_get(w, 0), &off);
                        (void) json_number_uint64(json_array_get(w, 1), &size);
                        if (json_array_append(ranges, e) < 0 ||
                            json_object_set(e, "offset", json_new_uint64(off)) < 0 ||
                            json_object_set(e, "size", json_new_uint64(size)) < 0 ||
                            json_object_set(e, "name", json_new_string(region_at(img, off) ? region_label(region_at(img, off)) : NULL)) < 0)
                                return CTL_EXIT_FAILURE;
                }
                if (json_object_set(o, "command", json_new_string("deploy")) < 0 ||
                    json_object_set(o, "port", json_new_string(j->port)) < 0 ||
                    json_object_set(o, "chip", json_new_string(chip)) < 0 ||
                    json_object_set(o, "outcome", json_new_string(outcome)) < 0 ||
                    json_object_set(o, "written", TAKE_PTR(ranges)) < 0 ||
                    json_object_set(o, "stats", TAKE_PTR(stats)) < 0 ||
                    json_object_set(o, "exit_code", json_new_uint64(CTL_EXIT_SUCCESS)) < 0)
                        return CTL_EXIT_FAILURE;
                ctl_json_print(j->ctl, o);
                return CTL_EXIT_SUCCESS;
        }

        printf("%s: %s (%s)\n", j->port, outcome, outcome_explanation(outcome));
        /* Nothing was done: one line says it all. */
        if (streq(outcome, "trust-skip"))
                return CTL_EXIT_SUCCESS;
        if (json_array_size(written) == 0)
                printf("  written: nothing\n");
        for (size_t i = 0; i < json_array_size(written); i++) {
                const JsonValue *w = json_array_get(written, i);
                uint64_t off = 0, size = 0;
                char b[FORMAT_BYTES_MAX];

                (void) json_number_uint64(json_array_get(w, 0), &off);
                (void) json_number_uint64(json_array_get(w, 1), &size);
                printf("  %s 0x%08" PRIx64 "…0x%08" PRIx64 "  %9s  %s\n", i == 0 ? "written:" : "        ", off,
                       off + size, format_bytes(b, size), region_label(region_at(img, off)));
        }

        /* The phases the service timed, in the order they ran. */
        static const char *const phases[][2] = {
                { "connect_usec", "connect" }, { "verify_usec", "verify" }, { "write_usec", "write" },
                { "post_verify_usec", "post-verify" }, { "reset_usec", "reset" },
        };
        bool first = true;
        for (size_t i = 0; i < ELEMENTSOF(phases); i++) {
                char t[FORMAT_DURATION_MAX];
                uint64_t usec;

                if (json_number_uint64(json_object_get(stats, phases[i][0]), &usec) < 0 || usec == 0)
                        continue;
                printf("%s%s %s", first ? "  time: " : ", ", phases[i][1], format_timespan(t, usec));
                first = false;
        }
        if (!first)
                printf("\n");
        if (json_string(json_object_get(stats, "loader")))
                printf("  loader: %s%s\n",
                       streq(json_string(json_object_get(stats, "loader")), "stub") ? "flasher stub" : "ROM",
                       json_boolean(json_object_get(stats, "stub_failed")) ?
                       " (the flasher stub did not run)" : "");
        if (json_boolean(json_object_get(stats, "verification_impossible")))
                printf("  note: the chip refused MD5, so every region was written unverified\n");
        return CTL_EXIT_SUCCESS;
}

static CtlExit verify_result(JobRun *j, const SourceImage *img, const char *chip) {
        _cleanup_(json_value_freep) JsonValue *o = NULL, *results = NULL;
        size_t mismatched = 0;
        int r;

        r = ctl_message_read_json(j->reply, &results);
        if (r < 0)
                return ctl_report_error(j->ctl, "Verify (reading the reply)", NULL, r);

        for (size_t i = 0; i < json_array_size(results); i++)
                if (!json_boolean(json_array_get(json_array_get(results, i), 2)))
                        mismatched++;

        if (j->ctl->json) {
                _cleanup_(json_value_freep) JsonValue *list = json_new_array();

                o = image_json(img);
                if (!o || !list)
                        return CTL_EXIT_FAILURE;
                for (size_t i = 0; i < json_array_size(results); i++) {
                        const JsonValue *v = json_array_get(results, i);
                        uint64_t off = 0, size = 0;
                        JsonValue *e = json_new_object();

                        (void) json_number_uint64(json_array_get(v, 0), &off);
                        (void) json_number_uint64(json_array_get(v, 1), &size);
                        if (json_array_append(list, e) < 0 ||
                            json_object_set(e, "offset", json_new_uint64(off)) < 0 ||
                            json_object_set(e, "size", json_new_uint64(size)) < 0 ||
                            json_object_set(e, "matched", json_new_boolean(json_boolean(json_array_get(v, 2)))) < 0 ||
                            json_object_set(e, "device_md5", json_new_string(json_string(json_array_get(v, 3)))) < 0 ||
                            json_object_set(e, "name", json_new_string(region_at(img, off) ? region_label(region_at(img, off)) : NULL)) < 0)
                                return CTL_EXIT_FAILURE;
                }
                if (json_object_set(o, "command", json_new_string("verify")) < 0 ||
                    json_object_set(o, "port", json_new_string(j->port)) < 0 ||
                    json_object_set(o, "chip", json_new_string(chip)) < 0 ||
                    json_object_set(o, "matched", json_new_boolean(mismatched == 0)) < 0 ||
                    json_object_set(o, "results", TAKE_PTR(list)) < 0 ||
                    json_object_set(o, "exit_code", json_new_uint64(mismatched ? CTL_EXIT_MISMATCH : CTL_EXIT_SUCCESS)) < 0)
                        return CTL_EXIT_FAILURE;
                ctl_json_print(j->ctl, o);
                return mismatched ? CTL_EXIT_MISMATCH : CTL_EXIT_SUCCESS;
        }

        for (size_t i = 0; i < json_array_size(results); i++) {
                const JsonValue *v = json_array_get(results, i);
                uint64_t off = 0, size = 0;
                char b[FORMAT_BYTES_MAX];
                bool ok = json_boolean(json_array_get(v, 2));

                (void) json_number_uint64(json_array_get(v, 0), &off);
                (void) json_number_uint64(json_array_get(v, 1), &size);
                printf("  0x%08" PRIx64 "  %9s  %-8s  %-16s md5 %s\n", off, format_bytes(b, size),
                       ok ? "match" : "DIFFERS", region_label(region_at(img, off)),
                       json_string(json_array_get(v, 3)) ?: "");
        }
        if (mismatched)
                printf("%s: %zu of %zu regions differ\n", j->port, mismatched, json_array_size(results));
        else
                printf("%s: all %zu regions match\n", j->port, json_array_size(results));
        return mismatched ? CTL_EXIT_MISMATCH : CTL_EXIT_SUCCESS;
}

/* The application's ELF beside its .bin (ESP-IDF's build/NAME.elf, PlatformIO's
 * firmware.elf, or APP.elf next to a pair's APP.bin), for the crash decoder:
 * a new string, or NULL when the build has none. */
static char *find_app_elf(const SourceImage *img) {
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < img->n_regions; i++) {
                        const SourceRegion *r = &img->regions[i];
                        size_t n = strlen(r->path);
                        char *elf;

                        /* The region named app first, then any other. */
                        if ((pass == 0) != (r->name && streq(r->name, "app")))
                                continue;
                        if (n < 4 || !streq(r->path + n - 4, ".bin"))
                                continue;
                        elf = strdup(r->path);
                        if (!elf)
                                return NULL;
                        memcpy(elf + n - 4, ".elf", 4);
                        if (access(elf, R_OK) == 0)
                                return elf;
                        free(elf);
                }
        return NULL;
}

/* ---- the verb ------------------------------------------------------------------------------ */

static CtlExit source_failure(Ctl *c, int r, const SourceError *err) {
        CtlExit code = ctl_exit_from_errno(r);

        /* Anything unexpected about a source is still the input's fault. */
        if (code == CTL_EXIT_FAILURE && r != -ENOMEM)
                code = CTL_EXIT_INVALID;
        return ctl_fail(c, code, "%s", err->message[0] ? err->message : strerror(ERRNO_ABS(r)));
}

/* The flasher stub of the user's own ESP-IDF or PlatformIO (the service looks
 * only in the system's Python packages): an open fd, or -EBADF. The chip must
 * be known to pick the file. */
static int find_user_stub(const Ctl *c, const char *chip) {
        const SourceStubRoots roots = {
                .idf_path = getenv("IDF_PATH"),
                .idf_python_env = getenv("IDF_PYTHON_ENV_PATH"),
                .pio_core = getenv("PLATFORMIO_CORE_DIR"),
                .home = getenv("HOME"),
        };
        _cleanup_free_ char *path = NULL;
        int fd = -EBADF;

        if (!chip || source_stub_open(&roots, chip, &fd, &path) < 0)
                return -EBADF;
        if (c->verbose)
                ctl_log("Flasher stub offered to the service: %s", path);
        return fd;
}

static CtlExit run_job(Ctl *c, int argc, char **argv, bool deploy) {
        _cleanup_(source_image_done) SourceImage img = {};
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(json_value_freep) JsonValue *device = NULL;
        _cleanup_(job_run_done) JobRun j = { .ctl = c, .error = SD_BUS_ERROR_NULL };
        _cleanup_(ctl_monitor_freep) CtlMonitor *monitor = NULL;
        _cleanup_free_ char *port = NULL, *app_elf = NULL;
        int fds[SOURCE_REGIONS_MAX];
        const char *chip = NULL, *option_chip = NULL;
        _cleanup_close_ int stub_fd = -EBADF;
        size_t n_fds = 0;
        SourceError err = {};
        CtlExit code;
        bool pass_fds, terminal = false;
        sigset_t mask;
        int r;

        if ((c->write || c->elf || c->timestamps || c->log_path || c->eol || c->raw) && !c->monitor) {
                return ctl_fail(c, CTL_EXIT_INVALID, "--write, --elf, --timestamps, --log, --eol and --raw "
                                "only go with --monitor");
        }
        if (c->monitor && c->json) {
                /* One JSON object on stdout, or the device's output: not both. */
                return ctl_fail(c, CTL_EXIT_INVALID, "--monitor does not go with --json");
        }

        /* 1. What to write, before any connection: bad input fails fast. */
        img.pio_env = c->pio_env;
        if (argc < 2) {
                /* Like idf.py flash and pio run -t upload: the project we are in. */
                r = source_load(&img, ".", &err);
                if (r < 0) {
                        code = ctl_exit_from_errno(r);
                        return ctl_fail(c, code == CTL_EXIT_FAILURE ? CTL_EXIT_INVALID : code,
                                        "No SOURCE given, and the current directory is not a project: %s",
                                        err.message);
                }
        }
        for (int i = 1; i < argc; i++) {
                _cleanup_free_ char *pair = NULL;
                uint32_t offset;

                /* esptool's "0x10000 app.bin": the same as 0x10000=app.bin. */
                r = source_offset_argument(argv[i], &offset, &err);
                if (r < 0 && r != -ENOENT)
                        return source_failure(c, r, &err);
                if (r >= 0) {
                        if (i + 1 >= argc)
                                return ctl_fail(c, CTL_EXIT_INVALID, "%s: an offset needs a FILE after it "
                                                "(%s FILE, or %s=FILE)", argv[i], argv[i], argv[i]);
                        if (asprintf(&pair, "%s=%s", argv[i], argv[i + 1]) < 0)
                                return CTL_EXIT_FAILURE;
                        i++;
                }
                r = source_load(&img, pair ?: argv[i], &err);
                if (r < 0)
                        return source_failure(c, r, &err);
        }

        if (c->chip) {
                r = source_chip_canonical(c->chip, &option_chip);
                if (r < 0)
                        return ctl_fail(c, CTL_EXIT_INVALID, "Unknown chip '%s' (e.g. esp32, esp32s3, esp32c3)",
                                        c->chip);
                if (img.chip && !streq(img.chip, option_chip))
                        return ctl_fail(c, CTL_EXIT_INVALID, "--chip %s contradicts the build: %s says %s",
                                        option_chip, img.chip_origin, img.chip);
        }
        /* Only a chip the build or the user names is asked of the service. */
        chip = option_chip ?: img.chip;

        /* Every file can be opened and is a regular file (and its size is known). */
        for (size_t i = 0; i < img.n_regions; i++) {
                code = check_region(c, &img.regions[i]);
                if (code != CTL_EXIT_SUCCESS)
                        return code;
        }

        /* Offsets that break the rules are refused before anything is sent. */
        r = source_image_check_offsets(&img, &err);
        if (r < 0)
                return source_failure(c, r, &err);

        /* 2. Where. */
        code = ctl_connect(c);
        if (code != CTL_EXIT_SUCCESS)
                return code;
        code = ctl_pick_port(c, chip, &port,
                             (source_image_needs_chip(&img) && !chip) || c->force ? &device : NULL);
        if (code != CTL_EXIT_SUCCESS)
                return code;
        if (c->force && device && streq_ptr(json_string(json_object_get(device, "owner")), "foreign")) {
                uint64_t pid = 0;

                (void) json_number_uint64(json_object_get(device, "holder_pid"), &pid);
                ctl_log("%s is open by %s (pid %" PRIu64 "); deploying anyway (--force). Its open dropped the "
                        "device's trust, which is not recorded again while it holds the port.",
                        port, json_string(json_object_get(device, "holder_name")) ?: "?", pid);
        }

        if (source_image_needs_chip(&img)) {
                const char *where = chip;

                /* Last resort for the bootloader's offset: the chip the service saw on the device. */
                if (!where)
                        where = json_string(json_object_get(device, "chip"));
                if (!where) {
                        return ctl_fail(c, CTL_EXIT_INVALID,
                                        "Cannot tell which chip this build is for, so not where its bootloader "
                                        "goes (no sdkconfig, idedata.json toolchain or image header names one): "
                                        "pass --chip");
                }
                r = source_image_place_bootloader(&img, where, &err);
                if (r < 0)
                        return source_failure(c, r, &err);
        }

        /* 3. Order the regions and refuse overlaps with a message that names
         * both; then open everything ourselves, in that order: the service
         * reads with our rights. */
        r = source_image_sort_and_check(&img, &err);
        if (r < 0)
                return source_failure(c, r, &err);
        for (size_t i = 0; i < img.n_regions; i++) {
                int fd = -EBADF;

                code = open_region(c, &img.regions[i], &fd);
                if (code != CTL_EXIT_SUCCESS)
                        goto finish;
                fds[n_fds++] = fd;
        }

        r = sd_bus_can_send(c->bus, SD_BUS_TYPE_UNIX_FD);
        pass_fds = r > 0;
        if (r == 0)
                ctl_log("This connection cannot carry file descriptors; passing paths, which the service "
                        "opens on its own machine with your credentials there.");

        j.method = deploy ? "DeployRegions" : "Verify";
        j.port = port;
        if (!c->host)           /* a remote port is not ours to stat */
                (void) stat(port, &j.port_stat);
        j.show_progress = !c->quiet;
        progress_init(&j.progress, stderr, isatty(STDERR_FILENO) > 0, terminal_columns(STDERR_FILENO));

        r = ctl_new_call(c, j.method, &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", port);
        if (r >= 0)
                r = append_regions(m, &img, fds, pass_fds);
        if (r >= 0 && deploy && pass_fds && !streq_ptr(c->loader, "rom"))
                stub_fd = find_user_stub(c, chip ?: json_string(json_object_get(device, "chip")));
        if (r >= 0)
                r = append_options(m, c, chip, &img, stub_fd);
        stub_fd = safe_close(stub_fd);  /* the message holds its own copy */
        if (r < 0) {
                code = ctl_report_error(c, j.method, NULL, r);
                goto finish;
        }
        for (size_t i = 0; i < n_fds; i++)
                fds[i] = safe_close(fds[i]);    /* the message holds its own copies */
        n_fds = 0;

        /* `deploy --monitor`: the monitor is opened BEFORE the deploy starts,
         * not after it ends. The service pauses a port's monitors for a job and
         * hands the port back to them before the chip leaves reset, so a
         * monitor that already exists sees the new firmware's boot from its
         * first byte; one opened after the reply could only race the boot. The
         * stream is read on this loop all along (the service keeps little for a
         * client that does not read) and printed after the outcome. */
        if (deploy && c->monitor) {
                terminal = isatty(STDIN_FILENO) > 0 && isatty(STDOUT_FILENO) > 0;
                if (!c->elf && !c->raw) {
                        app_elf = find_app_elf(&img);
                        c->elf = app_elf;
                }
                code = ctl_monitor_open(c, port, CTL_MONITOR_BAUD, terminal || c->write, &monitor);
                if (code != CTL_EXIT_SUCCESS)
                        goto finish;
        }

        /* The plan only when asked: the outcome already lists what was written. */
        if (!c->json && !c->quiet && c->verbose)
                print_plan(&img, port, chip, deploy);

        /* 4. Progress first, so no signal of our job is missed. On a bus the
         * service is matched by name; peer-to-peer every message is its own. */
        r = sd_bus_match_signal(c->bus, &j.match_slot, c->peer_to_peer ? NULL : BUS_SERVICE_NAME, BUS_OBJECT_PATH,
                                BUS_INTERFACE, "Progress", on_progress, &j);
        if (r >= 0)
                r = sd_bus_match_signal(c->bus, &j.queued_slot, c->peer_to_peer ? NULL : BUS_SERVICE_NAME,
                                        BUS_OBJECT_PATH, BUS_INTERFACE, "JobQueued", on_job_queued, &j);
        if (r < 0) {
                code = ctl_report_error(c, "Subscribing to Progress", NULL, r);
                goto finish;
        }

        /* Ctrl-C (and SIGTERM) cancel the job instead of killing us mid-call. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
            sd_event_add_signal(c->event, &j.signal_sources[0], SIGINT, on_signal, &j) < 0 ||
            sd_event_add_signal(c->event, &j.signal_sources[1], SIGTERM, on_signal, &j) < 0) {
                ctl_log("Cannot handle Ctrl-C: %s", strerror(errno));
                code = CTL_EXIT_FAILURE;
                goto finish;
        }

        r = sd_bus_call_async(c->bus, &j.call_slot, m, on_reply, &j, CTL_LONG_CALL_USEC);
        if (r < 0) {
                code = ctl_report_error(c, j.method, NULL, r);
                goto finish;
        }

        /* Not sd_event_loop(): a loop that exited cannot run again, and
         * `deploy --monitor` goes on with this one. */
        r = 0;
        while (r >= 0 && !j.done && !j.abandoned)
                r = sd_event_run(c->event, UINT64_MAX);
        if (j.show_progress)
                progress_clear(&j.progress);
        if (r < 0) {
                ctl_log("Event loop failed: %s", strerror(ERRNO_ABS(r)));
                code = CTL_EXIT_FAILURE;
                goto finish;
        }

        if (j.abandoned) {
                ctl_json_error(c, NULL, "interrupted; the job may still be cancelling", CTL_EXIT_CANCELLED);
                code = CTL_EXIT_CANCELLED;
                goto finish;
        }
        if (!j.reply) {
                /* A device that left mid-job fails as a timeout or a protocol error;
                 * what a script can act on is that the device is gone. */
                CtlExit e = ctl_exit_from_error_name(j.error.name);

                if (j.started && (e == CTL_EXIT_NO_DEVICE || e == CTL_EXIT_DEVICE_ERROR) &&
                    !sd_bus_error_has_name(&j.error, BUS_ERROR_DEVICE_BUSY) && port_is_gone(&j)) {
                        ctl_log("%s failed: %s (%s)", j.method, j.error.message ?: "no message", j.error.name);
                        code = ctl_fail(c, CTL_EXIT_NO_DEVICE, "%s is gone: the device went away during the %s",
                                        port, deploy ? "deploy" : "verify");
                        goto finish;
                }
                code = ctl_report_error(c, j.method, &j.error, -EIO);
                if (deploy && sd_bus_error_has_name(&j.error, BUS_ERROR_DEVICE_BUSY) &&
                    j.error.message && strstr(j.error.message, " is open by "))
                        ctl_log("Close it, or deploy anyway with --force.");
                if (code == CTL_EXIT_CANCELLED)
                        ctl_log(j.interrupts > 0 ? "Cancelled." : "Cancelled by another client.");
                goto finish;
        }

        code = deploy ? deploy_result(&j, &img, chip) : verify_result(&j, &img, chip);
        if (code == CTL_EXIT_SUCCESS && monitor) {
                /* The outcome first, then the output the monitor has kept. */
                fflush(stdout);
                for (size_t i = 0; i < ELEMENTSOF(j.signal_sources); i++)
                        j.signal_sources[i] = sd_event_source_disable_unref(j.signal_sources[i]);
                j.match_slot = sd_bus_slot_unref(j.match_slot);
                j.queued_slot = sd_bus_slot_unref(j.queued_slot);
                code = ctl_monitor_run(monitor, terminal, false);
        }

finish:
        for (size_t i = 0; i < n_fds; i++)
                safe_close(fds[i]);
        return code;
}

int verb_deploy(Ctl *c, int argc, char **argv) {
        return run_job(c, argc, argv, true);
}

int verb_verify(Ctl *c, int argc, char **argv) {
        return run_job(c, argc, argv, false);
}
