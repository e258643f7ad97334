/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ESP serial bootloader packets: request encoding, response decoding and the
 * payload layouts of every command the service uses. Pure: no I/O.
 *
 * Request  (before SLIP): u8 dir=0x00, u8 op, u16 size, u32 checksum, data[size]
 * Response (before SLIP): u8 dir=0x01, u8 op, u16 size, u32 value, data[size]
 *   where the last 4 (ROM) or 2 (stub) bytes of data are status bytes:
 *   status (0 = ok, 1 = failed), error code. All integers little-endian. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum EspOpcode {
        ESP_OP_FLASH_BEGIN = 0x02,
        ESP_OP_FLASH_DATA = 0x03,
        ESP_OP_FLASH_END = 0x04,
        ESP_OP_MEM_BEGIN = 0x05,
        ESP_OP_MEM_END = 0x06,
        ESP_OP_MEM_DATA = 0x07,
        ESP_OP_SYNC = 0x08,
        ESP_OP_WRITE_REG = 0x09,
        ESP_OP_READ_REG = 0x0a,
        ESP_OP_SPI_SET_PARAMS = 0x0b,
        ESP_OP_SPI_ATTACH = 0x0d,
        ESP_OP_READ_FLASH_SLOW = 0x0e,
        ESP_OP_CHANGE_BAUDRATE = 0x0f,
        ESP_OP_FLASH_DEFL_BEGIN = 0x10,
        ESP_OP_FLASH_DEFL_DATA = 0x11,
        ESP_OP_FLASH_DEFL_END = 0x12,
        ESP_OP_SPI_FLASH_MD5 = 0x13,
        ESP_OP_GET_SECURITY_INFO = 0x14,
        /* stub only */
        ESP_OP_ERASE_FLASH = 0xd0,
        ESP_OP_ERASE_REGION = 0xd1,
        ESP_OP_READ_FLASH = 0xd2,
        ESP_OP_RUN_USER_CODE = 0xd3,
} EspOpcode;

/* "SYNC", "FLASH_BEGIN", …; NULL for unknown opcodes. */
const char *esp_opcode_to_string(uint8_t op);

#define ESP_CHECKSUM_SEED 0xEF
#define ESP_REQUEST_HEADER_SIZE 8
#define ESP_RESPONSE_HEADER_SIZE 8
/* Data-carrying commands (FLASH_DATA, FLASH_DEFL_DATA, MEM_DATA) prefix their
 * block with u32 size, u32 seq, u32 0, u32 0. */
#define ESP_DATA_HEADER_SIZE 16

#define ESP_ROM_STATUS_LEN 4
#define ESP_STUB_STATUS_LEN 2

#define ESP_SYNC_PAYLOAD_SIZE 36     /* 07 07 12 20 then 32 × 0x55 */
#define ESP_FLASH_SECTOR_SIZE 0x1000
#define ESP_ROM_FLASH_BLOCK_SIZE 0x400
#define ESP_STUB_FLASH_BLOCK_SIZE 0x4000
#define ESP_ROM_MEM_BLOCK_SIZE 0x1800

/* Checksum over a data block: 0xEF XOR every byte (only the low byte is sent,
 * in a u32 field). */
uint8_t esp_checksum(const void *data, size_t n);

/* Encodes a request (unframed) into buf; returns its length or -ENOBUFS. */
int esp_request_encode(uint8_t op, const void *payload, size_t n, uint32_t checksum,
                       uint8_t *buf, size_t cap);

/* Decodes a request (unframed); used by the simulated chip and tests.
 * payload points into frame. -EBADMSG for a short frame, wrong direction or a
 * size field that disagrees with the frame length. */
typedef struct EspRequest {
        uint8_t op;
        uint32_t checksum;
        const uint8_t *payload;
        size_t payload_len;
} EspRequest;
int esp_request_decode(const uint8_t *frame, size_t n, EspRequest *ret);

typedef struct EspResponse {
        uint8_t op;
        uint32_t value;          /* meaningful only for SYNC and READ_REG */
        const uint8_t *data;     /* body without status bytes; points into frame */
        size_t data_len;
        uint8_t status;          /* 0 ok, non-zero failed */
        uint8_t error;           /* error code when status != 0 (0 if the loader gave none) */
} EspResponse;

/* Decodes a response (unframed) given the status length of the running loader
 * (ESP_ROM_STATUS_LEN or ESP_STUB_STATUS_LEN). -EBADMSG for a short frame, a
 * wrong direction byte or a size field that disagrees with the frame; -EINVAL
 * for another status_len. The ROM sends (1, code); a stub puts its code
 * (0xC0…, 0xFF) in the first status byte itself: both end up in error. */
int esp_response_decode(const uint8_t *frame, size_t n, size_t status_len, EspResponse *ret);

/* True if r is the ROM's answer to a command it does not implement: a failed
 * status with error 0x05 in a reply that echoes an earlier opcode instead of
 * request_op (esptool's rule); or a stub's 0xFF "not implemented". */
bool esp_response_is_unsupported(const EspResponse *r, uint8_t request_op);

/* Payload builders: each writes the payload into out (which must hold the
 * given size) and returns its length. */
size_t esp_payload_sync(uint8_t out[ESP_SYNC_PAYLOAD_SIZE]);
size_t esp_payload_read_reg(uint8_t out[4], uint32_t addr);
size_t esp_payload_write_reg(uint8_t out[16], uint32_t addr, uint32_t value, uint32_t mask,
                             uint32_t delay_us);
/* ROM SPI_ATTACH takes 8 bytes (config, is_legacy + 3 pad), the stub 4. */
size_t esp_payload_spi_attach(uint8_t out[8], uint32_t config, bool rom);
size_t esp_payload_spi_set_params(uint8_t out[24], uint32_t total_size);
/* new baud, old baud (old is 0 for the ROM, the current baud for a stub) */
size_t esp_payload_change_baudrate(uint8_t out[8], uint32_t new_baud, uint32_t old_baud);
/* FLASH_BEGIN / FLASH_DEFL_BEGIN / MEM_BEGIN: erase_size (or uncompressed size
 * for DEFL), number of blocks, block size, offset, and — on chips whose ROM takes
 * 20 bytes (everything but ESP32) — an encrypted flag. esptool 5 also sends the
 * 20-byte form to its stub (esp-flasher-stub accepts both); MEM_BEGIN is always 16. */
size_t esp_payload_begin(uint8_t out[20], uint32_t size, uint32_t blocks, uint32_t block_size,
                         uint32_t offset, bool with_encrypted_flag, bool encrypted);
/* Writes the 16-byte data header; the caller appends the block and passes
 * esp_checksum(block) as the request checksum. */
size_t esp_payload_data_header(uint8_t out[ESP_DATA_HEADER_SIZE], uint32_t data_len, uint32_t seq);
/* FLASH_END / FLASH_DEFL_END: 0 = reboot (ROM: back to download mode), 1 = no
 * reboot: a stub and the ROM's FLASH_DEFL_END stay in the loader, but the ROM's
 * FLASH_END(1) jumps to the application ("run user code"). */
size_t esp_payload_flash_end(uint8_t out[4], bool stay_in_loader);
/* MEM_END: no-entry flag and entry point. */
size_t esp_payload_mem_end(uint8_t out[8], bool no_entry, uint32_t entry);
size_t esp_payload_spi_flash_md5(uint8_t out[16], uint32_t addr, uint32_t size);
size_t esp_payload_erase_region(uint8_t out[8], uint32_t addr, uint32_t size);
size_t esp_payload_read_flash(uint8_t out[16], uint32_t addr, uint32_t size, uint32_t packet_size,
                              uint32_t max_inflight);

/* SPI_FLASH_MD5 answer: the ROM sends 32 ASCII hex characters, a stub 16 raw
 * bytes. Both are converted to 16 raw bytes. -EBADMSG otherwise; -EPROTO if the
 * response carries a failed status. */
int esp_md5_reply_parse(const EspResponse *r, uint8_t ret_digest[16]);

/* GET_SECURITY_INFO answer (12 bytes on ESP32-S2, 20 on newer chips):
 * flags, flash_crypt_cnt, key_purposes[7], then chip_id and eco_version when present.
 * -EBADMSG for any other length; -EPROTO for a failed status (the ESP32 ROM
 * lacks the command: see esp_response_is_unsupported()). */
typedef struct EspSecurityInfo {
        uint32_t flags;
        uint8_t flash_crypt_cnt;
        uint8_t key_purposes[7];
        bool has_chip_id;
        uint32_t chip_id;
        uint32_t eco_version;
} EspSecurityInfo;
int esp_security_info_parse(const EspResponse *r, EspSecurityInfo *ret);
#define ESP_SECURITY_FLAG_SECURE_DOWNLOAD_ENABLE (1u << 2)
