/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Serial line timing for the simulated chip (see sim-uart.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "sim-uart.h"

static size_t queue_len(const SimByteQueue *q) {
        return q->tail - q->head;
}

static int queue_push(SimByteQueue *q, const uint8_t *data, size_t n) {
        if (n == 0)
                return 0;
        if (q->tail + n > q->allocated) {
                size_t used = queue_len(q);

                /* Compact first; grow only if the live bytes don't fit. */
                if (q->head > 0) {
                        memmove(q->buf, q->buf + q->head, used);
                        q->head = 0;
                        q->tail = used;
                }
                if (used + n > q->allocated) {
                        size_t a = MAX(q->allocated * 2, used + n);
                        uint8_t *b;

                        a = MAX(a, (size_t) 4096);
                        b = realloc(q->buf, a);
                        if (!b)
                                return -ENOMEM;
                        q->buf = b;
                        q->allocated = a;
                }
        }
        memcpy(q->buf + q->tail, data, n);
        q->tail += n;
        return 0;
}

static void queue_drop(SimByteQueue *q, size_t n) {
        q->head += MIN(n, queue_len(q));
        if (q->head == q->tail)
                q->head = q->tail = 0;
}

void sim_uart_init(SimUart *u, SimByteTime bt) {
        *u = (SimUart) {
                .bt = bt,
                .rx_bt = bt,
        };
}

void sim_uart_done(SimUart *u) {
        free(u->rx.buf);
        free(u->tx.buf);
        free(u->segs);
        *u = (SimUart) {};
}

void sim_uart_set_rate(SimUart *u, SimByteTime bt, nsec_t at) {
        u->bt = bt;
        /* Received bytes still queued are re-timed from the switch on. */
        u->rx_bt = bt;
        u->rx_burst_start = MAX(at, u->rx_last_done);
        u->rx_burst_index = 0;
}

int sim_uart_rx_push(SimUart *u, const uint8_t *data, size_t n, nsec_t now) {
        if (queue_len(&u->rx) == 0) {
                u->rx_burst_start = MAX(now, u->rx_last_done);
                u->rx_burst_index = 0;
                u->rx_bt = u->bt;
        }
        return queue_push(&u->rx, data, n);
}

static nsec_t rx_head_done(const SimUart *u) {
        return u->rx_burst_start + sim_byte_time_span(u->rx_bt, u->rx_burst_index + 1);
}

bool sim_uart_rx_pop(SimUart *u, nsec_t now, uint8_t *ret_byte, nsec_t *ret_done) {
        nsec_t done;

        if (queue_len(&u->rx) == 0 || now < u->rx_not_before)
                return false;
        done = rx_head_done(u);
        if (done > now)
                return false;
        *ret_byte = u->rx.buf[u->rx.head];
        *ret_done = MAX(done, u->rx_not_before);
        queue_drop(&u->rx, 1);
        u->rx_burst_index++;
        u->rx_last_done = done;
        return true;
}

nsec_t sim_uart_rx_next_due(const SimUart *u) {
        if (queue_len(&u->rx) == 0)
                return SIM_NSEC_INFINITY;
        return MAX(rx_head_done(u), u->rx_not_before);
}

nsec_t sim_uart_rx_next_frame_due(const SimUart *u) {
        size_t n = queue_len(&u->rx), i;

        if (n == 0)
                return SIM_NSEC_INFINITY;
        for (i = 0; i < n - 1; i++)
                if (u->rx.buf[u->rx.head + i] == 0xC0)
                        break;
        return MAX(u->rx_burst_start + sim_byte_time_span(u->rx_bt, u->rx_burst_index + i + 1),
                   u->rx_not_before);
}

void sim_uart_rx_discard(SimUart *u, nsec_t now) {
        u->rx.head = u->rx.tail = 0;
        u->rx_last_done = MAX(u->rx_last_done, now);
}

int sim_uart_tx_queue(SimUart *u, const uint8_t *data, size_t n, nsec_t not_before, nsec_t *ret_done) {
        SimUartSegment *last = u->n_segs > 0 ? &u->segs[u->n_segs - 1] : NULL;
        nsec_t start = MAX(not_before, u->tx_free);
        int r;

        if (n == 0) {
                if (ret_done)
                        *ret_done = start;
                return 0;
        }
        r = queue_push(&u->tx, data, n);
        if (r < 0)
                return r;

        if (last && last->bt.num == u->bt.num && last->bt.den == u->bt.den &&
            last->start + sim_byte_time_span(last->bt, last->len) == start) {
                /* Continues the previous burst seamlessly; timing it as one
                 * burst keeps the rounding of a long stream exact. */
                last->len += n;
                u->tx_free = last->start + sim_byte_time_span(last->bt, last->len);
        } else {
                if (u->n_segs == u->allocated_segs) {
                        size_t a = MAX(u->allocated_segs * 2, (size_t) 16);
                        SimUartSegment *s = reallocarray(u->segs, a, sizeof(SimUartSegment));

                        if (!s)
                                return -ENOMEM;
                        u->segs = s;
                        u->allocated_segs = a;
                }
                u->segs[u->n_segs++] = (SimUartSegment) { .start = start, .bt = u->bt, .len = n };
                u->tx_free = start + sim_byte_time_span(u->bt, n);
        }
        if (ret_done)
                *ret_done = u->tx_free;
        return 0;
}

/* How many of the segment's bytes have fully left by now. */
static size_t segment_done_by(const SimUartSegment *s, nsec_t now) {
        uint64_t k;

        if (now < s->start)
                return 0;
        if (s->bt.num == 0)
                return s->len;
        /* Largest k with start + floor(k*num/den) <= now, the same rounding
         * as sim_byte_time_span(). */
        k = (uint64_t) (((__uint128_t) (now - s->start) + 1) * s->bt.den - 1) / s->bt.num;
        return (size_t) MIN(k, (uint64_t) s->len);
}

size_t sim_uart_tx_due(const SimUart *u, nsec_t now, const uint8_t **ret_data) {
        size_t n = 0;

        for (size_t i = 0; i < u->n_segs; i++) {
                const SimUartSegment *s = &u->segs[i];
                size_t d = segment_done_by(s, now);

                if (d <= s->sent)
                        break;
                n += d - s->sent;
                if (d < s->len)
                        break;
        }
        *ret_data = u->tx.buf + u->tx.head;
        return n;
}

void sim_uart_tx_consume(SimUart *u, size_t n) {
        size_t i = 0;

        queue_drop(&u->tx, n);
        while (n > 0 && i < u->n_segs) {
                SimUartSegment *s = &u->segs[i];
                size_t k = MIN(n, s->len - s->sent);

                s->sent += k;
                n -= k;
                if (s->sent == s->len)
                        i++;
        }
        if (i > 0) {
                memmove(u->segs, u->segs + i, (u->n_segs - i) * sizeof(SimUartSegment));
                u->n_segs -= i;
        }
}

nsec_t sim_uart_tx_next_due(const SimUart *u) {
        const SimUartSegment *s;

        if (u->n_segs == 0)
                return SIM_NSEC_INFINITY;
        s = &u->segs[0];
        return s->start + sim_byte_time_span(s->bt, s->sent + 1);
}

nsec_t sim_uart_tx_chunk_due(const SimUart *u, size_t chunk) {
        const SimUartSegment *s;
        size_t k;

        if (u->n_segs == 0 || chunk == 0)
                return SIM_NSEC_INFINITY;
        s = &u->segs[0];
        k = MIN(s->sent + chunk, s->len);
        return s->start + sim_byte_time_span(s->bt, k);
}

nsec_t sim_uart_tx_free(const SimUart *u, nsec_t now) {
        return MAX(u->tx_free, now);
}

size_t sim_uart_tx_pending(const SimUart *u) {
        return queue_len(&u->tx);
}

void sim_uart_tx_discard(SimUart *u, nsec_t now) {
        u->tx.head = u->tx.tail = 0;
        u->n_segs = 0;
        u->tx_free = now;
}

void sim_uart_freeze(SimUart *u, nsec_t now, nsec_t until) {
        nsec_t delta;

        if (until <= now)
                return;
        delta = until - now;
        for (size_t i = 0; i < u->n_segs; i++) {
                SimUartSegment *s = &u->segs[i];

                if (s->sent > 0) {
                        /* Re-anchor a half-sent segment so its next byte starts
                         * when the stall ends. */
                        nsec_t next = s->start + sim_byte_time_span(s->bt, s->sent);

                        s->start = MAX(next, now) + delta - sim_byte_time_span(s->bt, s->sent);
                } else
                        s->start = MAX(s->start, now) + delta;
        }
        if (u->n_segs > 0)
                u->tx_free = MAX(u->tx_free, now) + delta;
        u->rx_not_before = MAX(u->rx_not_before, until);
}
