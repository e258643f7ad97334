/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The connection to fbuild-deployd: the system bus by default, its
 * peer-to-peer socket with --address, a remote system bus with -H; plus
 * error reporting that maps the service's error names to exit codes. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "string-util.h"

void ctl_log(const char *format, ...) {
        va_list ap;

        fputs("fbuildctl: ", stderr);
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fputc('\n', stderr);
}

CtlExit ctl_fail(Ctl *c, CtlExit code, const char *format, ...) {
        char message[1024];
        va_list ap;

        va_start(ap, format);
        (void) vsnprintf(message, sizeof(message), format, ap);
        va_end(ap);
        fprintf(stderr, "fbuildctl: %s\n", message);
        ctl_json_error(c, NULL, message, code);
        return code;
}

void ctl_done(Ctl *c) {
        ctl_polkit_agent_close(c);
        if (c->bus) {
                (void) sd_bus_detach_event(c->bus);
                c->bus = sd_bus_flush_close_unref(c->bus);
        }
        c->event = sd_event_unref(c->event);
}

static CtlExit connect_error(Ctl *c, const char *where, int r) {
        CtlExit code = ERRNO_ABS(r) == EACCES || ERRNO_ABS(r) == EPERM ? CTL_EXIT_PERMISSION : CTL_EXIT_FAILURE;

        ctl_log("Cannot connect to %s: %s", where, strerror(ERRNO_ABS(r)));
        ctl_json_error(c, NULL, strerror(ERRNO_ABS(r)), code);
        return code;
}

/* sd-bus reports a malformed address as "connection refused"; say what is wrong
 * instead. Each ';'-separated address must start with a transport sd-bus knows. */
static bool address_is_plausible(const char *address) {
        static const char *const transports[] = { "unix:", "tcp:", "unixexec:", "x-machine-unix:", "vsock:" };
        const char *p = address;

        do {
                bool ok = false;

                for (size_t i = 0; i < ELEMENTSOF(transports); i++)
                        if (strncmp(p, transports[i], strlen(transports[i])) == 0)
                                ok = true;
                if (!ok)
                        return false;
                p = strchr(p, ';');
        } while (p && *++p);
        return true;
}

CtlExit ctl_connect(Ctl *c) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        const char *where;
        int r;

        /* What tools/sim-shell (or a CI job) exports; --address and -H win. */
        if (!c->address && !c->host) {
                const char *e = getenv("FBUILD_ADDRESS");

                if (e && *e)
                        c->address = e;
        }

        if (c->address) {
                /* The service's own socket: D-Bus without a bus daemon, so no
                 * Hello, no names, and signals arrive without match rules. */
                where = c->address;
                if (!address_is_plausible(c->address))
                        r = -EINVAL;
                else
                        r = sd_bus_new(&bus);
                if (r >= 0)
                        r = sd_bus_set_address(bus, c->address);
                if (r >= 0)
                        r = sd_bus_negotiate_fds(bus, true);
                if (r >= 0)
                        r = sd_bus_start(bus);
                if (r == -EINVAL)
                        return ctl_fail(c, CTL_EXIT_INVALID,
                                        "Invalid bus address '%s' (expected e.g. unix:path=/run/fbuild-deployd/bus)",
                                        c->address);
                c->peer_to_peer = true;
        } else if (c->host) {
                where = c->host;
                r = sd_bus_open_system_remote(&bus, c->host);
        } else {
                where = "the system bus";
                r = sd_bus_open_system(&bus);
        }
        if (r < 0)
                return connect_error(c, where, r);

        /* As systemctl: on a terminal, polkit may ask for a password there. */
        if (ctl_polkit_wanted(c)) {
                r = sd_bus_set_allow_interactive_authorization(bus, true);
                if (r < 0)
                        return connect_error(c, where, r);
                (void) ctl_polkit_agent_open(c);
        }

        r = sd_event_default(&c->event);
        if (r < 0)
                return connect_error(c, where, r);
        r = sd_bus_attach_event(bus, c->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return connect_error(c, where, r);
        c->bus = TAKE_PTR(bus);
        return CTL_EXIT_SUCCESS;
}

int ctl_new_call(Ctl *c, const char *member, sd_bus_message **ret) {
        return sd_bus_message_new_method_call(c->bus, ret, c->peer_to_peer ? NULL : BUS_SERVICE_NAME,
                                              BUS_OBJECT_PATH, BUS_INTERFACE, member);
}

CtlExit ctl_call(Ctl *c, sd_bus_message *m, sd_bus_message **ret_reply) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call(c->bus, m, CTL_SHORT_CALL_USEC, &e, ret_reply);
        if (r < 0)
                return ctl_report_error(c, sd_bus_message_get_member(m), &e, r);
        return CTL_EXIT_SUCCESS;
}

void ctl_json_print(Ctl *c, JsonValue *v) {
        bool pretty = c->json == CTL_JSON_PRETTY || (c->json == CTL_JSON_AUTO && isatty(STDOUT_FILENO) > 0);

        /* Every object says which shape it has, so scripts can refuse a newer one. */
        (void) json_object_set(v, "schema", json_new_uint64(CTL_JSON_SCHEMA));
        (void) json_format(stdout, v, pretty);
        fputc('\n', stdout);
        fflush(stdout);
}

void ctl_json_error(Ctl *c, const char *name, const char *message, CtlExit code) {
        _cleanup_(json_value_freep) JsonValue *o = NULL, *e = NULL;

        if (!c->json)
                return;
        o = json_new_object();
        e = json_new_object();
        if (!o || !e)
                return;
        if (c->verb && json_object_set(o, "command", json_new_string(c->verb)) < 0)
                return;
        if (json_object_set(e, "name", name ? json_new_string(name) : json_new_null()) < 0 ||
            json_object_set(e, "message", json_new_string(message ?: "")) < 0 ||
            json_object_set(o, "error", TAKE_PTR(e)) < 0 ||
            json_object_set(o, "exit_code", json_new_uint64(code)) < 0)
                return;
        ctl_json_print(c, o);
}

CtlExit ctl_report_error(Ctl *c, const char *what, const sd_bus_error *e, int r) {
        CtlExit code;

        if (sd_bus_error_is_set(e)) {
                code = ctl_exit_from_error_name(e->name);
                ctl_log("%s failed: %s (%s)", what, e->message ?: "no message", e->name);
                /* The service's own words, not a summary of them. */
                ctl_json_error(c, e->name, e->message, code);
                return code;
        }
        /* No error from the peer: our side of the connection failed. */
        code = ERRNO_ABS(r) == EACCES || ERRNO_ABS(r) == EPERM ? CTL_EXIT_PERMISSION : CTL_EXIT_FAILURE;
        ctl_log("%s failed: %s", what, strerror(ERRNO_ABS(r)));
        ctl_json_error(c, NULL, strerror(ERRNO_ABS(r)), code);
        return code;
}

/* ---- messages as JSON --------------------------------------------------------------- */

static int read_basic_json(sd_bus_message *m, char type, JsonValue **ret) {
        union {
                uint8_t u8;
                int b;
                int16_t i16;
                uint16_t u16;
                int32_t i32;
                uint32_t u32;
                int64_t i64;
                uint64_t u64;
                double d;
                const char *s;
                int fd;
        } v;
        JsonValue *j;
        int r;

        r = sd_bus_message_read_basic(m, type, &v);
        if (r < 0)
                return r;
        switch (type) {
        case SD_BUS_TYPE_BYTE:    j = json_new_uint64(v.u8); break;
        case SD_BUS_TYPE_BOOLEAN: j = json_new_boolean(v.b); break;
        case SD_BUS_TYPE_INT16:   j = json_new_int64(v.i16); break;
        case SD_BUS_TYPE_UINT16:  j = json_new_uint64(v.u16); break;
        case SD_BUS_TYPE_INT32:   j = json_new_int64(v.i32); break;
        case SD_BUS_TYPE_UINT32:  j = json_new_uint64(v.u32); break;
        case SD_BUS_TYPE_INT64:   j = json_new_int64(v.i64); break;
        case SD_BUS_TYPE_UINT64:  j = json_new_uint64(v.u64); break;
        case SD_BUS_TYPE_DOUBLE:  j = json_new_double(v.d); break;
        case SD_BUS_TYPE_UNIX_FD: j = json_new_null(); break;  /* meaningless outside this process */
        default:                  j = json_new_string(v.s); break; /* s, o, g */
        }
        if (!j)
                return -ENOMEM;
        *ret = j;
        return 0;
}

static int read_container_json(sd_bus_message *m, char type, const char *contents, JsonValue **ret) {
        _cleanup_(json_value_freep) JsonValue *out = NULL;
        int r;

        if (type == SD_BUS_TYPE_ARRAY && contents && streq(contents, "y")) {
                /* Digests and such: hex reads better than a list of numbers. */
                const void *p;
                size_t n;

                r = sd_bus_message_read_array(m, 'y', &p, &n);
                if (r < 0)
                        return r;
                _cleanup_free_ char *hex = malloc(n * 2 + 1);
                if (!hex)
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++)
                        (void) sprintf(hex + 2 * i, "%02x", ((const uint8_t *) p)[i]);
                hex[2 * n] = '\0';
                out = json_new_string(hex);
                if (!out)
                        return -ENOMEM;
                *ret = TAKE_PTR(out);
                return 0;
        }

        r = sd_bus_message_enter_container(m, type, contents);
        if (r < 0)
                return r;

        if (type == SD_BUS_TYPE_VARIANT) {
                r = ctl_message_read_json(m, &out);
                if (r < 0)
                        return r;
        } else if (type == SD_BUS_TYPE_ARRAY && contents[0] == SD_BUS_TYPE_DICT_ENTRY_BEGIN) {
                out = json_new_object();
                if (!out)
                        return -ENOMEM;
                while ((r = sd_bus_message_at_end(m, false)) == 0) {
                        _cleanup_(json_value_freep) JsonValue *key = NULL, *value = NULL;
                        const char *entry, *k;
                        char keybuf[8];
                        char t;

                        r = sd_bus_message_peek_type(m, &t, &entry);
                        if (r < 0)
                                return r;
                        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, entry);
                        if (r < 0)
                                return r;
                        r = ctl_message_read_json(m, &key);
                        if (r < 0)
                                return r;
                        r = ctl_message_read_json(m, &value);
                        if (r < 0)
                                return r;
                        r = sd_bus_message_exit_container(m);
                        if (r < 0)
                                return r;
                        /* Keys are basic types; JSON wants strings. */
                        k = json_string(key) ?: json_number_text(key);
                        if (!k) {
                                (void) snprintf(keybuf, sizeof(keybuf), "%s", json_boolean(key) ? "true" : "false");
                                k = keybuf;
                        }
                        r = json_object_set(out, k, TAKE_PTR(value));
                        if (r < 0)
                                return r;
                }
                if (r < 0)
                        return r;
        } else {
                out = json_new_array();
                if (!out)
                        return -ENOMEM;
                while ((r = sd_bus_message_at_end(m, false)) == 0) {
                        JsonValue *item = NULL;

                        r = ctl_message_read_json(m, &item);
                        if (r < 0)
                                return r;
                        r = json_array_append(out, item);
                        if (r < 0)
                                return r;
                }
                if (r < 0)
                        return r;
        }

        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(out);
        return 0;
}

int ctl_message_read_json(sd_bus_message *m, JsonValue **ret) {
        const char *contents;
        char type;
        int r;

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENXIO;          /* nothing left to read */
        if (type == SD_BUS_TYPE_ARRAY || type == SD_BUS_TYPE_VARIANT || type == SD_BUS_TYPE_STRUCT ||
            type == SD_BUS_TYPE_DICT_ENTRY)
                return read_container_json(m, type, contents, ret);
        return read_basic_json(m, type, ret);
}
