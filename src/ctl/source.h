/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What fbuildctl deploys: a set of (offset, file) regions gathered from one or
 * more SOURCE arguments (ESP-IDF or PlatformIO build directories, OFFSET=FILE
 * pairs), plus what the build says about the chip and flash settings. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* More regions than any real build has; bounds what hostile metadata can ask for. */
#define SOURCE_REGIONS_MAX 64
/* Regions start on a flash sector: the unit every loader erases. */
#define SOURCE_SECTOR_SIZE 0x1000u
/* Placeholder offset of a bootloader whose place depends on a chip not known yet. */
#define SOURCE_OFFSET_BOOTLOADER UINT64_MAX

typedef enum SourceFormat {
        SOURCE_FORMAT_ESP_IDF,
        SOURCE_FORMAT_PLATFORMIO,
        SOURCE_FORMAT_PAIR,
        _SOURCE_FORMAT_MAX,
        _SOURCE_FORMAT_INVALID = -1,
} SourceFormat;

const char *source_format_to_string(SourceFormat f);   /* "esp-idf", "platformio", "pair" */

typedef struct SourceError {
        char message[512];
} SourceError;

/* Formats the message and returns error (a negative errno), for
 * `return source_error(err, -EINVAL, "…")`. err may be NULL. */
int source_error(SourceError *err, int error, const char *format, ...) _printf_(3, 4);

typedef struct SourceRegion {
        uint64_t offset;        /* SOURCE_OFFSET_BOOTLOADER until the chip is known */
        char *path;             /* the file, as fbuildctl opens it */
        char *name;             /* "bootloader", "app", … or NULL */
        unsigned source;        /* index into SourceImage.sources */
        uint64_t size;          /* filled in by the caller once the file is opened */
} SourceRegion;

typedef struct SourceOrigin {
        SourceFormat format;
        char *argument;         /* the SOURCE argument as given */
        char *directory;        /* the build directory it resolved to, or NULL */
} SourceOrigin;

typedef struct SourceImage {
        SourceRegion *regions;
        size_t n_regions;
        SourceOrigin *sources;
        size_t n_sources;

        char *chip;             /* canonical chip name the build is for, or NULL */
        char *chip_origin;      /* where that came from, for messages */
        /* From ESP-IDF's flasher_args.json, reported but not applied: the
         * service never patches image headers. */
        char *flash_mode, *flash_size, *flash_freq;
        /* The build's reset choices as service option values, or NULL for the default. */
        char *before, *after;

        /* Set by the caller before loading: the PlatformIO environment to take
         * from a project or .pio/build (-e ENV), or NULL for the only one. */
        const char *pio_env;
} SourceImage;

void source_image_done(SourceImage *img);

/* Adds a source record and returns its index (>= 0) or -ENOMEM. */
int source_image_add_origin(SourceImage *img, SourceFormat format, const char *argument,
                            const char *directory);
/* Adds a region (path and name copied): 0, -E2BIG (too many) or -ENOMEM. */
int source_image_add_region(SourceImage *img, unsigned source, uint64_t offset, const char *path,
                            const char *name);
/* Records the chip a build is for. A second, different chip is a conflict:
 * -EXDEV with err saying which sources disagree. Unknown chips: -EOPNOTSUPP. */
int source_image_set_chip(SourceImage *img, const char *chip, const char *origin, SourceError *err);
/* Whether some region still waits for the chip's bootloader offset. */
bool source_image_needs_chip(const SourceImage *img);
/* Places pending bootloaders at chip's bootloader offset: 0 or -EOPNOTSUPP. */
int source_image_place_bootloader(SourceImage *img, const char *chip, SourceError *err);
/* Every placed region starts on a flash sector: 0 or -EINVAL (err names the
 * region and the rule). */
int source_image_check_offsets(const SourceImage *img, SourceError *err);
/* Sorts regions by offset and refuses overlaps, going by each region's size:
 * 0 or -EINVAL (err names the two regions) / -ERANGE (past 4 GiB). */
int source_image_sort_and_check(SourceImage *img, SourceError *err);

/* The I/O half: classifies one SOURCE argument (OFFSET=FILE, a build
 * directory or a metadata file in one), reads its metadata and adds its
 * regions to img. Relative paths in a pair stay relative to the working
 * directory; paths from build metadata are made absolute. Errors: -ENOENT,
 * -EINVAL, -EBADMSG (malformed metadata), -EOPNOTSUPP, -E2BIG, -EACCES…,
 * always with err set. */
int source_load(SourceImage *img, const char *argument, SourceError *err);
/* esptool's separate "OFFSET FILE" form: 0 and the offset if argument is
 * meant as an offset (it starts with a digit and is not an existing path),
 * -EINVAL with err saying the rule if it is meant as one but is not valid,
 * -ENOENT if it is not meant as an offset at all. */
int source_offset_argument(const char *argument, uint32_t *ret, SourceError *err);

/* path made absolute against the working directory, without resolving
 * symlinks: realpath() is avoided because preloaded wrappers of it (umockdev
 * 0.17's, under which the tests and the README walkthrough run) corrupt
 * memory. 0 or -errno. */
int source_absolute_path(const char *path, char **ret);
