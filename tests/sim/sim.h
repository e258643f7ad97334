/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The simulated chip as a whole: its parts (flash, registers, loader, line)
 * and the state the boot model, the serial side and the control socket share.
 * One Sim exists per process and is passed everywhere; there are no globals. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "sim-chip.h"
#include "sim-en.h"
#include "sim-fault.h"
#include "sim-flash.h"
#include "sim-loader.h"
#include "sim-log.h"
#include "sim-regs.h"
#include "sim-slip.h"
#include "sim-timing.h"
#include "sim-uart.h"

typedef enum SimState {
        SIM_STATE_RESET,        /* held in reset (EN low) */
        SIM_STATE_DOWNLOAD,     /* ROM serial loader, or the stub once uploaded */
        SIM_STATE_APP,          /* the application from flash runs */
        SIM_STATE_HALTED,       /* left the loader with nothing to run (ESP32-C3/S3) */
        SIM_STATE_CONSOLE,      /* ESP32 ROM's command interpreter */
        SIM_STATE_GONE,         /* unplugged */
        _SIM_STATE_MAX,
} SimState;

typedef enum SimBootMode {
        SIM_BOOT_APP,
        SIM_BOOT_DOWNLOAD,
        _SIM_BOOT_MAX,
        _SIM_BOOT_INVALID = -EINVAL,
} SimBootMode;

typedef enum SimResetReason {
        SIM_RESET_POWERON,      /* power-up, or the EN pin */
        SIM_RESET_SW,           /* software reset (FLASH_END 0) */
        SIM_RESET_USB,          /* USB-Serial-JTAG chip reset */
} SimResetReason;

/* The ROM starts again this long after a USB-Serial-JTAG reset. */
#define SIM_USB_RESET_BOOT_NSEC (1 * SIM_NSEC_PER_MSEC)
#define SIM_ROM_BAUD 115200U
#define SIM_HUP_RECHECK_NSEC (20 * SIM_NSEC_PER_MSEC)

typedef struct SimControl SimControl;

typedef struct Sim {
        /* Configuration. */
        const SimChip *chip;
        SimConsole console;
        SimTimingMode timing;
        SimBootMode poweron_mode;
        SimRegInit *reg_overrides;      /* --reg, applied after every reset */
        size_t n_reg_overrides;
        nsec_t app_interval;
        uint32_t en_capacitor_nf;       /* --en-capacitor, the RC on EN (sim-en.h) */
        char *pty_link;

        /* Parts. */
        SimFlash *flash;
        SimRegs regs;
        SimLoader loader;
        SimUart uart;
        SimSlipDecoder slip;
        SimFaults faults;
        SimLog *log;
        SimControl *control;

        /* The line. */
        int serial_fd;
        bool serial_hup;                /* nobody has the port open */
        bool serial_blocked;            /* the pty is full; wait for POLLOUT */
        nsec_t hup_recheck_at;
        uint32_t baud;

        /* Pins and boot. */
        bool dtr, rts;
        bool en, io0;
        SimEnPin en_pin;
        nsec_t reset_at;                /* EN low long enough: the chip resets then */
        SimState state_before_reset;    /* what a too-short EN pulse returns to */
        bool usb_download_flag;
        bool latched_download;          /* strapping latched at the last boot */
        SimState state;
        nsec_t boot_at;                 /* pending strap sample / ROM restart */
        SimResetReason boot_reason;
        bool boot_usb_forced;
        nsec_t soft_reset_at;
        nsec_t run_user_code_at;
        nsec_t app_next_line;
        char app_sha256[65];
        nsec_t stall_until;

        /* Counters for "stats". */
        uint64_t rx_bytes;
        uint64_t tx_bytes;
        uint64_t tx_lost;
        uint64_t boots;
        uint64_t resets;

        bool quit;
        nsec_t epoch;
} Sim;

nsec_t sim_now(void);
const char *sim_state_to_string(const Sim *s);
const char *sim_boot_mode_to_string(SimBootMode m);
SimBootMode sim_boot_mode_from_string(const char *str);

/* sim-serial.c: the serial side. */
/* Queues raw bytes to leave no earlier than at; returns when they have left. */
nsec_t sim_emit(Sim *s, const uint8_t *data, size_t n, nsec_t at);
nsec_t sim_emit_string(Sim *s, const char *str, nsec_t at);
nsec_t sim_emit_frame(Sim *s, const uint8_t *payload, size_t n, nsec_t at);
int sim_serial_open_pty(Sim *s, const char *link);
void sim_serial_set_fd(Sim *s, int fd);
int sim_serial_read(Sim *s, nsec_t now);
void sim_serial_flush(Sim *s, nsec_t now);
void sim_serial_deliver(Sim *s, nsec_t now);
void sim_serial_check_hup(Sim *s, nsec_t now);
nsec_t sim_serial_next_wakeup(const Sim *s, nsec_t now);
void sim_serial_set_baud(Sim *s, uint32_t baud, nsec_t at);
/* The standard host rate `rate` is within a UART's tolerance of, else rate. */
uint32_t sim_serial_nominal_baud(uint32_t rate);
void sim_serial_vanish(Sim *s, nsec_t now);
void sim_serial_close(Sim *s);

/* sim-boot.c: reset, strapping and what the chip prints. */
void sim_boot_power_on(Sim *s, nsec_t now);
void sim_boot_set_signals(Sim *s, bool dtr, bool rts, nsec_t now);
void sim_boot_soft_reset(Sim *s, nsec_t at);
void sim_boot_run_user_code(Sim *s, nsec_t at);
void sim_boot_run_timers(Sim *s, nsec_t now);
nsec_t sim_boot_next_timer(const Sim *s);
/* Chip reset: everything in flight is lost, the loader starts over. */
void sim_boot_enter_reset(Sim *s, nsec_t now);
/* Prints an ESP-IDF panic for the program counters pcs (the first is the
 * faulting one): 0, -EAGAIN when no application runs, -EINVAL. */
int sim_boot_panic(Sim *s, const uint32_t *pcs, size_t n, nsec_t now);
