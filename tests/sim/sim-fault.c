/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fault injection for the simulated chip (see sim-fault.h). The PRNG is
 * splitmix64 so a seed reproduces the same damage on every machine. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "sim-fault.h"

void sim_faults_init(SimFaults *f, uint64_t seed) {
        *f = (SimFaults) { .prng = seed };
}

void sim_faults_done(SimFaults *f) {
        free(f->v);
        *f = (SimFaults) {};
}

static uint64_t prng_next(SimFaults *f) {
        uint64_t z = (f->prng += 0x9e3779b97f4a7c15ULL);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double prng_unit(SimFaults *f) {
        return (double) (prng_next(f) >> 11) / (double) (1ULL << 53);
}

static int parse_u64(const char *s, uint64_t *ret) {
        unsigned long long v;
        char *end;

        if (!s || !*s || *s == '-')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 0);
        if (errno != 0 || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_rate(const char *s, double *ret) {
        char *end;
        double v;

        errno = 0;
        v = strtod(s, &end);
        if (errno != 0 || end == s || *end || !isfinite(v) || v < 0 || v > 1)
                return -EINVAL;
        *ret = v;
        return 0;
}

int sim_fault_parse(const char *spec, SimFault *ret) {
        const char *eq = strchr(spec ?: "", '=');
        _cleanup_free_ char *key = NULL;
        const char *val;
        SimFault f = {};

        if (!eq)
                return -EINVAL;
        key = strndup(spec, (size_t) (eq - spec));
        if (!key)
                return -ENOMEM;
        val = eq + 1;

        if (strcmp(key, "drop") == 0 || strcmp(key, "corrupt") == 0 || strcmp(key, "block-corrupt") == 0) {
                if (parse_rate(val, &f.rate) < 0)
                        return -EINVAL;
                f.kind = key[0] == 'd' ? SIM_FAULT_DROP :
                         key[0] == 'c' ? SIM_FAULT_CORRUPT : SIM_FAULT_BLOCK_CORRUPT;
        } else if (strcmp(key, "loss-above") == 0) {
                const char *colon = strchr(val, ':');
                _cleanup_free_ char *baud = NULL;
                uint64_t b;

                if (!colon)
                        return -EINVAL;
                baud = strndup(val, (size_t) (colon - val));
                if (!baud)
                        return -ENOMEM;
                if (parse_u64(baud, &b) < 0 || b == 0 || b > UINT32_MAX || parse_rate(colon + 1, &f.rate) < 0)
                        return -EINVAL;
                f.above_baud = (uint32_t) b;
                f.kind = SIM_FAULT_LOSS_ABOVE;
        } else if (strcmp(key, "stall") == 0) {
                const char *at = strchr(val, '@');
                _cleanup_free_ char *ms = NULL;

                if (!at)
                        return -EINVAL;
                ms = strndup(val, (size_t) (at - val));
                if (!ms)
                        return -ENOMEM;
                if (parse_u64(ms, &f.stall_msec) < 0 || parse_u64(at + 1, &f.at_byte) < 0)
                        return -EINVAL;
                f.kind = SIM_FAULT_STALL;
        } else if (strcmp(key, "zero-erase") == 0) {
                if (strcmp(val, "nowrite") != 0)
                        return -EINVAL;
                f.kind = SIM_FAULT_ZERO_ERASE;
        } else if (strcmp(key, "vanish") == 0 || strcmp(key, "flip") == 0) {
                if (parse_u64(val, &f.at_byte) < 0)
                        return -EINVAL;
                f.kind = key[0] == 'v' ? SIM_FAULT_VANISH : SIM_FAULT_FLIP;
        } else
                return -EINVAL;

        *ret = f;
        return 0;
}

int sim_faults_add(SimFaults *f, const SimFault *fault) {
        SimFault *v = reallocarray(f->v, f->n + 1, sizeof(SimFault));

        if (!v)
                return -ENOMEM;
        f->v = v;
        f->v[f->n++] = *fault;
        return 0;
}

void sim_faults_filter(SimFaults *f, uint8_t *buf, size_t n, uint64_t received_before,
                       SimFaultResult *ret) {
        SimFaultResult res = {};
        size_t out = 0;

        for (size_t i = 0; i < n; i++) {
                uint64_t index = received_before + i;
                bool drop = false;
                uint8_t b = buf[i];

                for (size_t k = 0; k < f->n; k++) {
                        SimFault *fault = &f->v[k];

                        switch (fault->kind) {
                        case SIM_FAULT_VANISH:
                                if (!fault->fired && index >= fault->at_byte && !res.vanish) {
                                        fault->fired = true;
                                        res.vanish = true;
                                        res.vanish_index = out;
                                }
                                break;
                        case SIM_FAULT_STALL:
                                if (!fault->fired && index >= fault->at_byte && !res.stall) {
                                        fault->fired = true;
                                        res.stall = true;
                                        res.stall_index = out;
                                        res.stall_msec = fault->stall_msec;
                                }
                                break;
                        case SIM_FAULT_DROP:
                                if (fault->rate > 0 && prng_unit(f) < fault->rate)
                                        drop = true;
                                break;
                        case SIM_FAULT_LOSS_ABOVE:
                                /* a link that only a raised rate makes lossy
                                 * (a long cable, a marginal bridge) */
                                if (f->baud > fault->above_baud && fault->rate > 0 &&
                                    prng_unit(f) < fault->rate)
                                        drop = true;
                                break;
                        case SIM_FAULT_FLIP:
                                /* Bit 0, so a test that picks a byte below
                                 * 0x40 knows the frame's framing survives. */
                                if (!fault->fired && index == fault->at_byte) {
                                        fault->fired = true;
                                        b ^= 0x01;
                                        f->corrupted++;
                                }
                                break;
                        case SIM_FAULT_CORRUPT:
                                if (fault->rate > 0 && prng_unit(f) < fault->rate) {
                                        /* Line noise flips a bit; it never adds or removes one. */
                                        b ^= (uint8_t) (1U << (prng_next(f) % 8));
                                        f->corrupted++;
                                }
                                break;
                        default:
                                break;
                        }
                }
                if (res.vanish)
                        break;
                if (drop) {
                        f->dropped++;
                        continue;
                }
                buf[out++] = b;
        }
        res.len = res.vanish ? res.vanish_index : out;
        *ret = res;
}

bool sim_faults_block(SimFaults *f, uint8_t *data, size_t n) {
        bool damaged = false;

        if (n == 0)
                return false;
        for (size_t k = 0; k < f->n; k++) {
                SimFault *fault = &f->v[k];

                if (fault->kind != SIM_FAULT_BLOCK_CORRUPT || fault->rate <= 0 ||
                    prng_unit(f) >= fault->rate)
                        continue;
                /* One bit, so the block's XOR checksum always sees it: a
                 * block that reaches the chip with a bad checksum. */
                data[prng_next(f) % n] ^= (uint8_t) (1U << (prng_next(f) % 8));
                damaged = true;
        }
        if (damaged) {
                f->corrupted++;
                f->corrupted_blocks++;
        }
        return damaged;
}
