/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The simulated chip's SPI NOR flash, kept in a file that outlives the process.
 * The file is mapped MAP_SHARED, so every change is visible to other readers of
 * the file at once, while the simulator runs and after it exits. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <stdbool.h>

#include "macro.h"

typedef struct SimFlash {
        int fd;
        uint8_t *map;
        uint32_t size;          /* a power of two */
        char *path;
} SimFlash;

/* Opens or creates path. A missing or empty file is created 0xFF-filled at
 * size; an existing file must have that size unless size_explicit is false, in
 * which case a power-of-two file size is adopted. */
int sim_flash_open(const char *path, uint32_t size, bool size_explicit, SimFlash **ret);
SimFlash *sim_flash_free(SimFlash *f);
DEFINE_TRIVIAL_CLEANUP_FUNC(SimFlash *, sim_flash_free);

/* Addresses past the chip wrap around, as a real SPI flash ignores the
 * address bits above its capacity. */
void sim_flash_read(const SimFlash *f, uint32_t addr, void *buf, size_t n);
/* Sets [addr, addr+n) to 0xFF. */
void sim_flash_erase(SimFlash *f, uint32_t addr, size_t n);
/* NOR programming can only clear bits: the result is old AND new. */
void sim_flash_program(SimFlash *f, uint32_t addr, const void *data, size_t n);
/* Replaces bytes outright (an application erasing and rewriting behind the
 * loader's back, i.e. the control socket's external-write). */
void sim_flash_overwrite(SimFlash *f, uint32_t addr, const void *data, size_t n);

/* log2(size) as the JEDEC capacity byte of RDID (0x16 for 4 MiB). */
uint8_t sim_flash_capacity_id(const SimFlash *f);

/* Parses "4MB", "16MB", "512KB", "0x400000" or plain bytes; a power of two
 * between 256 KiB and 128 MiB. */
int sim_flash_parse_size(const char *s, uint32_t *ret);
