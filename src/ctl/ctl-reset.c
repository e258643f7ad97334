/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `fbuildctl reset [--bootloader] [PORT]`, and the Reset call the monitor
 * makes on start and for Ctrl-T Ctrl-R / Ctrl-T Ctrl-P. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "string-util.h"

CtlExit ctl_reset(Ctl *c, const char *port, bool bootloader) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r;

        r = ctl_new_call(c, "Reset", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "sb", port, bootloader);
        if (r < 0)
                return ctl_report_error(c, "Reset", NULL, r);
        return ctl_call(c, m, &reply);
}

int verb_reset(Ctl *c, int argc, char **argv) {
        _cleanup_free_ char *port = NULL;
        CtlExit code;

        code = ctl_take_port_argument(c, argc > 1 ? argv[1] : NULL);
        if (code != CTL_EXIT_SUCCESS)
                return code;
        code = ctl_connect(c);
        if (code != CTL_EXIT_SUCCESS)
                return code;
        code = ctl_pick_port(c, NULL, &port, NULL);
        if (code != CTL_EXIT_SUCCESS)
                return code;
        code = ctl_reset(c, port, c->bootloader);
        if (code != CTL_EXIT_SUCCESS)
                return code;
        if (c->json) {
                _cleanup_(json_value_freep) JsonValue *o = json_new_object();

                if (!o ||
                    json_object_set(o, "command", json_new_string("reset")) < 0 ||
                    json_object_set(o, "port", json_new_string(port)) < 0 ||
                    json_object_set(o, "bootloader", json_new_boolean(c->bootloader)) < 0 ||
                    json_object_set(o, "exit_code", json_new_uint64(CTL_EXIT_SUCCESS)) < 0)
                        return CTL_EXIT_FAILURE;
                ctl_json_print(c, o);
        } else
                printf("%s: reset into the %s\n", port, c->bootloader ? "bootloader" : "application");
        return CTL_EXIT_SUCCESS;
}
