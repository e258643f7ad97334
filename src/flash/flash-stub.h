/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Flasher stub images in esptool's JSON format (as shipped inside esptool and
 * esptool-js: entry, text/data as base64, their load addresses), read from a
 * file, a passed fd, or the first directory of a search path that has one for
 * the chip (esptool's stub_flasher/ layouts, esptool-js's). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "esp-chip.h"
#include "esp-loader.h"
#include "macro.h"

/* esptool's stub files are 8–20 KiB, the ESP32-S3's with plugins about 40 KiB. */
#define FLASH_STUB_FILE_MAX (256 * 1024)
/* A decoded segment larger than any chip's internal SRAM is not a stub's. */
#define FLASH_STUB_SEGMENT_MAX (512 * 1024)

typedef struct FlashStub {
        EspStubImage image;             /* points into text/data below */
        uint8_t *text, *data;
} FlashStub;

/* Parses the JSON text of one stub: a JSON object (nesting bounded, unknown
 * members skipped) with entry, text_start and text, and data_start with data
 * if it has a data segment. -EBADMSG if it is not that, -EFBIG if too large. */
int flash_stub_parse(const char *json, size_t len, FlashStub **ret);
/* Whether the stub's segments lie in chip's internal SRAM and its entry point
 * in its text: 0, or -ERANGE. */
int flash_stub_check_chip(const FlashStub *s, EspChipId chip);
/* Reads a regular file's text, at most FLASH_STUB_FILE_MAX bytes (-EFBIG past
 * that, -ESPIPE if not a regular file, -EISDIR). ret_text is NUL-terminated. */
int flash_stub_read_fd(int fd, char **ret_text, size_t *ret_len);
/* Reads <dir>/<chip_name>.json: -ENOENT if there is none, or parse errors. */
int flash_stub_load(const char *dir, const char *chip_name, FlashStub **ret);
/* The chip's stub from the first directory of search_path (':'-separated
 * absolute glob patterns) that has one, as <chip>.json, 1/<chip>.json,
 * 2/<chip>.json or stub_flasher_<32c3…>.json. -ENOENT if none has; a file that
 * exists but does not parse is skipped (its error returned if nothing else is
 * found). ret_path (optional) gets the file's path. */
int flash_stub_find(const char *search_path, const char *chip_name, FlashStub **ret, char **ret_path);
FlashStub *flash_stub_free(FlashStub *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(FlashStub *, flash_stub_free);
