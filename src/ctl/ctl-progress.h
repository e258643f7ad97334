/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Showing a job's Progress signals: on a terminal one bar per phase (phase,
 * bytes, rate, ETA), each on its own line and redrawn in place, so no bar ever
 * goes backwards when the service moves from one phase to the next (write and
 * post-verify take turns); plain lines otherwise (one per phase and per tenth
 * of a byte-counting phase), so logs stay short and greppable. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Phases may alternate (write and post-verify take turns per region), so
 * what is remembered about a phase is kept per phase. */
#define PROGRESS_PHASES_MAX 12

typedef struct ProgressPhase {
        char name[24];
        uint64_t start_usec, start_done;        /* when it was first seen */
        int last_tenth;                         /* plain: the last tenth printed */
        uint64_t done, total;                   /* as last shown; done never decreases */
        double rate;                            /* the last rate measured, kept between phases */
        unsigned line;                          /* tty: its line, counted from the first bar */
} ProgressPhase;

typedef struct Progress {
        FILE *f;
        bool tty;
        unsigned columns;

        ProgressPhase phases[PROGRESS_PHASES_MAX];
        size_t n_phases;
        ProgressPhase *current;
        uint64_t done, total;
        uint64_t last_draw_usec;
        bool drawn;                     /* tty: a bar is on screen */
        unsigned n_lines;               /* tty: bars on screen; the cursor is on the last */
} Progress;

void progress_init(Progress *p, FILE *f, bool tty, unsigned columns);
/* One Progress signal, at monotonic time now_usec. total 0 marks a phase
 * that counts nothing (connect, reset). */
void progress_update(Progress *p, const char *phase, uint64_t done, uint64_t total, uint64_t now_usec);
/* Erases the bars, so that other output starts on a clean line. */
void progress_clear(Progress *p);

/* The bar's text for a terminal width; rate <= 0 means unknown (no rate, no ETA). */
void progress_format_bar(char *buf, size_t size, unsigned columns, const char *phase, uint64_t done,
                         uint64_t total, double rate);
