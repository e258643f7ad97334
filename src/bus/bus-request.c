/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Verify/DeployRegions arguments → a region list and JobOptions. A region path
 * is opened later, as the caller (bus-open.c), never with the service's rights. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bus-error.h"
#include "bus-request.h"
#include "bus-util.h"
#include "bus-validate.h"
#include "esp-chip.h"
#include "flash-stub.h"
#include "log.h"
#include "private-tmp.h"

void bus_region_list_done(BusRegionList *l) {
        for (size_t i = 0; i < l->n; i++) {
                free(l->items[i].path);
                safe_close(l->items[i].fd);
        }
        free(l->items);
        *l = (BusRegionList) {};
}

static int read_region_source(sd_bus_message *m, BusRegionSource *s, sd_bus_error *error) {
        const char *contents = NULL, *path;
        int r, fd;

        r = sd_bus_message_peek_type(m, NULL, &contents);
        if (r < 0)
                return r;
        if (!streq_ptr(contents, "s") && !streq_ptr(contents, "h"))
                return sd_bus_error_setf(error, BUS_ERROR_INVALID_SOURCE,
                                         "Region at 0x%" PRIx64 ": a source is a path (s) or a file descriptor (h), not '%s'",
                                         s->offset, strempty(contents));

        r = sd_bus_message_enter_container(m, 'v', contents);
        if (r < 0)
                return r;
        if (contents[0] == 's') {
                r = sd_bus_message_read(m, "s", &path);
                if (r < 0)
                        return r;
                r = bus_validate_region_path(path, s->offset, error);
                if (r < 0)
                        return r;
                s->path = strdup(path);
                if (!s->path)
                        return -ENOMEM;
        } else {
                r = sd_bus_message_read(m, "h", &fd);
                if (r < 0)
                        return r;
                /* The message owns its fd; ours outlives it, in the job. */
                s->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                if (s->fd < 0)
                        return bus_error_set_errnof(error, errno, "Failed to duplicate the region fd: %m");
        }
        return sd_bus_message_exit_container(m);
}

int bus_message_read_regions(sd_bus_message *m, BusRegionList *ret, sd_bus_error *error) {
        _cleanup_(bus_region_list_done) BusRegionList l = {};
        int r;

        r = sd_bus_message_enter_container(m, 'a', "(tv)");
        if (r < 0)
                return r;
        for (;;) {
                BusRegionSource *s;
                uint64_t offset;

                r = sd_bus_message_enter_container(m, 'r', "tv");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;

                /* The count and 32-bit rules of image_validate(), checked as the
                 * array is read so that no more state is taken than it allows;
                 * their words come from its one message table. */
                if (l.n >= IMAGE_MAX_REGIONS)
                        return sd_bus_error_setf(error, BUS_ERROR_INVALID_REGIONS,
                                                 "Regions %s", image_rule_strerror(-EINVAL));
                r = sd_bus_message_read(m, "t", &offset);
                if (r < 0)
                        return r;
                if (offset > UINT32_MAX)
                        return bus_error_set_errnof(error, ERANGE, "A region at 0x%" PRIx64 " %s",
                                                    offset, image_rule_strerror(-ERANGE));

                s = reallocarray(l.items, l.n + 1, sizeof(*l.items));
                if (!s)
                        return -ENOMEM;
                l.items = s;
                s = &l.items[l.n++];
                *s = (BusRegionSource) { .offset = offset, .fd = -EBADF };

                r = read_region_source(m, s, error);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;

        *ret = l;
        l = (BusRegionList) {};
        return 0;
}

int bus_error_set_open_failure(sd_bus_error *error, const char *path, uid_t uid, int r) {
        switch (-r) {
        case EACCES:
        case EPERM:
                return bus_error_set_errnof(error, r, "Cannot open %s as uid %u: %m", path, (unsigned) uid);
        case EXDEV:
                /* Our choice of errno for it (user-open.h); PermissionDenied: the
                 * caller asked for something it may not have, whatever it is. */
                return sd_bus_error_setf(error, BUS_ERROR_PERMISSION_DENIED,
                                         "Cannot open %s: it goes through a /proc magic link (/proc/PID/fd/N, "
                                         "…/root, …/cwd, …/exe), which the service never follows",
                                         path);
        case ESRCH:
                return sd_bus_error_setf(error, BUS_ERROR_PERMISSION_DENIED,
                                         "Cannot open %s: uid %u has no user entry, so its groups are unknown "
                                         "(pass a file descriptor instead)",
                                         path, (unsigned) uid);
        case ETIMEDOUT:
                return sd_bus_error_setf(error, BUS_ERROR_TIMEOUT,
                                         "Opening %s as uid %u took longer than %u s (a FIFO, a hung or slow "
                                         "file system?)",
                                         path, (unsigned) uid, BUS_OPEN_TIMEOUT_SEC);
        case ENOMEM:
        case EMFILE:
        case ENFILE:
        case EAGAIN:
        case ENOEXEC:
                return bus_error_set_errnof(error, r, "Cannot open %s: %m", path);
        case EISDIR:
        case ESPIPE:
                return sd_bus_error_setf(error, BUS_ERROR_INVALID_SOURCE, "%s %s", path, image_rule_strerror(r));
        case ENOENT:
        case ENOTDIR: {
                /* Under the unit's PrivateTmp= the caller's /tmp is not ours:
                 * say so rather than "No such file". */
                const char *tmp = path_private_tmp_dir(path);

                if (tmp)
                        return sd_bus_error_setf(error, BUS_ERROR_PATH_NOT_VISIBLE,
                                                 "Cannot open %s: fbuild-deployd has a private %s "
                                                 "(PrivateTmp=yes), so files there are not visible to it. "
                                                 "Pass the file itself (a file descriptor, as fbuildctl "
                                                 "does; gdbus call … 3<FILE) or put it elsewhere",
                                                 path, tmp);
                return sd_bus_error_setf(error, BUS_ERROR_INVALID_SOURCE, "Cannot open %s: %s", path,
                                         strerror(ERRNO_ABS(r)));
        }
        default:
                /* ELOOP, …: the path is no source. */
                return sd_bus_error_setf(error, BUS_ERROR_INVALID_SOURCE, "Cannot open %s: %s", path,
                                         strerror(ERRNO_ABS(r)));
        }
}

int bus_image_validate(Image *img, uint64_t flash_size, sd_bus_error *error) {
        const char *rule;
        int r;

        r = image_validate(img, flash_size);
        if (r >= 0)
                return 0;
        rule = image_rule_strerror(r);
        if (r == -EINVAL)
                return bus_error_set_errnof(error, r, "Regions %s", rule);
        if (r == -ERANGE)
                return bus_error_set_errnof(error, r, "A region %s (%" PRIu64 " bytes)", rule,
                                            flash_size ?: (uint64_t) IMAGE_MAX_FLASH_SIZE);
        if (rule)
                return bus_error_set_errnof(error, r, "A region source %s", rule);
        return bus_error_set_errnof(error, r, "Invalid regions: %m");
}

/* ---- options ---------------------------------------------------------------- */

static int option_error(sd_bus_error *error, const char *key, const char *what) {
        return sd_bus_error_setf(error, BUS_ERROR_INVALID_OPTIONS, "Option '%s': %s", key, what);
}

static int parse_trust(sd_bus_message *m, const char *key, BusJobOptions *o, sd_bus_error *error) {
        int b, r;

        r = sd_bus_message_read(m, "b", &b);
        if (r < 0)
                return r;
        o->trust = !!b;
        return 0;
}

/* A string option's value, within its length bound. */
static int read_option_string(sd_bus_message *m, const char *key, const char **ret, sd_bus_error *error) {
        int r;

        r = sd_bus_message_read(m, "s", ret);
        if (r < 0)
                return r;
        return bus_validate_option_string(key, *ret, error);
}

static int parse_chip(sd_bus_message *m, const char *key, BusJobOptions *o, sd_bus_error *error) {
        const char *s;
        int r;

        r = read_option_string(m, key, &s, error);
        if (r < 0)
                return r;
        if (STR_IN_SET(s, "", "auto", "detect")) {
                o->job.chip = NULL;
                return 0;
        }
        o->job.chip = esp_chip_from_name(s);
        if (!o->job.chip)
                return sd_bus_error_setf(error, BUS_ERROR_INVALID_OPTIONS, "Option '%s': unknown chip '%s'",
                                         key, s);
        return 0;
}

static int parse_baud(sd_bus_message *m, const char *key, BusJobOptions *o, sd_bus_error *error) {
        uint32_t u;
        int r;

        r = sd_bus_message_read(m, "u", &u);
        if (r < 0)
                return r;
        r = bus_validate_baud(u, true, "Option 'baud'", error);
        if (r < 0)
                return r;
        o->job.baud = u;
        o->baud_default = false;
        return 0;
}

static int parse_before(sd_bus_message *m, const char *key, BusJobOptions *o, sd_bus_error *error) {
        EspResetStrategy s;
        const char *v;
        int r;

        r = read_option_string(m, key, &v, error);
        if (r < 0)
                return r;
        o->reset_before_default = false;
        if (streq(v, "default")) {
                o->reset_before_default = true;
                return 0;
        }
        if (streq(v, "usb"))
                v = "usb-jtag";
        s = esp_reset_strategy_from_string(v);
        if (s < 0)
                return option_error(error, key,
                                    "expected default, usb, none, classic or unix-tight");
        o->job.reset_before = s;
        return 0;
}

static int parse_after(sd_bus_message *m, const char *key, BusJobOptions *o, sd_bus_error *error) {
        const char *v;
        int r;

        r = read_option_string(m, key, &v, error);
        if (r < 0)
                return r;
        /* esptool spells them hard-reset and no-reset. */
        if (STR_IN_SET(v, "default", "hard-reset"))
                o->job.reset_after = true;
        else if (STR_IN_SET(v, "none", "no-reset"))
                o->job.reset_after = false;
        else
                return option_error(error, key, "expected default or none");
        return 0;
}

static int parse_granularity(sd_bus_message *m, const char *key, BusJobOptions *o, sd_bus_error *error) {
        JobGranularity g;
        const char *v;
        int r;

        r = read_option_string(m, key, &v, error);
        if (r < 0)
                return r;
        g = job_granularity_from_string(v);
        if (g < 0)
                return option_error(error, key, "expected region or sector");
        o->job.granularity = g;
        o->granularity_default = false;
        return 0;
}

static int parse_loader(sd_bus_message *m, const char *key, BusJobOptions *o, sd_bus_error *error) {
        JobLoader l;
        const char *v;
        int r;

        r = read_option_string(m, key, &v, error);
        if (r < 0)
                return r;
        if (streq(v, "default")) {
                o->loader_default = true;
                return 0;
        }
        l = job_loader_from_string(v);
        if (l < 0)
                return option_error(error, key, "expected default, auto, stub or rom");
        o->job.loader = l;
        o->loader_default = false;
        return 0;
}

/* The caller's own stub (fbuildctl finds the one of its ESP-IDF or PlatformIO):
 * read now, bounded, and parsed, so that garbage is refused by name; whether
 * it fits the chip is known only once the chip is (the job falls back to the
 * service's own stubs, or the ROM, and says why). */
static int parse_stub(sd_bus_message *m, const char *key, BusJobOptions *o, sd_bus_error *error) {
        _cleanup_(flash_stub_freep) FlashStub *stub = NULL;
        _cleanup_free_ char *text = NULL;
        size_t len;
        int fd, r;

        r = sd_bus_message_read(m, "h", &fd);
        if (r < 0)
                return r;
        r = flash_stub_read_fd(fd, &text, &len);
        if (r == -EFBIG)
                return option_error(error, key, "larger than any flasher stub");
        if (r == -ESPIPE || r == -EISDIR)
                return option_error(error, key, "not a regular file");
        if (r == -EBADF || r == -EINVAL)
                return option_error(error, key, "the fd is not open for reading");
        if (r < 0)
                return sd_bus_error_setf(error, BUS_ERROR_INVALID_OPTIONS, "Option '%s': cannot read it: %s",
                                         key, strerror(-r));
        r = flash_stub_parse(text, len, &stub);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return option_error(error, key, "not an esptool flasher stub (JSON with entry, text, text_start)");

        free((char *) o->job.stub_json);
        o->job.stub_json = TAKE_PTR(text);
        o->job.stub_json_len = len;
        return 0;
}

static int parse_force(sd_bus_message *m, const char *key, BusJobOptions *o, sd_bus_error *error) {
        int b, r;

        r = sd_bus_message_read(m, "b", &b);
        if (r < 0)
                return r;
        o->force = b;
        return 0;
}

typedef struct BusOptionParser {
        const char *key;
        const char *signature;
        int (*parse)(sd_bus_message *m, const char *key, BusJobOptions *o, sd_bus_error *error);
} BusOptionParser;

static const BusOptionParser option_parsers[] = {
        { "trust",       "b", parse_trust },
        { "chip",        "s", parse_chip },
        { "baud",        "u", parse_baud },
        { "before",      "s", parse_before },
        { "after",       "s", parse_after },
        { "granularity", "s", parse_granularity },
        { "loader",      "s", parse_loader },
        { "stub",        "h", parse_stub },
        { "force",       "b", parse_force },
};

void bus_job_options_done(BusJobOptions *o) {
        if (!o)
                return;
        free((char *) o->job.stub_json);
        o->job.stub_json = NULL;
        o->job.stub_json_len = 0;
}

int bus_message_read_options(sd_bus_message *m, BusJobOptions *ret, sd_bus_error *error) {
        _cleanup_(bus_job_options_done) BusJobOptions o = {
                .trust = -1,
                .reset_before_default = true,
                .baud_default = true,
                .granularity_default = true,
                .loader_default = true,
                .job = {
                        .reset_before = ESP_RESET_CLASSIC,
                        .reset_after = true,
                        .granularity = JOB_GRANULARITY_REGION,
                },
        };
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        for (;;) {
                const BusOptionParser *p = NULL;
                const char *key, *contents = NULL;

                r = sd_bus_message_enter_container(m, 'e', "sv");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                r = bus_validate_option_key(key, error);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < ELEMENTSOF(option_parsers); i++)
                        if (streq(option_parsers[i].key, key))
                                p = &option_parsers[i];
                if (!p)
                        return sd_bus_error_setf(error, BUS_ERROR_INVALID_OPTIONS, "Unknown option '%s'", key);

                r = sd_bus_message_peek_type(m, NULL, &contents);
                if (r < 0)
                        return r;
                if (!streq_ptr(contents, p->signature))
                        return sd_bus_error_setf(error, BUS_ERROR_INVALID_OPTIONS,
                                                 "Option '%s' takes type '%s', not '%s'",
                                                 key, p->signature, strempty(contents));
                r = sd_bus_message_enter_container(m, 'v', contents);
                if (r < 0)
                        return r;
                r = p->parse(m, key, &o, error);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;

        *ret = o;
        o.job.stub_json = NULL;         /* the caller's now */
        return 0;
}
