/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Finding the code addresses in ESP-IDF panic lines (crash-lines.c). */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The code addresses one line of device output names: the PCs of Xtensa's
 * "Backtrace: PC:SP PC:SP …" (the SPs left out), else the values of RISC-V's
 * "MEPC : 0x…" and "RA : 0x…" registers, in that order. Returns how many were
 * stored in ret (at most max); 0 for any other line. */
size_t crash_line_addresses(const char *line, size_t len, uint32_t *ret, size_t max);
