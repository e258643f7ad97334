/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SLIP decoder and encoder for the simulated chip (see sim-slip.h). */
#include <errno.h>
#include <stdlib.h>

#include "macro.h"
#include "sim-slip.h"

int sim_slip_decoder_init(SimSlipDecoder *d, size_t max) {
        *d = (SimSlipDecoder) { .max = max };
        d->buf = malloc(max ?: 1);
        if (!d->buf)
                return -ENOMEM;
        return 0;
}

void sim_slip_decoder_done(SimSlipDecoder *d) {
        free(d->buf);
        *d = (SimSlipDecoder) {};
}

void sim_slip_decoder_reset(SimSlipDecoder *d) {
        d->len = 0;
        d->in_frame = d->escape = d->broken = false;
}

static void decoder_put(SimSlipDecoder *d, uint8_t b) {
        if (d->len >= d->max) {
                d->broken = true;
                return;
        }
        d->buf[d->len++] = b;
}

int sim_slip_decoder_feed(SimSlipDecoder *d, uint8_t b) {
        if (b == SIM_SLIP_END) {
                bool complete = d->in_frame && d->len > 0 && !d->broken && !d->escape;

                if (d->in_frame && d->len == 0 && !d->broken) {
                        /* Back-to-back delimiters: still waiting for the payload. */
                        d->escape = false;
                        return 0;
                }
                if (!d->in_frame || !complete) {
                        /* A lone delimiter opens a frame; a damaged frame is
                         * dropped and its end delimiter starts the next one. */
                        d->len = 0;
                        d->in_frame = true;
                        d->escape = d->broken = false;
                        return 0;
                }
                d->in_frame = false;
                d->escape = false;
                return 1;
        }

        if (!d->in_frame)
                return 0;

        if (d->escape) {
                d->escape = false;
                if (b == SIM_SLIP_ESC_END)
                        decoder_put(d, SIM_SLIP_END);
                else if (b == SIM_SLIP_ESC_ESC)
                        decoder_put(d, SIM_SLIP_ESC);
                else
                        d->broken = true;
                return 0;
        }
        if (b == SIM_SLIP_ESC) {
                d->escape = true;
                return 0;
        }
        decoder_put(d, b);
        return 0;
}

size_t sim_slip_encode(const uint8_t *in, size_t n, uint8_t *out) {
        size_t o = 0;

        out[o++] = SIM_SLIP_END;
        for (size_t i = 0; i < n; i++) {
                if (in[i] == SIM_SLIP_END) {
                        out[o++] = SIM_SLIP_ESC;
                        out[o++] = SIM_SLIP_ESC_END;
                } else if (in[i] == SIM_SLIP_ESC) {
                        out[o++] = SIM_SLIP_ESC;
                        out[o++] = SIM_SLIP_ESC_ESC;
                } else
                        out[o++] = in[i];
        }
        out[o++] = SIM_SLIP_END;
        return o;
}
