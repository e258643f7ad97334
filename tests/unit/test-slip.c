/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SLIP encoder and streaming decoder: the byte streams the ROM and the stub
 * really sent (split at every position and fed a byte at a time), and the
 * broken streams a serial line produces: noise, truncation, bad escapes,
 * oversized frames. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "slip.h"
#include "trace-vectors.h"

#define MAX_FRAMES 16
#define MAX_FRAME 8192

/* What a decoder made of a stream: frames in order, and how many errors. */
typedef struct Decoded {
        size_t n_frames;
        size_t len[MAX_FRAMES];
        uint8_t *frame[MAX_FRAMES];
        size_t n_errors;
} Decoded;

static void decoded_free(Decoded *d) {
        for (size_t i = 0; i < d->n_frames; i++)
                free(d->frame[i]);
        *d = (Decoded) {};
}

/* Feeds data in chunks of `chunk` bytes (0: all at once) into d. */
static void feed_chunked(SlipDecoder *s, const uint8_t *data, size_t n, size_t chunk, Decoded *out) {
        size_t pos = 0;

        if (chunk == 0)
                chunk = n ?: 1;

        while (pos < n) {
                size_t end = MIN(pos + chunk, n);

                while (pos < end) {
                        size_t consumed = 0;
                        int r;

                        r = slip_decoder_feed(s, data + pos, end - pos, &consumed);
                        assert(consumed > 0 && consumed <= end - pos);
                        pos += consumed;
                        if (r == 1) {
                                assert(out->n_frames < MAX_FRAMES);
                                out->frame[out->n_frames] = malloc(s->len ?: 1);
                                assert(out->frame[out->n_frames]);
                                memcpy(out->frame[out->n_frames], s->frame, s->len);
                                out->len[out->n_frames++] = s->len;
                        } else if (r < 0) {
                                assert(r == -EBADMSG);
                                out->n_errors++;
                        } else
                                assert(pos == end);
                }
        }
}

static Decoded decode(const uint8_t *data, size_t n, size_t chunk, size_t max_frame) {
        SlipDecoder s;
        Decoded d = {};

        assert(slip_decoder_init(&s, max_frame) == 0);
        feed_chunked(&s, data, n, chunk, &d);
        assert(s.frames_dropped == d.n_errors);
        slip_decoder_deinit(&s);
        return d;
}

static void assert_frame(const Decoded *d, size_t i, const void *expect, size_t len) {
        assert(i < d->n_frames);
        assert(d->len[i] == len);
        assert(memcmp(d->frame[i], expect, len) == 0);
}

/* Re-encoding every decoded frame must give back the stream byte for byte:
 * the traces hold canonical SLIP with no noise. */
static void assert_reencodes_to(const Decoded *d, const uint8_t *stream, size_t n) {
        size_t pos = 0;

        for (size_t i = 0; i < d->n_frames; i++) {
                uint8_t buf[2 * MAX_FRAME + 2];
                int k = slip_encode(d->frame[i], d->len[i], buf, sizeof(buf));

                assert(k > 0);
                assert(pos + (size_t) k <= n);
                assert(memcmp(stream + pos, buf, (size_t) k) == 0);
                pos += (size_t) k;
        }
        assert(pos == n);
}

static void test_encode(void) {
        static const uint8_t in[] = { 0x01, 0xc0, 0xdb, 0x02, 0xdc, 0xdd };
        static const uint8_t out_expect[] = { 0xc0, 0x01, 0xdb, 0xdc, 0xdb, 0xdd, 0x02, 0xdc, 0xdd, 0xc0 };
        uint8_t out[32];

        assert(slip_encode(in, sizeof(in), out, sizeof(out)) == (int) sizeof(out_expect));
        assert(memcmp(out, out_expect, sizeof(out_expect)) == 0);

        /* exactly enough room, one byte short */
        assert(slip_encode(in, sizeof(in), out, sizeof(out_expect)) == (int) sizeof(out_expect));
        assert(slip_encode(in, sizeof(in), out, sizeof(out_expect) - 1) == -ENOBUFS);

        /* empty frame: just the delimiters */
        assert(slip_encode(NULL, 0, out, 2) == 2);
        assert(out[0] == SLIP_END && out[1] == SLIP_END);
        assert(slip_encode(NULL, 0, out, 1) == -ENOBUFS);

        /* worst case fits the advertised bound */
        uint8_t all_end[8], big[SLIP_ENCODED_MAX(8)];
        memset(all_end, SLIP_END, sizeof(all_end));
        assert(slip_encode(all_end, sizeof(all_end), big, sizeof(big)) == (int) sizeof(big));
}

/* A SLIP frame esptool wrote, decoded and re-encoded: the MEM_DATA and
 * FLASH_DEFL_DATA frames carry escaped 0xC0 bytes. */
static void test_trace_wire_roundtrip(void) {
        static const struct {
                const char *name;
                const uint8_t *wire;
                size_t len;
        } table[] = {
                { "sync", esp32_rom_sync_wire, sizeof(esp32_rom_sync_wire) },
                { "mem_data", esp32_stub_mem_data_wire, sizeof(esp32_stub_mem_data_wire) },
                { "defl_data0", esp32_rom_defl_data0_wire, sizeof(esp32_rom_defl_data0_wire) },
                { "defl_data4", esp32_rom_defl_data4_wire, sizeof(esp32_rom_defl_data4_wire) },
                { "flash_begin20", esp32c3_rom_flash_begin_wire, sizeof(esp32c3_rom_flash_begin_wire) },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                Decoded d = decode(table[i].wire, table[i].len, 0, MAX_FRAME);

                assert(d.n_frames == 1 && d.n_errors == 0);
                assert_reencodes_to(&d, table[i].wire, table[i].len);
                decoded_free(&d);
        }
}

/* Everything the chip sent back, fed at once, byte by byte, and split in two at
 * every position: same frames every time. */
static void test_trace_rx_streams(void) {
        static const struct {
                const char *name;
                const uint8_t *rx, *reply;
                size_t rx_len, reply_len, npackets;
        } table[] = {
#define RX(v) { #v, v##_rx, v##_reply, sizeof(v##_rx), sizeof(v##_reply), v##_npackets }
                RX(esp32_rom_sync),             /* eight SYNC answers */
                RX(esp32c3_rom_sync),
                RX(esp32_rom_security_info),
                RX(esp32c3_rom_security_info),
                RX(esp32_rom_md5),
                RX(esp32c3_rom_md5),
                RX(esp32_stub_md5),
                RX(esp32_stub_mem_end),         /* MEM_END reply, then "OHAI" */
                RX(esp32_stub_read_flash),      /* reply, 4 KiB data packet, MD5 */
                RX(esp32_stub_change_baud),
#undef RX
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                size_t n = table[i].rx_len;
                Decoded whole = decode(table[i].rx, n, 0, MAX_FRAME);

                assert(whole.n_errors == 0);
                assert(whole.n_frames == table[i].npackets);
                assert_frame(&whole, 0, table[i].reply, table[i].reply_len);
                assert_reencodes_to(&whole, table[i].rx, n);

                Decoded bytewise = decode(table[i].rx, n, 1, MAX_FRAME);
                assert(bytewise.n_frames == whole.n_frames && bytewise.n_errors == 0);
                for (size_t k = 0; k < whole.n_frames; k++)
                        assert_frame(&bytewise, k, whole.frame[k], whole.len[k]);
                decoded_free(&bytewise);

                /* split points: every one for short streams, a spread for the 4 KiB one */
                size_t step = n > 512 ? 7 : 1;
                for (size_t cut = 1; cut < n; cut += step) {
                        SlipDecoder s;
                        Decoded d = {};

                        assert(slip_decoder_init(&s, MAX_FRAME) == 0);
                        feed_chunked(&s, table[i].rx, cut, 0, &d);
                        feed_chunked(&s, table[i].rx + cut, n - cut, 0, &d);
                        slip_decoder_deinit(&s);

                        assert(d.n_errors == 0 && d.n_frames == whole.n_frames);
                        for (size_t k = 0; k < whole.n_frames; k++)
                                assert_frame(&d, k, whole.frame[k], whole.len[k]);
                        decoded_free(&d);
                }
                decoded_free(&whole);
        }
}

static void test_garbage_between_frames(void) {
        static const char boot[] = "ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\nwaiting for download\r\n";
        uint8_t stream[512];
        size_t n = 0;

        memcpy(stream + n, boot, strlen(boot)), n += strlen(boot);
        memcpy(stream + n, esp32_rom_read_magic_rx, sizeof(esp32_rom_read_magic_rx)), n += sizeof(esp32_rom_read_magic_rx);
        memcpy(stream + n, "\r\nnoise\xdb\xdb\x01", 10), n += 10;      /* even ESC outside a frame is noise */
        memcpy(stream + n, esp32_stub_md5_rx, sizeof(esp32_stub_md5_rx)), n += sizeof(esp32_stub_md5_rx);
        memcpy(stream + n, "tail", 4), n += 4;

        for (size_t chunk = 0; chunk <= 3; chunk++) {
                Decoded d = decode(stream, n, chunk, MAX_FRAME);

                assert(d.n_errors == 0 && d.n_frames == 2);
                assert_frame(&d, 0, esp32_rom_read_magic_reply, sizeof(esp32_rom_read_magic_reply));
                assert_frame(&d, 1, esp32_stub_md5_reply, sizeof(esp32_stub_md5_reply));
                decoded_free(&d);
        }
}

/* What the ESP32 printed after FLASH_END(0) (esp32-rom-flash-end-probe.txt):
 * two delimiters, then the reset banner, then the SYNC answers. As in
 * esptool's reader, the banner becomes one (garbage) frame, closed by the first
 * answer's opening delimiter, and that answer is lost; the other seven arrive.
 * The response decoder rejects the garbage; SYNC answers come in eights. */
static void test_boot_banner_after_reset(void) {
        static const char banner[] = "\xc0\xc0" "ets Jul 29 2019 12:21:46\r\n\r\nrst:0x3 (SW_RESET),boot:0xf (UART_BOOT(UART0))\r\n";
        uint8_t stream[512];
        size_t n = 0;

        memcpy(stream, banner, strlen(banner)), n += strlen(banner);
        memcpy(stream + n, esp32_rom_sync_rx, sizeof(esp32_rom_sync_rx)), n += sizeof(esp32_rom_sync_rx);

        Decoded d = decode(stream, n, 1, MAX_FRAME);
        assert(d.n_errors == 0 && d.n_frames == 8);
        assert_frame(&d, 0, banner + 2, strlen(banner) - 2);
        for (size_t k = 1; k < 8; k++)
                assert_frame(&d, k, esp32_rom_sync_reply, sizeof(esp32_rom_sync_reply));
        decoded_free(&d);
}

static void test_escape_at_buffer_end(void) {
        static const uint8_t part1[] = { 0xc0, 0x01, 0xdb }, part2[] = { 0xdc, 0x02, 0xdb }, part3[] = { 0xdd, 0xc0 };
        static const uint8_t expect[] = { 0x01, 0xc0, 0x02, 0xdb };
        SlipDecoder s;
        size_t consumed;

        assert(slip_decoder_init(&s, 16) == 0);
        assert(slip_decoder_feed(&s, part1, sizeof(part1), &consumed) == 0 && consumed == sizeof(part1));
        assert(s.escaped);
        assert(slip_decoder_feed(&s, part2, sizeof(part2), &consumed) == 0 && consumed == sizeof(part2));
        assert(slip_decoder_feed(&s, part3, sizeof(part3), &consumed) == 1 && consumed == sizeof(part3));
        assert(s.len == sizeof(expect) && memcmp(s.frame, expect, sizeof(expect)) == 0);
        slip_decoder_deinit(&s);
}

static void test_bad_escape(void) {
        /* ESC followed by an ordinary byte, then ESC directly before END; each
         * broken frame is dropped and the next one still decodes. */
        static const uint8_t stream[] = {
                0xc0, 0x01, 0xdb, 0x05, 0x02, 0xc0,
                0xc0, 0xaa, 0xc0,
                0xc0, 0x03, 0xdb, 0xc0,
                0xc0, 0xbb, 0xc0,
        };

        for (size_t chunk = 0; chunk <= 2; chunk++) {
                Decoded d = decode(stream, sizeof(stream), chunk, 64);

                assert(d.n_errors == 2 && d.n_frames == 2);
                assert_frame(&d, 0, "\xaa", 1);
                assert_frame(&d, 1, "\xbb", 1);
                decoded_free(&d);
        }

        /* the error consumes exactly up to the end of the broken frame */
        SlipDecoder s;
        size_t consumed;
        assert(slip_decoder_init(&s, 64) == 0);
        assert(slip_decoder_feed(&s, stream, sizeof(stream), &consumed) == -EBADMSG);
        assert(consumed == 6);
        assert(s.frames_dropped == 1 && !s.in_frame);
        slip_decoder_deinit(&s);
}

static void test_oversized(void) {
        uint8_t stream[64];
        size_t n = 0;

        /* 8 bytes fit a max_frame of 8 ... */
        stream[n++] = 0xc0;
        for (int i = 0; i < 8; i++)
                stream[n++] = (uint8_t) i;
        stream[n++] = 0xc0;
        /* ... 9 do not, and neither do 8 escaped bytes plus one ... */
        stream[n++] = 0xc0;
        for (int i = 0; i < 9; i++)
                stream[n++] = 0x40;
        stream[n++] = 0xc0;
        stream[n++] = 0xc0;
        for (int i = 0; i < 9; i++)
                stream[n++] = 0xdb, stream[n++] = 0xdc;
        stream[n++] = 0xc0;
        /* ... and decoding goes on afterwards */
        stream[n++] = 0xc0;
        stream[n++] = 0x77;
        stream[n++] = 0xc0;
        assert(n <= sizeof(stream));

        for (size_t chunk = 0; chunk <= 1; chunk++) {
                Decoded d = decode(stream, n, chunk, 8);

                assert(d.n_errors == 2 && d.n_frames == 2);
                assert_frame(&d, 0, "\x00\x01\x02\x03\x04\x05\x06\x07", 8);
                assert_frame(&d, 1, "\x77", 1);
                decoded_free(&d);
        }

        /* escaped bytes count once: 8 escaped C0s fit 8 bytes */
        static const uint8_t esc8[] = { 0xc0, 0xdb, 0xdc, 0xdb, 0xdc, 0xdb, 0xdc, 0xdb, 0xdc,
                                        0xdb, 0xdc, 0xdb, 0xdc, 0xdb, 0xdc, 0xdb, 0xdd, 0xc0 };
        Decoded d = decode(esc8, sizeof(esc8), 0, 8);
        assert(d.n_errors == 0 && d.n_frames == 1);
        assert_frame(&d, 0, "\xc0\xc0\xc0\xc0\xc0\xc0\xc0\xdb", 8);
        decoded_free(&d);
}

static void test_back_to_back(void) {
        static const uint8_t stream[] = { 0xc0, 0x01, 0xc0, 0xc0, 0x02, 0x03, 0xc0, 0xc0, 0x04, 0xc0 };
        SlipDecoder s;
        size_t consumed, pos = 0;

        assert(slip_decoder_init(&s, 16) == 0);

        /* each call stops right after the frame it completes */
        assert(slip_decoder_feed(&s, stream, sizeof(stream), &consumed) == 1);
        assert(consumed == 3 && s.len == 1 && s.frame[0] == 0x01);
        pos += consumed;
        assert(slip_decoder_feed(&s, stream + pos, sizeof(stream) - pos, &consumed) == 1);
        assert(consumed == 4 && s.len == 2 && s.frame[0] == 0x02 && s.frame[1] == 0x03);
        pos += consumed;
        assert(slip_decoder_feed(&s, stream + pos, sizeof(stream) - pos, &consumed) == 1);
        assert(consumed == 3 && s.len == 1 && s.frame[0] == 0x04);
        pos += consumed;
        assert(pos == sizeof(stream));
        assert(slip_decoder_feed(&s, stream, 0, &consumed) == 0 && consumed == 0);
        slip_decoder_deinit(&s);
}

static void test_empty_and_truncated(void) {
        /* Empty frames are not reported; the last C0 keeps a frame open. */
        static const uint8_t empties[] = { 0xc0, 0xc0, 0xc0, 0xc0, 0x09, 0xc0 };
        Decoded d = decode(empties, sizeof(empties), 0, 16);
        assert(d.n_errors == 0 && d.n_frames == 1);
        assert_frame(&d, 0, "\x09", 1);
        decoded_free(&d);

        /* A frame cut short by a new C0 is reported short (the response decoder
         * rejects it); the following delimited frame is intact. */
        static const uint8_t truncated[] = { 0xc0, 0x01, 0x08, 0x04, 0xc0, 0xc0, 0x0a, 0x0b, 0xc0 };
        d = decode(truncated, sizeof(truncated), 1, 16);
        assert(d.n_errors == 0 && d.n_frames == 2);
        assert_frame(&d, 0, "\x01\x08\x04", 3);
        assert_frame(&d, 1, "\x0a\x0b", 2);
        decoded_free(&d);

        /* A stream that stops mid-frame reports nothing, and reset forgets it. */
        SlipDecoder s;
        size_t consumed;
        assert(slip_decoder_init(&s, 16) == 0);
        assert(slip_decoder_feed(&s, truncated, 3, &consumed) == 0 && consumed == 3);
        assert(s.in_frame && s.len == 2);
        slip_decoder_reset(&s);
        assert(!s.in_frame && s.len == 0);
        assert(slip_decoder_feed(&s, truncated + 3, 2, &consumed) == 0);  /* "04 C0": noise, then open */
        assert(slip_decoder_feed(&s, truncated + 5, sizeof(truncated) - 5, &consumed) == 1);
        assert(s.len == 2 && s.frame[0] == 0x0a);
        slip_decoder_deinit(&s);
}

static void test_init(void) {
        SlipDecoder s;

        assert(slip_decoder_init(&s, 0) == -EINVAL);
        assert(slip_decoder_init(&s, 4) == 0);
        assert(s.frame && s.max_frame == 4 && !s.in_frame && s.frames_dropped == 0);
        slip_decoder_deinit(&s);
        assert(!s.frame && s.max_frame == 0);
        slip_decoder_deinit(&s);        /* idempotent */
}

int main(void) {
        test_encode();
        test_trace_wire_roundtrip();
        test_trace_rx_streams();
        test_garbage_between_frames();
        test_boot_banner_after_reset();
        test_escape_at_buffer_end();
        test_bad_escape();
        test_oversized();
        test_back_to_back();
        test_empty_and_truncated();
        test_init();
        printf("test-slip: ok\n");
        return 0;
}
