/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The bus request parser (src/bus/bus-request.c): a Verify/DeployRegions body
 * (a(tv) regions, a{sv} options) built with sd-bus without a bus daemon or a
 * service, read into the typed request, table-driven: what is accepted comes
 * out typed, what is refused has its one error name. Links the bus request
 * library (bus-request, bus-validate, the error table) and the layers below it:
 * no core, no udev, no serial port. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "bus-error.h"
#include "bus-request.h"
#include "bus-validate.h"
#include "esp-chip.h"
#include "macro.h"
#include "string-util.h"

static sd_bus *test_bus(void) {
        static sd_bus *bus = NULL;
        int pair[2];

        if (bus)
                return bus;
        /* Messages need a started bus; the server end of a socketpair that never
         * authenticates will do, and allows fds in messages (as fuzz-bus-request). */
        assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
        assert(sd_bus_new(&bus) >= 0);
        assert(sd_bus_set_fd(bus, pair[0], pair[0]) >= 0);
        assert(sd_bus_set_server(bus, 1, SD_ID128_MAKE(3c, 55, 0e, 8a, 61, 2f, 4b, 90, a1, 7d, 2e, 44, 09, 5b, 6c, 13)) >= 0);
        assert(sd_bus_set_anonymous(bus, 1) >= 0);
        assert(sd_bus_negotiate_fds(bus, 1) >= 0);
        assert(sd_bus_start(bus) >= 0);
        return bus;
}

static sd_bus_message *new_call(void) {
        sd_bus_message *m = NULL;

        assert(sd_bus_message_new_method_call(test_bus(), &m, "org.fbuild.Deploy1", "/org/fbuild/Deploy1",
                                              "org.fbuild.Deploy1", "DeployRegions") >= 0);
        return m;
}

static void seal(sd_bus_message *m) {
        assert(sd_bus_message_seal(m, 1, 0) >= 0);
        assert(sd_bus_message_rewind(m, true) >= 0);
}

/* ---- regions --------------------------------------------------------------------- */

#define MAX_REGIONS_IN_VECTOR 3

typedef struct RegionIn {
        uint64_t offset;
        char type;              /* 's' path, 'h' fd, else a variant of that basic type */
        const char *path;
} RegionIn;

typedef struct RegionVector {
        const char *what;
        RegionIn in[MAX_REGIONS_IN_VECTOR];
        size_t n;
        size_t n_extra;         /* this many more "/x.bin" regions (bounds) */
        const char *error;      /* NULL: accepted */
} RegionVector;

static const RegionVector region_vectors[] = {
        { "empty list (the image layer refuses it later)", {}, 0, 0, NULL },
        { "a path and an fd", { { 0x1000, 's', "/tmp/boot.bin" }, { 0x10000, 'h', NULL } }, 2, 0, NULL },
        { "offset at the 32-bit limit", { { UINT32_MAX, 's', "/a" } }, 1, 0, NULL },
        { "offset past 32 bits", { { (uint64_t) UINT32_MAX + 1, 's', "/a" } }, 1, 0, BUS_ERROR_INVALID_REGIONS },
        { "relative path", { { 0, 's', "app.bin" } }, 1, 0, BUS_ERROR_INVALID_SOURCE },
        { "empty path", { { 0, 's', "" } }, 1, 0, BUS_ERROR_INVALID_SOURCE },
        { "a source of type u", { { 0, 'u', NULL } }, 1, 0, BUS_ERROR_INVALID_SOURCE },
        { "a source of type o", { { 0, 'o', NULL } }, 1, 0, BUS_ERROR_INVALID_SOURCE },
        { "a bad source after a good fd", { { 0, 'h', NULL }, { 0x1000, 'b', NULL } }, 2, 0, BUS_ERROR_INVALID_SOURCE },
        { "IMAGE_MAX_REGIONS regions", {}, 0, IMAGE_MAX_REGIONS, NULL },
        { "one region too many", {}, 0, IMAGE_MAX_REGIONS + 1, BUS_ERROR_INVALID_REGIONS },
};

static void append_region(sd_bus_message *m, const RegionIn *in, int fd) {
        uint32_t u = 7;
        int b = 1;

        assert(sd_bus_message_open_container(m, 'r', "tv") >= 0);
        assert(sd_bus_message_append(m, "t", in->offset) >= 0);
        switch (in->type) {
        case 's':
                assert(sd_bus_message_append(m, "v", "s", in->path) >= 0);
                break;
        case 'h':
                assert(sd_bus_message_append(m, "v", "h", fd) >= 0);
                break;
        case 'o':
                assert(sd_bus_message_append(m, "v", "o", "/org/fbuild") >= 0);
                break;
        case 'b':
                assert(sd_bus_message_append(m, "v", "b", b) >= 0);
                break;
        default:
                assert(sd_bus_message_append(m, "v", "u", u) >= 0);
        }
        assert(sd_bus_message_close_container(m) >= 0);
}

static void test_regions(void) {
        _cleanup_close_ int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        struct stat st_null, st;

        assert(fd >= 0);
        assert(fstat(fd, &st_null) == 0);

        for (size_t v = 0; v < ELEMENTSOF(region_vectors); v++) {
                const RegionVector *t = &region_vectors[v];
                _cleanup_(bus_region_list_done) BusRegionList l = {};
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                sd_bus_message *m = new_call();
                int r;

                assert(sd_bus_message_open_container(m, 'a', "(tv)") >= 0);
                for (size_t i = 0; i < t->n; i++)
                        append_region(m, &t->in[i], fd);
                for (size_t i = 0; i < t->n_extra; i++)
                        append_region(m, &(RegionIn) { (uint64_t) i * 0x1000, 's', "/x.bin" }, fd);
                assert(sd_bus_message_close_container(m) >= 0);
                seal(m);

                r = bus_message_read_regions(m, &l, &error);
                if (t->error) {
                        if (r >= 0 || !sd_bus_error_has_name(&error, t->error)) {
                                fprintf(stderr, "%s: expected %s, got %d %s\n", t->what, t->error, r,
                                        strna(error.name));
                                abort();
                        }
                        /* Nothing half-read is left behind. */
                        assert(l.n == 0 && !l.items);
                } else {
                        if (r < 0) {
                                fprintf(stderr, "%s: refused: %s\n", t->what, strna(error.message));
                                abort();
                        }
                        assert(!sd_bus_error_is_set(&error));
                        assert(l.n == t->n + t->n_extra);
                        for (size_t i = 0; i < t->n; i++) {
                                assert(l.items[i].offset == t->in[i].offset);
                                if (t->in[i].type == 's') {
                                        assert(streq(l.items[i].path, t->in[i].path));
                                        assert(l.items[i].fd < 0);
                                } else {
                                        /* Our own dup of the passed fd, not the message's. */
                                        assert(!l.items[i].path);
                                        assert(l.items[i].fd >= 3 && l.items[i].fd != fd);
                                        assert(fstat(l.items[i].fd, &st) == 0);
                                        assert(st.st_rdev == st_null.st_rdev && st.st_ino == st_null.st_ino);
                                        assert(fcntl(l.items[i].fd, F_GETFD) & FD_CLOEXEC);
                                }
                        }
                }
                sd_bus_message_unref(m);
        }
}

/* ---- options --------------------------------------------------------------------- */

typedef struct OptionVector {
        const char *key;
        char type;              /* 'b', 's', 'u', 'i' */
        const char *s;
        uint64_t u;
        const char *error;      /* NULL: accepted */
        void (*check)(const BusJobOptions *o);
} OptionVector;

static void check_trust_off(const BusJobOptions *o) {
        assert(o->trust == 0);
}
static void check_trust_on(const BusJobOptions *o) {
        assert(o->trust == 1);
}
static void check_chip_c3(const BusJobOptions *o) {
        assert(o->job.chip && streq(o->job.chip->name, "esp32c3"));
}
static void check_chip_detect(const BusJobOptions *o) {
        assert(!o->job.chip);
}
static void check_baud_921600(const BusJobOptions *o) {
        assert(o->job.baud == 921600 && !o->baud_default);
}
static void check_baud_0(const BusJobOptions *o) {
        assert(o->job.baud == 0 && !o->baud_default);
}
static void check_before_default(const BusJobOptions *o) {
        assert(o->reset_before_default);
}
static void check_before_usb(const BusJobOptions *o) {
        assert(!o->reset_before_default && o->job.reset_before == ESP_RESET_USB_JTAG);
}
static void check_before_none(const BusJobOptions *o) {
        assert(!o->reset_before_default && o->job.reset_before == ESP_RESET_NONE);
}
static void check_before_tight(const BusJobOptions *o) {
        assert(!o->reset_before_default && o->job.reset_before == ESP_RESET_UNIX_TIGHT);
}
static void check_after_none(const BusJobOptions *o) {
        assert(!o->job.reset_after);
}
static void check_after_hard(const BusJobOptions *o) {
        assert(o->job.reset_after);
}
static void check_sector(const BusJobOptions *o) {
        assert(o->job.granularity == JOB_GRANULARITY_SECTOR && !o->granularity_default);
}
static void check_region(const BusJobOptions *o) {
        assert(o->job.granularity == JOB_GRANULARITY_REGION && !o->granularity_default);
}

static void check_loader_stub(const BusJobOptions *o) {
        assert(o->job.loader == JOB_LOADER_STUB && !o->loader_default);
}
static void check_loader_rom(const BusJobOptions *o) {
        assert(o->job.loader == JOB_LOADER_ROM && !o->loader_default);
}
static void check_loader_default(const BusJobOptions *o) {
        assert(o->loader_default);
}

#define LONG_65 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static const OptionVector option_vectors[] = {
        { "trust", 'b', NULL, 0, NULL, check_trust_off },
        { "trust", 'b', NULL, 1, NULL, check_trust_on },
        { "trust", 's', "yes", 0, BUS_ERROR_INVALID_OPTIONS, NULL },
        { "chip", 's', "esp32c3", 0, NULL, check_chip_c3 },
        { "chip", 's', "ESP32-C3", 0, NULL, check_chip_c3 },
        { "chip", 's', "detect", 0, NULL, check_chip_detect },
        { "chip", 's', "", 0, NULL, check_chip_detect },
        { "chip", 's', "esp8266x", 0, BUS_ERROR_INVALID_OPTIONS, NULL },
        { "chip", 's', LONG_65, 0, BUS_ERROR_INVALID_OPTIONS, NULL },
        { "baud", 'u', NULL, 921600, NULL, check_baud_921600 },
        { "baud", 'u', NULL, 0, NULL, check_baud_0 },
        { "baud", 'u', NULL, 9599, BUS_ERROR_INVALID_OPTIONS, NULL },
        { "baud", 'u', NULL, 12000001, BUS_ERROR_INVALID_OPTIONS, NULL },
        { "baud", 'i', NULL, 921600, BUS_ERROR_INVALID_OPTIONS, NULL },
        { "before", 's', "default", 0, NULL, check_before_default },
        { "before", 's', "usb", 0, NULL, check_before_usb },
        { "before", 's', "none", 0, NULL, check_before_none },
        { "before", 's', "unix-tight", 0, NULL, check_before_tight },
        { "before", 's', "bogus", 0, BUS_ERROR_INVALID_OPTIONS, NULL },
        { "after", 's', "none", 0, NULL, check_after_none },
        { "after", 's', "no-reset", 0, NULL, check_after_none },
        { "after", 's', "hard-reset", 0, NULL, check_after_hard },
        { "after", 's', "soft", 0, BUS_ERROR_INVALID_OPTIONS, NULL },
        { "granularity", 's', "sector", 0, NULL, check_sector },
        { "granularity", 's', "region", 0, NULL, check_region },
        { "granularity", 's', "byte", 0, BUS_ERROR_INVALID_OPTIONS, NULL },
        { "speed", 'u', NULL, 115200, BUS_ERROR_INVALID_OPTIONS, NULL },
        { LONG_65, 'b', NULL, 1, BUS_ERROR_INVALID_OPTIONS, NULL },
        { "loader", 's', "stub", 0, NULL, check_loader_stub },
        { "loader", 's', "rom", 0, NULL, check_loader_rom },
        { "loader", 's', "default", 0, NULL, check_loader_default },
        { "loader", 's', "esptool", 0, BUS_ERROR_INVALID_OPTIONS, NULL },
        { "stub", 's', "/usr/lib/python3/dist-packages/esptool/targets/stub_flasher/1/esp32.json", 0,
          BUS_ERROR_INVALID_OPTIONS, NULL },
};

static void append_option(sd_bus_message *m, const OptionVector *t) {
        switch (t->type) {
        case 'b':
                assert(sd_bus_message_append(m, "{sv}", t->key, "b", (int) t->u) >= 0);
                break;
        case 's':
                assert(sd_bus_message_append(m, "{sv}", t->key, "s", t->s) >= 0);
                break;
        case 'u':
                assert(sd_bus_message_append(m, "{sv}", t->key, "u", (uint32_t) t->u) >= 0);
                break;
        default:
                assert(sd_bus_message_append(m, "{sv}", t->key, "i", (int32_t) t->u) >= 0);
        }
}

static int read_options(const OptionVector *const *vs, size_t n, BusJobOptions *ret, sd_bus_error *error) {
        sd_bus_message *m = new_call();
        int r;

        assert(sd_bus_message_open_container(m, 'a', "{sv}") >= 0);
        for (size_t i = 0; i < n; i++)
                append_option(m, vs[i]);
        assert(sd_bus_message_close_container(m) >= 0);
        seal(m);
        r = bus_message_read_options(m, ret, error);
        sd_bus_message_unref(m);
        return r;
}

/* "stub" h: an esptool stub is read and kept; anything else is refused by name. */
static void test_option_stub(void) {
        static const char stub[] = "{\"entry\": 1, \"text\": \"AQID\", \"text_start\": 2}";
        static const char *const bad[] = { "", "{", "{\"entry\": 1}", "[1, 2]", "{\"entry\": 1, \"text\": \"**\", \"text_start\": 2}" };
        int p[2];

        for (size_t i = 0; i <= ELEMENTSOF(bad) + 1; i++) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_(bus_job_options_done) BusJobOptions o = {};
                sd_bus_message *m = new_call();
                int fd;

                if (i == 0 || i <= ELEMENTSOF(bad)) {
                        const char *text = i == 0 ? stub : bad[i - 1];

                        fd = memfd_create("stub", MFD_CLOEXEC);
                        assert(fd >= 0);
                        assert(write(fd, text, strlen(text)) == (ssize_t) strlen(text));
                } else {
                        assert(pipe2(p, O_CLOEXEC) == 0);       /* not a regular file */
                        close(p[1]);
                        fd = p[0];
                }
                assert(sd_bus_message_append(m, "a{sv}", 1, "stub", "h", fd) >= 0);
                close(fd);
                seal(m);
                if (i == 0) {
                        assert(bus_message_read_options(m, &o, &error) >= 0);
                        assert(o.job.stub_json_len == strlen(stub) && streq(o.job.stub_json, stub));
                } else {
                        assert(bus_message_read_options(m, &o, &error) < 0);
                        assert(sd_bus_error_has_name(&error, BUS_ERROR_INVALID_OPTIONS));
                        assert(!o.job.stub_json);
                }
                sd_bus_message_unref(m);
        }
}

static void test_options_defaults(void) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        BusJobOptions o;

        /* Nothing said: everything left for the core to resolve. */
        assert(read_options(NULL, 0, &o, &error) >= 0);
        assert(o.trust == -1);
        assert(o.reset_before_default && o.baud_default && o.granularity_default && o.loader_default);
        assert(o.job.loader == JOB_LOADER_AUTO && !o.job.stub_json);
        assert(!o.job.chip);
        assert(o.job.reset_after);
        assert(o.job.granularity == JOB_GRANULARITY_REGION);
}

static void test_options_one_by_one(void) {
        for (size_t v = 0; v < ELEMENTSOF(option_vectors); v++) {
                const OptionVector *t = &option_vectors[v];
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                BusJobOptions o;
                int r;

                r = read_options(&t, 1, &o, &error);
                if (t->error) {
                        if (r >= 0 || !sd_bus_error_has_name(&error, t->error)) {
                                fprintf(stderr, "option %s: expected %s, got %d %s\n", t->key, t->error, r,
                                        strna(error.name));
                                abort();
                        }
                        /* The message names the key (truncated keys aside). */
                        assert(error.message);
                        if (strlen(t->key) <= BUS_OPTION_STRING_MAX)
                                assert(strstr(error.message, t->key) || strstr(error.message, "baud"));
                } else {
                        if (r < 0) {
                                fprintf(stderr, "option %s: refused: %s\n", t->key, strna(error.message));
                                abort();
                        }
                        t->check(&o);
                }
        }
}

static void test_options_together(void) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const OptionVector *all[] = {
                &option_vectors[0],     /* trust false */
                &option_vectors[3],     /* chip esp32c3 */
                &option_vectors[9],     /* baud 921600 */
                &option_vectors[15],    /* before usb */
                &option_vectors[19],    /* after none */
                &option_vectors[23],    /* granularity sector */
        };
        const OptionVector *bad_last[] = { &option_vectors[0], &option_vectors[26] };
        BusJobOptions o;

        assert(read_options(all, ELEMENTSOF(all), &o, &error) >= 0);
        for (size_t i = 0; i < ELEMENTSOF(all); i++)
                all[i]->check(&o);
        assert(o.reset_before_default == false && o.baud_default == false && o.granularity_default == false);

        /* One bad key refuses the whole call. */
        assert(read_options(bad_last, ELEMENTSOF(bad_last), &o, &error) < 0);
        assert(sd_bus_error_has_name(&error, BUS_ERROR_INVALID_OPTIONS));
}

/* ---- the whole body, as submit_job() reads it ------------------------------------ */

static void test_whole_body(void) {
        _cleanup_(bus_region_list_done) BusRegionList l = {};
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *m = new_call();
        const char *port;
        BusJobOptions o;

        assert(sd_bus_message_append(m, "s", "/dev/ttyUSB0") >= 0);
        assert(sd_bus_message_append(m, "a(tv)", 2, (uint64_t) 0x1000, "s", "/b.bin",
                                     (uint64_t) 0x10000, "s", "/a.bin") >= 0);
        assert(sd_bus_message_append(m, "a{sv}", 1, "granularity", "s", "sector") >= 0);
        seal(m);

        assert(sd_bus_message_read(m, "s", &port) >= 0);
        assert(bus_validate_port(port, &error) >= 0);
        assert(bus_message_read_regions(m, &l, &error) >= 0);
        assert(bus_message_read_options(m, &o, &error) >= 0);
        assert(l.n == 2 && streq(l.items[0].path, "/b.bin") && l.items[1].offset == 0x10000);
        check_sector(&o);
        /* The body was read to its end. */
        assert(sd_bus_message_at_end(m, true) > 0);
        sd_bus_message_unref(m);
}

int main(void) {
        assert(bus_error_register() >= 0);
        test_regions();
        test_options_defaults();
        test_options_one_by_one();
        test_options_together();
        test_option_stub();
        test_whole_body();
        sd_bus_close_unref(test_bus());
        return 0;
}
