/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* device_node_open_elsewhere(): a pty slave held by a child is found, our own
 * opens never count, nothing is found once the child is gone, and a pty of the
 * same number in another devpts instance (a container's) is not ours.
 * device_nodes_open_elsewhere(): the same for any of several nodes at once. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "device-holders.h"
#include "macro.h"

static void test_child_holds(void) {
        char name[64];
        int master, slave, pipefd[2], status;
        pid_t child;
        char c;

        assert(openpty(&master, &slave, name, NULL, NULL) == 0);

        /* Only we hold it: our own opens do not count. */
        assert(device_node_open_elsewhere(name) == 0);

        assert(pipe(pipefd) == 0);
        child = fork();
        assert(child >= 0);
        if (child == 0) {
                /* Keep only the slave (and the pipe to wait on). */
                close(master);
                close(pipefd[1]);
                (void) !read(pipefd[0], &c, 1);
                _exit(0);
        }
        close(pipefd[0]);
        close(slave);

        assert(device_node_open_elsewhere(name) == 1);

        close(pipefd[1]);
        assert(waitpid(child, &status, 0) == child);
        assert(device_node_open_elsewhere(name) == 0);
        close(master);
}

/* Two nodes asked at once (a tty and its USB device node): a child holding
 * only the second is found; a node missing or NULL is skipped, not fatal. */
static void test_either_node(void) {
        char first[64], second[64];
        int m1, s1, m2, s2, pipefd[2], ready[2], status;
        pid_t child;
        char c;

        assert(openpty(&m1, &s1, first, NULL, NULL) == 0);
        assert(openpty(&m2, &s2, second, NULL, NULL) == 0);
        {
                const char *both[] = { first, second };

                assert(device_nodes_open_elsewhere(both, 2) == 0);
        }

        assert(pipe(pipefd) == 0 && pipe(ready) == 0);
        child = fork();
        assert(child >= 0);
        if (child == 0) {
                /* Keep only the second slave, and say so. */
                close(m1);
                close(s1);
                close(m2);
                close(pipefd[1]);
                close(ready[0]);
                (void) !write(ready[1], "y", 1);
                (void) !read(pipefd[0], &c, 1);
                _exit(0);
        }
        close(pipefd[0]);
        close(ready[1]);
        close(s2);
        /* Until then the child still holds the copies of the first pty it was born with. */
        assert(read(ready[0], &c, 1) == 1);
        close(ready[0]);

        {
                const char *both[] = { first, second }, *only_first[] = { first };
                const char *missing[] = { "/nonexistent/tty", NULL, second };
                const char *too_many[DEVICE_HOLDER_NODES_MAX + 1] = { second };

                assert(device_nodes_open_elsewhere(both, 2) == 1);
                assert(device_nodes_open_elsewhere(only_first, 1) == 0);
                assert(device_nodes_open_elsewhere(missing, 3) == 1);
                assert(device_nodes_open_elsewhere(too_many, ELEMENTSOF(too_many)) == -E2BIG);
        }

        close(pipefd[1]);
        assert(waitpid(child, &status, 0) == child);
        {
                const char *both[] = { first, second };

                assert(device_nodes_open_elsewhere(both, 2) == 0);
        }
        close(m1);
        close(s1);
        close(m2);
}

/* In the child: a private devpts instance (as systemd-nspawn gives a container)
 * whose ptys are opened up to number `want`, all held. Writes 'y' when held,
 * 'n' if the instance cannot be made (no CAP_SYS_ADMIN). */
static _Noreturn void hold_pty_in_other_instance(unsigned want, int ready, int done) {
        char dir[] = "/tmp/test-device-holders.XXXXXX", path[128];
        char c;

        if (!mkdtemp(dir) ||
            unshare(CLONE_NEWNS) < 0 ||
            mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("devpts", dir, "devpts", 0, "newinstance,ptmxmode=0600") < 0) {
                (void) !write(ready, "n", 1);
                if (dir[0])
                        (void) rmdir(dir);
                _exit(0);
        }
        (void) snprintf(path, sizeof(path), "%s/ptmx", dir);
        for (unsigned n = 0; n <= want; n++) {
                int m = open(path, O_RDWR | O_NOCTTY), unlock = 0;
                unsigned got;

                assert(m >= 0);
                assert(ioctl(m, TIOCSPTLCK, &unlock) == 0);
                assert(ioctl(m, TIOCGPTN, &got) == 0);
                (void) snprintf(path, sizeof(path), "%s/%u", dir, got);
                assert(open(path, O_RDWR | O_NOCTTY) >= 0);
                (void) snprintf(path, sizeof(path), "%s/ptmx", dir);
        }
        (void) !write(ready, "y", 1);
        (void) !read(done, &c, 1);
        /* The mount goes with this namespace; the directory is the host's. */
        (void) umount2(dir, MNT_DETACH);
        (void) rmdir(dir);
        _exit(0);
}

static int test_other_devpts_instance(void) {
        char name[64], c;
        int master, slave, ready[2], done[2], status;
        unsigned number;
        pid_t child;

        assert(openpty(&master, &slave, name, NULL, NULL) == 0);
        assert(sscanf(name, "/dev/pts/%u", &number) == 1);

        assert(pipe(ready) == 0 && pipe(done) == 0);
        child = fork();
        assert(child >= 0);
        if (child == 0) {
                close(master);
                close(slave);
                close(ready[0]);
                close(done[1]);
                hold_pty_in_other_instance(number, ready[1], done[0]);
        }
        close(ready[1]);
        close(done[0]);
        assert(read(ready[0], &c, 1) == 1);
        if (c == 'y')
                /* Same major:minor, another device: nobody else holds ours. */
                assert(device_node_open_elsewhere(name) == 0);

        close(done[1]);
        assert(waitpid(child, &status, 0) == child);
        close(ready[0]);
        close(master);
        close(slave);
        return c == 'y' ? 0 : 77;
}

int main(void) {
        test_child_holds();
        test_either_node();

        assert(device_node_open_elsewhere("/nonexistent/tty") == -ENOENT);
        assert(device_node_open_elsewhere("/") == -ENOTTY);

        /* Last: without privileges to make a devpts instance the rest is a skip. */
        return test_other_devpts_instance();
}
