/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Loader status codes: names for logs and errno for callers. ROM codes are small
 * (0x05 invalid message, 0x07 bad checksum, …), stub codes are 0xC0–0xCF and 0xFF. */
#pragma once

#include <stdint.h>

/* "invalid-message", "bad-data-checksum", … ; "unknown" for anything else. */
const char *esp_error_to_string(uint8_t error);
/* Human readable description for messages. */
const char *esp_error_to_description(uint8_t error);
/* The errno a caller sees for a failed status. All chip-reported failures are
 * -EPROTO except those with a better fit (e.g. flash write/read errors → -EIO,
 * command not supported → -EOPNOTSUPP). */
int esp_error_to_errno(uint8_t error);
