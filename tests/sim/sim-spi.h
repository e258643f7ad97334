/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The SPI1 flash controller's user-command registers, enough of them that a
 * host can run esptool's register dance (write USR/USR2/W0, set CMD.USR, poll
 * CMD, read W0) and get the flash's JEDEC id, status or data back. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "sim-flash.h"
#include "sim-regs.h"

typedef struct SimSpiLayout {
        uint32_t base;          /* CMD register; ADDR is base + 4 */
        uint32_t usr_offs;
        uint32_t usr1_offs;
        uint32_t usr2_offs;
        uint32_t mosi_dlen_offs;
        uint32_t miso_dlen_offs;
        uint32_t w0_offs;
        bool addr_msb;          /* ESP32: address left-aligned in the ADDR register */
} SimSpiLayout;

#define SIM_SPI_CMD_USR (1U << 18)
#define SIM_SPI_USR_COMMAND (1U << 31)
#define SIM_SPI_USR_ADDR (1U << 30)
#define SIM_SPI_USR_DUMMY (1U << 29)
#define SIM_SPI_USR_MISO (1U << 28)
#define SIM_SPI_USR_MOSI (1U << 27)

/* GigaDevice, as in the reference traces (RDID 0x1640c8 for 4 MiB). */
#define SIM_SPI_JEDEC_MANUFACTURER 0xC8
#define SIM_SPI_JEDEC_TYPE 0x40

uint32_t sim_spi_jedec_id(const SimFlash *f);

/* Called after every register write; runs a user command when the write sets
 * CMD.USR, then clears the bit as the hardware does when it finishes. Returns
 * true if a command ran. */
bool sim_spi_after_write(const SimSpiLayout *l, SimRegs *regs, const SimFlash *f,
                         uint32_t addr, uint32_t value);
