/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Prints device_node_open_elsewhere(NODE): 1 if another process holds the node
 * open, 0 if none that this process can see does, or -errno. For tests that run
 * the service's /proc scan under the unit's conditions (test_holders_proc.py). */
#include <stdio.h>

#include "device-holders.h"

int main(int argc, char *argv[]) {
        if (argc != 2) {
                fprintf(stderr, "usage: %s NODE\n", argv[0]);
                return 2;
        }
        printf("%d\n", device_node_open_elsewhere(argv[1]));
        return 0;
}
