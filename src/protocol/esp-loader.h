/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A session with the chip's ROM loader (or a flasher stub) over a Transport:
 * reset into download mode, sync, detect, attach flash, run commands, reset
 * back into the application. Blocking with deadlines; meant to run in the job's
 * worker thread. Never touches a serial port API directly.
 *
 * Errno conventions: -ETIMEDOUT no answer, -EBADMSG malformed reply,
 * -EPROTO chip reported a failure (esp_loader_last_error() says which),
 * -EOPNOTSUPP command not supported, -ENODEV device gone, -ECANCELED interrupted. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "esp-chip.h"
#include "esp-command.h"
#include "esp-reset.h"
#include "transport.h"

typedef struct EspLoader EspLoader;

typedef struct EspLoaderStats {
        uint64_t commands;
        uint64_t retries;
        uint64_t flash_begins;   /* FLASH_BEGIN + FLASH_DEFL_BEGIN sent */
        uint64_t stream_restarts; /* write streams begun again after a refused or lost block */
} EspLoaderStats;

/* Restarts of write streams allowed in one session (esp_loader_take_restart):
 * this many, plus one for every ESP_LOADER_BLOCKS_PER_RESTART data blocks the
 * chip acknowledged, so that a big image on a link that refuses one block in a
 * hundred finishes, while a link that lets nothing through soon stops. */
#define ESP_LOADER_RESTART_BUDGET 64
#define ESP_LOADER_BLOCKS_PER_RESTART 16

/* The loader borrows the transport; it does not free it. */
int esp_loader_new(Transport *t, EspLoader **ret);
EspLoader *esp_loader_free(EspLoader *l);
DEFINE_TRIVIAL_CLEANUP_FUNC(EspLoader *, esp_loader_free);

/* Resets into download mode with the given strategy (trying the next
 * strategy-specific variant on failure), syncs (answering the ROM's repeated SYNC
 * replies) and detects the chip: GET_SECURITY_INFO chip id, or the magic
 * register if the ROM lacks that command. attempts ≥ 1. */
int esp_loader_connect(EspLoader *l, EspResetStrategy reset, unsigned attempts);

/* What a connect learns about a board that stays the same while it stays
 * attached: the caller keeps it per device and hands it to the next session
 * (esp-loader-facts.c), which then skips the commands that would only tell it
 * again — GET_SECURITY_INFO, the console read, the flash's JEDEC id — and
 * starts with the reset holds that worked. The chip magic register is still
 * read, and the low word of the chip's factory MAC before the known flash is
 * taken: a board swapped behind the same adapter reads differently (another
 * kind of chip: everything is asked afresh; another chip of the same kind: its
 * flash is). */
typedef struct EspLoaderFacts {
        const EspChipInfo *chip;        /* NULL: nothing known */
        bool usb_jtag;
        uint32_t flash_id, flash_size;
        bool has_mac;
        uint32_t mac_low;               /* the factory MAC's low word: this very chip */
        unsigned reset_attempt;         /* the connect attempt whose holds worked */
} EspLoaderFacts;

/* Before esp_loader_connect(); NULL forgets them. */
void esp_loader_set_known(EspLoader *l, const EspLoaderFacts *f);
/* After connect and attach: what this session knows (-ENODATA if nothing worth
 * keeping: no chip, or Secure Download Mode, which hides what it is asked). */
int esp_loader_facts(EspLoader *l, EspLoaderFacts *ret);
/* Whether this session took the known facts instead of asking (the chip's magic
 * agreed with them). */
bool esp_loader_used_known(EspLoader *l);

const EspChipInfo *esp_loader_chip(EspLoader *l);   /* NULL before connect */
bool esp_loader_is_stub(EspLoader *l);
/* True if GET_SECURITY_INFO reported Secure Download Mode (no MD5, no reads). */
bool esp_loader_secure_download_mode(EspLoader *l);
/* True if the console is the chip's USB-Serial-JTAG (watchdog must be handled). */
bool esp_loader_uses_usb_jtag(EspLoader *l);
const EspLoaderStats *esp_loader_stats(EspLoader *l);
/* The error code of the last failed status, 0 if none. */
uint8_t esp_loader_last_error(EspLoader *l);

/* Sends a command and waits for its matching response (same opcode; stray
 * replies such as extra SYNC answers are skipped). The response's data points
 * into the loader's buffer until the next command. */
int esp_loader_command(EspLoader *l, uint8_t op, const void *payload, size_t n, uint32_t checksum,
                       usec_t timeout, EspResponse *ret);

int esp_loader_read_reg(EspLoader *l, uint32_t addr, uint32_t *ret_value);
int esp_loader_write_reg(EspLoader *l, uint32_t addr, uint32_t value);

/* SPI_ATTACH, read the JEDEC id with the SPI user-command registers, derive the
 * size (or use size_override if non-zero) and send SPI_SET_PARAMS. */
int esp_loader_attach_flash(EspLoader *l, uint32_t size_override);
uint32_t esp_loader_flash_size(EspLoader *l);   /* 0 before attach */
uint32_t esp_loader_flash_id(EspLoader *l);

/* CHANGE_BAUDRATE, then switch the transport and re-check the link with a SYNC.
 * On failure, returns to the previous baud; if the chip does not answer there
 * either (it switched, but the new rate loses data), esp_loader_baud_raised()
 * is true and only a reset brings it back. On the ESP32 ROM the argument is
 * scaled by its clock calibration (esp_baud_argument). */
int esp_loader_change_baud(EspLoader *l, uint32_t baud);
/* The ESP32 ROM's CHANGE_BAUDRATE argument for baud, from RTCCALICFG1 and eFuse
 * word 4 (pure; the plain rate when the ROM measured nothing). */
uint32_t esp_baud_argument(uint32_t baud, uint32_t cal_reg, uint32_t efuse_word);

/* Upload and start a flasher stub (esptool JSON layout, already decoded):
 * text/data segments at their addresses, entry point; waits for "OHAI", then
 * (flash attached) sends the stub SPI_SET_PARAMS with the flash size. Runs at
 * the link's current rate: a stub keeps the UART divider the ROM left. A stub
 * that does not greet or answer: -ETIMEDOUT (or the error), and the chip needs
 * a reset before anything answers again. */
typedef struct EspStubImage {
        uint32_t entry;
        uint32_t text_start, data_start;
        const uint8_t *text, *data;
        size_t text_len, data_len;
} EspStubImage;
int esp_loader_run_stub(EspLoader *l, const EspStubImage *stub);

/* Whether a compressed write on this loader may program flash past the end of
 * its stream: true with *ret_window (0: it does not; else the ROM's inflate
 * buffer, see EspChipInfo.rom_defl_spill_window) when the loader's behaviour is
 * known, false when it is not (a ROM without reference traces). Stubs never spill. */
bool esp_loader_defl_spill(EspLoader *l, uint32_t *ret_window);
/* Whether a write may begin with erase size 0 over flash proven to hold 0xFF
 * (esp_loader_flash_defl_begin): the ROM loader, with known write behaviour,
 * unless esp_loader_forbid_skip_erase() was called in this session (such a
 * write failed its proof: this ROM does not take it). */
bool esp_loader_can_skip_erase(EspLoader *l);
void esp_loader_forbid_skip_erase(EspLoader *l);
/* How much of a write stream is surely on flash once its acknowledged blocks
 * carried `acked` bytes: the ROM writes a FLASH_DATA block before it answers,
 * but a FLASH_DEFL stream only in whole inflate buffers
 * (ESP_ROM_INFLATE_BUFFER_SIZE); a stub answers before it writes (0). Where a
 * restarted stream may begin. */
uint64_t esp_loader_stream_flushed(EspLoader *l, bool compressed, uint64_t acked);
/* The link's current baud rate. */
uint32_t esp_loader_baud(EspLoader *l);
/* Whether esp_loader_change_baud() raised the link above the rate it
 * connected at: a link that then loses data may be fine at the old rate, but
 * the chip stays at the raised one until it is reset. */
bool esp_loader_baud_raised(EspLoader *l);

/* A write stream that lost or had refused a block must begin again (the ROM
 * advances its sequence number even for a block it drops, so resending the
 * block can never succeed: esp32-rom-defl-error-probe). Each restart takes one
 * from the session's budget (ESP_LOADER_RESTART_BUDGET, growing with the blocks
 * acknowledged) and is counted in the stats; -EPROTO once the budget is spent. */
int esp_loader_take_restart(EspLoader *l);

/* Uncompressed write (FLASH_BEGIN / FLASH_DATA), which never programs past its
 * end. begin erases [offset, offset + size) rounded out to sectors (the ROM at
 * once, a stub as it goes); data blocks are block_size bytes in order (the
 * loader numbers them), the last one padded with 0xFF as esptool pads it. No
 * FLASH_END: on the ROM it would leave the loader.
 * A block the ROM refuses with a bad checksum (0x07) it has counted without
 * writing, and its write address stays where it was (esp32-rom-defl-error-probe,
 * case C): the same block under the next number lands where it belongs, as long
 * as the numbers announced at begin last; else, and when a block's fate is
 * unknown, -EPROTO/-ETIMEDOUT and the stream must begin again. */
int esp_loader_flash_begin(EspLoader *l, uint32_t offset, uint32_t size, uint32_t block_size, bool erase);
int esp_loader_flash_data(EspLoader *l, const void *block, size_t len, uint32_t block_size);

/* Compressed write, low level: the flash layer plans, compresses and calls these.
 * begin erases (ROM: the whole range; stub: as it goes) so its timeout scales
 * with size.
 * erase false (both begins; the ROM only, a stub ignores it): the caller has
 * proven by MD5 that the range holds 0xFF, so the ROM is sent an erase size of
 * 0 and programs over the erased flash (programming only clears bits, so the
 * result is the data). The first begin word is only the erase size (esptool
 * sends the block count apart; the traces show both ROMs answer a begin of
 * size 0, esp32c3-rom-flash-end-probe), but no trace shows a ROM given data
 * after one: the caller proves the result by MD5 and writes again with the
 * erase if it differs. A stub's first word is the size it writes and erases. */
int esp_loader_flash_defl_begin(EspLoader *l, uint32_t offset, uint32_t uncompressed_size,
                                uint32_t compressed_size, uint32_t block_size, bool erase);
/* An unanswered block is probed with a READ_REG, whose in-order reply tells
 * whether the block landed, so that no block is ever taken twice. A block the
 * stub refuses (it arrived mangled) is sent again: the stub keeps no sequence
 * number. The ROM does, and advances it even for a block it drops, so a ROM
 * block that was refused, or whose fate is unknown, fails with -EPROTO (or
 * -ETIMEDOUT) and the stream must begin again (esp_loader_take_restart).
 * -EILSEQ (the chip reported ESP_ERROR_DEFLATE or ESP_ERROR_INFLATE, on this or
 * on FLASH_DEFL_END): the chip's inflater holds damaged data, only a new
 * FLASH_DEFL_BEGIN helps.
 * Success is judged by the first status byte alone: the ROM carries an earlier
 * error code in the second one (00 07 after a 01 07). */
int esp_loader_flash_defl_data(EspLoader *l, uint32_t seq, const void *block, size_t len,
                               uint32_t uncompressed_block_size);
/* With stay_in_loader on a ROM nothing is sent: the ROM's FLASH_DEFL_END would
 * leave the loader (esptool skips it too). A stub answers only once the last
 * block is in flash. */
int esp_loader_flash_defl_end(EspLoader *l, bool stay_in_loader);
uint32_t esp_loader_flash_block_size(EspLoader *l);  /* ROM 0x400, stub 0x4000 (or less, below) */
/* A stub takes blocks of any size up to 0x4000 (announced at begin): after a
 * stream failed on a block that never arrived whole, halve them for the rest of
 * the session, down to the ROM's 0x400. false if they cannot get smaller (the
 * ROM's are fixed). */
bool esp_loader_shrink_blocks(EspLoader *l);

/* On-chip MD5 of flash [addr, addr+size) as 16 raw bytes. */
int esp_loader_flash_md5(EspLoader *l, uint32_t addr, uint32_t size, uint8_t ret_digest[16]);
/* The same, with work(userdata) run once while the chip hashes (after the
 * request has left, before its answer is read): the host's own digest of the
 * same bytes, so that the two overlap. work's result does not stop the
 * exchange; the caller reads it from userdata. */
typedef void (*EspLoaderWorkFn)(void *userdata);
int esp_loader_flash_md5_while(EspLoader *l, uint32_t addr, uint32_t size, EspLoaderWorkFn work,
                               void *userdata, uint8_t ret_digest[16]);

/* The rate to raise the link to during esp_loader_connect(), as soon as the
 * chip magic has named the chip and before the rest of the detection (the
 * console register), so that its answer comes at it; 0 (the default): the
 * caller changes the rate itself afterwards. A raise that fails leaves the
 * link at the old rate (esp_loader_baud() says which); one that loses the
 * link fails the connect (esp_loader_baud_raised()). */
void esp_loader_set_fast_baud(EspLoader *l, uint32_t baud);

/* work(userdata), run once during the next esp_loader_connect()'s reset,
 * in its first timed hold of the lines (the classic reset: EN low), instead
 * of sleeping through it: host work the session needs soon, done while the
 * chip is held in reset. A hold the work overruns lasts as long as the work.
 * Cleared once run; never run by a connect without a reset (ESP_RESET_NONE):
 * the caller checks. */
void esp_loader_set_hold_work(EspLoader *l, EspLoaderWorkFn work, void *userdata);

/* The link is a USB-UART bridge on the chip's UART (the port's identity says
 * so): the chip's console is not its USB-Serial-JTAG, so the connect does not
 * read the console register (UARTDEV_BUF_NO) to find out. Default: unknown,
 * the register is read. */
void esp_loader_set_uart_link(EspLoader *l, bool uart);

/* Resets the chip into the application (RTS pulse; on USB-Serial-JTAG after
 * disabling the watchdog reset path as esptool does). */
int esp_loader_hard_reset(EspLoader *l);
/* The first half of a hard reset: EN pulled low (IO0 released) and left low,
 * so that whoever takes the port next hears the boot from its first byte when
 * it releases EN, no sooner than *ret_release_at: as long as the connect's
 * reset needed on this board (esp_reset_holds() of the attempt that got
 * through; 200 ms on USB-Serial-JTAG). Does not wait. */
int esp_loader_hold_reset(EspLoader *l, usec_t *ret_release_at);
