/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading esptool JSON stub images: fields, base64 with and without padding,
 * a stub without data, malformed input, and loading <dir>/<chip>.json. */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flash-stub.h"
#include "macro.h"

static const char good[] =
        "{\n    \"entry\": 1077415578,\n    \"text\": \"AAECAwQF/w==\",\n"
        "    \"text_start\": 1077411840,\n    \"data\": \"aGk\",\n"
        "    \"data_start\": 1070165352,\n    \"bss_start\": 1070088192\n}\n";

static void test_parse(void) {
        _cleanup_(flash_stub_freep) FlashStub *s = NULL;
        static const uint8_t text[] = { 0, 1, 2, 3, 4, 5, 0xff };

        assert(flash_stub_parse(good, strlen(good), &s) == 0);
        assert(s->image.entry == 1077415578u);
        assert(s->image.text_start == 1077411840u);
        assert(s->image.data_start == 1070165352u);
        assert(s->image.text_len == sizeof(text) && memcmp(s->image.text, text, sizeof(text)) == 0);
        assert(s->image.data_len == 2 && memcmp(s->image.data, "hi", 2) == 0);
}

static void test_no_data(void) {
        _cleanup_(flash_stub_freep) FlashStub *s = NULL;
        const char *j = "{\"entry\": 1, \"text\": \"AQID\", \"text_start\": 2}";

        assert(flash_stub_parse(j, strlen(j), &s) == 0);
        assert(s->image.text_len == 3 && s->image.data_len == 0 && !s->image.data);
}

static void test_bad(void) {
        static const char *const bad[] = {
                "{}",
                "{\"entry\": 1, \"text_start\": 2}",                          /* no text */
                "{\"entry\": \"x\", \"text\": \"AQID\", \"text_start\": 2}",  /* entry not a number */
                "{\"entry\": 1, \"text\": \"AQ*D\", \"text_start\": 2}",      /* not base64 */
                "{\"entry\": 1, \"text\": \"AQID, \"text_start\": 2",         /* unterminated */
                "{\"entry\": 99999999999, \"text\": \"AQID\", \"text_start\": 2}",
                "{\"entry\": 1, \"text\": \"AQID\", \"text_start\": 2, \"data\": \"AQ\"}", /* no data_start */
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                FlashStub *s = NULL;

                assert(flash_stub_parse(bad[i], strlen(bad[i]), &s) == -EBADMSG);
                assert(!s);
        }
}

static void test_load(void) {
        _cleanup_(flash_stub_freep) FlashStub *s = NULL;
        char dir[] = "/tmp/test-flash-stub.XXXXXX", path[64];
        FILE *f;

        assert(mkdtemp(dir));
        (void) snprintf(path, sizeof(path), "%s/esp32c3.json", dir);
        f = fopen(path, "w");
        assert(f);
        fputs(good, f);
        fclose(f);

        assert(flash_stub_load(dir, "esp32c3", &s) == 0);
        assert(s->image.entry == 1077415578u);
        assert(flash_stub_load(dir, "esp32s3", &s) == -ENOENT);
        assert(flash_stub_load(dir, "../etc", &s) == -EINVAL);
        assert(unlink(path) == 0 && rmdir(dir) == 0);
}

int main(void) {
        test_parse();
        test_no_data();
        test_bad();
        test_load();
        printf("flash-stub: ok\n");
        return 0;
}
