/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Loader status codes: names for logs and errno for callers. ROM codes are small
 * (0x05 invalid message, 0x07 bad checksum, …), stub codes are 0xC0–0xCF and 0xFF. */
#pragma once

#include <stdint.h>

typedef enum EspErrorCode {
        ESP_ERROR_NONE = 0x00,                  /* failed status without a code */
        /* ROM loader (second status byte) */
        ESP_ERROR_INVALID_MESSAGE = 0x05,       /* also: unsupported command, bad sequence */
        ESP_ERROR_FAILED_TO_ACT = 0x06,
        ESP_ERROR_INVALID_CRC = 0x07,           /* data checksum mismatch */
        ESP_ERROR_FLASH_WRITE = 0x08,
        ESP_ERROR_FLASH_READ = 0x09,
        ESP_ERROR_FLASH_READ_LENGTH = 0x0a,
        ESP_ERROR_DEFLATE = 0x0b,
        /* flasher stub (first status byte) */
        ESP_ERROR_BAD_DATA_LEN = 0xc0,
        ESP_ERROR_BAD_DATA_CHECKSUM = 0xc1,
        ESP_ERROR_BAD_BLOCKSIZE = 0xc2,
        ESP_ERROR_INVALID_COMMAND = 0xc3,
        ESP_ERROR_FAILED_SPI_OP = 0xc4,
        ESP_ERROR_FAILED_SPI_UNLOCK = 0xc5,
        ESP_ERROR_NOT_IN_FLASH_MODE = 0xc6,
        ESP_ERROR_INFLATE = 0xc7,
        ESP_ERROR_NOT_ENOUGH_DATA = 0xc8,
        ESP_ERROR_TOO_MUCH_DATA = 0xc9,
        ESP_ERROR_CMD_NOT_IMPLEMENTED = 0xff,
} EspErrorCode;

/* "invalid-message", "bad-data-checksum", … ; "unknown" for anything else. */
const char *esp_error_to_string(uint8_t error);
/* Human readable description for messages. */
const char *esp_error_to_description(uint8_t error);
/* The errno a caller sees for a failed status. All chip-reported failures are
 * -EPROTO except those with a better fit: flash write/read and SPI errors → -EIO,
 * stub "invalid command"/"not implemented" → -EOPNOTSUPP, a read length or block
 * size out of range → -EINVAL. (The ROM's unsupported-command answer is 0x05, a
 * plain -EPROTO here: esp_response_is_unsupported() recognises it.) */
int esp_error_to_errno(uint8_t error);
