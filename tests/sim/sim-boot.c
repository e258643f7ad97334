/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The boot model: DTR/RTS become EN and IO0 through a USB-UART bridge's
 * two-transistor auto-reset circuit, or drive the USB-Serial-JTAG reset logic;
 * on reset release the strapping is latched and the chip prints its ROM
 * banner and either waits for download or boots the application from flash,
 * which then reports its image's SHA-256 every --app-interval. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "sim-digest.h"
#include "sim-image.h"
#include "sim.h"

/* After the ROM: the 2nd stage bootloader and the app start this much later. */
#define STAGE2_DELAY_NSEC (30 * SIM_NSEC_PER_MSEC)
#define APP_DELAY_NSEC (250 * SIM_NSEC_PER_MSEC)
#define APP_FIRST_LINE_NSEC (300 * SIM_NSEC_PER_MSEC)

/* ---- a growing string for banners ---------------------------------------- */

typedef struct Text {
        char *s;
        size_t len;
        size_t allocated;
} Text;

static void text_done(Text *t) {
        free(t->s);
        *t = (Text) {};
}

_printf_(2, 3) static void text_add(Text *t, const char *fmt, ...) {
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if (t->len + (size_t) n + 1 > t->allocated) {
                size_t a = MAX(t->allocated * 2, t->len + (size_t) n + 256);
                char *p = realloc(t->s, a);

                if (!p)
                        return;         /* a banner short of a line is better than none */
                t->s = p;
                t->allocated = a;
        }
        va_start(ap, fmt);
        vsnprintf(t->s + t->len, t->allocated - t->len, fmt, ap);
        va_end(ap);
        t->len += (size_t) n;
}

static nsec_t text_emit(Sim *s, Text *t, nsec_t at) {
        nsec_t done = at;

        if (t->len > 0)
                done = sim_emit(s, (const uint8_t *) t->s, t->len, at);
        text_done(t);
        return done;
}

/* ---- what gets printed ---------------------------------------------------- */

typedef struct DefaultLoad {
        SimImageSegment seg[4];
        size_t n;
        uint32_t entry;
} DefaultLoad;

/* An ESP-IDF 5.1 bootloader's segments, for flash that holds none. */
static const DefaultLoad default_loads[_SIM_CHIP_MAX] = {
        [SIM_CHIP_ESP32] = { { { 0x3fff0030, 7104 }, { 0x40078000, 15576 }, { 0x40080400, 4 },
                               { 0x40080404, 3876 } }, 4, 0x4008064c },
        [SIM_CHIP_ESP32S3] = { { { 0x3fce3818, 0x508 }, { 0x403c9700, 0x4 }, { 0x403c9704, 0xad0 },
                                 { 0x403cc700, 0x29e4 } }, 4, 0x403c9880 },
        [SIM_CHIP_ESP32C3] = { { { 0x3fcd5820, 0x1714 }, { 0x403cc710, 0x968 },
                                 { 0x403ce710, 0x2f9c } }, 3, 0x403cc710 },
};

static const char *chip_revision(const Sim *s) {
        switch (s->chip->id) {
        case SIM_CHIP_ESP32C3:
                return "v0.3";
        case SIM_CHIP_ESP32S3:
                return "v0.2";
        default:
                return "v0.0";
        }
}

static const char *partition_usage(const SimPartition *p) {
        if (p->type == 0x00) {
                if (p->subtype == 0x00)
                        return "factory app";
                if (p->subtype >= 0x10 && p->subtype < 0x20)
                        return "OTA app";
                return "test app";
        }
        if (p->type == 0x01)
                switch (p->subtype) {
                case 0x00:
                        return "OTA data";
                case 0x01:
                        return "RF data";
                case 0x02:
                        return "WiFi data";
                case 0x03:
                        return "coredump";
                default:
                        break;
                }
        return "Unknown data";
}

/* ROM lines from "load:" to "entry", from the real bootloader if there is one. */
static void add_load_lines(Sim *s, Text *t) {
        const DefaultLoad *d = &default_loads[s->chip->id];
        SimImageInfo info;
        const SimImageSegment *seg = d->seg;
        size_t n = d->n;
        uint32_t entry = d->entry;

        if (sim_image_parse(s->flash, s->chip->bootloader_offset,
                            SIM_PARTITION_TABLE_OFFSET - s->chip->bootloader_offset, &info) >= 0) {
                seg = info.segments;
                n = info.n_segments;
                entry = info.entry;
        }
        for (size_t i = 0; i < n; i++) {
                if (s->chip->load_len_hex)
                        text_add(t, "load:0x%08" PRIx32 ",len:0x%" PRIx32 "\r\n", seg[i].load_addr, seg[i].len);
                else
                        text_add(t, "load:0x%08" PRIx32 ",len:%" PRIu32 "\r\n", seg[i].load_addr, seg[i].len);
        }
        text_add(t, "entry 0x%08" PRIx32 "\r\n", entry);
}

static void add_stage2_lines(Sim *s, Text *t, uint32_t app_offset) {
        SimPartition parts[SIM_PARTITION_TABLE_MAX / 32];
        const char *target = s->chip->idf_target;
        size_t n = 0;

        text_add(t, "I (31) boot: ESP-IDF v5.1.2 2nd stage bootloader\r\n");
        text_add(t, "I (31) boot: compile time Jan  1 2024 00:00:00\r\n");
        text_add(t, "I (32) boot: chip revision: %s\r\n", chip_revision(s));
        text_add(t, "I (36) boot.%s: SPI Speed      : %s\r\n", target,
                 s->chip->id == SIM_CHIP_ESP32 ? "40MHz" : "80MHz");
        text_add(t, "I (41) boot.%s: SPI Mode       : DIO\r\n", target);
        text_add(t, "I (46) boot.%s: SPI Flash Size : %" PRIu32 "MB\r\n", target, s->flash->size >> 20);
        text_add(t, "I (50) boot: Enabling RNG early entropy source...\r\n");
        if (sim_partition_table_read(s->flash, parts, ELEMENTSOF(parts), &n) >= 0) {
                text_add(t, "I (56) boot: Partition Table:\r\n");
                text_add(t, "I (59) boot: ## Label            Usage          Type ST Offset   Length\r\n");
                for (size_t i = 0; i < n; i++)
                        text_add(t, "I (%zu) boot: %2zu %-16s %-16s %02x %02x %08" PRIx32 " %08" PRIx32 "\r\n",
                                 67 + 7 * i, i, parts[i].label, partition_usage(&parts[i]),
                                 parts[i].type, parts[i].subtype, parts[i].offset, parts[i].size);
                text_add(t, "I (%zu) boot: End of partition table\r\n", 67 + 7 * n);
        }
        text_add(t, "I (120) boot: Loaded app from partition at offset 0x%" PRIx32 "\r\n", app_offset);
        text_add(t, "I (125) boot: Disabling RNG early entropy source...\r\n");
}

static void add_app_lines(Sim *s, Text *t) {
        char elf[17];

        memcpy(elf, s->app_sha256, 16);
        elf[16] = 0;
        text_add(t, "I (250) cpu_start: Pro cpu start user code\r\n");
        text_add(t, "I (250) cpu_start: cpu freq: 160000000 Hz\r\n");
        text_add(t, "I (251) app_init: Application information:\r\n");
        text_add(t, "I (254) app_init: ELF file SHA256:  %s...\r\n", elf);
        text_add(t, "I (259) app_init: ESP-IDF:          v5.1.2\r\n");
        text_add(t, "I (280) main_task: Calling app_main()\r\n");
}

/* ---- registers that reflect the boot --------------------------------------- */

static void load_registers(Sim *s, bool download) {
        const SimChip *c = s->chip;

        sim_regs_clear(&s->regs);
        (void) sim_regs_load(&s->regs, c->regs, c->n_regs);
        (void) sim_regs_load(&s->regs, c->spi_regs_rom, c->n_spi_regs_rom);
        (void) sim_regs_write(&s->regs, c->gpio_strap_reg, download ? c->strap_reg_download : c->strap_spi);
        if (c->uartdev_buf_no_reg != 0)
                (void) sim_regs_write(&s->regs, c->uartdev_buf_no_reg,
                                      s->console == SIM_CONSOLE_USB_JTAG ? c->uartdev_buf_no_usb_jtag : 0);
        (void) sim_regs_load(&s->regs, s->reg_overrides, s->n_reg_overrides);
}

/* ---- reset and boot ---------------------------------------------------------- */

void sim_boot_enter_reset(Sim *s, nsec_t now) {
        if (s->state == SIM_STATE_GONE)
                return;
        s->resets++;
        s->state = SIM_STATE_RESET;
        s->boot_at = SIM_NSEC_INFINITY;
        s->reset_at = SIM_NSEC_INFINITY;
        s->soft_reset_at = SIM_NSEC_INFINITY;
        s->run_user_code_at = SIM_NSEC_INFINITY;
        s->app_next_line = SIM_NSEC_INFINITY;
        /* A chip in reset neither sends nor receives: what was in flight is lost. */
        sim_uart_tx_discard(&s->uart, now);
        sim_uart_rx_discard(&s->uart, now);
        sim_slip_decoder_reset(&s->slip);
        sim_loader_reset(&s->loader);
        sim_serial_set_baud(s, SIM_ROM_BAUD, now);
        sim_log_event(s->log, now, "reset", NULL);
}

static void start_app_output(Sim *s, Text *rom, nsec_t now) {
        uint8_t sha[32];
        uint32_t offset = SIM_DEFAULT_APP_OFFSET, len = 0;
        bool fast = s->timing == SIM_TIMING_FAST;
        Text t = {};

        if (sim_app_sha256(s->flash, sha, &offset, &len) < 0)
                memset(sha, 0, sizeof(sha));
        sim_hex(sha, sizeof(sha), s->app_sha256);

        add_load_lines(s, rom);
        (void) text_emit(s, rom, now);

        add_stage2_lines(s, &t, offset);
        (void) text_emit(s, &t, now + (fast ? 0 : STAGE2_DELAY_NSEC));
        add_app_lines(s, &t);
        (void) text_emit(s, &t, now + (fast ? 0 : APP_DELAY_NSEC));

        s->state = SIM_STATE_APP;
        s->app_next_line = now + (fast ? 0 : APP_FIRST_LINE_NSEC);
        sim_log_event(s->log, now, "app", "\"offset\":%" PRIu32 ",\"length\":%" PRIu32 ",\"sha256\":\"%s\"",
                      offset, len, s->app_sha256);
}

static void boot(Sim *s, SimBootMode mode, SimResetReason reason, bool usb_forced, nsec_t now) {
        const SimChip *c = s->chip;
        bool download = mode == SIM_BOOT_DOWNLOAD;
        const char *reason_line;
        uint32_t strap;
        Text t = {};

        load_registers(s, download);
        s->latched_download = download;
        s->boots++;
        s->boot_at = SIM_NSEC_INFINITY;
        sim_loader_reset(&s->loader);
        sim_slip_decoder_reset(&s->slip);

        reason_line = reason == SIM_RESET_SW ? c->reason_sw :
                      reason == SIM_RESET_USB && c->reason_usb ? c->reason_usb : c->reason_poweron;
        strap = !download ? c->strap_spi : usb_forced ? c->strap_download_usb : c->strap_download_uart;

        /* trace *-rom-flash-end-probe: a software reset starts with two SLIP
         * delimiters before the ROM banner. */
        if (reason == SIM_RESET_SW)
                text_add(&t, "\xc0\xc0");
        text_add(&t, "%s%s,boot:0x%" PRIx32 " (%s)\r\n", c->rom_header, reason_line, strap,
                 download ? c->download_name : c->spi_boot_name);
        if (reason == SIM_RESET_USB && c->saved_pc)
                text_add(&t, "%s", c->saved_pc);

        sim_log_event(s->log, now, "boot", "\"mode\":\"%s\",\"reason\":\"%s\"",
                      sim_boot_mode_to_string(mode),
                      reason == SIM_RESET_SW ? "sw" : reason == SIM_RESET_USB ? "usb" : "poweron");

        if (download) {
                text_add(&t, "waiting for download\r\n");
                (void) text_emit(s, &t, now);
                s->state = SIM_STATE_DOWNLOAD;
                return;
        }
        text_add(&t, "%s", c->spi_boot_lines);
        start_app_output(s, &t, now);
}

void sim_boot_power_on(Sim *s, nsec_t now) {
        s->state = SIM_STATE_RESET;
        s->boot_at = s->reset_at = s->soft_reset_at = s->run_user_code_at = s->app_next_line = SIM_NSEC_INFINITY;
        s->en = s->io0 = true;
        sim_en_pin_init(&s->en_pin, s->en_capacitor_nf ? s->en_capacitor_nf : SIM_EN_DEFAULT_CAPACITOR_NF);
        boot(s, s->poweron_mode, SIM_RESET_POWERON, false, now);
}

static void set_signals_uart(Sim *s, nsec_t now) {
        /* The classic circuit: EN is pulled low only while RTS is asserted and
         * DTR is not, IO0 only while DTR is asserted and RTS is not. */
        bool en = !(s->rts && !s->dtr);
        bool io0 = !(s->dtr && !s->rts);
        bool was_en = s->en;
        nsec_t latch_at;

        s->en = en;
        s->io0 = io0;
        if (was_en && !en) {
                if (s->state == SIM_STATE_RESET && s->reset_at == SIM_NSEC_INFINITY) {
                        /* Still in reset (the strapping not latched yet): it stays. */
                        s->boot_at = SIM_NSEC_INFINITY;
                        sim_en_pin_hold(&s->en_pin, now);
                        return;
                }
                /* Held from the outside at once; the reset itself happens once
                 * the capacitor on EN has discharged (sim-en.h). */
                s->state_before_reset = s->state;
                s->state = SIM_STATE_RESET;
                s->reset_at = sim_en_pin_fall(&s->en_pin, now);
        } else if (!was_en && en) {
                if (!sim_en_pin_rise(&s->en_pin, now, &latch_at)) {
                        /* A pulse shorter than the RC needs: the chip never reset. */
                        s->reset_at = SIM_NSEC_INFINITY;
                        s->state = s->state_before_reset;
                        sim_log_event(s->log, now, "en-pulse-too-short", NULL);
                        return;
                }
                if (s->reset_at != SIM_NSEC_INFINITY)
                        sim_boot_enter_reset(s, now);
                s->boot_at = latch_at;
        }
}

static void set_signals_usb_jtag(Sim *s, bool old_dtr, bool old_rts, nsec_t now) {
        /* The USB-Serial-JTAG peripheral's table: DTR without RTS sets the
         * download flag, neither clears it, RTS without DTR resets the chip,
         * both do nothing (esptool steps through that state on purpose). */
        if (s->dtr && !s->rts)
                s->usb_download_flag = true;
        else if (!s->dtr && !s->rts)
                s->usb_download_flag = false;
        else if (!s->dtr && s->rts && !(!old_dtr && old_rts)) {
                bool forced = s->usb_download_flag;

                sim_boot_enter_reset(s, now);
                s->latched_download = forced;
                s->boot_reason = SIM_RESET_USB;
                s->boot_usb_forced = forced;
                s->boot_at = now + SIM_USB_RESET_BOOT_NSEC;
        }
}

void sim_boot_set_signals(Sim *s, bool dtr, bool rts, nsec_t now) {
        bool old_dtr = s->dtr, old_rts = s->rts;

        s->dtr = dtr;
        s->rts = rts;
        if (s->state == SIM_STATE_GONE)
                return;
        if (s->console == SIM_CONSOLE_USB_JTAG)
                set_signals_usb_jtag(s, old_dtr, old_rts, now);
        else {
                set_signals_uart(s, now);
                s->boot_reason = SIM_RESET_POWERON;
                s->boot_usb_forced = false;
        }
        sim_log_event(s->log, now, "signals", "\"dtr\":%d,\"rts\":%d,\"en\":%d,\"io0\":%d",
                      dtr, rts, s->en, s->io0);
}

void sim_boot_soft_reset(Sim *s, nsec_t at) {
        s->soft_reset_at = at;
}

void sim_boot_run_user_code(Sim *s, nsec_t at) {
        s->run_user_code_at = at;
}

static void run_user_code(Sim *s, nsec_t now) {
        const SimChip *c = s->chip;
        SimImageInfo info;
        Text t = {};

        s->run_user_code_at = SIM_NSEC_INFINITY;
        if (c->flash_end_run_echo_console && s->loader.spi_attached &&
            sim_image_parse(s->flash, c->bootloader_offset,
                            SIM_PARTITION_TABLE_OFFSET - c->bootloader_offset, &info) >= 0) {
                /* The ESP32 ROM goes on to boot from flash as if strapped for it. */
                text_add(&t, "%s", c->spi_boot_lines);
                start_app_output(s, &t, now);
                return;
        }
        (void) sim_emit_string(s, c->flash_end_run_text, now);
        s->state = c->flash_end_run_echo_console ? SIM_STATE_CONSOLE : SIM_STATE_HALTED;
        sim_log_event(s->log, now, "run-user-code", "\"state\":\"%s\"", sim_state_to_string(s));
}

void sim_boot_run_timers(Sim *s, nsec_t now) {
        if (s->reset_at <= now)
                sim_boot_enter_reset(s, now);
        if (s->soft_reset_at <= now) {
                bool download = s->latched_download;

                s->soft_reset_at = SIM_NSEC_INFINITY;
                sim_boot_enter_reset(s, now);
                /* Strapping stays latched across a software reset. */
                boot(s, download ? SIM_BOOT_DOWNLOAD : SIM_BOOT_APP, SIM_RESET_SW, false, now);
        }
        if (s->run_user_code_at <= now)
                run_user_code(s, now);
        if (s->boot_at <= now) {
                if (s->console == SIM_CONSOLE_USB_JTAG)
                        boot(s, s->latched_download ? SIM_BOOT_DOWNLOAD : SIM_BOOT_APP, s->boot_reason,
                             s->boot_usb_forced, now);
                else if (s->en)
                        boot(s, s->io0 ? SIM_BOOT_APP : SIM_BOOT_DOWNLOAD, SIM_RESET_POWERON, false, now);
                else
                        s->boot_at = SIM_NSEC_INFINITY;
        }
        if (s->state == SIM_STATE_APP && s->app_next_line <= now) {
                char line[128];

                snprintf(line, sizeof(line), "app running sha256=%s\r\n", s->app_sha256);
                (void) sim_emit_string(s, line, now);
                if (s->app_interval == 0)
                        s->app_next_line = SIM_NSEC_INFINITY;   /* one line only */
                else {
                        s->app_next_line += s->app_interval;
                        if (s->app_next_line <= now)
                                s->app_next_line = now + s->app_interval;
                }
        }
}

nsec_t sim_boot_next_timer(const Sim *s) {
        nsec_t t = MIN(MIN(s->boot_at, s->reset_at), MIN(s->soft_reset_at, s->run_user_code_at));

        if (s->state == SIM_STATE_APP)
                t = MIN(t, s->app_next_line);
        return t;
}

/* ---- a crash on request ------------------------------------------------------------------- */

/* What ESP-IDF 5.1's panic handler prints, for a monitor's crash decoder:
 * Xtensa chips end with "Backtrace: PC:SP …", RISC-V chips dump MEPC and RA.
 * The application goes on printing afterwards (a real one reboots; the
 * addresses, not the reboot, are what the decoder is tested on). */
int sim_boot_panic(Sim *s, const uint32_t *pcs, size_t n, nsec_t now) {
        Text t = {};

        if (s->state != SIM_STATE_APP)
                return -EAGAIN;
        if (n == 0)
                return -EINVAL;
        text_add(&t, "Guru Meditation Error: Core  0 panic'ed (%s). Exception was unhandled.\r\n\r\n",
                 s->chip->id == SIM_CHIP_ESP32C3 ? "Illegal instruction" : "IllegalInstruction");
        text_add(&t, "Core  0 register dump:\r\n");
        if (s->chip->id == SIM_CHIP_ESP32C3) {
                text_add(&t, "MEPC    : 0x%08" PRIx32 "  RA      : 0x%08" PRIx32
                             "  SP      : 0x3fc8f9a0  GP      : 0x3fc8a600  \r\n",
                         pcs[0], n > 1 ? pcs[1] : 0);
                text_add(&t, "MHARTID : 0x00000000  \r\n\r\n");
        } else {
                text_add(&t, "PC      : 0x%08" PRIx32 "  PS      : 0x00060730  A0      : 0x800d1234"
                             "  A1      : 0x3ffb1230  \r\n\r\n", pcs[0]);
                text_add(&t, "Backtrace:");
                for (size_t i = 0; i < n; i++)
                        text_add(&t, " 0x%08" PRIx32 ":0x%08" PRIx32, pcs[i], (uint32_t) (0x3ffb1230 + 0x20 * i));
                text_add(&t, "\r\n\r\n");
        }
        text_add(&t, "ELF file SHA256: %.16s\r\n\r\n", s->app_sha256);
        (void) text_emit(s, &t, now);
        sim_log_event(s->log, now, "panic", "\"pc\":%" PRIu32, pcs[0]);
        return 0;
}
