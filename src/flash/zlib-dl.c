/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* zlib through dlopen() (see zlib-dl.h): resolved on the first use, again after
 * each unload. zlib stays a hard dependency; only when it is mapped changes. */
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

/* The handle, under the lock: loading and unloading may race otherwise. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *handle;

#define RESOLVE(dl, field, name) (*(void **) &(field) = dlsym((dl), (name)))

static int load_locked(void) {
        void *dl;

        if (handle)
                return 0;
        dl = dlopen(ZLIB_SONAME, RTLD_NOW | RTLD_LOCAL);
        if (!dl) {
                log_error("cannot load %s: %s", ZLIB_SONAME, dlerror());
                return -EOPNOTSUPP;
        }
        if (!(RESOLVE(dl, sym_compress2, "compress2") && RESOLVE(dl, sym_compressBound, "compressBound") &&
              RESOLVE(dl, sym_inflateInit_, "inflateInit_") && RESOLVE(dl, sym_inflate, "inflate") &&
              RESOLVE(dl, sym_inflateEnd, "inflateEnd"))) {
                log_error("%s: the functions needed do not resolve", ZLIB_SONAME);
                (void) dlclose(dl);
                return -EOPNOTSUPP;
        }
        handle = dl;
        return 0;
}

int zlib_dl_load(void) {
        int r;

        pthread_mutex_lock(&lock);
        r = load_locked();
        pthread_mutex_unlock(&lock);
        return r;
}

void zlib_dl_unload(void) {
        pthread_mutex_lock(&lock);
        if (handle) {
                (void) dlclose(handle);
                handle = NULL;
                sym_compress2 = NULL;
                sym_compressBound = NULL;
                sym_inflateInit_ = NULL;
                sym_inflate = NULL;
                sym_inflateEnd = NULL;
        }
        pthread_mutex_unlock(&lock);
}

bool zlib_dl_loaded(void) {
        void *dl = dlopen(ZLIB_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);

        /* NOLOAD counts a reference too: give it back. */
        if (dl)
                (void) dlclose(dl);
        return dl != NULL;
}
