/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The errno ↔ org.fbuild.Deploy1.Error.* table: every errno the layers below
 * return maps to its documented name, names round-trip to an errno through
 * sd-bus once registered, and errnos outside the table keep sd-bus' names. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bus-error.h"

static const struct {
        int error;
        const char *name;
} vectors[] = {
        { EBUSY,       BUS_ERROR_DEVICE_BUSY },
        { ENODEV,      BUS_ERROR_NO_SUCH_DEVICE },
        { ETIMEDOUT,   BUS_ERROR_TIMEOUT },
        { EPROTO,      BUS_ERROR_PROTOCOL_ERROR },
        { EBADMSG,     BUS_ERROR_PROTOCOL_ERROR },
        { EIO,         BUS_ERROR_FLASH_ERROR },
        /* the digest helper failed (src/flash/digest.h) */
        { ECHILD,      BUS_ERROR_FLASH_ERROR },
        { ECANCELED,   BUS_ERROR_CANCELLED },
        { EINVAL,      BUS_ERROR_INVALID_REGIONS },
        { ERANGE,      BUS_ERROR_INVALID_REGIONS },
        { ENODATA,     BUS_ERROR_INVALID_REGIONS },
        { EISDIR,      BUS_ERROR_INVALID_SOURCE },
        { ESPIPE,      BUS_ERROR_INVALID_SOURCE },
        { ENOENT,      BUS_ERROR_INVALID_SOURCE },
        { ESTALE,      BUS_ERROR_INVALID_SOURCE },
        { EBADF,       BUS_ERROR_INVALID_SOURCE },
        { EACCES,      BUS_ERROR_PERMISSION_DENIED },
        { EPERM,       BUS_ERROR_PERMISSION_DENIED },
        { EBADRQC,     BUS_ERROR_INVALID_OPTIONS },
        { EOPNOTSUPP,  BUS_ERROR_NOT_SUPPORTED },
        { ENXIO,       BUS_ERROR_CHIP_MISMATCH },
        { EDQUOT,      BUS_ERROR_LIMITS_EXCEEDED },
        /* issue 12: running out of fds is a limit, never System.Error.EMFILE */
        { EMFILE,      BUS_ERROR_LIMITS_EXCEEDED },
        { ENFILE,      BUS_ERROR_LIMITS_EXCEEDED },
};

/* Errnos with no name of ours: sd-bus' own mapping applies. */
static const struct {
        int error;
        const char *name;
} fallbacks[] = {
        { ENOMEM,  SD_BUS_ERROR_NO_MEMORY },
        { EEXIST,  SD_BUS_ERROR_FILE_EXISTS },
        { ENOSPC,  "System.Error.ENOSPC" },
};

/* The twelve names, each with the errno a client gets back for it. */
static const struct {
        const char *name;
        int error;
} names[] = {
        { BUS_ERROR_DEVICE_BUSY,       EBUSY },
        { BUS_ERROR_NO_SUCH_DEVICE,    ENODEV },
        { BUS_ERROR_TIMEOUT,           ETIMEDOUT },
        { BUS_ERROR_PROTOCOL_ERROR,    EPROTO },
        { BUS_ERROR_FLASH_ERROR,       EIO },
        { BUS_ERROR_CANCELLED,         ECANCELED },
        { BUS_ERROR_INVALID_REGIONS,   EINVAL },
        { BUS_ERROR_INVALID_SOURCE,    EISDIR },
        { BUS_ERROR_PERMISSION_DENIED, EACCES },
        { BUS_ERROR_INVALID_OPTIONS,   EBADRQC },
        { BUS_ERROR_NOT_SUPPORTED,     EOPNOTSUPP },
        { BUS_ERROR_CHIP_MISMATCH,     ENXIO },
        { BUS_ERROR_LIMITS_EXCEEDED,   EDQUOT },
        /* issue 14: set by name only, never from an errno */
        { BUS_ERROR_PATH_NOT_VISIBLE,  ENOENT },
};

static int valid_error_name(const char *n) {
        /* D-Bus error names: ≥ 2 dot-separated elements of [A-Za-z0-9_], not
         * starting with a digit, at most 255 characters. */
        size_t elements = 0, len = strlen(n);
        int start = 1;

        if (len == 0 || len > 255)
                return 0;
        for (const char *p = n; *p; p++) {
                if (*p == '.') {
                        if (start)
                                return 0;
                        elements++;
                        start = 1;
                        continue;
                }
                if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_' ||
                      (!start && *p >= '0' && *p <= '9')))
                        return 0;
                start = 0;
        }
        return !start && elements >= 1;
}

static void test_table(void) {
        size_t n = 0;

        for (const sd_bus_error_map *m = bus_deploy_error_map; m->name; m++) {
                assert(valid_error_name(m->name));
                assert(strncmp(m->name, BUS_ERROR_PREFIX, strlen(BUS_ERROR_PREFIX)) == 0);
                assert(m->code > 0);
                /* Set by name only: never the name an errno maps to. */
                if (strcmp(m->name, BUS_ERROR_PATH_NOT_VISIBLE) == 0)
                        continue;
                n++;
        }
        /* Every other entry is in the vectors above, and vice versa. */
        assert(n == ELEMENTSOF(vectors));
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                assert(valid_error_name(names[i].name));
}

static void test_errno_to_name(void) {
        for (size_t i = 0; i < ELEMENTSOF(vectors); i++) {
                const char *n = bus_error_name_from_errno(-vectors[i].error);

                if (!n || strcmp(n, vectors[i].name) != 0) {
                        fprintf(stderr, "errno %d: got %s, want %s\n", vectors[i].error, n ?: "(null)",
                                vectors[i].name);
                        assert(0);
                }
                /* Either sign. */
                assert(bus_error_name_from_errno(vectors[i].error) == n);
        }
        assert(!bus_error_name_from_errno(0));
        for (size_t i = 0; i < ELEMENTSOF(fallbacks); i++)
                assert(!bus_error_name_from_errno(fallbacks[i].error));
}

static void test_set_errnof(void) {
        for (size_t i = 0; i < ELEMENTSOF(vectors); i++) {
                sd_bus_error e = SD_BUS_ERROR_NULL;
                char want[256];
                int r;

                r = bus_error_set_errnof(&e, -vectors[i].error, "port %s: %m", "/dev/ttyUSB0");
                /* The caller's errno comes back, whatever the name maps to. */
                assert(r == -vectors[i].error);
                assert(strcmp(e.name, vectors[i].name) == 0);
                snprintf(want, sizeof(want), "port /dev/ttyUSB0: %s", strerror(vectors[i].error));
                assert(strcmp(e.message, want) == 0);
                sd_bus_error_free(&e);
        }

        /* No format: strerror() is the message. */
        {
                sd_bus_error e = SD_BUS_ERROR_NULL;

                assert(bus_error_set_errnof(&e, EBUSY, NULL) == -EBUSY);
                assert(strcmp(e.name, BUS_ERROR_DEVICE_BUSY) == 0);
                assert(strcmp(e.message, strerror(EBUSY)) == 0);
                sd_bus_error_free(&e);
        }

        for (size_t i = 0; i < ELEMENTSOF(fallbacks); i++) {
                sd_bus_error e = SD_BUS_ERROR_NULL;

                assert(bus_error_set_errnof(&e, -fallbacks[i].error, "x %d", 1) == -fallbacks[i].error);
                assert(strcmp(e.name, fallbacks[i].name) == 0);
                assert(strcmp(e.message, "x 1") == 0);
                sd_bus_error_free(&e);
        }
}

static void test_name_to_errno(void) {
        /* Before registration sd-bus knows none of our names. */
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                sd_bus_error e = SD_BUS_ERROR_MAKE_CONST(names[i].name, "x");

                assert(sd_bus_error_get_errno(&e) == EIO);
        }

        assert(bus_error_register() >= 0);
        assert(bus_error_register() >= 0);   /* idempotent */

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                sd_bus_error e = SD_BUS_ERROR_NULL;

                assert(sd_bus_error_set(&e, names[i].name, "x") == -names[i].error);
                assert(sd_bus_error_get_errno(&e) == names[i].error);
                sd_bus_error_free(&e);
        }
        /* Every errno in the table survives errno → name → errno up to its name's
         * canonical errno. */
        for (size_t i = 0; i < ELEMENTSOF(vectors); i++) {
                sd_bus_error e = SD_BUS_ERROR_NULL;
                int back;

                (void) bus_error_set_errnof(&e, vectors[i].error, NULL);
                back = sd_bus_error_get_errno(&e);
                assert(strcmp(bus_error_name_from_errno(back), vectors[i].name) == 0);
                sd_bus_error_free(&e);
        }
}

int main(void) {
        test_table();
        test_errno_to_name();
        test_set_errnof();
        test_name_to_errno();
        printf("bus-error: ok\n");
        return 0;
}
