/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The reset sequences of esp-reset.h, and how long a bridge reset holds its
 * lines on each connect attempt. */
#include <assert.h>
#include <string.h>

#include "esp-reset.h"
#include "macro.h"
#include "string-util.h"

static const char *const esp_reset_strategy_table[_ESP_RESET_MAX] = {
        [ESP_RESET_CLASSIC] = "classic",
        [ESP_RESET_UNIX_TIGHT] = "unix-tight",
        [ESP_RESET_USB_JTAG] = "usb-jtag",
        [ESP_RESET_NONE] = "none",
};

DEFINE_STRING_TABLE_LOOKUP(esp_reset_strategy, EspResetStrategy);

/* How long a bridge reset holds its lines on attempt `attempt` (from 0).
 *
 * What the chip needs (the sim's boot model, tests/sim/sim-en.h, is built on
 * the same facts): EN low for the capacitor on it to discharge plus the ESP32
 * datasheet's 50 µs CHIP_PU pulse — about 0.16 ms at 1 µF, 1.1 ms at 10 µF;
 * and IO0 low until the strapping pins are latched, 1 ms after EN rises past
 * its threshold — R·C·ln 4 + 1 ms through the 10 kΩ pull-up: 15 ms at 1 µF
 * (esptool's documented minimum), 140 ms at 10 µF.
 *
 * The first attempt holds EN low 10 ms (9× the 10 µF need, and room for USB
 * scheduling of the two line changes) and IO0 30 ms (2× what a 1 µF board
 * needs). A board with a bigger capacitor misses that, and the next attempts
 * are esptool's own: EN 100 ms, then IO0 50 ms and 550 ms in turn
 * (DEFAULT_RESET_DELAY and its --connect-attempts extra delay). */
void esp_reset_holds(unsigned attempt, EspResetHolds *ret) {
        if (attempt == 0) {
                *ret = (EspResetHolds) { .en_low = RESET_FAST_EN_LOW, .io0_low = RESET_FAST_IO0_LOW };
                return;
        }
        *ret = (EspResetHolds) {
                .en_low = RESET_CLASSIC_EN_LOW,
                .io0_low = (attempt - 1) % 2 == 0 ? RESET_CLASSIC_IO0_LOW : RESET_CLASSIC_IO0_LOW_EXTRA,
        };
}

#define LINES(d, r, h) (EspResetStep) { .dtr = (d), .rts = (r), .hold = (h) }
/* IO0 low, EN released: held until the ROM reports its boot mode, or h. */
#define LINES_UNTIL_BOOT(d, r, h) (EspResetStep) { .dtr = (d), .rts = (r), .hold = (h), .until_boot_mode = true }

bool esp_boot_text_has_mode(const char *text) {
        /* The ROM reads the latched strapping (GPIO_STRAP) before it prints
         * it, so its value in the banner is the proof that IO0 was sampled. */
        for (const char *p = text ? strstr(text, "boot:0x") : NULL; p; p = strstr(p + 1, "boot:0x")) {
                char c = p[strlen("boot:0x")];

                if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
                        return true;
        }
        return false;
}

size_t esp_reset_steps(EspResetStrategy s, bool into_bootloader, const EspResetHolds *h,
                       EspResetStep ret[static ESP_RESET_STEPS_MAX]) {
        size_t n = 0;

        assert(h && s >= 0 && s < _ESP_RESET_MAX);

        if (s == ESP_RESET_NONE)
                return 0;

        if (!into_bootloader) {
                /* esptool HardReset: IO0 released (DTR off), EN pulsed low through RTS. */
                ret[n++] = LINES(false, true, s == ESP_RESET_USB_JTAG ? RESET_USB_JTAG_EN_LOW : h->en_low);
                ret[n++] = LINES(false, false, 0);
                return n;
        }

        switch (s) {
        case ESP_RESET_CLASSIC:
                /* ClassicReset: DTR drives IO0, RTS drives EN through the usual two
                 * transistors (asserted = low); the lines change one after the
                 * other, as pyserial's setDTR()/setRTS() do. */
                ret[n++] = LINES(false, false, 0);               /* IO0 high */
                ret[n++] = LINES(false, true, h->en_low);        /* EN low: in reset */
                ret[n++] = LINES(true, true, 0);                 /* IO0 low */
                ret[n++] = LINES_UNTIL_BOOT(true, false, h->io0_low);    /* EN high: out of reset */
                ret[n++] = LINES(false, false, 0);               /* IO0 high, done */
                break;
        case ESP_RESET_UNIX_TIGHT:
                /* UnixTightReset: both lines in one TIOCMSET, so the circuit never
                 * passes through the (1,1) state between steps. */
                ret[n++] = LINES(false, false, 0);
                ret[n++] = LINES(true, true, 0);
                ret[n++] = LINES(false, true, h->en_low);        /* IO0 high, EN low: in reset */
                ret[n++] = LINES_UNTIL_BOOT(true, false, h->io0_low);    /* IO0 low, EN high: out of reset */
                ret[n++] = LINES(false, false, 0);               /* IO0 high, done */
                break;
        case ESP_RESET_USB_JTAG:
                /* USBJTAGSerialReset, one line at a time: the peripheral
                 * interprets the lines itself; going through (1,1) rather than
                 * (0,0) matters. */
                ret[n++] = LINES(false, false, 0);
                ret[n++] = LINES(false, false, 100 * USEC_PER_MSEC);     /* idle */
                ret[n++] = LINES(true, false, 0);                        /* IO0 low */
                ret[n++] = LINES(true, false, 100 * USEC_PER_MSEC);
                ret[n++] = LINES(true, true, 0);                         /* reset, via (1,1) */
                ret[n++] = LINES(false, true, 0);
                ret[n++] = LINES(false, true, 100 * USEC_PER_MSEC);
                ret[n++] = LINES(false, true, 0);
                ret[n++] = LINES(false, false, 0);                       /* out of reset */
                break;
        default:
                assert(!"a reset strategy without steps");
                return 0;
        }
        assert(n <= ESP_RESET_STEPS_MAX);
        return n;
}
