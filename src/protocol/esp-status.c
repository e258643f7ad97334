/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Loader error codes: the ROM's (esptool's serial-protocol documentation) and
 * the flasher stub's (stub_flasher.h / esp-flasher-stub commands.h), with a
 * name, a description and the errno a caller gets. */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "esp-status.h"

typedef struct EspErrorInfo {
        const char *name;
        const char *description;
        int errnum;                     /* positive */
} EspErrorInfo;

static const EspErrorInfo error_table[256] = {
        [ESP_ERROR_NONE] = { "unspecified", "Command failed without an error code", EPROTO },

        /* ROM: 0x05 also answers commands the ROM lacks (esp_response_is_unsupported()
         * tells them apart) and wrong sequence numbers, so it stays a protocol error. */
        [ESP_ERROR_INVALID_MESSAGE] = { "invalid-message", "Received message is invalid (parameters or length field)", EPROTO },
        [ESP_ERROR_FAILED_TO_ACT] = { "failed-to-act", "Failed to act on received message", EPROTO },
        [ESP_ERROR_INVALID_CRC] = { "invalid-crc", "Invalid CRC (data checksum) in message", EPROTO },
        [ESP_ERROR_FLASH_WRITE] = { "flash-write-error", "Flash write error (read-back did not match)", EIO },
        [ESP_ERROR_FLASH_READ] = { "flash-read-error", "Flash read error (SPI read failed)", EIO },
        [ESP_ERROR_FLASH_READ_LENGTH] = { "flash-read-length-error", "Flash read length error (request too long)", EINVAL },
        [ESP_ERROR_DEFLATE] = { "deflate-error", "Deflate error in compressed data", EPROTO },

        /* Flasher stub */
        [ESP_ERROR_BAD_DATA_LEN] = { "bad-data-length", "Bad data length", EPROTO },
        [ESP_ERROR_BAD_DATA_CHECKSUM] = { "bad-data-checksum", "Bad data checksum", EPROTO },
        [ESP_ERROR_BAD_BLOCKSIZE] = { "bad-block-size", "Bad block size", EINVAL },
        [ESP_ERROR_INVALID_COMMAND] = { "invalid-command", "Invalid command", EOPNOTSUPP },
        [ESP_ERROR_FAILED_SPI_OP] = { "spi-operation-failed", "SPI flash operation failed", EIO },
        [ESP_ERROR_FAILED_SPI_UNLOCK] = { "spi-unlock-failed", "SPI flash unlock failed", EIO },
        [ESP_ERROR_NOT_IN_FLASH_MODE] = { "not-in-flash-mode", "Not in flash mode (no FLASH_BEGIN before data)", EPROTO },
        [ESP_ERROR_INFLATE] = { "inflate-error", "Error decompressing the data", EPROTO },
        [ESP_ERROR_NOT_ENOUGH_DATA] = { "not-enough-data", "Did not receive enough data", EPROTO },
        [ESP_ERROR_TOO_MUCH_DATA] = { "too-much-data", "Received too much data", EPROTO },
        [ESP_ERROR_CMD_NOT_IMPLEMENTED] = { "command-not-implemented", "Command not implemented", EOPNOTSUPP },
};

/* Codes 0xC0–0xCF belong to the stub even when this table does not know them. */
static bool is_stub_range(uint8_t error) {
        return error >= 0xc0 && error <= 0xcf;
}

const char *esp_error_to_string(uint8_t error) {
        return error_table[error].name ?: "unknown";
}

const char *esp_error_to_description(uint8_t error) {
        if (error_table[error].description)
                return error_table[error].description;
        return is_stub_range(error) ? "Unknown flasher stub error" : "Unknown loader error";
}

int esp_error_to_errno(uint8_t error) {
        return -(error_table[error].errnum ?: EPROTO);
}
