/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The flasher stub that esptool 5 and esptool-js 0.7 upload (esp-flasher-stub):
 * two status bytes carrying a big-endian response code, value 0 except for
 * READ_REG, data blocks acknowledged before they are written (so writing one
 * overlaps receiving the next), erase as it goes, errors from that deferred
 * work reported on the next command, MD5 as 16 raw bytes, READ_FLASH streamed
 * in acknowledged packets followed by the MD5 of what was sent. */
#include <errno.h>
#include <string.h>

#include "macro.h"
#include "sim-loader-internal.h"

/* Response codes, sent big-endian in the two status bytes. */
enum {
        STUB_OK = 0x0000,
        STUB_BAD_DATA_LEN = 0xC000,
        STUB_BAD_DATA_CHECKSUM = 0xC100,
        STUB_INVALID_COMMAND = 0xC300,
        STUB_FAILED_SPI_OP = 0xC400,
        STUB_NOT_IN_FLASH_MODE = 0xC600,
        STUB_INFLATE_ERROR = 0xC700,
        STUB_NOT_ENOUGH_DATA = 0xC800,
        STUB_TOO_MUCH_DATA = 0xC900,
        STUB_CMD_NOT_IMPLEMENTED = 0xFF00,
};

#define STUB_READ_PACKET_MAX 4096U

static nsec_t stub_reply(SimLoader *l, uint8_t op, uint32_t value, const uint8_t *data, size_t n,
                         uint16_t code, nsec_t at) {
        uint8_t frame[8 + 64 + 2];
        size_t k = 0;

        n = MIN(n, (size_t) 64);
        frame[k++] = 0x01;
        frame[k++] = op;
        frame[k++] = (uint8_t) (n + 2);
        frame[k++] = (uint8_t) ((n + 2) >> 8);
        sim_put_le32(frame + k, value);
        k += 4;
        if (n > 0)
                memcpy(frame + k, data, n);
        k += n;
        frame[k++] = (uint8_t) (code >> 8);
        frame[k++] = (uint8_t) code;
        return sim_loader_send_frame(l, frame, k, at);
}

static int stub_fail(SimLoader *l, const SimRequest *req, uint16_t code, nsec_t at) {
        (void) stub_reply(l, req->op, 0, NULL, 0, code, at);
        l->busy_until = at;
        l->host.command(l->host.userdata, at, req->op, req->len, true, code);
        return 0;
}

static nsec_t stub_ok(SimLoader *l, const SimRequest *req, uint32_t value, const uint8_t *data,
                      size_t n, nsec_t at) {
        nsec_t done = stub_reply(l, req->op, value, data, n, STUB_OK, at);

        l->busy_until = at;
        l->host.command(l->host.userdata, at, req->op, req->len, true, STUB_OK);
        return done;
}

void sim_stub_start(SimLoader *l) {
        l->stub = true;
        sim_loader_flash_write_stop(l);
        sim_stub_read_flash_stop(l);
        l->mem.active = false;
        l->deferred = 0;
        l->chip_size = l->chip->stub_default_chip_size;
        /* The stub attaches the flash itself when it starts. */
        l->spi_attached = true;
        (void) sim_regs_load(l->regs, l->chip->spi_regs_stub, l->chip->n_spi_regs_stub);
        /* On USB-Serial-JTAG the stub switches the RTC watchdogs off itself. */
        if (l->console == SIM_CONSOLE_USB_JTAG)
                l->wdt_disabled = true;
}

void sim_stub_read_flash_stop(SimLoader *l) {
        l->rf.md5 = sim_digest_free(l->rf.md5);
        l->rf = (SimReadFlash) {};
}

/* ---- READ_FLASH streaming ------------------------------------------------ */

static void read_flash_finish(SimLoader *l, nsec_t at) {
        uint8_t digest[SIM_DIGEST_MAX];

        if (sim_digest_final(l->rf.md5, digest) == 16)
                (void) sim_loader_send_frame(l, digest, 16, at);
        l->busy_until = MAX(l->busy_until, at);
        sim_stub_read_flash_stop(l);
}

static void read_flash_send_packet(SimLoader *l, nsec_t at) {
        uint8_t buf[STUB_READ_PACKET_MAX];
        uint32_t k = MIN(l->rf.remaining, l->rf.packet);

        sim_flash_read(l->flash, l->rf.addr, buf, k);
        (void) sim_digest_update(l->rf.md5, buf, k);
        l->busy_until = sim_loader_send_frame(l, buf, k, at);
        l->rf.addr += k;
        l->rf.remaining -= k;
        l->rf.waiting_ack = true;
}

/* One frame received while streaming: an acknowledgement of the bytes the
 * host holds so far, or anything else, which ends the transfer early. */
static int read_flash_input(SimLoader *l, const uint8_t *frame, size_t n, nsec_t done) {
        nsec_t at = MAX(done, l->busy_until) + sim_timing_turnaround(l->timing);

        if (n != 4) {
                read_flash_finish(l, at);
                return 0;
        }
        l->rf.acked = sim_le32(frame);
        l->rf.waiting_ack = false;
        if (l->rf.remaining > 0)
                read_flash_send_packet(l, at);
        else if (l->rf.acked >= l->rf.total)
                read_flash_finish(l, at);
        return 0;
}

static int read_flash_begin(SimLoader *l, const SimRequest *req, nsec_t t) {
        uint32_t addr = sim_le32(req->data), size = sim_le32(req->data + 4);
        uint32_t packet = sim_le32(req->data + 8);
        nsec_t sent;
        int r;

        sent = stub_ok(l, req, 0, NULL, 0, t);

        /* Everything below is post-processing: its errors surface on the next
         * command, after the OK above has already gone out. */
        if (packet > STUB_READ_PACKET_MAX || packet == 0) {
                l->deferred = STUB_BAD_DATA_LEN;
                return 0;
        }
        if (!sim_loader_range_ok(l, addr, size)) {
                l->deferred = STUB_FAILED_SPI_OP;
                return 0;
        }
        l->rf = (SimReadFlash) {
                .active = true,
                .addr = addr,
                .remaining = size,
                .total = size,
                .packet = packet,
        };
        r = sim_digest_new(SIM_DIGEST_MD5, &l->rf.md5);
        if (r < 0)
                return r;
        sim_loader_touch_flash_read(l);
        if (size == 0)
                read_flash_finish(l, sent);
        else
                read_flash_send_packet(l, sent);
        return 0;
}

/* ---- flash writes --------------------------------------------------------- */

static int stub_flash_begin(SimLoader *l, const SimRequest *req, bool compressed, nsec_t t) {
        uint32_t total, num_blocks, block_size, offset, start, end, unit;

        if (req->len != 16 && req->len != 20)
                return stub_fail(l, req, STUB_BAD_DATA_LEN, t);
        l->flash_begins++;
        total = sim_le32(req->data);
        num_blocks = sim_le32(req->data + 4);
        block_size = sim_le32(req->data + 8);
        offset = sim_le32(req->data + 12);

        start = offset & ~(SIM_FLASH_SECTOR_SIZE - 1);
        end = (uint32_t) MIN(ALIGN_TO((uint64_t) offset + total, SIM_FLASH_SECTOR_SIZE),
                             (uint64_t) UINT32_MAX);
        if (!sim_loader_range_ok(l, start, end - start))
                return stub_fail(l, req, STUB_FAILED_SPI_OP, t);

        sim_loader_flash_write_stop(l);
        l->fw = (SimFlashWrite) {
                .active = true,
                .compressed = compressed,
                .next_write = offset,
                .remaining = total,
                .erase_next = start,
                .erase_remaining = end - start,
                .compressed_remaining = num_blocks * block_size,
        };

        /* The first erase starts now and runs while the first block arrives. */
        unit = sim_erase_next_unit(l->fw.erase_next, l->fw.erase_remaining);
        if (unit > 0) {
                bool block = unit == SIM_FLASH_BLOCK_SIZE;

                (void) sim_loader_flash_erase(l, l->fw.erase_next, unit, !block, block, t);
                l->fw.erase_next += unit;
                l->fw.erase_remaining -= unit;
        }
        (void) stub_ok(l, req, 0, NULL, 0, t);
        return 0;
}

static int stub_flash_data(SimLoader *l, const SimRequest *req, nsec_t t) {
        bool compressed = req->op == SIM_OP_FLASH_DEFL_DATA;
        uint32_t data_len, actual;
        nsec_t end;
        int r;

        if (req->len < 16)
                return stub_fail(l, req, compressed ? STUB_BAD_DATA_LEN : STUB_NOT_ENOUGH_DATA, t);
        if (!l->fw.active)
                return stub_fail(l, req, STUB_NOT_IN_FLASH_MODE, t);
        data_len = sim_le32(req->data);
        actual = (uint32_t) req->len - 16;

        if (compressed) {
                /* Once everything is written only the Adler-32 may follow, and
                 * any whole packet is more than that. */
                if (l->fw.remaining == 0 && req->len > 4)
                        return stub_fail(l, req, STUB_TOO_MUCH_DATA, t);
                if (sim_data_checksum(req->data + 16, MIN(data_len, actual)) != (uint8_t) req->checksum)
                        return stub_fail(l, req, STUB_BAD_DATA_CHECKSUM, t);
        } else {
                if (data_len != actual)
                        return stub_fail(l, req, STUB_TOO_MUCH_DATA, t);
                if (sim_data_checksum(req->data + 16, actual) != (uint8_t) req->checksum)
                        return stub_fail(l, req, STUB_BAD_DATA_CHECKSUM, t);
        }

        /* Acknowledge first, then write: the next block is already on its way
         * while this one is erased and programmed. */
        (void) stub_ok(l, req, 0, NULL, 0, t);

        if (compressed) {
                uint32_t unit = sim_erase_next_unit(l->fw.erase_next, l->fw.erase_remaining);

                /* An opportunistic erase while decompressing. */
                if (unit > 0) {
                        bool block = unit == SIM_FLASH_BLOCK_SIZE;

                        (void) sim_loader_flash_erase(l, l->fw.erase_next, unit, !block, block, t);
                        l->fw.erase_next += unit;
                        l->fw.erase_remaining -= unit;
                }
                l->fw.compressed_remaining -= MIN(l->fw.compressed_remaining, MIN(data_len, actual));
                r = sim_loader_inflate(l, req->data + 16, MIN(data_len, actual), t, &end);
                if (r < 0)
                        l->deferred = STUB_INFLATE_ERROR;
        } else
                end = sim_loader_flash_write_plain(l, req->data + 16, actual, t);

        l->busy_until = MAX(end, t);
        return 0;
}

static int stub_flash_end(SimLoader *l, const SimRequest *req, nsec_t t) {
        if (req->len != 4)
                return stub_fail(l, req, STUB_BAD_DATA_LEN, t);
        if (!l->fw.active)
                return stub_fail(l, req, STUB_NOT_IN_FLASH_MODE, t);
        if (l->fw.remaining != 0)
                return stub_fail(l, req, STUB_BAD_DATA_LEN, t);
        /* The reboot flag is accepted and ignored: esp-flasher-stub has no
         * reboot yet ("TODO: Implement reboot"), so the stub keeps running. */
        sim_loader_flash_write_stop(l);
        (void) stub_ok(l, req, 0, NULL, 0, t);
        return 0;
}

static int stub_erase_region(SimLoader *l, const SimRequest *req, nsec_t t) {
        uint32_t addr, size;
        nsec_t end = t;

        if (req->len != 8)
                return stub_fail(l, req, STUB_BAD_DATA_LEN, t);
        addr = sim_le32(req->data);
        size = sim_le32(req->data + 4);
        if (addr % SIM_FLASH_SECTOR_SIZE != 0 || size % SIM_FLASH_SECTOR_SIZE != 0)
                return stub_fail(l, req, STUB_BAD_DATA_LEN, t);
        if (!sim_loader_range_ok(l, addr, size))
                return stub_fail(l, req, STUB_FAILED_SPI_OP, t);
        while (size > 0) {
                uint32_t unit = sim_erase_next_unit(addr, size);
                bool block = unit == SIM_FLASH_BLOCK_SIZE;

                end = sim_loader_flash_erase(l, addr, unit, !block, block, t);
                addr += unit;
                size -= unit;
        }
        /* Waits for the last erase before answering. */
        (void) stub_ok(l, req, 0, NULL, 0, MAX(end, t));
        return 0;
}

/* ---- dispatch ------------------------------------------------------------- */

int sim_stub_handle(SimLoader *l, const SimRequest *req, nsec_t done) {
        nsec_t t;
        uint32_t v;

        if (l->rf.active)
                return read_flash_input(l, req->data, req->len, done);

        t = MAX(done, l->busy_until) + sim_timing_turnaround(l->timing);

        if (req->dir != 0x00)
                return stub_fail(l, req, STUB_INVALID_COMMAND, t);
        if (req->size != req->len)
                return stub_fail(l, req, STUB_BAD_DATA_LEN, t);
        if (l->deferred != STUB_OK) {
                uint16_t code = l->deferred;

                /* The previous command's deferred work failed: this command
                 * carries that error and is not executed. */
                l->deferred = STUB_OK;
                return stub_fail(l, req, code, t);
        }

        switch (req->op) {

        case SIM_OP_SYNC:
                if (req->len != 36)
                        return stub_fail(l, req, STUB_BAD_DATA_LEN, t);
                /* Eight answers like the ROM's, but with value 0: that is how
                 * hosts tell a running stub from the ROM. */
                for (unsigned i = 0; i + 1 < SIM_SYNC_REPLIES; i++)
                        (void) stub_reply(l, req->op, 0, NULL, 0, STUB_OK, t);
                (void) stub_ok(l, req, 0, NULL, 0, t);
                return 0;

        case SIM_OP_READ_REG:
                if (req->len != 4)
                        return stub_fail(l, req, STUB_BAD_DATA_LEN, t);
                (void) stub_ok(l, req, sim_loader_read_reg(l, sim_le32(req->data)), NULL, 0, t);
                return 0;

        case SIM_OP_WRITE_REG: {
                nsec_t delay = 0;

                if (req->len == 0 || req->len % 16 != 0)
                        return stub_fail(l, req, STUB_NOT_ENOUGH_DATA, t);
                for (size_t i = 0; i < req->len; i += 16) {
                        const uint8_t *e = req->data + i;

                        if (l->timing == SIM_TIMING_REAL)
                                delay += (nsec_t) sim_le32(e + 12) * SIM_NSEC_PER_USEC;
                        sim_loader_write_reg(l, sim_le32(e), sim_le32(e + 4), sim_le32(e + 8));
                }
                (void) stub_ok(l, req, 0, NULL, 0, t + delay);
                return 0;
        }

        case SIM_OP_SPI_ATTACH:
                if (req->len != 4)
                        return stub_fail(l, req, STUB_BAD_DATA_LEN, t);
                l->spi_attached = true;
                (void) stub_ok(l, req, 0, NULL, 0, t);
                return 0;

        case SIM_OP_SPI_SET_PARAMS:
                if (req->len != 24)
                        return stub_fail(l, req, STUB_BAD_DATA_LEN, t);
                v = sim_le32(req->data + 4);
                if (v == 0)
                        return stub_fail(l, req, STUB_FAILED_SPI_OP, t);
                l->chip_size = v;
                (void) stub_ok(l, req, 0, NULL, 0, t);
                return 0;

        case SIM_OP_CHANGE_BAUDRATE: {
                nsec_t sent;

                if (req->len != 8)
                        return stub_fail(l, req, STUB_BAD_DATA_LEN, t);
                v = sim_le32(req->data);
                sent = stub_ok(l, req, 0, NULL, 0, t);
                if (v == 0) {
                        l->uart_dead = true;
                        l->host.uart_dead(l->host.userdata);
                } else {
                        /* The stub knows its clock: the rate is the one asked
                         * for; CLKDIV as traced (0x30001c for 921600). The
                         * second argument (the host's current rate) does not
                         * enter: scaled from the 115200 divider (0x15a) it
                         * would have given 0x40002b. So a stub started at a
                         * rate the ROM was switched to keeps that rate until
                         * asked for another. */
                        sim_loader_set_clkdiv(l, (uint32_t) (((uint64_t) l->chip->uart_clk_hz * 16 + v / 2) / v));
                        l->host.set_baud(l->host.userdata, v, sent);
                }
                return 0;
        }

        case SIM_OP_FLASH_BEGIN:
        case SIM_OP_FLASH_DEFL_BEGIN:
                return stub_flash_begin(l, req, req->op == SIM_OP_FLASH_DEFL_BEGIN, t);

        case SIM_OP_FLASH_DATA:
        case SIM_OP_FLASH_DEFL_DATA:
                return stub_flash_data(l, req, t);

        case SIM_OP_FLASH_END:
        case SIM_OP_FLASH_DEFL_END:
                return stub_flash_end(l, req, t);

        case SIM_OP_SPI_FLASH_MD5: {
                uint8_t digest[SIM_DIGEST_MAX];
                uint32_t addr, size;
                nsec_t at;
                int r;

                if (req->len != 16)
                        return stub_fail(l, req, STUB_BAD_DATA_LEN, t);
                addr = sim_le32(req->data);
                size = sim_le32(req->data + 4);
                if (!sim_loader_range_ok(l, addr, size))
                        return stub_fail(l, req, STUB_FAILED_SPI_OP, t);
                r = sim_digest_flash(SIM_DIGEST_MD5, l->flash, addr, size, digest);
                if (r < 0)
                        return r;
                sim_loader_touch_flash_read(l);
                at = MAX(t, l->flash_busy_until) + sim_timing_md5(l->timing, size, true);
                (void) stub_ok(l, req, 0, digest, 16, at);
                return 0;
        }

        case SIM_OP_GET_SECURITY_INFO:
                if (req->len != 0)
                        return stub_fail(l, req, STUB_BAD_DATA_LEN, t);
                if (!l->chip->stub_has_security_info)
                        return stub_fail(l, req, STUB_CMD_NOT_IMPLEMENTED, t);
                (void) stub_ok(l, req, 0, l->chip->security_info, SIM_SECURITY_INFO_LEN, t);
                return 0;

        case SIM_OP_READ_FLASH:
                if (req->len != 16)
                        return stub_fail(l, req, STUB_BAD_DATA_LEN, t);
                return read_flash_begin(l, req, MAX(t, l->flash_busy_until));

        case SIM_OP_ERASE_FLASH: {
                nsec_t at = MAX(t, l->flash_busy_until) + sim_timing_chip_erase(l->timing, l->flash->size);

                sim_flash_erase(l->flash, 0, l->flash->size);
                l->flash_busy_until = at;
                (void) stub_ok(l, req, 0, NULL, 0, at);
                return 0;
        }

        case SIM_OP_ERASE_REGION:
                return stub_erase_region(l, req, t);

        case SIM_OP_MEM_BEGIN:
                if (req->len != 16)
                        return stub_fail(l, req, STUB_BAD_DATA_LEN, t);
                l->mem.active = true;
                l->mem.remaining = sim_le32(req->data);
                (void) stub_ok(l, req, 0, NULL, 0, t);
                return 0;

        case SIM_OP_MEM_DATA:
                if (req->len < 16)
                        return stub_fail(l, req, STUB_NOT_ENOUGH_DATA, t);
                if (!l->mem.active)
                        return stub_fail(l, req, STUB_NOT_IN_FLASH_MODE, t);
                v = sim_le32(req->data);
                if (v > l->mem.remaining || v != req->len - 16)
                        return stub_fail(l, req, STUB_TOO_MUCH_DATA, t);
                l->mem.remaining -= v;
                (void) stub_ok(l, req, 0, NULL, 0, t);
                return 0;

        case SIM_OP_MEM_END:
                if (req->len != 8)
                        return stub_fail(l, req, STUB_BAD_DATA_LEN, t);
                if (!l->mem.active)
                        return stub_fail(l, req, STUB_NOT_IN_FLASH_MODE, t);
                /* Running uploaded RAM code is not modelled: the stub stays. */
                l->mem.active = false;
                (void) stub_ok(l, req, 0, NULL, 0, t);
                return 0;

        case SIM_OP_RUN_USER_CODE:
                /* No response, by design of the protocol. */
                l->host.command(l->host.userdata, t, req->op, req->len, true, STUB_OK);
                return 0;

        default:
                return stub_fail(l, req, STUB_INVALID_COMMAND, t);
        }
}
