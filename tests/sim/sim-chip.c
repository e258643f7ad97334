/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The chips the simulator can be. Register values marked "trace" are the
 * answers recorded in shared/reference-traces; the ESP32-S3 has no traces, so
 * its values follow esptool's target definition (efuse layout, magic value,
 * UARTDEV_BUF_NO) with a made-up but self-consistent MAC and revision. */
#include <string.h>

#include "macro.h"
#include "sim-chip.h"

/* ---- ESP32 (trace: esp32-rom-chip-id, esp32-rom-flash-id) ---------------- */

static const SimRegInit esp32_regs[] = {
        { 0x40001000, 0x00f01d83 },     /* chip magic (trace) */
        { 0x3ff5a000, 0x00000000 },     /* EFUSE_BLK0_RDATA0..6 (trace) */
        { 0x3ff5a004, 0x00c40a24 },     /* MAC low */
        { 0x3ff5a008, 0x00fe1001 },     /* MAC high, CRC */
        { 0x3ff5a00c, 0x00000000 },
        /* Word 4's low byte, the 8 MHz oscillator field, is 0 in the traces
         * (the emulator leaves it unprogrammed) and programmed on silicon:
         * 80 (8.0 MHz). ADC VRef (bits 8-12) stays 0, as traced. */
        { 0x3ff5a010, 0x00000050 },
        { 0x3ff5a014, 0x00000000 },
        { 0x3ff5a018, 0x00000000 },
        { 0x3ff6607c, 0x96042000 },     /* APB_CTRL_DATE (trace) */
        { 0x3ff40014, 0x0000015a },     /* UART_CLKDIV at 115200 (trace) */
        /* RTCCALICFG1: crystal cycles per 8MD256 cycle, from bit 7. Traced
         * 0x00028000 (1280, an exact 40 MHz) under emulation; here 1235, an
         * 8 MHz oscillator running 3.6% fast, as RC oscillators do, so the
         * ROM measures 38.59 MHz and a CHANGE_BAUDRATE that is not scaled
         * for it misses the rate by 3.6%, more than a UART tolerates. */
        { 0x3ff5f06c, 1235U << 7 },
        { 0x3ff48074, 0x00000000 },     /* trace */
};

static const SimRegInit esp32_spi_rom[] = {
        { 0x3ff4201c, 0x50000000 },     /* SPI_USR (trace, ROM) */
        { 0x3ff42024, 0x70000000 },     /* SPI_USR2 */
};

static const SimRegInit esp32_spi_stub[] = {
        { 0x3ff4201c, 0xd0000000 },     /* trace, after the stub's spi_flash_attach */
        { 0x3ff42024, 0x70000000 },
};

/* ---- ESP32-C3 (trace: esp32c3-rom-chip-id, esp32c3-rom-raw-probe) -------- */

static const SimRegInit esp32c3_regs[] = {
        { 0x40001000, 0x1b31506f },     /* chip magic, ECO3 (trace) */
        { 0x60008830, 0x00000000 },     /* EFUSE_RD_REPEAT_DATA0..2 (trace) */
        { 0x60008834, 0x00000000 },
        { 0x60008838, 0x00000000 },
        { 0x60008844, 0x24fe1001 },     /* MAC low (trace) */
        { 0x60008848, 0x0000c40a },     /* MAC high (trace) */
        { 0x60008850, 0x000c0000 },     /* BLOCK1 word3: revision v0.3, QFN32 (trace) */
        { 0x60008858, 0x00000000 },     /* BLOCK1 word5 (trace) */
        { 0x60000014, 0x00000152 },     /* UART_CLKDIV (trace) */
};

static const SimRegInit esp32c3_spi[] = {
        { 0x60002018, 0xd00000c0 },     /* SPI_MEM_USER (trace, ROM and stub alike) */
        { 0x60002020, 0x70000003 },     /* SPI_MEM_USER2 */
};

/* ---- ESP32-S3 (esptool targets/esp32s3.py; no traces) --------------------- */

static const SimRegInit esp32s3_regs[] = {
        { 0x40001000, 0x00000009 },     /* CHIP_DETECT_MAGIC_VALUE */
        { 0x60007030, 0x00000000 },     /* EFUSE_RD_REPEAT_DATA0..3 */
        { 0x60007034, 0x00000000 },
        { 0x60007038, 0x00000000 },
        { 0x6000703c, 0x00000000 },
        { 0x60007044, 0xfa5c3e01 },     /* MAC f4:12:fa:5c:3e:01 */
        { 0x60007048, 0x0000f412 },
        { 0x60007050, 0x00080000 },     /* BLOCK1 word3: minor revision 2, QFN56 */
        { 0x60007058, 0x00000000 },     /* BLOCK1 word5: major revision 0 */
        { 0x6000706c, 0x00000001 },     /* BLOCK2 word4: block version 1 */
        { 0x60000014, 0x0000015b },     /* UART_CLKDIV at 115200 */
};

static const SimChip chips[_SIM_CHIP_MAX] = {
        [SIM_CHIP_ESP32] = {
                .id = SIM_CHIP_ESP32,
                .name = "esp32",
                .display = "ESP32",
                .idf_target = "esp32",
                .rom_has_security_info = false,
                .stub_has_security_info = false,
                .rom_flash_begin_short = true,
                /* traces esp32-rom-defl-spill-probe, esp32-rom-write-flash-compressed-spill */
                .rom_defl_spills = true,
                .rom_default_chip_size = 16U << 20,
                .stub_default_chip_size = 16U << 20,
                .regs = esp32_regs,
                .n_regs = ELEMENTSOF(esp32_regs),
                .spi_regs_rom = esp32_spi_rom,
                .n_spi_regs_rom = ELEMENTSOF(esp32_spi_rom),
                .spi_regs_stub = esp32_spi_stub,
                .n_spi_regs_stub = ELEMENTSOF(esp32_spi_stub),
                .spi = {
                        .base = 0x3ff42000,
                        .usr_offs = 0x1c,
                        .usr1_offs = 0x20,
                        .usr2_offs = 0x24,
                        .mosi_dlen_offs = 0x28,
                        .miso_dlen_offs = 0x2c,
                        .w0_offs = 0x80,
                        .addr_msb = true,
                },
                .uart_clkdiv_reg = 0x3ff40014,
                /* trace esp32-stub-erase-region: after the switch to 921600
                 * UART_CLKDIV reads 0x30001c, i.e. a 26 MHz reference. */
                .uart_clk_hz = 26000000,
                .rom_rtc_cali_reg = 0x3ff5f06c,
                .rom_efuse_ck8m_reg = 0x3ff5a010,
                .xtal_hz = 40000000,
                .gpio_strap_reg = 0x3ff44038,
                .bootloader_offset = 0x1000,
                .rom_header = "ets Jul 29 2019 12:21:46\r\n\r\n",
                .reason_poweron = "rst:0x1 (POWERON_RESET)",
                .reason_sw = "rst:0x3 (SW_RESET)",
                .reason_usb = NULL,
                .strap_download_uart = 0x3,
                .strap_spi = 0x13,
                /* The traced chip reads 0x0f here while in download mode. */
                .strap_reg_download = 0x0f,
                .download_name = "DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2)",
                .spi_boot_name = "SPI_FAST_FLASH_BOOT",
                .spi_boot_lines =
                        "configsip: 0, SPIWP:0xee\r\n"
                        "clk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00\r\n"
                        "mode:DIO, clock div:2\r\n",
                .load_len_hex = false,
                /* trace: esp32-rom-flash-end-probe, FLASH_END(1) */
                .flash_end_run_text = "flash read err, 631\r\n"
                                      "Falling back to built-in command interpreter.\r\n"
                                      "OK\r\n>",
                .flash_end_run_echo_console = true,
        },
        [SIM_CHIP_ESP32S3] = {
                .id = SIM_CHIP_ESP32S3,
                .name = "esp32s3",
                .display = "ESP32-S3",
                .idf_target = "esp32s3",
                .rom_has_security_info = true,
                .stub_has_security_info = true,
                .security_info = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0c, 9, 0, 0, 0, 3, 0, 0, 0 },
                .rom_flash_begin_short = false,
                /* No trace; its ROM is of the ESP32-C3's generation. */
                .rom_defl_spills = false,
                .rom_default_chip_size = 16U << 20,
                .stub_default_chip_size = 64U << 20,
                .regs = esp32s3_regs,
                .n_regs = ELEMENTSOF(esp32s3_regs),
                .spi_regs_rom = esp32c3_spi,
                .n_spi_regs_rom = ELEMENTSOF(esp32c3_spi),
                .spi_regs_stub = esp32c3_spi,
                .n_spi_regs_stub = ELEMENTSOF(esp32c3_spi),
                .spi = {
                        .base = 0x60002000,
                        .usr_offs = 0x18,
                        .usr1_offs = 0x1c,
                        .usr2_offs = 0x20,
                        .mosi_dlen_offs = 0x24,
                        .miso_dlen_offs = 0x28,
                        .w0_offs = 0x58,
                        .addr_msb = false,
                },
                .uart_clkdiv_reg = 0x60000014,
                .uart_clk_hz = 40000000,
                .gpio_strap_reg = 0x60004038,
                .uartdev_buf_no_reg = 0x3fcef14c,
                .uartdev_buf_no_usb_jtag = 4,
                .rtc_wdt_config0_reg = 0x60008098,
                .bootloader_offset = 0x0,
                .rom_header = "ESP-ROM:esp32s3-20210327\r\nBuild:Mar 27 2021\r\n",
                .reason_poweron = "rst:0x1 (POWERON)",
                .reason_sw = "rst:0x3 (RTC_SW_SYS_RST)",
                .reason_usb = "rst:0x15 (USB_UART_CHIP_RESET)",
                .saved_pc = "Saved PC:0x400490d2\r\n",
                .strap_download_uart = 0x0,
                .strap_download_usb = 0x23,
                .strap_spi = 0x8,
                .strap_reg_download = 0x0,
                .download_name = "DOWNLOAD(USB/UART0)",
                .spi_boot_name = "SPI_FAST_FLASH_BOOT",
                .spi_boot_lines = "SPIWP:0xee\r\nmode:DIO, clock div:1\r\n",
                .load_len_hex = true,
                .flash_end_run_text = "user code done\r\n",
                .flash_end_run_echo_console = false,
        },
        [SIM_CHIP_ESP32C3] = {
                .id = SIM_CHIP_ESP32C3,
                .name = "esp32c3",
                .display = "ESP32-C3",
                .idf_target = "esp32c3",
                .rom_has_security_info = true,
                .stub_has_security_info = true,
                /* trace: flags 0, crypt count 0, key purposes, chip id 5, API 3 */
                .security_info = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0c, 5, 0, 0, 0, 3, 0, 0, 0 },
                .rom_flash_begin_short = false,
                /* trace esp32c3-rom-defl-spill-probe: no spill */
                .rom_defl_spills = false,
                .rom_default_chip_size = 16U << 20,
                .stub_default_chip_size = 16U << 20,
                .regs = esp32c3_regs,
                .n_regs = ELEMENTSOF(esp32c3_regs),
                .spi_regs_rom = esp32c3_spi,
                .n_spi_regs_rom = ELEMENTSOF(esp32c3_spi),
                .spi_regs_stub = esp32c3_spi,
                .n_spi_regs_stub = ELEMENTSOF(esp32c3_spi),
                .spi = {
                        .base = 0x60002000,
                        .usr_offs = 0x18,
                        .usr1_offs = 0x1c,
                        .usr2_offs = 0x20,
                        .mosi_dlen_offs = 0x24,
                        .miso_dlen_offs = 0x28,
                        .w0_offs = 0x58,
                        .addr_msb = false,
                },
                .uart_clkdiv_reg = 0x60000014,
                .uart_clk_hz = 40000000,
                .gpio_strap_reg = 0x60004038,
                .uartdev_buf_no_reg = 0x3fcdf07c,
                .uartdev_buf_no_usb_jtag = 3,
                .rtc_wdt_config0_reg = 0x60008090,
                .bootloader_offset = 0x0,
                .rom_header = "ESP-ROM:esp32c3-api1-20210207\r\nBuild:Feb  7 2021\r\n",
                .reason_poweron = "rst:0x1 (POWERON)",
                .reason_sw = "rst:0x3 (RTC_SW_SYS_RST)",
                .reason_usb = "rst:0x15 (USB_UART_CHIP_RESET)",
                .saved_pc = "Saved PC:0x400462e2\r\n",
                .strap_download_uart = 0x5,
                .strap_download_usb = 0x5,
                .strap_spi = 0xd,
                .strap_reg_download = 0x5,
                .download_name = "DOWNLOAD(USB/UART0/1)",
                .spi_boot_name = "SPI_FAST_FLASH_BOOT",
                .spi_boot_lines = "SPIWP:0xee\r\nmode:DIO, clock div:1\r\n",
                .load_len_hex = true,
                /* trace: esp32c3-rom-flash-end-probe, FLASH_END(1) */
                .flash_end_run_text = "user code done\r\n",
                .flash_end_run_echo_console = false,
        },
};

const SimChip *sim_chip_get(SimChipId id) {
        if (id < 0 || id >= _SIM_CHIP_MAX)
                return NULL;
        return &chips[id];
}

const SimChip *sim_chip_from_name(const char *name) {
        for (size_t i = 0; name && i < ELEMENTSOF(chips); i++)
                if (strcmp(name, chips[i].name) == 0)
                        return &chips[i];
        return NULL;
}

const char *sim_chip_names(void) {
        return "esp32|esp32s3|esp32c3";
}
