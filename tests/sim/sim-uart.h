/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The serial line between host and chip as the timing model sees it. Bytes the
 * host wrote reach the chip one byte time apart, however fast the pty handed
 * them over; bytes the chip sends leave one byte time apart from the moment
 * the chip produced them. Everything is in simulated nanoseconds; the event
 * loop asks what is due and when the next byte will be. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim-timing.h"

typedef struct SimByteQueue {
        uint8_t *buf;
        size_t head;
        size_t tail;
        size_t allocated;
} SimByteQueue;

typedef struct SimUartSegment {
        nsec_t start;           /* when its first byte starts on the line */
        SimByteTime bt;
        size_t len;
        size_t sent;
} SimUartSegment;

typedef struct SimUart {
        SimByteTime bt;         /* current rate, for both directions */

        SimByteQueue rx;
        nsec_t rx_burst_start;  /* the line started carrying the queued bytes here */
        uint64_t rx_burst_index;
        nsec_t rx_last_done;
        SimByteTime rx_bt;
        nsec_t rx_not_before;   /* a stalled chip reads nothing before this */

        SimByteQueue tx;
        SimUartSegment *segs;
        size_t n_segs;
        size_t allocated_segs;
        nsec_t tx_free;         /* the line is idle from here on */
} SimUart;

void sim_uart_init(SimUart *u, SimByteTime bt);
void sim_uart_done(SimUart *u);

/* Rate change (reset, CHANGE_BAUDRATE) effective at `at` for bytes not yet
 * started in either direction. */
void sim_uart_set_rate(SimUart *u, SimByteTime bt, nsec_t at);

int sim_uart_rx_push(SimUart *u, const uint8_t *data, size_t n, nsec_t now);
/* Pops the next received byte if it has fully arrived by now. */
bool sim_uart_rx_pop(SimUart *u, nsec_t now, uint8_t *ret_byte, nsec_t *ret_done);
nsec_t sim_uart_rx_next_due(const SimUart *u);
/* When the chip should next look at its input: once the next SLIP delimiter
 * (a possible end of frame) has arrived, or the last byte if there is none,
 * so frames are handled on time without a wakeup per byte. */
nsec_t sim_uart_rx_next_frame_due(const SimUart *u);
void sim_uart_rx_discard(SimUart *u, nsec_t now);

/* Queues bytes to leave no earlier than not_before; returns when the last of
 * them will have left. */
int sim_uart_tx_queue(SimUart *u, const uint8_t *data, size_t n, nsec_t not_before, nsec_t *ret_done);
/* Bytes at the head of the queue that have left the chip by now. */
size_t sim_uart_tx_due(const SimUart *u, nsec_t now, const uint8_t **ret_data);
void sim_uart_tx_consume(SimUart *u, size_t n);
nsec_t sim_uart_tx_next_due(const SimUart *u);
/* When the next `chunk` bytes (or the rest of the current burst) have left. */
nsec_t sim_uart_tx_chunk_due(const SimUart *u, size_t chunk);
nsec_t sim_uart_tx_free(const SimUart *u, nsec_t now);
size_t sim_uart_tx_pending(const SimUart *u);
void sim_uart_tx_discard(SimUart *u, nsec_t now);

/* A stall: nothing moves in either direction until `until`; bytes queued for
 * sending shift later by the same amount. */
void sim_uart_freeze(SimUart *u, nsec_t now, nsec_t until);
