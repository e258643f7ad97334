/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for fbuildctl's smaller build-directory parsers: sdkconfig
 * and sdkconfig.h (CONFIG_IDF_TARGET), sdkconfig.json, ESP image headers,
 * toolchain paths and OFFSET / OFFSET=FILE arguments. */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "source-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *text = (const char *) data, *chip, *file;
        char *target = NULL, *s;
        uint32_t offset;
        int r;

        r = sdkconfig_target(text, size, &target);
        assert(r == 0 || r == 1 || r == -ENOMEM);
        assert((r == 1) == !!target);
        free(target);
        target = NULL;

        r = sdkconfig_json_target(text, size, &target);
        assert(r == 0 || r == 1 || r == -EBADMSG || r == -ENOMEM);
        assert((r == 1) == !!target);
        free(target);

        r = esp_image_chip(data, size, &chip);
        assert(r == 0 || r == 1 || r == -EOPNOTSUPP);
        if (r == 1)
                assert(chip && chip[0] != 0);

        /* The string parsers take C strings: stop at the first NUL. */
        s = strndup(text, size);
        assert(s);
        r = toolchain_chip(s, &chip);
        assert(r == 0 || r == 1);
        r = source_parse_offset(s, &offset);
        assert(r == 0 || r == -EINVAL || r == -ERANGE);
        r = source_parse_pair(s, &offset, &file);
        assert(r == 0 || r == -EINVAL || r == -ERANGE);
        if (r == 0)
                assert(file >= s && file < s + strlen(s) && file[0] != 0);
        r = source_chip_canonical(s, &chip);
        assert(r == 0 || r == -EOPNOTSUPP);
        free(s);
        return 0;
}
