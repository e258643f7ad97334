/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The loader session and whole-region writes against an in-process fake chip
 * that answers like the ESP32 / ESP32-C3 ROMs and the flasher stub in the
 * reference traces (repeated SYNC replies, unsupported commands echoing the
 * previous opcode, 4 vs 2 status bytes, hex vs raw MD5), plus lost replies,
 * boot noise and stray frames. The fake is a Transport: no serial port. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "esp-command.h"
#include "esp-loader.h"
#include "flash-write.h"
#include "macro.h"
#include "slip.h"

#define FAKE_FLASH_SIZE (4u * 1024 * 1024)
#define FAKE_MAX_REGS 64
#define FAKE_MAX_SIGNALS 64
#define ROM_SYNC_VALUE 0x20120707u

typedef struct FakeChip {
        Transport base;
        EspChipId chip;
        bool stub;
        uint32_t chip_baud;

        SlipDecoder dec;
        uint8_t *rxq;                   /* bytes waiting for the host */
        size_t rx_head, rx_tail, rx_cap;
        size_t read_chunk;              /* hand out at most this much per read */

        uint8_t last_op;                /* the ROM echoes it for unknown commands */
        struct {
                uint32_t addr, value;
        } regs[FAKE_MAX_REGS];
        size_t n_regs;
        uint32_t flash_id;

        uint8_t *flash;

        /* FLASH_DEFL_* */
        bool defl;
        uint32_t defl_offset, defl_size, defl_blocks, defl_block_size, next_seq;
        size_t begin_payload_len;
        size_t defl_written;
        z_stream zs;
        size_t max_block_seen;

        /* what the host did */
        unsigned commands, sync_requests, attach_len, set_params_size, md5_requests;
        bool defl_end_seen;
        unsigned n_signals;
        bool signal_dtr[FAKE_MAX_SIGNALS], signal_rts[FAKE_MAX_SIGNALS];

        /* faults */
        unsigned drop_reply_of;         /* command number whose reply is lost (1-based) */
        uint8_t drop_op;                /* …or the first reply to this opcode */
        uint8_t delay_op;               /* the first reply to this opcode comes late */
        uint8_t *delayed;               /* …held here until the next request */
        size_t n_delayed;
        unsigned defl_data_frames, refusals;
        bool noise_before_replies;      /* boot text, "\xc0\xc0…" and stray SYNC replies */
        bool ignore_change_baud;
        bool corrupt_after_write;       /* flip a flash byte at DEFL_END-time */
} FakeChip;

static FakeChip *fake_from(Transport *t) {
        return (FakeChip *) t;
}

/* ---- the fake's side of the wire ----------------------------------------------- */

static void fake_queue_raw(FakeChip *f, const void *p, size_t n) {
        if (f->rx_tail + n > f->rx_cap) {
                f->rx_cap = (f->rx_tail + n) * 2;
                f->rxq = realloc(f->rxq, f->rx_cap);
                assert(f->rxq);
        }
        memcpy(f->rxq + f->rx_tail, p, n);
        f->rx_tail += n;
}

static void fake_queue_frame(FakeChip *f, const uint8_t *frame, size_t n) {
        uint8_t wire[SLIP_ENCODED_MAX(4200)];
        int k;

        k = slip_encode(frame, n, wire, sizeof(wire));
        assert(k > 0);
        fake_queue_raw(f, wire, (size_t) k);
}

static void put32(uint8_t *p, uint32_t v) {
        p[0] = v & 0xff;
        p[1] = (v >> 8) & 0xff;
        p[2] = (v >> 16) & 0xff;
        p[3] = v >> 24;
}

static uint32_t get32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

/* A response as the ROM (4 status bytes, last two leftovers) or the stub (2) sends it. */
static void fake_reply(FakeChip *f, uint8_t op, uint32_t value, const void *data, size_t n,
                       uint8_t status, uint8_t error) {
        uint8_t frame[8 + 4200];
        size_t st = f->stub ? 2 : 4, size = n + st;

        assert(n <= 4096);
        frame[0] = 1;
        frame[1] = op;
        frame[2] = size & 0xff;
        frame[3] = size >> 8;
        put32(frame + 4, value);
        if (n > 0)
                memcpy(frame + 8, data, n);
        if (f->stub) {
                frame[8 + n] = status ? error : 0;
                frame[8 + n + 1] = 0;
        } else {
                frame[8 + n] = status;
                frame[8 + n + 1] = error;
                frame[8 + n + 2] = 0x33;        /* leftovers, as in the traces */
                frame[8 + n + 3] = 0x65;
        }

        if (f->noise_before_replies) {
                static const uint8_t noise[] = "\xc0\xc0" "ets Jul 29 2019 12:21:46\r\n\r\nrst:0x3 (SW_RESET)\r\n";
                uint8_t sync[12] = { 1, ESP_OP_SYNC, 4, 0, 0x07, 0x07, 0x12, 0x20, 0, 0, 0, 0 };

                fake_queue_raw(f, noise, sizeof(noise) - 1);
                fake_queue_frame(f, sync, sizeof(sync));
        }
        fake_queue_frame(f, frame, 8 + size);
}

static uint32_t *fake_reg(FakeChip *f, uint32_t addr) {
        for (size_t i = 0; i < f->n_regs; i++)
                if (f->regs[i].addr == addr)
                        return &f->regs[i].value;
        assert(f->n_regs < FAKE_MAX_REGS);
        f->regs[f->n_regs] = (typeof(f->regs[0])) { .addr = addr };
        return &f->regs[f->n_regs++].value;
}

static void fake_set_reg(FakeChip *f, uint32_t addr, uint32_t v) {
        *fake_reg(f, addr) = v;
}

static uint32_t fake_get_reg(FakeChip *f, uint32_t addr) {
        return *fake_reg(f, addr);
}

static void fake_unsupported(FakeChip *f) {
        /* the ROM's way: failed status 0x05 under the previous opcode */
        fake_reply(f, f->last_op, 0x12345678, NULL, 0, 1, 0x05);
}

static void fake_handle_one(FakeChip *f, const EspRequest *rq) {
        const EspChipInfo *info = esp_chip_get(f->chip);
        const uint8_t *p = rq->payload;
        size_t n = rq->payload_len;
        uint32_t value = 0x12345678;    /* stale value field */

        f->commands++;
        switch (rq->op) {
        case ESP_OP_SYNC:
                assert(n == ESP_SYNC_PAYLOAD_SIZE);
                f->sync_requests++;
                for (unsigned i = 0; i < (f->stub ? 1u : 8u); i++)
                        fake_reply(f, ESP_OP_SYNC, f->stub ? 0 : ROM_SYNC_VALUE, NULL, 0, 0, 0);
                break;

        case ESP_OP_READ_REG: {
                uint32_t addr;

                assert(n == 4);
                addr = get32(p);
                if (addr == ESP_CHIP_MAGIC_REG)
                        value = info->magic[info->n_magic - 1];
                else
                        value = fake_get_reg(f, addr);
                fake_reply(f, rq->op, value, NULL, 0, 0, 0);
                break;
        }

        case ESP_OP_WRITE_REG: {
                uint32_t addr, v;

                assert(n == 16);
                addr = get32(p);
                v = get32(p + 4);
                assert(get32(p + 8) == UINT32_MAX);
                fake_set_reg(f, addr, v);
                /* the SPI controller: run the user command, answer RDID */
                if (addr == info->spi_reg_base && (v & ESP_SPI_CMD_USR)) {
                        uint32_t usr2 = fake_get_reg(f, info->spi_reg_base + info->spi_usr2_offs);

                        assert(fake_get_reg(f, info->spi_reg_base + info->spi_miso_dlen_offs) == 23);
                        assert(fake_get_reg(f, info->spi_reg_base + info->spi_usr_offs) ==
                               (ESP_SPI_USR_COMMAND | ESP_SPI_USR_MISO));
                        if ((usr2 & 0xff) == ESP_SPI_FLASH_RDID)
                                fake_set_reg(f, info->spi_reg_base + info->spi_w0_offs, f->flash_id);
                        fake_set_reg(f, addr, 0);
                }
                fake_reply(f, rq->op, value, NULL, 0, 0, 0);
                break;
        }

        case ESP_OP_GET_SECURITY_INFO:
                if (f->chip == ESP_CHIP_ESP32 && !f->stub) {
                        fake_unsupported(f);
                        return;   /* last_op unchanged */
                } else {
                        uint8_t si[20] = {};

                        put32(si + 12, (uint32_t) info->security_chip_id);
                        fake_reply(f, rq->op, value, si, sizeof(si), 0, 0);
                }
                break;

        case ESP_OP_SPI_ATTACH:
                f->attach_len = (unsigned) n;
                fake_reply(f, rq->op, value, NULL, 0, 0, 0);
                break;

        case ESP_OP_SPI_SET_PARAMS:
                assert(n == 24);
                f->set_params_size = get32(p + 4);
                fake_reply(f, rq->op, value, NULL, 0, 0, 0);
                break;

        case ESP_OP_CHANGE_BAUDRATE:
                assert(n == 8);
                if (f->ignore_change_baud)
                        return;
                /* the ROM takes 0 as the old rate, the stub the current one */
                assert(get32(p + 4) == (f->stub ? f->chip_baud : 0));
                fake_reply(f, rq->op, value, NULL, 0, 0, 0);
                f->chip_baud = get32(p);
                break;

        case ESP_OP_FLASH_DEFL_BEGIN: {
                bool wide = f->stub || info->rom_begin_has_encrypt_flag;

                f->begin_payload_len = n;
                if (n != (wide ? 20u : 16u)) {
                        fake_reply(f, rq->op, value, NULL, 0, 1, 0x05);
                        break;
                }
                f->defl_size = get32(p);
                f->defl_blocks = get32(p + 4);
                f->defl_block_size = get32(p + 8);
                f->defl_offset = get32(p + 12);
                assert(f->defl_block_size == (f->stub ? 0x4000u : 0x400u));
                if (!f->stub) {
                        /* the ROM wants the erase size in whole blocks, and erases now */
                        assert(f->defl_size % f->defl_block_size == 0);
                        assert(f->defl_offset % 0x1000 == 0);
                        memset(f->flash + f->defl_offset, 0xff,
                               ALIGN_TO(f->defl_size, 0x1000));
                }
                if (f->defl)
                        inflateEnd(&f->zs);
                f->zs = (z_stream) {};
                assert(inflateInit(&f->zs) == Z_OK);
                f->defl = true;
                f->next_seq = 0;
                f->defl_written = 0;
                fake_reply(f, rq->op, value, NULL, 0, 0, 0);
                break;
        }

        case ESP_OP_FLASH_DEFL_DATA: {
                uint32_t len, seq;
                uint8_t out[0x10000];

                assert(f->defl && n >= 16);
                len = get32(p);
                seq = get32(p + 4);
                assert(len == n - 16);
                if (esp_checksum(p + 16, len) != (rq->checksum & 0xff)) {
                        fake_reply(f, rq->op, value, NULL, 0, 1, 0x07);
                        break;
                }
                if (seq != f->next_seq) {
                        f->refusals++;
                        fake_reply(f, rq->op, value, NULL, 0, 1, 0x05);
                        break;
                }
                assert(seq < f->defl_blocks);
                f->max_block_seen = MAX(f->max_block_seen, (size_t) len);
                f->zs.next_in = (Bytef *) p + 16;
                f->zs.avail_in = len;
                do {
                        int z;

                        f->zs.next_out = out;
                        f->zs.avail_out = sizeof(out);
                        z = inflate(&f->zs, Z_NO_FLUSH);
                        assert(z == Z_OK || z == Z_STREAM_END || z == Z_BUF_ERROR);
                        size_t got = sizeof(out) - f->zs.avail_out;
                        assert(f->defl_offset + f->defl_written + got <= FAKE_FLASH_SIZE);
                        memcpy(f->flash + f->defl_offset + f->defl_written, out, got);
                        f->defl_written += got;
                        if (z != Z_OK)
                                break;
                } while (f->zs.avail_in > 0 || f->zs.avail_out == 0);
                f->next_seq++;
                fake_reply(f, rq->op, value, NULL, 0, 0, 0);
                break;
        }

        case ESP_OP_FLASH_DEFL_END:
                f->defl_end_seen = true;
                fake_reply(f, rq->op, value, NULL, 0, 0, 0);
                break;

        case ESP_OP_SPI_FLASH_MD5: {
                uint32_t addr, size;
                uint8_t d[16];

                assert(n == 16);
                addr = get32(p);
                size = get32(p + 4);
                f->md5_requests++;
                if (f->corrupt_after_write)
                        f->flash[addr] ^= 0x01;
                assert(flash_md5(f->flash + addr, size, d) == 0);
                if (f->stub)
                        fake_reply(f, rq->op, value, d, 16, 0, 0);
                else {
                        char hex[33];

                        for (size_t i = 0; i < 16; i++)
                                sprintf(hex + 2 * i, "%02x", d[i]);
                        fake_reply(f, rq->op, value, hex, 32, 0, 0);
                }
                break;
        }

        case ESP_OP_MEM_BEGIN:
                assert(n == 16);
                fake_reply(f, rq->op, value, NULL, 0, 0, 0);
                break;

        case ESP_OP_MEM_DATA:
                assert(n >= 16 && get32(p) == n - 16);
                assert(esp_checksum(p + 16, n - 16) == (rq->checksum & 0xff));
                fake_reply(f, rq->op, value, NULL, 0, 0, 0);
                break;

        case ESP_OP_MEM_END:
                assert(n == 8);
                fake_reply(f, rq->op, value, NULL, 0, 0, 0);
                fake_queue_frame(f, (const uint8_t *) "OHAI", 4);
                f->stub = true;
                break;

        default:
                if (f->stub)
                        fake_reply(f, rq->op, value, NULL, 0, 1, 0xff);
                else {
                        fake_unsupported(f);
                        return;
                }
        }
        f->last_op = rq->op;
}

/* The chip acts on every command; a dropped reply is lost on the way back. */
static void fake_handle(FakeChip *f, const EspRequest *rq) {
        size_t tail = f->rx_tail;
        bool drop = f->drop_reply_of == f->commands + 1 || (f->drop_op && f->drop_op == rq->op);
        bool delay = f->delay_op && f->delay_op == rq->op;

        /* a stalled chip: the late reply goes out before the next one */
        if (f->delayed) {
                fake_queue_raw(f, f->delayed, f->n_delayed);
                free(f->delayed);
                f->delayed = NULL;
                tail = f->rx_tail;
        }
        if (rq->op == ESP_OP_FLASH_DEFL_DATA)
                f->defl_data_frames++;

        fake_handle_one(f, rq);
        if (drop) {
                f->drop_op = 0;
                f->drop_reply_of = 0;
                f->rx_tail = tail;
        } else if (delay) {
                f->delay_op = 0;
                f->n_delayed = f->rx_tail - tail;
                f->delayed = malloc(f->n_delayed);
                assert(f->delayed);
                memcpy(f->delayed, f->rxq + tail, f->n_delayed);
                f->rx_tail = tail;
        }
}

/* ---- the Transport ops ------------------------------------------------------------ */

static int fake_read(Transport *t, void *buf, size_t n, usec_t deadline) {
        FakeChip *f = fake_from(t);
        size_t k;

        if (f->rx_head == f->rx_tail)
                return -ETIMEDOUT;      /* nothing will come: no need to wait */
        k = MIN(MIN(n, f->rx_tail - f->rx_head), f->read_chunk);
        memcpy(buf, f->rxq + f->rx_head, k);
        f->rx_head += k;
        if (f->rx_head == f->rx_tail)
                f->rx_head = f->rx_tail = 0;
        t->bytes_received += k;
        return (int) k;
}

static int fake_write(Transport *t, const void *buf, size_t n, usec_t deadline) {
        FakeChip *f = fake_from(t);
        const uint8_t *p = buf;

        t->bytes_sent += n;
        /* bytes at the wrong baud rate are garbage to the chip */
        if (t->baud != f->chip_baud)
                return 0;
        while (n > 0) {
                size_t consumed = 0;
                EspRequest rq;
                int r;

                r = slip_decoder_feed(&f->dec, p, n, &consumed);
                p += consumed;
                n -= consumed;
                if (r == 1) {
                        assert(esp_request_decode(f->dec.frame, f->dec.len, &rq) == 0);
                        fake_handle(f, &rq);
                }
        }
        return 0;
}

static int fake_set_signals(Transport *t, bool dtr, bool rts) {
        FakeChip *f = fake_from(t);

        assert(f->n_signals < FAKE_MAX_SIGNALS);
        f->signal_dtr[f->n_signals] = dtr;
        f->signal_rts[f->n_signals] = rts;
        f->n_signals++;
        return 0;
}

static int fake_set_baud(Transport *t, uint32_t baud) {
        t->baud = baud;
        return 0;
}

static int fake_flush_input(Transport *t) {
        FakeChip *f = fake_from(t);

        f->rx_head = f->rx_tail = 0;
        return 0;
}

static int fake_drain(Transport *t, usec_t deadline) {
        return 0;
}

static void fake_free(Transport *t) {
        FakeChip *f = fake_from(t);

        if (f->defl)
                inflateEnd(&f->zs);
        free(f->delayed);
        slip_decoder_deinit(&f->dec);
        free(f->rxq);
        free(f->flash);
        transport_deinit(t);
        free(f);
}

static const TransportOps fake_ops = {
        .name = "fake",
        .read = fake_read,
        .write = fake_write,
        .set_signals = fake_set_signals,
        .set_baud = fake_set_baud,
        .flush_input = fake_flush_input,
        .drain = fake_drain,
        .free = fake_free,
};

static FakeChip *fake_new(EspChipId chip) {
        FakeChip *f = calloc(1, sizeof(*f));

        assert(f);
        assert(transport_init(&f->base, &fake_ops) == 0);
        assert(slip_decoder_init(&f->dec, 0x8000) == 0);
        f->chip = chip;
        f->base.baud = f->chip_baud = 115200;
        f->read_chunk = 7;              /* frames arrive split */
        f->flash = malloc(FAKE_FLASH_SIZE);
        assert(f->flash);
        memset(f->flash, 0xff, FAKE_FLASH_SIZE);
        f->flash_id = 0x1640c8;         /* GigaDevice 4 MB, as in the ESP32 trace */
        /* what the ROM had in USR/USR2 (restored after RDID) */
        fake_set_reg(f, esp_chip_get(chip)->spi_reg_base + esp_chip_get(chip)->spi_usr_offs, 0x50000000);
        fake_set_reg(f, esp_chip_get(chip)->spi_reg_base + esp_chip_get(chip)->spi_usr2_offs, 0x70000000);
        return f;
}

/* ---- helpers --------------------------------------------------------------------- */

static uint8_t *make_data(size_t n, uint32_t seed) {
        uint8_t *d = malloc(n);
        uint32_t x = seed;

        assert(d);
        for (size_t i = 0; i < n; i++) {
                x = x * 1103515245u + 12345u;
                /* half random, half text: compressible but not trivially */
                d[i] = (i / 512) % 2 ? (uint8_t) (x >> 16) : (uint8_t) "esp32 app\n"[i % 10];
        }
        return d;
}

static EspLoader *connect_fake(FakeChip *f) {
        EspLoader *l = NULL;

        assert(esp_loader_new(&f->base, &l) == 0);
        assert(esp_loader_connect(l, ESP_RESET_NONE, 1) == 0);
        assert(esp_loader_attach_flash(l, 0) == 0);
        return l;
}

typedef struct Progress {
        uint64_t last, total, calls;
} Progress;

static int on_progress(uint64_t done, uint64_t total, void *userdata) {
        Progress *p = userdata;

        assert(done >= p->last);
        assert(done - p->last <= 64 * 1024);    /* at least every 64 KiB */
        assert(done <= total);
        p->last = done;
        p->total = total;
        p->calls++;
        return 0;
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_reset_strategies(void) {
        assert(esp_reset_strategy_from_string("classic") == ESP_RESET_CLASSIC);
        assert(esp_reset_strategy_from_string("unix-tight") == ESP_RESET_UNIX_TIGHT);
        assert(esp_reset_strategy_from_string("usb-jtag") == ESP_RESET_USB_JTAG);
        assert(esp_reset_strategy_from_string("none") == ESP_RESET_NONE);
        assert(esp_reset_strategy_from_string("bogus") == _ESP_RESET_INVALID);
        assert(esp_reset_strategy_from_string(NULL) == _ESP_RESET_INVALID);
        for (EspResetStrategy s = 0; s < _ESP_RESET_MAX; s++)
                assert(esp_reset_strategy_from_string(esp_reset_strategy_to_string(s)) == s);
        assert(!esp_reset_strategy_to_string(_ESP_RESET_MAX));

        /* the line sequences, as esptool's reset.py sets them */
        static const struct {
                EspResetStrategy s;
                unsigned n;
                bool dtr[12], rts[12];
        } seqs[] = {
                /* ClassicReset: D0 R1 (sleep) D1 R0 (sleep) D0 */
                { ESP_RESET_CLASSIC, 5, { 0, 0, 1, 1, 0 }, { 0, 1, 1, 0, 0 } },
                /* UnixTightReset: (0,0) (1,1) (0,1) (sleep) (1,0) (sleep) (0,0) */
                { ESP_RESET_UNIX_TIGHT, 5, { 0, 1, 0, 1, 0 }, { 0, 1, 1, 0, 0 } },
                /* USBJTAGSerialReset: R0 D0 (s) D1 R0 (s) R1 D0 R1 (s) D0 R0 */
                { ESP_RESET_USB_JTAG, 9, { 0, 0, 1, 1, 1, 0, 0, 0, 0 }, { 0, 0, 0, 0, 1, 1, 1, 1, 0 } },
        };
        for (size_t i = 0; i < ELEMENTSOF(seqs); i++) {
                _cleanup_(transport_freep) Transport *t = NULL;
                _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                FakeChip *f = fake_new(ESP_CHIP_ESP32);

                t = &f->base;
                assert(esp_loader_new(t, &l) == 0);
                assert(esp_loader_connect(l, seqs[i].s, 1) == 0);
                assert(f->n_signals == seqs[i].n);
                for (unsigned k = 0; k < seqs[i].n; k++) {
                        assert(f->signal_dtr[k] == seqs[i].dtr[k]);
                        assert(f->signal_rts[k] == seqs[i].rts[k]);
                }

                /* hard reset: IO0 released, EN pulsed through RTS */
                f->n_signals = 0;
                assert(esp_loader_hard_reset(l) == 0);
                assert(f->n_signals == 2);
                assert(!f->signal_dtr[0] && f->signal_rts[0]);
                assert(!f->signal_dtr[1] && !f->signal_rts[1]);
        }
}

static void test_connect_esp32_rom(void) {
        _cleanup_(transport_freep) Transport *t = NULL;
        _cleanup_(esp_loader_freep) EspLoader *l = NULL;
        FakeChip *f = fake_new(ESP_CHIP_ESP32);
        const EspChipInfo *info = esp_chip_get(ESP_CHIP_ESP32);

        t = &f->base;
        assert(esp_loader_new(t, &l) == 0);
        assert(!esp_loader_chip(l));
        assert(esp_loader_attach_flash(l, 0) == -ENOTCONN);

        /* GET_SECURITY_INFO is answered with SYNC's opcode and 0x05: the magic
         * register decides */
        assert(esp_loader_connect(l, ESP_RESET_NONE, 1) == 0);
        assert(esp_loader_chip(l) == info);
        assert(!esp_loader_is_stub(l));
        assert(!esp_loader_uses_usb_jtag(l));
        assert(!esp_loader_secure_download_mode(l));
        assert(esp_loader_flash_block_size(l) == 0x400);
        assert(f->sync_requests == 1);

        /* RDID through the SPI user registers; the ROM's values come back */
        assert(esp_loader_attach_flash(l, 0) == 0);
        assert(f->attach_len == 8);
        assert(esp_loader_flash_id(l) == 0x1640c8);
        assert(esp_loader_flash_size(l) == 4 * 1024 * 1024);
        assert(f->set_params_size == 4 * 1024 * 1024);
        assert(fake_get_reg(f, info->spi_reg_base + info->spi_usr_offs) == 0x50000000);
        assert(fake_get_reg(f, info->spi_reg_base + info->spi_usr2_offs) == 0x70000000);

        /* an override wins */
        assert(esp_loader_attach_flash(l, 2 * 1024 * 1024) == 0);
        assert(esp_loader_flash_size(l) == 2 * 1024 * 1024);

        /* commands the ROM lacks */
        assert(esp_loader_command(l, ESP_OP_ERASE_FLASH, NULL, 0, 0, USEC_PER_SEC, NULL) == -EOPNOTSUPP);
        assert(esp_loader_last_error(l) == 0x05);
        /* and the session goes on */
        uint32_t v;
        assert(esp_loader_read_reg(l, ESP_CHIP_MAGIC_REG, &v) == 0 && v == 0x00f01d83);
        assert(esp_loader_last_error(l) == 0);
        assert(esp_loader_stats(l)->commands == f->commands);
}

static void test_connect_esp32c3_usb_jtag(void) {
        _cleanup_(transport_freep) Transport *t = NULL;
        _cleanup_(esp_loader_freep) EspLoader *l = NULL;
        FakeChip *f = fake_new(ESP_CHIP_ESP32C3);
        const EspChipInfo *info = esp_chip_get(ESP_CHIP_ESP32C3);

        t = &f->base;
        fake_set_reg(f, info->uartdev_buf_no, info->uartdev_buf_no_usb_jtag);
        fake_set_reg(f, info->rtc_wdt_config0, 0x1234);
        fake_set_reg(f, info->swd_conf, 0x10);

        assert(esp_loader_new(t, &l) == 0);
        assert(esp_loader_connect(l, ESP_RESET_NONE, 1) == 0);
        assert(esp_loader_chip(l) == info);             /* from the security info chip id */
        assert(esp_loader_uses_usb_jtag(l));
        /* esptool's disable_watchdogs(): RTC WDT off, SWD auto-fed, both locked again */
        assert(fake_get_reg(f, info->rtc_wdt_config0) == 0);
        assert(fake_get_reg(f, info->rtc_wdt_wprotect) == 0);
        assert(fake_get_reg(f, info->swd_conf) == (0x10 | info->swd_auto_feed_en));
        assert(fake_get_reg(f, info->swd_wprotect) == 0);

        assert(esp_loader_attach_flash(l, 0) == 0);
        assert(esp_loader_flash_size(l) == 4 * 1024 * 1024);

        /* unsupported after a supported GET_SECURITY_INFO echoes 0x14 */
        assert(esp_loader_command(l, ESP_OP_READ_FLASH, NULL, 0, 0, USEC_PER_SEC, NULL) == -EOPNOTSUPP);
}

/* Writes, verifies and reads back through the fake on one chip/loader kind. */
static void write_and_check(EspChipId chip, bool stub, uint32_t offset, size_t len) {
        _cleanup_(transport_freep) Transport *t = NULL;
        _cleanup_(esp_loader_freep) EspLoader *l = NULL;
        _cleanup_free_ uint8_t *data = make_data(len, offset);
        FakeChip *f = fake_new(chip);
        Progress prog = {};
        uint64_t wire = 0;
        uint8_t md5[16], dev[16];
        bool match = true;

        t = &f->base;
        if (stub) {
                static const uint8_t text[0x2000] = { 1 }, data_seg[100] = { 2 };
                EspStubImage img = {
                        .entry = 0x4009074, .text_start = 0x400a8000, .data_start = 0x3ffdeb68,
                        .text = text, .text_len = sizeof(text),
                        .data = data_seg, .data_len = sizeof(data_seg),
                };

                assert(esp_loader_new(t, &l) == 0);
                assert(esp_loader_connect(l, ESP_RESET_NONE, 1) == 0);
                assert(esp_loader_run_stub(l, &img) == 0);
                assert(esp_loader_is_stub(l));
                assert(esp_loader_flash_block_size(l) == 0x4000);
                assert(esp_loader_attach_flash(l, 0) == 0);
                assert(f->attach_len == 4);
        } else
                l = connect_fake(f);

        /* before: not there */
        assert(flash_verify_region(l, offset, data, len, &match, dev) == 0);
        assert(!match);

        assert(flash_write_region(l, offset, data, len, on_progress, &prog, &wire) == 0);
        assert(prog.last == len && prog.total == len);
        assert(prog.calls >= DIV_ROUND_UP(len, 64 * 1024));
        assert(wire > 0 && (len < 1024 || wire < len));
        assert(memcmp(f->flash + offset, data, len) == 0);
        assert(f->begin_payload_len == (stub || chip != ESP_CHIP_ESP32 ? 20u : 16u));
        assert(f->max_block_seen <= (stub ? 0x4000u : 0x400u));
        /* the ROM gets no FLASH_DEFL_END (it would leave the loader); the stub does */
        assert(f->defl_end_seen == stub);
        if (!stub) {
                /* unaligned starts are aligned down, the gap erased */
                for (uint32_t a = offset & ~0xfffu; a < offset; a++)
                        assert(f->flash[a] == 0xff);
                assert(f->defl_size == ALIGN_TO(len + (offset & 0xfff) + 3, 0x400) ||
                       f->defl_size % 0x400 == 0);
        } else
                assert(f->defl_size == ALIGN_TO(len, 4));

        assert(flash_verify_region(l, offset, data, len, &match, dev) == 0);
        assert(match);
        assert(flash_md5(data, len, md5) == 0);
        assert(memcmp(md5, dev, 16) == 0);
        assert(esp_loader_stats(l)->flash_begins == 1);
}

static void test_writes(void) {
        write_and_check(ESP_CHIP_ESP32, false, 0x10000, 100 * 1024 + 3);
        write_and_check(ESP_CHIP_ESP32, false, 0x10100, 5000);     /* unaligned on the ROM */
        write_and_check(ESP_CHIP_ESP32C3, false, 0x0, 0x400);
        write_and_check(ESP_CHIP_ESP32, true, 0x1000, 300 * 1024);
        write_and_check(ESP_CHIP_ESP32C3, true, 0x8000, 1);
}

/* One block of zeros that inflates to far more than 64 KiB: progress still
 * comes in 64 KiB steps. */
static void test_progress_compressible(void) {
        _cleanup_(transport_freep) Transport *t = NULL;
        _cleanup_(esp_loader_freep) EspLoader *l = NULL;
        const size_t len = 1024 * 1024;
        _cleanup_free_ uint8_t *data = calloc(1, len);
        FakeChip *f = fake_new(ESP_CHIP_ESP32);
        Progress prog = {};

        t = &f->base;
        l = connect_fake(f);
        assert(flash_write_region(l, 0x100000, data, len, on_progress, &prog, NULL) == 0);
        assert(prog.last == len);
        assert(prog.calls >= 16);
        assert(memcmp(f->flash + 0x100000, data, len) == 0);
}

static void test_faults(void) {
        const size_t len = 20 * 1024;
        _cleanup_free_ uint8_t *data = make_data(len, 99);

        /* boot text with a stray 0xC0 pair and extra SYNC replies before every answer */
        {
                _cleanup_(transport_freep) Transport *t = NULL;
                _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                FakeChip *f = fake_new(ESP_CHIP_ESP32);

                t = &f->base;
                f->noise_before_replies = true;
                f->read_chunk = 1;
                l = connect_fake(f);
                assert(esp_loader_chip(l)->id == ESP_CHIP_ESP32);
                assert(flash_write_region(l, 0x20000, data, len, NULL, NULL, NULL) == 0);
                assert(memcmp(f->flash + 0x20000, data, len) == 0);
        }

        /* a lost READ_REG reply is retried */
        {
                _cleanup_(transport_freep) Transport *t = NULL;
                _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                FakeChip *f = fake_new(ESP_CHIP_ESP32);
                uint32_t v;

                t = &f->base;
                l = connect_fake(f);
                f->drop_op = ESP_OP_READ_REG;
                assert(esp_loader_read_reg(l, ESP_CHIP_MAGIC_REG, &v) == 0);
                assert(v == 0x00f01d83);
                assert(esp_loader_stats(l)->retries >= 1);
        }

        /* a lost FLASH_DEFL_DATA reply: the resend is refused as a wrong
         * sequence number, which means the block landed; MD5 proves it */
        {
                _cleanup_(transport_freep) Transport *t = NULL;
                _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                FakeChip *f = fake_new(ESP_CHIP_ESP32);

                t = &f->base;
                l = connect_fake(f);
                f->drop_op = ESP_OP_FLASH_DEFL_DATA;
                assert(flash_write_region(l, 0x30000, data, len, NULL, NULL, NULL) == 0);
                assert(memcmp(f->flash + 0x30000, data, len) == 0);
                assert(esp_loader_stats(l)->retries >= 1);
        }

        /* a stalled chip: the reply comes after the timeout; the probe sees it
         * and the block is not sent twice */
        {
                _cleanup_(transport_freep) Transport *t = NULL;
                _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                FakeChip *f = fake_new(ESP_CHIP_ESP32);
                unsigned before;

                t = &f->base;
                l = connect_fake(f);
                before = f->defl_data_frames;
                f->delay_op = ESP_OP_FLASH_DEFL_DATA;
                assert(flash_write_region(l, 0x50000, data, len, NULL, NULL, NULL) == 0);
                assert(memcmp(f->flash + 0x50000, data, len) == 0);
                assert(f->refusals == 0);
                assert(f->defl_data_frames - before == f->next_seq);   /* each block once */
                assert(esp_loader_stats(l)->retries == 1);
        }

        /* flash that does not read back what was written: -EIO */
        {
                _cleanup_(transport_freep) Transport *t = NULL;
                _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                FakeChip *f = fake_new(ESP_CHIP_ESP32C3);

                t = &f->base;
                l = connect_fake(f);
                f->corrupt_after_write = true;
                assert(flash_write_region(l, 0x40000, data, len, NULL, NULL, NULL) == -EIO);
        }

        /* a chip that never answers */
        {
                _cleanup_(transport_freep) Transport *t = NULL;
                _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                FakeChip *f = fake_new(ESP_CHIP_ESP32);

                t = &f->base;
                f->chip_baud = 9600;            /* deaf at our rate */
                assert(esp_loader_new(t, &l) == 0);
                assert(esp_loader_connect(l, ESP_RESET_NONE, 2) == -ETIMEDOUT);
                assert(!esp_loader_chip(l));
        }

        /* an interrupted transport cancels */
        {
                _cleanup_(transport_freep) Transport *t = NULL;
                _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                FakeChip *f = fake_new(ESP_CHIP_ESP32);

                t = &f->base;
                assert(!transport_is_interrupted(t));
                transport_interrupt(t);
                transport_interrupt(t);
                assert(transport_is_interrupted(t));
                assert(transport_is_interrupted(t));    /* stays in force */
        }
}

static void test_change_baud(void) {
        /* ROM: old rate 0 */
        {
                _cleanup_(transport_freep) Transport *t = NULL;
                _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                FakeChip *f = fake_new(ESP_CHIP_ESP32C3);
                uint32_t v;

                t = &f->base;
                l = connect_fake(f);
                assert(esp_loader_change_baud(l, 921600) == 0);
                assert(t->baud == 921600 && f->chip_baud == 921600);
                assert(esp_loader_read_reg(l, ESP_CHIP_MAGIC_REG, &v) == 0);
                assert(esp_loader_change_baud(l, 921600) == 0);   /* no-op */
        }

        /* no answer: back to the old rate, still talking */
        {
                _cleanup_(transport_freep) Transport *t = NULL;
                _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                FakeChip *f = fake_new(ESP_CHIP_ESP32);
                uint32_t v;

                t = &f->base;
                l = connect_fake(f);
                f->ignore_change_baud = true;
                assert(esp_loader_change_baud(l, 460800) == -ETIMEDOUT);
                assert(t->baud == 115200);
                assert(esp_loader_read_reg(l, ESP_CHIP_MAGIC_REG, &v) == 0);
        }
}

int main(void) {
        test_reset_strategies();
        test_connect_esp32_rom();
        test_connect_esp32c3_usb_jtag();
        test_writes();
        test_progress_compressible();
        test_faults();
        test_change_baud();
        printf("test-esp-loader: OK\n");
        return 0;
}
