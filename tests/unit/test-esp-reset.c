/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The reset sequences the loader and the port monitors share: line states and
 * holds as esptool's reset.py has them, including the monitors' own (HardReset
 * with esptool's 100 ms, UnixTight into the bootloader); which hold may end
 * once the ROM has printed its boot mode, and how that report is recognised. */
#include <assert.h>

#include "esp-reset.h"
#include "macro.h"

typedef struct Vector {
        EspResetStrategy s;
        bool into_bootloader;
        unsigned attempt;
        size_t n;
        EspResetStep steps[ESP_RESET_STEPS_MAX];
} Vector;

#define MS USEC_PER_MSEC

static const Vector vectors[] = {
        /* ClassicReset, the first (short) holds: D0 R1 (10 ms) D1 R0 (30 ms) D0 */
        { ESP_RESET_CLASSIC, true, 0, 5,
          { { 0, 0, 0, 0 }, { 0, 1, 10 * MS, 0 }, { 1, 1, 0, 0 }, { 1, 0, 30 * MS, 1 }, { 0, 0, 0, 0 } } },
        /* UnixTightReset with esptool's holds: what a monitor's "reset into the
         * bootloader" sets, EN low 100 ms, IO0 low 50 ms */
        { ESP_RESET_UNIX_TIGHT, true, 1, 5,
          { { 0, 0, 0, 0 }, { 1, 1, 0, 0 }, { 0, 1, 100 * MS, 0 }, { 1, 0, 50 * MS, 1 }, { 0, 0, 0, 0 } } },
        /* the extra-long IO0 hold of every other later attempt */
        { ESP_RESET_UNIX_TIGHT, true, 2, 5,
          { { 0, 0, 0, 0 }, { 1, 1, 0, 0 }, { 0, 1, 100 * MS, 0 }, { 1, 0, 550 * MS, 1 }, { 0, 0, 0, 0 } } },
        /* USBJTAGSerialReset: R0 D0 (100) D1 R0 (100) R1 D0 R1 (100) D0 R0 */
        { ESP_RESET_USB_JTAG, true, 0, 9,
          { { 0, 0, 0, 0 }, { 0, 0, 100 * MS, 0 }, { 1, 0, 0, 0 }, { 1, 0, 100 * MS, 0 }, { 1, 1, 0, 0 },
            { 0, 1, 0, 0 }, { 0, 1, 100 * MS, 0 }, { 0, 1, 0, 0 }, { 0, 0, 0, 0 } } },
        /* HardReset through a bridge: EN low for the holds' en_low */
        { ESP_RESET_CLASSIC, false, 0, 2, { { 0, 1, 10 * MS, 0 }, { 0, 0, 0, 0 } } },
        { ESP_RESET_UNIX_TIGHT, false, 1, 2, { { 0, 1, 100 * MS, 0 }, { 0, 0, 0, 0 } } },
        /* … and on USB-Serial-JTAG, whatever the holds */
        { ESP_RESET_USB_JTAG, false, 0, 2, { { 0, 1, 200 * MS, 0 }, { 0, 0, 0, 0 } } },
        { ESP_RESET_USB_JTAG, false, 1, 2, { { 0, 1, 200 * MS, 0 }, { 0, 0, 0, 0 } } },
        /* a chip already in download mode is not touched */
        { ESP_RESET_NONE, true, 0, 0, {} },
        { ESP_RESET_NONE, false, 0, 0, {} },
};

int main(void) {
        for (size_t i = 0; i < ELEMENTSOF(vectors); i++) {
                const Vector *v = &vectors[i];
                EspResetStep steps[ESP_RESET_STEPS_MAX];
                EspResetHolds h;
                size_t n;

                esp_reset_holds(v->attempt, &h);
                n = esp_reset_steps(v->s, v->into_bootloader, &h, steps);
                assert(n == v->n);
                for (size_t k = 0; k < n; k++) {
                        assert(steps[k].dtr == v->steps[k].dtr);
                        assert(steps[k].rts == v->steps[k].rts);
                        assert(steps[k].hold == v->steps[k].hold);
                        /* only IO0 low after EN rose may end early */
                        assert(steps[k].until_boot_mode == v->steps[k].until_boot_mode);
                }
        }

        /* The ROM's report of its latched strapping, as the chips print it. */
        assert(esp_boot_text_has_mode("ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT"));
        assert(esp_boot_text_has_mode("ESP-ROM:esp32c3-api1-20210207\r\nBuild:Feb  7 2021\r\nrst:0x1 (POWERON),boot:0x5"));
        assert(esp_boot_text_has_mode("rst:0x1 (POWERON),boot:0xd (SPI_FAST_FLASH_BOOT)"));
        /* not before its value: the line may still be on its way */
        assert(!esp_boot_text_has_mode("rst:0x1 (POWERON),boot:0x"));
        assert(!esp_boot_text_has_mode("rst:0x1 (POWERON),boot:"));
        assert(!esp_boot_text_has_mode("ESP-ROM:esp32c3-api1-20210207\r\n"));
        /* the 2nd stage bootloader's log is no ROM report */
        assert(!esp_boot_text_has_mode("I (31) boot: ESP-IDF v5.1.2 2nd stage bootloader\r\n"));
        assert(esp_boot_text_has_mode("boot: x boot:0x13 (SPI"));
        assert(!esp_boot_text_has_mode(""));
        assert(!esp_boot_text_has_mode(NULL));
        return 0;
}
