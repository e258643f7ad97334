/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SLIP framing as the ESP ROM and flasher stubs do it, written independently of
 * src/protocol so that the two implementations cross-check each other. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_SLIP_END 0xC0
#define SIM_SLIP_ESC 0xDB
#define SIM_SLIP_ESC_END 0xDC
#define SIM_SLIP_ESC_ESC 0xDD

typedef struct SimSlipDecoder {
        uint8_t *buf;
        size_t len;
        size_t max;             /* frames longer than this are dropped, like a full RX buffer */
        bool in_frame;
        bool escape;
        bool broken;            /* overflow or a bad escape: the frame is discarded at its end */
} SimSlipDecoder;

int sim_slip_decoder_init(SimSlipDecoder *d, size_t max);
void sim_slip_decoder_done(SimSlipDecoder *d);
void sim_slip_decoder_reset(SimSlipDecoder *d);
/* Feeds one byte. Returns 1 when a complete, intact frame is in d->buf/d->len
 * (valid until the next call), 0 otherwise. Bytes outside a frame are ignored. */
int sim_slip_decoder_feed(SimSlipDecoder *d, uint8_t byte);

/* Worst-case encoded size of n payload bytes, delimiters included. */
static inline size_t sim_slip_encoded_max(size_t n) {
        return 2 * n + 2;
}
/* Encodes one frame (both delimiters) into out; returns the bytes written. */
size_t sim_slip_encode(const uint8_t *in, size_t n, uint8_t *out);
