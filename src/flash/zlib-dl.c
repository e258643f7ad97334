/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* zlib through dlopen() (see zlib-dl.h): resolved once, on the first use. zlib
 * stays a hard dependency; only the time it is loaded moves. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>

#include "log.h"
#include "zlib-dl.h"

#ifndef ZLIB_SONAME
#error "ZLIB_SONAME is set by meson from the zlib found at build time"
#endif

int (*sym_compress2)(Bytef *, uLongf *, const Bytef *, uLong, int);
uLong (*sym_compressBound)(uLong);
int (*sym_inflateInit_)(z_streamp, const char *, int);
int (*sym_inflate)(z_streamp, int);
int (*sym_inflateEnd)(z_streamp);

static int load_result = -EOPNOTSUPP;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

/* Casts through void * (POSIX guarantees dlsym's result converts). */
#define RESOLVE(dl, field, name) (*(void **) &(field) = dlsym((dl), (name)))

static void load(void) {
        void *dl;

        dl = dlopen(ZLIB_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
        if (!dl) {
                log_error("cannot load %s: %s", ZLIB_SONAME, dlerror());
                return;
        }
        if (!(RESOLVE(dl, sym_compress2, "compress2") && RESOLVE(dl, sym_compressBound, "compressBound") &&
              RESOLVE(dl, sym_inflateInit_, "inflateInit_") && RESOLVE(dl, sym_inflate, "inflate") &&
              RESOLVE(dl, sym_inflateEnd, "inflateEnd"))) {
                log_error("%s: the functions needed do not resolve", ZLIB_SONAME);
                return;
        }
        load_result = 0;
}

int zlib_dl_load(void) {
        (void) pthread_once(&load_once, load);
        return load_result;
}

bool zlib_dl_loaded(void) {
        return dlopen(ZLIB_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD | RTLD_NODELETE) != NULL;
}
