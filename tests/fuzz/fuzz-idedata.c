/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for PlatformIO's idedata.json parser. */

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "source-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        PioIdedata d = {};
        SourceError err = {};
        int r;

        r = pio_idedata_parse((const char *) data, size, &d, &err);
        if (r < 0) {
                assert(r == -EBADMSG || r == -EINVAL || r == -EOPNOTSUPP || r == -E2BIG ||
                       r == -ENOMEM || r == -ERANGE);
                assert(err.message[0] != 0 && memchr(err.message, 0, sizeof(err.message)));
        } else
                for (size_t i = 0; i < d.n_images; i++)
                        assert(d.images[i].path);
        pio_idedata_done(&d);
        return 0;
}
