/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Flasher stub images in esptool's JSON format (as shipped inside esptool and
 * esptool-js: entry, text/data as base64, their load addresses), read from a
 * directory the administrator configures: <dir>/<chip>.json, e.g. esp32c3.json. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "esp-loader.h"
#include "macro.h"

typedef struct FlashStub {
        EspStubImage image;             /* points into text/data below */
        uint8_t *text, *data;
} FlashStub;

/* Parses the JSON text of one stub. -EBADMSG if a field is missing or malformed. */
int flash_stub_parse(const char *json, size_t len, FlashStub **ret);
/* Reads <dir>/<chip_name>.json: -ENOENT if there is none, or parse errors. */
int flash_stub_load(const char *dir, const char *chip_name, FlashStub **ret);
FlashStub *flash_stub_free(FlashStub *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(FlashStub *, flash_stub_free);
