/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PlatformIO builds (.pio/build/<env>/): idedata.json, which `pio run`
 * writes next to the binaries ("extra": {"flash_images": [{offset, path}],
 * "application_offset"}, "prog_path", "cc_path"), and the fixed layout of
 * platform-espressif32 for builds without it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "source-parse.h"
#include "string-util.h"

void pio_idedata_done(PioIdedata *d) {
        for (size_t i = 0; i < d->n_images; i++)
                free(d->images[i].path);
        free(d->images);
        free(d->program);
        *d = (PioIdedata) {};
}

/* "/…/.pio/build/env/firmware.elf" → "firmware". */
static int program_name(const char *prog_path, char **ret) {
        const char *base, *dot;

        base = strrchr(prog_path, '/');
        base = base ? base + 1 : prog_path;
        dot = strrchr(base, '.');
        if (!dot || !streq(dot, ".elf") || dot == base)
                return 0;
        *ret = strndup(base, (size_t) (dot - base));
        return *ret ? 0 : -ENOMEM;
}

int pio_idedata_parse(const char *text, size_t len, PioIdedata *ret, SourceError *err) {
        _cleanup_(json_value_freep) JsonValue *root = NULL;
        _cleanup_(pio_idedata_done) PioIdedata d = {};
        const JsonValue *extra, *images, *appoff;
        JsonParseError pe = {};
        const char *s;
        bool merged;
        int r;

        r = json_parse(text, len, &root, &pe);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return source_error(err, r, "idedata.json:%u:%u: %s", pe.line, pe.column, pe.message);
        if (json_value_type(root) != JSON_OBJECT)
                return source_error(err, -EBADMSG, "idedata.json: expected an object at the top level");

        extra = json_object_get(root, "extra");
        if (extra && json_value_type(extra) != JSON_OBJECT)
                return source_error(err, -EBADMSG, "idedata.json: \"extra\" is not an object");

        images = json_object_get(extra, "flash_images");
        if (images && json_value_type(images) != JSON_ARRAY)
                return source_error(err, -EBADMSG, "idedata.json: \"flash_images\" is not an array");
        if (json_array_size(images) > SOURCE_REGIONS_MAX)
                return source_error(err, -E2BIG, "idedata.json: more than %d flash images", SOURCE_REGIONS_MAX);
        if (json_array_size(images) > 0) {
                d.images = calloc(json_array_size(images), sizeof(PioFlashImage));
                if (!d.images)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < json_array_size(images); i++) {
                const JsonValue *e = json_array_get(images, i);
                const char *off = json_string(json_object_get(e, "offset"));
                const char *path = json_string(json_object_get(e, "path"));
                uint32_t o;

                if (json_value_type(e) != JSON_OBJECT || !off || !path || !*path)
                        return source_error(err, -EBADMSG,
                                            "idedata.json: flash image %zu needs string \"offset\" and \"path\"", i);
                if (source_parse_offset(off, &o) < 0)
                        return source_error(err, -EBADMSG, "idedata.json: flash image %zu: bad offset '%.32s'",
                                            i, off);
                d.images[d.n_images].path = strdup(path);
                if (!d.images[d.n_images].path)
                        return -ENOMEM;
                d.images[d.n_images++].offset = o;
        }

        /* A merged-firmware build (debug probes) says 0x0 here for the merged
         * image; firmware.bin itself still belongs at the app partition. */
        merged = json_boolean(json_object_get(extra, "merged_firmware"));
        appoff = json_object_get(extra, "application_offset");
        if (appoff && !merged) {
                s = json_string(appoff);
                if (!s || source_parse_offset(s, &d.application_offset) < 0)
                        return source_error(err, -EBADMSG, "idedata.json: bad \"application_offset\"");
                d.has_application_offset = true;
        }

        s = json_string(json_object_get(root, "prog_path"));
        if (s) {
                r = program_name(s, &d.program);
                if (r < 0)
                        return r;
        }
        (void) toolchain_chip(json_string(json_object_get(root, "cc_path")), &d.chip);

        *ret = d;
        d = (PioIdedata) {};
        return 0;
}

static int add_file(SourceImage *img, unsigned source, const char *dir, uint64_t offset,
                    const char *file, const char *name) {
        _cleanup_free_ char *path = NULL;

        if (asprintf(&path, "%s/%s", dir, file) < 0)
                return -ENOMEM;
        return source_image_add_region(img, source, offset, path, name);
}

int pio_layout_add(SourceImage *img, unsigned source, const char *env_dir, unsigned files,
                   const char *firmware, uint32_t app_offset, SourceError *err) {
        int r;

        if (!(files & PIO_FILE_FIRMWARE))
                return source_error(err, -ENOENT, "%s: no %s (build the project first)", env_dir,
                                    firmware ?: "firmware.bin");
        if (files & PIO_FILE_BOOTLOADER) {
                r = add_file(img, source, env_dir, SOURCE_OFFSET_BOOTLOADER, "bootloader.bin", "bootloader");
                if (r < 0)
                        return r;
        }
        if (files & PIO_FILE_PARTITIONS) {
                r = add_file(img, source, env_dir, PIO_PARTITIONS_OFFSET, "partitions.bin", "partitions");
                if (r < 0)
                        return r;
        }
        if (files & PIO_FILE_BOOT_APP0) {
                r = add_file(img, source, env_dir, PIO_BOOT_APP0_OFFSET, "boot_app0.bin", "boot_app0");
                if (r < 0)
                        return r;
        }
        r = add_file(img, source, env_dir, app_offset, firmware ?: "firmware.bin", "app");
        if (r == -E2BIG)
                return source_error(err, r, "More than %d regions", SOURCE_REGIONS_MAX);
        return r;
}
