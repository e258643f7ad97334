/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Flash work on a connected loader: SPI attach and flash id, baud change, stub
 * upload, compressed writes (FLASH_DEFL_*) and on-chip MD5. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "esp-loader-internal.h"
#include "esp-status.h"
#include "log.h"
#include "macro.h"

/* ---- flash attach ------------------------------------------------------------ */

/* Runs a read-only SPI flash command through the SPI controller's user-command
 * registers, as esptool run_spiflash_command() does (reference trace
 * esp32-rom-flash-id). */
static int loader_spiflash_read_command(EspLoader *l, uint8_t command, unsigned read_bits,
                                        uint32_t *ret_value) {
        const EspChipInfo *c = l->chip;
        uint32_t base = c->spi_reg_base;
        uint32_t reg_cmd = base, reg_usr = base + c->spi_usr_offs, reg_usr1 = base + c->spi_usr1_offs,
                 reg_usr2 = base + c->spi_usr2_offs, reg_w0 = base + c->spi_w0_offs;
        uint32_t old_usr, old_usr2, v;
        int r;

        if (read_bits == 0 || read_bits > 32)
                return -EINVAL;

        STEP(esp_loader_read_reg(l, reg_usr, &old_usr));
        STEP(esp_loader_read_reg(l, reg_usr2, &old_usr2));

        if (c->spi_miso_dlen_offs != 0)
                STEP(esp_loader_write_reg(l, base + c->spi_miso_dlen_offs, read_bits - 1));
        else
                STEP(esp_loader_write_reg(l, reg_usr1, (read_bits - 1) << SPI_USR1_MISO_BITLEN_SHIFT));

        STEP(esp_loader_write_reg(l, reg_usr, ESP_SPI_USR_COMMAND | ESP_SPI_USR_MISO));
        STEP(esp_loader_write_reg(l, reg_usr2, (7u << ESP_SPI_USR2_COMMAND_LEN_SHIFT) | command));
        STEP(esp_loader_write_reg(l, reg_w0, 0));   /* clear before reading back */
        STEP(esp_loader_write_reg(l, reg_cmd, ESP_SPI_CMD_USR));

        r = -ETIMEDOUT;
        for (unsigned i = 0; i < SPI_WAIT_DONE_POLLS; i++) {
                STEP(esp_loader_read_reg(l, reg_cmd, &v));
                if (!(v & ESP_SPI_CMD_USR)) {
                        r = 0;
                        break;
                }
        }
        if (r < 0)
                return log_debug_errno(EIO, "SPI flash command 0x%02x did not complete.", command);

        STEP(esp_loader_read_reg(l, reg_w0, &v));

        /* restore what the ROM had set up */
        STEP(esp_loader_write_reg(l, reg_usr, old_usr));
        STEP(esp_loader_write_reg(l, reg_usr2, old_usr2));

        *ret_value = v;
        return 0;
}

int esp_loader_attach_flash(EspLoader *l, uint32_t size_override) {
        uint8_t payload[24];
        uint32_t id = 0, size = 0;
        bool known;
        int r;

        assert(l);
        if (!l->chip)
                return -ENOTCONN;

        r = loader_command_retry(l, ESP_OP_SPI_ATTACH, payload,
                                 esp_payload_spi_attach(payload, 0, !l->stub),
                                 LOADER_DEFAULT_TIMEOUT, NULL);
        if (r < 0)
                return log_debug_errno(r, "SPI_ATTACH failed: %m");

        known = size_override == 0 && loader_known_flash(l, &id, &size);
        if (known)
                log_debug("Flash 0x%06x, %u KiB, as known on this port.", id, size / 1024);
        if (!known && !l->secure_download) {
                r = loader_spiflash_read_command(l, ESP_SPI_FLASH_RDID, 24, &id);
                if (r < 0)
                        return log_debug_errno(r, "Failed to read the flash id: %m");
                id &= 0xffffff;
        }

        if (!known)
                size = size_override;
        if (size == 0 && id != 0)
                size = esp_flash_size_from_jedec(id);
        if (size == 0) {
                /* as esptool: an unrecognised flash chip is assumed to be 4 MB */
                log_warning("Could not detect the flash size (id 0x%06x), assuming 4 MB.", id);
                size = LOADER_DEFAULT_FLASH_SIZE;
        }

        r = loader_command_retry(l, ESP_OP_SPI_SET_PARAMS, payload,
                                 esp_payload_spi_set_params(payload, size), LOADER_DEFAULT_TIMEOUT,
                                 NULL);
        if (r < 0)
                return log_debug_errno(r, "SPI_SET_PARAMS failed: %m");

        l->flash_id = id;
        l->flash_size = size;
        return 0;
}

/* ---- baud rate ----------------------------------------------------------------- */

static int loader_sync_check(EspLoader *l) {
        int r = -ETIMEDOUT;

        for (unsigned i = 0; i < 3; i++) {
                r = loader_sync_once(l, NULL);
                if (r >= 0 || loader_error_is_fatal(r))
                        return r;
                l->stats.retries++;
        }
        return r;
}

/* What the ESP32 ROM must be told to run its UART at `baud`: it computes the
 * divider from the crystal frequency it measured (calibration count × 15625 ×
 * the 8 MHz field / 40) as if the crystal were the nominal 40 or 26 MHz, so the
 * rate is scaled by measured / nominal (esptool 5.3's ESP32ROM.change_baud). A
 * ROM that measured nothing (an emulator's blank eFuse) gets the plain rate:
 * scaling would send 0, which wedges its UART. */
uint32_t esp_baud_argument(uint32_t baud, uint32_t cal_reg, uint32_t efuse_word) {
        uint64_t count = (cal_reg >> 7) & 0x1ffffffu, osc = efuse_word & 0xffu;
        uint64_t measured = count * 15625u * osc / 40u, nominal;

        if (measured == 0)
                return baud;
        nominal = measured > 33000000u ? 40000000u : 26000000u;
        return (uint32_t) ((uint64_t) baud * measured / nominal);
}

static int loader_baud_argument(EspLoader *l, uint32_t baud, uint32_t *ret) {
        uint32_t cal, efuse;

        *ret = baud;
        if (l->stub || l->chip->rom_baud_cal_reg == 0)
                return 0;
        STEP(esp_loader_read_reg(l, l->chip->rom_baud_cal_reg, &cal));
        STEP(esp_loader_read_reg(l, l->chip->rom_baud_efuse_reg, &efuse));
        *ret = esp_baud_argument(baud, cal, efuse);
        log_debug("CHANGE_BAUDRATE argument for %u baud: %u (RTCCALICFG1 0x%08x, eFuse 0x%08x).",
                  baud, *ret, cal, efuse);
        return 0;
}

int esp_loader_change_baud(EspLoader *l, uint32_t baud) {
        uint8_t payload[8];
        uint32_t old, arg;
        int r, k;

        assert(l);
        if (baud == 0)
                return -EINVAL;
        if (!l->chip)
                return -ENOTCONN;

        old = l->transport->baud;
        if (baud == old)
                return 0;

        r = loader_baud_argument(l, baud, &arg);
        if (r < 0)
                return log_debug_errno(r, "Cannot read the ROM's clock calibration: %m");

        /* The ROM takes 0 as the old rate, a stub the current one (esptool). */
        /* Sent again only if refused: unanswered, it may have switched the chip. */
        r = loader_command_retry_full(l, ESP_OP_CHANGE_BAUDRATE, payload,
                                      esp_payload_change_baudrate(payload, arg, l->stub ? old : 0),
                                      LOADER_DEFAULT_TIMEOUT, false, NULL);
        if (r < 0)
                return log_debug_errno(r, "CHANGE_BAUDRATE to %u failed: %m", baud);

        r = transport_set_baud(l->transport, baud);
        if (r < 0)
                goto fail;

        /* The chip switches once its reply has left, so the link is checked
         * with a SYNC (which flushes what came in meanwhile) after a short
         * settle rather than esptool's 50 ms sleep; a SYNC sent too early is
         * retried by loader_sync_check(). */
        sleep_usec(LOADER_BAUD_SETTLE);
        r = loader_sync_check(l);
        if (r < 0)
                goto fail;

        log_debug("Baud rate changed from %u to %u.", old, baud);
        l->baud_raised = baud > old || l->baud_raised;
        return 0;

fail:
        log_debug_errno(r, "Link check at %u baud failed (%m), going back to %u.", baud, old);
        k = transport_set_baud(l->transport, old);
        if (k < 0)
                return k;
        sleep_usec(50 * USEC_PER_MSEC);
        if (loader_sync_check(l) < 0) {
                /* The chip is at the new rate and we cannot reach it at
                 * either: only a reset brings it back (esp_loader_baud_raised). */
                log_debug("No answer at %u baud either: the chip stays at %u until it is reset.", old, baud);
                l->baud_raised = true;
        }
        return r;
}

/* ---- stub ------------------------------------------------------------------------ */

static int loader_upload_segment_once(EspLoader *l, uint32_t addr, const uint8_t *data, size_t len) {
        uint8_t begin[20];
        uint32_t blocks;

        blocks = (uint32_t) DIV_ROUND_UP(len, ESP_ROM_MEM_BLOCK_SIZE);
        STEP(loader_command_retry(l, ESP_OP_MEM_BEGIN, begin,
                                  esp_payload_begin(begin, (uint32_t) len, blocks,
                                                    ESP_ROM_MEM_BLOCK_SIZE, addr, false, false),
                                  LOADER_DEFAULT_TIMEOUT, NULL));

        for (uint32_t seq = 0; seq < blocks; seq++) {
                size_t off = (size_t) seq * ESP_ROM_MEM_BLOCK_SIZE;
                size_t n = MIN((size_t) ESP_ROM_MEM_BLOCK_SIZE, len - off);

                /* The ROM's sequence rules are those of its flash writes: a
                 * refused block means beginning the segment again. */
                STEP(loader_data_command(l, ESP_OP_MEM_DATA, seq, data + off, n,
                                         LOADER_DEFAULT_TIMEOUT, /* resend_refused= */ false));
        }
        return 0;
}

static int loader_upload_segment(EspLoader *l, uint32_t addr, const uint8_t *data, size_t len) {
        int r;

        if (len == 0)
                return 0;
        if (len > UINT32_MAX)
                return -EFBIG;

        for (;;) {
                r = loader_upload_segment_once(l, addr, data, len);
                if (r >= 0 || loader_error_is_fatal(r))
                        return r;
                if (esp_loader_take_restart(l) < 0)
                        return r;
                log_debug("Uploading the segment at 0x%x again.", addr);
        }
}

int esp_loader_run_stub(EspLoader *l, const EspStubImage *stub) {
        uint8_t payload[8];
        usec_t deadline;
        int r;

        if (!l || !stub || (!stub->text && stub->text_len > 0) || (!stub->data && stub->data_len > 0))
                return -EINVAL;
        if (!l->chip)
                return -ENOTCONN;
        if (l->stub)
                return 0;

        STEP(loader_upload_segment(l, stub->text_start, stub->text, stub->text_len));
        STEP(loader_upload_segment(l, stub->data_start, stub->data, stub->data_len));

        /* The ROM may jump to the stub before its reply has left the UART: a
         * missing MEM_END reply is not an error (esptool mem_finish). */
        r = esp_loader_command(l, ESP_OP_MEM_END, payload,
                               esp_payload_mem_end(payload, stub->entry == 0, stub->entry), 0,
                               LOADER_MEM_END_ROM_TIMEOUT, NULL);
        if (r == -ENODEV || r == -ECANCELED)
                return r;
        if (r < 0)
                log_debug_errno(r, "MEM_END: %m (ignored)");

        deadline = deadline_in(LOADER_DEFAULT_TIMEOUT);
        for (;;) {
                const uint8_t *frame;
                size_t n;

                r = loader_read_frame(l, deadline, &frame, &n);
                if (r < 0)
                        return log_debug_errno(r, "The flasher stub did not greet: %m");
                if (n == 4 && memcmp(frame, "OHAI", 4) == 0)
                        break;
                /* a late MEM_END reply */
        }

        l->stub = true;
        l->status_len = ESP_STUB_STATUS_LEN;

        /* The stub attached the flash itself, with its own idea of the size;
         * an attached session tells it the real one (esptool sends
         * SPI_SET_PARAMS after the stub too). Its answer also shows that the
         * stub serves commands, not only that it greeted. */
        if (l->flash_size != 0) {
                uint8_t params[24];

                r = loader_command_retry(l, ESP_OP_SPI_SET_PARAMS, params,
                                         esp_payload_spi_set_params(params, l->flash_size),
                                         LOADER_DEFAULT_TIMEOUT, NULL);
                if (r < 0) {
                        l->stub = false;
                        l->status_len = ESP_ROM_STATUS_LEN;
                        return log_debug_errno(r, "The flasher stub greeted but does not answer: %m");
                }
        }
        log_debug("Flasher stub running.");
        return 0;
}

/* ---- compressed flash writes ------------------------------------------------------ */

int esp_loader_flash_defl_begin(EspLoader *l, uint32_t offset, uint32_t uncompressed_size,
                                uint32_t compressed_size, uint32_t block_size, bool erase) {
        uint8_t payload[20];
        uint32_t blocks, size;
        usec_t timeout;
        bool with_flag;
        int r;

        assert(l);
        if (block_size == 0)
                return -EINVAL;
        if (!l->chip)
                return -ENOTCONN;

        blocks = (uint32_t) DIV_ROUND_UP((uint64_t) compressed_size, block_size);
        if (l->stub) {
                /* the stub takes the byte count and erases as it goes */
                size = uncompressed_size;
                timeout = LOADER_DEFAULT_TIMEOUT;
        } else if (!erase) {
                /* the range holds 0xFF already: erase size 0 (see esp-loader.h) */
                size = 0;
                timeout = LOADER_DEFAULT_TIMEOUT;
        } else {
                /* the ROM erases the whole range now, rounded up to whole blocks
                 * (esptool flash_defl_begin) */
                uint64_t rounded = ALIGN_TO((uint64_t) uncompressed_size, block_size);
                if (rounded > UINT32_MAX)
                        return -EFBIG;
                size = (uint32_t) rounded;
                timeout = loader_timeout_per_mb(LOADER_ERASE_SEC_PER_MB, size);
        }
        /* ESP32's ROM takes the 16-byte form; every stub and newer ROM 20 bytes. */
        with_flag = l->stub || l->chip->rom_begin_has_encrypt_flag;

        /* Sending it again only restarts the write (and the ROM's erase). */
        l->stats.flash_begins++;
        r = loader_command_retry(l, ESP_OP_FLASH_DEFL_BEGIN, payload,
                                 esp_payload_begin(payload, size, blocks, block_size, offset,
                                                   with_flag, false),
                                 timeout, NULL);
        if (r < 0)
                return log_debug_errno(r, "FLASH_DEFL_BEGIN at 0x%x failed: %m", offset);

        l->prev_block_timeout = LOADER_DEFAULT_TIMEOUT;
        return 0;
}

int esp_loader_flash_defl_data(EspLoader *l, uint32_t seq, const void *block, size_t len,
                               uint32_t uncompressed_block_size) {
        usec_t block_timeout, timeout;
        int r;

        assert(l && block);
        if (len == 0 || len > ESP_STUB_FLASH_BLOCK_SIZE)
                return -EINVAL;
        if (!l->chip)
                return -ENOTCONN;

        block_timeout = loader_timeout_per_mb(LOADER_WRITE_SEC_PER_MB, uncompressed_block_size);
        /* The ROM writes a block before it answers; a stub answers on receipt
         * and writes while the next block arrives (esptool write_flash). */
        timeout = l->stub ? l->prev_block_timeout : block_timeout;

        r = loader_data_command(l, ESP_OP_FLASH_DEFL_DATA, seq, block, len, timeout,
                                /* resend_refused= */ l->stub);
        if (r < 0)
                return log_debug_errno(r, "FLASH_DEFL_DATA block %u failed: %m", seq);

        loader_block_acked(l);
        l->prev_block_timeout = block_timeout;
        return 0;
}

/* ---- uncompressed flash writes ---------------------------------------------------- */

int esp_loader_flash_begin(EspLoader *l, uint32_t offset, uint32_t size, uint32_t block_size, bool erase) {
        uint8_t payload[20];
        uint32_t blocks, erase_size;
        usec_t timeout;
        int r;

        assert(l);
        if (block_size == 0 || block_size > ESP_STUB_FLASH_BLOCK_SIZE)
                return -EINVAL;
        if (!l->chip)
                return -ENOTCONN;

        blocks = (uint32_t) DIV_ROUND_UP((uint64_t) size, block_size);
        /* The ROM erases the range now; a stub as it goes (esptool flash_begin:
         * no ESP8266-style erase size correction on these chips). */
        erase_size = l->stub || erase ? size : 0;
        timeout = l->stub || erase_size == 0 ? LOADER_DEFAULT_TIMEOUT
                                             : loader_timeout_per_mb(LOADER_ERASE_SEC_PER_MB, size);

        l->stats.flash_begins++;
        r = loader_command_retry(l, ESP_OP_FLASH_BEGIN, payload,
                                 esp_payload_begin(payload, erase_size, blocks, block_size, offset,
                                                   l->stub || l->chip->rom_begin_has_encrypt_flag, false),
                                 timeout, NULL);
        if (r < 0)
                return log_debug_errno(r, "FLASH_BEGIN at 0x%x failed: %m", offset);

        l->prev_block_timeout = LOADER_DEFAULT_TIMEOUT;
        l->raw_seq = 0;
        l->raw_blocks = blocks;
        return 0;
}

int esp_loader_flash_data(EspLoader *l, const void *block, size_t len, uint32_t block_size) {
        _cleanup_free_ uint8_t *padded = NULL;
        usec_t block_timeout, timeout;
        int r;

        if (!l || !block || len == 0 || block_size == 0 || len > block_size ||
            block_size > ESP_STUB_FLASH_BLOCK_SIZE)
                return -EINVAL;
        if (!l->chip)
                return -ENOTCONN;

        if (len < block_size) {
                /* esptool pads the last block: programming 0xFF changes nothing */
                padded = malloc(block_size);
                if (!padded)
                        return -ENOMEM;
                memcpy(padded, block, len);
                memset(padded + len, 0xff, block_size - len);
                block = padded;
        }

        block_timeout = loader_timeout_per_mb(LOADER_WRITE_SEC_PER_MB, block_size);
        timeout = l->stub ? l->prev_block_timeout : block_timeout;

        for (unsigned refusals = 0;; refusals++) {
                r = loader_data_command(l, ESP_OP_FLASH_DATA, l->raw_seq, block, block_size, timeout,
                                        /* resend_refused= */ l->stub);
                if (r >= 0)
                        break;
                if (r != -EPROTO || l->stub || refusals + 1 >= LOADER_BLOCK_REFUSALS)
                        return log_debug_errno(r, "FLASH_DATA block %u failed: %m", l->raw_seq);

                if (l->last_error == ESP_ERROR_INVALID_CRC) {
                        /* counted, not written: the next number takes it where it belongs */
                        if (l->raw_seq + 1 >= l->raw_blocks)
                                return log_debug_errno(r, "FLASH_DATA block %u refused and no numbers left.",
                                                       l->raw_seq);
                        l->raw_seq++;
                } else if (l->last_error != ESP_ERROR_INVALID_MESSAGE)
                        return log_debug_errno(r, "FLASH_DATA block %u failed: %m", l->raw_seq);
                /* else a wrong number or length: not counted, the same again */
                log_debug("FLASH_DATA block refused (%s), sending it as number %u.",
                          esp_error_to_string(l->last_error), l->raw_seq);
        }

        l->raw_seq++;
        loader_block_acked(l);
        l->prev_block_timeout = block_timeout;
        return 0;
}

int esp_loader_flash_defl_end(EspLoader *l, bool stay_in_loader) {
        uint8_t payload[4];

        assert(l);
        if (!l->chip)
                return -ENOTCONN;

        /* The ROM leaves the loader on FLASH_DEFL_END: esptool never sends it to
         * a ROM it wants to keep talking to. */
        if (stay_in_loader && !l->stub)
                return 0;

        /* A stub answers only once the last block is in flash (esptool follows
         * the last block with a dummy command for that): give it that block's time. */
        return loader_command_retry_full(l, ESP_OP_FLASH_DEFL_END, payload,
                                         esp_payload_flash_end(payload, stay_in_loader),
                                         l->stub ? l->prev_block_timeout : LOADER_DEFAULT_TIMEOUT,
                                         false, NULL);
}

int esp_loader_flash_md5(EspLoader *l, uint32_t addr, uint32_t size, uint8_t ret_digest[16]) {
        return esp_loader_flash_md5_while(l, addr, size, NULL, NULL, ret_digest);
}

int esp_loader_flash_md5_while(EspLoader *l, uint32_t addr, uint32_t size, EspLoaderWorkFn work,
                               void *userdata, uint8_t ret_digest[16]) {
        uint8_t payload[16], digest[16];
        EspResponse resp;
        int r;

        assert(l && ret_digest);
        if (!l->chip)
                return -ENOTCONN;

        l->meanwhile = work;
        l->meanwhile_userdata = userdata;
        r = loader_command_retry(l, ESP_OP_SPI_FLASH_MD5, payload,
                                 esp_payload_spi_flash_md5(payload, addr, size),
                                 loader_timeout_per_mb(LOADER_MD5_SEC_PER_MB, size), &resp);
        /* Run even if no request left (the caller counts on its result). */
        if (l->meanwhile) {
                l->meanwhile = NULL;
                work(userdata);
        }
        if (r < 0)
                return log_debug_errno(r, "SPI_FLASH_MD5 of 0x%x+0x%x failed: %m", addr, size);

        r = esp_md5_reply_parse(&resp, digest);
        if (r < 0)
                return log_debug_errno(r, "Malformed SPI_FLASH_MD5 reply: %m");
        memcpy(ret_digest, digest, sizeof(digest));
        return 0;
}
