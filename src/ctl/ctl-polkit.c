/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Asking for a password as systemctl does: on a terminal, fbuildctl allows
 * interactive authorization in its calls and runs polkit's text agent
 * (pkttyagent) for itself, so that polkitd can ask for an administrator's
 * password there; --no-ask-password does neither. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-login.h>

#include "ctl.h"

#define PKTTYAGENT "/usr/bin/pkttyagent"
/* pkttyagent closes its notify fd once registered; past this, go on without it. */
#define AGENT_REGISTER_TIMEOUT_MSEC 10000

bool ctl_polkit_wanted(const Ctl *c) {
        /* Root is never asked; a remote bus's polkitd cannot reach this terminal. */
        return c->ask_password && !c->host && geteuid() != 0 && isatty(STDIN_FILENO) > 0;
}

int ctl_polkit_agent_open(Ctl *c) {
        _cleanup_free_ char *session = NULL;
        int notify[2];
        pid_t self = getpid(), pid;
        /* In a login session, a desktop's agent for the session comes first and
         * ours is the fallback, as with systemctl. Outside one (runuser, su -c,
         * containers) polkitd looks a fallback agent up through the subject's
         * session, finds none and asks nobody: there the agent must be this
         * process's own. */
        bool fallback = sd_pid_get_session(self, &session) >= 0;

        if (access(PKTTYAGENT, X_OK) < 0)
                return -errno;
        if (pipe2(notify, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(notify[0]);
                close(notify[1]);
                return r;
        }
        if (pid == 0) {
                char fd_arg[16], pid_arg[16];

                /* The agent dies with us, and keeps the notify fd across exec. */
                (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
                if (getppid() != self)
                        _exit(EXIT_FAILURE);
                (void) fcntl(notify[1], F_SETFD, 0);
                (void) snprintf(fd_arg, sizeof(fd_arg), "%d", notify[1]);
                (void) snprintf(pid_arg, sizeof(pid_arg), "%d", (int) self);
                execl(PKTTYAGENT, PKTTYAGENT, "--notify-fd", fd_arg, "--process", pid_arg,
                      fallback ? "--fallback" : (char *) NULL, (char *) NULL);
                _exit(EXIT_FAILURE);
        }
        close(notify[1]);
        c->polkit_agent = pid;

        /* Calls made before it registered would find no agent. */
        struct pollfd p = { .fd = notify[0], .events = POLLIN };
        (void) poll(&p, 1, AGENT_REGISTER_TIMEOUT_MSEC);
        close(notify[0]);
        return 0;
}

void ctl_polkit_agent_close(Ctl *c) {
        if (c->polkit_agent <= 0)
                return;
        (void) kill(c->polkit_agent, SIGTERM);
        (void) waitpid(c->polkit_agent, NULL, 0);
        c->polkit_agent = 0;
}
