/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sparse register map for the simulated chip (see sim-regs.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "sim-regs.h"

void sim_regs_clear(SimRegs *r) {
        free(r->v);
        *r = (SimRegs) {};
}

/* Index of addr, or of the slot where it would be inserted. */
static size_t regs_find(const SimRegs *r, uint32_t addr) {
        size_t lo = 0, hi = r->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (r->v[mid].addr < addr)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

uint32_t sim_regs_read(const SimRegs *r, uint32_t addr) {
        size_t i = regs_find(r, addr);

        if (i < r->n && r->v[i].addr == addr)
                return r->v[i].value;
        return 0;
}

int sim_regs_write(SimRegs *r, uint32_t addr, uint32_t value) {
        size_t i = regs_find(r, addr);

        if (i < r->n && r->v[i].addr == addr) {
                r->v[i].value = value;
                return 0;
        }
        if (r->n == r->allocated) {
                size_t a = MAX(r->allocated * 2, (size_t) 64);
                SimRegEntry *v = reallocarray(r->v, a, sizeof(SimRegEntry));

                if (!v)
                        return -ENOMEM;
                r->v = v;
                r->allocated = a;
        }
        memmove(r->v + i + 1, r->v + i, (r->n - i) * sizeof(SimRegEntry));
        r->v[i] = (SimRegEntry) { .addr = addr, .value = value };
        r->n++;
        return 0;
}

int sim_regs_load(SimRegs *r, const SimRegInit *init, size_t n) {
        for (size_t i = 0; i < n; i++) {
                int k = sim_regs_write(r, init[i].addr, init[i].value);
                if (k < 0)
                        return k;
        }
        return 0;
}
