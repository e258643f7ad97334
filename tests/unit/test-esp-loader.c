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
#include "esp-status.h"
#include "digest.h"
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
        bool defl_poisoned;             /* the ROM dropped a block of this stream */
        /* the ROM's inflate buffer: flushed when full and at the stream's end
         * (the ESP32 ROM flushes all of it there: the spill) */
        uint8_t ibuf[ESP_ROM_INFLATE_BUFFER_SIZE];

        /* FLASH_BEGIN / FLASH_DATA */
        bool raw;
        uint32_t raw_addr;
        uint32_t defl_begin_at[64];     /* offsets of the FLASH_DEFL_BEGINs */
        unsigned n_defl_begins;
        unsigned flash_begins, raw_begins;

        uint8_t carry;                  /* the ROM's second status byte after an error */

        /* what the host did */
        unsigned commands, sync_requests, attach_len, set_params_size, md5_requests;
        unsigned security_info_requests;
        uint32_t security_info_baud;    /* the rate GET_SECURITY_INFO came at */
        unsigned console_reads;         /* READ_REGs of UARTDEV_BUF_NO */
        bool magic_set;                 /* the chip magic register reads `magic` */
        uint32_t magic;                 /* …instead of the table's last value */
        bool defl_end_seen;
        unsigned n_signals;
        bool signal_dtr[FAKE_MAX_SIGNALS], signal_rts[FAKE_MAX_SIGNALS];
        usec_t signal_at[FAKE_MAX_SIGNALS];             /* when each line state was set */
        uint64_t signal_received[FAKE_MAX_SIGNALS];     /* bytes the host had read by then */
        /* printed when EN rises with IO0 low (the classic circuit: DTR without RTS) */
        const char *banner;

        /* faults */
        unsigned drop_reply_of;         /* command number whose reply is lost (1-based) */
        uint8_t drop_op;                /* …or the first reply to this opcode */
        uint8_t delay_op;               /* the first reply to this opcode comes late */
        uint8_t *delayed;               /* …held here until the next request */
        size_t n_delayed;
        unsigned defl_data_frames, refusals, blocks_taken;
        bool noise_before_replies;      /* boot text, "\xc0\xc0…" and stray SYNC replies */
        bool ignore_change_baud;
        bool corrupt_after_write;       /* flip a flash byte at DEFL_END-time */
        unsigned data_frames;           /* FLASH_DATA + FLASH_DEFL_DATA frames seen */
        unsigned bad_checksum[8];       /* these data frames (1-based) arrive mangled */
        bool mangle_all;                /* …or every one */
        unsigned mangle_every;          /* …or every n-th */
        uint32_t mangle_over;           /* …or every one longer than this */
        /* the first block of every FLASH_DATA stream this long arrives with
         * the same bit flipped in two bytes, which its XOR checksum cannot see */
        uint32_t silent_damage_min;
        unsigned silent_damages;
        /* this FLASH_DEFL_DATA frame (1-based, as data_frames counts), or every
         * one, arrives whole but does not inflate: the chip's deflate (ROM) or
         * inflate (stub) error, and nothing more of the stream reaches flash */
        unsigned inflate_error_frame;
        bool inflate_error_all;
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
        /* the ROM keeps an earlier error code in the second status byte of
         * later successful replies (esp32-rom-defl-error-probe, case D) */
        if (!f->stub) {
                if (status != 0)
                        f->carry = error;
                else
                        error = f->carry;
        }
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

/* ROM programming: bits only go from 1 to 0. */
static void fake_program(FakeChip *f, uint32_t addr, const uint8_t *d, size_t n) {
        for (size_t i = 0; i < n && addr + i < FAKE_FLASH_SIZE; i++)
                f->flash[addr + i] &= d[i];
}

/* The ROM's inflate buffer (esp32-rom-defl-spill-probe): output goes into it at
 * (stream position mod 32 KiB) and reaches flash when it is full; at the end
 * of the stream the ESP32 ROM writes the whole buffer, stale bytes and all,
 * at O + (N / 32 KiB) × 32 KiB, the ESP32-C3 ROM only what is new. */
static void fake_rom_inflated(FakeChip *f, const uint8_t *out, size_t got, bool end) {
        const size_t B = ESP_ROM_INFLATE_BUFFER_SIZE;
        size_t pos = f->defl_written;

        for (size_t i = 0; i < got; i++, pos++) {
                f->ibuf[pos % B] = out[i];
                if ((pos + 1) % B == 0)
                        fake_program(f, f->defl_offset + (uint32_t) (pos + 1 - B), f->ibuf, B);
        }
        if (end && pos % B != 0) {
                uint32_t at = f->defl_offset + (uint32_t) (pos / B * B);

                fake_program(f, at, f->ibuf, f->chip == ESP_CHIP_ESP32 ? B : pos % B);
        } else if (end && f->chip == ESP_CHIP_ESP32)
                fake_program(f, f->defl_offset + (uint32_t) pos, f->ibuf, B);
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
                        value = f->magic_set ? f->magic : info->magic[info->n_magic - 1];
                else
                        value = fake_get_reg(f, addr);
                if (info->uartdev_buf_no != 0 && addr == info->uartdev_buf_no)
                        f->console_reads++;
                f->carry = 0;
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
                f->security_info_baud = f->chip_baud;
                f->security_info_requests++;
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

        case ESP_OP_FLASH_BEGIN:
        case ESP_OP_FLASH_DEFL_BEGIN: {
                bool wide = f->stub || info->rom_begin_has_encrypt_flag;
                bool compressed = rq->op == ESP_OP_FLASH_DEFL_BEGIN;

                f->begin_payload_len = n;
                if (n != (wide ? 20u : 16u)) {
                        fake_reply(f, rq->op, value, NULL, 0, 1, 0x05);
                        break;
                }
                f->flash_begins++;
                f->defl_size = get32(p);
                f->defl_blocks = get32(p + 4);
                f->defl_block_size = get32(p + 8);
                f->defl_offset = get32(p + 12);
                /* the stub takes any block size up to 16 KiB (the loader
                 * halves it on a link that mangles big ones) */
                assert(f->stub ? f->defl_block_size >= 0x400u && f->defl_block_size <= 0x4000u &&
                                 (f->defl_block_size & (f->defl_block_size - 1)) == 0
                               : f->defl_block_size == 0x400u);
                if (!f->stub) {
                        /* the ROM erases now, whole sectors */
                        if (compressed)
                                assert(f->defl_size % f->defl_block_size == 0);
                        assert(f->defl_offset % 0x1000 == 0);
                        memset(f->flash + f->defl_offset, 0xff,
                               ALIGN_TO(f->defl_size, 0x1000));
                }
                if (f->defl)
                        inflateEnd(&f->zs);
                f->defl = f->raw = false;
                f->next_seq = 0;
                f->defl_written = 0;
                f->defl_poisoned = false;
                if (compressed) {
                        if (f->n_defl_begins < ELEMENTSOF(f->defl_begin_at))
                                f->defl_begin_at[f->n_defl_begins] = f->defl_offset;
                        f->n_defl_begins++;
                        f->zs = (z_stream) {};
                        assert(inflateInit(&f->zs) == Z_OK);
                        f->defl = true;
                } else {
                        f->raw = true;
                        f->raw_begins++;
                        f->raw_addr = f->defl_offset;
                }
                fake_reply(f, rq->op, value, NULL, 0, 0, 0);
                break;
        }

        case ESP_OP_FLASH_DATA:
        case ESP_OP_FLASH_DEFL_DATA: {
                bool compressed = rq->op == ESP_OP_FLASH_DEFL_DATA;
                uint32_t len, seq;
                uint8_t out[0x10000];
                bool mangled = false;

                assert(n >= 16);
                assert(compressed ? f->defl : f->raw);
                len = get32(p);
                seq = get32(p + 4);
                assert(len == n - 16);
                f->data_frames++;
                mangled = f->mangle_all || (f->mangle_every > 0 && f->data_frames % f->mangle_every == 0) ||
                          (f->mangle_over > 0 && len > f->mangle_over);
                for (size_t i = 0; i < ELEMENTSOF(f->bad_checksum); i++)
                        mangled = mangled || f->bad_checksum[i] == f->data_frames;
                if (mangled || esp_checksum(p + 16, len) != (rq->checksum & 0xff)) {
                        if (f->stub) {
                                fake_reply(f, rq->op, value, NULL, 0, 1, 0xc1);
                                break;
                        }
                        /* the ROM drops the block but counts it: resending it
                         * gets 0x05; FLASH_DATA's address stays behind */
                        f->next_seq++;
                        f->defl_poisoned = compressed;
                        fake_reply(f, rq->op, value, NULL, 0, 1, 0x07);
                        break;
                }
                if (compressed && (f->inflate_error_all || f->inflate_error_frame == f->data_frames)) {
                        f->next_seq++;
                        f->defl_poisoned = true;
                        fake_reply(f, rq->op, value, NULL, 0, 1, f->stub ? 0xc7 : 0x0b);
                        break;
                }
                if (seq != f->next_seq) {
                        f->refusals++;
                        fake_reply(f, rq->op, value, NULL, 0, 1, 0x05);
                        break;
                }
                f->max_block_seen = MAX(f->max_block_seen, (size_t) len);
                f->next_seq++;
                f->blocks_taken++;
                if (!compressed) {
                        assert(f->raw_addr + len <= FAKE_FLASH_SIZE);
                        for (uint32_t i = 0; i < len; i++)
                                f->flash[f->raw_addr + i] &= p[16 + i];
                        if (f->silent_damage_min > 0 && f->defl_size >= f->silent_damage_min &&
                            f->raw_addr == f->defl_offset) {
                                f->flash[f->raw_addr + 5] ^= 0x08;
                                f->flash[f->raw_addr + 9] ^= 0x08;
                                f->silent_damages++;
                        }
                        f->raw_addr += len;
                        fake_reply(f, rq->op, value, NULL, 0, 0, 0);
                        break;
                }
                if (f->defl_poisoned) {
                        /* the stream lacks a block: the last one gets a deflate
                         * error, nothing more reaches flash */
                        if (seq + 1 == f->defl_blocks)
                                fake_reply(f, rq->op, value, NULL, 0, 1, 0x0b);
                        else
                                fake_reply(f, rq->op, value, NULL, 0, 0, 0);
                        break;
                }
                assert(seq < f->defl_blocks);
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
                        if (f->stub)
                                memcpy(f->flash + f->defl_offset + f->defl_written, out, got);
                        else
                                fake_rom_inflated(f, out, got, z == Z_STREAM_END);
                        f->defl_written += got;
                        if (z != Z_OK)
                                break;
                } while (f->zs.avail_in > 0 || f->zs.avail_out == 0);
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
                f->carry = 0;
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
        f->signal_at[f->n_signals] = now_usec();
        f->signal_received[f->n_signals] = t->bytes_received;
        /* out of reset with IO0 low: the ROM's banner */
        if (f->banner && dtr && !rts && f->n_signals > 0 && f->signal_rts[f->n_signals - 1])
                fake_queue_raw(f, f->banner, strlen(f->banner));
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
        for (size_t i = 0; i < sizeof(f->ibuf); i++)
                f->ibuf[i] = (uint8_t) (i * 37 + 11);   /* whatever RAM held */
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

/* The IO0 hold after EN rises ends once the ROM has printed the boot mode it
 * latched, not at its full length; without that report it lasts (a lower
 * bound: sleeps never end early). */
static void test_reset_io0_until_boot_mode(void) {
        static const char banner[] = "ESP-ROM:esp32c3-api1-20210207\r\nBuild:Feb  7 2021\r\n"
                                     "rst:0x1 (POWERON),boot:0x5 (DOWNLOAD(USB/UART0/1))\r\n"
                                     "waiting for download\r\n";
        size_t mode_at = strstr(banner, "boot:0x5") - banner + strlen("boot:0x5");

        for (unsigned with_banner = 0; with_banner < 2; with_banner++) {
                _cleanup_(transport_freep) Transport *t = NULL;
                _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                FakeChip *f = fake_new(ESP_CHIP_ESP32C3);

                t = &f->base;
                f->read_chunk = 16;     /* the banner comes in pieces */
                f->banner = with_banner ? banner : NULL;
                assert(esp_loader_new(t, &l) == 0);
                assert(esp_loader_connect(l, ESP_RESET_CLASSIC, 1) == 0);
                assert(f->n_signals == 5);
                /* step 3 lets EN rise with IO0 low, step 4 releases IO0 */
                assert(f->signal_dtr[3] && !f->signal_rts[3]);
                assert(!f->signal_dtr[4] && !f->signal_rts[4]);
                if (with_banner) {
                        /* the boot mode was read before IO0 went high */
                        assert(f->signal_received[4] >= mode_at);
                        assert(f->signal_received[4] < strlen(banner));
                } else {
                        assert(f->signal_received[4] == 0);
                        assert(f->signal_at[4] - f->signal_at[3] >= RESET_FAST_IO0_LOW);
                }
                /* EN was held low its whole hold either way */
                assert(f->signal_at[2] - f->signal_at[1] >= RESET_FAST_EN_LOW);
        }
}

typedef struct HoldWork {
        FakeChip *f;
        unsigned calls, n_signals;
        bool dtr, rts;
        usec_t spend;
} HoldWork;

static void hold_work(void *userdata) {
        HoldWork *w = userdata;

        w->calls++;
        w->n_signals = w->f->n_signals;
        w->dtr = w->f->signal_dtr[w->f->n_signals - 1];
        w->rts = w->f->signal_rts[w->f->n_signals - 1];
        sleep_usec(w->spend);
}

/* esp_loader_set_hold_work(): run once, while the classic reset holds EN low
 * (RTS alone), the hold as long as it was and as long as the work took; not
 * by a connect without a reset, and not by a second connect. */
static void test_connect_hold_work(void) {
        static const usec_t spend[] = { 0, 3 * RESET_FAST_EN_LOW };

        for (size_t i = 0; i < ELEMENTSOF(spend); i++) {
                _cleanup_(transport_freep) Transport *t = NULL;
                _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                FakeChip *f = fake_new(ESP_CHIP_ESP32C3);
                HoldWork w = { .f = f, .spend = spend[i] };

                t = &f->base;
                assert(esp_loader_new(t, &l) == 0);
                esp_loader_set_hold_work(l, hold_work, &w);
                assert(esp_loader_connect(l, ESP_RESET_CLASSIC, 1) == 0);
                assert(w.calls == 1);
                assert(w.n_signals == 2 && !w.dtr && w.rts);    /* in reset */
                assert(f->signal_at[2] - f->signal_at[1] >= MAX(RESET_FAST_EN_LOW, spend[i]));
                assert(esp_loader_connect(l, ESP_RESET_CLASSIC, 1) == 0);
                assert(w.calls == 1);
        }
        {
                _cleanup_(transport_freep) Transport *t = NULL;
                _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                FakeChip *f = fake_new(ESP_CHIP_ESP32C3);
                HoldWork w = { .f = f };

                t = &f->base;
                assert(esp_loader_new(t, &l) == 0);
                esp_loader_set_hold_work(l, hold_work, &w);
                assert(esp_loader_connect(l, ESP_RESET_NONE, 1) == 0);
                assert(w.calls == 0);
        }
}

/* The reset into the application at the end of a job leaves EN low, to be
 * released no sooner than the connect's reset needed: the first attempt's
 * hold, or esptool's for a board that needed a later attempt. */
static void test_hold_reset(void) {
        for (unsigned known_attempt = 0; known_attempt < 2; known_attempt++) {
                _cleanup_(transport_freep) Transport *t = NULL;
                _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                FakeChip *f = fake_new(ESP_CHIP_ESP32);
                EspLoaderFacts facts = { .reset_attempt = known_attempt };
                EspResetHolds h;
                usec_t release_at = 0;

                t = &f->base;
                assert(esp_loader_new(t, &l) == 0);
                esp_loader_set_known(l, &facts);
                assert(esp_loader_connect(l, ESP_RESET_CLASSIC, 1) == 0);
                f->n_signals = 0;
                assert(esp_loader_hold_reset(l, &release_at) == 0);
                /* EN low (RTS alone), left low for whoever takes the port */
                assert(f->n_signals == 1);
                assert(!f->signal_dtr[0] && f->signal_rts[0]);
                esp_reset_holds(known_attempt, &h);
                assert(release_at >= f->signal_at[0] + h.en_low);
        }
}

typedef struct Meanwhile {
        FakeChip *f;
        unsigned calls, requests_seen;
} Meanwhile;

static void meanwhile_work(void *userdata) {
        Meanwhile *m = userdata;

        m->calls++;
        m->requests_seen = m->f->md5_requests;
}

/* The host's own work runs once, after the MD5 request has left (the chip
 * hashes meanwhile), and the chip's digest still comes back. */
static void test_md5_while(void) {
        _cleanup_(transport_freep) Transport *t = NULL;
        _cleanup_(esp_loader_freep) EspLoader *l = NULL;
        FakeChip *f = fake_new(ESP_CHIP_ESP32);
        Meanwhile m = { .f = f };
        uint8_t dev[16], local[16];

        t = &f->base;
        l = connect_fake(f);
        memset(f->flash + 0x3000, 0x42, 0x1000);
        assert(esp_loader_flash_md5_while(l, 0x3000, 0x1000, meanwhile_work, &m, dev) == 0);
        assert(m.calls == 1);
        assert(m.requests_seen == 1);
        assert(flash_md5(f->flash + 0x3000, 0x1000, local) == 0);
        assert(memcmp(dev, local, 16) == 0);
        /* a plain MD5 after it runs nothing */
        assert(esp_loader_flash_md5(l, 0x3000, 0x1000, dev) == 0);
        assert(m.calls == 1);
        /* not connected: refused before anything, nothing run */
        l = esp_loader_free(l);
        assert(esp_loader_new(t, &l) == 0);
        assert(esp_loader_flash_md5_while(l, 0, 16, meanwhile_work, &m, dev) == -ENOTCONN);
        assert(m.calls == 1);
}

/* flash_verify_region_also(): the caller's other work runs once, after the
 * MD5 request has left, and the verdict and the chip's digest are as
 * flash_verify_region()'s; NULL runs nothing more. */
static void test_verify_region_also(void) {
        _cleanup_(transport_freep) Transport *t = NULL;
        _cleanup_(esp_loader_freep) EspLoader *l = NULL;
        FakeChip *f = fake_new(ESP_CHIP_ESP32C3);
        Meanwhile m = { .f = f };
        uint8_t data[0x1000], dev[16], local[16];
        bool match = false;

        t = &f->base;
        l = connect_fake(f);
        memset(data, 0x42, sizeof(data));
        memset(f->flash + 0x3000, 0x42, sizeof(data));
        assert(flash_verify_region_also(l, 0x3000, data, sizeof(data), meanwhile_work, &m, &match, dev) == 0);
        assert(match);
        assert(m.calls == 1 && m.requests_seen == 1);
        assert(flash_md5(data, sizeof(data), local) == 0);
        assert(memcmp(dev, local, 16) == 0);

        data[7] = 0;
        assert(flash_verify_region_also(l, 0x3000, data, sizeof(data), meanwhile_work, &m, &match, dev) == 0);
        assert(!match);
        assert(m.calls == 2 && m.requests_seen == 2);
        assert(flash_verify_region_also(l, 0x3000, data, sizeof(data), NULL, NULL, &match, dev) == 0);
        assert(!match && m.calls == 2);
}

/* With a fast rate set, the connect raises the link as soon as the chip
 * magic has named the chip, and asks the rest at that rate; a chip the magic
 * names whole (the ESP32) is left for the caller to raise; a raise that is not
 * answered leaves the link at the old rate and the connect goes on. A magic
 * that names the chip leaves nothing for GET_SECURITY_INFO to tell. */
static void test_connect_fast_baud(void) {
        {
                _cleanup_(transport_freep) Transport *t = NULL;
                _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                FakeChip *f = fake_new(ESP_CHIP_ESP32C3);

                t = &f->base;
                assert(esp_loader_new(t, &l) == 0);
                esp_loader_set_fast_baud(l, 921600);
                assert(esp_loader_connect(l, ESP_RESET_NONE, 1) == 0);
                assert(esp_loader_chip(l) == esp_chip_get(ESP_CHIP_ESP32C3));
                assert(f->security_info_requests == 0);
                assert(t->baud == 921600 && esp_loader_baud_raised(l));
                assert(esp_loader_attach_flash(l, 0) == 0);
        }
        {
                _cleanup_(transport_freep) Transport *t = NULL;
                _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                FakeChip *f = fake_new(ESP_CHIP_ESP32);

                t = &f->base;
                assert(esp_loader_new(t, &l) == 0);
                esp_loader_set_fast_baud(l, 921600);
                assert(esp_loader_connect(l, ESP_RESET_NONE, 1) == 0);
                assert(t->baud == 115200);
        }
        {
                _cleanup_(transport_freep) Transport *t = NULL;
                _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                FakeChip *f = fake_new(ESP_CHIP_ESP32C3);

                t = &f->base;
                f->ignore_change_baud = true;
                assert(esp_loader_new(t, &l) == 0);
                esp_loader_set_fast_baud(l, 921600);
                assert(esp_loader_connect(l, ESP_RESET_NONE, 1) == 0);
                assert(esp_loader_chip(l) == esp_chip_get(ESP_CHIP_ESP32C3));
                assert(t->baud == 115200 && f->security_info_requests == 0);
        }
}

/* Through a USB-UART bridge (esp_loader_set_uart_link()) the chip's console
 * is its UART: the console register is not read. Unknown, it is read once. */
static void test_connect_uart_link(void) {
        for (int uart = 0; uart <= 1; uart++) {
                _cleanup_(transport_freep) Transport *t = NULL;
                _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                FakeChip *f = fake_new(ESP_CHIP_ESP32C3);
                const EspChipInfo *info = esp_chip_get(ESP_CHIP_ESP32C3);

                t = &f->base;
                fake_set_reg(f, info->uartdev_buf_no, 0);       /* UART0, what a bridge meets */
                assert(esp_loader_new(t, &l) == 0);
                esp_loader_set_uart_link(l, uart);
                assert(esp_loader_connect(l, ESP_RESET_NONE, 1) == 0);
                assert(f->console_reads == (uart ? 0u : 1u));
                assert(!esp_loader_uses_usb_jtag(l));
        }
}

/* GET_SECURITY_INFO is still asked where the magic names no chip for sure:
 * a value not in the table (a new revision), or 0; its chip id decides. */
static void test_connect_magic_names_no_chip(void) {
        static const struct {
                EspChipId chip;
                uint32_t magic;
        } v[] = {
                { ESP_CHIP_ESP32C3, 0x12345678 },
                { ESP_CHIP_ESP32P4, 0x00000000 },
        };

        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                _cleanup_(transport_freep) Transport *t = NULL;
                _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                FakeChip *f = fake_new(v[i].chip);

                t = &f->base;
                f->magic_set = true;
                f->magic = v[i].magic;
                assert(esp_loader_new(t, &l) == 0);
                assert(esp_loader_connect(l, ESP_RESET_NONE, 1) == 0);
                assert(f->security_info_requests == 1);
                assert(esp_loader_chip(l) == esp_chip_get(v[i].chip));
                assert(!esp_loader_secure_download_mode(l));
        }
}

/* Short holds first, then esptool's classic timings alternating its normal
 * and extra-long IO0 delay, as --connect-attempts does. */
static void test_reset_holds(void) {
        static const struct {
                unsigned attempt;
                usec_t en_low, io0_low;
        } v[] = {
                { 0, 10 * USEC_PER_MSEC, 30 * USEC_PER_MSEC },
                { 1, 100 * USEC_PER_MSEC, 50 * USEC_PER_MSEC },
                { 2, 100 * USEC_PER_MSEC, 550 * USEC_PER_MSEC },
                { 3, 100 * USEC_PER_MSEC, 50 * USEC_PER_MSEC },
                { 4, 100 * USEC_PER_MSEC, 550 * USEC_PER_MSEC },
        };

        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                EspResetHolds h;

                esp_reset_holds(v[i].attempt, &h);
                assert(h.en_low == v[i].en_low);
                assert(h.io0_low == v[i].io0_low);
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
        /* the magic register named it first: no refusal to wait out */
        assert(f->security_info_requests == 0);

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
        assert(esp_loader_chip(l) == info);             /* named by its magic… */
        assert(f->security_info_requests == 0);         /* …which leaves nothing to ask */
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

        /* before: not there; the flash after the region holds a neighbour */
        uint32_t end = (uint32_t) ALIGN_TO(offset + len, 0x1000);
        memset(f->flash + end, 0x5a, 0x10000);
        assert(flash_verify_region(l, offset, data, len, &match, dev) == 0);
        assert(!match);

        assert(flash_write_region(l, offset, data, len, on_progress, &prog, &wire) == 0);
        assert(prog.last == len && prog.total == len);
        assert(prog.calls >= DIV_ROUND_UP(len, 64 * 1024));
        assert(wire > 0);
        assert(memcmp(f->flash + offset, data, len) == 0);
        assert(f->begin_payload_len == (stub || chip != ESP_CHIP_ESP32 ? 20u : 16u));
        assert(f->max_block_seen <= (stub ? 0x4000u : 0x400u));
        /* nothing past the region's last sector changed: on the ESP32 ROM the
         * write ends uncompressed where a compressed one would spill */
        for (uint32_t a = end; a < end + 0x10000; a++)
                assert(f->flash[a] == 0x5a);
        if (!stub && chip == ESP_CHIP_ESP32) {
                assert(f->raw_begins == 1);
                assert(f->flash_begins == (len >= 0x8000 ? 2u : 1u));
                assert(len < 0x8000 || wire < len);
        } else {
                assert(f->raw_begins == 0 && f->flash_begins == 1);
                assert(len < 1024 || wire < len);
        }
        /* the ROM gets no FLASH_DEFL_END (it would leave the loader); the stub does */
        assert(f->defl_end_seen == stub);
        if (!stub) {
                /* unaligned starts are aligned down, the gap erased */
                for (uint32_t a = offset & ~0xfffu; a < offset; a++)
                        assert(f->flash[a] == 0xff);
                assert(f->defl_size % 0x400 == 0 || f->raw);
        } else
                assert(f->defl_size == ALIGN_TO(len, 4));

        assert(flash_verify_region(l, offset, data, len, &match, dev) == 0);
        assert(match);
        assert(flash_md5(data, len, md5) == 0);
        assert(memcmp(md5, dev, 16) == 0);
        assert(esp_loader_stats(l)->flash_begins == f->flash_begins);
        assert(esp_loader_stats(l)->stream_restarts == 0);
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
        /* long enough for a compressed head on the ESP32 ROM */
        const size_t len = 80 * 1024;
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
                before = f->data_frames;
                f->delay_op = ESP_OP_FLASH_DEFL_DATA;
                assert(flash_write_region(l, 0x50000, data, len, NULL, NULL, NULL) == 0);
                assert(memcmp(f->flash + 0x50000, data, len) == 0);
                assert(f->refusals == 0);
                assert(f->data_frames - before == f->blocks_taken);    /* each block once */
                assert(esp_loader_stats(l)->stream_restarts == 0);
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
                FakeChip *f = fake_new(ESP_CHIP_ESP32);

                t = &f->base;
                assert(!transport_is_interrupted(t));
                transport_interrupt(t);
                transport_interrupt(t);
                assert(transport_is_interrupted(t));
                assert(transport_is_interrupted(t));    /* stays in force */
        }
}


/* The ESP32 ROM's spill (esp32-rom-defl-spill-probe): a compressed stream
 * programs the rest of its 32 KiB inflate buffer past its end. The sample
 * layout's bootloader (26 KiB at 0x1000) would destroy the partition table at
 * 0x8000, a sector in the middle of an application the next seven sectors. */
static void test_rom_spill(void) {
        struct {
                uint32_t offset;
                size_t len;
        } cases[] = {
                { 0x1000, 26 * 1024 },          /* bootloader → partition table */
                { 0x10000 + 37 * 0x1000, 0x1000 },      /* one sector of an app */
                { 0x20000, 64 * 1024 },         /* a whole number of windows */
                { 0x40000, 100 * 1024 + 3 },
        };

        for (size_t c = 0; c < ELEMENTSOF(cases); c++) {
                _cleanup_(transport_freep) Transport *t = NULL;
                _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                _cleanup_free_ uint8_t *data = make_data(cases[c].len, 7 + (uint32_t) c);
                _cleanup_free_ uint8_t *before = NULL;
                FakeChip *f = fake_new(ESP_CHIP_ESP32);
                uint32_t end = (uint32_t) ALIGN_TO(cases[c].offset + cases[c].len, 0x1000);
                uint64_t start_fp, end_fp;

                t = &f->base;
                l = connect_fake(f);
                /* an earlier stream filled the inflate buffer */
                memset(f->flash + 0x200000, 0x00, 0x8000);
                assert(flash_write_region(l, 0x200000, f->flash + 0x300000, 0x8000, NULL, NULL, NULL) == 0);
                /* the neighbours: a partition table, the rest of an app */
                for (uint32_t a = end; a < end + 0x10000; a++)
                        f->flash[a] = (uint8_t) (a * 7 + 3);
                before = malloc(FAKE_FLASH_SIZE);
                assert(before);
                memcpy(before, f->flash, FAKE_FLASH_SIZE);

                assert(flash_write_region(l, cases[c].offset, data, cases[c].len, NULL, NULL, NULL) == 0);
                assert(memcmp(f->flash + cases[c].offset, data, cases[c].len) == 0);
                assert(memcmp(f->flash + end, before + end, FAKE_FLASH_SIZE - end) == 0);
                assert(memcmp(f->flash, before, cases[c].offset & ~0xfffu) == 0);
                assert(flash_write_footprint(l, cases[c].offset, cases[c].len, &start_fp, &end_fp));
                assert(start_fp == (cases[c].offset & ~0xfffu) && end_fp == end);
        }

        /* ESP32-C3 ROM: no spill, one compressed stream */
        {
                _cleanup_(transport_freep) Transport *t = NULL;
                _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                _cleanup_free_ uint8_t *data = make_data(0x1000, 3);
                FakeChip *f = fake_new(ESP_CHIP_ESP32C3);
                uint32_t window = 1;

                t = &f->base;
                l = connect_fake(f);
                assert(esp_loader_defl_spill(l, &window) && window == 0);
                memset(f->flash + 0x11000, 0x5a, 0x8000);
                assert(flash_write_region(l, 0x10000, data, 0x1000, NULL, NULL, NULL) == 0);
                assert(f->raw_begins == 0 && f->n_defl_begins == 1);
                for (uint32_t a = 0x11000; a < 0x19000; a++)
                        assert(f->flash[a] == 0x5a);
        }

        /* a ROM nobody traced: its footprint is unknown */
        {
                _cleanup_(transport_freep) Transport *t = NULL;
                _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                FakeChip *f = fake_new(ESP_CHIP_ESP32S3);

                t = &f->base;
                l = connect_fake(f);
                assert(!esp_loader_defl_spill(l, NULL));
                assert(!flash_write_footprint(l, 0x10000, 0x1000, NULL, NULL));
        }
}

/* A block with a bad checksum (esp32-rom-defl-error-probe): the ROM answers
 * 01 07, drops the block and advances its sequence number, so the same block
 * sent again is refused with 01 05 for ever; FLASH_DATA's address stays
 * behind. The stream begins again, from the first sector not surely written. */
static void test_rom_refused_block(void) {
        const size_t len = 200 * 1024;
        _cleanup_free_ uint8_t *data = make_data(len, 1234);
        EspChipId chips[] = { ESP_CHIP_ESP32, ESP_CHIP_ESP32C3 };

        for (size_t c = 0; c < ELEMENTSOF(chips); c++)
                for (unsigned frame = 1; frame <= 86; frame += 17) {
                        _cleanup_(transport_freep) Transport *t = NULL;
                        _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                        FakeChip *f = fake_new(chips[c]);

                        t = &f->base;
                        l = connect_fake(f);
                        memset(f->flash + 0x60000 + len, 0x5a, 0x10000);
                        f->bad_checksum[0] = f->data_frames + frame;
                        assert(flash_write_region(l, 0x60000, data, len, NULL, NULL, NULL) == 0);
                        assert(memcmp(f->flash + 0x60000, data, len) == 0);
                        for (uint32_t a = 0x60000 + len; a < 0x70000 + len; a++)
                                assert(f->flash[a] == 0x5a);
                        assert(f->blocks_taken < f->data_frames);       /* it was hit */
                        assert(esp_loader_stats(l)->stream_restarts == 1);
                        /* never the same block twice in a row: no 0x05 refusals */
                        assert(f->refusals == 0);
                        /* a restart keeps what the ROM surely wrote: whole
                         * inflate buffers of a compressed stream */
                        if (f->n_defl_begins == 2)
                                assert(f->defl_begin_at[1] >= f->defl_begin_at[0] &&
                                       (f->defl_begin_at[1] - f->defl_begin_at[0]) % 0x8000 == 0);
                        if (frame > 60 && chips[c] == ESP_CHIP_ESP32C3)
                                assert(f->n_defl_begins == 2 && f->defl_begin_at[1] > 0x60000);
                }

        /* uncompressed: the ROM counted the refused block but kept its write
         * address, so the same block under the next number lands where it
         * belongs; at the last announced number the stream begins again at
         * the refused block's sector */
        for (unsigned frame = 7; frame <= 20; frame += 13) {
                _cleanup_(transport_freep) Transport *t = NULL;
                _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                _cleanup_free_ uint8_t *small = make_data(20 * 1024, 99);
                FakeChip *f = fake_new(ESP_CHIP_ESP32);

                t = &f->base;
                l = connect_fake(f);
                f->bad_checksum[0] = f->data_frames + frame;
                assert(flash_write_region(l, 0x8000, small, 20 * 1024, NULL, NULL, NULL) == 0);
                assert(memcmp(f->flash + 0x8000, small, 20 * 1024) == 0);
                if (frame == 20) {
                        assert(f->raw_begins == 2 && f->defl_offset == 0xc000);
                        assert(esp_loader_stats(l)->stream_restarts == 1);
                } else {
                        assert(f->raw_begins == 1 && f->refusals == 0);
                        assert(esp_loader_stats(l)->stream_restarts == 0);
                }
        }

        /* a link that mangles a third of the blocks: a compressed stream keeps
         * nothing (it needs 32 KiB in a row), so the rest goes uncompressed */
        {
                _cleanup_(transport_freep) Transport *t = NULL;
                _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                FakeChip *f = fake_new(ESP_CHIP_ESP32);

                t = &f->base;
                l = connect_fake(f);
                for (size_t i = 0; i < ELEMENTSOF(f->bad_checksum); i++)
                        f->bad_checksum[i] = f->data_frames + 3 + 3 * (unsigned) i;
                assert(flash_write_region(l, 0x60000, data, len, NULL, NULL, NULL) == 0);
                assert(memcmp(f->flash + 0x60000, data, len) == 0);
                assert(esp_loader_stats(l)->stream_restarts == 2);
                assert(f->n_defl_begins == 2 && f->raw_begins == 2);   /* the head's rest, the tail */
        }

        /* the stub keeps no sequence number: the same block again is fine */
        {
                _cleanup_(transport_freep) Transport *t = NULL;
                _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                static const uint8_t text[0x100] = { 1 };
                EspStubImage img = { .entry = 0x4009074, .text_start = 0x400a8000, .text = text,
                                     .text_len = sizeof(text) };
                FakeChip *f = fake_new(ESP_CHIP_ESP32);

                t = &f->base;
                assert(esp_loader_new(t, &l) == 0);
                assert(esp_loader_connect(l, ESP_RESET_NONE, 1) == 0);
                assert(esp_loader_run_stub(l, &img) == 0);
                assert(esp_loader_attach_flash(l, 0) == 0);
                f->bad_checksum[0] = f->data_frames + 2;
                assert(flash_write_region(l, 0x60000, data, len, NULL, NULL, NULL) == 0);
                assert(memcmp(f->flash + 0x60000, data, len) == 0);
                assert(esp_loader_stats(l)->stream_restarts == 0);
                assert(f->n_defl_begins == 1);
        }

        /* a link that mangles every block: the session's restart budget ends it */
        {
                _cleanup_(transport_freep) Transport *t = NULL;
                _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                FakeChip *f = fake_new(ESP_CHIP_ESP32);

                t = &f->base;
                l = connect_fake(f);
                /* every block mangled, with four restarts left */
                f->mangle_all = true;
                for (unsigned i = 0; i < ESP_LOADER_RESTART_BUDGET - 4; i++)
                        assert(esp_loader_take_restart(l) == 0);
                assert(flash_write_region(l, 0x60000, data, len, NULL, NULL, NULL) == -EPROTO);
                assert(esp_loader_stats(l)->stream_restarts == ESP_LOADER_RESTART_BUDGET);
                assert(esp_loader_take_restart(l) == -EPROTO);
        }
}

/* Two bits flipped in the same position of one block pass the ROM's XOR
 * checksum: on a noisy link every long stream has such a block somewhere, so
 * writing the region again whole never converges. The pass after an MD5
 * mismatch writes only the sectors that differ. */
static void test_silent_damage(void) {
        _cleanup_(transport_freep) Transport *t = NULL;
        _cleanup_(esp_loader_freep) EspLoader *l = NULL;
        const size_t len = 20 * 1024;
        _cleanup_free_ uint8_t *data = make_data(len, 4321);
        FakeChip *f = fake_new(ESP_CHIP_ESP32);
        unsigned begins;

        t = &f->base;
        l = connect_fake(f);
        f->silent_damage_min = 0x2000;
        begins = f->raw_begins;
        assert(flash_write_region(l, 0x8000, data, len, NULL, NULL, NULL) == 0);
        assert(memcmp(f->flash + 0x8000, data, len) == 0);
        assert(f->silent_damages == 1);
        /* the whole region, then its first sector alone */
        assert(f->raw_begins - begins == 2);
        assert(f->defl_offset == 0x8000 && f->defl_size == 0x1000);
}

/* A big image on a link that refuses one block in 24: each refusal costs
 * the ESP32-C3 ROM a restart at the last whole inflate buffer, more restarts
 * than the fixed budget, which grows with the blocks acknowledged. */
static void test_restart_budget_grows(void) {
        _cleanup_(transport_freep) Transport *t = NULL;
        _cleanup_(esp_loader_freep) EspLoader *l = NULL;
        const size_t len = 3 * 1024 * 1024;
        _cleanup_free_ uint8_t *data = make_data(len, 77);
        FakeChip *f = fake_new(ESP_CHIP_ESP32C3);

        t = &f->base;
        l = connect_fake(f);
        f->mangle_every = 24;
        assert(flash_write_region(l, 0x100000, data, len, NULL, NULL, NULL) == 0);
        assert(memcmp(f->flash + 0x100000, data, len) == 0);
        assert(esp_loader_stats(l)->stream_restarts > ESP_LOADER_RESTART_BUDGET);
}

/* A link on which no 16 KiB stub block ever arrives whole, while 4 KiB ones
 * do (noise per byte): each failed stream halves the stub's blocks. */
static void test_stub_blocks_shrink(void) {
        _cleanup_(transport_freep) Transport *t = NULL;
        _cleanup_(esp_loader_freep) EspLoader *l = NULL;
        static const uint8_t text[0x100] = { 1 };
        EspStubImage img = { .entry = 0x4009074, .text_start = 0x400a8000, .text = text,
                             .text_len = sizeof(text) };
        const size_t len = 256 * 1024;
        _cleanup_free_ uint8_t *data = make_data(len, 555);
        FakeChip *f = fake_new(ESP_CHIP_ESP32);

        t = &f->base;
        assert(esp_loader_new(t, &l) == 0);
        assert(esp_loader_connect(l, ESP_RESET_NONE, 1) == 0);
        assert(esp_loader_run_stub(l, &img) == 0);
        assert(esp_loader_attach_flash(l, 0) == 0);
        f->mangle_over = 0x1000;
        assert(flash_write_region(l, 0x40000, data, len, NULL, NULL, NULL) == 0);
        assert(memcmp(f->flash + 0x40000, data, len) == 0);
        assert(esp_loader_flash_block_size(l) == 0x1000);
        assert(esp_loader_stats(l)->stream_restarts == 2);
        /* the ROM's blocks are fixed */
        assert(!esp_loader_shrink_blocks(NULL));
}

/* A block that does not inflate: the protocol says -EILSEQ (not a refusal),
 * the flash layer begins the stream again, and what its callers see of it when
 * it never goes away is the protocol error it always was. */
static void test_inflate_error(void) {
        const size_t len = 256 * 1024;
        _cleanup_free_ uint8_t *data = malloc(len);
        static const uint8_t junk[16] = { 0x78, 0x9c };

        /* compressible, so that it goes out compressed */
        assert(data);
        for (size_t i = 0; i < len; i++)
                data[i] = (uint8_t) (i / 64 + (i % 7 == 0));

        {
                _cleanup_(transport_freep) Transport *t = NULL;
                _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                FakeChip *f = fake_new(ESP_CHIP_ESP32);

                t = &f->base;
                l = connect_fake(f);
                assert(esp_loader_flash_defl_begin(l, 0x10000, 0x1000, sizeof(junk), 0x400, true) == 0);
                f->inflate_error_frame = f->data_frames + 1;
                assert(esp_loader_flash_defl_data(l, 0, junk, sizeof(junk), 0x1000) == -EILSEQ);
                assert(esp_loader_last_error(l) == ESP_ERROR_DEFLATE);
        }

        for (unsigned frame = 1; frame <= 11; frame += 5) {
                _cleanup_(transport_freep) Transport *t = NULL;
                _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                FakeChip *f = fake_new(ESP_CHIP_ESP32C3);

                t = &f->base;
                l = connect_fake(f);
                f->inflate_error_frame = f->data_frames + frame;
                assert(flash_write_region(l, 0x60000, data, len, NULL, NULL, NULL) == 0);
                assert(memcmp(f->flash + 0x60000, data, len) == 0);
                assert(esp_loader_stats(l)->stream_restarts >= 1);
        }

        {
                _cleanup_(transport_freep) Transport *t = NULL;
                _cleanup_(esp_loader_freep) EspLoader *l = NULL;
                FakeChip *f = fake_new(ESP_CHIP_ESP32);

                t = &f->base;
                l = connect_fake(f);
                f->inflate_error_all = true;
                /* one pass, no restart: the caller sees -EPROTO */
                assert(flash_write_region_unverified(l, 0x60000, data, len, NULL, NULL) == -EPROTO);
                /* restarts that keep nothing: the rest goes uncompressed */
                assert(flash_write_region(l, 0x60000, data, len, NULL, NULL, NULL) == 0);
                assert(memcmp(f->flash + 0x60000, data, len) == 0);
        }
}

static void test_change_baud(void) {
        /* esp32-rom-change-baud-probe: the emulator measured nothing (eFuse 0):
         * the plain rate, not esptool's 0 that wedges the UART */
        assert(esp_baud_argument(921600, 0x00028000, 0) == 921600);
        /* silicon-like calibration: 1235 × 15625 × 80 / 40 = 38.59 MHz against
         * a nominal 40 MHz, as esptool 5.3 computes it */
        assert(esp_baud_argument(921600, 1235u << 7, 80) == 889200);
        assert(esp_baud_argument(115200, 1235u << 7, 80) == 111150);
        /* a 26 MHz crystal measured a little fast */
        assert(esp_baud_argument(460800, 850u << 7, 80) == 460800ull * 26562500 / 26000000);

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
        /* The helper in the build tree: not beside this test. */
        assert(digest_set_helper(DIGEST_HELPER_PATH) == 0);
        test_reset_strategies();
        test_reset_holds();
        test_reset_io0_until_boot_mode();
        test_hold_reset();
        test_md5_while();
        test_connect_fast_baud();
        test_connect_magic_names_no_chip();
        test_connect_uart_link();
        test_connect_hold_work();
        test_verify_region_also();
        test_connect_esp32_rom();
        test_connect_esp32c3_usb_jtag();
        test_writes();
        test_progress_compressible();
        test_faults();
        test_rom_spill();
        test_rom_refused_block();
        test_silent_damage();
        test_restart_budget_grows();
        test_stub_blocks_shrink();
        test_inflate_error();
        test_change_baud();
        printf("test-esp-loader: OK\n");
        return 0;
}
