/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fault injection on the host→chip direction: lost and corrupted bytes at a
 * seeded rate (or only while the UART runs above a given rate), a stall at
 * byte N, the device vanishing at byte N, and data blocks that arrive with a
 * bad checksum. Byte positions count every byte received from the host since
 * start. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum SimFaultKind {
        SIM_FAULT_DROP,
        SIM_FAULT_CORRUPT,
        SIM_FAULT_STALL,
        SIM_FAULT_VANISH,
        SIM_FAULT_FLIP,         /* one corrupted byte at a known position */
        SIM_FAULT_BLOCK_CORRUPT, /* a flash data block's payload gets one bit flipped */
        SIM_FAULT_LOSS_ABOVE,   /* bytes lost, only while the UART is faster than a rate */
        SIM_FAULT_ZERO_ERASE,   /* zero-erase=nowrite: the ROM programs nothing after a
                                 * begin with erase size 0 (the loader applies it) */
        _SIM_FAULT_MAX,
} SimFaultKind;

typedef struct SimFault {
        SimFaultKind kind;
        double rate;            /* drop, corrupt, loss-above: probability per byte;
                                 * block-corrupt: per FLASH_DATA / FLASH_DEFL_DATA block */
        uint32_t above_baud;    /* loss-above: lossless at this UART rate and below */
        uint64_t at_byte;       /* stall, vanish, flip */
        uint64_t stall_msec;
        bool fired;
} SimFault;

typedef struct SimFaults {
        SimFault *v;
        size_t n;
        uint64_t prng;
        uint32_t baud;          /* the UART's current rate (loss-above) */
        uint64_t dropped;
        uint64_t corrupted;
        uint64_t corrupted_blocks;
} SimFaults;

/* What receiving a chunk triggered. */
typedef struct SimFaultResult {
        size_t len;             /* bytes left after drops, at the front of the buffer */
        bool vanish;            /* bytes from vanish_index on never arrive */
        size_t vanish_index;    /* index into the filtered buffer */
        bool stall;
        size_t stall_index;     /* the stall starts before this filtered byte */
        uint64_t stall_msec;
} SimFaultResult;

void sim_faults_init(SimFaults *f, uint64_t seed);
void sim_faults_done(SimFaults *f);
/* "drop=0.01", "corrupt=1e-4", "stall=500@1000", "vanish=4096", "flip=7",
 * "block-corrupt=1e-2", "loss-above=115200:1e-3", "zero-erase=nowrite" */
int sim_fault_parse(const char *spec, SimFault *ret);
int sim_faults_add(SimFaults *f, const SimFault *fault);

/* Applies the faults to buf (n bytes, the first of which is byte number
 * received_before) in place. */
void sim_faults_filter(SimFaults *f, uint8_t *buf, size_t n, uint64_t received_before,
                       SimFaultResult *ret);

/* Applies block faults to the payload of one received flash data block (the
 * bytes its checksum covers) in place; true if it was damaged. */
bool sim_faults_block(SimFaults *f, uint8_t *data, size_t n);
