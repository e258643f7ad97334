/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pure half of source handling: parsers for offsets, OFFSET=FILE pairs,
 * ESP-IDF's flasher_args.json, PlatformIO's idedata.json, sdkconfig files and
 * ESP image headers, and PlatformIO's fixed layout. Text in, structs out; no
 * file system access, so each can be unit-tested and fuzzed on its own. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "source.h"

/* Build metadata larger than this is refused rather than read. */
#define SOURCE_METADATA_MAX (32u * 1024u * 1024u)

/* "0x1000", "0X1000" or "4096" (no sign, no spaces, no leading zeros in
 * decimal), at most 0xffffffff: 0, -EINVAL or -ERANGE. */
int source_parse_offset(const char *s, uint32_t *ret);

/* "OFFSET=FILE": 0 with *ret_file pointing into arg; -EINVAL if arg is not a
 * pair (no '=', a bad offset or an empty file name), -ERANGE for a too-large
 * offset. */
int source_parse_pair(const char *arg, uint32_t *ret_offset, const char **ret_file);

/* A chip name in any spelling ("ESP32-S3", "esp32s3") → the canonical name
 * the service uses: 0, or -EOPNOTSUPP for a chip the service does not know. */
int source_chip_canonical(const char *name, const char **ret);
/* Where the ROM looks for the second-stage bootloader on a canonical chip
 * (0x1000 on ESP32/ESP32-S2, 0x2000 on ESP32-P4/C5, else 0x0). */
uint32_t source_chip_bootloader_offset(const char *canonical);

/* ESP-IDF's flasher_args.json (build_dir/flasher_args.json): every
 * "flash_files" entry becomes a region (relative paths joined to build_dir),
 * named after the matching "bootloader"/"app"/… entry; the chip from
 * "extra_esptool_args", reset choices mapped to service option values, and
 * "flash_settings" recorded. Encrypted entries are refused (-EOPNOTSUPP). */
int idf_flasher_args_parse(const char *text, size_t len, const char *build_dir, SourceImage *img,
                           unsigned source, SourceError *err);

typedef struct PioFlashImage {
        uint32_t offset;
        char *path;
} PioFlashImage;

typedef struct PioIdedata {
        PioFlashImage *images;          /* extra.flash_images */
        size_t n_images;
        bool has_application_offset;
        uint32_t application_offset;    /* extra.application_offset */
        char *program;                  /* basename of prog_path without ".elf", or NULL */
        const char *chip;               /* from the toolchain in cc_path, or NULL */
} PioIdedata;

void pio_idedata_done(PioIdedata *d);

/* PlatformIO's idedata.json. Only the keys used are checked; a merged-firmware
 * build's application_offset (0x0, for debug probes) is ignored, since
 * firmware.bin still goes to the app partition. */
int pio_idedata_parse(const char *text, size_t len, PioIdedata *ret, SourceError *err);

/* Files found in a PlatformIO environment directory. */
enum {
        PIO_FILE_BOOTLOADER = 1u << 0,  /* bootloader.bin */
        PIO_FILE_PARTITIONS = 1u << 1,  /* partitions.bin */
        PIO_FILE_BOOT_APP0  = 1u << 2,  /* boot_app0.bin */
        PIO_FILE_FIRMWARE   = 1u << 3,  /* firmware.bin (or <program>.bin) */
};

#define PIO_PARTITIONS_OFFSET 0x8000u
#define PIO_BOOT_APP0_OFFSET  0xe000u
#define PIO_APP_OFFSET        0x10000u

/* PlatformIO's layout without idedata.json: bootloader.bin at the chip's
 * bootloader offset (left pending), partitions.bin at 0x8000, boot_app0.bin at
 * 0xe000, the app at app_offset. firmware is the app's file name. The app is
 * required (-ENOENT). */
int pio_layout_add(SourceImage *img, unsigned source, const char *env_dir, unsigned files,
                   const char *firmware, uint32_t app_offset, SourceError *err);

/* CONFIG_IDF_TARGET from an sdkconfig ("CONFIG_IDF_TARGET=\"esp32s3\"") or a
 * generated sdkconfig.h ("#define CONFIG_IDF_TARGET \"esp32s3\""):
 * 1 with *ret allocated, 0 if absent, -ENOMEM. */
int sdkconfig_target(const char *text, size_t len, char **ret);
/* "IDF_TARGET" from a generated sdkconfig.json: 1, 0 or -EBADMSG/-ENOMEM. */
int sdkconfig_json_target(const char *text, size_t len, char **ret);

/* The chip an ESP image (bootloader.bin, firmware.bin) was built for, from
 * the chip id in its extended header: 1 with *ret canonical, 0 if the bytes
 * are not an ESP image header, -EOPNOTSUPP for an unknown chip id. */
#define ESP_IMAGE_HEADER_SIZE 24
int esp_image_chip(const uint8_t *header, size_t n, const char **ret);

/* "…/xtensa-esp32s3-elf-gcc" → "esp32s3". RISC-V toolchains are shared by
 * several chips and tell nothing: 1, or 0 if the path names no chip. */
int toolchain_chip(const char *cc_path, const char **ret);
