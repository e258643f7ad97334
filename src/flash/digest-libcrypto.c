/* OpenSSL's digests, in the digest helper process only (digest-helper.h): the
 * symbols are resolved through dlopen() on the first digest, as systemd does
 * for its optional libraries, so that one binary serves both the low-level and
 * the EVP functions. OpenSSL's 1/0 results become errnos here, once.
 *
 * The low-level MD5_*() and SHA256_*() functions come first: OpenSSL 3's EVP
 * fetches digests through its provider machinery (configuration, provider
 * activation, name maps), whose first use leaves about 1.8 MiB more of
 * libcrypto resident than the digests themselves (measured: 3.4 MiB against
 * 1.6 MiB mapped after one MD5 and one SHA-256). They are deprecated in 3.0 but
 * still exported; a libcrypto built without them gets EVP. */
#include <dlfcn.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/md5.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "digest-libcrypto.h"

#ifndef LIBCRYPTO_SONAME
#error "LIBCRYPTO_SONAME is set by meson from the libcrypto found at build time"
#endif

/* One digest's low-level functions (the context is the caller's memory). */
typedef struct LowLevel {
        int (*init)(void *ctx);
        int (*update)(void *ctx, const void *data, size_t len);
        int (*final)(unsigned char *md, void *ctx);
} LowLevel;

static struct {
        bool low_level;
        LowLevel md5, sha256;
        EVP_MD_CTX *(*ctx_new)(void);
        void (*ctx_free)(EVP_MD_CTX *);
        int (*init_ex)(EVP_MD_CTX *, const EVP_MD *, ENGINE *);
        int (*update)(EVP_MD_CTX *, const void *, size_t);
        int (*final_ex)(EVP_MD_CTX *, unsigned char *, unsigned int *);
        const EVP_MD *(*evp_md5)(void);
        const EVP_MD *(*evp_sha256)(void);
} sym;
static int load_result = -EOPNOTSUPP;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static bool evp_only = false, load_started = false;

struct LibcryptoDigest {
        DigestKind kind;
        EVP_MD_CTX *evp;        /* NULL: the low-level context below */
        union {
                MD5_CTX md5;
                SHA256_CTX sha256;
        } ctx;
};

/* Casts through void * (POSIX guarantees dlsym's result converts). */
#define RESOLVE(dl, field, name) (*(void **) &(field) = dlsym((dl), (name)))

static void load(void) {
        void *dl;

        load_started = true;
        /* RTLD_NODELETE: never unloaded (OpenSSL links itself -z nodelete anyway);
         * RTLD_LOCAL: its symbols stay out of the global namespace. */
        dl = dlopen(LIBCRYPTO_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
        if (!dl)
                return;         /* -EOPNOTSUPP, which the service logs */
        sym.low_level = !evp_only && RESOLVE(dl, sym.md5.init, "MD5_Init") &&
                RESOLVE(dl, sym.md5.update, "MD5_Update") && RESOLVE(dl, sym.md5.final, "MD5_Final") &&
                RESOLVE(dl, sym.sha256.init, "SHA256_Init") && RESOLVE(dl, sym.sha256.update, "SHA256_Update") &&
                RESOLVE(dl, sym.sha256.final, "SHA256_Final");
        if (!sym.low_level &&
            !(RESOLVE(dl, sym.ctx_new, "EVP_MD_CTX_new") && RESOLVE(dl, sym.ctx_free, "EVP_MD_CTX_free") &&
              RESOLVE(dl, sym.init_ex, "EVP_DigestInit_ex") && RESOLVE(dl, sym.update, "EVP_DigestUpdate") &&
              RESOLVE(dl, sym.final_ex, "EVP_DigestFinal_ex") && RESOLVE(dl, sym.evp_md5, "EVP_md5") &&
              RESOLVE(dl, sym.evp_sha256, "EVP_sha256")))
                return;
        load_result = 0;
}

int libcrypto_digest_use_evp_only(void) {
        if (load_started)
                return -EBUSY;
        evp_only = true;
        return 0;
}

bool libcrypto_digest_loaded(void) {
        return dlopen(LIBCRYPTO_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD | RTLD_NODELETE) != NULL;
}

static const LowLevel *low_level(const LibcryptoDigest *d) {
        return d->kind == DIGEST_MD5 ? &sym.md5 : &sym.sha256;
}

LibcryptoDigest *libcrypto_digest_free(LibcryptoDigest *d) {
        if (!d)
                return NULL;
        if (d->evp)
                sym.ctx_free(d->evp);
        free(d);
        return NULL;
}

int libcrypto_digest_new(DigestKind kind, LibcryptoDigest **ret) {
        _cleanup_(libcrypto_digest_freep) LibcryptoDigest *d = NULL;
        const EVP_MD *md;

        if (!ret || (kind != DIGEST_MD5 && kind != DIGEST_SHA256))
                return -EINVAL;
        (void) pthread_once(&load_once, load);
        if (load_result < 0)
                return load_result;

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->kind = kind;
        if (sym.low_level) {
                if (low_level(d)->init(&d->ctx) != 1)
                        return -EIO;
                *ret = TAKE_PTR(d);
                return 0;
        }

        md = kind == DIGEST_MD5 ? sym.evp_md5() : sym.evp_sha256();
        if (!md)
                return -EOPNOTSUPP;
        d->evp = sym.ctx_new();
        if (!d->evp)
                return -ENOMEM;
        /* Fails without an errno: a disabled digest (FIPS) or an internal error. */
        if (sym.init_ex(d->evp, md, NULL) != 1)
                return -EOPNOTSUPP;
        *ret = TAKE_PTR(d);
        return 0;
}

int libcrypto_digest_update(LibcryptoDigest *d, const void *data, size_t len) {
        int ok;

        if (!d || (!data && len > 0))
                return -EINVAL;
        if (len == 0)
                return 0;
        ok = d->evp ? sym.update(d->evp, data, len) : low_level(d)->update(&d->ctx, data, len);
        return ok == 1 ? 0 : -EIO;
}

int libcrypto_digest_final(LibcryptoDigest *d, uint8_t *ret, size_t size) {
        uint8_t digest[EVP_MAX_MD_SIZE];
        unsigned n = 0;

        if (!d || !ret)
                return -EINVAL;
        if (size != digest_kind_size(d->kind))
                return -EINVAL;
        if (d->evp) {
                if (sym.final_ex(d->evp, digest, &n) != 1 || n != size)
                        return -EIO;
        } else if (low_level(d)->final(digest, &d->ctx) != 1)
                return -EIO;
        memcpy(ret, digest, size);
        return 0;
}
