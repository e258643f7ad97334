/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Finding the user's toolchain's flasher stub: the directories each toolchain
 * installs esptool into, esptool's file names in them, and a shape check with
 * the client's JSON parser (the service checks it again, and against the chip). */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "json.h"
#include "macro.h"
#include "source-stub.h"
#include "string-util.h"

/* As the service's bound (flash-stub.h): no stub is larger. */
#define SOURCE_STUB_FILE_MAX (256 * 1024)
#define STUB_SUBDIR "esptool/targets/stub_flasher"

static int append_dir(char **path, const char *middle, const char *root, const char *suffix) {
        char *n = NULL;

        if (!root || !root[0] || root[0] != '/')
                return 0;
        if (asprintf(&n, "%s%s%s%s%s", *path ? *path : "", *path && (*path)[0] ? ":" : "", root,
                     middle, suffix) < 0)
                return -ENOMEM;
        free(*path);
        *path = n;
        return 0;
}

int source_stub_search_path(const SourceStubRoots *roots, char **ret) {
        _cleanup_free_ char *path = strdup(""), *pio = NULL;
        int r;

        if (!roots || !ret)
                return -EINVAL;
        if (!path)
                return -ENOMEM;
        /* ESP-IDF's own copy of esptool (a submodule), then its Python environment */
        r = append_dir(&path, "/components/esptool_py/esptool/", roots->idf_path, STUB_SUBDIR);
        if (r >= 0)
                r = append_dir(&path, "/lib/python3*/site-packages/", roots->idf_python_env, STUB_SUBDIR);
        /* PlatformIO's package of esptool */
        if (r >= 0 && !roots->pio_core && roots->home && asprintf(&pio, "%s/.platformio", roots->home) < 0)
                return -ENOMEM;
        if (r >= 0)
                r = append_dir(&path, "/packages/tool-esptoolpy/", roots->pio_core ?: pio, STUB_SUBDIR);
        /* the Python environments ESP-IDF's installer makes, and pip --user */
        if (r >= 0)
                r = append_dir(&path, "/.espressif/python_env/*/lib/python3*/site-packages/", roots->home,
                               STUB_SUBDIR);
        if (r >= 0)
                r = append_dir(&path, "/.local/lib/python3*/site-packages/", roots->home, STUB_SUBDIR);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(path);
        return 0;
}

/* Opens path if it holds a JSON object shaped like an esptool stub. */
static int open_stub_file(const char *path, int *ret_fd) {
        _cleanup_(json_value_freep) JsonValue *v = NULL;
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int fd = -EBADF;
        uint64_t u;
        size_t n;
        int r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        r = fd_read_regular(fd, SOURCE_STUB_FILE_MAX, &text, &n);
        if (r < 0)
                return r;
        if (json_parse(text, n, &v, NULL) < 0 || json_value_type(v) != JSON_OBJECT ||
            json_number_uint64(json_object_get(v, "entry"), &u) < 0 ||
            json_number_uint64(json_object_get(v, "text_start"), &u) < 0 ||
            !json_string(json_object_get(v, "text")))
                return -EBADMSG;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int find_in(const char *dir, const char *chip, int *ret_fd, char **ret_path) {
        static const char *const subdirs[] = { "", "1/", "2/", "stub_flasher_" };
        const char *suffix = strncmp(chip, "esp", 3) == 0 ? chip + 3 : chip;

        for (size_t i = 0; i < ELEMENTSOF(subdirs); i++) {
                _cleanup_free_ char *path = NULL;

                if (asprintf(&path, "%s/%s%s.json", dir, subdirs[i], i == 3 ? suffix : chip) < 0)
                        return -ENOMEM;
                if (open_stub_file(path, ret_fd) >= 0) {
                        if (ret_path)
                                *ret_path = TAKE_PTR(path);
                        return 0;
                }
        }
        return -ENOENT;
}

int source_stub_open(const SourceStubRoots *roots, const char *chip, int *ret_fd, char **ret_path) {
        _cleanup_free_ char *search = NULL;
        char *saveptr = NULL;
        int r;

        if (!roots || !chip || !ret_fd || strchr(chip, '/'))
                return -EINVAL;
        r = source_stub_search_path(roots, &search);
        if (r < 0)
                return r;
        for (char *e = strtok_r(search, ":", &saveptr); e; e = strtok_r(NULL, ":", &saveptr)) {
                glob_t g = {};

                if (glob(e, GLOB_ONLYDIR, NULL, &g) == 0)
                        for (size_t i = 0; i < g.gl_pathc; i++)
                                if (find_in(g.gl_pathv[i], chip, ret_fd, ret_path) >= 0) {
                                        globfree(&g);
                                        return 0;
                                }
                globfree(&g);
        }
        return -ENOENT;
}
