/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Monitor(s port, u baud, a{sv} options) → h, and the MonitorPaused /
 * MonitorResumed signals; the method sits in the Deploy1 vtable. */
#pragma once

#include <systemd/sd-bus.h>

int bus_method_monitor(sd_bus_message *message, void *userdata, sd_bus_error *error);
/* Reset(s port, b bootloader): polkit action deploy (a reset into the
 * bootloader stops the application as a deploy does). */
int bus_method_reset(sd_bus_message *message, void *userdata, sd_bus_error *error);
