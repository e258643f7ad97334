/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The progress renderer. The rate is measured per phase (bytes since the
 * phase began over time since then), which is what the ETA of that phase
 * needs; verify and write run at very different speeds. On a terminal each
 * phase keeps its own line, redrawn with cursor movements. */
#include <inttypes.h>
#include <limits.h>
#include <string.h>

#include "ctl-format.h"
#include "ctl-progress.h"
#include "macro.h"

/* A terminal is redrawn at most this often; phase changes always draw. */
#define PROGRESS_REDRAW_USEC 100000ULL
/* Too early in a phase for a meaningful rate. */
#define PROGRESS_RATE_MIN_USEC 300000ULL

void progress_init(Progress *p, FILE *f, bool tty, unsigned columns) {
        *p = (Progress) {
                .f = f,
                .tty = tty,
                .columns = columns ?: 80,
        };
}

void progress_format_bar(char *buf, size_t size, unsigned columns, const char *phase, uint64_t done,
                         uint64_t total, double rate) {
        char d[FORMAT_BYTES_MAX], t[FORMAT_BYTES_MAX], rs[FORMAT_RATE_MAX], eta[FORMAT_DURATION_MAX];
        char tail[96] = "";
        size_t used, bar;
        unsigned pct;
        int n;

        if (size == 0)
                return;
        if (total == 0) {
                (void) snprintf(buf, size, "%-11s …", phase);
                return;
        }
        done = MIN(done, total);
        pct = (unsigned) (done * 100 / total);
        if (rate > 0 && done < total)
                (void) snprintf(tail, sizeof(tail), "  %s  ETA %s", format_rate(rs, rate),
                                format_clock(eta, (uint64_t) ((double) (total - done) / rate * 1e6)));
        else if (rate > 0)
                (void) snprintf(tail, sizeof(tail), "  %s", format_rate(rs, rate));

        /* "write       [#####-----] 45%  1.2 MiB/4.0 MiB  98.3 KiB/s  ETA 0:29" */
        used = 12 + 2 + 1 + 5 + strlen(format_bytes(d, done)) + 1 + strlen(format_bytes(t, total)) + strlen(tail);
        bar = columns > used + 10 ? MIN(columns - used - 1, (size_t) 40) : 0;

        n = snprintf(buf, size, "%-11s ", phase);
        if (n < 0 || (size_t) n >= size)
                return;
        if (bar > 0) {
                size_t fill = (size_t) (done * bar / total);

                if ((size_t) n + bar + 3 >= size)
                        return;
                buf[n++] = '[';
                for (size_t i = 0; i < bar; i++)
                        buf[n++] = i < fill ? '#' : '-';
                buf[n++] = ']';
                buf[n++] = ' ';
                buf[n] = '\0';
        }
        (void) snprintf(buf + n, size - (size_t) n, "%3u%%  %s/%s%s", pct, d, t, tail);
}

static double phase_rate(ProgressPhase *ph, uint64_t now_usec) {
        uint64_t elapsed = now_usec - ph->start_usec;

        /* Too early for a new measurement: the last one stands, so rate and ETA
         * do not come and go. */
        if (now_usec < ph->start_usec || elapsed < PROGRESS_RATE_MIN_USEC || ph->done <= ph->start_done)
                return ph->rate;
        ph->rate = (double) (ph->done - ph->start_done) / ((double) elapsed / 1e6);
        return ph->rate;
}

/* Redraws one phase's line and puts the cursor back on the last line. */
static void draw_phase(Progress *p, ProgressPhase *ph, uint64_t now_usec) {
        char line[256];
        unsigned up;

        if (ph->total == 0)
                (void) snprintf(line, sizeof(line), "%-11s %s", ph->name, ph == p->current ? "…" : "done");
        else
                /* A phase left behind keeps the rate it had. */
                progress_format_bar(line, sizeof(line), p->columns, ph->name, ph->done, ph->total,
                                    ph == p->current ? phase_rate(ph, now_usec) : ph->rate);
        if (ph->line >= p->n_lines) {
                /* A new phase: a line of its own below the others. */
                if (p->n_lines > 0)
                        fputc('\n', p->f);
                ph->line = p->n_lines++;
                up = 0;
        } else
                up = p->n_lines - 1 - ph->line;
        /* \r and erase-to-end-of-line: the new bar may be shorter than the old. */
        if (up > 0)
                fprintf(p->f, "\033[%uA\r%s\033[K\033[%uB", up, line, up);
        else
                fprintf(p->f, "\r%s\033[K", line);
        fflush(p->f);
        p->drawn = true;
}

static void draw_bar(Progress *p, uint64_t now_usec) {
        draw_phase(p, p->current, now_usec);
        p->last_draw_usec = now_usec;
}

static void print_line(Progress *p) {
        if (p->total == 0)
                fprintf(p->f, "%s\n", p->current->name);
        else
                fprintf(p->f, "%s: %" PRIu64 "/%" PRIu64 " bytes (%u%%)\n", p->current->name,
                        MIN(p->done, p->total), p->total, (unsigned) (MIN(p->done, p->total) * 100 / p->total));
        fflush(p->f);
}

/* The phase's record, created on first sight. Returns whether it is new. */
static bool enter_phase(Progress *p, const char *name, uint64_t done, uint64_t now_usec) {
        ProgressPhase *ph;

        for (size_t i = 0; i < p->n_phases; i++)
                if (strncmp(p->phases[i].name, name, sizeof(p->phases[i].name) - 1) == 0) {
                        p->current = &p->phases[i];
                        return false;
                }
        /* A service with more phases than we know: recycle the last slot. */
        ph = &p->phases[p->n_phases < PROGRESS_PHASES_MAX ? p->n_phases++ : PROGRESS_PHASES_MAX - 1];
        *ph = (ProgressPhase) { .start_usec = now_usec, .start_done = done, .last_tenth = -1,
                                .line = UINT_MAX };
        (void) snprintf(ph->name, sizeof(ph->name), "%s", name);
        p->current = ph;
        return true;
}

void progress_update(Progress *p, const char *phase, uint64_t done, uint64_t total, uint64_t now_usec) {
        bool switched = !p->current || strncmp(p->current->name, phase, sizeof(p->current->name) - 1) != 0;
        ProgressPhase *previous = p->current;
        bool first;
        int tenth;

        first = enter_phase(p, phase, done, now_usec);
        p->done = done;
        p->total = total;

        if (p->tty) {
                ProgressPhase *ph = p->current;

                /* Never backwards within a phase, unless it starts counting anew. */
                if (total != ph->total)
                        ph->done = done;
                else
                        ph->done = MAX(ph->done, done);
                ph->total = total;
                /* The phase left behind shows where it stopped ("done" for a step). */
                if (switched && previous && previous != ph && previous->line < p->n_lines)
                        draw_phase(p, previous, now_usec);
                if (switched || now_usec - p->last_draw_usec >= PROGRESS_REDRAW_USEC || done >= total)
                        draw_bar(p, now_usec);
                return;
        }

        if (total == 0) {
                if (first)
                        print_line(p);
                return;
        }
        /* A line when a byte-counting phase starts and at each further tenth. */
        tenth = (int) (MIN(done, total) * 10 / total);
        if (first || tenth > p->current->last_tenth) {
                print_line(p);
                p->current->last_tenth = tenth;
        }
}

void progress_clear(Progress *p) {
        if (p->tty && p->drawn) {
                /* Every bar, from the last line up, ending where the first began. */
                for (unsigned i = 1; i < p->n_lines; i++)
                        fputs("\r\033[K\033[1A", p->f);
                fputs("\r\033[K", p->f);
                fflush(p->f);
                p->drawn = false;
                p->n_lines = 0;
                for (size_t i = 0; i < p->n_phases; i++)
                        p->phases[i].line = UINT_MAX;
        }
}
