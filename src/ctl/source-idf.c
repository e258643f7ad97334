/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ESP-IDF's flasher_args.json, as `idf.py build` writes it into the build
 * directory (components/esptool_py/flasher_args.json.in): "flash_files" maps
 * offsets to paths relative to the build directory; named entries
 * ("bootloader", "app", "partition-table", "otadata", …) repeat them with an
 * "encrypted" flag; "extra_esptool_args" carries the chip and reset choices. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "source-parse.h"
#include "string-util.h"

/* esptool's --before/--after spellings (both the old snake_case and the
 * esptool 5 kebab-case) → the service's "before"/"after" option values; NULL:
 * leave the service default, which is what esptool's default means too. */
static const struct {
        const char *esptool, *service;
} before_map[] = {
        { "default_reset", NULL },
        { "default-reset", NULL },
        { "usb_reset", "usb" },
        { "usb-reset", "usb" },
        { "no_reset", "none" },
        { "no-reset", "none" },
        /* The service always syncs; not resetting is the closest it gets. */
        { "no_reset_no_sync", "none" },
        { "no-reset-no-sync", "none" },
}, after_map[] = {
        { "hard_reset", NULL },
        { "hard-reset", NULL },
        { "soft_reset", NULL },
        { "soft-reset", NULL },
        { "watchdog_reset", NULL },
        { "watchdog-reset", NULL },
        { "no_reset", "none" },
        { "no-reset", "none" },
        { "no_reset_stub", "none" },
        { "no-reset-stub", "none" },
};

static int map_reset(const char *value, bool before, char **ret, SourceError *err) {
        size_t n = before ? ELEMENTSOF(before_map) : ELEMENTSOF(after_map);

        for (size_t i = 0; i < n; i++) {
                const char *e = before ? before_map[i].esptool : after_map[i].esptool;
                const char *s = before ? before_map[i].service : after_map[i].service;

                if (streq(e, value)) {
                        if (!s)
                                return 0;
                        *ret = strdup(s);
                        return *ret ? 0 : -ENOMEM;
                }
        }
        return source_error(err, -EINVAL, "flasher_args.json: unknown \"%s\" value '%.64s'",
                            before ? "before" : "after", value);
}

static int copy_string(const JsonValue *v, char **ret) {
        const char *s = json_string(v);

        if (!s)
                return 0;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

/* Joins build_dir and a path from the file, unless the path is absolute. */
static char *resolve_path(const char *build_dir, const char *path) {
        char *p;

        if (path[0] == '/' || !build_dir)
                return strdup(path);
        if (asprintf(&p, "%s/%s", build_dir, path) < 0)
                return NULL;
        return p;
}

/* The name of the named entry ({"offset", "file", "encrypted"}) at offset, or
 * NULL. An encrypted entry there is refused: the service writes plain text. */
static int entry_name_at(const JsonValue *root, uint32_t offset, const char **ret, SourceError *err) {
        *ret = NULL;
        for (size_t i = 0; i < json_object_size(root); i++) {
                const JsonValue *e = json_object_value_at(root, i);
                const char *key = json_object_key_at(root, i);
                const char *off = json_string(json_object_get(e, "offset"));
                const JsonValue *enc = json_object_get(e, "encrypted");
                uint32_t o;

                if (json_value_type(e) != JSON_OBJECT || streq(key, "flash_settings") ||
                    streq(key, "extra_esptool_args") || streq(key, "flash_files"))
                        continue;
                if (!off || source_parse_offset(off, &o) < 0 || o != offset)
                        continue;
                /* "encrypted" is a string ("true"/"false") in the template; accept a boolean too. */
                if (json_boolean(enc) || (json_string(enc) && streq(json_string(enc), "true")))
                        return source_error(err, -EOPNOTSUPP,
                                            "flasher_args.json: \"%.64s\" at 0x%x is marked encrypted; "
                                            "fbuild-deployd does not write encrypted images",
                                            key, offset);
                *ret = key;
        }
        return 0;
}

int idf_flasher_args_parse(const char *text, size_t len, const char *build_dir, SourceImage *img,
                           unsigned source, SourceError *err) {
        _cleanup_(json_value_freep) JsonValue *root = NULL;
        const JsonValue *files, *extra, *settings;
        JsonParseError pe = {};
        int r;

        r = json_parse(text, len, &root, &pe);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return source_error(err, r, "flasher_args.json:%u:%u: %s", pe.line, pe.column, pe.message);
        if (json_value_type(root) != JSON_OBJECT)
                return source_error(err, -EBADMSG, "flasher_args.json: expected an object at the top level");

        files = json_object_get(root, "flash_files");
        if (json_value_type(files) != JSON_OBJECT)
                return source_error(err, -EBADMSG, "flasher_args.json: \"flash_files\" is missing or not an object");
        if (json_object_size(files) == 0)
                return source_error(err, -EINVAL, "flasher_args.json: \"flash_files\" is empty");

        for (size_t i = 0; i < json_object_size(files); i++) {
                const char *key = json_object_key_at(files, i);
                const char *path = json_string(json_object_value_at(files, i));
                _cleanup_free_ char *resolved = NULL;
                const char *name;
                uint32_t offset;

                r = source_parse_offset(key, &offset);
                if (r < 0)
                        return source_error(err, -EBADMSG,
                                            "flasher_args.json: \"flash_files\" key '%.64s' is not an offset", key);
                if (!path || !*path)
                        return source_error(err, -EBADMSG,
                                            "flasher_args.json: \"flash_files\" entry %s is not a file name", key);
                r = entry_name_at(root, offset, &name, err);
                if (r < 0)
                        return r;
                resolved = resolve_path(build_dir, path);
                if (!resolved)
                        return -ENOMEM;
                r = source_image_add_region(img, source, offset, resolved, name);
                if (r == -E2BIG)
                        return source_error(err, r, "flasher_args.json: more than %d flash files",
                                            SOURCE_REGIONS_MAX);
                if (r < 0)
                        return r;
        }

        extra = json_object_get(root, "extra_esptool_args");
        if (extra && json_value_type(extra) != JSON_OBJECT)
                return source_error(err, -EBADMSG, "flasher_args.json: \"extra_esptool_args\" is not an object");
        if (extra) {
                const JsonValue *chip = json_object_get(extra, "chip");
                const char *before = json_string(json_object_get(extra, "before"));
                const char *after = json_string(json_object_get(extra, "after"));

                if (chip && !json_string(chip))
                        return source_error(err, -EBADMSG, "flasher_args.json: \"chip\" is not a string");
                if (json_string(chip)) {
                        r = source_image_set_chip(img, json_string(chip), "flasher_args.json", err);
                        if (r < 0)
                                return r;
                }
                /* Several sources may disagree; the first one that asks wins. */
                if (before && !img->before) {
                        r = map_reset(before, true, &img->before, err);
                        if (r < 0)
                                return r;
                }
                if (after && !img->after) {
                        r = map_reset(after, false, &img->after, err);
                        if (r < 0)
                                return r;
                }
        }

        settings = json_object_get(root, "flash_settings");
        if (settings && json_value_type(settings) != JSON_OBJECT)
                return source_error(err, -EBADMSG, "flasher_args.json: \"flash_settings\" is not an object");
        if (settings && !img->flash_mode && !img->flash_size && !img->flash_freq) {
                r = copy_string(json_object_get(settings, "flash_mode"), &img->flash_mode);
                if (r >= 0)
                        r = copy_string(json_object_get(settings, "flash_size"), &img->flash_size);
                if (r >= 0)
                        r = copy_string(json_object_get(settings, "flash_freq"), &img->flash_freq);
                if (r < 0)
                        return r;
        }
        return 0;
}
