/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading esptool JSON stub images: fields, base64 with and without padding,
 * a stub without data, nested members skipped, malformed input, the chip's
 * RAM map, bounded reads from an fd, loading <dir>/<chip>.json, and the
 * search path with esptool's layouts. */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flash-stub.h"
#include "macro.h"
#include "string-util.h"

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
                "{\"entry\": 1, \"text\": \"AQID\", \"text_start\": 2} trailing",
                "[\"entry\", 1]",
                "{\"entry\": 1, \"text\": \"AQID\", \"text_start\": 2, \"x\": [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}",
                "{\"entry\": 1, \"text\": \"AQ=D\", \"text_start\": 2}",     /* data after padding */
                "{\"entry\": 1 \"text\": \"AQID\", \"text_start\": 2}",      /* no comma */
                "",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                FlashStub *s = NULL;

                assert(flash_stub_parse(bad[i], strlen(bad[i]), &s) == -EBADMSG);
                assert(!s);
        }
}

/* esptool's ESP32-S3 stub nests plugins with their own "text" and
 * "text_start": only the top-level members count. */
static void test_nested(void) {
        _cleanup_(flash_stub_freep) FlashStub *s = NULL;
        const char *j = "{\"plugins\": {\"nand\": {\"text\": \"/w==\", \"text_start\": 7, "
                        "\"handlers\": {\"0xD5\": 1728}}}, \"list\": [1, \"a\", true, null, {}],"
                        " \"entry\": 1, \"text\": \"AQID\", \"text_start\": 2}";

        assert(flash_stub_parse(j, strlen(j), &s) == 0);
        assert(s->image.text_start == 2 && s->image.text_len == 3 && s->image.text[0] == 1);
}

static void test_chip_ram(void) {
        _cleanup_(flash_stub_freep) FlashStub *s = NULL;
        /* esptool-js's ESP32-C3 stub's addresses, text of 3 bytes */
        const char *fit = "{\"entry\": 1077411841, \"text\": \"AQID\", \"text_start\": 1077411840,"
                          " \"data\": \"aGk\", \"data_start\": 1070165352}";

        assert(flash_stub_parse(fit, strlen(fit), &s) == 0);
        assert(flash_stub_check_chip(s, ESP_CHIP_ESP32C3) == 0);
        assert(flash_stub_check_chip(s, ESP_CHIP_ESP32) == -ERANGE);    /* ESP32's IRAM is elsewhere */
        s->image.entry = s->image.text_start + 3;                       /* past its text */
        assert(flash_stub_check_chip(s, ESP_CHIP_ESP32C3) == -ERANGE);
        s->image.entry = s->image.text_start;
        s->image.data_start = 0x3fce0000 - 1;                           /* data runs off DRAM */
        assert(flash_stub_check_chip(s, ESP_CHIP_ESP32C3) == -ERANGE);
}

static void write_file(const char *path, const char *text, size_t n) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert(fd >= 0);
        assert(write(fd, text, n) == (ssize_t) n);
        close(fd);
}

static void test_read_fd(void) {
        char path[] = "/tmp/test-flash-stub-fd.XXXXXX";
        _cleanup_free_ char *big = NULL, *text = NULL;
        int fd, p[2];
        size_t len;

        fd = mkstemp(path);
        assert(fd >= 0);
        write_file(path, good, strlen(good));
        assert(flash_stub_read_fd(fd, &text, &len) == 0);
        assert(len == strlen(good) && streq(text, good));
        big = malloc(FLASH_STUB_FILE_MAX + 1);
        assert(big);
        memset(big, ' ', FLASH_STUB_FILE_MAX + 1);
        write_file(path, big, FLASH_STUB_FILE_MAX + 1);
        free(text);
        text = NULL;
        assert(flash_stub_read_fd(fd, &text, &len) == -EFBIG);
        close(fd);
        unlink(path);

        assert(pipe(p) == 0);
        assert(flash_stub_read_fd(p[0], &text, &len) == -ESPIPE);
        close(p[0]);
        close(p[1]);
}

static void test_find(void) {
        _cleanup_(flash_stub_freep) FlashStub *s = NULL;
        char root[] = "/tmp/test-flash-stub-find.XXXXXX", path[256], search[600];
        _cleanup_free_ char *found = NULL;
        FILE *f;

        assert(mkdtemp(root));
        /* an esptool 5 tree under a versioned Python directory, an esptool 4 one elsewhere */
        (void) snprintf(path, sizeof(path), "%s/python3.11", root);
        assert(mkdir(path, 0755) == 0);
        (void) snprintf(path, sizeof(path), "%s/python3.11/1", root);
        assert(mkdir(path, 0755) == 0);
        (void) snprintf(path, sizeof(path), "%s/python3.11/1/esp32c3.json", root);
        f = fopen(path, "w");
        assert(f);
        fputs(good, f);
        fclose(f);
        (void) snprintf(path, sizeof(path), "%s/old", root);
        assert(mkdir(path, 0755) == 0);
        (void) snprintf(path, sizeof(path), "%s/old/stub_flasher_32s3.json", root);
        f = fopen(path, "w");
        assert(f);
        fputs(good, f);
        fclose(f);
        (void) snprintf(path, sizeof(path), "%s/old/esp32.json", root);
        f = fopen(path, "w");
        assert(f);
        fputs("{not json", f);
        fclose(f);

        (void) snprintf(search, sizeof(search), "relative/ignored:%s/missing:%s/python3*:%s/old", root, root, root);
        assert(flash_stub_find(search, "esp32c3", &s, &found) == 0);
        assert(s->image.entry == 1077415578u);
        (void) snprintf(path, sizeof(path), "%s/python3.11/1/esp32c3.json", root);
        assert(streq(found, path));
        s = flash_stub_free(s);
        assert(flash_stub_find(search, "esp32s3", &s, NULL) == 0);
        s = flash_stub_free(s);
        assert(flash_stub_find(search, "esp32", &s, NULL) == -EBADMSG);  /* only a broken one */
        assert(flash_stub_find(search, "esp32h2", &s, NULL) == -ENOENT);
        assert(flash_stub_find("", "esp32c3", &s, NULL) == -ENOENT);
        assert(flash_stub_find(search, "../x", &s, NULL) == -EINVAL);

        (void) snprintf(path, sizeof(path), "rm -rf '%s'", root);
        assert(system(path) == 0);
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
        test_nested();
        test_chip_ram();
        test_read_fd();
        test_find();
        test_load();
        printf("flash-stub: ok\n");
        return 0;
}
