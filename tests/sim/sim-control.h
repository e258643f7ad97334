/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The control socket: a test drives the simulated chip's modem lines, injects
 * faults, changes flash behind the host's back and reads counters, one line
 * in and one line out per command (tests/sim/README.md has the table). */
#pragma once

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

#include "macro.h"
#include "sim.h"

int sim_control_new(SimControl **ret);
SimControl *sim_control_free(SimControl *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(SimControl *, sim_control_free);

/* Listens on a unix stream socket at path (replacing a stale socket there). */
int sim_control_listen(SimControl *c, const char *path);
/* Uses an inherited, connected socket; the simulator exits when it closes. */
int sim_control_adopt(SimControl *c, int fd);

size_t sim_control_n_pollfds(const SimControl *c);
size_t sim_control_fill_pollfds(const SimControl *c, struct pollfd *p, size_t max);
void sim_control_process(SimControl *c, Sim *s, const struct pollfd *p, size_t n, nsec_t now);

/* Runs one command line; writes the reply line (without newline) to reply. */
void sim_control_execute(Sim *s, char *line, char *reply, size_t reply_size, nsec_t now);
