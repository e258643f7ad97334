/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SLIP framing (RFC 1055 as used by the ESP ROM loader: 0xC0 delimits, 0xDB 0xDC
 * escapes 0xC0, 0xDB 0xDD escapes 0xDB). The decoder is a streaming state machine:
 * it survives frames split across reads and skips boot text between frames. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SLIP_END 0xC0
#define SLIP_ESC 0xDB
#define SLIP_ESC_END 0xDC
#define SLIP_ESC_ESC 0xDD

/* Worst case: every byte escaped, plus two delimiters. */
#define SLIP_ENCODED_MAX(n) (2 * (size_t) (n) + 2)

/* Encodes one frame (with both delimiters) into out; returns the encoded length,
 * or -ENOBUFS if out_cap is too small (nothing useful is written then). */
int slip_encode(const void *in, size_t n, uint8_t *out, size_t out_cap);

typedef struct SlipDecoder {
        uint8_t *frame;      /* owned buffer, max_frame bytes */
        size_t max_frame;
        size_t len;          /* bytes of the frame being assembled */
        bool in_frame;
        bool escaped;
        bool overflow;       /* current frame exceeded max_frame: drop it */
        bool bad_escape;     /* current frame had an invalid escape: drop it */
        uint64_t frames_dropped;
} SlipDecoder;

int slip_decoder_init(SlipDecoder *d, size_t max_frame);   /* -ENOMEM */
void slip_decoder_deinit(SlipDecoder *d);
void slip_decoder_reset(SlipDecoder *d);

/* Feeds bytes. Consumes input up to and including the end of the first complete
 * frame and stores the count in *ret_consumed. Returns:
 *   1        a frame is complete: d->frame[0..d->len) until the next call;
 *   0        all input consumed, no frame complete yet;
 *   -EBADMSG a frame ended that was oversized or badly escaped (dropped; input
 *            up to its end is consumed; decoding can continue);
 * Bytes outside frames (boot messages) are ignored. Empty frames (C0 C0) are
 * not reported: the second C0 starts a new frame, as the ROM's own reader does. */
int slip_decoder_feed(SlipDecoder *d, const uint8_t *data, size_t n, size_t *ret_consumed);
