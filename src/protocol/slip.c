/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SLIP framing for the ESP serial loader: a one-shot encoder and a streaming
 * decoder that never overruns its buffer and resynchronises on the next 0xC0. */

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "slip.h"

int slip_encode(const void *in, size_t n, uint8_t *out, size_t out_cap) {
        const uint8_t *p = in;
        size_t need = 2, k = 0;

        for (size_t i = 0; i < n; i++)
                need += (p[i] == SLIP_END || p[i] == SLIP_ESC) ? 2 : 1;
        if (need > out_cap || need > INT_MAX)
                return -ENOBUFS;

        out[k++] = SLIP_END;
        for (size_t i = 0; i < n; i++) {
                if (p[i] == SLIP_END) {
                        out[k++] = SLIP_ESC;
                        out[k++] = SLIP_ESC_END;
                } else if (p[i] == SLIP_ESC) {
                        out[k++] = SLIP_ESC;
                        out[k++] = SLIP_ESC_ESC;
                } else
                        out[k++] = p[i];
        }
        out[k++] = SLIP_END;

        return (int) k;
}

int slip_decoder_init(SlipDecoder *d, size_t max_frame) {
        uint8_t *buf;

        if (max_frame == 0)
                return -EINVAL;

        buf = malloc(max_frame);
        if (!buf)
                return -ENOMEM;

        *d = (SlipDecoder) {
                .frame = buf,
                .max_frame = max_frame,
        };
        return 0;
}

void slip_decoder_deinit(SlipDecoder *d) {
        free(d->frame);
        *d = (SlipDecoder) {};
}

/* Forgets any partial frame; the buffer and the drop counter stay. */
void slip_decoder_reset(SlipDecoder *d) {
        d->len = 0;
        d->in_frame = false;
        d->escaped = false;
        d->overflow = false;
        d->bad_escape = false;
}

static void slip_decoder_append(SlipDecoder *d, uint8_t b) {
        /* Keep reading to the end of an oversized frame so that the next
         * delimiter resynchronises us, but store nothing past the buffer. */
        if (d->len >= d->max_frame) {
                d->overflow = true;
                return;
        }
        d->frame[d->len++] = b;
}

int slip_decoder_feed(SlipDecoder *d, const uint8_t *data, size_t n, size_t *ret_consumed) {
        for (size_t i = 0; i < n; i++) {
                uint8_t b = data[i];

                if (!d->in_frame) {
                        /* Boot messages and other noise between frames. */
                        if (b == SLIP_END) {
                                slip_decoder_reset(d);
                                d->in_frame = true;
                        }
                        continue;
                }

                if (b == SLIP_END) {
                        bool bad = d->overflow || d->bad_escape || d->escaped;

                        /* C0 C0: the second delimiter opens the frame. */
                        if (d->len == 0 && !bad)
                                continue;

                        d->in_frame = false;
                        if (ret_consumed)
                                *ret_consumed = i + 1;
                        if (bad) {
                                d->frames_dropped++;
                                slip_decoder_reset(d);
                                return -EBADMSG;
                        }
                        return 1;
                }

                if (d->escaped) {
                        d->escaped = false;
                        if (b == SLIP_ESC_END)
                                slip_decoder_append(d, SLIP_END);
                        else if (b == SLIP_ESC_ESC)
                                slip_decoder_append(d, SLIP_ESC);
                        else
                                d->bad_escape = true;
                        continue;
                }

                if (b == SLIP_ESC)
                        d->escaped = true;
                else
                        slip_decoder_append(d, b);
        }

        if (ret_consumed)
                *ret_consumed = n;
        return 0;
}
