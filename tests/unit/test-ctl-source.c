/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fbuildctl's source parsers: offsets and OFFSET=FILE pairs, ESP-IDF's
 * flasher_args.json, PlatformIO's idedata.json and fixed layout, sdkconfig,
 * image headers and toolchain names as chip clues, the region set's overlap
 * check; then source_load() on small trees in a temporary directory; and a
 * mutation loop over the metadata parsers that must never crash. */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "source-parse.h"
#include "source-stub.h"
#include "source.h"

/* What `idf.py build` writes for an ESP32 hello_world (ESP-IDF 5.x). */
static const char flasher_args[] =
        "{\n"
        "    \"write_flash_args\" : [ \"--flash_mode\", \"dio\",\n"
        "                           \"--flash_size\", \"2MB\",\n"
        "                           \"--flash_freq\", \"40m\" ],\n"
        "    \"flash_settings\" : {\n"
        "        \"flash_mode\": \"dio\",\n"
        "        \"flash_size\": \"2MB\",\n"
        "        \"flash_freq\": \"40m\"\n"
        "    },\n"
        "    \"flash_files\" : {\n"
        "        \"0x1000\" : \"bootloader/bootloader.bin\",\n"
        "        \"0x10000\" : \"hello_world.bin\",\n"
        "        \"0x8000\" : \"partition_table/partition-table.bin\"\n"
        "    },\n"
        "    \"bootloader\" : { \"offset\" : \"0x1000\", \"file\" : \"bootloader/bootloader.bin\", \"encrypted\" : \"false\" },\n"
        "    \"app\" : { \"offset\" : \"0x10000\", \"file\" : \"hello_world.bin\", \"encrypted\" : \"false\" },\n"
        "    \"partition-table\" : { \"offset\" : \"0x8000\", \"file\" : \"partition_table/partition-table.bin\", \"encrypted\" : \"false\" },\n"
        "    \"extra_esptool_args\" : {\n"
        "        \"after\"  : \"hard_reset\",\n"
        "        \"before\" : \"default_reset\",\n"
        "        \"stub\"   : true,\n"
        "        \"chip\"   : \"esp32\"\n"
        "    }\n"
        "}\n";

/* What `pio run` leaves in .pio/build/esp32dev/idedata.json (trimmed). */
static const char idedata[] =
        "{\"build_type\": \"release\", \"env_name\": \"esp32dev\", \"defines\": [\"ESP32\"],"
        " \"cc_path\": \"/home/u/.platformio/packages/toolchain-xtensa-esp32/bin/xtensa-esp32-elf-gcc\","
        " \"prog_path\": \"/p/.pio/build/esp32dev/firmware.elf\", \"svd_path\": null,"
        " \"extra\": {\"flash_images\": ["
        "{\"offset\": \"0x1000\", \"path\": \"/p/.pio/build/esp32dev/bootloader.bin\"},"
        " {\"offset\": \"0x8000\", \"path\": \"/p/.pio/build/esp32dev/partitions.bin\"},"
        " {\"offset\": \"0xe000\", \"path\": \"/home/u/.platformio/packages/framework-arduinoespressif32/tools/partitions/boot_app0.bin\"}],"
        " \"application_offset\": \"0x10000\"}}";

static char *replace(const char *text, const char *from, const char *to) {
        const char *at = strstr(text, from);
        char *out;

        assert(at);
        assert(asprintf(&out, "%.*s%s%s", (int) (at - text), text, to, at + strlen(from)) >= 0);
        return out;
}

static void test_offsets(void) {
        static const struct {
                const char *in;
                int r;
                uint32_t v;
        } vectors[] = {
                { "0x1000", 0, 0x1000 },
                { "0X10000", 0, 0x10000 },
                { "0xE000", 0, 0xe000 },
                { "0x00001000", 0, 0x1000 },
                { "4096", 0, 4096 },
                { "0", 0, 0 },
                { "0x0", 0, 0 },
                { "0xffffffff", 0, 0xffffffffu },
                { "4294967295", 0, 0xffffffffu },
                { "0x100000000", -ERANGE, 0 },
                { "4294967296", -ERANGE, 0 },
                { "0x1ffffffffffffffffffff", -ERANGE, 0 },
                { "", -EINVAL, 0 },
                { "0x", -EINVAL, 0 },
                { "x10", -EINVAL, 0 },
                { "010", -EINVAL, 0 },
                { "-1", -EINVAL, 0 },
                { "+1", -EINVAL, 0 },
                { " 1", -EINVAL, 0 },
                { "1 ", -EINVAL, 0 },
                { "0x1g", -EINVAL, 0 },
                { "1k", -EINVAL, 0 },
                { "12a", -EINVAL, 0 },
        };

        for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
                uint32_t v = 0xdeadbeef;
                int r = source_parse_offset(vectors[i].in, &v);

                if (r != vectors[i].r)
                        fprintf(stderr, "offset '%s': %d\n", vectors[i].in, r);
                assert(r == vectors[i].r);
                assert(v == (r == 0 ? vectors[i].v : 0xdeadbeef));
        }
        assert(source_parse_offset(NULL, NULL) == -EINVAL);
}

static void test_pairs(void) {
        const char *file = NULL;
        uint32_t off = 0;

        assert(source_parse_pair("0x10000=build/app.bin", &off, &file) == 0);
        assert(off == 0x10000 && strcmp(file, "build/app.bin") == 0);
        assert(source_parse_pair("4096=a=b.bin", &off, &file) == 0);     /* '=' in a name */
        assert(off == 4096 && strcmp(file, "a=b.bin") == 0);
        assert(source_parse_pair("0x1000=", &off, &file) == -EINVAL);
        assert(source_parse_pair("=app.bin", &off, &file) == -EINVAL);
        assert(source_parse_pair("app.bin", &off, &file) == -EINVAL);
        assert(source_parse_pair("build=dir", &off, &file) == -EINVAL);
        assert(source_parse_pair("0x100000000=a", &off, &file) == -ERANGE);
        assert(source_parse_pair(NULL, &off, &file) == -EINVAL);
}

static void test_chips(void) {
        const char *c = NULL;

        assert(source_chip_canonical("ESP32-S3", &c) == 0 && strcmp(c, "esp32s3") == 0);
        assert(source_chip_canonical("esp32c3", &c) == 0 && strcmp(c, "esp32c3") == 0);
        assert(source_chip_canonical("esp8266", &c) == -EOPNOTSUPP);
        assert(source_chip_canonical("", &c) == -EOPNOTSUPP);
        assert(source_chip_canonical(NULL, &c) == -EOPNOTSUPP);

        assert(source_chip_bootloader_offset("esp32") == 0x1000);
        assert(source_chip_bootloader_offset("esp32s2") == 0x1000);
        assert(source_chip_bootloader_offset("esp32s3") == 0x0);
        assert(source_chip_bootloader_offset("esp32c3") == 0x0);
        assert(source_chip_bootloader_offset("esp32c6") == 0x0);
        assert(source_chip_bootloader_offset("esp32p4") == 0x2000);
        assert(source_chip_bootloader_offset("esp32c5") == 0x2000);

        /* Image headers: magic 0xe9 and the chip id at byte 12. */
        static const struct {
                uint16_t id;
                const char *chip;
        } ids[] = { { 0, "esp32" }, { 2, "esp32s2" }, { 5, "esp32c3" }, { 9, "esp32s3" },
                    { 12, "esp32c2" }, { 13, "esp32c6" }, { 16, "esp32h2" }, { 18, "esp32p4" },
                    { 23, "esp32c5" } };
        uint8_t h[ESP_IMAGE_HEADER_SIZE] = { 0xe9, 3, 2, 0x20 };
        for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
                h[12] = (uint8_t) ids[i].id;
                h[13] = (uint8_t) (ids[i].id >> 8);
                assert(esp_image_chip(h, sizeof(h), &c) == 1 && strcmp(c, ids[i].chip) == 0);
        }
        h[12] = 200;
        assert(esp_image_chip(h, sizeof(h), &c) == -EOPNOTSUPP);
        h[12] = 9;
        assert(esp_image_chip(h, sizeof(h) - 1, &c) == 0);              /* short read */
        h[0] = 0xff;
        assert(esp_image_chip(h, sizeof(h), &c) == 0);                  /* erased flash, not an image */
        assert(esp_image_chip(NULL, 0, &c) == 0);

        /* Toolchains: the Xtensa ones name their chip, RISC-V ones do not. */
        assert(toolchain_chip("/x/toolchain-xtensa-esp32s3/bin/xtensa-esp32s3-elf-gcc", &c) == 1 &&
               strcmp(c, "esp32s3") == 0);
        assert(toolchain_chip("xtensa-esp32-elf-gcc", &c) == 1 && strcmp(c, "esp32") == 0);
        assert(toolchain_chip("/x/bin/riscv32-esp-elf-gcc", &c) == 0);
        assert(toolchain_chip("/x/xtensa-esp32s3-elf/bin/gcc", &c) == 0);
        assert(toolchain_chip("/x/bin/xtensa-lx106-elf-gcc", &c) == 0);
        assert(toolchain_chip("xtensa-esp32averyveryverylongname-elf-gcc", &c) == 0);
        assert(toolchain_chip(NULL, &c) == 0);

        /* sdkconfig and its generated forms. */
        char *t = NULL;
        const char *sdk = "#\n# Automatically generated file. DO NOT EDIT.\n#\nCONFIG_IDF_TARGET_ARCH_XTENSA=y\n"
                          "CONFIG_IDF_TARGET=\"esp32s3\"\nCONFIG_IDF_TARGET_ESP32S3=y\n";
        assert(sdkconfig_target(sdk, strlen(sdk), &t) == 1 && strcmp(t, "esp32s3") == 0);
        free(t);
        const char *hdr = "/* generated */\n#define CONFIG_IDF_TARGET_ESP32 1\n#define CONFIG_IDF_TARGET \"esp32\"\n";
        assert(sdkconfig_target(hdr, strlen(hdr), &t) == 1 && strcmp(t, "esp32") == 0);
        free(t);
        assert(sdkconfig_target("CONFIG_IDF_TARGET=esp32\n", 24, &t) == 0);       /* unquoted */
        assert(sdkconfig_target("CONFIG_IDF_TARGET=\"esp32", 24, &t) == 0);       /* unterminated */
        assert(sdkconfig_target("CONFIG_IDF_TARGET=\"\"\n", 21, &t) == 0);
        assert(sdkconfig_target("CONFIG_IDF_TARGET=\"a\\\"b\"\n", 26, &t) == 0);
        assert(sdkconfig_target("# CONFIG_IDF_TARGET=\"esp32\"\n", 29, &t) == 0);
        assert(sdkconfig_target("", 0, &t) == 0);
        /* The line ends where len says, even without a newline. */
        assert(sdkconfig_target("CONFIG_IDF_TARGET=\"esp32c3\"XXXX", 27, &t) == 1 && strcmp(t, "esp32c3") == 0);
        free(t);
        const char *js = "{\"IDF_TARGET\": \"esp32c6\", \"IDF_TARGET_ESP32C6\": true}";
        assert(sdkconfig_json_target(js, strlen(js), &t) == 1 && strcmp(t, "esp32c6") == 0);
        free(t);
        assert(sdkconfig_json_target("{}", 2, &t) == 0);
        assert(sdkconfig_json_target("{\"IDF_TARGET\": 3}", 17, &t) == 0);
        assert(sdkconfig_json_target("{", 1, &t) == -EBADMSG);
}

static void test_flasher_args(void) {
        SourceImage img = {};
        SourceError err = {};
        char *t;

        assert(idf_flasher_args_parse(flasher_args, strlen(flasher_args), "/p/build", &img, 0, &err) == 0);
        assert(img.n_regions == 3);
        /* In file order; names from the named entries; paths joined to the build dir. */
        assert(img.regions[0].offset == 0x1000 && strcmp(img.regions[0].name, "bootloader") == 0);
        assert(strcmp(img.regions[0].path, "/p/build/bootloader/bootloader.bin") == 0);
        assert(img.regions[1].offset == 0x10000 && strcmp(img.regions[1].name, "app") == 0);
        assert(img.regions[2].offset == 0x8000 && strcmp(img.regions[2].name, "partition-table") == 0);
        assert(strcmp(img.chip, "esp32") == 0 && strcmp(img.chip_origin, "flasher_args.json") == 0);
        assert(!img.before && !img.after);          /* esptool's defaults are the service's */
        assert(strcmp(img.flash_mode, "dio") == 0 && strcmp(img.flash_size, "2MB") == 0 &&
               strcmp(img.flash_freq, "40m") == 0);
        source_image_done(&img);

        /* esptool 5 spellings and non-default resets. */
        t = replace(flasher_args, "\"default_reset\"", "\"no-reset\"");
        char *t2 = replace(t, "\"hard_reset\"", "\"no_reset\"");
        assert(idf_flasher_args_parse(t2, strlen(t2), "/b", &img, 0, &err) == 0);
        assert(strcmp(img.before, "none") == 0 && strcmp(img.after, "none") == 0);
        source_image_done(&img);
        free(t);
        free(t2);
        t = replace(flasher_args, "\"default_reset\"", "\"usb_reset\"");
        assert(idf_flasher_args_parse(t, strlen(t), "/b", &img, 0, &err) == 0);
        assert(strcmp(img.before, "usb") == 0 && !img.after);
        source_image_done(&img);
        free(t);

        /* Refusals, each with its errno and a message naming the file. */
        static const struct {
                const char *from, *to;
                int r;
        } bad[] = {
                { "\"0x8000\" : \"partition", "\"0x80zz\" : \"partition", -EBADMSG },
                { "\"0x8000\" : \"partition", "\"0x100000000\" : \"partition", -EBADMSG },
                { "\"hello_world.bin\",\n", "17,\n", -EBADMSG },
                { "\"hello_world.bin\",\n", "\"\",\n", -EBADMSG },
                { "\"flash_files\" : {", "\"flash_filez\" : {", -EBADMSG },
                { "\"chip\"   : \"esp32\"", "\"chip\"   : \"esp8266\"", -EOPNOTSUPP },
                { "\"chip\"   : \"esp32\"", "\"chip\"   : 32", -EBADMSG },
                { "\"before\" : \"default_reset\"", "\"before\" : \"sideways\"", -EINVAL },
                { "\"app\" : { \"offset\" : \"0x10000\", \"file\" : \"hello_world.bin\", \"encrypted\" : \"false\" }",
                  "\"app\" : { \"offset\" : \"0x10000\", \"file\" : \"hello_world.bin\", \"encrypted\" : \"true\" }",
                  -EOPNOTSUPP },
                { "\"encrypted\" : \"false\" },\n    \"app\"", "\"encrypted\" : true },\n    \"app\"", -EOPNOTSUPP },
                { "\"extra_esptool_args\" : {", "\"extra_esptool_args\" : [], \"x\" : {", -EBADMSG },
                { "\"flash_settings\" : {", "\"flash_settings\" : 1, \"y\" : {", -EBADMSG },
                { "\"stub\"   : true,", "\"stub\"   : true,,", -EBADMSG },
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                t = replace(flasher_args, bad[i].from, bad[i].to);
                err.message[0] = '\0';
                int r = idf_flasher_args_parse(t, strlen(t), "/b", &img, 0, &err);
                if (r != bad[i].r)
                        fprintf(stderr, "flasher_args case %zu: %d (%s)\n", i, r, err.message);
                assert(r == bad[i].r);
                assert(strstr(err.message, "flasher_args.json"));
                source_image_done(&img);
                free(t);
        }
        assert(idf_flasher_args_parse("[]", 2, "/b", &img, 0, &err) == -EBADMSG);
        assert(idf_flasher_args_parse("{\"flash_files\":{}}", 18, "/b", &img, 0, &err) == -EINVAL);

        /* Absolute paths stay; an older file without a chip leaves it unknown. */
        const char *old = "{\"flash_files\":{\"0x0\":\"/abs/bl.bin\",\"0x10000\":\"app.bin\"}}";
        assert(idf_flasher_args_parse(old, strlen(old), "/b", &img, 0, &err) == 0);
        assert(strcmp(img.regions[0].path, "/abs/bl.bin") == 0 && !img.regions[0].name);
        assert(strcmp(img.regions[1].path, "/b/app.bin") == 0);
        assert(!img.chip);
        source_image_done(&img);

        /* More files than any build has. */
        char *many = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&many, &n);
        fputs("{\"flash_files\":{", f);
        for (int i = 0; i <= SOURCE_REGIONS_MAX; i++)
                fprintf(f, "%s\"0x%x\":\"f%d.bin\"", i ? "," : "", i * 0x1000, i);
        fputs("}}", f);
        fclose(f);
        assert(idf_flasher_args_parse(many, n, "/b", &img, 0, &err) == -E2BIG);
        source_image_done(&img);
        free(many);
}

static void test_idedata(void) {
        PioIdedata d = {};
        SourceError err = {};
        char *t;

        assert(pio_idedata_parse(idedata, strlen(idedata), &d, &err) == 0);
        assert(d.n_images == 3);
        assert(d.images[0].offset == 0x1000 && strstr(d.images[0].path, "/bootloader.bin"));
        assert(d.images[2].offset == 0xe000 && strstr(d.images[2].path, "tools/partitions/boot_app0.bin"));
        assert(d.has_application_offset && d.application_offset == 0x10000);
        assert(strcmp(d.program, "firmware") == 0);
        assert(strcmp(d.chip, "esp32") == 0);
        pio_idedata_done(&d);

        /* A merged-firmware (debug) build's 0x0 is not the app's place. */
        t = replace(idedata, "\"application_offset\": \"0x10000\"",
                    "\"application_offset\": \"0x0\", \"merged_firmware\": true");
        assert(pio_idedata_parse(t, strlen(t), &d, &err) == 0);
        assert(!d.has_application_offset);
        pio_idedata_done(&d);
        free(t);

        /* A custom PROGNAME; a RISC-V toolchain tells no chip. */
        t = replace(idedata, "firmware.elf", "blinky.elf");
        char *t2 = replace(t, "xtensa-esp32-elf-gcc", "riscv32-esp-elf-gcc");
        assert(pio_idedata_parse(t2, strlen(t2), &d, &err) == 0);
        assert(strcmp(d.program, "blinky") == 0 && !d.chip);
        pio_idedata_done(&d);
        free(t);
        free(t2);

        static const struct {
                const char *from, *to;
                int r;
        } bad[] = {
                { "\"offset\": \"0x8000\"", "\"offset\": 32768", -EBADMSG },
                { "\"offset\": \"0x8000\"", "\"offset\": \"0x8000 \"", -EBADMSG },
                { "\"path\": \"/p/.pio/build/esp32dev/partitions.bin\"", "\"path\": \"\"", -EBADMSG },
                { "\"flash_images\": [", "\"flash_images\": {\"a\":[", -EBADMSG },
                { "\"extra\": {", "\"extra\": [{", -EBADMSG },
                { "\"application_offset\": \"0x10000\"", "\"application_offset\": 65536", -EBADMSG },
                { "}}", "}", -EBADMSG },
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                t = replace(idedata, bad[i].from, bad[i].to);
                int r = pio_idedata_parse(t, strlen(t), &d, &err);
                if (r != bad[i].r)
                        fprintf(stderr, "idedata case %zu: %d (%s)\n", i, r, err.message);
                assert(r == bad[i].r);
                assert(d.n_images == 0 && !d.images && !d.program);     /* untouched on failure */
                free(t);
        }
        /* No extra at all: nothing placed, nothing refused. */
        assert(pio_idedata_parse("{\"env_name\":\"x\"}", 16, &d, &err) == 0);
        assert(d.n_images == 0 && !d.has_application_offset);
        pio_idedata_done(&d);
}

static void test_pio_layout(void) {
        SourceImage img = {};
        SourceError err = {};

        assert(pio_layout_add(&img, 0, "/e", PIO_FILE_BOOTLOADER | PIO_FILE_PARTITIONS | PIO_FILE_BOOT_APP0 |
                              PIO_FILE_FIRMWARE, NULL, PIO_APP_OFFSET, &err) == 0);
        assert(img.n_regions == 4);
        assert(img.regions[0].offset == SOURCE_OFFSET_BOOTLOADER && strcmp(img.regions[0].path, "/e/bootloader.bin") == 0);
        assert(img.regions[1].offset == 0x8000 && strcmp(img.regions[1].name, "partitions") == 0);
        assert(img.regions[2].offset == 0xe000 && strcmp(img.regions[2].name, "boot_app0") == 0);
        assert(img.regions[3].offset == 0x10000 && strcmp(img.regions[3].path, "/e/firmware.bin") == 0);
        assert(source_image_needs_chip(&img));
        assert(source_image_place_bootloader(&img, "ESP32-S3", &err) == 0);
        assert(img.regions[0].offset == 0x0 && !source_image_needs_chip(&img));
        source_image_done(&img);

        assert(pio_layout_add(&img, 0, "/e", PIO_FILE_BOOTLOADER | PIO_FILE_FIRMWARE, "app.bin", 0x20000, &err) == 0);
        assert(source_image_place_bootloader(&img, "esp32", &err) == 0);
        assert(img.regions[0].offset == 0x1000);
        assert(img.regions[1].offset == 0x20000 && strcmp(img.regions[1].path, "/e/app.bin") == 0);
        assert(source_image_place_bootloader(&img, "esp8266", &err) == -EOPNOTSUPP);
        source_image_done(&img);

        /* Only the app: no chip needed at all. */
        assert(pio_layout_add(&img, 0, "/e", PIO_FILE_FIRMWARE, NULL, PIO_APP_OFFSET, &err) == 0);
        assert(img.n_regions == 1 && !source_image_needs_chip(&img));
        source_image_done(&img);

        assert(pio_layout_add(&img, 0, "/e", PIO_FILE_BOOTLOADER | PIO_FILE_PARTITIONS, NULL, PIO_APP_OFFSET,
                              &err) == -ENOENT);
        assert(strstr(err.message, "firmware.bin"));
        source_image_done(&img);
}

static void test_image_checks(void) {
        SourceImage img = {};
        SourceError err = {};

        assert(source_image_set_chip(&img, "ESP32", "a", &err) == 0);
        assert(source_image_set_chip(&img, "esp32", "b", &err) == 0);           /* same chip, any spelling */
        assert(source_image_set_chip(&img, "esp32s3", "c", &err) == -EXDEV);
        assert(strstr(err.message, "a is for esp32") && strstr(err.message, "c is for esp32s3"));
        assert(source_image_set_chip(&img, "esp9000", "d", &err) == -EOPNOTSUPP);
        source_image_done(&img);

        /* Sorted by offset; touching regions are fine; overlaps are named. */
        assert(source_image_add_region(&img, 0, 0x10000, "app.bin", "app") == 0);
        assert(source_image_add_region(&img, 0, 0x1000, "bl.bin", "bootloader") == 0);
        assert(source_image_add_region(&img, 0, 0x8000, "pt.bin", NULL) == 0);
        img.regions[0].size = 0x30000;
        img.regions[1].size = 0x7000;
        img.regions[2].size = 0xc00;
        assert(source_image_sort_and_check(&img, &err) == 0);
        assert(img.regions[0].offset == 0x1000 && img.regions[0].size == 0x7000);
        assert(img.regions[1].offset == 0x8000 && img.regions[1].size == 0xc00);
        assert(img.regions[2].offset == 0x10000 && img.regions[2].size == 0x30000);

        img.regions[0].size = 0x7001;
        assert(source_image_sort_and_check(&img, &err) == -EINVAL);
        assert(strstr(err.message, "bootloader (bl.bin)") && strstr(err.message, "pt.bin (pt.bin)"));
        img.regions[0].size = 0x7000;

        /* Two empty files at one offset still collide. */
        assert(source_image_add_region(&img, 0, 0x8000, "empty.bin", NULL) == 0);
        img.regions[3].size = 0;
        img.regions[1].size = 0;
        assert(source_image_sort_and_check(&img, &err) == -EINVAL);
        source_image_done(&img);

        assert(source_image_add_region(&img, 0, 0xfffff000, "end.bin", NULL) == 0);
        img.regions[0].size = 0x1000;
        assert(source_image_sort_and_check(&img, &err) == 0);
        img.regions[0].size = 0x1001;
        assert(source_image_sort_and_check(&img, &err) == -ERANGE);
        source_image_done(&img);

        for (int i = 0; i < SOURCE_REGIONS_MAX; i++)
                assert(source_image_add_region(&img, 0, (uint64_t) i * 0x1000, "f", NULL) == 0);
        assert(source_image_add_region(&img, 0, 0x1000000, "f", NULL) == -E2BIG);
        source_image_done(&img);

        assert(strcmp(source_format_to_string(SOURCE_FORMAT_PLATFORMIO), "platformio") == 0);
        assert(!source_format_to_string(_SOURCE_FORMAT_MAX));
}

/* ---- source_load on real directories --------------------------------------------------- */

static void write_file(const char *dir, const char *name, const void *data, size_t n) {
        char *path, *slash;
        int fd;

        assert(asprintf(&path, "%s/%s", dir, name) >= 0);
        for (slash = strchr(path + strlen(dir) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
                *slash = '\0';
                (void) mkdir(path, 0755);
                *slash = '/';
        }
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert(fd >= 0);
        assert(write(fd, data, n) == (ssize_t) n);
        close(fd);
        free(path);
}

static void write_text(const char *dir, const char *name, const char *text) {
        write_file(dir, name, text, strlen(text));
}

static void test_load(void) {
        char tmpl[] = "/tmp/test-ctl-source.XXXXXX", *root = mkdtemp(tmpl), *p;
        uint8_t header[ESP_IMAGE_HEADER_SIZE] = { 0xe9, 3, 2, 0x20 };
        SourceImage img = {};
        SourceError err = {};

        assert(root);

        /* ESP-IDF: the build dir, the project dir and the file name the same thing. */
        write_text(root, "idf/build/flasher_args.json", flasher_args);
        assert(asprintf(&p, "%s/idf/build", root) >= 0);
        assert(source_load(&img, p, &err) == 0);
        assert(img.n_regions == 3 && img.n_sources == 1 && img.sources[0].format == SOURCE_FORMAT_ESP_IDF);
        assert(strcmp(img.sources[0].directory, p) == 0);
        free(p);
        assert(asprintf(&p, "%s/idf", root) >= 0);
        assert(source_load(&img, p, &err) == 0);
        free(p);
        assert(asprintf(&p, "%s/idf/build/flasher_args.json", root) >= 0);
        assert(source_load(&img, p, &err) == 0);
        free(p);
        assert(img.n_regions == 9 && strcmp(img.chip, "esp32") == 0);
        source_image_done(&img);

        /* An older flasher_args.json without a chip: sdkconfig.json says it. */
        write_text(root, "old/build/flasher_args.json", "{\"flash_files\":{\"0x0\":\"bootloader/bootloader.bin\"}}");
        write_text(root, "old/build/config/sdkconfig.json", "{\"IDF_TARGET\": \"esp32c3\"}");
        assert(asprintf(&p, "%s/old", root) >= 0);
        assert(source_load(&img, p, &err) == 0);
        assert(strcmp(img.chip, "esp32c3") == 0 && strstr(img.chip_origin, "sdkconfig.json"));
        free(p);
        source_image_done(&img);

        /* PlatformIO without idedata.json: the fixed layout, the chip from the
         * bootloader's header, the project dir naming its only environment. */
        header[12] = 9;
        write_file(root, "pio/.pio/build/s3/bootloader.bin", header, sizeof(header));
        write_text(root, "pio/.pio/build/s3/partitions.bin", "pt");
        write_text(root, "pio/.pio/build/s3/firmware.bin", "app");
        write_text(root, "pio/platformio.ini", "[env:s3]\n");
        assert(asprintf(&p, "%s/pio", root) >= 0);
        assert(source_load(&img, p, &err) == 0);
        assert(img.n_regions == 3 && img.sources[0].format == SOURCE_FORMAT_PLATFORMIO);
        assert(strcmp(img.chip, "esp32s3") == 0);
        assert(source_image_place_bootloader(&img, img.chip, &err) == 0 && img.regions[0].offset == 0);
        source_image_done(&img);
        /* A second environment: the user must choose. */
        write_text(root, "pio/.pio/build/other/firmware.bin", "app");
        assert(source_load(&img, p, &err) == -EINVAL);
        assert(strstr(err.message, "2 environments"));
        source_image_done(&img);
        free(p);

        /* idedata.json whose images moved: the same names in the env dir. */
        write_text(root, "moved/idedata.json", idedata);
        write_text(root, "moved/bootloader.bin", "b");
        write_text(root, "moved/partitions.bin", "p");
        write_text(root, "moved/firmware.bin", "f");
        assert(asprintf(&p, "%s/moved", root) >= 0);
        assert(source_load(&img, p, &err) == -ENOENT);          /* boot_app0.bin is nowhere */
        assert(strstr(err.message, "boot_app0.bin"));
        source_image_done(&img);
        write_text(root, "moved/boot_app0.bin", "0");
        assert(source_load(&img, p, &err) == 0);
        assert(img.n_regions == 4 && img.regions[2].offset == 0xe000 && strcmp(img.regions[2].name, "boot_app0") == 0);
        assert(img.regions[3].offset == 0x10000 && strcmp(img.regions[3].name, "app") == 0);
        assert(strcmp(img.chip, "esp32") == 0);                 /* from cc_path */
        source_image_done(&img);
        free(p);

        /* Pairs, bare files, nonsense. */
        assert(source_load(&img, "0x10000=app.bin", &err) == 0);
        assert(img.n_regions == 1 && strcmp(img.regions[0].path, "app.bin") == 0 && !img.chip);
        source_image_done(&img);
        assert(asprintf(&p, "%s/moved/firmware.bin", root) >= 0);
        assert(source_load(&img, p, &err) == -EINVAL && strstr(err.message, "OFFSET="));
        free(p);
        assert(source_load(&img, "/nonexistent/dir", &err) == -ENOENT);
        assert(source_load(&img, "0x100000000=a.bin", &err) == -ERANGE);
        assert(source_load(&img, root, &err) == -ENOENT && strstr(err.message, "not a build directory"));
        source_image_done(&img);

        /* A FIFO where metadata should be must not hang the client. */
        assert(asprintf(&p, "%s/fifo/flasher_args.json", root) >= 0);
        write_text(root, "fifo/x", "");
        assert(mkfifo(p, 0644) == 0);
        free(p);
        assert(asprintf(&p, "%s/fifo", root) >= 0);
        assert(source_load(&img, p, &err) == -ENOENT);          /* not a regular file: not an IDF dir */
        free(p);
        source_image_done(&img);

        assert(asprintf(&p, "rm -rf '%s'", root) >= 0);
        assert(system(p) == 0);
        free(p);
}

static void test_absolute_path(void) {
        char *p = NULL, *cwd = getcwd(NULL, 0), *want;

        assert(source_absolute_path("/a/b/", &p) == 0 && strcmp(p, "/a/b") == 0);
        free(p);
        assert(source_absolute_path("/", &p) == 0 && strcmp(p, "/") == 0);
        free(p);
        assert(source_absolute_path("./x", &p) == 0);
        assert(asprintf(&want, "%s/x", strcmp(cwd, "/") ? cwd : "") >= 0);
        assert(strcmp(p, want) == 0);
        free(want);
        free(p);
        assert(source_absolute_path(".", &p) == 0 && strcmp(p, cwd) == 0);
        free(p);
        free(cwd);
}

/* Mutated metadata: every parser answers, none crashes or leaks (ASan). */
static void test_mutations(void) {
        uint64_t state = 0x243f6a8885a308d3ULL;

        for (unsigned iter = 0; iter < 30000; iter++) {
                const char *seed = iter % 2 ? flasher_args : idedata;
                size_t len = strlen(seed), n = len;
                char *buf = malloc(len + 1);
                SourceImage img = {};
                PioIdedata d = {};
                SourceError err = {};
                char *t = NULL;

                assert(buf);
                memcpy(buf, seed, len + 1);
                for (unsigned k = 0; k < 1 + iter % 3; k++) {
                        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
                        size_t pos = (size_t) (state >> 33) % len;
                        switch ((state >> 20) % 4) {
                        case 0: buf[pos] = (char) (state >> 8); break;
                        case 1: buf[pos] = "0x\"{}[],:e1-"[(state >> 5) % 12]; break;
                        case 2: n = pos; break;
                        default: buf[pos] ^= 0x20; break;
                        }
                }
                (void) idf_flasher_args_parse(buf, n, "/b", &img, 0, &err);
                source_image_done(&img);
                if (pio_idedata_parse(buf, n, &d, &err) == 0)
                        pio_idedata_done(&d);
                if (sdkconfig_target(buf, n, &t) == 1)
                        free(t);
                t = NULL;
                if (sdkconfig_json_target(buf, n, &t) == 1)
                        free(t);
                free(buf);
        }
}

/* The user's toolchain stub: the directories in order, the names esptool uses,
 * and a file that is not a stub passed over. */
static void write_stub_file(const char *path, const char *text) {
        FILE *f = fopen(path, "w");

        assert(f);
        fputs(text, f);
        fclose(f);
}

static void test_toolchain_stub(void) {
        static const char stub[] = "{\"entry\": 1, \"text\": \"AQID\", \"text_start\": 2}";
        char root[] = "/tmp/test-ctl-stub.XXXXXX", path[512], cmd[600];
        SourceStubRoots roots = {};
        char *search = NULL, *found = NULL;
        int fd = -1;

        assert(mkdtemp(root));
        roots.home = root;

        assert(source_stub_search_path(&roots, &search) == 0);
        (void) snprintf(path, sizeof(path),
                        "%s/.platformio/packages/tool-esptoolpy/esptool/targets/stub_flasher:"
                        "%s/.espressif/python_env/*/lib/python3*/site-packages/esptool/targets/stub_flasher:"
                        "%s/.local/lib/python3*/site-packages/esptool/targets/stub_flasher", root, root, root);
        assert(strcmp(search, path) == 0);
        free(search);
        roots.idf_path = "/opt/esp-idf";
        roots.pio_core = "/opt/pio";
        roots.idf_python_env = "relative/ignored";
        assert(source_stub_search_path(&roots, &search) == 0);
        assert(strncmp(search, "/opt/esp-idf/components/esptool_py/esptool/esptool/targets/stub_flasher:"
                       "/opt/pio/packages/tool-esptoolpy/esptool/targets/stub_flasher:", 130) == 0);
        free(search);
        roots = (SourceStubRoots) { .home = root };

        assert(source_stub_open(&roots, "esp32c3", &fd, NULL) == -ENOENT);
        /* pip --user esptool 5: 1/<chip>.json under a versioned python directory */
        (void) snprintf(cmd, sizeof(cmd), "mkdir -p %s/.local/lib/python3.11/site-packages/esptool/targets/stub_flasher/1 "
                        "%s/.platformio/packages/tool-esptoolpy/esptool/targets/stub_flasher", root, root);
        assert(system(cmd) == 0);
        (void) snprintf(path, sizeof(path), "%s/.local/lib/python3.11/site-packages/esptool/targets/stub_flasher/1/esp32c3.json", root);
        write_stub_file(path, stub);
        assert(source_stub_open(&roots, "esp32c3", &fd, &found) == 0);
        assert(fd >= 0 && strcmp(found, path) == 0);
        close(fd);
        free(found);
        /* PlatformIO comes first; a file there that is not a stub is passed over */
        (void) snprintf(path, sizeof(path), "%s/.platformio/packages/tool-esptoolpy/esptool/targets/stub_flasher/esp32c3.json", root);
        write_stub_file(path, "{\"entry\": \"x\"}");
        assert(source_stub_open(&roots, "esp32c3", &fd, &found) == 0);
        assert(strstr(found, "/.local/"));
        close(fd);
        free(found);
        /* esptool 4's name there */
        (void) snprintf(path, sizeof(path), "%s/.platformio/packages/tool-esptoolpy/esptool/targets/stub_flasher/stub_flasher_32c3.json", root);
        write_stub_file(path, stub);
        assert(source_stub_open(&roots, "esp32c3", &fd, &found) == 0);
        assert(strcmp(found, path) == 0);
        close(fd);
        free(found);
        assert(source_stub_open(&roots, "../x", &fd, NULL) == -EINVAL);

        (void) snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        assert(system(cmd) == 0);
}

int main(void) {
        test_offsets();
        test_pairs();
        test_chips();
        test_flasher_args();
        test_idedata();
        test_pio_layout();
        test_image_checks();
        test_load();
        test_absolute_path();
        test_mutations();
        test_toolchain_stub();
        return 0;
}
