/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The chip's 32-bit address space as READ_REG/WRITE_REG see it: a sparse map
 * seeded with the values the reference traces show, where anything written
 * reads back and anything never known reads 0. */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct SimRegInit {
        uint32_t addr;
        uint32_t value;
} SimRegInit;

typedef struct SimRegEntry {
        uint32_t addr;
        uint32_t value;
} SimRegEntry;

typedef struct SimRegs {
        SimRegEntry *v;         /* sorted by addr */
        size_t n;
        size_t allocated;
} SimRegs;

void sim_regs_clear(SimRegs *r);
uint32_t sim_regs_read(const SimRegs *r, uint32_t addr);
int sim_regs_write(SimRegs *r, uint32_t addr, uint32_t value);
int sim_regs_load(SimRegs *r, const SimRegInit *init, size_t n);
