/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* OpenSSL's EVP digests through dlopen(): the symbols are resolved once, on the
 * first digest, as systemd does for its optional libraries. libcrypto stays a
 * hard dependency (the package depends on it); only the time it is loaded
 * moves. OpenSSL's 1/0 results become errnos here, once. */
#include <dlfcn.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "digest.h"
#include "log.h"

#ifndef LIBCRYPTO_SONAME
#error "LIBCRYPTO_SONAME is set by meson from the libcrypto found at build time"
#endif

static struct {
        EVP_MD_CTX *(*ctx_new)(void);
        void (*ctx_free)(EVP_MD_CTX *);
        int (*init_ex)(EVP_MD_CTX *, const EVP_MD *, ENGINE *);
        int (*update)(EVP_MD_CTX *, const void *, size_t);
        int (*final_ex)(EVP_MD_CTX *, unsigned char *, unsigned int *);
        const EVP_MD *(*md5)(void);
        const EVP_MD *(*sha256)(void);
} sym;
static int load_result = -EOPNOTSUPP;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void *resolve(void *dl, const char *name, bool *ok) {
        void *p = dlsym(dl, name);

        if (!p) {
                log_error("%s: no symbol %s", LIBCRYPTO_SONAME, name);
                *ok = false;
        }
        return p;
}

static void load(void) {
        bool ok = true;
        void *dl;

        /* RTLD_NODELETE: never unloaded (OpenSSL links itself -z nodelete anyway);
         * RTLD_LOCAL: its symbols stay out of the global namespace. */
        dl = dlopen(LIBCRYPTO_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
        if (!dl) {
                log_error("cannot load %s: %s", LIBCRYPTO_SONAME, dlerror());
                return;
        }
        /* Casts through void * (POSIX guarantees dlsym's result converts). */
        *(void **) &sym.ctx_new = resolve(dl, "EVP_MD_CTX_new", &ok);
        *(void **) &sym.ctx_free = resolve(dl, "EVP_MD_CTX_free", &ok);
        *(void **) &sym.init_ex = resolve(dl, "EVP_DigestInit_ex", &ok);
        *(void **) &sym.update = resolve(dl, "EVP_DigestUpdate", &ok);
        *(void **) &sym.final_ex = resolve(dl, "EVP_DigestFinal_ex", &ok);
        *(void **) &sym.md5 = resolve(dl, "EVP_md5", &ok);
        *(void **) &sym.sha256 = resolve(dl, "EVP_sha256", &ok);
        if (ok)
                load_result = 0;
}

bool digest_loaded(void) {
        return dlopen(LIBCRYPTO_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD | RTLD_NODELETE) != NULL;
}

int digest_new(DigestKind kind, Digest **ret) {
        EVP_MD_CTX *ctx;
        const EVP_MD *md;

        if (!ret || (kind != DIGEST_MD5 && kind != DIGEST_SHA256))
                return -EINVAL;
        (void) pthread_once(&load_once, load);
        if (load_result < 0)
                return load_result;

        md = kind == DIGEST_MD5 ? sym.md5() : sym.sha256();
        if (!md)
                return -EOPNOTSUPP;
        ctx = sym.ctx_new();
        if (!ctx)
                return -ENOMEM;
        /* Fails without an errno: a disabled digest (FIPS) or an internal error. */
        if (sym.init_ex(ctx, md, NULL) != 1) {
                sym.ctx_free(ctx);
                return -EOPNOTSUPP;
        }
        *ret = (Digest *) ctx;
        return 0;
}

int digest_update(Digest *d, const void *data, size_t len) {
        if (!d || (!data && len > 0))
                return -EINVAL;
        if (len > 0 && sym.update((EVP_MD_CTX *) d, data, len) != 1)
                return -EIO;
        return 0;
}

int digest_final(Digest *d, uint8_t *ret, size_t size) {
        uint8_t digest[EVP_MAX_MD_SIZE];
        unsigned n = 0;

        if (!d || !ret)
                return -EINVAL;
        if (sym.final_ex((EVP_MD_CTX *) d, digest, &n) != 1)
                return -EIO;
        if (n != size)
                return -EINVAL;
        memcpy(ret, digest, n);
        return 0;
}

Digest *digest_free(Digest *d) {
        if (d)
                sym.ctx_free((EVP_MD_CTX *) d);
        return NULL;
}

int digest_md5(const void *data, size_t len, uint8_t ret[DIGEST_MD5_SIZE]) {
        _cleanup_(digest_freep) Digest *d = NULL;
        int r;

        if ((!data && len > 0) || !ret)
                return -EINVAL;
        r = digest_new(DIGEST_MD5, &d);
        if (r < 0)
                return r;
        r = digest_update(d, data, len);
        if (r < 0)
                return r;
        return digest_final(d, ret, DIGEST_MD5_SIZE);
}
