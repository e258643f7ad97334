/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fbuild-deployd-digest: the service's MD5 and SHA-256 in a process of their
 * own, started and stopped by the service (src/flash/digest.h), never by hand. */
#include "digest-helper.h"

int main(int argc, char *argv[]) {
        return digest_helper_main(argc, argv);
}
