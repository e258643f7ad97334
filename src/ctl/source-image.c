/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The region set gathered from all SOURCE arguments: adding regions and
 * sources, agreeing on one chip, placing the bootloader once the chip is
 * known, and refusing overlaps with a message that names both regions. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source-parse.h"
#include "source.h"
#include "string-util.h"

static const char *const source_format_table[_SOURCE_FORMAT_MAX] = {
        [SOURCE_FORMAT_ESP_IDF] = "esp-idf",
        [SOURCE_FORMAT_PLATFORMIO] = "platformio",
        [SOURCE_FORMAT_PAIR] = "pair",
};

DEFINE_STRING_TABLE_LOOKUP_TO_STRING(source_format, SourceFormat);

int source_error(SourceError *err, int error, const char *format, ...) {
        va_list ap;

        if (err) {
                va_start(ap, format);
                (void) vsnprintf(err->message, sizeof(err->message), format, ap);
                va_end(ap);
        }
        return error;
}

void source_image_done(SourceImage *img) {
        for (size_t i = 0; i < img->n_regions; i++) {
                free(img->regions[i].path);
                free(img->regions[i].name);
        }
        free(img->regions);
        for (size_t i = 0; i < img->n_sources; i++) {
                free(img->sources[i].argument);
                free(img->sources[i].directory);
        }
        free(img->sources);
        free(img->chip);
        free(img->chip_origin);
        free(img->flash_mode);
        free(img->flash_size);
        free(img->flash_freq);
        free(img->before);
        free(img->after);
        *img = (SourceImage) {};
}

int source_image_add_origin(SourceImage *img, SourceFormat format, const char *argument,
                            const char *directory) {
        SourceOrigin *s, o = { .format = format };

        s = reallocarray(img->sources, img->n_sources + 1, sizeof(SourceOrigin));
        if (!s)
                return -ENOMEM;
        img->sources = s;

        o.argument = strdup(argument ?: "");
        o.directory = directory ? strdup(directory) : NULL;
        if (!o.argument || (directory && !o.directory)) {
                free(o.argument);
                free(o.directory);
                return -ENOMEM;
        }
        img->sources[img->n_sources] = o;
        return (int) img->n_sources++;
}

int source_image_add_region(SourceImage *img, unsigned source, uint64_t offset, const char *path,
                            const char *name) {
        SourceRegion *r, region = { .offset = offset, .source = source };

        if (img->n_regions >= SOURCE_REGIONS_MAX)
                return -E2BIG;
        r = reallocarray(img->regions, img->n_regions + 1, sizeof(SourceRegion));
        if (!r)
                return -ENOMEM;
        img->regions = r;

        region.path = strdup(path);
        region.name = name ? strdup(name) : NULL;
        if (!region.path || (name && !region.name)) {
                free(region.path);
                free(region.name);
                return -ENOMEM;
        }
        img->regions[img->n_regions++] = region;
        return 0;
}

int source_image_set_chip(SourceImage *img, const char *chip, const char *origin, SourceError *err) {
        const char *canonical;
        char *c, *o;
        int r;

        r = source_chip_canonical(chip, &canonical);
        if (r < 0)
                return source_error(err, r, "%s names chip '%s', which fbuild-deployd does not support",
                                    origin, chip);
        if (img->chip) {
                if (streq(img->chip, canonical))
                        return 0;
                return source_error(err, -EXDEV, "%s is for %s but %s is for %s",
                                    img->chip_origin, img->chip, origin, canonical);
        }
        c = strdup(canonical);
        o = strdup(origin);
        if (!c || !o) {
                free(c);
                free(o);
                return -ENOMEM;
        }
        img->chip = c;
        img->chip_origin = o;
        return 0;
}

bool source_image_needs_chip(const SourceImage *img) {
        for (size_t i = 0; i < img->n_regions; i++)
                if (img->regions[i].offset == SOURCE_OFFSET_BOOTLOADER)
                        return true;
        return false;
}

int source_image_place_bootloader(SourceImage *img, const char *chip, SourceError *err) {
        const char *canonical;
        int r;

        r = source_chip_canonical(chip, &canonical);
        if (r < 0)
                return source_error(err, r, "Chip '%s' is not supported", chip);
        for (size_t i = 0; i < img->n_regions; i++)
                if (img->regions[i].offset == SOURCE_OFFSET_BOOTLOADER)
                        img->regions[i].offset = source_chip_bootloader_offset(canonical);
        return 0;
}

static const char *region_label(const SourceRegion *r) {
        const char *slash;

        if (r->name)
                return r->name;
        slash = strrchr(r->path, '/');
        return slash ? slash + 1 : r->path;
}

int source_image_check_offsets(const SourceImage *img, SourceError *err) {
        for (size_t i = 0; i < img->n_regions; i++) {
                const SourceRegion *a = &img->regions[i];

                /* The service refuses it too, but only after connecting; say the rule here. */
                if (a->offset != SOURCE_OFFSET_BOOTLOADER && a->offset % SOURCE_SECTOR_SIZE != 0)
                        return source_error(err, -EINVAL,
                                            "%s (%s) at 0x%" PRIx64 ": a region must start on a 4 KiB flash "
                                            "sector boundary (a multiple of 0x1000, the unit the chip erases); "
                                            "the sector holding it starts at 0x%" PRIx64,
                                            region_label(a), a->path, a->offset,
                                            a->offset / SOURCE_SECTOR_SIZE * SOURCE_SECTOR_SIZE);
        }
        return 0;
}

int source_image_sort_and_check(SourceImage *img, SourceError *err) {
        /* Insertion sort: at most SOURCE_REGIONS_MAX entries, and stable, so
         * equal offsets keep argument order for the message. */
        for (size_t i = 1; i < img->n_regions; i++)
                for (size_t j = i; j > 0 && img->regions[j - 1].offset > img->regions[j].offset; j--) {
                        SourceRegion t = img->regions[j];

                        img->regions[j] = img->regions[j - 1];
                        img->regions[j - 1] = t;
                }

        for (size_t i = 0; i < img->n_regions; i++) {
                const SourceRegion *a = &img->regions[i];

                if (a->offset == SOURCE_OFFSET_BOOTLOADER)
                        return source_error(err, -EINVAL, "The bootloader's offset is not known yet");
                if (a->offset > UINT32_MAX || a->size > (uint64_t) UINT32_MAX + 1 - a->offset)
                        return source_error(err, -ERANGE, "%s (%s) at 0x%" PRIx64 " ends past 4 GiB",
                                            region_label(a), a->path, a->offset);
                if (i == 0)
                        continue;

                const SourceRegion *prev = &img->regions[i - 1];
                /* An empty region still claims its offset. */
                if (prev->offset + MAX(prev->size, (uint64_t) 1) > a->offset)
                        return source_error(err, -EINVAL,
                                            "Regions overlap: %s (%s) covers 0x%" PRIx64 "…0x%" PRIx64
                                            " and %s (%s) starts at 0x%" PRIx64,
                                            region_label(prev), prev->path, prev->offset,
                                            prev->offset + prev->size, region_label(a), a->path,
                                            a->offset);
        }
        return 0;
}
