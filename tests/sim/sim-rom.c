/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The ROM's download mode, answer for answer as the reference traces show it:
 * four status bytes of which the last two are stale RAM, a value field that
 * repeats the last register read, unsupported commands answered 0x01 0x05
 * under the previous command's opcode, erase of the whole range at
 * FLASH_BEGIN, MD5 as 32 hex characters, READ_FLASH_SLOW in 64-byte pieces. */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "macro.h"
#include "sim-loader-internal.h"

/* ROM error codes (second status byte). */
enum {
        ROM_OK = 0x00,
        ROM_INVALID_MESSAGE = 0x05,
        ROM_FAILED_TO_ACT = 0x06,
        ROM_INVALID_CRC = 0x07,
        ROM_FLASH_WRITE_ERR = 0x08,
        ROM_FLASH_READ_ERR = 0x09,
        ROM_FLASH_READ_LENGTH_ERR = 0x0a,
        ROM_DEFLATE_ERR = 0x0b,
};

#define ROM_SYNC_VALUE 0x20120707U
#define ROM_READ_SLOW_MAX 64

static bool rom_supports(const SimLoader *l, uint8_t op) {
        switch (op) {
        case SIM_OP_FLASH_BEGIN ... SIM_OP_SPI_SET_PARAMS:
        case SIM_OP_SPI_ATTACH ... SIM_OP_SPI_FLASH_MD5:
                return true;
        case SIM_OP_GET_SECURITY_INFO:
                return l->chip->rom_has_security_info;
        default:
                return false;
        }
}

/* Builds and queues one ROM reply. The body, then the two status bytes, are
 * written into the reply buffer and sent together with the two bytes after
 * them, whatever an earlier, longer reply left there: that is how an MD5's hex
 * digits and a GET_SECURITY_INFO's zeroes show up in later replies. The value
 * field is the loader's current stale value. */
static nsec_t rom_reply(SimLoader *l, uint8_t op, const uint8_t *body, size_t body_len,
                        uint8_t status, uint8_t error, nsec_t at) {
        uint8_t frame[8 + SIM_ROM_RESP_RAM];
        size_t n = 0;

        assert(body_len + 4 <= SIM_ROM_RESP_RAM);
        if (body_len > 0)
                memcpy(l->resp_ram, body, body_len);
        l->resp_ram[body_len] = status;
        l->resp_ram[body_len + 1] = error;

        frame[n++] = 0x01;
        frame[n++] = op;
        frame[n++] = (uint8_t) (body_len + 4);
        frame[n++] = (uint8_t) ((body_len + 4) >> 8);
        sim_put_le32(frame + n, l->last_value);
        n += 4;
        memcpy(frame + n, l->resp_ram, body_len + 4);
        n += body_len + 4;
        return sim_loader_send_frame(l, frame, n, at);
}

static int rom_fail(SimLoader *l, const SimRequest *req, uint8_t error, nsec_t at) {
        l->rom_error = error;
        (void) rom_reply(l, req->op, NULL, 0, 0x01, error, at);
        l->busy_until = at;
        l->host.command(l->host.userdata, at, req->op, req->len, false, 0x0100 | error);
        return 0;
}

/* A success: status 0x00, and in the second byte the last error's code,
 * which the ROM only clears for READ_REG and SPI_FLASH_MD5. */
static int rom_ok(SimLoader *l, const SimRequest *req, const uint8_t *body, size_t body_len,
                  nsec_t at, nsec_t *ret_done) {
        nsec_t done;

        if (req->op == SIM_OP_READ_REG || req->op == SIM_OP_SPI_FLASH_MD5)
                l->rom_error = 0;
        done = rom_reply(l, req->op, body, body_len, 0, l->rom_error, at);

        l->busy_until = at;
        l->host.command(l->host.userdata, at, req->op, req->len, false, 0);
        if (ret_done)
                *ret_done = done;
        return 0;
}

/* MEM_DATA's checks: the header's length, the data checksum, then the
 * sequence number. No trace shows a MEM_DATA error, so it keeps the order
 * the raw probe shows for a lone bad block. Returns the ROM error. */
static uint8_t rom_check_mem_data(const SimRequest *req, uint32_t expect_seq) {
        uint32_t data_len, seq;

        if (req->len < 16)
                return ROM_INVALID_MESSAGE;
        data_len = sim_le32(req->data);
        seq = sim_le32(req->data + 4);
        if (data_len != req->len - 16)
                return ROM_INVALID_MESSAGE;
        if (sim_data_checksum(req->data + 16, data_len) != (uint8_t) req->checksum)
                return ROM_INVALID_CRC;
        if (seq != expect_seq)
                return ROM_INVALID_MESSAGE;
        return ROM_OK;
}

static int rom_flash_begin(SimLoader *l, const SimRequest *req, bool compressed, nsec_t t) {
        uint32_t size, offset, start, end, sectors = 0, blocks = 0;
        bool len_ok;
        nsec_t at;

        len_ok = req->len == 20 || (l->chip->rom_flash_begin_short && req->len == 16);
        if (!len_ok)
                return rom_fail(l, req, ROM_INVALID_MESSAGE, t);

        l->flash_begins++;
        size = sim_le32(req->data);
        offset = sim_le32(req->data + 12);

        sim_loader_flash_write_stop(l);
        l->fw.active = true;
        l->fw.compressed = compressed;
        l->fw.next_write = offset;
        l->fw.expect_seq = 0;
        l->fw.base = offset;
        l->fw.num_blocks = sim_le32(req->data + 4);
        l->fw.discard = size == 0 && l->rom_zero_erase_nowrite;

        /* The ROM erases the whole range before it answers; an erase size of
         * 0 erases nothing. Traced only with no data after it (FLASH_BEGIN(0)
         * then FLASH_END, esp32c3-rom-flash-end-probe): that blocks after it
         * program at the begin's offset as after any other begin is the
         * sim's assumption (its first word is only the erase size: esptool
         * sends the block count apart); the zero-erase=nowrite fault models a
         * ROM that programs nothing then. */
        at = t;
        if (size > 0) {
                start = offset & ~(SIM_FLASH_SECTOR_SIZE - 1);
                end = (uint32_t) MIN((uint64_t) ALIGN_TO((uint64_t) offset + size, SIM_FLASH_SECTOR_SIZE),
                                     (uint64_t) UINT32_MAX);
                if (!sim_loader_range_ok(l, start, end - start)) {
                        sim_loader_flash_write_stop(l);
                        return rom_fail(l, req, ROM_FAILED_TO_ACT, t);
                }
                sim_erase_split(start, end - start, &sectors, &blocks);
                at = sim_loader_flash_erase(l, start, end - start, sectors, blocks, t);
        }
        return rom_ok(l, req, NULL, 0, MAX(at, t), NULL);
}

/* FLASH_DATA and FLASH_DEFL_DATA, in the order the ROM checks a block
 * (traces esp32-rom-defl-error-probe, esp32c3-rom-defl-error-probe): a wrong
 * sequence number is refused (0x05) and changes nothing; a block with the due
 * number is counted before its checksum is checked, so a bad checksum (0x07)
 * drops the block yet advances the expected number, and resending it gets
 * 0x05. A compressed stream that lost a block fails at its announced last
 * block (0x0b) or wherever inflate trips, and from then on every block fails
 * (untraced; the inflater's failure is final); its last partial buffer never
 * reaches flash. Uncompressed blocks go straight to flash at the write cursor,
 * which only a written block moves: the blocks after a dropped one land 1 KiB
 * low and the last KiB stays erased. Only a new FLASH_(DEFL_)BEGIN recovers. */
static int rom_flash_data(SimLoader *l, const SimRequest *req, nsec_t t) {
        bool compressed = req->op == SIM_OP_FLASH_DEFL_DATA;
        uint32_t data_len, seq;
        bool last;
        nsec_t end;
        int r;

        if (!l->fw.active || l->fw.compressed != compressed)
                return rom_fail(l, req, ROM_INVALID_MESSAGE, t);
        if (req->len < 16)
                return rom_fail(l, req, ROM_INVALID_MESSAGE, t);
        data_len = sim_le32(req->data);
        seq = sim_le32(req->data + 4);
        if (data_len != req->len - 16 || seq != l->fw.expect_seq)
                return rom_fail(l, req, ROM_INVALID_MESSAGE, t);

        last = l->fw.num_blocks > 0 && seq == l->fw.num_blocks - 1;
        l->fw.expect_seq++;
        if (sim_data_checksum(req->data + 16, data_len) != (uint8_t) req->checksum)
                return rom_fail(l, req, ROM_INVALID_CRC, t);

        if (compressed) {
                r = sim_rom_inflate(l, req->data + 16, data_len, last, t, &end);
                if (r < 0)
                        return rom_fail(l, req, ROM_DEFLATE_ERR, t);
        } else {
                if (!sim_loader_range_ok(l, l->fw.next_write, data_len))
                        return rom_fail(l, req, ROM_FLASH_WRITE_ERR, t);
                end = sim_loader_flash_write_plain(l, req->data + 16, data_len, t);
        }
        /* The ROM writes the block before it acknowledges it. */
        return rom_ok(l, req, NULL, 0, MAX(end, t), NULL);
}

static int rom_flash_end(SimLoader *l, const SimRequest *req, nsec_t t) {
        uint32_t flag;
        nsec_t done;

        if (req->len != 4)
                return rom_fail(l, req, ROM_INVALID_MESSAGE, t);
        flag = sim_le32(req->data);
        sim_loader_flash_write_stop(l);
        (void) rom_ok(l, req, NULL, 0, t, &done);

        /* trace esp32-rom-flash-end-probe: 0 reboots into download mode, 1
         * leaves the loader for FLASH_END but is a no-op for FLASH_DEFL_END. */
        if (flag == 0)
                l->host.soft_reset(l->host.userdata, done);
        else if (req->op == SIM_OP_FLASH_END)
                l->host.run_user_code(l->host.userdata, done);
        return 0;
}

/* RAM as MEM_BEGIN/MEM_DATA fill it, kept for MEM_END's look at its entry
 * point (bytes past SIM_MEM_IMAGE_MAX are counted but not kept). */
static void rom_mem_segment_begin(SimLoader *l, uint32_t addr) {
        size_t i = l->mem.n_segments;

        if (i >= SIM_MEM_SEGMENTS_MAX)
                return;
        l->mem.segment[i].addr = addr;
        l->mem.segment[i].len = 0;
        l->mem.segment[i].at = l->mem.image_used;
        l->mem.n_segments++;
}

static void rom_mem_segment_add(SimLoader *l, const uint8_t *data, size_t n) {
        size_t keep;

        if (l->mem.n_segments == 0)
                return;
        keep = MIN(n, sizeof(l->mem.image) - l->mem.image_used);
        memcpy(l->mem.image + l->mem.image_used, data, keep);
        l->mem.image_used += keep;
        l->mem.segment[l->mem.n_segments - 1].len += (uint32_t) n;
}

/* Whether jumping to entry runs code: it must lie in RAM that MEM_DATA
 * filled, and an all-zero word there is an illegal instruction on both
 * Xtensa (ILL) and RISC-V (the defined-illegal 0x0000). */
static bool rom_mem_entry_runs(const SimLoader *l, uint32_t entry) {
        for (size_t i = 0; i < l->mem.n_segments; i++) {
                uint64_t start = l->mem.segment[i].addr, len = l->mem.segment[i].len;
                size_t at;

                if (entry < start || entry + 4ull > start + len)
                        continue;
                at = l->mem.segment[i].at + (entry - start);
                if (at + 4 > l->mem.image_used)
                        return true;    /* not kept: taken to be code */
                return sim_le32(l->mem.image + at) != 0;
        }
        return false;
}

static int rom_mem_end(SimLoader *l, const SimRequest *req, nsec_t t) {
        static const uint8_t ohai[] = { 'O', 'H', 'A', 'I' };
        uint32_t stay, entry;
        nsec_t done;

        if (req->len != 8)
                return rom_fail(l, req, ROM_INVALID_MESSAGE, t);
        stay = sim_le32(req->data);
        entry = sim_le32(req->data + 4);
        l->mem.active = false;
        (void) rom_ok(l, req, NULL, 0, t, &done);

        if (stay == 0 && entry != 0 && l->mem.data_seen) {
                if (!rom_mem_entry_runs(l, entry)) {
                        /* The CPU traps at its first instruction: nothing
                         * answers until the chip is reset. */
                        l->uart_dead = true;
                        l->host.uart_dead(l->host.userdata);
                        return 0;
                }
                /* Code that runs is taken to be esptool's flasher stub:
                 * instead of executing it, become it. */
                (void) sim_loader_send_frame(l, ohai, sizeof(ohai), done);
                sim_stub_start(l);
        }
        return 0;
}

static int rom_md5(SimLoader *l, const SimRequest *req, nsec_t t) {
        uint8_t digest[SIM_DIGEST_MAX];
        char hex[2 * 16 + 1];
        uint32_t addr, size;
        nsec_t at;
        int r;

        if (req->len != 16)
                return rom_fail(l, req, ROM_INVALID_MESSAGE, t);
        addr = sim_le32(req->data);
        size = sim_le32(req->data + 4);
        if (!sim_loader_range_ok(l, addr, size))
                return rom_fail(l, req, ROM_FLASH_READ_ERR, t);
        r = sim_digest_flash(SIM_DIGEST_MD5, l->flash, addr, size, digest);
        if (r < 0)
                return r;
        if (l->host.flash_md5)
                l->host.flash_md5(l->host.userdata, addr, size);
        sim_hex(digest, 16, hex);
        sim_loader_touch_flash_read(l);

        at = MAX(t, l->flash_busy_until) + sim_timing_md5(l->timing, size, false);
        /* Replies after this one carry its characters 2 and 3 (traces:
         * "...00006464" after "15dd..."), a GET_SECURITY_INFO its 22 and 23. */
        return rom_ok(l, req, (const uint8_t *) hex, 32, at, NULL);
}

static int rom_read_slow(SimLoader *l, const SimRequest *req, nsec_t t) {
        uint8_t data[ROM_READ_SLOW_MAX];
        uint32_t addr, size;
        bool too_long;

        if (req->len != 8)
                return rom_fail(l, req, ROM_INVALID_MESSAGE, t);
        addr = sim_le32(req->data);
        size = sim_le32(req->data + 4);
        /* The ROM always reads and sends 64 bytes; asking for more gets them
         * anyway, with a read length error (trace: esp32-rom-raw-probe). */
        too_long = size > ROM_READ_SLOW_MAX;
        sim_flash_read(l->flash, addr, data, sizeof(data));
        sim_loader_touch_flash_read(l);
        if (too_long)
                l->rom_error = ROM_FLASH_READ_LENGTH_ERR;
        (void) rom_reply(l, req->op, data, sizeof(data), too_long ? 0x01 : 0x00, l->rom_error, t);
        l->busy_until = t;
        l->host.command(l->host.userdata, t, req->op, req->len, false,
                        too_long ? 0x0100 | ROM_FLASH_READ_LENGTH_ERR : 0);
        return 0;
}

int sim_rom_handle(SimLoader *l, const SimRequest *req, nsec_t done) {
        nsec_t t = MAX(done, l->busy_until) + sim_timing_turnaround(l->timing);
        uint32_t v;

        /* Echoes of our own replies and other noise are not requests. */
        if (req->dir != 0x00)
                return 0;

        if (!rom_supports(l, req->op)) {
                /* This refusal leaves no error to carry: SPI_ATTACH right
                 * after three of them answers 00 00 (trace esp32-rom-raw-probe). */
                (void) rom_reply(l, l->last_op, NULL, 0, 0x01, ROM_INVALID_MESSAGE, t);
                l->busy_until = t;
                l->host.command(l->host.userdata, t, req->op, req->len, false, 0x0100 | ROM_INVALID_MESSAGE);
                return 0;
        }
        l->last_op = req->op;

        if (req->size != req->len)
                return rom_fail(l, req, ROM_INVALID_MESSAGE, t);

        switch (req->op) {

        case SIM_OP_SYNC: {
                static const uint8_t sync_head[4] = { 0x07, 0x07, 0x12, 0x20 };
                bool valid = req->len == 36 && memcmp(req->data, sync_head, 4) == 0;

                for (size_t i = 4; valid && i < 36; i++)
                        valid = req->data[i] == 0x55;
                if (!valid)
                        return rom_fail(l, req, ROM_INVALID_MESSAGE, t);
                l->last_value = ROM_SYNC_VALUE;
                /* Eight answers, the first at once, the rest right behind it. */
                /* SYNC does not clear a carried error (untraced: the probes
                 * only sync with none pending; the README names READ_REG
                 * and SPI_FLASH_MD5 alone). */
                for (unsigned i = 0; i < SIM_SYNC_REPLIES; i++)
                        (void) rom_reply(l, req->op, NULL, 0, 0, l->rom_error, t);
                l->busy_until = t;
                l->host.command(l->host.userdata, t, req->op, req->len, false, 0);
                return 0;
        }

        case SIM_OP_READ_REG:
                if (req->len != 4)
                        return rom_fail(l, req, ROM_INVALID_MESSAGE, t);
                l->last_value = sim_loader_read_reg(l, sim_le32(req->data));
                return rom_ok(l, req, NULL, 0, t, NULL);

        case SIM_OP_WRITE_REG: {
                nsec_t delay = 0;

                if (req->len == 0 || req->len % 16 != 0)
                        return rom_fail(l, req, ROM_INVALID_MESSAGE, t);
                for (size_t i = 0; i < req->len; i += 16) {
                        const uint8_t *e = req->data + i;

                        if (l->timing == SIM_TIMING_REAL)
                                delay += (nsec_t) sim_le32(e + 12) * SIM_NSEC_PER_USEC;
                        sim_loader_write_reg(l, sim_le32(e), sim_le32(e + 4), sim_le32(e + 8));
                }
                return rom_ok(l, req, NULL, 0, t + delay, NULL);
        }

        case SIM_OP_SPI_SET_PARAMS:
                if (req->len != 24)
                        return rom_fail(l, req, ROM_INVALID_MESSAGE, t);
                v = sim_le32(req->data + 4);
                if (v == 0)
                        return rom_fail(l, req, ROM_FAILED_TO_ACT, t);
                l->chip_size = v;
                return rom_ok(l, req, NULL, 0, t, NULL);

        case SIM_OP_SPI_ATTACH:
                if (req->len != 8)
                        return rom_fail(l, req, ROM_INVALID_MESSAGE, t);
                l->spi_attached = true;
                return rom_ok(l, req, NULL, 0, t, NULL);

        case SIM_OP_CHANGE_BAUDRATE: {
                nsec_t sent;

                if (req->len != 8)
                        return rom_fail(l, req, ROM_INVALID_MESSAGE, t);
                v = sim_le32(req->data);
                if (v != 0)
                        v = sim_rom_baud_apply(l, v);
                if (v == 0) {
                        /* A zero divisor wedges the UART: no answer, ever
                         * (trace: esp32-rom-change-baud-921600-write). */
                        l->uart_dead = true;
                        l->host.command(l->host.userdata, t, req->op, req->len, false, 0xFFFF);
                        l->host.uart_dead(l->host.userdata);
                        return 0;
                }
                (void) rom_ok(l, req, NULL, 0, t, &sent);
                l->host.set_baud(l->host.userdata, v, sent);
                return 0;
        }

        case SIM_OP_FLASH_BEGIN:
        case SIM_OP_FLASH_DEFL_BEGIN:
                return rom_flash_begin(l, req, req->op == SIM_OP_FLASH_DEFL_BEGIN, t);

        case SIM_OP_FLASH_DATA:
        case SIM_OP_FLASH_DEFL_DATA:
                return rom_flash_data(l, req, t);

        case SIM_OP_FLASH_END:
        case SIM_OP_FLASH_DEFL_END:
                return rom_flash_end(l, req, t);

        case SIM_OP_MEM_BEGIN:
                if (req->len != 16)
                        return rom_fail(l, req, ROM_INVALID_MESSAGE, t);
                l->mem.active = true;
                l->mem.data_seen = false;
                l->mem.remaining = sim_le32(req->data);
                l->mem.expect_seq = 0;
                rom_mem_segment_begin(l, sim_le32(req->data + 12));
                return rom_ok(l, req, NULL, 0, t, NULL);

        case SIM_OP_MEM_DATA: {
                uint8_t e;

                if (!l->mem.active)
                        return rom_fail(l, req, ROM_INVALID_MESSAGE, t);
                e = rom_check_mem_data(req, l->mem.expect_seq);
                if (e != ROM_OK)
                        return rom_fail(l, req, e, t);
                if (req->len - 16 > l->mem.remaining)
                        return rom_fail(l, req, ROM_INVALID_MESSAGE, t);
                l->mem.remaining -= (uint32_t) req->len - 16;
                l->mem.expect_seq++;
                l->mem.data_seen = true;
                rom_mem_segment_add(l, req->data + 16, req->len - 16);
                return rom_ok(l, req, NULL, 0, t, NULL);
        }

        case SIM_OP_MEM_END:
                return rom_mem_end(l, req, t);

        case SIM_OP_SPI_FLASH_MD5:
                return rom_md5(l, req, t);

        case SIM_OP_READ_FLASH_SLOW:
                return rom_read_slow(l, req, t);

        case SIM_OP_GET_SECURITY_INFO:
                if (req->len != 0)
                        return rom_fail(l, req, ROM_INVALID_MESSAGE, t);
                return rom_ok(l, req, l->chip->security_info, SIM_SECURITY_INFO_LEN, t, NULL);

        default:
                return rom_fail(l, req, ROM_INVALID_MESSAGE, t);
        }
}
