/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The I/O half of source handling: decides what a SOURCE argument is, reads
 * the build metadata it points at (bounded) and hands the text to the pure
 * parsers in source-*.c. Never opens the images themselves: the deploy does. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "source-parse.h"
#include "source.h"
#include "string-util.h"

/* Per-file caps below SOURCE_METADATA_MAX: flasher_args.json and sdkconfig
 * are a few KiB; idedata.json lists every include path of a project. */
#define FLASHER_ARGS_MAX (1u * 1024u * 1024u)
#define SDKCONFIG_MAX    (4u * 1024u * 1024u)
#define IDEDATA_MAX      SOURCE_METADATA_MAX

static inline void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

static int read_file_limited(const char *path, size_t max, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = -EBADF;

        /* O_NONBLOCK: a FIFO put where metadata should be must not hang us. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        return fd_read_regular(fd, max, ret, ret_len);
}

int source_absolute_path(const char *path, char **ret) {
        _cleanup_free_ char *cwd = NULL;
        char *p;

        if (path[0] == '/') {
                p = strdup(path);
                if (!p)
                        return -ENOMEM;
        } else {
                cwd = getcwd(NULL, 0);
                if (!cwd)
                        return -errno;
                /* "." and "./x" read better without the dot. */
                if (streq(path, "."))
                        path = "";
                else if (strncmp(path, "./", 2) == 0)
                        path += 2;
                if (asprintf(&p, "%s%s%s", cwd, *path && !streq(cwd, "/") ? "/" : "", path) < 0)
                        return -ENOMEM;
        }
        /* Trailing slashes would double up when joined. */
        for (size_t n = strlen(p); n > 1 && p[n - 1] == '/'; n--)
                p[n - 1] = '\0';
        *ret = p;
        return 0;
}

static bool is_regular(const char *path) {
        struct stat st;

        return stat(path, &st) >= 0 && S_ISREG(st.st_mode);
}

static bool is_directory(const char *path) {
        struct stat st;

        return stat(path, &st) >= 0 && S_ISDIR(st.st_mode);
}

static char *path_join(const char *a, const char *b) {
        char *p;

        if (asprintf(&p, "%s/%s", a, b) < 0)
                return NULL;
        return p;
}

static bool dir_has(const char *dir, const char *file) {
        _cleanup_free_ char *p = path_join(dir, file);

        return p && is_regular(p);
}

static int read_metadata(const char *path, size_t max, char **ret, size_t *ret_len, SourceError *err) {
        int r;

        r = read_file_limited(path, max, ret, ret_len);
        if (r == -EFBIG)
                return source_error(err, -E2BIG, "%s: larger than %zu bytes, refusing to read it", path, max);
        if (r < 0)
                return source_error(err, r, "Cannot read %s: %s", path, strerror(-r));
        return 0;
}

/* The first image header among files: its chip, if it names one. */
static int chip_from_image(SourceImage *img, const char *path, SourceError *err) {
        _cleanup_close_ int fd = -EBADF;
        uint8_t header[ESP_IMAGE_HEADER_SIZE];
        const char *chip;
        ssize_t k;
        int r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return 0;       /* the deploy reports missing files, with context */
        k = read(fd, header, sizeof(header));
        if (k < 0)
                return 0;
        r = esp_image_chip(header, (size_t) k, &chip);
        if (r <= 0)
                return 0;       /* not an image, or an id we do not know: no clue */
        return source_image_set_chip(img, chip, path, err);
}

/* sdkconfig clues inside a build directory, in the order they are most
 * likely to be current: the generated JSON and header, then a copy of the
 * sdkconfig itself. Returns 1 if one was found. */
static int chip_from_sdkconfig(SourceImage *img, const char *dir, SourceError *err) {
        static const char *const files[] = { "config/sdkconfig.json", "config/sdkconfig.h", "sdkconfig" };

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *path = path_join(dir, files[i]), *text = NULL, *target = NULL;
                size_t len;
                int r;

                if (!path)
                        return -ENOMEM;
                if (!is_regular(path))
                        continue;
                r = read_metadata(path, SDKCONFIG_MAX, &text, &len, err);
                if (r < 0)
                        return r;
                if (i == 0)
                        r = sdkconfig_json_target(text, len, &target);
                else
                        r = sdkconfig_target(text, len, &target);
                if (r == -EBADMSG)
                        return source_error(err, r, "%s: not valid JSON", path);
                if (r < 0)
                        return r;
                if (r == 0)
                        continue;
                r = source_image_set_chip(img, target, path, err);
                return r < 0 ? r : 1;
        }
        return 0;
}

/* ---- ESP-IDF ---------------------------------------------------------------------- */

static int load_idf(SourceImage *img, const char *argument, const char *build_dir, SourceError *err) {
        _cleanup_free_ char *args_path = path_join(build_dir, "flasher_args.json"), *text = NULL;
        size_t len, first;
        int source, r;

        if (!args_path)
                return -ENOMEM;
        r = read_metadata(args_path, FLASHER_ARGS_MAX, &text, &len, err);
        if (r < 0)
                return r;
        source = source_image_add_origin(img, SOURCE_FORMAT_ESP_IDF, argument, build_dir);
        if (source < 0)
                return source;

        first = img->n_regions;
        r = idf_flasher_args_parse(text, len, build_dir, img, (unsigned) source, err);
        if (r < 0) {
                /* Name the file: the parser only knows its basename. */
                SourceError e = *err;
                return source_error(err, r, "%s: %s", build_dir, e.message);
        }

        /* Older ESP-IDF releases write no chip into flasher_args.json. */
        if (img->chip)
                return 0;
        r = chip_from_sdkconfig(img, build_dir, err);
        if (r != 0)
                return r < 0 ? r : 0;
        for (size_t i = first; i < img->n_regions; i++)
                if (img->regions[i].name && streq(img->regions[i].name, "bootloader"))
                        return chip_from_image(img, img->regions[i].path, err);
        return 0;
}

/* ---- PlatformIO ------------------------------------------------------------------- */

/* A flash image named by idedata.json: the path as recorded, else (a build
 * tree moved or copied from another machine) the same file name in the
 * environment directory. */
static int resolve_pio_image(const char *env_dir, const char *path, char **ret, SourceError *err) {
        const char *base = strrchr(path, '/');
        char *p;

        if (path[0] == '/' ? is_regular(path) : false) {
                *ret = strdup(path);
                return *ret ? 0 : -ENOMEM;
        }
        p = path_join(env_dir, base ? base + 1 : path);
        if (!p)
                return -ENOMEM;
        if (is_regular(p)) {
                *ret = p;
                return 0;
        }
        free(p);
        return source_error(err, -ENOENT, "%s/idedata.json names %s, which does not exist (nor %s in %s)",
                            env_dir, path, base ? base + 1 : path, env_dir);
}

static int load_pio_env(SourceImage *img, const char *argument, const char *env_dir, SourceError *err) {
        _cleanup_(pio_idedata_done) PioIdedata idedata = {};
        _cleanup_free_ char *idedata_path = path_join(env_dir, "idedata.json");
        _cleanup_free_ char *firmware = NULL, *firmware_path = NULL;
        uint32_t app_offset = PIO_APP_OFFSET;
        bool have_idedata = false;
        unsigned files = 0;
        int source, r;

        if (!idedata_path)
                return -ENOMEM;
        if (is_regular(idedata_path)) {
                _cleanup_free_ char *text = NULL;
                size_t len;

                r = read_metadata(idedata_path, IDEDATA_MAX, &text, &len, err);
                if (r < 0)
                        return r;
                r = pio_idedata_parse(text, len, &idedata, err);
                if (r < 0) {
                        SourceError e = *err;
                        return source_error(err, r, "%s: %s", env_dir, e.message);
                }
                have_idedata = true;
                if (idedata.has_application_offset)
                        app_offset = idedata.application_offset;
        }

        if (asprintf(&firmware, "%s.bin", idedata.program ?: "firmware") < 0)
                return -ENOMEM;
        firmware_path = path_join(env_dir, firmware);
        if (!firmware_path)
                return -ENOMEM;

        source = source_image_add_origin(img, SOURCE_FORMAT_PLATFORMIO, argument, env_dir);
        if (source < 0)
                return source;

        if (have_idedata && idedata.n_images > 0) {
                /* The build said where everything goes. */
                for (size_t i = 0; i < idedata.n_images; i++) {
                        _cleanup_free_ char *path = NULL;
                        const char *base;

                        r = resolve_pio_image(env_dir, idedata.images[i].path, &path, err);
                        if (r < 0)
                                return r;
                        base = strrchr(path, '/');
                        base = base ? base + 1 : path;
                        r = source_image_add_region(img, (unsigned) source, idedata.images[i].offset, path,
                                                    streq(base, "bootloader.bin") ? "bootloader" :
                                                    streq(base, "partitions.bin") ? "partitions" :
                                                    streq(base, "boot_app0.bin") ? "boot_app0" : NULL);
                        if (r == -E2BIG)
                                return source_error(err, r, "More than %d regions", SOURCE_REGIONS_MAX);
                        if (r < 0)
                                return r;
                }
                if (!is_regular(firmware_path))
                        return source_error(err, -ENOENT, "%s: no %s (build the project first)", env_dir, firmware);
                r = source_image_add_region(img, (unsigned) source, app_offset, firmware_path, "app");
                if (r < 0)
                        return r == -E2BIG ? source_error(err, r, "More than %d regions", SOURCE_REGIONS_MAX) : r;
        } else {
                if (dir_has(env_dir, "bootloader.bin"))
                        files |= PIO_FILE_BOOTLOADER;
                if (dir_has(env_dir, "partitions.bin"))
                        files |= PIO_FILE_PARTITIONS;
                if (dir_has(env_dir, "boot_app0.bin"))
                        files |= PIO_FILE_BOOT_APP0;
                if (is_regular(firmware_path))
                        files |= PIO_FILE_FIRMWARE;
                r = pio_layout_add(img, (unsigned) source, env_dir, files, firmware, app_offset, err);
                if (r < 0)
                        return r;
        }

        /* The chip: sdkconfig, the toolchain, then the images' own headers. */
        r = chip_from_sdkconfig(img, env_dir, err);
        if (r != 0)
                return r < 0 ? r : 0;
        if (idedata.chip)
                return source_image_set_chip(img, idedata.chip, idedata_path, err);
        if (dir_has(env_dir, "bootloader.bin")) {
                _cleanup_free_ char *p = path_join(env_dir, "bootloader.bin");

                if (!p)
                        return -ENOMEM;
                r = chip_from_image(img, p, err);
                if (r < 0 || img->chip)
                        return r;
        }
        return chip_from_image(img, firmware_path, err);
}

static bool is_pio_env_dir(const char *dir) {
        return dir_has(dir, "idedata.json") || dir_has(dir, "firmware.bin");
}

/* A directory of environments (.pio/build): exactly one built environment is
 * used; several need the user to say which. */
static int load_pio_build_dir(SourceImage *img, const char *argument, const char *build_dir, SourceError *err) {
        _cleanup_(closedirp) DIR *d = NULL;
        _cleanup_free_ char *found = NULL;
        char names[256] = "";
        unsigned n = 0;
        struct dirent *de;

        if (img->pio_env) {
                _cleanup_free_ char *p = NULL;

                if (!*img->pio_env || strchr(img->pio_env, '/') || img->pio_env[0] == '.')
                        return source_error(err, -EINVAL, "-e %s: not an environment name", img->pio_env);
                p = path_join(build_dir, img->pio_env);
                if (!p)
                        return -ENOMEM;
                if (is_directory(p) && is_pio_env_dir(p))
                        return load_pio_env(img, argument, p, err);
                /* Fall through to list what there is. */
        }

        d = opendir(build_dir);
        if (!d)
                return source_error(err, -errno, "Cannot open %s: %s", build_dir, strerror(errno));
        while ((de = readdir(d))) {
                _cleanup_free_ char *p = NULL;

                if (de->d_name[0] == '.')
                        continue;
                p = path_join(build_dir, de->d_name);
                if (!p)
                        return -ENOMEM;
                if (!is_directory(p) || !is_pio_env_dir(p))
                        continue;
                if (n++ == 0)
                        found = TAKE_PTR(p);
                if (strlen(names) + strlen(de->d_name) + 3 < sizeof(names))
                        (void) strcat(strcat(names, n > 1 ? ", " : ""), de->d_name);
        }
        if (img->pio_env)
                return source_error(err, -ENOENT, "%s: no built environment %s (built: %s; run `pio run -e %s`)",
                                    build_dir, img->pio_env, n ? names : "none", img->pio_env);
        if (n == 0)
                return source_error(err, -ENOENT, "%s: no built PlatformIO environment (run `pio run` first)",
                                    build_dir);
        if (n > 1)
                return source_error(err, -EINVAL,
                                    "%s holds %u environments (%s): choose one with -e ENV",
                                    build_dir, n, names);
        return load_pio_env(img, argument, found, err);
}

/* ---- offsets ----------------------------------------------------------------------- */

static int offset_rule_error(const char *argument, const char *offset, SourceError *err) {
        uint32_t v;
        size_t n = strlen(offset);

        if (n > 1 && offset[0] == '0' && offset[1] != 'x' && offset[1] != 'X') {
                const char *digits = offset + strspn(offset, "0");

                return source_error(err, -EINVAL,
                                    "%s: offset %s has a leading zero, which is octal to some tools and decimal "
                                    "to others: write it as hexadecimal with 0x (0x%s) or as decimal without "
                                    "leading zeros",
                                    argument, offset, *digits ? digits : "0");
        }
        if (source_parse_offset(offset, &v) == -ERANGE)
                return source_error(err, -ERANGE, "%s: offset does not fit 32 bits", argument);
        return source_error(err, -EINVAL,
                            "%s: '%s' is not a flash offset: write hexadecimal with 0x (0x10000) or decimal "
                            "(65536)", argument, offset);
}

int source_offset_argument(const char *argument, uint32_t *ret, SourceError *err) {
        struct stat st;
        int r;

        if (!argument || argument[0] < '0' || argument[0] > '9' || strchr(argument, '=') ||
            stat(argument, &st) >= 0)
                return -ENOENT;
        r = source_parse_offset(argument, ret);
        if (r >= 0)
                return 0;
        return offset_rule_error(argument, argument, err);
}

/* ---- dispatch ---------------------------------------------------------------------- */

static int load_pair(SourceImage *img, const char *argument, uint32_t offset, const char *file,
                     SourceError *err) {
        int source, r;

        source = source_image_add_origin(img, SOURCE_FORMAT_PAIR, argument, NULL);
        if (source < 0)
                return source;
        r = source_image_add_region(img, (unsigned) source, offset, file, NULL);
        if (r == -E2BIG)
                return source_error(err, r, "More than %d regions", SOURCE_REGIONS_MAX);
        return r;
}

int source_load(SourceImage *img, const char *argument, SourceError *err) {
        _cleanup_free_ char *dir = NULL, *sub = NULL;
        const char *file, *base;
        SourceError ignored;
        uint32_t offset;
        struct stat st;
        int r;

        if (!err)
                err = &ignored;

        /* OFFSET=FILE first: "0x10000=app.bin" is never meant as a file name. */
        r = source_parse_pair(argument, &offset, &file);
        if (r == -ERANGE)
                return source_error(err, r, "%s: offset does not fit 32 bits", argument);
        if (r >= 0)
                return load_pair(img, argument, offset, file, err);
        /* "010000=app.bin", "0x1g000=app.bin": meant as a pair, so say why it is not one
         * instead of "No such file or directory". */
        file = strchr(argument, '=');
        if (file && argument[0] >= '0' && argument[0] <= '9' && stat(argument, &st) < 0) {
                _cleanup_free_ char *o = strndup(argument, (size_t) (file - argument));

                if (!o)
                        return -ENOMEM;
                return offset_rule_error(argument, o, err);
        }

        if (stat(argument, &st) < 0)
                return source_error(err, -errno, "%s: %s", argument, strerror(errno));

        if (S_ISREG(st.st_mode)) {
                base = strrchr(argument, '/');
                base = base ? base + 1 : argument;
                if (!streq(base, "flasher_args.json") && !streq(base, "idedata.json"))
                        return source_error(err, -EINVAL,
                                            "%s: a single file needs its flash offset: OFFSET=%s (e.g. 0x10000=%s)",
                                            argument, argument, argument);
                /* A metadata file stands for its directory. */
                _cleanup_free_ char *copy = strdup(argument);
                char *slash;

                if (!copy)
                        return -ENOMEM;
                slash = strrchr(copy, '/');
                if (slash)
                        *slash = '\0';
                r = source_absolute_path(slash ? (copy[0] ? copy : "/") : ".", &dir);
                if (r < 0)
                        return source_error(err, r, "%s: %s", argument, strerror(-r));
                return streq(base, "flasher_args.json") ? load_idf(img, argument, dir, err)
                                                               : load_pio_env(img, argument, dir, err);
        }
        if (!S_ISDIR(st.st_mode))
                return source_error(err, -EINVAL, "%s: neither a build directory nor a file", argument);

        /* Build metadata names paths relative to the directory; make them absolute. */
        r = source_absolute_path(argument, &dir);
        if (r < 0)
                return source_error(err, r, "%s: %s", argument, strerror(-r));

        if (dir_has(dir, "flasher_args.json"))
                return load_idf(img, argument, dir, err);
        if (is_pio_env_dir(dir))
                return load_pio_env(img, argument, dir, err);

        /* A project directory: ESP-IDF's build/, PlatformIO's .pio/build/. */
        sub = path_join(dir, "build");
        if (!sub)
                return -ENOMEM;
        if (dir_has(sub, "flasher_args.json"))
                return load_idf(img, argument, sub, err);
        free(sub);
        sub = path_join(dir, ".pio/build");
        if (!sub)
                return -ENOMEM;
        if (is_directory(sub))
                return load_pio_build_dir(img, argument, sub, err);

        /* .pio/build itself. */
        base = strrchr(dir, '/');
        if (base && streq(base, "/build") && strstr(dir, "/.pio/build"))
                return load_pio_build_dir(img, argument, dir, err);

        return source_error(err, -ENOENT,
                            "%s: not a build directory: no flasher_args.json (ESP-IDF), no firmware.bin or "
                            "idedata.json (PlatformIO), no build/ or .pio/build/ inside",
                            argument);
}
