/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The org.fbuild.Deploy1 object at /org/fbuild/Deploy1 (see
 * data/dbus/org.fbuild.Deploy1.xml, the contract this vtable must match). */
#pragma once

#include <systemd/sd-bus.h>

extern const sd_bus_vtable bus_deploy_vtable[];
