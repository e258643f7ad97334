/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A call's sender without /proc (bus-creds.h). */
#include <errno.h>

#include "bus-creds.h"
#include "bus-util.h"

/* Every credential we take, and none of them may have come from /proc. */
static int creds_checked_uid(sd_bus_creds *c, uid_t *ret) {
        uint64_t augmented = sd_bus_creds_get_augmented_mask(c);
        uid_t uid;
        int r;

        if (augmented & (SD_BUS_CREDS_UID | SD_BUS_CREDS_EUID))
                return -EPERM;
        /* dbus-daemon's UnixUserID and SO_PEERCRED are the uid the process had
         * when it connected; sd-bus files that under euid (or uid). */
        r = sd_bus_creds_get_euid(c, &uid);
        if (r < 0)
                r = sd_bus_creds_get_uid(c, &uid);
        if (r < 0)
                return r;
        if (uid == (uid_t) -1)
                return -EINVAL;
        *ret = uid;
        return 0;
}

int bus_peer_creds(sd_bus *bus, pid_t *ret_pid, uid_t *ret_uid) {
        _cleanup_bus_creds_unref_ sd_bus_creds *c = NULL;
        uint64_t augmented;
        pid_t pid = 0;
        uid_t uid;
        int r;

        if (sd_bus_is_bus_client(bus) > 0)
                return -EINVAL;
        /* No SD_BUS_CREDS_AUGMENT: only what getsockopt(SO_PEERCRED) said. */
        r = sd_bus_get_owner_creds(bus, SD_BUS_CREDS_PID | SD_BUS_CREDS_EUID, &c);
        if (r < 0)
                return r;
        r = creds_checked_uid(c, &uid);
        if (r < 0)
                return r;
        if (ret_pid) {
                augmented = sd_bus_creds_get_augmented_mask(c);
                if (augmented & SD_BUS_CREDS_PID)
                        return -EPERM;
                r = sd_bus_creds_get_pid(c, &pid);
                if (r < 0)
                        return r;
                *ret_pid = pid;
        }
        if (ret_uid)
                *ret_uid = uid;
        return 0;
}

int bus_sender_uid(sd_bus_message *m, uid_t *ret) {
        _cleanup_bus_creds_unref_ sd_bus_creds *c = NULL;
        sd_bus *bus = sd_bus_message_get_bus(m);
        const char *sender;
        int r;

        /* Peer-to-peer, a sender field is whatever the client wrote in it: the
         * socket alone says who is at the other end. */
        if (sd_bus_is_bus_client(bus) <= 0)
                return bus_peer_creds(bus, NULL, ret);

        sender = sd_bus_message_get_sender(m);
        if (!sender)
                return -ESRCH;
        /* The daemon's record of the sender's connection (UnixUserID). */
        r = sd_bus_get_name_creds(bus, sender, SD_BUS_CREDS_EUID | SD_BUS_CREDS_UID, &c);
        if (r < 0)
                return r;
        return creds_checked_uid(c, ret);
}
