/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* zlib loaded with dlopen() on the first compressed write rather than at start
 * (as systemd loads its compression libraries), and unloaded when the service
 * goes idle: an idle service need not map it. The functions flash-compress.c
 * uses, as pointers. */
#pragma once

#include <stdbool.h>
#include <zlib.h>

/* Loads zlib unless it is loaded (thread-safe): 0, or -EOPNOTSUPP if it
 * cannot be loaded. The sym_ pointers are set after 0, until the unload. */
int zlib_dl_load(void);
/* Unloads it: only while no thread may be (de)compressing (the service idle,
 * no job running). The next zlib_dl_load() loads it again. */
void zlib_dl_unload(void);
bool zlib_dl_loaded(void);

extern int (*sym_compress2)(Bytef *dest, uLongf *dest_len, const Bytef *source, uLong source_len, int level);
extern uLong (*sym_compressBound)(uLong source_len);
extern int (*sym_inflateInit_)(z_streamp strm, const char *version, int stream_size);
extern int (*sym_inflate)(z_streamp strm, int flush);
extern int (*sym_inflateEnd)(z_streamp strm);
