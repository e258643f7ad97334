/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The transport ops table: what the loader needs from a serial link and nothing
 * more. The loader never knows what a serial port is; implementations convert
 * their own error codes to negative errno once, here at this boundary.
 *
 * Errors every op may return: -ETIMEDOUT (deadline passed), -ENODEV (device gone),
 * -ECANCELED (transport_interrupt() was called), -EIO (other I/O failure). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "time-util.h"

typedef struct Transport Transport;

typedef struct TransportOps {
        const char *name;
        /* Reads up to n bytes; returns > 0 bytes read as soon as any arrive,
         * -ETIMEDOUT if none arrived before the deadline. */
        int (*read)(Transport *t, void *buf, size_t n, usec_t deadline);
        /* Writes all n bytes (returns 0) or fails. */
        int (*write)(Transport *t, const void *buf, size_t n, usec_t deadline);
        /* Sets DTR and RTS together (one TIOCMSET where the OS allows it):
         * true = asserted. */
        int (*set_signals)(Transport *t, bool dtr, bool rts);
        int (*set_baud)(Transport *t, uint32_t baud);
        /* Discards unread input. */
        int (*flush_input)(Transport *t);
        /* Waits until everything written has left the host. */
        int (*drain)(Transport *t, usec_t deadline);
        void (*free)(Transport *t);
} TransportOps;

/* Implementations embed this as their first member. */
struct Transport {
        const TransportOps *ops;
        int interrupt_fd;        /* eventfd; readable once interrupted */
        uint32_t baud;
        uint64_t bytes_sent, bytes_received;
};

/* Common helpers, valid for every implementation. */
int transport_init(Transport *t, const TransportOps *ops);     /* creates interrupt_fd */
void transport_deinit(Transport *t);
/* Thread-safe: makes blocking ops (now and later) return -ECANCELED. */
void transport_interrupt(Transport *t);
bool transport_is_interrupted(Transport *t);

static inline int transport_read(Transport *t, void *buf, size_t n, usec_t deadline) {
        return t->ops->read(t, buf, n, deadline);
}
static inline int transport_write(Transport *t, const void *buf, size_t n, usec_t deadline) {
        return t->ops->write(t, buf, n, deadline);
}
static inline int transport_set_signals(Transport *t, bool dtr, bool rts) {
        return t->ops->set_signals(t, dtr, rts);
}
static inline int transport_set_baud(Transport *t, uint32_t baud) {
        return t->ops->set_baud(t, baud);
}
static inline int transport_flush_input(Transport *t) {
        return t->ops->flush_input(t);
}
static inline int transport_drain(Transport *t, usec_t deadline) {
        return t->ops->drain(t, deadline);
}
Transport *transport_free(Transport *t);    /* NULL-safe; returns NULL */
DEFINE_TRIVIAL_CLEANUP_FUNC(Transport *, transport_free);
