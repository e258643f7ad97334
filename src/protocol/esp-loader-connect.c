/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Getting a chip into its loader and out again: reset strategies (esptool's
 * reset.py), sync with the ROM's repeated answers, chip and console detection,
 * and the hard reset into the application. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "esp-loader-internal.h"
#include "esp-status.h"
#include "log.h"
#include "macro.h"

/* ---- reset ------------------------------------------------------------------- */

static int loader_set_lines(EspLoader *l, bool dtr, bool rts) {
        int r;

        r = transport_set_signals(l->transport, dtr, rts);
        if (r < 0)
                return r;
        l->dtr = dtr;
        l->rts = rts;
        return 0;
}

/* What the chip printed since its reset, for the IO0 hold and a diagnosis. */
typedef struct BootText {
        char s[1024];
        size_t len;
} BootText;

static bool boot_text_waits(const BootText *b) {
        return strstr(b->s, "waiting for download\r\n") || strstr(b->s, "wait uart0 download\r\n");
}

/* Reads boot text until `deadline`, or until the ROM has reported the boot
 * mode it latched (until_mode) or says it waits for download. Fatal transport
 * errors only; running out of time is not one. */
static int loader_read_boot_text(EspLoader *l, BootText *b, usec_t deadline, bool until_mode) {
        while (b->len < sizeof(b->s) - 1 && !boot_text_waits(b) &&
               !(until_mode && esp_boot_text_has_mode(b->s))) {
                int n = transport_read(l->transport, b->s + b->len, sizeof(b->s) - 1 - b->len, deadline);

                if (n == -ENODEV || n == -ECANCELED)
                        return n;
                if (n <= 0)
                        break;
                /* NULs in boot text would hide the rest from strstr */
                for (size_t i = b->len; i < b->len + (size_t) n; i++)
                        if (b->s[i] == 0)
                                b->s[i] = ' ';
                b->len += (size_t) n;
                b->s[b->len] = 0;
        }
        b->s[b->len] = 0;
        return 0;
}

/* A sequence of esp-reset.h, with sleeps: the loader runs on its job's worker.
 * The IO0 hold after EN rises ends early once the ROM has printed the boot
 * mode it latched: the strapping pins are read by then. */
static int loader_play_reset(EspLoader *l, const EspResetStep *steps, size_t n, BootText *b) {
        for (size_t i = 0; i < n; i++) {
                STEP(loader_set_lines(l, steps[i].dtr, steps[i].rts));
                if (steps[i].hold == 0)
                        continue;
                if (steps[i].until_boot_mode && b) {
                        usec_t deadline = deadline_in(steps[i].hold), now;

                        STEP(loader_read_boot_text(l, b, deadline, true));
                        if (esp_boot_text_has_mode(b->s) || boot_text_waits(b))
                                continue;
                        /* No report (yet): the whole hold, however soon a read gave up. */
                        now = now_usec();
                        if (now < deadline)
                                sleep_usec(deadline - now);
                } else if (l->hold_work) {
                        /* The host's own work fills the wait; a hold it
                         * overruns only keeps the lines longer. */
                        usec_t end = now_usec() + steps[i].hold, now;
                        EspLoaderWorkFn work = l->hold_work;

                        l->hold_work = NULL;
                        work(l->hold_work_userdata);
                        now = now_usec();
                        if (now < end)
                                sleep_usec(end - now);
                } else
                        sleep_usec(steps[i].hold);
        }
        return 0;
}

static int loader_reset_variant(EspLoader *l, EspResetStrategy s, unsigned attempt, BootText *b) {
        EspResetStep steps[ESP_RESET_STEPS_MAX];
        EspResetHolds h;

        if (s < 0 || s >= _ESP_RESET_MAX)
                return -EINVAL;
        esp_reset_holds(attempt, &h);
        return loader_play_reset(l, steps, esp_reset_steps(s, true, &h, steps), b);
}

/* ---- sync and detection ------------------------------------------------------ */

/* One SYNC: first reply within SYNC_TIMEOUT, then swallow the ROM's repeats so
 * they do not linger in front of the next command. */
int loader_sync_once(EspLoader *l, bool *ret_stub) {
        uint8_t payload[ESP_SYNC_PAYLOAD_SIZE];
        EspResponse resp;
        bool stub;
        int r;

        r = loader_flush_input(l);
        if (r < 0)
                return r;
        r = esp_loader_command(l, ESP_OP_SYNC, payload, esp_payload_sync(payload), 0,
                               LOADER_SYNC_TIMEOUT, &resp);
        if (r < 0)
                return r;

        /* ROMs send a non-zero value, the flasher stub 0 (esptool sync_stub_detected). */
        stub = resp.value == 0;
        for (unsigned i = 0; i < LOADER_SYNC_EXTRA_REPLIES; i++) {
                const uint8_t *frame;
                size_t n;

                r = loader_read_frame(l, deadline_in(LOADER_SYNC_TIMEOUT / 2), &frame, &n);
                if (r == -ETIMEDOUT)
                        break;
                if (r < 0)
                        return r;
                if (loader_decode(l, frame, n, &resp) >= 0 && resp.op == ESP_OP_SYNC)
                        stub = stub && resp.value == 0;
                else
                        loader_reopen_frame(l);
        }

        if (ret_stub)
                *ret_stub = stub;
        return 0;
}

static bool boot_log_says_download(const char *log) {
        return strstr(log, "waiting for download") || strstr(log, "wait uart0 download") ||
               strstr(log, "DOWNLOAD");
}

/* Reads what the chip printed after reset, for a diagnosis if sync fails; up
 * to 20 ms more, or until the ROM's last download-mode line has arrived. */
static void loader_collect_boot_log(EspLoader *l, BootText *b, bool *ret_seen, bool *ret_download) {
        (void) loader_read_boot_text(l, b, deadline_in(20 * USEC_PER_MSEC), false);
        *ret_seen = strstr(b->s, "boot:") != NULL;
        *ret_download = boot_log_says_download(b->s);
}

static int loader_connect_attempt(EspLoader *l, EspResetStrategy s, unsigned attempt,
                                  bool *ret_stub) {
        bool boot_seen = false, download = false;
        int r = 0;

        if (s != ESP_RESET_NONE) {
                BootText b = {};

                r = loader_flush_input(l);
                if (r < 0)
                        return r;
                r = loader_reset_variant(l, s, attempt, &b);
                if (r == -ENOTTY || r == -EINVAL || r == -EOPNOTSUPP)
                        /* as esptool: a port without modem lines just cannot reset */
                        log_warning_errno(r, "Chip was not reset, the port cannot set DTR/RTS: %m");
                else if (r < 0)
                        return r;
                loader_collect_boot_log(l, &b, &boot_seen, &download);
        }

        for (unsigned i = 0; i < LOADER_SYNCS_PER_ATTEMPT; i++) {
                if (i > 0)
                        l->stats.retries++;
                r = loader_sync_once(l, ret_stub);
                if (r >= 0)
                        return 0;
                if (loader_error_is_fatal(r))
                        return r;
                sleep_usec(50 * USEC_PER_MSEC);
        }

        if (boot_seen && !download)
                log_debug("The chip booted, but not into download mode.");
        else if (download)
                log_debug("The chip is in download mode but does not answer SYNC.");
        return r;
}

/* `r` and `magic`: the result of reading ESP_CHIP_MAGIC_REG. */
static int loader_detect_by_magic(EspLoader *l, int r, uint32_t magic) {
        if (r == -EOPNOTSUPP) {
                /* Only an ESP32-S2 in Secure Download Mode refuses both
                 * GET_SECURITY_INFO's chip id and READ_REG (esptool). */
                l->secure_download = true;
                l->chip = esp_chip_get(ESP_CHIP_ESP32S2);
                return l->chip ? 0 : -EOPNOTSUPP;
        }
        if (r < 0)
                return log_debug_errno(r, "Failed to read the chip magic register: %m");

        l->chip = esp_chip_from_magic(magic);
        if (!l->chip)
                return log_debug_errno(EOPNOTSUPP, "Unknown chip magic value 0x%08x.", magic);
        return 0;
}

static int loader_detect(EspLoader *l) {
        const EspChipInfo *by_magic;
        EspSecurityInfo si;
        EspResponse resp;
        uint32_t magic = 0;
        int r, r_magic;

        l->chip = NULL;
        l->secure_download = false;

        /* The magic register first: a ROM in Secure Download Mode refuses
         * READ_REG, so an answer proves that mode off, and a value in the
         * chip table names the chip. GET_SECURITY_INFO (an ESP32's ROM lacks
         * it: a refusal and the wait for its repeat) would tell nothing more.
         * A 0 names no chip for sure (one of the ESP32-P4's values, and what
         * an unknown chip may read there): that one is asked. */
        r_magic = esp_loader_read_reg(l, ESP_CHIP_MAGIC_REG, &magic);
        if (r_magic == -ENODEV || r_magic == -ECANCELED)
                return r_magic;
        by_magic = r_magic >= 0 ? esp_chip_from_magic(magic) : NULL;
        if (by_magic && loader_known_chip(l, by_magic))
                return 0;
        if (by_magic && !by_magic->rom_has_security_info) {
                l->chip = by_magic;
                return 0;
        }

        /* The chip is named: the rest of the detection at the fast rate. */
        if (by_magic && l->fast_baud != 0) {
                l->chip = by_magic;
                r = esp_loader_change_baud(l, l->fast_baud);
                if (r < 0 && (l->baud_raised || loader_error_is_fatal(r)))
                        return r;
                if (r < 0)
                        log_debug_errno(r, "Staying at %u baud for now: %m", l->transport->baud);
                l->chip = NULL;
        }
        if (by_magic && magic != 0) {
                l->chip = by_magic;
                return 0;
        }

        r = esp_loader_command(l, ESP_OP_GET_SECURITY_INFO, NULL, 0, 0, LOADER_DEFAULT_TIMEOUT,
                               &resp);
        if (r >= 0)
                r = esp_security_info_parse(&resp, &si);
        if (r >= 0) {
                l->secure_download = si.flags & ESP_SECURITY_FLAG_SECURE_DOWNLOAD_ENABLE;
                if (si.has_chip_id) {
                        l->chip = esp_chip_from_security_id(si.chip_id);
                        if (!l->chip)
                                return log_debug_errno(EOPNOTSUPP, "Unknown chip id %u.", si.chip_id);
                        return 0;
                }
                /* ESP32-S2: security info without a chip id */
        } else if (r == -ENODEV || r == -ECANCELED)
                return r;
        else
                log_debug_errno(r, "GET_SECURITY_INFO unavailable (%m), reading the chip magic.");

        /* A READ_REG refused before Secure Download Mode was known is asked
         * again: the refusal is what identifies an ESP32-S2 in that mode. */
        if (r_magic < 0)
                r_magic = esp_loader_read_reg(l, ESP_CHIP_MAGIC_REG, &magic);
        return loader_detect_by_magic(l, r_magic, magic);
}

void esp_loader_set_fast_baud(EspLoader *l, uint32_t baud) {
        if (l)
                l->fast_baud = baud;
}

void esp_loader_set_hold_work(EspLoader *l, EspLoaderWorkFn work, void *userdata) {
        if (!l)
                return;
        l->hold_work = work;
        l->hold_work_userdata = userdata;
}

void esp_loader_set_uart_link(EspLoader *l, bool uart) {
        if (l)
                l->uart_link = uart;
}

/* esptool disable_watchdogs(): over USB-Serial-JTAG nothing resets the RTC and
 * super watchdogs while the ROM waits, and they would reset the chip mid-write. */
static int loader_disable_watchdogs(EspLoader *l) {
        const EspChipInfo *c = l->chip;
        uint32_t v;

        if (c->rtc_wdt_wprotect == 0)
                return 0;
        STEP(esp_loader_write_reg(l, c->rtc_wdt_wprotect, c->rtc_wdt_wkey));
        STEP(esp_loader_write_reg(l, c->rtc_wdt_config0, 0));
        STEP(esp_loader_write_reg(l, c->rtc_wdt_wprotect, 0));

        if (c->swd_wprotect == 0)
                return 0;
        STEP(esp_loader_write_reg(l, c->swd_wprotect, c->swd_wkey));
        STEP(esp_loader_read_reg(l, c->swd_conf, &v));
        STEP(esp_loader_write_reg(l, c->swd_conf, v | c->swd_auto_feed_en));
        STEP(esp_loader_write_reg(l, c->swd_wprotect, 0));
        return 0;
}

static int loader_detect_usb_jtag(EspLoader *l) {
        const EspChipInfo *c = l->chip;
        uint32_t v;
        int r;

        if (l->known_proven)
                return 0;   /* known (esp-loader-facts.c) */
        l->usb_jtag = false;
        /* Through a USB-UART bridge the chip answers on its UART: that is its
         * console, whatever the register would add. */
        if (!c->has_usb_serial_jtag || c->uartdev_buf_no == 0 || l->secure_download || l->uart_link)
                return 0;

        r = esp_loader_read_reg(l, c->uartdev_buf_no, &v);
        if (r == -ENODEV || r == -ECANCELED)
                return r;
        if (r < 0) {
                log_debug_errno(r, "Cannot read UARTDEV_BUF_NO, assuming a UART console: %m");
                return 0;
        }
        l->usb_jtag = (v & 0xff) == c->uartdev_buf_no_usb_jtag;
        return 0;
}

int esp_loader_connect(EspLoader *l, EspResetStrategy reset, unsigned attempts) {
        bool stub = false;
        int r = -ETIMEDOUT;

        if (!l || reset < 0 || reset >= _ESP_RESET_MAX || attempts == 0)
                return -EINVAL;

        l->chip = NULL;
        l->stub = false;
        l->status_len = ESP_ROM_STATUS_LEN;
        l->usb_jtag = false;
        l->flash_size = l->flash_id = 0;
        l->known_proven = l->has_mac = false;

        /* A board that needed longer holds once starts with them (the known facts). */
        for (unsigned i = l->known.reset_attempt; i < l->known.reset_attempt + attempts; i++) {
                if (i > l->known.reset_attempt)
                        l->stats.retries++;
                l->reset_attempt = i;
                r = loader_connect_attempt(l, reset, i, &stub);
                if (r >= 0 || loader_error_is_fatal(r))
                        break;
                log_debug_errno(r, "Connect attempt %u/%u failed: %m",
                                i - l->known.reset_attempt + 1, attempts);
        }
        if (r < 0)
                return log_debug_errno(r, "Failed to connect to the chip: %m");

        if (stub) {
                /* A stub left running by an earlier session: speak its dialect. */
                log_debug("Flasher stub already running.");
                l->stub = true;
                l->status_len = ESP_STUB_STATUS_LEN;
        }

        r = loader_detect(l);
        if (r < 0)
                return r;

        r = loader_detect_usb_jtag(l);
        if (r < 0)
                return r;
        if (l->usb_jtag && !l->stub) {
                r = loader_disable_watchdogs(l);
                if (r < 0)
                        return log_debug_errno(r, "Failed to disable the watchdogs: %m");
        }

        log_debug("Connected to %s%s%s%s.", l->chip->description, l->stub ? " (stub)" : "",
                  l->secure_download ? ", Secure Download Mode" : "",
                  l->usb_jtag ? ", over USB-Serial-JTAG" : "");
        return 0;
}


/* ---- leaving -------------------------------------------------------------------- */

int esp_loader_hold_reset(EspLoader *l, usec_t *ret_release_at) {
        EspResetHolds h;

        assert(l && ret_release_at);
        /* Through a bridge EN stays low as long as this board's reset needed
         * when the connect got through (esp_reset_holds(): 10 ms first, ten
         * times what 10 µF on EN needs; esptool's 100 ms for a board that
         * needed its holds), not esptool's 100 ms always. The USB-Serial-JTAG
         * peripheral acts on line changes slowly. Whoever releases EN waits
         * for it, not this session. */
        esp_reset_holds(l->reset_attempt, &h);
        STEP(loader_set_lines(l, false, true));
        *ret_release_at = now_usec() + (l->usb_jtag ? RESET_USB_JTAG_EN_LOW : h.en_low);
        /* Whatever answers next is the application, not this loader. */
        l->stub = false;
        l->status_len = ESP_ROM_STATUS_LEN;
        loader_discard_input_state(l);
        return 0;
}

int esp_loader_hard_reset(EspLoader *l) {
        EspResetStep steps[ESP_RESET_STEPS_MAX];
        /* Through a bridge EN needs what esp_reset_holds() says (esptool's
         * 100 ms is ten times that). */
        EspResetHolds h = { .en_low = RESET_FAST_EN_LOW };
        size_t n;

        assert(l);

        n = esp_reset_steps(l->usb_jtag ? ESP_RESET_USB_JTAG : ESP_RESET_CLASSIC, false, &h, steps);
        STEP(loader_play_reset(l, steps, n, NULL));
        if (l->usb_jtag)
                sleep_usec(RESET_USB_JTAG_EN_LOW);

        /* Whatever answers next is the application, not this loader. */
        l->stub = false;
        l->status_len = ESP_ROM_STATUS_LEN;
        loader_discard_input_state(l);
        return 0;
}
