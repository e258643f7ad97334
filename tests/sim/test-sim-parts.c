/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the simulated chip's parts without any fd: SLIP, the line
 * model, fault specs, the SPI register dance, and the loader's replies checked
 * byte for byte against frames from shared/reference-traces. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "sim-chip.h"
#include "sim-fault.h"
#include "sim-flash.h"
#include "sim-loader.h"
#include "sim-slip.h"
#include "sim-spi.h"
#include "sim-uart.h"

static size_t unhex(const char *s, uint8_t *out) {
        size_t n = strlen(s) / 2;

        for (size_t i = 0; i < n; i++) {
                unsigned v;

                assert(sscanf(s + 2 * i, "%2x", &v) == 1);
                out[i] = (uint8_t) v;
        }
        return n;
}

static void test_slip(void) {
        static const uint8_t payload[] = { 0x01, 0xC0, 0x02, 0xDB, 0x03 };
        uint8_t enc[32];
        SimSlipDecoder d;
        size_t n;
        int frames = 0;

        n = sim_slip_encode(payload, sizeof(payload), enc);
        assert(n == 9);
        assert(memcmp(enc, "\xc0\x01\xdb\xdc\x02\xdb\xdd\x03\xc0", 9) == 0);

        assert(sim_slip_decoder_init(&d, 16) == 0);
        /* Noise before the frame and a doubled delimiter are ignored. */
        assert(sim_slip_decoder_feed(&d, 0x55) == 0);
        assert(sim_slip_decoder_feed(&d, 0xC0) == 0);
        for (size_t i = 0; i < n; i++)
                if (sim_slip_decoder_feed(&d, enc[i]) > 0) {
                        frames++;
                        assert(d.len == sizeof(payload));
                        assert(memcmp(d.buf, payload, sizeof(payload)) == 0);
                }
        assert(frames == 1);

        /* A bad escape kills the frame; the next one decodes. */
        assert(sim_slip_decoder_feed(&d, 0xC0) == 0);
        assert(sim_slip_decoder_feed(&d, 0x01) == 0);
        assert(sim_slip_decoder_feed(&d, 0xDB) == 0);
        assert(sim_slip_decoder_feed(&d, 0x01) == 0);
        assert(sim_slip_decoder_feed(&d, 0xC0) == 0);
        assert(sim_slip_decoder_feed(&d, 0x07) == 0);
        assert(sim_slip_decoder_feed(&d, 0xC0) == 1);
        assert(d.len == 1 && d.buf[0] == 0x07);

        /* Too long for the buffer: dropped. */
        assert(sim_slip_decoder_feed(&d, 0xC0) == 0);
        for (int i = 0; i < 20; i++)
                assert(sim_slip_decoder_feed(&d, 0x11) == 0);
        assert(sim_slip_decoder_feed(&d, 0xC0) == 0);
        sim_slip_decoder_done(&d);
}

static void test_uart(void) {
        SimByteTime bt = sim_timing_byte_time(SIM_TIMING_REAL, SIM_CONSOLE_UART, 115200);
        const uint8_t *p;
        SimUart u;
        uint8_t b;
        nsec_t done, t0 = 1000 * SIM_NSEC_PER_MSEC;

        sim_uart_init(&u, bt);

        /* Bytes handed over at once still arrive one byte time apart. */
        assert(sim_uart_rx_push(&u, (const uint8_t *) "abc", 3, t0) == 0);
        assert(!sim_uart_rx_pop(&u, t0, &b, &done));
        assert(sim_uart_rx_next_due(&u) == t0 + 86805);
        assert(sim_uart_rx_pop(&u, t0 + 200000, &b, &done) && b == 'a' && done == t0 + 86805);
        assert(sim_uart_rx_pop(&u, t0 + 200000, &b, &done) && b == 'b' && done == t0 + 173611);
        assert(!sim_uart_rx_pop(&u, t0 + 200000, &b, &done));
        assert(sim_uart_rx_pop(&u, t0 + 300000, &b, &done) && b == 'c');

        /* Output leaves one byte time per byte, after what is queued. */
        assert(sim_uart_tx_queue(&u, (const uint8_t *) "xyz", 3, t0, &done) == 0);
        assert(done == t0 + 260416);
        assert(sim_uart_tx_due(&u, t0 + 100000, &p) == 1 && p[0] == 'x');
        assert(sim_uart_tx_due(&u, t0 + 260416, &p) == 3);
        sim_uart_tx_consume(&u, 2);
        assert(sim_uart_tx_next_due(&u) == t0 + 260416);
        assert(sim_uart_tx_queue(&u, (const uint8_t *) "!", 1, t0, &done) == 0);
        assert(done == t0 + 347222);
        sim_uart_tx_consume(&u, 2);
        assert(sim_uart_tx_pending(&u) == 0);

        /* A stall shifts what is still queued. */
        assert(sim_uart_tx_queue(&u, (const uint8_t *) "q", 1, t0 + SIM_NSEC_PER_SEC, &done) == 0);
        sim_uart_freeze(&u, t0 + SIM_NSEC_PER_SEC, t0 + 2 * SIM_NSEC_PER_SEC);
        assert(sim_uart_tx_next_due(&u) == t0 + 2 * SIM_NSEC_PER_SEC + 86805);
        sim_uart_done(&u);
}

static void test_faults(void) {
        SimFault f;
        SimFaults fs;
        SimFaultResult r;
        uint8_t buf[1000];

        assert(sim_fault_parse("drop=0.5", &f) == 0 && f.kind == SIM_FAULT_DROP && f.rate == 0.5);
        assert(sim_fault_parse("corrupt=1e-3", &f) == 0 && f.kind == SIM_FAULT_CORRUPT);
        assert(sim_fault_parse("stall=250@4096", &f) == 0 && f.kind == SIM_FAULT_STALL &&
               f.stall_msec == 250 && f.at_byte == 4096);
        assert(sim_fault_parse("vanish=100", &f) == 0 && f.kind == SIM_FAULT_VANISH && f.at_byte == 100);
        assert(sim_fault_parse("flip=7", &f) == 0 && f.kind == SIM_FAULT_FLIP && f.at_byte == 7);
        assert(sim_fault_parse("drop=2", &f) < 0);
        assert(sim_fault_parse("stall=5", &f) < 0);
        assert(sim_fault_parse("melt=1", &f) < 0);
        assert(sim_fault_parse("vanish=-1", &f) < 0);
        assert(sim_fault_parse("block-corrupt=1e-2", &f) == 0 && f.kind == SIM_FAULT_BLOCK_CORRUPT &&
               f.rate == 1e-2);
        assert(sim_fault_parse("loss-above=115200:0.25", &f) == 0 && f.kind == SIM_FAULT_LOSS_ABOVE &&
               f.above_baud == 115200 && f.rate == 0.25);
        assert(sim_fault_parse("loss-above=115200", &f) < 0);
        assert(sim_fault_parse("loss-above=0:0.1", &f) < 0);
        assert(sim_fault_parse("loss-above=921600:2", &f) < 0);
        assert(sim_fault_parse("block-corrupt=-1", &f) < 0);
        assert(sim_fault_parse("zero-erase=nowrite", &f) == 0 && f.kind == SIM_FAULT_ZERO_ERASE);
        assert(sim_fault_parse("zero-erase=1", &f) < 0);

        /* loss-above: lossless at the rate and below, lossy above it */
        sim_faults_init(&fs, 9);
        assert(sim_fault_parse("loss-above=115200:0.5", &f) == 0 && sim_faults_add(&fs, &f) == 0);
        fs.baud = 115200;
        sim_faults_filter(&fs, buf, sizeof(buf), 0, &r);
        assert(r.len == sizeof(buf) && fs.dropped == 0);
        fs.baud = 922190;
        sim_faults_filter(&fs, buf, sizeof(buf), 1000, &r);
        assert(r.len > 400 && r.len < 600 && fs.dropped == sizeof(buf) - r.len);
        /* …and the byte stream's other faults do not touch data blocks */
        assert(!sim_faults_block(&fs, buf, sizeof(buf)));
        sim_faults_done(&fs);

        /* block-corrupt: one bit in a damaged block, so its XOR checksum sees it */
        sim_faults_init(&fs, 11);
        assert(sim_fault_parse("block-corrupt=0.3", &f) == 0 && sim_faults_add(&fs, &f) == 0);
        {
                unsigned hit = 0;

                for (unsigned i = 0; i < 1000; i++) {
                        uint8_t before[64], block[64];
                        unsigned bits = 0;

                        for (size_t k = 0; k < sizeof(block); k++)
                                before[k] = block[k] = (uint8_t) (i + k * 7);
                        if (!sim_faults_block(&fs, block, sizeof(block))) {
                                assert(memcmp(before, block, sizeof(block)) == 0);
                                continue;
                        }
                        hit++;
                        for (size_t k = 0; k < sizeof(block); k++)
                                bits += (unsigned) __builtin_popcount(before[k] ^ block[k]);
                        assert(bits == 1);
                }
                assert(hit > 240 && hit < 360 && fs.corrupted_blocks == hit);
                /* the byte filter leaves a stream alone under block faults */
                memset(buf, 0x55, sizeof(buf));
                sim_faults_filter(&fs, buf, sizeof(buf), 0, &r);
                assert(r.len == sizeof(buf) && buf[0] == 0x55 && buf[999] == 0x55);
        }
        sim_faults_done(&fs);

        sim_faults_init(&fs, 42);
        assert(sim_fault_parse("vanish=1500", &f) == 0 && sim_faults_add(&fs, &f) == 0);
        memset(buf, 0x55, sizeof(buf));
        sim_faults_filter(&fs, buf, sizeof(buf), 0, &r);
        assert(!r.vanish && r.len == 1000);
        sim_faults_filter(&fs, buf, sizeof(buf), 1000, &r);
        assert(r.vanish && r.len == 500);
        sim_faults_done(&fs);

        /* The same seed drops the same bytes. */
        for (int round = 0; round < 2; round++) {
                static size_t first;

                sim_faults_init(&fs, 7);
                assert(sim_fault_parse("drop=0.1", &f) == 0 && sim_faults_add(&fs, &f) == 0);
                for (size_t i = 0; i < sizeof(buf); i++)
                        buf[i] = (uint8_t) i;
                sim_faults_filter(&fs, buf, sizeof(buf), 0, &r);
                assert(r.len > 800 && r.len < 960);
                if (round == 0)
                        first = r.len;
                else
                        assert(r.len == first);
                sim_faults_done(&fs);
        }
}

/* ---- loader against the traces ---------------------------------------------- */

typedef struct Capture {
        uint8_t frames[32][128];
        size_t len[32];
        size_t n;
        int soft_resets;
        uint32_t baud;
} Capture;

static nsec_t cap_send(void *u, const uint8_t *data, size_t n, bool slip, nsec_t at) {
        Capture *c = u;

        assert(slip);
        if (c->n < ELEMENTSOF(c->frames)) {
                memcpy(c->frames[c->n], data, MIN(n, sizeof(c->frames[0])));
                c->len[c->n++] = n;
        }
        return at;
}
static void cap_baud(void *u, uint32_t baud, nsec_t at) {
        ((Capture *) u)->baud = baud;
}
static void cap_soft_reset(void *u, nsec_t at) {
        ((Capture *) u)->soft_resets++;
}
static void cap_run(void *u, nsec_t at) {
}
static void cap_dead(void *u) {
}
static void cap_command(void *u, nsec_t at, uint8_t op, size_t len, bool stub, uint16_t status) {
}

typedef struct Rig {
        char path[64];
        SimFlash *flash;
        SimRegs regs;
        SimLoader l;
        Capture cap;
} Rig;

static void rig_init(Rig *r, const char *chip) {
        const SimChip *c = sim_chip_from_name(chip);
        int fd;

        *r = (Rig) {};
        strcpy(r->path, "/tmp/test-sim-parts-XXXXXX");
        fd = mkstemp(r->path);
        assert(fd >= 0);
        close(fd);
        assert(sim_flash_open(r->path, 4U << 20, true, &r->flash) == 0);
        assert(sim_regs_load(&r->regs, c->regs, c->n_regs) == 0);
        assert(sim_regs_load(&r->regs, c->spi_regs_rom, c->n_spi_regs_rom) == 0);
        assert(sim_loader_init(&r->l, c, r->flash, &r->regs, SIM_TIMING_FAST, SIM_CONSOLE_UART,
                               &(SimLoaderHost) {
                                       .userdata = &r->cap,
                                       .send = cap_send,
                                       .set_baud = cap_baud,
                                       .soft_reset = cap_soft_reset,
                                       .run_user_code = cap_run,
                                       .uart_dead = cap_dead,
                                       .command = cap_command,
                               }) == 0);
}

static void rig_done(Rig *r) {
        sim_loader_done(&r->l);
        sim_regs_clear(&r->regs);
        r->flash = sim_flash_free(r->flash);
        unlink(r->path);
}

/* Sends a request (unframed) and checks the reply frames (hex). */
static void exchange_raw(Rig *r, const uint8_t *req, size_t n, size_t n_replies, const char *reply_hex) {
        uint8_t expect[128];
        size_t e = unhex(reply_hex, expect);
        const char *req_hex = "(raw)";

        r->cap.n = 0;
        assert(sim_loader_frame(&r->l, req, n, 0) >= 0);
        if (r->cap.n != n_replies) {
                fprintf(stderr, "request %s: %zu replies, expected %zu\n", req_hex, r->cap.n, n_replies);
                assert(false);
        }
        for (size_t i = 0; i < n_replies; i++)
                if (r->cap.len[i] != e || memcmp(r->cap.frames[i], expect, e) != 0) {
                        fprintf(stderr, "request %.40s: reply %zu differs, expected %s\n", req_hex, i, reply_hex);
                        for (size_t k = 0; k < r->cap.len[i]; k++)
                                fprintf(stderr, "%02x", r->cap.frames[i][k]);
                        fprintf(stderr, "\n");
                        assert(false);
                }
}

static void exchange(Rig *r, const char *req_hex, size_t n_replies, const char *reply_hex) {
        uint8_t req[2048];
        size_t n = unhex(req_hex, req);

        exchange_raw(r, req, n, n_replies, reply_hex);
}

/* A FLASH_DATA request with a 0x400 block of 0x11, as the raw probe sent. */
static size_t flash_data_req(uint8_t *req, uint32_t seq, bool bad_checksum) {
        uint8_t chk = 0xEF;

        memset(req, 0, 8 + 16);
        req[1] = 0x03;
        req[2] = (16 + 0x400) & 0xFF;
        req[3] = (16 + 0x400) >> 8;
        req[8 + 1] = 0x04;      /* data length 0x400 */
        req[8 + 4] = (uint8_t) seq;
        memset(req + 8 + 16, 0x11, 0x400);
        for (size_t i = 0; i < 0x400; i++)
                chk ^= 0x11;
        req[4] = bad_checksum ? (uint8_t) (chk ^ 1) : chk;
        return 8 + 16 + 0x400;
}

#define SYNC_REQ "0008240000000000070712205555555555555555555555555555555555555555555555555555555555555555"

static void test_loader_esp32_rom(void) {
        Rig r;

        rig_init(&r, "esp32");
        /* trace esp32-rom-chip-id */
        exchange(&r, SYNC_REQ, 8, "010804000707122000000000");
        exchange(&r, "0014000000000000", 1, "010804000707122001050000");
        exchange(&r, "000a04000000000000100040", 1, "010a0400831df00000000000");
        exchange(&r, "000a0400000000007c60f63f", 1, "010a04000020049600000000");
        exchange(&r, "000a04000000000008a0f53f", 1, "010a04000110fe0000000000");
        exchange(&r, "000a04000000000004a0f53f", 1, "010a0400240ac40000000000");
        /* trace esp32-rom-raw-probe: WRITE_REG keeps the stale value, stub-only
         * commands echo the previous opcode */
        exchange(&r, "00091000000000000000fb3f78563412ffffffff00000000", 1, "01090400240ac40000000000");
        exchange(&r, "000a0400000000000000fb3f", 1, "010a04007856341200000000");
        exchange(&r, "00d0000000000000", 1, "010a04007856341201050000");
        /* trace esp32-rom-flash-id: SPI_ATTACH, then the RDID register dance */
        exchange(&r, "000d0800000000000000000000000000", 1, "010d04007856341200000000");
        exchange(&r, "000a0400000000001c20f43f", 1, "010a04000000005000000000");
        exchange(&r, "00091000000000002c20f43f17000000ffffffff00000000", 1, "010904000000005000000000");
        exchange(&r, "00091000000000001c20f43f00000090ffffffff00000000", 1, "010904000000005000000000");
        exchange(&r, "00091000000000002420f43f9f000070ffffffff00000000", 1, "010904000000005000000000");
        exchange(&r, "00091000000000008020f43f00000000ffffffff00000000", 1, "010904000000005000000000");
        exchange(&r, "00091000000000000020f43f00000400ffffffff00000000", 1, "010904000000005000000000");
        exchange(&r, "000a0400000000000020f43f", 1, "010a04000000000000000000");
        exchange(&r, "000a0400000000008020f43f", 1, "010a0400c840160000000000");
        /* FLASH_BEGIN takes 16 bytes on the ESP32 ROM */
        exchange(&r, "0002100000000000e90b0000030000000004000000001000", 1, "01020400c840160000000000");
        /* bad checksum and wrong sequence (trace esp32-rom-raw-probe) */
        {
                uint8_t req[8 + 16 + 0x400];
                size_t n;

                n = flash_data_req(req, 0, true);
                exchange_raw(&r, req, n, 1, "01030400c840160001070000");
                n = flash_data_req(req, 8, false);
                exchange_raw(&r, req, n, 1, "01030400c840160001050000");
                /* trace esp32-rom-defl-error-probe: the bad block still
                 * counted, so resending it is refused and the next goes on */
                n = flash_data_req(req, 0, false);
                exchange_raw(&r, req, n, 1, "01030400c840160001050000");
                n = flash_data_req(req, 1, false);
                exchange_raw(&r, req, n, 1, "01030400c840160000050000");
                /* the carried 05 lasts until a READ_REG clears it */
                exchange(&r, "000b1800000000000000000000004000000001000010000000010000ffff0000", 1,
                         "010b0400c840160000050000");
                exchange(&r, "000a04000000000000100040", 1, "010a0400831df00000000000");
                exchange(&r, "000b1800000000000000000000004000000001000010000000010000ffff0000", 1,
                         "010b0400831df00000000000");
        }
        rig_done(&r);
}

/* MEM_BEGIN at addr, one MEM_DATA with `word` repeated twice, MEM_END to
 * entry: the ROM runs it as a stub only if entry holds code that MEM_DATA put
 * there; else the CPU traps and nothing answers until a reset. */
static void upload_and_run(Rig *r, uint32_t addr, uint32_t word, uint32_t entry) {
        uint8_t req[8 + 16 + 8] = {}, chk = 0xEF;

        memset(req, 0, sizeof(req));
        req[1] = 0x05;                  /* MEM_BEGIN: size 8, 1 block of 0x1800, addr */
        req[2] = 16;
        req[8] = 8;
        req[8 + 4] = 1;
        req[8 + 9] = 0x18;
        memcpy(req + 8 + 12, &addr, 4);
        r->cap.n = 0;
        assert(sim_loader_frame(&r->l, req, 8 + 16, 0) >= 0 && r->cap.n == 1);

        memset(req, 0, sizeof(req));
        req[1] = 0x07;                  /* MEM_DATA: 8 bytes, seq 0 */
        req[2] = 16 + 8;
        req[8] = 8;
        memcpy(req + 8 + 16, &word, 4);
        memcpy(req + 8 + 20, &word, 4);
        for (size_t i = 0; i < 8; i++)
                chk ^= req[8 + 16 + i];
        req[4] = chk;
        r->cap.n = 0;
        assert(sim_loader_frame(&r->l, req, 8 + 16 + 8, 0) >= 0 && r->cap.n == 1);
        assert(r->cap.frames[0][8] == 0);       /* accepted */

        memset(req, 0, sizeof(req));
        req[1] = 0x06;                  /* MEM_END: stay 0, entry */
        req[2] = 8;
        memcpy(req + 8 + 4, &entry, 4);
        r->cap.n = 0;
        assert(sim_loader_frame(&r->l, req, 8 + 8, 0) >= 0);
}

static void test_loader_mem_entry(void) {
        Rig r;

        rig_init(&r, "esp32c3");
        upload_and_run(&r, 0x40380000, 0x12345678, 0x40380004);
        assert(r.cap.n == 2 && r.cap.len[1] == 4 && memcmp(r.cap.frames[1], "OHAI", 4) == 0);
        assert(r.l.stub && !r.l.uart_dead);
        rig_done(&r);

        /* zeros at the entry point: an illegal instruction */
        rig_init(&r, "esp32c3");
        upload_and_run(&r, 0x40380000, 0, 0x40380004);
        assert(r.cap.n == 1 && !r.l.stub && r.l.uart_dead);
        exchange(&r, SYNC_REQ, 0, "");
        sim_loader_reset(&r.l);
        exchange(&r, SYNC_REQ, 8, "010804000707122000000000");
        rig_done(&r);

        /* an entry point outside what was uploaded */
        rig_init(&r, "esp32");
        upload_and_run(&r, 0x40080000, 0x12345678, 0x40090000);
        assert(r.cap.n == 1 && !r.l.stub && r.l.uart_dead);
        rig_done(&r);
}

static void test_loader_esp32c3_rom(void) {
        Rig r;

        rig_init(&r, "esp32c3");
        /* trace esp32c3-rom-chip-id (fresh run: leftovers 0000) */
        exchange(&r, SYNC_REQ, 8, "010804000707122000000000");
        exchange(&r, "0014000000000000", 1,
                 "011418000707122000000000000000000000000c050000000300000000000000");
        exchange(&r, "000a04000000000050880060", 1, "010a040000000c0000000000");
        exchange(&r, "000a04000000000044880060", 1, "010a04000110fe2400000000");
        exchange(&r, "000a04000000000048880060", 1, "010a04000ac4000000000000");
        exchange(&r, "00d0000000000000", 1, "010a04000ac4000001050000");
        exchange(&r, "000d0800000000000000000000000000", 1, "010d04000ac4000000000000");
        exchange(&r, "000a04000000000018200060", 1, "010a0400c00000d000000000");
        exchange(&r, "000a04000000000020200060", 1, "010a04000300007000000000");
        /* a 16-byte FLASH_BEGIN is too short for this ROM */
        exchange(&r, "000210000000000000000000000000000004000000000000", 1, "010204000300007001050000");
        exchange(&r, "0002140000000000000000000000000000040000000000000000000000", 1, "010204000300007001050000");
        /* (the refusals' 05 is carried: untraced for length errors, which
         * are taken to be errors like any other of a supported command) */
        exchange(&r, "00021400000000000000000000000000000400000000000000000000", 1, "010204000300007000050000");
        rig_done(&r);
}

static void test_loader_md5_leftover(void) {
        Rig r;

        rig_init(&r, "esp32");
        /* MD5 of 0x1000 erased bytes is 6ae59e64850377ee5470c854761551ea: the
         * ROM answers it as hex, and later replies carry its characters 2
         * and 3 ("e5") in their last two status bytes. */
        exchange(&r, "00131000000000000000000000100000" "0000000000000000", 1,
                 "0113240000000000" "3661653539653634383530333737656535343730633835343736313535316561"
                 "00000000");
        exchange(&r, "000a04000000000000100040", 1, "010a0400831df00000006535");
        /* A READ_FLASH_SLOW of erased flash leaves 0xFF there instead. */
        exchange(&r, "000e080000000000" "0000000040000000", 1,
                 "010e4400831df000" "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
                 "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff" "00000000");
        exchange(&r, "000a04000000000000100040", 1, "010a0400831df0000000ffff");
        rig_done(&r);
}

int main(void) {
        test_slip();
        test_uart();
        test_faults();
        test_loader_esp32_rom();
        test_loader_esp32c3_rom();
        test_loader_mem_entry();
        test_loader_md5_leftover();
        printf("test-sim-parts: ok\n");
        return 0;
}
