/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit test of the simulated chip's timing arithmetic against DESIGN.md's
 * reference timing model, as tables of vectors. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "sim-en.h"
#include "sim-timing.h"

#define MS SIM_NSEC_PER_MSEC
#define US SIM_NSEC_PER_USEC

static void test_byte_time(void) {
        static const struct {
                SimTimingMode mode;
                SimConsole console;
                uint32_t baud;
                uint64_t bytes;
                nsec_t expect;
        } v[] = {
                /* 10 bits per byte at the current baud */
                { SIM_TIMING_REAL, SIM_CONSOLE_UART, 115200, 1, 86805 },
                { SIM_TIMING_REAL, SIM_CONSOLE_UART, 115200, 46, 3993055 },     /* a SYNC frame */
                { SIM_TIMING_REAL, SIM_CONSOLE_UART, 115200, 11520, 1000000000 },
                { SIM_TIMING_REAL, SIM_CONSOLE_UART, 921600, 92160, 1000000000 },
                { SIM_TIMING_REAL, SIM_CONSOLE_UART, 921600, 1, 10850 },
                { SIM_TIMING_REAL, SIM_CONSOLE_UART, 460800, 16400, 355902777 },
                /* exact over long streams: 4 MiB at 921600 */
                { SIM_TIMING_REAL, SIM_CONSOLE_UART, 921600, 4194304, 45511111111 },
                /* USB-Serial-JTAG ignores the baud rate */
                { SIM_TIMING_REAL, SIM_CONSOLE_USB_JTAG, 115200, 1000, 1000000 },
                { SIM_TIMING_REAL, SIM_CONSOLE_USB_JTAG, 9600, 1000, 1000000 },
                { SIM_TIMING_FAST, SIM_CONSOLE_UART, 115200, 1000000, 0 },
                { SIM_TIMING_REAL, SIM_CONSOLE_UART, 115200, 0, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                SimByteTime bt = sim_timing_byte_time(v[i].mode, v[i].console, v[i].baud);
                nsec_t got = sim_byte_time_span(bt, v[i].bytes);

                if (got != v[i].expect) {
                        fprintf(stderr, "byte_time[%zu]: got %llu, expected %llu\n", i,
                                (unsigned long long) got, (unsigned long long) v[i].expect);
                        assert(false);
                }
        }
}

static void test_costs(void) {
        /* Erase: 45 ms per 4 KiB sector, 150 ms per 64 KiB block. */
        assert(sim_timing_erase(SIM_TIMING_REAL, 1, 0) == 45 * MS);
        assert(sim_timing_erase(SIM_TIMING_REAL, 0, 1) == 150 * MS);
        assert(sim_timing_erase(SIM_TIMING_REAL, 3, 2) == 435 * MS);
        assert(sim_timing_erase(SIM_TIMING_FAST, 3, 2) == 0);
        assert(sim_timing_chip_erase(SIM_TIMING_REAL, 4U << 20) == 64 * 150 * MS);

        /* Program: 0.6 ms per 256-byte page touched. */
        assert(sim_timing_program(SIM_TIMING_REAL, 0, 256) == 600 * US);
        assert(sim_timing_program(SIM_TIMING_REAL, 0, 257) == 1200 * US);
        assert(sim_timing_program(SIM_TIMING_REAL, 255, 2) == 1200 * US);     /* straddles */
        assert(sim_timing_program(SIM_TIMING_REAL, 0x1000, 0x400) == 4 * 600 * US);
        assert(sim_timing_program(SIM_TIMING_REAL, 0, 0x4000) == 64 * 600 * US);
        assert(sim_timing_program(SIM_TIMING_REAL, 0, 0) == 0);
        assert(sim_timing_program(SIM_TIMING_FAST, 0, 0x4000) == 0);

        /* MD5: 2 MB/s ROM, 4 MB/s stub, plus 0.2 ms per request. */
        assert(sim_timing_md5(SIM_TIMING_REAL, 0, false) == 200 * US);
        assert(sim_timing_md5(SIM_TIMING_REAL, 2000000, false) == 1000 * MS + 200 * US);
        assert(sim_timing_md5(SIM_TIMING_REAL, 2000000, true) == 500 * MS + 200 * US);
        assert(sim_timing_md5(SIM_TIMING_REAL, 0x10000, false) == 32768 * US + 200 * US);
        assert(sim_timing_md5(SIM_TIMING_FAST, 0x10000, true) == 0);

        /* One USB turnaround per exchange. */
        assert(sim_timing_turnaround(SIM_TIMING_REAL) == 1 * MS);
        assert(sim_timing_turnaround(SIM_TIMING_FAST) == 0);
}

static void test_erase_split(void) {
        static const struct {
                uint32_t offset, len;
                uint32_t sectors, blocks;
        } v[] = {
                { 0x0, 0x1000, 1, 0 },
                { 0x0, 0x10000, 0, 1 },
                { 0x0, 0x11000, 1, 1 },
                { 0x1000, 0x10000, 16, 0 },     /* 15 to the boundary, 1 after */
                { 0x1000, 0x20000, 16, 1 },
                { 0xF000, 0x2000, 2, 0 },
                { 0x10000, 0x400000 - 0x10000, 0, 63 },
                { 0x8000, 0xC00, 1, 0 },        /* rounded up to a sector */
                { 0x0, 0, 0, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                uint32_t s, b;

                sim_erase_split(v[i].offset, v[i].len, &s, &b);
                if (s != v[i].sectors || b != v[i].blocks) {
                        fprintf(stderr, "erase_split[%zu]: got %u/%u, expected %u/%u\n", i, s, b,
                                v[i].sectors, v[i].blocks);
                        assert(false);
                }
        }
}

static void test_erase_next_unit(void) {
        assert(sim_erase_next_unit(0x0, 0x20000) == 0x10000);
        assert(sim_erase_next_unit(0x0, 0xF000) == 0x1000);
        assert(sim_erase_next_unit(0x1000, 0x20000) == 0x1000);
        assert(sim_erase_next_unit(0x10000, 0x10000) == 0x10000);
        assert(sim_erase_next_unit(0x10000, 0x800) == 0x800);
        assert(sim_erase_next_unit(0x10000, 0) == 0);
}

/* The model's anchors (DESIGN.md): about 3 s/MB of erase... */
static void test_anchors(void) {
        uint32_t s, b;
        nsec_t t;

        sim_erase_split(0, 1U << 20, &s, &b);
        t = sim_timing_erase(SIM_TIMING_REAL, s, b);
        assert(t >= 2 * SIM_NSEC_PER_SEC && t <= 4 * SIM_NSEC_PER_SEC);
}

static void test_strings(void) {
        assert(sim_timing_mode_from_string("real") == SIM_TIMING_REAL);
        assert(sim_timing_mode_from_string("fast") == SIM_TIMING_FAST);
        assert(sim_timing_mode_from_string("slow") < 0);
        assert(strcmp(sim_console_to_string(SIM_CONSOLE_USB_JTAG), "usb-jtag") == 0);
        assert(sim_console_from_string("uart") == SIM_CONSOLE_UART);
        assert(sim_console_from_string(NULL) < 0);
}

/* The EN pin's RC (sim-en.h): a 1 µF board resets after 108 µs of discharge
 * plus the datasheet's 50 µs, and latches IO0 13.86 ms (R·C·ln 4) plus the 1 ms
 * hold after EN is released; a 10 µF board ten times slower. */
static void test_en_pin(void) {
        static const struct {
                uint32_t nf;
                nsec_t reset, latch;
        } v[] = {
                { 1000, 108 * US + 50 * US, 13862940 + 1 * MS },
                { 10000, 1080 * US + 50 * US, 138629400 + 1 * MS },
                { 100, 10800 + 50 * US, 1386294 + 1 * MS },
        };
        SimEnPin p;
        nsec_t at, latch = 0;

        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                assert(sim_en_reset_nsec(v[i].nf) == v[i].reset);
                assert(sim_en_latch_nsec(v[i].nf) == v[i].latch);
        }

        /* A pulse shorter than the reset time leaves the chip running. */
        sim_en_pin_init(&p, 1000);
        at = sim_en_pin_fall(&p, 5 * MS);
        assert(at == 5 * MS + 158 * US);
        assert(!sim_en_pin_rise(&p, 5 * MS + 157 * US, &latch));
        assert(latch == 0);

        /* Long enough: reset, and IO0 sampled after the RC and the hold. */
        at = sim_en_pin_fall(&p, 10 * MS);
        assert(sim_en_pin_fall(&p, 11 * MS) == at);      /* still the first edge */
        assert(sim_en_pin_rise(&p, 10 * MS + 158 * US, &latch));
        assert(latch == 10 * MS + 158 * US + 13862940 + 1 * MS);

        /* esptool's 50 ms IO0 hold is too short for a 10 µF board (the
         * --connect-attempts retry with 550 ms is what works there). */
        assert(sim_en_latch_nsec(10000) > 50 * MS && sim_en_latch_nsec(10000) < 550 * MS);
        assert(sim_en_latch_nsec(1000) < 50 * MS);

        /* Pulled low again while still in reset: a full reset at once. */
        sim_en_pin_hold(&p, 20 * MS);
        assert(sim_en_pin_rise(&p, 20 * MS, &latch));
        /* Released twice: only the first rise counts. */
        assert(!sim_en_pin_rise(&p, 21 * MS, &latch));
}

int main(void) {
        test_en_pin();
        test_byte_time();
        test_costs();
        test_erase_split();
        test_erase_next_unit();
        test_anchors();
        test_strings();
        printf("test-sim-timing: ok\n");
        return 0;
}
