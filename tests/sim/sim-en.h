/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The EN (CHIP_PU) pin of a board with the usual auto-reset circuit, as pure
 * arithmetic: how long the host must hold EN low for the chip to reset, and
 * when the strapping pins are latched after EN is released. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "sim-timing.h"

/* Facts the model is built from:
 *  - EN has a 10 kΩ pull-up and a capacitor to GND; esptool's boot-mode
 *    documentation asks for 1–10 µF for the auto-reset circuit to work, and
 *    1 µF (the low end) is the sim's default (--en-capacitor=NF).
 *  - The bridge's transistor pulls EN down; with a 10 kΩ base resistor and a
 *    gain of about 100 it sinks about 25 mA, so the capacitor falls from 3.3 V
 *    below the reset threshold (V_IL_nRST, taken as 0.6 V) in C × 2.7 V / 25 mA.
 *  - ESP32 datasheet, power-up and reset timing: CHIP_PU must stay below
 *    V_IL_nRST for at least 50 µs (t1) to reset the chip.
 *  - Released, EN charges through the pull-up and the chip leaves reset at
 *    0.75 × VDD (V_IH): R × C × ln 4 later.
 *  - ESP32 datasheet, strapping pins: setup 0 ms before CHIP_PU rises, hold
 *    1 ms after; the sim samples IO0 at the end of the hold. */
#define SIM_EN_DEFAULT_CAPACITOR_NF 1000U
#define SIM_EN_PULLUP_OHM 10000U
#define SIM_EN_SINK_UA 25000U                                   /* transistor, µA */
#define SIM_EN_DROP_MV 2700U                                    /* 3.3 V → 0.6 V */
#define SIM_EN_RESET_PULSE_NSEC (50 * SIM_NSEC_PER_USEC)        /* datasheet t1 */
#define SIM_EN_STRAP_HOLD_NSEC (1 * SIM_NSEC_PER_MSEC)          /* datasheet t_H */

/* EN held low at least this long resets the chip; a shorter pulse does not. */
nsec_t sim_en_reset_nsec(uint32_t capacitor_nf);

/* From EN released (after a full reset) to the strapping pins being latched. */
nsec_t sim_en_latch_nsec(uint32_t capacitor_nf);

/* One EN pin: the host drives it low and releases it; the answer says whether
 * the chip was reset by that pulse and, if so, when the strapping is latched. */
typedef struct SimEnPin {
        uint32_t capacitor_nf;
        bool low;
        nsec_t low_since;
} SimEnPin;

void sim_en_pin_init(SimEnPin *p, uint32_t capacitor_nf);
/* EN pulled low: the chip resets at the returned time if it stays low. */
nsec_t sim_en_pin_fall(SimEnPin *p, nsec_t now);
/* EN pulled low while the chip is still in reset: it counts as a full reset. */
void sim_en_pin_hold(SimEnPin *p, nsec_t now);
/* EN released: true if the pulse was long enough; *ret_latch_at is then when
 * the strapping pins are sampled. */
bool sim_en_pin_rise(SimEnPin *p, nsec_t now, nsec_t *ret_latch_at);
