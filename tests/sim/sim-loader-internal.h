/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared between the ROM and stub halves of the simulated loader: request
 * parsing, register access with side effects, and the flash write engine. */
#pragma once

#include "sim-loader.h"

#define SIM_ROM_MAX_FRAME 0x2000U      /* holds a 0x1800-byte MEM_DATA block */
#define SIM_STUB_MAX_FRAME SIM_LOADER_MAX_FRAME
#define SIM_SYNC_REPLIES 8

typedef struct SimRequest {
        uint8_t dir;
        uint8_t op;
        uint16_t size;                  /* as declared in the header */
        uint32_t checksum;
        const uint8_t *data;
        size_t len;                     /* as received */
} SimRequest;

static inline uint32_t sim_le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static inline void sim_put_le32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
        p[2] = (uint8_t) (v >> 16);
        p[3] = (uint8_t) (v >> 24);
}

/* The protocol's "checksum": 0xEF XORed with every data byte. */
uint8_t sim_data_checksum(const uint8_t *data, size_t n);

uint32_t sim_loader_read_reg(SimLoader *l, uint32_t addr);
/* One WRITE_REG entry: masked write, SPI controller and watchdog side effects. */
void sim_loader_write_reg(SimLoader *l, uint32_t addr, uint32_t value, uint32_t mask);

/* Flash operations with their timing, on the flash chip's own timeline. Each
 * returns when the flash is done with it. */
nsec_t sim_loader_flash_erase(SimLoader *l, uint32_t addr, uint32_t len, uint32_t sectors,
                              uint32_t blocks, nsec_t start);
nsec_t sim_loader_flash_program(SimLoader *l, uint32_t addr, const uint8_t *data, uint32_t len,
                                nsec_t start);
/* Inflates one compressed block into the write cursor. Returns 0, or -EBADMSG
 * on corrupt data; *ret_end is when the resulting programs are done. */
int sim_loader_inflate(SimLoader *l, const uint8_t *data, size_t n, nsec_t start, nsec_t *ret_end);
/* The ROM's FLASH_DEFL_DATA: inflates one block into the ROM's window and
 * programs what the ROM programs (sim-rom-inflate.c). last: the block whose
 * sequence number FLASH_DEFL_BEGIN announced as the final one. Returns 0, or
 * -EBADMSG if the stream is corrupt or ends short. */
int sim_rom_inflate(SimLoader *l, const uint8_t *data, size_t n, bool last, nsec_t start, nsec_t *ret_end);
/* Plain data (FLASH_DATA) into the write cursor: the stub erases as it goes. */
nsec_t sim_loader_flash_write_plain(SimLoader *l, const uint8_t *data, uint32_t len, nsec_t start);
void sim_loader_flash_write_stop(SimLoader *l);
bool sim_loader_range_ok(const SimLoader *l, uint32_t addr, uint32_t len);
/* Flash reads go through SPI user commands in ROM code, which leave READ
 * (0x03) behind in USR2; later register dumps in the traces show it. */
void sim_loader_touch_flash_read(SimLoader *l);

/* Writes UART_CLKDIV for a divisor of div16 sixteenths (its 20.4 fixed-point
 * format), as CHANGE_BAUDRATE leaves it. */
void sim_loader_set_clkdiv(SimLoader *l, uint32_t div16);
/* The ESP32 ROM's CHANGE_BAUDRATE (sim-rom-baud.c): the UART rate its divider
 * gives for arg, or 0 if the divider is 0 and the UART stops. */
uint32_t sim_rom_baud_apply(SimLoader *l, uint32_t arg);

nsec_t sim_loader_send_frame(SimLoader *l, const uint8_t *frame, size_t n, nsec_t at);

int sim_rom_handle(SimLoader *l, const SimRequest *req, nsec_t done);
int sim_stub_handle(SimLoader *l, const SimRequest *req, nsec_t done);
/* Called when the stub takes over from the ROM. */
void sim_stub_start(SimLoader *l);
void sim_stub_read_flash_stop(SimLoader *l);
