/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* esptool's reset sequences (reset.py) as DTR/RTS line states with holds: the
 * one place they are written. The loader plays them with sleeps, the port
 * monitors with timers. Pure: no I/O. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "time-util.h"

typedef enum EspResetStrategy {
        ESP_RESET_CLASSIC,      /* DTR/RTS via the usual two-transistor circuit */
        ESP_RESET_UNIX_TIGHT,   /* same, both lines set together (TIOCMSET) */
        ESP_RESET_USB_JTAG,     /* Espressif USB-Serial-JTAG peripheral */
        ESP_RESET_NONE,         /* chip already in download mode */
        _ESP_RESET_MAX,
        _ESP_RESET_INVALID = -1,
} EspResetStrategy;

const char *esp_reset_strategy_to_string(EspResetStrategy s);   /* "classic", "unix-tight", "usb-jtag", "none" */
EspResetStrategy esp_reset_strategy_from_string(const char *s);

/* The line holds of a bridge reset (classic, unix-tight) on connect attempt
 * `attempt`: short ones first, then esptool's (esp-reset.c says why). */
typedef struct EspResetHolds {
        usec_t en_low;          /* EN held low */
        usec_t io0_low;         /* IO0 held low after EN is released */
} EspResetHolds;

#define RESET_FAST_EN_LOW (10 * USEC_PER_MSEC)
#define RESET_FAST_IO0_LOW (30 * USEC_PER_MSEC)
#define RESET_CLASSIC_EN_LOW (100 * USEC_PER_MSEC)
#define RESET_CLASSIC_IO0_LOW (50 * USEC_PER_MSEC)                   /* esptool DEFAULT_RESET_DELAY */
#define RESET_CLASSIC_IO0_LOW_EXTRA (RESET_CLASSIC_IO0_LOW + 500 * USEC_PER_MSEC)
/* The USB-Serial-JTAG peripheral acts on line changes only this slowly. */
#define RESET_USB_JTAG_EN_LOW (200 * USEC_PER_MSEC)

void esp_reset_holds(unsigned attempt, EspResetHolds *ret);

/* One line state (asserted = true), held for `hold` before the next.
 * until_boot_mode: the hold keeps IO0 low while the chip leaves reset, and
 * may end as soon as the ROM has printed the boot mode it latched
 * (esp_boot_text_has_mode()): the strapping pins are read by then. */
typedef struct EspResetStep {
        bool dtr, rts;
        usec_t hold;
        bool until_boot_mode;
} EspResetStep;

/* Whether boot text (NUL-terminated) holds the ROM's "boot:0x<hex>" report
 * of the strapping it latched (e.g. "rst:0x1 (POWERON),boot:0x5 (DOWNLOAD…"). */
bool esp_boot_text_has_mode(const char *text);

#define ESP_RESET_STEPS_MAX 9

/* Writes the steps of a reset into ret and returns how many: into the
 * bootloader with strategy s and the bridge holds h, or (into_bootloader false)
 * esptool's HardReset into the application, EN held low h->en_low through a
 * bridge and RESET_USB_JTAG_EN_LOW on USB-Serial-JTAG. ESP_RESET_NONE: 0 steps. */
size_t esp_reset_steps(EspResetStrategy s, bool into_bootloader, const EspResetHolds *h,
                       EspResetStep ret[static ESP_RESET_STEPS_MAX]);
