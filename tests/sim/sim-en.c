/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The EN pin's RC model (see sim-en.h for the facts behind the numbers). */
#include "sim-en.h"

nsec_t sim_en_reset_nsec(uint32_t capacitor_nf) {
        /* t = C × ΔV / I; nF × mV / µA = ns × 1e-3 … keep it exact in integers:
         * (C nF × 1e-9) × (ΔV mV × 1e-3) / (I µA × 1e-6) s = C × ΔV / I µs. */
        nsec_t discharge = (nsec_t) capacitor_nf * SIM_EN_DROP_MV * SIM_NSEC_PER_USEC / SIM_EN_SINK_UA;

        return discharge + SIM_EN_RESET_PULSE_NSEC;
}

nsec_t sim_en_latch_nsec(uint32_t capacitor_nf) {
        /* R × C × ln 4, with ln 4 ≈ 1.386294; R Ω × C nF = ns. */
        nsec_t rc = (nsec_t) SIM_EN_PULLUP_OHM * capacitor_nf;

        return rc * 1386294 / 1000000 + SIM_EN_STRAP_HOLD_NSEC;
}

void sim_en_pin_init(SimEnPin *p, uint32_t capacitor_nf) {
        *p = (SimEnPin) { .capacitor_nf = capacitor_nf };
}

nsec_t sim_en_pin_fall(SimEnPin *p, nsec_t now) {
        if (!p->low) {
                p->low = true;
                p->low_since = now;
        }
        return p->low_since + sim_en_reset_nsec(p->capacitor_nf);
}

void sim_en_pin_hold(SimEnPin *p, nsec_t now) {
        nsec_t need = sim_en_reset_nsec(p->capacitor_nf);

        p->low = true;
        p->low_since = now > need ? now - need : 0;
}

bool sim_en_pin_rise(SimEnPin *p, nsec_t now, nsec_t *ret_latch_at) {
        bool reset;

        if (!p->low)
                return false;
        p->low = false;
        reset = now - p->low_since >= sim_en_reset_nsec(p->capacitor_nf);
        if (reset && ret_latch_at)
                *ret_latch_at = now + sim_en_latch_nsec(p->capacitor_nf);
        return reset;
}
