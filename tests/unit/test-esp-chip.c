/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The chip table: lookups by name, security-info chip id and magic value, and
 * the register facts the loader relies on, checked against the traces where
 * the traces show them (ESP32 and ESP32-C3). */

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "esp-chip.h"
#include "macro.h"

static void test_table_consistency(void) {
        for (int i = 0; i < _ESP_CHIP_MAX; i++) {
                const EspChipInfo *c = esp_chip_get(i);

                assert(c && c->id == (EspChipId) i);
                assert(c->name && c->description);
                assert(strcmp(esp_chip_to_string(i), c->name) == 0);
                assert(esp_chip_from_name(c->name) == c);
                assert(esp_chip_from_name(c->description) == c);
                assert(c->n_magic >= 1 && c->n_magic <= ESP_CHIP_MAX_MAGIC);
                for (unsigned k = 0; k < c->n_magic; k++)
                        assert(esp_chip_from_magic(c->magic[k]) == c);      /* magics are unique */
                if (c->security_chip_id >= 0)
                        assert(esp_chip_from_security_id((uint32_t) c->security_chip_id) == c);

                /* SPI user registers: every chip has them, and the lengths registers */
                assert(c->spi_reg_base && c->spi_usr_offs && c->spi_usr1_offs && c->spi_usr2_offs && c->spi_w0_offs);
                assert(c->spi_mosi_dlen_offs && c->spi_miso_dlen_offs);

                /* only the ESP32 ROM lacks the 20-byte FLASH_BEGIN and GET_SECURITY_INFO */
                assert(c->rom_begin_has_encrypt_flag == (c->id != ESP_CHIP_ESP32));
                assert(c->rom_has_security_info == (c->id != ESP_CHIP_ESP32));
                assert(c->bootloader_offset == 0x0 || c->bootloader_offset == 0x1000 || c->bootloader_offset == 0x2000);

                /* a USB-Serial-JTAG console needs its register, and both watchdogs */
                if (c->has_usb_serial_jtag) {
                        assert(c->uartdev_buf_no && c->uartdev_buf_no_usb_jtag);
                        assert(c->rtc_wdt_wprotect && c->rtc_wdt_config0 && c->rtc_wdt_config1);
                        assert(c->rtc_wdt_wkey == 0x50d83aa1);
                        assert(c->swd_wprotect && c->swd_conf && c->swd_wkey && c->swd_auto_feed_en);
                }
                if (c->has_usb_otg)
                        assert(c->uartdev_buf_no && c->uartdev_buf_no_usb_otg &&
                               c->uartdev_buf_no_usb_otg != c->uartdev_buf_no_usb_jtag);
        }

        assert(!esp_chip_get(_ESP_CHIP_MAX));
        assert(!esp_chip_get(_ESP_CHIP_INVALID));
        assert(!esp_chip_to_string(_ESP_CHIP_MAX));
}

static void test_names(void) {
        static const struct {
                const char *name;
                EspChipId id;
        } table[] = {
                { "esp32", ESP_CHIP_ESP32 },
                { "ESP32", ESP_CHIP_ESP32 },
                { "esp32s2", ESP_CHIP_ESP32S2 },
                { "ESP32-S3", ESP_CHIP_ESP32S3 },
                { "esp32-c2", ESP_CHIP_ESP32C2 },
                { "esp32c3", ESP_CHIP_ESP32C3 },
                { "Esp32_C3", ESP_CHIP_ESP32C3 },
                { "ESP32-C5", ESP_CHIP_ESP32C5 },
                { "esp32c6", ESP_CHIP_ESP32C6 },
                { "ESP32-H2", ESP_CHIP_ESP32H2 },
                { "esp32p4", ESP_CHIP_ESP32P4 },
                { "esp8266", _ESP_CHIP_INVALID },
                { "esp32c", _ESP_CHIP_INVALID },
                { "esp32c33", _ESP_CHIP_INVALID },
                { "esp32c61", _ESP_CHIP_INVALID },
                { "esp3", _ESP_CHIP_INVALID },
                { "", _ESP_CHIP_INVALID },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                const EspChipInfo *c = esp_chip_from_name(table[i].name);

                if (table[i].id == _ESP_CHIP_INVALID)
                        assert(!c);
                else
                        assert(c && c->id == table[i].id);
        }
        assert(!esp_chip_from_name(NULL));
}

static void test_security_ids(void) {
        static const struct {
                uint32_t chip_id;
                EspChipId id;
        } table[] = {
                { 5, ESP_CHIP_ESP32C3 },        /* esp32c3-rom-chip-id trace */
                { 9, ESP_CHIP_ESP32S3 },
                { 12, ESP_CHIP_ESP32C2 },
                { 13, ESP_CHIP_ESP32C6 },
                { 16, ESP_CHIP_ESP32H2 },
                { 18, ESP_CHIP_ESP32P4 },
                { 23, ESP_CHIP_ESP32C5 },
                { 0, _ESP_CHIP_INVALID },
                { 2, _ESP_CHIP_INVALID },       /* ESP32-S2's image id: its ROM sends no chip id */
                { 20, _ESP_CHIP_INVALID },      /* ESP32-C61: not in the table */
                { UINT32_MAX, _ESP_CHIP_INVALID },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                const EspChipInfo *c = esp_chip_from_security_id(table[i].chip_id);

                if (table[i].id == _ESP_CHIP_INVALID)
                        assert(!c);
                else
                        assert(c && c->id == table[i].id && c->security_chip_id == (int32_t) table[i].chip_id);
        }

        assert(esp_chip_get(ESP_CHIP_ESP32)->security_chip_id == -1);
        assert(esp_chip_get(ESP_CHIP_ESP32S2)->security_chip_id == -1);
}

static void test_magic(void) {
        static const struct {
                uint32_t magic;
                EspChipId id;
        } table[] = {
                { 0x00f01d83, ESP_CHIP_ESP32 },         /* esp32-rom-chip-id trace */
                { 0x1b31506f, ESP_CHIP_ESP32C3 },       /* esp32c3-rom-raw-probe */
                { 0x6921506f, ESP_CHIP_ESP32C3 },
                { 0x4881606f, ESP_CHIP_ESP32C3 },
                { 0x4361606f, ESP_CHIP_ESP32C3 },
                { 0x000007c6, ESP_CHIP_ESP32S2 },
                { 0x00000009, ESP_CHIP_ESP32S3 },
                { 0x6f51306f, ESP_CHIP_ESP32C2 },
                { 0x7c41a06f, ESP_CHIP_ESP32C2 },
                { 0x2ce0806f, ESP_CHIP_ESP32C6 },
                { 0xd7b73e80, ESP_CHIP_ESP32H2 },
                { 0x0addbad0, ESP_CHIP_ESP32P4 },
                { 0xfff0c101, _ESP_CHIP_INVALID },      /* ESP8266 */
                { 0x12345678, _ESP_CHIP_INVALID },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                const EspChipInfo *c = esp_chip_from_magic(table[i].magic);

                if (table[i].id == _ESP_CHIP_INVALID)
                        assert(!c);
                else
                        assert(c && c->id == table[i].id);
        }
}

/* The register writes esptool made to read the flash id (esp32-rom-flash-id
 * and esp32c3-rom-verify-flash traces), rebuilt from the table. */
static void test_spi_flash_id_registers(void) {
        const EspChipInfo *esp32 = esp_chip_get(ESP_CHIP_ESP32), *c3 = esp_chip_get(ESP_CHIP_ESP32C3);

        /* ESP32: MISO_DLEN 0x3ff4202c = 23, USR 0x3ff4201c = 0x90000000,
         * USR2 0x3ff42024 = 0x7000009f, W0 0x3ff42080 = 0, CMD 0x3ff42000 = 0x40000 */
        assert(esp32->spi_reg_base + esp32->spi_miso_dlen_offs == 0x3ff4202c);
        assert(esp32->spi_reg_base + esp32->spi_usr_offs == 0x3ff4201c);
        assert(esp32->spi_reg_base + esp32->spi_usr1_offs == 0x3ff42020);
        assert(esp32->spi_reg_base + esp32->spi_usr2_offs == 0x3ff42024);
        assert(esp32->spi_reg_base + esp32->spi_w0_offs == 0x3ff42080);
        assert(esp32->spi_reg_base + esp32->spi_mosi_dlen_offs == 0x3ff42028);
        assert((ESP_SPI_USR_COMMAND | ESP_SPI_USR_MISO) == 0x90000000);
        assert(((8u - 1) << ESP_SPI_USR2_COMMAND_LEN_SHIFT | ESP_SPI_FLASH_RDID) == 0x7000009f);
        assert(ESP_SPI_CMD_USR == 0x00040000);

        /* ESP32-C3: the same dance at 0x60002000 */
        assert(c3->spi_reg_base == 0x60002000);
        assert(c3->spi_reg_base + c3->spi_miso_dlen_offs == 0x60002028);
        assert(c3->spi_reg_base + c3->spi_usr_offs == 0x60002018);
        assert(c3->spi_reg_base + c3->spi_usr2_offs == 0x60002020);
        assert(c3->spi_reg_base + c3->spi_w0_offs == 0x60002058);

        /* both read back W0 = 0x001640c8: GigaDevice, 4 MiB */
        assert(esp_flash_size_from_jedec(0x001640c8) == 4u * 1024 * 1024);
}

static void test_usb_serial_jtag(void) {
        const EspChipInfo *c;

        c = esp_chip_get(ESP_CHIP_ESP32C3);
        assert(c->has_usb_serial_jtag && c->uartdev_buf_no == 0x3fcdf07c && c->uartdev_buf_no_usb_jtag == 3);
        assert(c->rtc_wdt_wprotect == 0x600080a8 && c->rtc_wdt_config0 == 0x60008090);
        assert(c->swd_wprotect == 0x600080b0 && c->swd_conf == 0x600080ac);
        assert(c->swd_wkey == 0x8f1d312a && c->swd_auto_feed_en == 1u << 31);

        c = esp_chip_get(ESP_CHIP_ESP32S3);
        assert(c->has_usb_serial_jtag && c->uartdev_buf_no == 0x3fcef14c && c->uartdev_buf_no_usb_jtag == 4);
        assert(c->has_usb_otg && c->uartdev_buf_no_usb_otg == 3);

        c = esp_chip_get(ESP_CHIP_ESP32C6);
        assert(c->uartdev_buf_no == 0x4087f580 && c->rtc_wdt_wprotect == 0x600b1c18 && c->swd_auto_feed_en == 1u << 18);

        c = esp_chip_get(ESP_CHIP_ESP32H2);
        assert(c->rtc_wdt_wprotect == 0x600b1c1c && c->swd_conf == 0x600b1c20);

        c = esp_chip_get(ESP_CHIP_ESP32P4);
        assert(c->uartdev_buf_no_usb_jtag == 6 && c->uartdev_buf_no_usb_otg == 5);

        /* no USB-Serial-JTAG on these */
        assert(!esp_chip_get(ESP_CHIP_ESP32)->has_usb_serial_jtag);
        assert(!esp_chip_get(ESP_CHIP_ESP32S2)->has_usb_serial_jtag);
        assert(!esp_chip_get(ESP_CHIP_ESP32C2)->has_usb_serial_jtag);
        assert(esp_chip_get(ESP_CHIP_ESP32)->uartdev_buf_no == 0);
}

static void test_bootloader_offsets(void) {
        assert(esp_chip_get(ESP_CHIP_ESP32)->bootloader_offset == 0x1000);
        assert(esp_chip_get(ESP_CHIP_ESP32S2)->bootloader_offset == 0x1000);
        assert(esp_chip_get(ESP_CHIP_ESP32S3)->bootloader_offset == 0x0);
        assert(esp_chip_get(ESP_CHIP_ESP32C3)->bootloader_offset == 0x0);
        assert(esp_chip_get(ESP_CHIP_ESP32C5)->bootloader_offset == 0x2000);
        assert(esp_chip_get(ESP_CHIP_ESP32P4)->bootloader_offset == 0x2000);
}

static void test_flash_size(void) {
        static const struct {
                uint32_t jedec;
                uint32_t size;
        } table[] = {
                { 0x001640c8, 4u << 20 },       /* GD25Q32 (traces) */
                { 0x001240ef, 256u << 10 },
                { 0x001340ef, 512u << 10 },
                { 0x001440ef, 1u << 20 },
                { 0x001540ef, 2u << 20 },
                { 0x001740ef, 8u << 20 },
                { 0x001840ef, 16u << 20 },      /* W25Q128 */
                { 0x001940ef, 32u << 20 },
                { 0x001a40ef, 64u << 20 },
                { 0x001b40ef, 128u << 20 },
                { 0x001c40ef, 256u << 20 },
                { 0x00202020, 64u << 20 },
                { 0x00212020, 128u << 20 },
                { 0x00222020, 256u << 20 },
                { 0x003260c8, 256u << 10 },     /* 0x3x parts (e.g. GD25LQ, XMC) */
                { 0x003660c8, 4u << 20 },
                { 0x003a60c8, 64u << 20 },
                { 0x00000000, 0 },
                { 0x00ffffff, 0 },              /* no flash answering */
                { 0x001140ef, 0 },
                { 0x001d40ef, 0 },
                { 0x003b60c8, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                assert(esp_flash_size_from_jedec(table[i].jedec) == table[i].size);
}

int main(void) {
        test_table_consistency();
        test_names();
        test_security_ids();
        test_magic();
        test_spi_flash_id_registers();
        test_usb_serial_jtag();
        test_bootloader_offsets();
        test_flash_size();
        printf("test-esp-chip: ok\n");
        return 0;
}
