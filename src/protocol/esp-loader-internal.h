/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The loader session's inner parts, shared by esp-loader.c (command exchange),
 * esp-loader-connect.c (reset, sync, detection) and esp-loader-flash.c (flash
 * attach, baud, stub, writes, MD5). Not for use outside src/protocol. */
#pragma once

#include "esp-loader.h"
#include "slip.h"

/* esptool's DEFAULT_TIMEOUT, SYNC_TIMEOUT, MEM_END_ROM_TIMEOUT */
#define LOADER_DEFAULT_TIMEOUT (3 * USEC_PER_SEC)
#define LOADER_SYNC_TIMEOUT (100 * USEC_PER_MSEC)
#define LOADER_MEM_END_ROM_TIMEOUT (200 * USEC_PER_MSEC)
/* Seconds per MB for size-dependent commands (esptool: ERASE_REGION_TIMEOUT_PER_MB,
 * ERASE_WRITE_TIMEOUT_PER_MB, MD5_TIMEOUT_PER_MB). */
#define LOADER_ERASE_SEC_PER_MB 40
#define LOADER_WRITE_SEC_PER_MB 40
#define LOADER_MD5_SEC_PER_MB 8
/* A data block is sent again when the chip refused it (a mangled frame: cheap,
 * it answers at once), and its fate is probed when no answer came (esptool's
 * WRITE_BLOCK_ATTEMPTS is 3 in all). */
#define LOADER_BLOCK_REFUSALS 16
#define LOADER_BLOCK_TIMEOUTS 3
/* Idempotent commands (register access, MD5, attach) are retried this often when
 * the reply was lost or mangled. */
#define LOADER_IDEMPOTENT_ATTEMPTS 3
/* Syncs per connect attempt, as esptool's _connect_attempt. */
#define LOADER_SYNCS_PER_ATTEMPT 5
#define LOADER_BAUD_SETTLE (5 * USEC_PER_MSEC)  /* after CHANGE_BAUDRATE, before the check */
/* The ROM answers SYNC eight times in all. */
#define LOADER_SYNC_EXTRA_REPLIES 7

/* ESP8266-style controllers keep the MISO bit length in USR1 (esptool). */
#define SPI_USR1_MISO_BITLEN_SHIFT 8
#define SPI_WAIT_DONE_POLLS 10

#define LOADER_MAX_FRAME (0x1000 + 64)
#define LOADER_MAX_PAYLOAD (ESP_DATA_HEADER_SIZE + ESP_STUB_FLASH_BLOCK_SIZE)
#define LOADER_DEFAULT_FLASH_SIZE (4u * 1024 * 1024)

struct EspLoader {
        Transport *transport;

        SlipDecoder decoder;
        uint8_t rx[4096];
        size_t rx_pos, rx_len;

        uint8_t *request;         /* unframed request, header + LOADER_MAX_PAYLOAD */
        uint8_t *scratch;         /* payload of data commands: 16-byte header + block */
        uint8_t *wire;            /* SLIP-encoded request */
        size_t wire_cap;

        const EspChipInfo *chip;
        bool stub;
        bool secure_download;
        bool usb_jtag;
        size_t status_len;

        uint32_t flash_size;
        uint32_t flash_id;

        EspLoaderFacts known;     /* from an earlier session (esp_loader_set_known) */
        bool known_proven;        /* this session's chip magic agreed with them */
        bool has_mac;
        uint32_t mac_low;         /* read by loader_known_flash() */
        unsigned reset_attempt;   /* the connect attempt that got through */
        uint32_t fast_baud;       /* esp_loader_set_fast_baud(); 0: none */
        bool uart_link;           /* esp_loader_set_uart_link() */

        bool dtr, rts;            /* modem lines as last set */

        usec_t prev_block_timeout; /* stub: a block is written while the next is sent */
        bool baud_raised;         /* a CHANGE_BAUDRATE took the link above its connect rate */
        bool erase_skip_failed;   /* a write begun with erase size 0 did not prove out */
        uint32_t stub_block_size; /* the stub's data blocks (esp_loader_shrink_blocks) */
        uint32_t raw_seq, raw_blocks;   /* FLASH_DATA: the number due, the numbers announced */

        uint8_t last_error;
        EspLoaderStats stats;
        unsigned restarts_left;   /* esp_loader_take_restart() */
        unsigned blocks_acked;    /* data blocks acknowledged, towards the next restart earned */

        /* Work of the caller's to do while the chip works on the next request
         * (esp_loader_flash_md5_while()): run once, after that request left. */
        EspLoaderWorkFn meanwhile;
        void *meanwhile_userdata;
        EspLoaderWorkFn hold_work;      /* esp_loader_set_hold_work(): run once, then cleared */
        void *hold_work_userdata;
};

/* esp-loader-facts.c: the known chip taken if the magic register's chip
 * (by_magic) is it; the known flash taken if the chip was and its MAC (read
 * here, one READ_REG, and kept for the next session) is the known one. */
bool loader_known_chip(EspLoader *l, const EspChipInfo *by_magic);
bool loader_known_flash(EspLoader *l, uint32_t *ret_id, uint32_t *ret_size);

/* Each step is an int-returning call; stop at the first failure. */
#define STEP(expr)                              \
        do {                                    \
                int _r_ = (expr);               \
                if (_r_ < 0)                    \
                        return _r_;             \
        } while (false)

bool loader_error_is_fatal(int r);
int loader_command_retry(EspLoader *l, uint8_t op, const void *payload, size_t n,
                         usec_t timeout, EspResponse *ret);
int loader_command_retry_full(EspLoader *l, uint8_t op, const void *payload, size_t n,
                              usec_t timeout, bool on_timeout, EspResponse *ret);
int loader_data_command(EspLoader *l, uint8_t op, uint32_t seq, const void *block,
                        size_t len, usec_t timeout, bool resend_refused);
int loader_decode(EspLoader *l, const uint8_t *frame, size_t n, EspResponse *ret);
void loader_discard_input_state(EspLoader *l);
int loader_flush_input(EspLoader *l);
int loader_read_frame(EspLoader *l, usec_t deadline, const uint8_t **ret_frame,
                      size_t *ret_len);
void loader_reopen_frame(EspLoader *l);
int loader_sync_once(EspLoader *l, bool *ret_stub);
usec_t loader_timeout_per_mb(unsigned seconds_per_mb, uint64_t size);
/* A flash data block was acknowledged: the restart budget grows with them. */
void loader_block_acked(EspLoader *l);
