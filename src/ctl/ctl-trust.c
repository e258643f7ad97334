/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `fbuildctl trust show|forget [PORT]`: what the service trusts a device to
 * hold (TrustState), and dropping that trust (ForgetTrust). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl-format.h"
#include "ctl.h"
#include "string-util.h"

static void format_realtime(char *buf, size_t size, uint64_t usec) {
        time_t t = (time_t) (usec / 1000000);
        struct tm tm;

        if (usec == 0 || !localtime_r(&t, &tm) || strftime(buf, size, "%a %Y-%m-%d %H:%M:%S %Z", &tm) == 0)
                (void) snprintf(buf, size, "never");
}

static CtlExit trust_show(Ctl *c, const char *port) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        const char *why;
        uint64_t since;
        const void *hash;
        size_t hash_len;
        char when[64];
        CtlExit code;
        int trusted, r;

        r = ctl_new_call(c, "TrustState", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", port);
        if (r < 0)
                return ctl_report_error(c, "TrustState", NULL, r);
        code = ctl_call(c, m, &reply);
        if (code != CTL_EXIT_SUCCESS)
                return code;

        r = sd_bus_message_read(reply, "b", &trusted);
        if (r >= 0)
                r = sd_bus_message_read_array(reply, 'y', &hash, &hash_len);
        if (r >= 0)
                r = sd_bus_message_read(reply, "ts", &since, &why);
        if (r < 0)
                return ctl_report_error(c, "TrustState", NULL, r);

        _cleanup_free_ char *hex = malloc(FORMAT_HEX_MAX(hash_len));
        if (!hex)
                return CTL_EXIT_FAILURE;
        format_hex(hex, hash, hash_len);

        if (c->json) {
                _cleanup_(json_value_freep) JsonValue *o = json_new_object();

                if (!o ||
                    json_object_set(o, "command", json_new_string("trust show")) < 0 ||
                    json_object_set(o, "port", json_new_string(port)) < 0 ||
                    json_object_set(o, "trusted", json_new_boolean(trusted)) < 0 ||
                    json_object_set(o, "image_sha256", json_new_string(hex)) < 0 ||
                    json_object_set(o, "since_usec", json_new_uint64(since)) < 0 ||
                    json_object_set(o, "last_invalidation", json_new_string(why)) < 0)
                        return CTL_EXIT_FAILURE;
                ctl_json_print(c, o);
                return CTL_EXIT_SUCCESS;
        }

        format_realtime(when, sizeof(when), since);
        if (trusted) {
                printf("%s: trusted since %s\n", port, when);
                printf("  image sha256 %s\n", hex);
        } else
                printf("%s: not trusted\n", port);
        if (why && *why)
                printf("  trust last lost: %s\n", why);
        return CTL_EXIT_SUCCESS;
}

static CtlExit trust_forget(Ctl *c, const char *port) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        CtlExit code;
        int r;

        r = ctl_new_call(c, "ForgetTrust", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", port);
        if (r < 0)
                return ctl_report_error(c, "ForgetTrust", NULL, r);
        code = ctl_call(c, m, &reply);
        if (code != CTL_EXIT_SUCCESS)
                return code;

        if (c->json) {
                _cleanup_(json_value_freep) JsonValue *o = json_new_object();

                if (!o ||
                    json_object_set(o, "command", json_new_string("trust forget")) < 0 ||
                    json_object_set(o, "port", json_new_string(port)) < 0 ||
                    json_object_set(o, "forgotten", json_new_boolean(true)) < 0)
                        return CTL_EXIT_FAILURE;
                ctl_json_print(c, o);
        } else
                printf("%s: trust forgotten; the next deploy checks the device.\n", port);
        return CTL_EXIT_SUCCESS;
}

int verb_trust(Ctl *c, int argc, char **argv) {
        _cleanup_(json_value_freep) JsonValue *device = NULL;
        _cleanup_free_ char *port = NULL;
        bool show;
        CtlExit code;

        /* argv[0] is "trust"; the dispatcher checked there are 1 or 2 more. */
        if (streq(argv[1], "show"))
                show = true;
        else if (streq(argv[1], "forget"))
                show = false;
        else
                return ctl_fail(c, CTL_EXIT_INVALID, "Unknown trust command '%s' (expected show or forget)",
                                argv[1]);
        c->verb = show ? "trust show" : "trust forget";

        code = ctl_take_port_argument(c, argc > 2 ? argv[2] : NULL);
        if (code != CTL_EXIT_SUCCESS)
                return code;

        code = ctl_connect(c);
        if (code != CTL_EXIT_SUCCESS)
                return code;
        code = ctl_pick_port(c, NULL, &port, show ? &device : NULL);
        if (code != CTL_EXIT_SUCCESS)
                return code;
        /* The service answers for any name (a device that left keeps the reason
         * it lost trust); a port it does not list is no device to show. */
        if (show && !device)
                return ctl_fail(c, CTL_EXIT_NO_DEVICE, "%s: no such device (fbuildctl devices lists the "
                                "attached ones)", port);
        return show ? trust_show(c, port) : trust_forget(c, port);
}
