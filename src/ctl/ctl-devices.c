/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `fbuildctl devices` and the port choice every device verb makes: the
 * service's ListDevices, shown as a table or as JSON. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl.h"
#include "source-parse.h"
#include "string-util.h"

CtlExit ctl_list_devices(Ctl *c, CtlDevice **ret, size_t *ret_n) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        CtlDevice *devices = NULL;
        size_t n = 0;
        CtlExit code;
        int r;

        r = ctl_new_call(c, "ListDevices", &m);
        if (r < 0)
                return ctl_report_error(c, "ListDevices", NULL, r);
        code = ctl_call(c, m, &reply);
        if (code != CTL_EXIT_SUCCESS)
                return code;

        r = sd_bus_message_enter_container(reply, 'a', "(sa{sv})");
        while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'r', "sa{sv}")) > 0) {
                _cleanup_(json_value_freep) JsonValue *props = NULL;
                CtlDevice *d;
                const char *port;

                r = sd_bus_message_read(reply, "s", &port);
                if (r < 0)
                        break;
                r = ctl_message_read_json(reply, &props);
                if (r < 0)
                        break;
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        break;
                d = reallocarray(devices, n + 1, sizeof(CtlDevice));
                if (!d) {
                        r = -ENOMEM;
                        break;
                }
                devices = d;
                devices[n].port = strdup(port);
                if (!devices[n].port) {
                        r = -ENOMEM;
                        break;
                }
                devices[n++].properties = TAKE_PTR(props);
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(reply);
        if (r < 0) {
                ctl_device_array_free(devices, n);
                return ctl_fail(c, CTL_EXIT_FAILURE, "Cannot parse the ListDevices reply: %s",
                                strerror(ERRNO_ABS(r)));
        }
        *ret = devices;
        *ret_n = n;
        return CTL_EXIT_SUCCESS;
}

static const char *prop_string(const CtlDevice *d, const char *key) {
        const char *s = json_string(json_object_get(d->properties, key));

        return s && *s ? s : "-";
}

/* "foreign (minicom pid 1234)": who else has the port open, as the service saw it. */
static const char *owner_text(const CtlDevice *d, char *buf, size_t size) {
        const char *owner = prop_string(d, "owner");
        uint64_t pid;

        if (!streq(owner, "foreign") ||
            json_number_uint64(json_object_get(d->properties, "holder_pid"), &pid) < 0)
                return owner;
        (void) snprintf(buf, size, "foreign (%s pid %" PRIu64 ")", prop_string(d, "holder_name"), pid);
        return buf;
}

static void vid_pid(const CtlDevice *d, char buf[static 16]) {
        uint64_t vid, pid;

        if (json_number_uint64(json_object_get(d->properties, "vid"), &vid) < 0 ||
            json_number_uint64(json_object_get(d->properties, "pid"), &pid) < 0 || vid > 0xffff || pid > 0xffff)
                (void) snprintf(buf, 16, "-");
        else
                (void) snprintf(buf, 16, "%04x:%04x", (unsigned) vid, (unsigned) pid);
}

static void print_device_line(FILE *f, const CtlDevice *d) {
        char vp[16];

        vid_pid(d, vp);
        fprintf(f, "  %s  %s  %s  serial %s%s%s\n", d->port, prop_string(d, "kind"), vp, prop_string(d, "serial"),
                json_string(json_object_get(d->properties, "chip")) ? "  chip " : "",
                json_string(json_object_get(d->properties, "chip")) ?: "");
}

/* The same name, or another name of the same device node (/dev/serial/by-id/…). */
static bool same_port(const char *listed, const char *given) {
        struct stat a, b;

        if (streq(listed, given))
                return true;
        return stat(listed, &a) >= 0 && stat(given, &b) >= 0 && S_ISCHR(a.st_mode) && S_ISCHR(b.st_mode) &&
               a.st_rdev == b.st_rdev;
}

const char *ctl_port_wanted(const Ctl *c) {
        /* ESPPORT is what idf.py and esptool read, so a shell set up for them works here too. */
        static const char *const variables[] = { "FBUILD_PORT", "ESPPORT" };

        if (c->port)
                return c->port;
        for (size_t i = 0; i < ELEMENTSOF(variables); i++) {
                const char *e = getenv(variables[i]);

                if (e && *e)
                        return e;
        }
        return NULL;
}

CtlExit ctl_take_port_argument(Ctl *c, const char *port) {
        if (!port)
                return CTL_EXIT_SUCCESS;
        if (c->port && !streq(c->port, port))
                return ctl_fail(c, CTL_EXIT_INVALID, "Two ports given: --port %s and %s", c->port, port);
        c->port = port;
        return CTL_EXIT_SUCCESS;
}

CtlExit ctl_pick_port(Ctl *c, const char *chip, char **ret_port, JsonValue **ret_device) {
        const char *wanted = ctl_port_wanted(c);
        CtlDevice *devices = NULL;
        size_t n = 0, index;
        CtlExit code;
        int r;

        if (wanted && !ret_device) {
                *ret_port = strdup(wanted);
                return *ret_port ? CTL_EXIT_SUCCESS : CTL_EXIT_FAILURE;
        }

        code = ctl_list_devices(c, &devices, &n);
        if (code != CTL_EXIT_SUCCESS)
                return code;

        if (wanted) {
                /* Only to learn what the service knows about it (its chip). */
                *ret_device = NULL;
                for (size_t i = 0; i < n; i++)
                        if (same_port(devices[i].port, wanted)) {
                                *ret_device = TAKE_PTR(devices[i].properties);
                                break;
                        }
                ctl_device_array_free(devices, n);
                *ret_port = strdup(wanted);
                return *ret_port ? CTL_EXIT_SUCCESS : CTL_EXIT_FAILURE;
        }

        r = port_pick(devices, n, chip, &index);
        if (r == -ENODEV) {
                if (n == 0)
                        (void) ctl_fail(c, CTL_EXIT_NO_DEVICE, "No serial device is attached. Plug a board in, or "
                                        "name a port with --port (or $FBUILD_PORT, $ESPPORT).");
                else {
                        (void) ctl_fail(c, CTL_EXIT_NO_DEVICE, "None of the attached devices fits a %s image:", chip);
                        for (size_t i = 0; i < n; i++)
                                print_device_line(stderr, &devices[i]);
                }
                ctl_device_array_free(devices, n);
                return CTL_EXIT_NO_DEVICE;
        }
        if (r == -ENOTUNIQ) {
                (void) ctl_fail(c, CTL_EXIT_INVALID, "Several devices are attached; choose one with --port "
                                "(or $FBUILD_PORT, $ESPPORT):");
                for (size_t i = 0; i < n; i++)
                        if (port_device_fits(devices[i].properties, chip))
                                print_device_line(stderr, &devices[i]);
                ctl_device_array_free(devices, n);
                return CTL_EXIT_INVALID;
        }

        *ret_port = TAKE_PTR(devices[index].port);
        if (ret_device)
                *ret_device = TAKE_PTR(devices[index].properties);
        ctl_device_array_free(devices, n);
        return CTL_EXIT_SUCCESS;
}

/* ---- fbuildctl devices ---------------------------------------------------------------- */

static CtlExit devices_json(Ctl *c, CtlDevice *devices, size_t n) {
        _cleanup_(json_value_freep) JsonValue *o = json_new_object(), *a = json_new_array();

        if (!o || !a)
                return CTL_EXIT_FAILURE;
        for (size_t i = 0; i < n; i++) {
                /* Whatever the service reports, plus the port. */
                if (json_object_set(devices[i].properties, "port", json_new_string(devices[i].port)) < 0 ||
                    json_array_append(a, TAKE_PTR(devices[i].properties)) < 0)
                        return CTL_EXIT_FAILURE;
        }
        if (json_object_set(o, "devices", TAKE_PTR(a)) < 0)
                return CTL_EXIT_FAILURE;
        ctl_json_print(c, o);
        return CTL_EXIT_SUCCESS;
}

int verb_devices(Ctl *c, int argc, char **argv) {
        static const char *const headers[] = { "PORT", "KIND", "VID:PID", "SERIAL", "CHIP", "TRUSTED", "OWNER" };
        size_t width[ELEMENTSOF(headers)];
        CtlDevice *devices = NULL;
        size_t n = 0;
        CtlExit code;

        code = ctl_connect(c);
        if (code != CTL_EXIT_SUCCESS)
                return code;
        code = ctl_list_devices(c, &devices, &n);
        if (code != CTL_EXIT_SUCCESS)
                return code;

        if (c->json) {
                code = devices_json(c, devices, n);
                ctl_device_array_free(devices, n);
                return code;
        }
        if (n == 0) {
                printf("No serial devices attached.\n");
                ctl_device_array_free(devices, n);
                return CTL_EXIT_SUCCESS;
        }

        for (size_t k = 0; k < ELEMENTSOF(headers); k++)
                width[k] = strlen(headers[k]);
        for (int pass = 0; pass < 2; pass++) {
                if (pass == 1 && !c->no_legend) {
                        for (size_t k = 0; k < ELEMENTSOF(headers); k++)
                                if (k + 1 < ELEMENTSOF(headers))
                                        printf("%-*s  ", (int) width[k], headers[k]);
                                else
                                        printf("%s\n", headers[k]);
                }
                for (size_t i = 0; i < n; i++) {
                        const CtlDevice *d = &devices[i];
                        const JsonValue *trusted = json_object_get(d->properties, "trusted");
                        const char *chip = json_string(json_object_get(d->properties, "chip"));
                        char vp[16], owner[64];
                        const char *cols[ELEMENTSOF(headers)];

                        vid_pid(d, vp);
                        cols[0] = d->port;
                        cols[1] = prop_string(d, "kind");
                        cols[2] = vp;
                        cols[3] = prop_string(d, "serial");
                        cols[4] = chip && *chip ? chip : "-";
                        cols[5] = json_value_type(trusted) == JSON_BOOLEAN ? (json_boolean(trusted) ? "yes" : "no") : "-";
                        cols[6] = owner_text(d, owner, sizeof(owner));
                        for (size_t k = 0; k < ELEMENTSOF(headers); k++) {
                                if (pass == 0)
                                        width[k] = MAX(width[k], strlen(cols[k]));
                                else if (k + 1 < ELEMENTSOF(headers))
                                        printf("%-*s  ", (int) width[k], cols[k]);
                                else
                                        printf("%s\n", cols[k]);       /* no trailing blanks */
                        }
                }
        }
        ctl_device_array_free(devices, n);
        return CTL_EXIT_SUCCESS;
}
