/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SPI flash controller user-command model (see sim-spi.h). */
#include <string.h>

#include "macro.h"
#include "sim-spi.h"

#define SPI_W_REGS 16

enum {
        FLASH_CMD_READ = 0x03,
        FLASH_CMD_RDSR = 0x05,
        FLASH_CMD_FAST_READ = 0x0B,
        FLASH_CMD_RDSR3 = 0x15,
        FLASH_CMD_RDSR2 = 0x35,
        FLASH_CMD_RDSFDP = 0x5A,
        FLASH_CMD_RDID = 0x9F,
};

uint32_t sim_spi_jedec_id(const SimFlash *f) {
        return SIM_SPI_JEDEC_MANUFACTURER | (SIM_SPI_JEDEC_TYPE << 8) |
               ((uint32_t) sim_flash_capacity_id(f) << 16);
}

static uint32_t reg(const SimSpiLayout *l, const SimRegs *regs, uint32_t offs) {
        return sim_regs_read(regs, l->base + offs);
}

bool sim_spi_after_write(const SimSpiLayout *l, SimRegs *regs, const SimFlash *f,
                         uint32_t addr, uint32_t value) {
        uint8_t miso[SPI_W_REGS * 4] = {};
        uint32_t usr, usr1, usr2, cmd, addr_bits, flash_addr = 0;
        size_t miso_bytes = 0;

        if (addr != l->base || !(value & SIM_SPI_CMD_USR))
                return false;

        usr = reg(l, regs, l->usr_offs);
        usr1 = reg(l, regs, l->usr1_offs);
        usr2 = reg(l, regs, l->usr2_offs);
        cmd = usr2 & 0xFFFF;

        if (usr & SIM_SPI_USR_MISO)
                miso_bytes = MIN((size_t) DIV_ROUND_UP(reg(l, regs, l->miso_dlen_offs) + 1, 8),
                                 sizeof(miso));
        if (usr & SIM_SPI_USR_ADDR) {
                addr_bits = (usr1 >> 26) + 1;
                flash_addr = reg(l, regs, 0x04);
                if (l->addr_msb && addr_bits < 32)
                        flash_addr >>= 32 - addr_bits;
        }

        switch (cmd) {
        case FLASH_CMD_RDID: {
                uint32_t id = sim_spi_jedec_id(f);
                memcpy(miso, &id, MIN(miso_bytes, (size_t) 3));
                break;
        }
        case FLASH_CMD_READ:
        case FLASH_CMD_FAST_READ:
                sim_flash_read(f, flash_addr, miso, miso_bytes);
                break;
        case FLASH_CMD_RDSR:
        case FLASH_CMD_RDSR2:
        case FLASH_CMD_RDSR3:
                /* Never busy, nothing protected. */
                break;
        case FLASH_CMD_RDSFDP:
                /* The traced chip answers SFDP reads with zeroes. */
                break;
        default:
                /* Write enable, resets and anything else: accepted, no data. */
                break;
        }

        if (miso_bytes > 0)
                for (size_t i = 0; i < DIV_ROUND_UP(miso_bytes, 4); i++) {
                        uint32_t w;

                        memcpy(&w, miso + 4 * i, 4);
                        (void) sim_regs_write(regs, l->base + l->w0_offs + 4 * (uint32_t) i, w);
                }

        /* The controller clears CMD.USR when the transaction is done; the host
         * polls for exactly that. */
        (void) sim_regs_write(regs, l->base, value & ~SIM_SPI_CMD_USR);
        return true;
}
