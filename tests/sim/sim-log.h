/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The --log event log: one JSON object per line, flushed per line so a test
 * can read it while the simulator runs. Every byte the chip puts on the line
 * is logged as a "tx" event, so what a monitor received can be compared with
 * what the chip sent. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "macro.h"
#include "sim-timing.h"

typedef struct SimLog {
        FILE *f;
        nsec_t epoch;
} SimLog;

int sim_log_open(const char *path, nsec_t epoch, SimLog **ret);
SimLog *sim_log_free(SimLog *l);
DEFINE_TRIVIAL_CLEANUP_FUNC(SimLog *, sim_log_free);

/* fields: pre-formatted JSON members without braces, e.g. "\"mode\":\"download\"".
 * A NULL log is allowed and ignored. */
void sim_log_event(SimLog *l, nsec_t t, const char *event, const char *fields_fmt, ...)
        _printf_(4, 5);
void sim_log_bytes(SimLog *l, nsec_t t, const char *event, const uint8_t *data, size_t n,
                   const char *extra);

/* Writes s as a JSON string literal (quotes included) into out; returns bytes
 * written, truncating to fit out_size. */
size_t sim_json_escape(const char *s, size_t n, char *out, size_t out_size);
