/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The digest helper's loop (digest-helper.h): requests in, one reply per FINAL.
 * Whatever goes wrong with a digest is answered as an errno at its FINAL; a
 * message that breaks the format ends the helper, which the service sees as
 * its socket closing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "digest-helper.h"
#include "digest-libcrypto.h"
#include "string-util.h"

typedef struct HelperState {
        LibcryptoDigest *digest;
        DigestKind kind;
        int error;              /* the first error of the digest under way (positive errno) */
} HelperState;

static void helper_begin(HelperState *s, uint8_t kind) {
        s->digest = libcrypto_digest_free(s->digest);
        s->error = 0;
        if (kind >= _DIGEST_KIND_MAX) {
                s->error = EINVAL;
                return;
        }
        s->kind = (DigestKind) kind;
        s->error = -libcrypto_digest_new(s->kind, &s->digest);
}

static int helper_reply(HelperState *s) {
        DigestHelperReply reply = {};
        size_t size = digest_kind_size(s->kind);
        ssize_t n;
        int r;

        if (s->error == 0 && !s->digest)
                s->error = EBADMSG;     /* FINAL without BEGIN */
        if (s->error == 0) {
                r = libcrypto_digest_final(s->digest, reply.digest, size);
                if (r < 0)
                        s->error = -r;
        }
        reply.error = s->error;
        s->digest = libcrypto_digest_free(s->digest);
        s->error = 0;

        do
                n = send(DIGEST_HELPER_FD, &reply, DIGEST_HELPER_REPLY_SIZE(reply.error == 0 ? size : 0),
                         MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        return n < 0 ? -errno : 0;
}

int digest_helper_main(int argc, char *argv[]) {
        _cleanup_free_ uint8_t *buf = NULL;
        HelperState s = {};
        int type = 0, r = 0;
        socklen_t len = sizeof(type);
        /* One byte more than the largest request, so that a longer one shows. */
        const size_t buf_size = sizeof(DigestHelperRequest) + DIGEST_HELPER_CHUNK_SIZE + 1;

        if (getsockopt(DIGEST_HELPER_FD, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_SEQPACKET) {
                fprintf(stderr, "This program is internal to fbuild-deployd: it answers on fd %d only.\n",
                        DIGEST_HELPER_FD);
                return EXIT_FAILURE;
        }
        if (argc > 2 || (argc == 2 && !streq(argv[1], DIGEST_HELPER_ARGV_EVP_ONLY)))
                return EXIT_FAILURE;
        if (argc == 2)
                (void) libcrypto_digest_use_evp_only();
        /* Holds nothing of anyone's but the bytes it is sent. */
        if (chdir("/") < 0)
                return EXIT_FAILURE;

        buf = malloc(buf_size);
        if (!buf)
                return EXIT_FAILURE;

        for (;;) {
                DigestHelperRequest req;
                ssize_t n;

                n = recv(DIGEST_HELPER_FD, buf, buf_size, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;          /* the service is done with us (or gone) */
                if ((size_t) n < sizeof(req) || (size_t) n == buf_size) {
                        r = -EBADMSG;
                        break;
                }
                memcpy(&req, buf, sizeof(req));
                if (req.flags & DIGEST_HELPER_BEGIN)
                        helper_begin(&s, req.kind);
                else if (!s.digest && s.error == 0)
                        s.error = EBADMSG;
                if (s.error == 0 && (size_t) n > sizeof(req)) {
                        r = libcrypto_digest_update(s.digest, buf + sizeof(req), (size_t) n - sizeof(req));
                        if (r < 0)
                                s.error = -r;
                }
                if (req.flags & DIGEST_HELPER_FINAL) {
                        r = helper_reply(&s);
                        if (r < 0)
                                break;
                }
                r = 0;
        }

        libcrypto_digest_free(s.digest);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
