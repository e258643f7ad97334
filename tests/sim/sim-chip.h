/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Identity tables for the simulated chips: what each ROM answers (magic
 * register, eFuses, security info), the quirks its loader has, and what it
 * prints when it boots. Values come from the reference traces where they show
 * them and from esptool's target definitions otherwise. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim-regs.h"
#include "sim-spi.h"
#include "sim-timing.h"

typedef enum SimChipId {
        SIM_CHIP_ESP32,
        SIM_CHIP_ESP32S3,
        SIM_CHIP_ESP32C3,
        _SIM_CHIP_MAX,
        _SIM_CHIP_INVALID = -EINVAL,
} SimChipId;

#define SIM_SECURITY_INFO_LEN 20

typedef struct SimChip {
        SimChipId id;
        const char *name;                       /* command line name, "esp32c3" */
        const char *display;                    /* "ESP32-C3" */
        const char *idf_target;

        /* Loader identity and quirks. */
        bool rom_has_security_info;             /* ESP32 ROM answers 0x01 0x05 */
        uint8_t security_info[SIM_SECURITY_INFO_LEN];
        bool stub_has_security_info;
        bool rom_flash_begin_short;             /* ESP32 ROM takes 16-byte FLASH_BEGIN */
        bool rom_defl_spills;                   /* ESP32 ROM: a completed FLASH_DEFL stream
                                                 * programs the rest of its 32 KiB window */
        uint32_t rom_default_chip_size;         /* ROM's idea of the flash size before SPI_SET_PARAMS */
        uint32_t stub_default_chip_size;        /* the stub's FLASH_MAX_SIZE */

        const SimRegInit *regs;                 /* identity registers, ROM and stub alike */
        size_t n_regs;
        const SimRegInit *spi_regs_rom;         /* SPI1 state as the ROM leaves it */
        size_t n_spi_regs_rom;
        const SimRegInit *spi_regs_stub;        /* ... and after the stub attached flash */
        size_t n_spi_regs_stub;
        SimSpiLayout spi;

        uint32_t uart_clkdiv_reg;
        uint32_t uart_clk_hz;                   /* the stub's idea of the UART clock (CLKDIV) */
        /* ESP32 ROM: CHANGE_BAUDRATE programs the divider from the crystal
         * frequency the ROM measured at boot, which these two registers
         * record; the UART runs from the real crystal (sim-rom-baud.c).
         * 0: the ROM's divider is exact. */
        uint32_t rom_rtc_cali_reg;              /* RTCCALICFG1 */
        uint32_t rom_efuse_ck8m_reg;            /* eFuse word with the 8 MHz field */
        uint32_t xtal_hz;                       /* the real crystal */
        uint32_t gpio_strap_reg;
        uint32_t uartdev_buf_no_reg;            /* 0: the chip has no USB-Serial-JTAG */
        uint32_t uartdev_buf_no_usb_jtag;
        uint32_t rtc_wdt_config0_reg;           /* written 0 by hosts that disable the RTC WDT */

        uint32_t bootloader_offset;

        /* Boot output. */
        const char *rom_header;                 /* first lines after any reset */
        const char *reason_poweron;
        const char *reason_sw;
        const char *reason_usb;
        const char *saved_pc;                   /* printed after non-power-on resets, or NULL */
        uint32_t strap_download_uart;           /* boot:0x.. for IO0 low */
        uint32_t strap_download_usb;            /* boot:0x.. for USB-Serial-JTAG forced download */
        uint32_t strap_spi;
        uint32_t strap_reg_download;            /* GPIO_STRAP register in download mode */
        const char *download_name;              /* "DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2)" */
        const char *spi_boot_name;
        const char *spi_boot_lines;             /* ROM lines between rst: and the load: lines */
        bool load_len_hex;                      /* "len:0x1714" rather than "len:5908" */
        const char *flash_end_run_text;         /* FLASH_END(1) with nothing to run */
        bool flash_end_run_echo_console;        /* ESP32 falls into its command interpreter */
} SimChip;

const SimChip *sim_chip_from_name(const char *name);
const SimChip *sim_chip_get(SimChipId id);
/* "esp32|esp32s3|esp32c3" for --help. */
const char *sim_chip_names(void);
