/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the streaming SLIP decoder: arbitrary bytes fed in
 * arbitrary chunks never overrun the frame buffer, every reported frame fits,
 * and any frame survives an encode/decode round trip unchanged. */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "slip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(const uint8_t *frame, size_t n) {
        SlipDecoder d;
        uint8_t *enc;
        size_t consumed = 0;
        int k, r;

        if (n == 0)
                return;
        enc = malloc(SLIP_ENCODED_MAX(n));
        assert(enc);
        k = slip_encode(frame, n, enc, SLIP_ENCODED_MAX(n));
        assert(k >= 0 && (size_t) k <= SLIP_ENCODED_MAX(n));
        assert(slip_decoder_init(&d, n) == 0);
        r = slip_decoder_feed(&d, enc, (size_t) k, &consumed);
        assert(r == 1 && consumed == (size_t) k);
        assert(d.len == n && memcmp(d.frame, frame, n) == 0);
        slip_decoder_deinit(&d);
        free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        SlipDecoder d;
        size_t max_frame, chunk;

        if (size < 2)
                return 0;
        /* The first two bytes choose the buffer size and the read size, so
         * frames split across reads and oversized frames are both explored. */
        max_frame = 1 + data[0] % 64 * 16;
        chunk = 1 + data[1] % 32;
        data += 2;
        size -= 2;

        assert(slip_decoder_init(&d, max_frame) == 0);
        for (size_t off = 0; off < size;) {
                size_t n = size - off < chunk ? size - off : chunk;
                size_t consumed = (size_t) -1;
                int r;

                r = slip_decoder_feed(&d, data + off, n, &consumed);
                assert(r == 1 || r == 0 || r == -EBADMSG);
                assert(consumed >= 1 && consumed <= n);
                if (r == 0)
                        assert(consumed == n);
                if (r == 1) {
                        assert(d.len > 0 && d.len <= d.max_frame);
                        round_trip(d.frame, d.len);
                }
                off += consumed;
        }
        slip_decoder_deinit(&d);
        return 0;
}
