/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The service's side of the digests (digest.h): a pool of helper processes,
 * each serving one digest at a time over its own socket, so that no lock is
 * held while bytes are hashed. A helper that fails in any way is killed and
 * reaped at once and its digest fails with -ECHILD: a digest is never guessed. */
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "digest-helper.h"
#include "digest.h"
#include "log.h"
#include "spawn-util.h"

#ifndef LIBCRYPTO_SONAME
#error "LIBCRYPTO_SONAME is set by meson from the libcrypto found at build time"
#endif

typedef struct DigestHelper {
        pid_t pid;
        int sock;
        struct DigestHelper *next;      /* in the idle list */
} DigestHelper;

struct Digest {
        DigestKind kind;
        DigestHelper *helper;   /* NULL once it failed */
        bool begun;             /* BEGIN sent */
};

/* The pool: process-wide, like the helper processes it stands for. */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static DigestHelper *pool_idle;
static unsigned pool_running;
static char *pool_path;
static bool pool_evp_only;

bool digest_loaded(void) {
        void *dl = dlopen(LIBCRYPTO_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);

        /* NOLOAD counts a reference too: give it back. */
        if (dl)
                (void) dlclose(dl);
        return dl != NULL;
}

int digest_set_helper(const char *path) {
        char *copy;
        int r = 0;

        if (!path || path[0] != '/')
                return -EINVAL;
        copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        pthread_mutex_lock(&pool_lock);
        if (pool_running > 0)
                r = -EBUSY;
        else {
                free(pool_path);
                pool_path = TAKE_PTR(copy);
        }
        pthread_mutex_unlock(&pool_lock);
        free(copy);
        return r;
}

int digest_use_evp_only(void) {
        int r = 0;

        pthread_mutex_lock(&pool_lock);
        if (pool_running > 0)
                r = -EBUSY;
        else
                pool_evp_only = true;
        pthread_mutex_unlock(&pool_lock);
        return r;
}

unsigned digest_helpers_running(void) {
        unsigned n;

        pthread_mutex_lock(&pool_lock);
        n = pool_running;
        pthread_mutex_unlock(&pool_lock);
        return n;
}

/* The helper beside our own binary. */
static char *helper_path_beside_exe(void) {
        _cleanup_free_ char *exe = spawn_self_exe();
        char *slash, *path;

        slash = exe ? strrchr(exe, '/') : NULL;
        if (!slash)
                return NULL;
        *slash = '\0';
        if (asprintf(&path, "%s/%s", exe, DIGEST_HELPER_NAME) < 0)
                return NULL;
        return path;
}

/* Kills (a helper may hang; one that is killed goes at once) and reaps: no
 * zombie, no fd left. Nothing else in the service waits for children. */
static void helper_stop(DigestHelper *h) {
        if (!h)
                return;
        safe_close(h->sock);
        (void) kill(h->pid, SIGKILL);
        while (waitpid(h->pid, NULL, 0) < 0 && errno == EINTR)
                ;
        free(h);
        pthread_mutex_lock(&pool_lock);
        pool_running--;
        pthread_mutex_unlock(&pool_lock);
}

static int helper_start(DigestHelper **ret) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int parent = -EBADF, child = -EBADF;
        struct timeval tv = { .tv_sec = DIGEST_HELPER_TIMEOUT_MSEC / 1000 };
        DigestHelper *h;
        bool evp_only;
        int pair[2], r;
        pid_t pid;

        pthread_mutex_lock(&pool_lock);
        path = pool_path ? strdup(pool_path) : helper_path_beside_exe();
        evp_only = pool_evp_only;
        pthread_mutex_unlock(&pool_lock);
        if (!path) {
                log_error("Cannot find the digest helper %s beside this program.", DIGEST_HELPER_NAME);
                return -ECHILD;
        }

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
                log_error_errno(errno, "Cannot start the digest helper: %m");
                return -ECHILD;
        }
        parent = pair[0];
        child = pair[1];
        /* A helper that stops reading must not hold a job forever. */
        if (setsockopt(parent, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
                log_error_errno(errno, "Cannot start the digest helper: %m");
                return -ECHILD;
        }

        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        r = spawn_with_socket(path, (char *[]) { path, evp_only ? (char *) DIGEST_HELPER_ARGV_EVP_ONLY : NULL, NULL },
                              child, DIGEST_HELPER_FD, &pid);
        if (r < 0) {
                free(h);
                log_error_errno(r, "Cannot start the digest helper %s: %m", path);
                return -ECHILD;
        }
        h->pid = pid;
        h->sock = TAKE_FD(parent);
        pthread_mutex_lock(&pool_lock);
        pool_running++;
        pthread_mutex_unlock(&pool_lock);
        *ret = h;
        return 0;
}

static int helper_take(DigestHelper **ret) {
        DigestHelper *h;

        pthread_mutex_lock(&pool_lock);
        h = pool_idle;
        if (h)
                pool_idle = h->next;
        pthread_mutex_unlock(&pool_lock);
        if (h) {
                h->next = NULL;
                *ret = h;
                return 0;
        }
        return helper_start(ret);
}

static void helper_give_back(DigestHelper *h) {
        pthread_mutex_lock(&pool_lock);
        h->next = pool_idle;
        pool_idle = h;
        pthread_mutex_unlock(&pool_lock);
}

unsigned digest_helpers_stop(void) {
        DigestHelper *list;
        unsigned n = 0;

        pthread_mutex_lock(&pool_lock);
        list = TAKE_PTR(pool_idle);
        pthread_mutex_unlock(&pool_lock);
        while (list) {
                DigestHelper *next = list->next;

                helper_stop(list);
                list = next;
                n++;
        }
        return n;
}

/* The helper failed this digest: it is stopped, the digest is done for. */
static int digest_fail(Digest *d, int error, const char *what) {
        log_error_errno(error, "The digest helper (pid %d) %s: %m", (int) d->helper->pid, what);
        helper_stop(TAKE_PTR(d->helper));
        return -ECHILD;
}

static int digest_send(Digest *d, uint8_t flags, const void *data, size_t len) {
        DigestHelperRequest req = { .flags = flags, .kind = (uint8_t) d->kind };
        struct iovec iov[2] = {
                { .iov_base = &req, .iov_len = sizeof(req) },
                { .iov_base = (void *) data, .iov_len = len },
        };
        struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len > 0 ? 2 : 1 };
        ssize_t n;

        if (!d->begun)
                req.flags |= DIGEST_HELPER_BEGIN;
        do
                n = sendmsg(d->helper->sock, &mh, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return digest_fail(d, errno == EAGAIN ? ETIMEDOUT : errno, "did not take the bytes to hash");
        if ((size_t) n != sizeof(req) + len)
                return digest_fail(d, EIO, "took part of a request");
        d->begun = true;
        return 0;
}

/* Sends data in chunks, the last one carrying FINAL when final is set. */
static int digest_feed(Digest *d, const void *data, size_t len, bool final) {
        const uint8_t *p = data;
        int r;

        if (!d->helper)
                return -ECHILD;
        do {
                size_t n = len < DIGEST_HELPER_CHUNK_SIZE ? len : DIGEST_HELPER_CHUNK_SIZE;
                bool last = n == len;

                r = digest_send(d, last && final ? DIGEST_HELPER_FINAL : 0, p, n);
                if (r < 0)
                        return r;
                if (last)
                        break;  /* p may be NULL when len is 0: no pointer arithmetic on it */
                p += n;
                len -= n;
        } while (len > 0);
        return 0;
}

static int digest_receive(Digest *d, uint8_t *ret, size_t size) {
        DigestHelperReply reply;
        /* One byte more than any reply, so that a longer one shows. */
        uint8_t buf[sizeof(reply) + 1];
        struct pollfd pfd = { .fd = d->helper->sock, .events = POLLIN };
        ssize_t n;
        int r;

        do
                r = poll(&pfd, 1, DIGEST_HELPER_TIMEOUT_MSEC);
        while (r < 0 && errno == EINTR);
        if (r < 0)
                return digest_fail(d, errno, "cannot be waited for");
        if (r == 0)
                return digest_fail(d, ETIMEDOUT, "did not answer");
        do
                n = recv(d->helper->sock, buf, sizeof(buf), MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno != ECONNRESET)
                return digest_fail(d, errno, "cannot be read");
        if (n <= 0)
                return digest_fail(d, ECONNRESET, "died before answering");
        memset(&reply, 0, sizeof(reply));
        memcpy(&reply, buf, MIN((size_t) n, sizeof(reply)));
        /* An error comes alone, a digest with exactly its size: anything else is
         * not an answer we can trust. */
        if ((size_t) n < sizeof(reply.error) ||
            (reply.error == 0 && (size_t) n != DIGEST_HELPER_REPLY_SIZE(size)) ||
            (reply.error != 0 && ((size_t) n != sizeof(reply.error) || reply.error < 0 || reply.error > 4095)))
                return digest_fail(d, EBADMSG, "answered something that is not a digest");

        helper_give_back(TAKE_PTR(d->helper));
        /* The helper's own refusals mean what they say (no libcrypto or no such
         * digest in it, no memory); anything else is its failure, not ours to
         * pass on as if it were about the caller's image. */
        if (reply.error == EOPNOTSUPP || reply.error == ENOMEM)
                return -reply.error;
        if (reply.error != 0) {
                log_error_errno(reply.error, "The digest helper failed a digest: %m");
                return -ECHILD;
        }
        memcpy(ret, reply.digest, size);
        return 0;
}

Digest *digest_free(Digest *d) {
        if (!d)
                return NULL;
        /* Unfinished: the next digest's BEGIN drops what the helper holds. */
        if (d->helper)
                helper_give_back(d->helper);
        free(d);
        return NULL;
}

int digest_new(DigestKind kind, Digest **ret) {
        _cleanup_(digest_freep) Digest *d = NULL;
        int r;

        if (!ret || (kind != DIGEST_MD5 && kind != DIGEST_SHA256))
                return -EINVAL;
        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->kind = kind;
        r = helper_take(&d->helper);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(d);
        return 0;
}

int digest_update(Digest *d, const void *data, size_t len) {
        if (!d || (!data && len > 0))
                return -EINVAL;
        if (len == 0)
                return d->helper ? 0 : -ECHILD;
        return digest_feed(d, data, len, false);
}

/* The last bytes and the answer in as few messages as they fit. */
static int digest_finish(Digest *d, const void *data, size_t len, uint8_t *ret, size_t size) {
        int r;

        if (!d || !ret || (!data && len > 0))
                return -EINVAL;
        if (size != digest_kind_size(d->kind))
                return -EINVAL;
        r = digest_feed(d, data, len, true);
        if (r < 0)
                return r;
        return digest_receive(d, ret, size);
}

int digest_final(Digest *d, uint8_t *ret, size_t size) {
        return digest_finish(d, NULL, 0, ret, size);
}

int digest_md5(const void *data, size_t len, uint8_t ret[DIGEST_MD5_SIZE]) {
        _cleanup_(digest_freep) Digest *d = NULL;
        int r;

        if ((!data && len > 0) || !ret)
                return -EINVAL;
        r = digest_new(DIGEST_MD5, &d);
        if (r < 0)
                return r;
        return digest_finish(d, data, len, ret, DIGEST_MD5_SIZE);
}
