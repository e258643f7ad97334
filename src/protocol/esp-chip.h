/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The chip table: how to recognise each ESP chip and the addresses the loader
 * needs for it. Values follow esptool's targets. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef enum EspChipId {
        ESP_CHIP_ESP32,
        ESP_CHIP_ESP32S2,
        ESP_CHIP_ESP32S3,
        ESP_CHIP_ESP32C2,
        ESP_CHIP_ESP32C3,
        ESP_CHIP_ESP32C5,
        ESP_CHIP_ESP32C6,
        ESP_CHIP_ESP32H2,
        ESP_CHIP_ESP32P4,
        _ESP_CHIP_MAX,
        _ESP_CHIP_INVALID = -1,
} EspChipId;

#define ESP_CHIP_MAGIC_REG 0x40001000u
#define ESP_CHIP_MAX_MAGIC 4
/* The ROM loaders inflate FLASH_DEFL_DATA into a buffer of this size and write
 * it to flash when it is full (a stream that fails part way has only whole
 * buffers on flash: esp32-rom-defl-error-probe, case A). */
#define ESP_ROM_INFLATE_BUFFER_SIZE 0x8000u

typedef struct EspChipInfo {
        EspChipId id;
        const char *name;                   /* "esp32", "esp32s3", … (esptool's --chip) */
        const char *description;            /* "ESP32", "ESP32-S3", … */
        int32_t security_chip_id;           /* GET_SECURITY_INFO chip id; -1: ROM lacks it */
        uint32_t magic[ESP_CHIP_MAX_MAGIC]; /* values at ESP_CHIP_MAGIC_REG */
        unsigned n_magic;
        uint32_t bootloader_offset;         /* 0x1000, 0x0 or 0x2000 */
        bool rom_begin_has_encrypt_flag;    /* ROM FLASH_BEGIN takes 20 bytes */
        bool supports_encrypted_flash_md5;  /* unused today; kept for completeness */
        /* What the ROM loader's compressed write (FLASH_DEFL_*) programs past the
         * end of its stream, without erasing (reference trace
         * esp32-rom-defl-spill-probe): once a stream of N bytes at O is complete,
         * the ESP32 ROM flushes its whole inflate buffer, i.e. everything up to
         * O + (N / window + 1) × window. Known for traced ROMs (window 0: nothing
         * past the end); unknown for the others, whose writes are then proven
         * over the whole image. Flasher stubs never spill. */
        bool rom_defl_spill_known;
        uint32_t rom_defl_spill_window;
        /* The ESP32 ROM derives its UART divider from the crystal frequency
         * it measured at boot, not the real one: CHANGE_BAUDRATE's argument is
         * scaled by measured / assumed, as esptool does (reference trace
         * esp32-rom-change-baud-probe). Registers to read; 0: no scaling. */
        uint32_t rom_baud_cal_reg;          /* RTCCALICFG1: count in bits 7..31 */
        uint32_t rom_baud_efuse_reg;        /* eFuse word 4: 8 MHz osc. field, low byte */
        /* SPI flash controller, for the RDID (flash id) command over registers */
        uint32_t spi_reg_base;
        uint32_t spi_usr_offs, spi_usr1_offs, spi_usr2_offs, spi_w0_offs;
        uint32_t spi_mosi_dlen_offs, spi_miso_dlen_offs; /* 0 if the chip uses USR1 bit lengths */
        /* USB-Serial-JTAG: how to tell the console is USJ, and its watchdog */
        uint32_t uartdev_buf_no;            /* register address; 0: none */
        uint32_t uartdev_buf_no_usb_jtag;   /* value meaning "console is USB-Serial-JTAG"
                                             * (only if has_usb_serial_jtag: 0 is UART0) */
        uint32_t rtc_wdt_wprotect, rtc_wdt_config0, rtc_wdt_config1;
        uint32_t rtc_wdt_wkey;
        uint32_t swd_wprotect, swd_conf, swd_wkey, swd_auto_feed_en;   /* 0: no SWD */
        bool has_usb_serial_jtag;
        bool rom_has_security_info;         /* ROM answers GET_SECURITY_INFO (all but ESP32) */
        bool has_usb_otg;
        uint32_t uartdev_buf_no_usb_otg;    /* value meaning "console is USB-OTG" (if has_usb_otg) */
} EspChipInfo;

/* The RDID dance over the SPI user-command registers (esptool's
 * run_spiflash_command): USR = COMMAND|MISO, USR2 = (8-1) << 28 | 0x9f,
 * MISO_DLEN = 24-1, W0 = 0, CMD (base + 0) = USR; poll CMD until USR clears,
 * then read W0 (manufacturer, type, capacity in its low three bytes). */
#define ESP_SPI_CMD_USR                (1u << 18)
#define ESP_SPI_USR_COMMAND            (1u << 31)
#define ESP_SPI_USR_MISO               (1u << 28)
#define ESP_SPI_USR_MOSI               (1u << 27)
#define ESP_SPI_USR2_COMMAND_LEN_SHIFT 28
#define ESP_SPI_FLASH_RDID             0x9f

const EspChipInfo *esp_chip_get(EspChipId id);
const EspChipInfo *esp_chip_from_name(const char *name);        /* "esp32c3", "ESP32-C3" */
const EspChipInfo *esp_chip_from_security_id(uint32_t chip_id);
const EspChipInfo *esp_chip_from_magic(uint32_t magic);
const char *esp_chip_to_string(EspChipId id);                   /* name, or NULL */

/* JEDEC flash id (manufacturer, memory type, capacity) → size in bytes: the
 * capacity byte is log2(size) for the usual parts (0x16 = 4 MiB); 0 if unknown. */
uint32_t esp_flash_size_from_jedec(uint32_t flash_id);
