/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The progress renderer. The rate is measured per phase (bytes since the
 * phase began over time since then), which is what the ETA of that phase
 * needs; verify and write run at very different speeds. */
#include <inttypes.h>
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

static double phase_rate(const Progress *p, uint64_t now_usec) {
        const ProgressPhase *ph = p->current;
        uint64_t elapsed = now_usec - ph->start_usec;

        if (now_usec < ph->start_usec || elapsed < PROGRESS_RATE_MIN_USEC || p->done <= ph->start_done)
                return 0;
        return (double) (p->done - ph->start_done) / ((double) elapsed / 1e6);
}

static void draw_bar(Progress *p, uint64_t now_usec) {
        char line[256];

        progress_format_bar(line, sizeof(line), p->columns, p->current->name, p->done, p->total,
                            phase_rate(p, now_usec));
        /* \r and erase-to-end-of-line: the new bar may be shorter than the old. */
        fprintf(p->f, "\r%s\033[K", line);
        fflush(p->f);
        p->drawn = true;
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
        *ph = (ProgressPhase) { .start_usec = now_usec, .start_done = done, .last_tenth = -1 };
        (void) snprintf(ph->name, sizeof(ph->name), "%s", name);
        p->current = ph;
        return true;
}

void progress_update(Progress *p, const char *phase, uint64_t done, uint64_t total, uint64_t now_usec) {
        bool switched = !p->current || strncmp(p->current->name, phase, sizeof(p->current->name) - 1) != 0;
        bool first;
        int tenth;

        first = enter_phase(p, phase, done, now_usec);
        p->done = done;
        p->total = total;

        if (p->tty) {
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
                fputs("\r\033[K", p->f);
                fflush(p->f);
                p->drawn = false;
        }
}
