/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Facts about a board that a session need not ask again: taken from an earlier
 * session's connect when this one's chip magic agrees, and handed back after
 * connect for the next one (esp-loader.h says which commands they save). */
#include <errno.h>

#include "esp-loader-internal.h"
#include "log.h"
#include "macro.h"

/* esp_reset_holds() has three kinds of attempt; later ones repeat them. */
#define LOADER_KNOWN_ATTEMPT_MAX 2u

void esp_loader_set_known(EspLoader *l, const EspLoaderFacts *f) {
        if (!l)
                return;
        l->known = f ? *f : (EspLoaderFacts) {};
        l->known.reset_attempt = MIN(l->known.reset_attempt, LOADER_KNOWN_ATTEMPT_MAX);
        l->known_proven = false;
}

bool loader_known_chip(EspLoader *l, const EspChipInfo *by_magic) {
        if (!l->known.chip || by_magic != l->known.chip) {
                if (l->known.chip)
                        log_debug("The chip is not the %s known on this port: detecting it.",
                                  l->known.chip->description);
                return false;
        }
        /* Known devices never had Secure Download Mode (esp_loader_facts()). */
        l->chip = l->known.chip;
        l->usb_jtag = l->known.usb_jtag;
        l->secure_download = false;
        l->known_proven = true;
        return true;
}

/* The low word of each chip's factory MAC in eFuse (esptool's MAC_EFUSE_REG;
 * on the ESP32 EFUSE_BLK0 word 1). 0: not known here, the flash is asked. */
static uint32_t chip_mac_reg(const EspChipInfo *c) {
        switch (c->id) {
        case ESP_CHIP_ESP32:
                return 0x3ff5a004;
        case ESP_CHIP_ESP32S2:
                return 0x3f41a044;
        case ESP_CHIP_ESP32S3:
                return 0x60007044;
        case ESP_CHIP_ESP32C2:
                return 0x60008840;
        case ESP_CHIP_ESP32C3:
                return 0x60008844;
        case ESP_CHIP_ESP32C6:
        case ESP_CHIP_ESP32H2:
                return 0x600b0844;
        default:
                return 0;
        }
}

static void loader_read_mac(EspLoader *l) {
        uint32_t reg = chip_mac_reg(l->chip);

        l->has_mac = false;
        if (reg == 0 || l->secure_download)
                return;
        l->has_mac = esp_loader_read_reg(l, reg, &l->mac_low) >= 0;
}

bool loader_known_flash(EspLoader *l, uint32_t *ret_id, uint32_t *ret_size) {
        loader_read_mac(l);
        if (!l->known_proven || l->known.flash_size == 0 || !l->known.has_mac)
                return false;
        if (!l->has_mac || l->mac_low != l->known.mac_low) {
                log_debug("Another %s than the one known on this port: reading its flash id.",
                          l->chip->description);
                return false;
        }
        *ret_id = l->known.flash_id;
        *ret_size = l->known.flash_size;
        return true;
}

int esp_loader_facts(EspLoader *l, EspLoaderFacts *ret) {
        if (!l || !ret)
                return -EINVAL;
        if (!l->chip || l->secure_download || l->flash_size == 0)
                return -ENODATA;
        *ret = (EspLoaderFacts) {
                .chip = l->chip,
                .usb_jtag = l->usb_jtag,
                .flash_id = l->flash_id,
                .flash_size = l->flash_size,
                .has_mac = l->has_mac,
                .mac_low = l->mac_low,
                .reset_attempt = l->reset_attempt,
        };
        return 0;
}

bool esp_loader_used_known(EspLoader *l) {
        return l && l->known_proven;
}
