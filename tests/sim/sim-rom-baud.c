/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The ESP32 ROM's CHANGE_BAUDRATE. The ROM programs the UART divider from the
 * crystal frequency it measured at boot against its 8 MHz RC oscillator, not
 * from the real crystal, so the rate it produces is the requested one scaled
 * by real / measured. esptool 5.3 reads the measurement back and pre-scales
 * its argument by measured / assumed crystal, which cancels the error. */
#include "macro.h"
#include "sim-loader-internal.h"

/* The crystal frequency the ROM measured, as esptool reconstructs it (trace
 * README): the calibration count (RTCCALICFG1 bits 7..31) times the 8 MHz
 * oscillator's eFuse field (low byte, in 100 kHz) over 256, i.e. count x
 * 15625 x field / 40. */
static uint64_t rom_measured_xtal(const SimLoader *l) {
        uint64_t count = (sim_regs_read(l->regs, l->chip->rom_rtc_cali_reg) >> 7) & 0x1FFFFFF;
        uint64_t field = sim_regs_read(l->regs, l->chip->rom_efuse_ck8m_reg) & 0xFF;

        return count * 15625 * field / 40;
}

uint32_t sim_rom_baud_apply(SimLoader *l, uint32_t arg) {
        uint64_t measured, real, div16;

        if (l->chip->rom_rtc_cali_reg == 0 || (measured = rom_measured_xtal(l)) == 0) {
                /* Nothing measured: the traced emulator, whose eFuse field is
                 * 0, programs the divider from 26 MHz (CHANGE_BAUDRATE(921600)
                 * leaves UART_CLKDIV 0x30001c, esp32-rom-change-baud-probe)
                 * and its UART runs at whatever rate it was asked for. The
                 * chips without the calibration behave the same way. */
                sim_loader_set_clkdiv(l, (uint32_t) ((uint64_t) l->chip->uart_clk_hz * 16 / arg));
                return arg;
        }

        /* The divider, in sixteenths, from the measured clock, truncated as
         * the ROM's integer division does; the UART then divides the real
         * crystal by it. E.g. measured 38.59 MHz: esptool sends 921600 x
         * 38.59 / 40 = 889200, the divider is 694/16 and the line runs at
         * 40 MHz x 16 / 694 = 922190 baud (0.06% off 921600); sent unscaled,
         * 921600 gives 670/16 and 955224 baud (3.6% off). */
        real = l->chip->xtal_hz;
        div16 = measured * 16 / arg;
        if (div16 == 0 || div16 > 0xFFFFFF)
                return 0;       /* no usable divider: the UART stops */
        sim_loader_set_clkdiv(l, (uint32_t) div16);
        return (uint32_t) ((real * 16 + div16 / 2) / div16);
}
