/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Clues to the chip a build is for: chip names in any spelling, sdkconfig's
 * CONFIG_IDF_TARGET, the chip id esptool writes into every ESP image header,
 * and the Xtensa toolchain name PlatformIO records. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "esp-chip.h"
#include "json.h"
#include "source-parse.h"

int source_chip_canonical(const char *name, const char **ret) {
        const EspChipInfo *c = name ? esp_chip_from_name(name) : NULL;

        if (!c)
                return -EOPNOTSUPP;
        *ret = c->name;
        return 0;
}

uint32_t source_chip_bootloader_offset(const char *canonical) {
        const EspChipInfo *c = esp_chip_from_name(canonical);

        return c ? c->bootloader_offset : 0;
}

/* Returns a pointer just past `prefix` if line starts with it. */
static const char *startswith_n(const char *line, size_t n, const char *prefix) {
        size_t k = strlen(prefix);

        if (n < k || memcmp(line, prefix, k) != 0)
                return NULL;
        return line + k;
}

/* From p (inside a line ending at end): optional blanks, then "value"; the
 * value may not contain quotes or backslashes (chip names never do). */
static int quoted_value(const char *p, const char *end, char **ret) {
        const char *q;

        while (p < end && (*p == ' ' || *p == '\t'))
                p++;
        if (p >= end || *p != '"')
                return 0;
        p++;
        for (q = p; q < end && *q != '"'; q++)
                if (*q == '\\')
                        return 0;
        if (q >= end || q == p)
                return 0;
        *ret = strndup(p, (size_t) (q - p));
        return *ret ? 1 : -ENOMEM;
}

int sdkconfig_target(const char *text, size_t len, char **ret) {
        const char *line = text, *end = text + len;

        if (!text)
                return 0;
        while (line < end) {
                const char *nl = memchr(line, '\n', (size_t) (end - line));
                const char *eol = nl ?: end, *p;
                size_t n = (size_t) (eol - line);

                /* sdkconfig: CONFIG_IDF_TARGET="esp32s3" */
                p = startswith_n(line, n, "CONFIG_IDF_TARGET=");
                if (p)
                        return quoted_value(p, eol, ret);
                /* sdkconfig.h: #define CONFIG_IDF_TARGET "esp32s3" */
                p = startswith_n(line, n, "#define CONFIG_IDF_TARGET ");
                if (p)
                        return quoted_value(p, eol, ret);
                line = nl ? nl + 1 : end;
        }
        return 0;
}

int sdkconfig_json_target(const char *text, size_t len, char **ret) {
        _cleanup_(json_value_freep) JsonValue *v = NULL;
        const char *s;
        int r;

        r = json_parse(text, len, &v, NULL);
        if (r < 0)
                return r == -ENOMEM ? r : -EBADMSG;
        s = json_string(json_object_get(v, "IDF_TARGET"));
        if (!s || !*s)
                return 0;
        *ret = strdup(s);
        return *ret ? 1 : -ENOMEM;
}

/* esptool's IMAGE_CHIP_ID per chip (the extended header's chip_id field). */
static const struct {
        uint16_t id;
        const char *name;
} image_chip_ids[] = {
        { 0,  "esp32" },
        { 2,  "esp32s2" },
        { 5,  "esp32c3" },
        { 9,  "esp32s3" },
        { 12, "esp32c2" },
        { 13, "esp32c6" },
        { 16, "esp32h2" },
        { 18, "esp32p4" },
        { 23, "esp32c5" },
};

#define ESP_IMAGE_MAGIC 0xe9

int esp_image_chip(const uint8_t *header, size_t n, const char **ret) {
        uint16_t id;

        /* magic, segment count, flash mode, size/freq, entry (4); then the
         * extended header: wp pin, 3 drive bytes, chip id (LE 16) at 12. */
        if (!header || n < ESP_IMAGE_HEADER_SIZE || header[0] != ESP_IMAGE_MAGIC)
                return 0;
        id = (uint16_t) (header[12] | header[13] << 8);
        for (size_t i = 0; i < ELEMENTSOF(image_chip_ids); i++)
                if (image_chip_ids[i].id == id)
                        return source_chip_canonical(image_chip_ids[i].name, ret) < 0 ? -EOPNOTSUPP : 1;
        return -EOPNOTSUPP;
}

int toolchain_chip(const char *cc_path, const char **ret) {
        const char *base, *p, *dash;
        char name[16];

        if (!cc_path)
                return 0;
        base = strrchr(cc_path, '/');
        base = base ? base + 1 : cc_path;
        p = strstr(base, "xtensa-");
        if (!p)
                return 0;
        p += strlen("xtensa-");
        dash = strchr(p, '-');
        if (!dash || (size_t) (dash - p) >= sizeof(name) || strncmp(dash, "-elf-", 5) != 0)
                return 0;
        memcpy(name, p, (size_t) (dash - p));
        name[dash - p] = '\0';
        return source_chip_canonical(name, ret) < 0 ? 0 : 1;
}
