/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the loader session's reply handling: the fuzz input is
 * everything the "chip" sends, handed out in reads of varying size through a
 * transport that times out at once when it runs dry. The loader connects and,
 * if that works, runs the commands a deploy runs (registers, flash attach, MD5,
 * a compressed write, baud change). Whatever arrives, it must fail with an
 * errno or succeed, never read or write out of bounds, never hang. */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "esp-loader.h"
#include "transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The reset and sync pauses are wall-clock sleeps; with a chip that answers
 * instantly they only slow the fuzzer down (linked with --wrap=sleep_usec). */
void __wrap_sleep_usec(usec_t t);
void __wrap_sleep_usec(usec_t t) {
}

typedef struct FuzzTransport {
        Transport base;
        const uint8_t *data;
        size_t size, pos;
        unsigned reads;
} FuzzTransport;

static int fuzz_read(Transport *t, void *buf, size_t n, usec_t deadline) {
        FuzzTransport *f = (FuzzTransport *) t;
        size_t k;

        if (f->pos >= f->size)
                return -ETIMEDOUT;
        /* Read sizes vary with the input itself, so frames split anywhere. */
        k = 1 + (f->data[f->pos] + f->reads++) % 61;
        k = k < n ? k : n;
        k = k < f->size - f->pos ? k : f->size - f->pos;
        memcpy(buf, f->data + f->pos, k);
        f->pos += k;
        return (int) k;
}

static int fuzz_write(Transport *t, const void *buf, size_t n, usec_t deadline) {
        return 0;
}

static int fuzz_set_signals(Transport *t, bool dtr, bool rts) {
        return 0;
}

static int fuzz_set_baud(Transport *t, uint32_t baud) {
        t->baud = baud;
        return 0;
}

static int fuzz_flush_input(Transport *t) {
        return 0;
}

static int fuzz_drain(Transport *t, usec_t deadline) {
        return 0;
}

static void fuzz_free(Transport *t) {
}

static const TransportOps fuzz_ops = {
        .name = "fuzz",
        .read = fuzz_read,
        .write = fuzz_write,
        .set_signals = fuzz_set_signals,
        .set_baud = fuzz_set_baud,
        .flush_input = fuzz_flush_input,
        .drain = fuzz_drain,
        .free = fuzz_free,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const uint8_t block[64] = { 0x78, 0x9c };
        FuzzTransport f = { .data = data, .size = size };
        EspLoader *l = NULL;
        uint8_t digest[16];
        uint32_t value;

        assert(transport_init(&f.base, &fuzz_ops) == 0);
        f.base.baud = 115200;
        assert(esp_loader_new(&f.base, &l) == 0);

        if (esp_loader_connect(l, ESP_RESET_NONE, 1) >= 0) {
                assert(esp_loader_chip(l));
                (void) esp_loader_read_reg(l, 0x3ff5a00c, &value);
                (void) esp_loader_attach_flash(l, 0);
                (void) esp_loader_flash_md5(l, 0x1000, 0x1000, digest);
                if (esp_loader_flash_defl_begin(l, 0x10000, 0x1000, sizeof(block),
                                                esp_loader_flash_block_size(l), true) >= 0 &&
                    esp_loader_flash_defl_data(l, 0, block, sizeof(block), 0x1000) >= 0)
                        (void) esp_loader_flash_defl_end(l, true);
                (void) esp_loader_change_baud(l, 921600);
                (void) esp_loader_hard_reset(l);
        }
        esp_loader_free(l);
        transport_deinit(&f.base);
        return 0;
}
