/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the bus request parser (src/bus/bus-request.c): the body
 * of a Verify/DeployRegions call, built with sd-bus from fuzz input, read the
 * way the handler reads it (s port, a(tv) regions, a{sv} options). Any body is
 * either accepted with every rule holding, or refused; nothing leaks (fds
 * included) and nothing crashes. The port string also goes through the open
 * failure messages, with a fuzzed errno.
 *
 * Input: u8 flags, then (flags & 1) a NUL-terminated body signature (else the
 * method's own, "sa(tv)a{sv}"), then the values, consumed as the signature
 * walks: basic types take their size in bytes (little-endian); strings a length
 * byte then that many bytes, or with the length's top bit set a word from a
 * dictionary; arrays a count byte (at most 8 elements); variants a type byte
 * (a table of likely contents, or a NUL-terminated signature); h a fd of
 * /dev/null, a pipe's write end or a directory. Then an errno byte. */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "bus-error.h"
#include "bus-request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_DEPTH 8
#define MAX_ELEMENTS 8

typedef struct Input {
        const uint8_t *p;
        size_t n;
} Input;

static const char *const words[] = {
        "trust", "chip", "baud", "before", "after", "granularity", "", "auto", "detect", "esp32",
        "esp32c3", "esp32s3", "esp8266x", "default", "usb", "usb-jtag", "none", "classic", "unix-tight",
        "hard-reset", "no-reset", "region", "sector", "byte", "/dev/ttyUSB0", "/tmp/app.bin",
        "relative.bin", "/proc/self/fd/0", "/", "%s%n%m", "loader", "stub", "rom",
};

/* Signatures a variant is likely to hold, the right ones among them. */
static const char *const variant_types[] = {
        "s", "h", "b", "u", "i", "t", "y", "n", "q", "x", "d", "o", "g", "as", "(tv)", "a{sv}", "v", "ay",
};

#define N_FDS 5
static int fds[N_FDS] = { -EBADF, -EBADF, -EBADF, -EBADF, -EBADF };

static bool take(Input *in, void *buf, size_t n) {
        if (in->n < n) {
                memset(buf, 0, n);
                in->n = 0;
                return false;
        }
        memcpy(buf, in->p, n);
        in->p += n;
        in->n -= n;
        return true;
}

static uint8_t take_u8(Input *in) {
        uint8_t b = 0;

        (void) take(in, &b, 1);
        return b;
}

/* A NUL-terminated string from the input (at most cap bytes), into buf. */
static void take_cstring(Input *in, char *buf, size_t cap) {
        size_t i = 0;

        while (in->n > 0 && i + 1 < cap) {
                char c = (char) *in->p++;

                in->n--;
                if (c == '\0')
                        break;
                buf[i++] = c;
        }
        buf[i] = '\0';
}

static int append_value(sd_bus_message *m, const char **sig, Input *in, unsigned depth);

/* One complete type of *sig, appended; *sig moves past it. */
static int append_value(sd_bus_message *m, const char **sig, Input *in, unsigned depth) {
        char t = **sig, contents[256];
        const char *start;
        uint8_t buf[8];
        int r;

        if (depth > MAX_DEPTH || t == '\0')
                return -EINVAL;
        (*sig)++;

        switch (t) {
        case 'y': case 'b': case 'n': case 'q': case 'i': case 'u': case 'x': case 't': case 'd': {
                size_t len = t == 'y' ? 1 : (t == 'n' || t == 'q') ? 2 : (t == 'b' || t == 'i' || t == 'u') ? 4 : 8;
                int b;

                (void) take(in, buf, len);
                if (t == 'b') {
                        b = buf[0] & 1;
                        return sd_bus_message_append_basic(m, t, &b);
                }
                return sd_bus_message_append_basic(m, t, buf);
        }
        case 's': case 'o': case 'g': {
                uint8_t len = take_u8(in);
                char s[128];

                if (len & 0x80)
                        snprintf(s, sizeof(s), "%s", words[(len & 0x7f) % (sizeof(words) / sizeof(words[0]))]);
                else {
                        len = len < sizeof(s) - 1 ? len : sizeof(s) - 1;
                        (void) take(in, s, len);
                        s[len] = '\0';
                }
                return sd_bus_message_append_basic(m, t, s);
        }
        case 'h':
                return sd_bus_message_append_basic(m, t, &fds[take_u8(in) % N_FDS]);
        case 'v': {
                uint8_t k = take_u8(in);

                if (k == 0xff)
                        take_cstring(in, contents, sizeof(contents));
                else
                        snprintf(contents, sizeof(contents), "%s",
                                 variant_types[k % (sizeof(variant_types) / sizeof(variant_types[0]))]);
                r = sd_bus_message_open_container(m, 'v', contents);
                if (r < 0)
                        return r;
                start = contents;
                r = append_value(m, &start, in, depth + 1);
                if (r < 0)
                        return r;
                if (*start != '\0')
                        return -EINVAL;
                return sd_bus_message_close_container(m);
        }
        case 'a': {
                const char *elem = *sig, *end;
                uint8_t count = take_u8(in) % (MAX_ELEMENTS + 1);
                size_t len;

                /* The element type: walk over it once without input. */
                end = elem;
                {
                        int level = 0;

                        do {
                                while (*end == 'a')
                                        end++;
                                if (*end == '(' || *end == '{')
                                        level++;
                                else if (*end == ')' || *end == '}')
                                        level--;
                                if (*end == '\0')
                                        return -EINVAL;
                                end++;
                        } while (level > 0);
                }
                len = (size_t) (end - elem);
                if (len >= sizeof(contents))
                        return -EINVAL;
                memcpy(contents, elem, len);
                contents[len] = '\0';
                *sig = end;

                r = sd_bus_message_open_container(m, 'a', contents);
                if (r < 0)
                        return r;
                for (unsigned i = 0; i < count; i++) {
                        start = contents;
                        r = append_value(m, &start, in, depth + 1);
                        if (r < 0)
                                return r;
                }
                return sd_bus_message_close_container(m);
        }
        case '(': case '{': {
                char close = t == '(' ? ')' : '}';
                size_t len;

                int level = 0;

                /* Members are appended below; here only their extent. */
                start = *sig;
                while (level > 0 || **sig != close) {
                        if (**sig == '\0')
                                return -EINVAL;
                        if (**sig == '(' || **sig == '{')
                                level++;
                        else if (**sig == ')' || **sig == '}')
                                level--;
                        (*sig)++;
                }
                len = (size_t) (*sig - start);
                if (len >= sizeof(contents))
                        return -EINVAL;
                memcpy(contents, start, len);
                contents[len] = '\0';
                (*sig)++;
                r = sd_bus_message_open_container(m, t == '(' ? 'r' : 'e', contents);
                if (r < 0)
                        return r;
                start = contents;
                while (*start != '\0') {
                        r = append_value(m, &start, in, depth + 1);
                        if (r < 0)
                                return r;
                }
                return sd_bus_message_close_container(m);
        }
        default:
                return -EINVAL;
        }
}

static sd_bus *fuzz_bus(void) {
        static sd_bus *bus = NULL;
        int pair[2];

        if (bus)
                return bus;
        /* Messages need a bus that has started; a server end of a socketpair
         * that never authenticates will do, and allows fds in messages. */
        assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
        assert(sd_bus_new(&bus) >= 0);
        assert(sd_bus_set_fd(bus, pair[0], pair[0]) >= 0);
        assert(sd_bus_set_server(bus, 1, SD_ID128_MAKE(5a, 1d, 36, 4e, 9c, 0b, 4d, 2a, 8e, 31, 77, 0c, 12, 9e, 40, 6b)) >= 0);
        assert(sd_bus_set_anonymous(bus, 1) >= 0);
        assert(sd_bus_negotiate_fds(bus, 1) >= 0);
        assert(sd_bus_start(bus) >= 0);
        /* pair[1] stays open: the bus must not see its peer go. */

        fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        assert(fds[0] >= 0);
        {
                int p[2];

                assert(pipe2(p, O_CLOEXEC) == 0);
                fds[1] = p[1];  /* write-only: the parser takes it, validation would not */
        }
        fds[2] = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert(fds[2] >= 0);
        /* regular files for the "stub" option: an esptool stub, and not one */
        {
                static const char stub[] = "{\"entry\": 1, \"text\": \"AQID\", \"text_start\": 2}";
                static const char junk[] = "{\"entry\": [[[[";

                fds[3] = memfd_create("stub", MFD_CLOEXEC);
                fds[4] = memfd_create("junk", MFD_CLOEXEC);
                assert(fds[3] >= 0 && fds[4] >= 0);
                assert(write(fds[3], stub, sizeof(stub) - 1) == (ssize_t) sizeof(stub) - 1);
                assert(write(fds[4], junk, sizeof(junk) - 1) == (ssize_t) sizeof(junk) - 1);
        }
        return bus;
}

static void check_regions(const BusRegionList *l) {
        assert(l->n <= IMAGE_MAX_REGIONS);
        for (size_t i = 0; i < l->n; i++) {
                const BusRegionSource *s = &l->items[i];

                assert(s->offset <= UINT32_MAX);
                assert(!!s->path != (s->fd >= 0));
                if (s->path)
                        assert(s->path[0] == '/');
                else
                        assert(fcntl(s->fd, F_GETFD) & FD_CLOEXEC);
        }
}

static void check_options(const BusJobOptions *o) {
        assert(o->trust >= -1 && o->trust <= 1);
        assert(o->job.loader >= 0 && o->job.loader < _JOB_LOADER_MAX);
        /* only a parsed stub is taken */
        assert(!!o->job.stub_json == (o->job.stub_json_len > 0));
        if (!o->baud_default)
                assert(o->job.baud == 0 || (o->job.baud >= 9600 && o->job.baud <= 12000000));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(bus_region_list_done) BusRegionList regions = {};
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *m = NULL;
        char signature[256] = "sa(tv)a{sv}";
        Input in = { .p = data, .n = size };
        const char *sig, *port = NULL;
        BusJobOptions o;
        uint8_t flags;
        int r;

        flags = take_u8(&in);
        if (flags & 1)
                take_cstring(&in, signature, sizeof(signature));

        assert(bus_error_register() >= 0);
        assert(sd_bus_message_new_method_call(fuzz_bus(), &m, "org.fbuild.Deploy1", "/org/fbuild/Deploy1",
                                              "org.fbuild.Deploy1", "DeployRegions") >= 0);
        sig = signature;
        while (*sig != '\0') {
                r = append_value(m, &sig, &in, 0);
                if (r < 0)
                        goto out;       /* not a body sd-bus would send */
        }
        if (sd_bus_message_seal(m, 1, 0) < 0)
                goto out;
        assert(sd_bus_message_rewind(m, true) >= 0);

        /* As submit_job() reads it. */
        r = sd_bus_message_read(m, "s", &port);
        if (r < 0)
                goto out;
        r = bus_message_read_regions(m, &regions, &error);
        if (r < 0) {
                assert(regions.n == 0 && !regions.items);
                goto out;
        }
        check_regions(&regions);
        r = bus_message_read_options(m, &o, &error);
        if (r >= 0) {
                assert(!sd_bus_error_is_set(&error));
                check_options(&o);
                bus_job_options_done(&o);
        }

        /* The messages that quote a caller's path. */
        sd_bus_error_free(&error);
        r = bus_error_set_open_failure(&error, port, (uid_t) take_u8(&in) * 1000u, -(int) (1 + take_u8(&in) % 133));
        assert(r < 0 && sd_bus_error_is_set(&error));
        assert(strncmp(error.name, "org.", 4) == 0 || strncmp(error.name, "System.Error.", 13) == 0);

out:
        sd_bus_error_free(&error);
        sd_bus_message_unref(m);
        return 0;
}
