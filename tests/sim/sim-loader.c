/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Frame intake and the parts of the simulated loader that ROM and stub share:
 * register access, the flash write engine (erase, program, inflate) and its
 * timing. The command semantics live in sim-rom.c and sim-stub.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "sim-loader-internal.h"
#include "sim-spi.h"

static const char *const op_names[256] = {
        [SIM_OP_FLASH_BEGIN] = "FLASH_BEGIN",
        [SIM_OP_FLASH_DATA] = "FLASH_DATA",
        [SIM_OP_FLASH_END] = "FLASH_END",
        [SIM_OP_MEM_BEGIN] = "MEM_BEGIN",
        [SIM_OP_MEM_END] = "MEM_END",
        [SIM_OP_MEM_DATA] = "MEM_DATA",
        [SIM_OP_SYNC] = "SYNC",
        [SIM_OP_WRITE_REG] = "WRITE_REG",
        [SIM_OP_READ_REG] = "READ_REG",
        [SIM_OP_SPI_SET_PARAMS] = "SPI_SET_PARAMS",
        [SIM_OP_SPI_ATTACH] = "SPI_ATTACH",
        [SIM_OP_READ_FLASH_SLOW] = "READ_FLASH_SLOW",
        [SIM_OP_CHANGE_BAUDRATE] = "CHANGE_BAUDRATE",
        [SIM_OP_FLASH_DEFL_BEGIN] = "FLASH_DEFL_BEGIN",
        [SIM_OP_FLASH_DEFL_DATA] = "FLASH_DEFL_DATA",
        [SIM_OP_FLASH_DEFL_END] = "FLASH_DEFL_END",
        [SIM_OP_SPI_FLASH_MD5] = "SPI_FLASH_MD5",
        [SIM_OP_GET_SECURITY_INFO] = "GET_SECURITY_INFO",
        [SIM_OP_ERASE_FLASH] = "ERASE_FLASH",
        [SIM_OP_ERASE_REGION] = "ERASE_REGION",
        [SIM_OP_READ_FLASH] = "READ_FLASH",
        [SIM_OP_RUN_USER_CODE] = "RUN_USER_CODE",
};

const char *sim_op_to_string(uint8_t op) {
        return op_names[op] ?: "UNKNOWN";
}

uint8_t sim_data_checksum(const uint8_t *data, size_t n) {
        uint8_t c = 0xEF;

        for (size_t i = 0; i < n; i++)
                c ^= data[i];
        return c;
}

int sim_loader_init(SimLoader *l, const SimChip *chip, SimFlash *flash, SimRegs *regs,
                    SimTimingMode timing, SimConsole console, const SimLoaderHost *host) {
        *l = (SimLoader) {
                .chip = chip,
                .flash = flash,
                .regs = regs,
                .timing = timing,
                .console = console,
                .host = *host,
        };
        sim_loader_reset(l);
        return 0;
}

void sim_loader_flash_write_stop(SimLoader *l) {
        if (l->fw.z_live)
                inflateEnd(&l->fw.z);
        l->fw = (SimFlashWrite) {};
}

void sim_loader_done(SimLoader *l) {
        sim_loader_flash_write_stop(l);
        sim_stub_read_flash_stop(l);
}

void sim_loader_reset(SimLoader *l) {
        sim_loader_flash_write_stop(l);
        sim_stub_read_flash_stop(l);
        l->stub = false;
        l->busy_until = 0;
        l->flash_busy_until = 0;
        l->chip_size = l->chip->rom_default_chip_size;
        l->spi_attached = false;
        l->uart_dead = false;
        l->mem.n_segments = 0;
        l->mem.image_used = 0;
        /* A booting ROM starts from zeroed RAM, reply buffer included. */
        l->last_op = 0;
        l->last_value = 0;
        memset(l->resp_ram, 0, sizeof(l->resp_ram));
        l->rom_error = 0;
        /* The inflate buffer too: no trace shows what it holds before the
         * first stream, and zeroed RAM is the assumption made throughout. */
        memset(l->rom_window, 0, sizeof(l->rom_window));
        l->mem.active = l->mem.data_seen = false;
        l->deferred = 0;
}

size_t sim_loader_max_frame(const SimLoader *l) {
        return l->stub ? SIM_STUB_MAX_FRAME : SIM_ROM_MAX_FRAME;
}

uint32_t sim_loader_read_reg(SimLoader *l, uint32_t addr) {
        return sim_regs_read(l->regs, addr);
}

void sim_loader_write_reg(SimLoader *l, uint32_t addr, uint32_t value, uint32_t mask) {
        uint32_t v = value & mask;

        if (mask != UINT32_MAX)
                v |= sim_regs_read(l->regs, addr) & ~mask;
        (void) sim_regs_write(l->regs, addr, v);
        (void) sim_spi_after_write(&l->chip->spi, l->regs, l->flash, addr, v);
        if (l->chip->rtc_wdt_config0_reg != 0 && addr == l->chip->rtc_wdt_config0_reg && v == 0)
                l->wdt_disabled = true;
}

void sim_loader_touch_flash_read(SimLoader *l) {
        uint32_t usr2 = l->chip->spi.base + l->chip->spi.usr2_offs;

        (void) sim_regs_write(l->regs, usr2, (sim_regs_read(l->regs, usr2) & ~0xFFFFU) | 0x03);
}

/* The ROM's flash driver sets up SPI_USR for its own erase and program
 * commands and leaves it so: a session that restored another value finds the
 * ROM's again after a write (trace esp32-rom-write-flash-compressed-spill). */
static void touch_flash_write(SimLoader *l) {
        uint32_t usr = l->chip->spi.base + l->chip->spi.usr_offs;

        if (l->stub)
                return;
        for (size_t i = 0; i < l->chip->n_spi_regs_rom; i++)
                if (l->chip->spi_regs_rom[i].addr == usr)
                        (void) sim_regs_write(l->regs, usr, l->chip->spi_regs_rom[i].value);
}

bool sim_loader_range_ok(const SimLoader *l, uint32_t addr, uint32_t len) {
        return (uint64_t) addr + len <= l->chip_size;
}

nsec_t sim_loader_flash_erase(SimLoader *l, uint32_t addr, uint32_t len, uint32_t sectors,
                              uint32_t blocks, nsec_t start) {
        nsec_t t = MAX(start, l->flash_busy_until);

        sim_flash_erase(l->flash, addr, len);
        l->erased_bytes += len;
        if (l->host.flash_erase)
                l->host.flash_erase(l->host.userdata, addr, len);
        touch_flash_write(l);
        l->flash_busy_until = t + sim_timing_erase(l->timing, sectors, blocks);
        return l->flash_busy_until;
}

nsec_t sim_loader_flash_program(SimLoader *l, uint32_t addr, const uint8_t *data, uint32_t len,
                                nsec_t start) {
        nsec_t t = MAX(start, l->flash_busy_until);

        if (!l->fw.discard)
                sim_flash_program(l->flash, addr, data, len);
        touch_flash_write(l);
        l->flash_busy_until = t + sim_timing_program(l->timing, addr, len);
        return l->flash_busy_until;
}

/* Stub semantics: before writing up to `end`, erase (a sector or a block at a
 * time) everything up to it that FLASH_BEGIN asked for. */
static void stub_erase_to(SimLoader *l, uint32_t end, nsec_t start) {
        while (l->fw.erase_remaining > 0 && l->fw.erase_next < end) {
                uint32_t unit = sim_erase_next_unit(l->fw.erase_next, l->fw.erase_remaining);
                bool block = unit == SIM_FLASH_BLOCK_SIZE;

                (void) sim_loader_flash_erase(l, l->fw.erase_next, unit, block ? 0 : 1, block ? 1 : 0, start);
                l->fw.erase_next += unit;
                l->fw.erase_remaining -= unit;
        }
}

static nsec_t write_out(SimLoader *l, const uint8_t *data, uint32_t len, nsec_t start) {
        if (l->stub) {
                len = MIN(len, l->fw.remaining);
                stub_erase_to(l, l->fw.next_write + len, start);
                l->fw.remaining -= len;
        }
        if (len == 0)
                return MAX(start, l->flash_busy_until);
        (void) sim_loader_flash_program(l, l->fw.next_write, data, len, start);
        l->fw.next_write += len;
        return l->flash_busy_until;
}

int sim_loader_inflate(SimLoader *l, const uint8_t *data, size_t n, nsec_t start, nsec_t *ret_end) {
        uint8_t out[32768];
        nsec_t end = start;

        if (!l->fw.z_live) {
                if (inflateInit(&l->fw.z) != Z_OK)
                        return -ENOMEM;
                l->fw.z_live = true;
        }
        l->fw.z.next_in = (uint8_t *) data;
        l->fw.z.avail_in = (uInt) n;
        while (!l->fw.z_done) {
                size_t produced;
                int zr;

                l->fw.z.next_out = out;
                l->fw.z.avail_out = sizeof(out);
                zr = inflate(&l->fw.z, Z_NO_FLUSH);
                if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
                        return -EBADMSG;
                produced = sizeof(out) - l->fw.z.avail_out;
                if (produced > 0)
                        end = write_out(l, out, (uint32_t) produced, start);
                if (zr == Z_STREAM_END)
                        l->fw.z_done = true;
                else if (zr == Z_BUF_ERROR || (l->fw.z.avail_in == 0 && l->fw.z.avail_out > 0))
                        break;  /* all input consumed, all output flushed */
        }
        /* Decompression is free in the model; only the programs cost time. */
        *ret_end = MAX(end, start);
        return 0;
}

nsec_t sim_loader_flash_write_plain(SimLoader *l, const uint8_t *data, uint32_t len, nsec_t start) {
        return write_out(l, data, len, start);
}

void sim_loader_set_clkdiv(SimLoader *l, uint32_t div16) {
        (void) sim_regs_write(l->regs, l->chip->uart_clkdiv_reg,
                              ((div16 >> 4) & 0xFFFFF) | (div16 & 0xF) << 20);
}

nsec_t sim_loader_send_frame(SimLoader *l, const uint8_t *frame, size_t n, nsec_t at) {
        return l->host.send(l->host.userdata, frame, n, true, at);
}

int sim_loader_frame(SimLoader *l, const uint8_t *frame, size_t n, nsec_t done) {
        SimRequest req;

        if (l->uart_dead)
                return 0;

        /* The stub's READ_FLASH owns the line until the transfer ends: frames
         * are acknowledgements, not commands. */
        if (l->stub && l->rf.active)
                return sim_stub_handle(l, &(SimRequest) { .data = frame, .len = n }, done);

        if (n < 8)
                return 0;       /* too short for a header: both loaders drop it */
        req = (SimRequest) {
                .dir = frame[0],
                .op = frame[1],
                .size = (uint16_t) (frame[2] | frame[3] << 8),
                .checksum = sim_le32(frame + 4),
                .data = frame + 8,
                .len = n - 8,
        };
        l->commands++;
        return l->stub ? sim_stub_handle(l, &req, done) : sim_rom_handle(l, &req, done);
}
