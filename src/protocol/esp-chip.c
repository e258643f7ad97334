/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The chip table: identities (GET_SECURITY_INFO chip id, magic values at
 * 0x40001000) and the registers the loader touches, as esptool's targets have
 * them. Only facts live here; the loader decides what to do with them. */

#include <ctype.h>
#include <stddef.h>
#include <string.h>

#include "esp-chip.h"

#define RTC_WDT_WKEY 0x50D83AA1u        /* same key on every chip */
#define SWD_WKEY_RTC_CNTL 0x8F1D312Au   /* S3/C3 RTC_CNTL super watchdog */

/* Every chip after the ESP32 shares these SPI user-register offsets. */
#define SPI_OFFSETS_NEWER                               \
        .spi_usr_offs = 0x18, .spi_usr1_offs = 0x1c,    \
        .spi_usr2_offs = 0x20, .spi_w0_offs = 0x58,     \
        .spi_mosi_dlen_offs = 0x24, .spi_miso_dlen_offs = 0x28

/* The LP watchdog block of the C6 family; esptool gives C5 the C6 values. */
#define LP_WDT(base, wprotect_off, swd_conf_off, swd_wprotect_off)        \
        .rtc_wdt_config0 = (base), .rtc_wdt_config1 = (base) + 4,       \
        .rtc_wdt_wprotect = (base) + (wprotect_off),                    \
        .rtc_wdt_wkey = RTC_WDT_WKEY,                                   \
        .swd_conf = (base) + (swd_conf_off),                            \
        .swd_wprotect = (base) + (swd_wprotect_off),                    \
        .swd_wkey = RTC_WDT_WKEY,                                       \
        .swd_auto_feed_en = 1u << 18

static const EspChipInfo chip_table[_ESP_CHIP_MAX] = {
        [ESP_CHIP_ESP32] = {
                .id = ESP_CHIP_ESP32,
                .name = "esp32",
                .description = "ESP32",
                .security_chip_id = -1,         /* ROM answers 0x05: no GET_SECURITY_INFO */
                .magic = { 0x00f01d83 },
                .n_magic = 1,
                .bootloader_offset = 0x1000,
                .rom_defl_spill_known = true,
                .rom_defl_spill_window = ESP_ROM_INFLATE_BUFFER_SIZE,
                .rom_baud_cal_reg = 0x3ff5f06c,
                .rom_baud_efuse_reg = 0x3ff5a010,
                .spi_reg_base = 0x3ff42000,
                .spi_usr_offs = 0x1c, .spi_usr1_offs = 0x20, .spi_usr2_offs = 0x24, .spi_w0_offs = 0x80,
                .spi_mosi_dlen_offs = 0x28, .spi_miso_dlen_offs = 0x2c,
        },
        [ESP_CHIP_ESP32S2] = {
                .id = ESP_CHIP_ESP32S2,
                .name = "esp32s2",
                .description = "ESP32-S2",
                .security_chip_id = -1,         /* 12-byte GET_SECURITY_INFO: no chip id */
                .magic = { 0x000007c6 },
                .n_magic = 1,
                .bootloader_offset = 0x1000,
                .rom_has_security_info = true,
                .rom_begin_has_encrypt_flag = true,
                .spi_reg_base = 0x3f402000,
                SPI_OFFSETS_NEWER,
                .uartdev_buf_no = 0x3ffffd14,
                .has_usb_otg = true,
                .uartdev_buf_no_usb_otg = 2,
                .rtc_wdt_config0 = 0x3f408094, .rtc_wdt_config1 = 0x3f408098,
                .rtc_wdt_wprotect = 0x3f4080ac, .rtc_wdt_wkey = RTC_WDT_WKEY,
        },
        [ESP_CHIP_ESP32S3] = {
                .id = ESP_CHIP_ESP32S3,
                .name = "esp32s3",
                .description = "ESP32-S3",
                .security_chip_id = 9,
                .magic = { 0x00000009 },
                .n_magic = 1,
                .bootloader_offset = 0x0,
                .rom_has_security_info = true,
                .rom_begin_has_encrypt_flag = true,
                .spi_reg_base = 0x60002000,
                SPI_OFFSETS_NEWER,
                .has_usb_serial_jtag = true,
                .uartdev_buf_no = 0x3fcef14c,
                .uartdev_buf_no_usb_jtag = 4,
                .has_usb_otg = true,
                .uartdev_buf_no_usb_otg = 3,
                .rtc_wdt_config0 = 0x60008098, .rtc_wdt_config1 = 0x6000809c,
                .rtc_wdt_wprotect = 0x600080b0, .rtc_wdt_wkey = RTC_WDT_WKEY,
                .swd_conf = 0x600080b4, .swd_wprotect = 0x600080b8,
                .swd_wkey = SWD_WKEY_RTC_CNTL, .swd_auto_feed_en = 1u << 31,
        },
        [ESP_CHIP_ESP32C2] = {
                .id = ESP_CHIP_ESP32C2,
                .name = "esp32c2",
                .description = "ESP32-C2",
                .security_chip_id = 12,
                .magic = { 0x6f51306f, 0x7c41a06f },            /* ECO0, ECO1 */
                .n_magic = 2,
                .bootloader_offset = 0x0,
                .rom_has_security_info = true,
                .rom_begin_has_encrypt_flag = true,
                .spi_reg_base = 0x60002000,
                SPI_OFFSETS_NEWER,
                /* no USB-Serial-JTAG; the RTC watchdog is only used for resets */
                .rtc_wdt_config0 = 0x60008084, .rtc_wdt_config1 = 0x60008088,
                .rtc_wdt_wprotect = 0x6000809c, .rtc_wdt_wkey = RTC_WDT_WKEY,
        },
        [ESP_CHIP_ESP32C3] = {
                .id = ESP_CHIP_ESP32C3,
                .name = "esp32c3",
                .description = "ESP32-C3",
                .security_chip_id = 5,
                .magic = { 0x6921506f, 0x1b31506f, 0x4881606f, 0x4361606f },  /* ECO1+2, 3, 6, 7 */
                .n_magic = 4,
                .bootloader_offset = 0x0,
                .rom_defl_spill_known = true,   /* esp32c3-rom-defl-spill-probe: nothing */
                .rom_has_security_info = true,
                .rom_begin_has_encrypt_flag = true,
                .spi_reg_base = 0x60002000,
                SPI_OFFSETS_NEWER,
                .has_usb_serial_jtag = true,
                .uartdev_buf_no = 0x3fcdf07c,
                .uartdev_buf_no_usb_jtag = 3,
                .rtc_wdt_config0 = 0x60008090, .rtc_wdt_config1 = 0x60008094,
                .rtc_wdt_wprotect = 0x600080a8, .rtc_wdt_wkey = RTC_WDT_WKEY,
                .swd_conf = 0x600080ac, .swd_wprotect = 0x600080b0,
                .swd_wkey = SWD_WKEY_RTC_CNTL, .swd_auto_feed_en = 1u << 31,
        },
        [ESP_CHIP_ESP32C5] = {
                .id = ESP_CHIP_ESP32C5,
                .name = "esp32c5",
                .description = "ESP32-C5",
                .security_chip_id = 23,
                .magic = { 0x1101406f, 0x63e1406f, 0x5fd1406f },
                .n_magic = 3,
                .bootloader_offset = 0x2000,
                .rom_has_security_info = true,
                .rom_begin_has_encrypt_flag = true,
                .spi_reg_base = 0x60003000,
                SPI_OFFSETS_NEWER,
                .has_usb_serial_jtag = true,
                .uartdev_buf_no = 0x4085f514,
                .uartdev_buf_no_usb_jtag = 3,
                LP_WDT(0x600b1c00, 0x18, 0x1c, 0x20),
        },
        [ESP_CHIP_ESP32C6] = {
                .id = ESP_CHIP_ESP32C6,
                .name = "esp32c6",
                .description = "ESP32-C6",
                .security_chip_id = 13,
                .magic = { 0x2ce0806f },
                .n_magic = 1,
                .bootloader_offset = 0x0,
                .rom_has_security_info = true,
                .rom_begin_has_encrypt_flag = true,
                .spi_reg_base = 0x60003000,
                SPI_OFFSETS_NEWER,
                .has_usb_serial_jtag = true,
                .uartdev_buf_no = 0x4087f580,
                .uartdev_buf_no_usb_jtag = 3,
                LP_WDT(0x600b1c00, 0x18, 0x1c, 0x20),
        },
        [ESP_CHIP_ESP32H2] = {
                .id = ESP_CHIP_ESP32H2,
                .name = "esp32h2",
                .description = "ESP32-H2",
                .security_chip_id = 16,
                .magic = { 0xd7b73e80 },
                .n_magic = 1,
                .bootloader_offset = 0x0,
                .rom_has_security_info = true,
                .rom_begin_has_encrypt_flag = true,
                .spi_reg_base = 0x60003000,
                SPI_OFFSETS_NEWER,
                .has_usb_serial_jtag = true,
                .uartdev_buf_no = 0x4084fefc,
                .uartdev_buf_no_usb_jtag = 3,
                LP_WDT(0x600b1c00, 0x1c, 0x20, 0x24),   /* one word later than the C6 */
        },
        [ESP_CHIP_ESP32P4] = {
                .id = ESP_CHIP_ESP32P4,
                .name = "esp32p4",
                .description = "ESP32-P4",
                .security_chip_id = 18,
                .magic = { 0x00000000, 0x0addbad0 },
                .n_magic = 2,
                .bootloader_offset = 0x2000,
                .rom_has_security_info = true,
                .rom_begin_has_encrypt_flag = true,
                .spi_reg_base = 0x5008d000,             /* SPIMEM1 */
                SPI_OFFSETS_NEWER,
                .has_usb_serial_jtag = true,
                /* UartDev.buff_uart_no in ROM .bss on revisions before v3.0;
                 * v3.0 and later moved it to 0x4ffbfec8. */
                .uartdev_buf_no = 0x4ff3feb0 + 24,
                .uartdev_buf_no_usb_jtag = 6,
                .has_usb_otg = true,
                .uartdev_buf_no_usb_otg = 5,
                LP_WDT(0x50116000, 0x18, 0x1c, 0x20),
        },
};

const EspChipInfo *esp_chip_get(EspChipId id) {
        if (id < 0 || id >= _ESP_CHIP_MAX)
                return NULL;
        return &chip_table[id];
}

/* "ESP32-C3", "esp32c3", "esp32_c3" all name the same chip. */
static bool chip_name_equal(const char *table_name, const char *s) {
        for (;; s++) {
                if (*s == '-' || *s == '_')
                        continue;
                if (tolower((unsigned char) *s) != *table_name)
                        return false;
                if (*s == '\0')
                        return true;
                table_name++;
        }
}

const EspChipInfo *esp_chip_from_name(const char *name) {
        if (!name)
                return NULL;

        for (size_t i = 0; i < _ESP_CHIP_MAX; i++)
                if (chip_name_equal(chip_table[i].name, name))
                        return &chip_table[i];
        return NULL;
}

const EspChipInfo *esp_chip_from_security_id(uint32_t chip_id) {
        for (size_t i = 0; i < _ESP_CHIP_MAX; i++)
                if (chip_table[i].security_chip_id >= 0 &&
                    (uint32_t) chip_table[i].security_chip_id == chip_id)
                        return &chip_table[i];
        return NULL;
}

const EspChipInfo *esp_chip_from_magic(uint32_t magic) {
        for (size_t i = 0; i < _ESP_CHIP_MAX; i++)
                for (unsigned k = 0; k < chip_table[i].n_magic; k++)
                        if (chip_table[i].magic[k] == magic)
                                return &chip_table[i];
        return NULL;
}

const char *esp_chip_to_string(EspChipId id) {
        const EspChipInfo *c = esp_chip_get(id);

        return c ? c->name : NULL;
}

uint32_t esp_flash_size_from_jedec(uint32_t flash_id) {
        uint8_t cap = (flash_id >> 16) & 0xff;

        /* The capacity byte is log2(size) for most parts (0x12 = 256 KiB … 0x1c =
         * 256 MiB); some vendors offset it by 0x20, and a few large parts count
         * from 0x20 = 64 MiB. Same table as esptool's DETECTED_FLASH_SIZES. */
        if (cap >= 0x12 && cap <= 0x1c)
                return UINT32_C(1) << cap;
        if (cap >= 0x20 && cap <= 0x22)
                return UINT32_C(1) << (cap - 0x20 + 26);
        if (cap >= 0x32 && cap <= 0x3a)
                return UINT32_C(1) << (cap - 0x20);
        return 0;
}
