/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* device_node_open_elsewhere(): a pty slave held by a child is found, our own
 * opens never count, and nothing is found once the child is gone. */
#include <assert.h>
#include <errno.h>
#include <pty.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "device-holders.h"

int main(void) {
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

        assert(device_node_open_elsewhere("/nonexistent/tty") == -ENOENT);
        assert(device_node_open_elsewhere("/") == -ENOTTY);
        close(master);
        return 0;
}
