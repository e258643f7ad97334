/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Loader error codes: every ROM and stub code has its name, description and
 * errno; everything else is "unknown" and still a protocol error. */

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "esp-status.h"
#include "macro.h"

static const struct {
        uint8_t code;
        const char *name;
        int errnum;
} known[] = {
        { ESP_ERROR_NONE, "unspecified", -EPROTO },
        /* ROM */
        { 0x05, "invalid-message", -EPROTO },
        { 0x06, "failed-to-act", -EPROTO },
        { 0x07, "invalid-crc", -EPROTO },
        { 0x08, "flash-write-error", -EIO },
        { 0x09, "flash-read-error", -EIO },
        { 0x0a, "flash-read-length-error", -EINVAL },
        { 0x0b, "deflate-error", -EPROTO },
        /* stub */
        { 0xc0, "bad-data-length", -EPROTO },
        { 0xc1, "bad-data-checksum", -EPROTO },
        { 0xc2, "bad-block-size", -EINVAL },
        { 0xc3, "invalid-command", -EOPNOTSUPP },
        { 0xc4, "spi-operation-failed", -EIO },
        { 0xc5, "spi-unlock-failed", -EIO },
        { 0xc6, "not-in-flash-mode", -EPROTO },
        { 0xc7, "inflate-error", -EPROTO },
        { 0xc8, "not-enough-data", -EPROTO },
        { 0xc9, "too-much-data", -EPROTO },
        { 0xff, "command-not-implemented", -EOPNOTSUPP },
};

static bool is_known(unsigned code) {
        for (size_t i = 0; i < ELEMENTSOF(known); i++)
                if (known[i].code == code)
                        return true;
        return false;
}

static void test_known_codes(void) {
        for (size_t i = 0; i < ELEMENTSOF(known); i++) {
                const char *d = esp_error_to_description(known[i].code);

                assert(strcmp(esp_error_to_string(known[i].code), known[i].name) == 0);
                assert(esp_error_to_errno(known[i].code) == known[i].errnum);
                assert(d && *d && strncmp(d, "Unknown", 7) != 0);

                /* names are unique */
                for (size_t k = 0; k < i; k++)
                        assert(strcmp(known[k].name, known[i].name) != 0);
        }

        /* the ones a caller branches on */
        assert(strstr(esp_error_to_description(ESP_ERROR_INVALID_CRC), "CRC"));
        assert(strstr(esp_error_to_description(ESP_ERROR_DEFLATE), "Deflate"));
        assert(esp_error_to_errno(ESP_ERROR_FLASH_WRITE) == -EIO);
        assert(esp_error_to_errno(ESP_ERROR_CMD_NOT_IMPLEMENTED) == -EOPNOTSUPP);
}

static void test_unknown_codes(void) {
        for (unsigned code = 0; code < 256; code++) {
                if (is_known(code))
                        continue;

                assert(strcmp(esp_error_to_string((uint8_t) code), "unknown") == 0);
                assert(esp_error_to_errno((uint8_t) code) == -EPROTO);
                if (code >= 0xc0 && code <= 0xcf)
                        assert(strcmp(esp_error_to_description((uint8_t) code), "Unknown flasher stub error") == 0);
                else
                        assert(strcmp(esp_error_to_description((uint8_t) code), "Unknown loader error") == 0);
        }
}

int main(void) {
        test_known_codes();
        test_unknown_codes();
        printf("test-esp-status: ok\n");
        return 0;
}
