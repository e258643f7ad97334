/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for ESP-IDF's flasher_args.json parser: hostile build
 * metadata is refused with a message or yields regions with real paths. */

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "source-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        SourceImage img = {};
        SourceError err = {};
        int r;

        r = idf_flasher_args_parse((const char *) data, size, "/build", &img, 0, &err);
        if (r < 0) {
                assert(r == -EBADMSG || r == -EINVAL || r == -EOPNOTSUPP || r == -E2BIG ||
                       r == -ENOMEM || r == -ERANGE);
                assert(err.message[0] != 0 && memchr(err.message, 0, sizeof(err.message)));
        } else
                for (size_t i = 0; i < img.n_regions; i++)
                        assert(img.regions[i].path && img.regions[i].path[0] != 0);
        source_image_done(&img);
        return 0;
}
