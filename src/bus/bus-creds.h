/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Who sent a call, from what the caller fixed when it connected and cannot
 * change since: on the bus, the uid dbus-daemon recorded for the sender's
 * connection; peer-to-peer, the socket's SO_PEERCRED. Never sd-bus' "augmented"
 * credentials, which it reads from /proc/PID when asked: by then the caller may
 * have exec'd a setuid or setgid program with the call still pending (systemd
 * refuses augmented credentials for authorization for the same reason). */
#pragma once

#include <sys/types.h>

#include <systemd/sd-bus.h>

/* The uid of the connection that sent m: the bus daemon's record of the sender
 * (a synchronous GetConnectionCredentials round trip to the daemon, as
 * sd_bus_query_sender_creds() does), or the peer's SO_PEERCRED. */
int bus_sender_uid(sd_bus_message *m, uid_t *ret);

/* Peer-to-peer only: the pid and uid SO_PEERCRED recorded at connect(). */
int bus_peer_creds(sd_bus *bus, pid_t *ret_pid, uid_t *ret_uid);
