/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PrivateTmp= detection from mountinfo lines: vectors as systemd leaves them. */
#undef NDEBUG
#include <assert.h>
#include <stdio.h>

#include "macro.h"
#include "private-tmp.h"

static const struct {
        const char *mountinfo;
        const char *mount_point;
        bool private;
} vectors[] = {
        /* No mount on /tmp at all: the root file system's /tmp. */
        { "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n", "/tmp", false },
        /* A tmpfs on /tmp: shared with every process. */
        { "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
          "30 22 0:27 / /tmp rw,nosuid,nodev shared:5 - tmpfs tmpfs rw\n", "/tmp", false },
        /* PrivateTmp=yes on a tmpfs /tmp. */
        { "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
          "30 22 0:27 / /tmp rw shared:5 - tmpfs tmpfs rw\n"
          "41 30 0:27 /systemd-private-0c1e2f-fbuild-deployd.service-Ab12Cd/tmp /tmp rw - tmpfs tmpfs rw\n",
          "/tmp", true },
        /* … and /var/tmp on the root file system. */
        { "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
          "42 22 8:1 /var/tmp/systemd-private-0c1e2f-fbuild-deployd.service-Xy/tmp /var/tmp rw - ext4 /dev/sda1 rw",
          "/var/tmp", true },
        /* The private /tmp seen, but the question is about /var/tmp. */
        { "41 30 0:27 /systemd-private-0c1e2f-x.service-Ab/tmp /tmp rw - tmpfs tmpfs rw\n", "/var/tmp", false },
        /* A later mount over the private one: the last one counts. */
        { "41 30 0:27 /systemd-private-0c1e2f-x.service-Ab/tmp /tmp rw - tmpfs tmpfs rw\n"
          "50 41 0:40 / /tmp rw - tmpfs tmpfs rw\n", "/tmp", false },
        /* A mount point that only starts with /tmp. */
        { "41 30 0:27 /systemd-private-0c1e2f-x.service-Ab/tmp /tmpx rw - tmpfs tmpfs rw\n", "/tmp", false },
        /* Truncated lines and empty text. */
        { "41 30 0:27", "/tmp", false },
        { "", "/tmp", false },
};

int main(void) {
        for (size_t i = 0; i < ELEMENTSOF(vectors); i++) {
                bool got = mountinfo_is_private_tmp(vectors[i].mountinfo, vectors[i].mount_point);
                if (got != vectors[i].private) {
                        fprintf(stderr, "vector %zu: expected %d, got %d\n", i, vectors[i].private, got);
                        return 1;
                }
        }
        /* Paths outside /tmp and /var/tmp never are, whatever the mounts. */
        assert(!path_private_tmp_dir("/home/alice/app.bin"));
        assert(!path_private_tmp_dir("/tmpfoo/app.bin"));
        assert(!path_private_tmp_dir("/var/tmpx/app.bin"));
        return 0;
}
