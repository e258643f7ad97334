/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The flasher stub of the user's own toolchain (ESP-IDF's esptool, its Python
 * environment, PlatformIO's tool-esptoolpy, a pip --user esptool), for
 * fbuildctl to pass to the service as an fd: the service reads only its own
 * system paths, not the caller's home. */
#pragma once

#include <stddef.h>

/* Where to look; NULL members are skipped. fbuildctl fills them from IDF_PATH,
 * IDF_PYTHON_ENV_PATH, PLATFORMIO_CORE_DIR and HOME. */
typedef struct SourceStubRoots {
        const char *idf_path;
        const char *idf_python_env;
        const char *pio_core;           /* NULL: $home/.platformio */
        const char *home;
} SourceStubRoots;

/* The directories to search, in order, as ':'-separated glob patterns
 * (malloc'd; "" if there are none). */
int source_stub_search_path(const SourceStubRoots *roots, char **ret);
/* Opens the first file for chip (<chip>.json, 1/<chip>.json, 2/<chip>.json or
 * stub_flasher_<32c3>.json in a directory of the search path) that holds
 * something shaped like an esptool stub: a JSON object with numbers "entry"
 * and "text_start" and a string "text", at most 256 KiB. *ret_fd is open
 * read-only, at offset 0; ret_path (optional) gets its path. -ENOENT if none. */
int source_stub_open(const SourceStubRoots *roots, const char *chip, int *ret_fd, char **ret_path);
