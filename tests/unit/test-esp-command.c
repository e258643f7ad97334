/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Packets and payloads against what esptool wrote and the chips answered in
 * the reference traces: every request rebuilt byte for byte from the payload
 * builders, every reply decoded, plus the malformed cases. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "esp-command.h"
#include "esp-status.h"
#include "macro.h"
#include "slip.h"
#include "string-util.h"
#include "trace-vectors.h"

static void assert_bytes(const void *a, size_t a_len, const void *b, size_t b_len) {
        assert(a_len == b_len);
        assert(memcmp(a, b, a_len) == 0);
}

/* One exchange from the traces: the request esptool framed and the reply. */
typedef struct Exchange {
        const char *name;
        uint8_t op;
        bool data_command;              /* checksum over the block after the 16-byte header */
        size_t status_len;
        const uint8_t *payload, *wire, *reply;
        size_t payload_len, wire_len, reply_len;
} Exchange;

#define EX(v, o, data, st) {                                                    \
                .name = #v, .op = (o), .data_command = (data), .status_len = (st), \
                .payload = v##_payload, .payload_len = v##_payload_len,        \
                .wire = v##_wire, .wire_len = sizeof(v##_wire),                 \
                .reply = v##_reply, .reply_len = sizeof(v##_reply),             \
        }

static const Exchange exchanges[] = {
        EX(esp32_rom_sync, ESP_OP_SYNC, false, ESP_ROM_STATUS_LEN),
        EX(esp32c3_rom_sync, ESP_OP_SYNC, false, ESP_ROM_STATUS_LEN),
        EX(esp32c3_rom_security_info, ESP_OP_GET_SECURITY_INFO, false, ESP_ROM_STATUS_LEN),
        EX(esp32_rom_read_magic, ESP_OP_READ_REG, false, ESP_ROM_STATUS_LEN),
        EX(esp32_rom_write_reg, ESP_OP_WRITE_REG, false, ESP_ROM_STATUS_LEN),
        EX(esp32_rom_spi_attach, ESP_OP_SPI_ATTACH, false, ESP_ROM_STATUS_LEN),
        EX(esp32_rom_spi_set_params, ESP_OP_SPI_SET_PARAMS, false, ESP_ROM_STATUS_LEN),
        EX(esp32_rom_flash_begin, ESP_OP_FLASH_BEGIN, false, ESP_ROM_STATUS_LEN),
        EX(esp32c3_rom_flash_begin, ESP_OP_FLASH_BEGIN, false, ESP_ROM_STATUS_LEN),
        EX(esp32_rom_defl_begin, ESP_OP_FLASH_DEFL_BEGIN, false, ESP_ROM_STATUS_LEN),
        EX(esp32_rom_defl_data0, ESP_OP_FLASH_DEFL_DATA, true, ESP_ROM_STATUS_LEN),
        EX(esp32_rom_defl_data4, ESP_OP_FLASH_DEFL_DATA, true, ESP_ROM_STATUS_LEN),
        EX(esp32_rom_md5, ESP_OP_SPI_FLASH_MD5, false, ESP_ROM_STATUS_LEN),
        EX(esp32c3_rom_md5, ESP_OP_SPI_FLASH_MD5, false, ESP_ROM_STATUS_LEN),
        /* the stub upload still talks to the ROM */
        EX(esp32_stub_mem_begin, ESP_OP_MEM_BEGIN, false, ESP_ROM_STATUS_LEN),
        EX(esp32_stub_mem_data, ESP_OP_MEM_DATA, true, ESP_ROM_STATUS_LEN),
        EX(esp32_stub_mem_end, ESP_OP_MEM_END, false, ESP_ROM_STATUS_LEN),
        /* and from here on to the stub */
        EX(esp32_stub_change_baud, ESP_OP_CHANGE_BAUDRATE, false, ESP_STUB_STATUS_LEN),
        EX(esp32_stub_spi_set_params, ESP_OP_SPI_SET_PARAMS, false, ESP_STUB_STATUS_LEN),
        EX(esp32_stub_read_flash, ESP_OP_READ_FLASH, false, ESP_STUB_STATUS_LEN),
        EX(esp32_stub_flash_begin, ESP_OP_FLASH_BEGIN, false, ESP_STUB_STATUS_LEN),
        EX(esp32_stub_flash_end, ESP_OP_FLASH_END, false, ESP_STUB_STATUS_LEN),
        EX(esp32_stub_md5, ESP_OP_SPI_FLASH_MD5, false, ESP_STUB_STATUS_LEN),
        EX(esp32_stub_erase_region, ESP_OP_ERASE_REGION, false, ESP_STUB_STATUS_LEN),
};

/* Encode each request the way the loader will and compare with the wire. */
static void test_requests_match_wire(void) {
        for (size_t i = 0; i < ELEMENTSOF(exchanges); i++) {
                const Exchange *e = &exchanges[i];
                uint8_t req[ESP_REQUEST_HEADER_SIZE + 2048], framed[SLIP_ENCODED_MAX(sizeof(req))];
                uint32_t checksum = 0;
                int n, k;

                if (e->data_command) {
                        assert(e->payload_len >= ESP_DATA_HEADER_SIZE);
                        checksum = esp_checksum(e->payload + ESP_DATA_HEADER_SIZE,
                                                e->payload_len - ESP_DATA_HEADER_SIZE);
                }

                n = esp_request_encode(e->op, e->payload, e->payload_len, checksum, req, sizeof(req));
                assert(n == (int) (ESP_REQUEST_HEADER_SIZE + e->payload_len));
                k = slip_encode(req, (size_t) n, framed, sizeof(framed));
                assert(k > 0);
                assert_bytes(framed, (size_t) k, e->wire, e->wire_len);
        }
}

/* And the other way, as the simulated chip reads them. */
static void test_requests_decode(void) {
        for (size_t i = 0; i < ELEMENTSOF(exchanges); i++) {
                const Exchange *e = &exchanges[i];
                SlipDecoder s;
                EspRequest req;
                size_t consumed;

                assert(slip_decoder_init(&s, 4096) == 0);
                assert(slip_decoder_feed(&s, e->wire, e->wire_len, &consumed) == 1);
                assert(consumed == e->wire_len);
                assert(esp_request_decode(s.frame, s.len, &req) == 0);
                assert(req.op == e->op);
                assert_bytes(req.payload, req.payload_len, e->payload, e->payload_len);
                if (e->data_command)
                        assert(req.checksum == esp_checksum(req.payload + ESP_DATA_HEADER_SIZE,
                                                            req.payload_len - ESP_DATA_HEADER_SIZE));
                else
                        assert(req.checksum == 0);
                slip_decoder_deinit(&s);
        }
}

static void test_replies_decode(void) {
        for (size_t i = 0; i < ELEMENTSOF(exchanges); i++) {
                const Exchange *e = &exchanges[i];
                EspResponse r;

                assert(esp_response_decode(e->reply, e->reply_len, e->status_len, &r) == 0);
                assert(r.op == e->op);
                assert(r.status == 0 && r.error == 0);
                assert(r.data == e->reply + ESP_RESPONSE_HEADER_SIZE);
                assert(r.data_len == e->reply_len - ESP_RESPONSE_HEADER_SIZE - e->status_len);
                assert(!esp_response_is_unsupported(&r, e->op));
        }
}

/* Each payload builder, with the arguments esptool used, gives its payload. */
static void test_payload_builders(void) {
        uint8_t b[24];

        uint8_t sync[ESP_SYNC_PAYLOAD_SIZE];
        assert(esp_payload_sync(sync) == sizeof(esp32_rom_sync_payload));
        assert_bytes(sync, sizeof(sync), esp32_rom_sync_payload, sizeof(esp32_rom_sync_payload));

        assert_bytes(b, esp_payload_read_reg(b, 0x40001000), esp32_rom_read_magic_payload, esp32_rom_read_magic_payload_len);
        assert_bytes(b, esp_payload_write_reg(b, 0x3ff4202c, 23, 0xffffffff, 0),
                     esp32_rom_write_reg_payload, esp32_rom_write_reg_payload_len);

        /* SPI_ATTACH: ROM 8 bytes, stub 4 */
        assert_bytes(b, esp_payload_spi_attach(b, 0, true), esp32_rom_spi_attach_payload, esp32_rom_spi_attach_payload_len);
        assert(esp_payload_spi_attach(b, 0x12345678, false) == 4);
        assert_bytes(b, 4, "\x78\x56\x34\x12", 4);

        assert_bytes(b, esp_payload_spi_set_params(b, 4 * 1024 * 1024),
                     esp32_rom_spi_set_params_payload, esp32_rom_spi_set_params_payload_len);
        assert_bytes(b, esp_payload_spi_set_params(b, 4 * 1024 * 1024),
                     esp32_stub_spi_set_params_payload, esp32_stub_spi_set_params_payload_len);

        /* FLASH_BEGIN: 16 bytes on the ESP32 ROM, 20 on the C3 ROM and the stub */
        assert_bytes(b, esp_payload_begin(b, 0x4000, 16, ESP_ROM_FLASH_BLOCK_SIZE, 0x1000, false, false),
                     esp32_rom_flash_begin_payload, esp32_rom_flash_begin_payload_len);
        assert_bytes(b, esp_payload_begin(b, 0x4000, 16, ESP_ROM_FLASH_BLOCK_SIZE, 0x0, true, false),
                     esp32c3_rom_flash_begin_payload, esp32c3_rom_flash_begin_payload_len);
        assert_bytes(b, esp_payload_begin(b, 0x4000, 1, ESP_STUB_FLASH_BLOCK_SIZE, 0x1000, true, false),
                     esp32_stub_flash_begin_payload, esp32_stub_flash_begin_payload_len);
        assert(esp_payload_begin(b, 1, 2, 3, 4, true, true) == 20);
        assert_bytes(b + 16, 4, "\x01\x00\x00\x00", 4);

        /* FLASH_DEFL_BEGIN: uncompressed size, compressed blocks */
        assert_bytes(b, esp_payload_begin(b, 0x10000, 5, ESP_ROM_FLASH_BLOCK_SIZE, 0x30000, false, false),
                     esp32_rom_defl_begin_payload, esp32_rom_defl_begin_payload_len);

        /* data headers: full block 0, short last block 4 */
        assert_bytes(b, esp_payload_data_header(b, 0x400, 0), esp32_rom_defl_data0_payload, ESP_DATA_HEADER_SIZE);
        assert_bytes(b, esp_payload_data_header(b, 0x1ed, 4), esp32_rom_defl_data4_payload, ESP_DATA_HEADER_SIZE);
        assert(esp32_rom_defl_data4_payload_len == ESP_DATA_HEADER_SIZE + 0x1ed);

        assert_bytes(b, esp_payload_spi_flash_md5(b, 0x30000, 0x10000), esp32_rom_md5_payload, esp32_rom_md5_payload_len);
        assert_bytes(b, esp_payload_spi_flash_md5(b, 0x1000, 0x4000), esp32_stub_md5_payload, esp32_stub_md5_payload_len);

        /* stub upload: MEM_BEGIN (always 16 bytes), MEM_DATA header, MEM_END */
        assert_bytes(b, esp_payload_begin(b, 0xd4, 1, ESP_ROM_MEM_BLOCK_SIZE, 0x3ffded68, false, false),
                     esp32_stub_mem_begin_payload, esp32_stub_mem_begin_payload_len);
        assert_bytes(b, esp_payload_data_header(b, 0xd4, 0), esp32_stub_mem_data_payload, ESP_DATA_HEADER_SIZE);
        assert_bytes(b, esp_payload_mem_end(b, false, 0x400a9074), esp32_stub_mem_end_payload, esp32_stub_mem_end_payload_len);
        assert(esp_payload_mem_end(b, true, 0) == 8);
        assert_bytes(b, 8, "\x01\x00\x00\x00\x00\x00\x00\x00", 8);

        /* CHANGE_BAUDRATE to a stub: new, old */
        assert_bytes(b, esp_payload_change_baudrate(b, 921600, 115200),
                     esp32_stub_change_baud_payload, esp32_stub_change_baud_payload_len);

        assert_bytes(b, esp_payload_read_flash(b, 0x10000, 0x1000, 0x1000, 64),
                     esp32_stub_read_flash_payload, esp32_stub_read_flash_payload_len);
        assert_bytes(b, esp_payload_erase_region(b, 0x200000, 0x1000),
                     esp32_stub_erase_region_payload, esp32_stub_erase_region_payload_len);

        /* FLASH_END: 1 = no reboot, 0 = reboot */
        assert_bytes(b, esp_payload_flash_end(b, true), esp32_stub_flash_end_payload, esp32_stub_flash_end_payload_len);
        assert(esp_payload_flash_end(b, false) == 4);
        assert_bytes(b, 4, "\x00\x00\x00\x00", 4);
}

static void test_checksum(void) {
        assert(esp_checksum(NULL, 0) == ESP_CHECKSUM_SEED);
        assert(esp_checksum("\xef", 1) == 0x00);
        assert(esp_checksum("\x01\x02\x03\xab", 4) == (0xef ^ 0x01 ^ 0x02 ^ 0x03 ^ 0xab));

        /* the checksum byte esptool put in the header of each data command */
        assert(esp32_stub_mem_data_wire[5] == 0x69);
        assert(esp_checksum(esp32_stub_mem_data_payload + 16, esp32_stub_mem_data_payload_len - 16) == 0x69);
        assert(esp_checksum(esp32_rom_defl_data0_payload + 16, esp32_rom_defl_data0_payload_len - 16) == 0x56);
        assert(esp_checksum(esp32_rom_defl_data4_payload + 16, esp32_rom_defl_data4_payload_len - 16) == 0xe4);
}

static void test_request_errors(void) {
        uint8_t buf[64], big[1];
        EspRequest req;

        /* no room */
        assert(esp_request_encode(ESP_OP_READ_REG, "\0\0\0\0", 4, 0, buf, 11) == -ENOBUFS);
        assert(esp_request_encode(ESP_OP_READ_REG, "\0\0\0\0", 4, 0, buf, 12) == 12);
        /* the size field is 16 bits */
        assert(esp_request_encode(ESP_OP_FLASH_DATA, big, 0x10000, 0, buf, sizeof(buf)) == -EMSGSIZE);
        /* no payload */
        assert(esp_request_encode(ESP_OP_GET_SECURITY_INFO, NULL, 0, 0, buf, 8) == 8);
        assert_bytes(buf, 8, "\x00\x14\x00\x00\x00\x00\x00\x00", 8);

        assert(esp_request_decode(buf, 8, &req) == 0);
        assert(req.op == ESP_OP_GET_SECURITY_INFO && req.payload_len == 0);
        assert(esp_request_decode(buf, 7, &req) == -EBADMSG);                          /* short */
        assert(esp_request_decode(esp32_rom_sync_reply, 12, &req) == -EBADMSG);        /* a response */
        assert(esp_request_decode((const uint8_t *) "\x00\x0a\x04\x00\0\0\0\0\0\0\0", 11, &req) == -EBADMSG);  /* size 4, 3 given */
}

static void test_md5(void) {
        static const uint8_t digest_15dd[16] = {
                0x15, 0xdd, 0x72, 0x8d, 0x5e, 0x70, 0x98, 0x4d, 0x3a, 0x72, 0xcc, 0x64, 0xf3, 0x8d, 0xf1, 0x92,
        };
        static const uint8_t digest_5b14[16] = {
                0x5b, 0x14, 0xe4, 0xb7, 0xe0, 0xbc, 0x72, 0x45, 0x19, 0x59, 0xb4, 0xd7, 0x20, 0x42, 0x6d, 0xf8,
        };
        uint8_t d[16];
        EspResponse r;

        /* ROM: 32 hex chars + 4 status bytes (here with leftovers ff ff) */
        assert(esp_response_decode(esp32_rom_md5_reply, sizeof(esp32_rom_md5_reply), ESP_ROM_STATUS_LEN, &r) == 0);
        assert(r.data_len == 32 && r.status == 0);
        assert(esp_md5_reply_parse(&r, d) == 0);
        assert_bytes(d, 16, digest_5b14, 16);

        /* the same 16 KiB bootloader image hashed by the C3 ROM (hex) and the ESP32 stub (raw) */
        assert(esp_response_decode(esp32c3_rom_md5_reply, sizeof(esp32c3_rom_md5_reply), ESP_ROM_STATUS_LEN, &r) == 0);
        assert(esp_md5_reply_parse(&r, d) == 0);
        assert_bytes(d, 16, digest_15dd, 16);
        assert(esp_response_decode(esp32_stub_md5_reply, sizeof(esp32_stub_md5_reply), ESP_STUB_STATUS_LEN, &r) == 0);
        assert(r.data_len == 16);
        assert(esp_md5_reply_parse(&r, d) == 0);
        assert_bytes(d, 16, digest_15dd, 16);

        /* upper case hex is fine, anything else is not */
        uint8_t hex[32];
        memcpy(hex, "15DD728D5E70984D3A72CC64F38DF192", 32);
        r = (EspResponse) { .op = ESP_OP_SPI_FLASH_MD5, .data = hex, .data_len = 32 };
        assert(esp_md5_reply_parse(&r, d) == 0);
        assert_bytes(d, 16, digest_15dd, 16);
        hex[31] = 'g';
        memset(d, 0xaa, sizeof(d));
        assert(esp_md5_reply_parse(&r, d) == -EBADMSG);
        assert(d[0] == 0xaa);                                   /* untouched on failure */
        r.data_len = 31;
        assert(esp_md5_reply_parse(&r, d) == -EBADMSG);
        r.data_len = 0;
        assert(esp_md5_reply_parse(&r, d) == -EBADMSG);
        r = (EspResponse) { .data = hex, .data_len = 16, .status = 1, .error = ESP_ERROR_FLASH_READ };
        assert(esp_md5_reply_parse(&r, d) == -EPROTO);
}

static void test_security_info(void) {
        EspSecurityInfo info;
        EspResponse r;

        /* ESP32-C3 ROM: 20 bytes, chip id 5, ECO 3 (status bytes 00 00 33 37: leftovers) */
        assert(esp_response_decode(esp32c3_rom_security_info_reply, sizeof(esp32c3_rom_security_info_reply),
                                   ESP_ROM_STATUS_LEN, &r) == 0);
        assert(r.op == ESP_OP_GET_SECURITY_INFO && r.data_len == 20 && r.status == 0);
        assert(esp_security_info_parse(&r, &info) == 0);
        assert(info.has_chip_id && info.chip_id == 5 && info.eco_version == 3);
        assert(info.flags == 0 && info.flash_crypt_cnt == 0);
        assert_bytes(info.key_purposes, 7, "\x00\x00\x00\x00\x00\x00\x0c", 7);
        assert(!(info.flags & ESP_SECURITY_FLAG_SECURE_DOWNLOAD_ENABLE));

        /* ESP32-S2 shape: 12 bytes, no chip id */
        static const uint8_t s2[] = {
                0x01, 0x14, 0x10, 0x00, 0, 0, 0, 0,
                0x04, 0x00, 0x00, 0x00, 0x01, 1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 0,
        };
        assert(esp_response_decode(s2, sizeof(s2), ESP_ROM_STATUS_LEN, &r) == 0);
        assert(esp_security_info_parse(&r, &info) == 0);
        assert(!info.has_chip_id && info.chip_id == 0);
        assert(info.flags == ESP_SECURITY_FLAG_SECURE_DOWNLOAD_ENABLE && info.flash_crypt_cnt == 1);
        assert_bytes(info.key_purposes, 7, "\x01\x02\x03\x04\x05\x06\x07", 7);

        /* any other length */
        r.data_len = 16;
        assert(esp_security_info_parse(&r, &info) == -EBADMSG);

        /* ESP32 ROM: no such command. The answer echoes the previous opcode (SYNC). */
        assert(esp_response_decode(esp32_rom_security_info_reply, sizeof(esp32_rom_security_info_reply),
                                   ESP_ROM_STATUS_LEN, &r) == 0);
        assert(r.op == ESP_OP_SYNC && r.status == 1 && r.error == ESP_ERROR_INVALID_MESSAGE);
        assert(r.value == 0x20120707);                          /* stale SYNC value */
        assert(esp_response_is_unsupported(&r, ESP_OP_GET_SECURITY_INFO));
        assert(esp_security_info_parse(&r, &info) == -EPROTO);
}

/* The raw probes: replies rebuilt from esp32-rom-raw-probe.txt. */
static void test_rom_failures(void) {
        EspResponse r;

        /* unsupported commands after a READ_REG: the reply says READ_REG */
        static const uint8_t unsupported[] = { 0x01, 0x0a, 0x04, 0x00, 0x78, 0x56, 0x34, 0x12, 0x01, 0x05, 0x00, 0x00 };
        assert(esp_response_decode(unsupported, sizeof(unsupported), ESP_ROM_STATUS_LEN, &r) == 0);
        assert(r.status == 1 && r.error == ESP_ERROR_INVALID_MESSAGE && r.data_len == 0);
        assert(esp_response_is_unsupported(&r, ESP_OP_GET_SECURITY_INFO));
        assert(esp_response_is_unsupported(&r, ESP_OP_ERASE_FLASH));
        assert(esp_response_is_unsupported(&r, ESP_OP_READ_FLASH));
        assert(!esp_response_is_unsupported(&r, ESP_OP_READ_REG));

        /* FLASH_DATA with a bad checksum: 0x07, same opcode */
        static const uint8_t bad_checksum[] = { 0x01, 0x03, 0x04, 0x00, 0x78, 0x56, 0x34, 0x12, 0x01, 0x07, 0x00, 0x00 };
        assert(esp_response_decode(bad_checksum, sizeof(bad_checksum), ESP_ROM_STATUS_LEN, &r) == 0);
        assert(r.op == ESP_OP_FLASH_DATA && r.status == 1 && r.error == ESP_ERROR_INVALID_CRC);
        assert(!esp_response_is_unsupported(&r, ESP_OP_FLASH_DATA));

        /* FLASH_DATA with a wrong sequence number: 0x05 but the opcode matches */
        static const uint8_t bad_seq[] = { 0x01, 0x03, 0x04, 0x00, 0x78, 0x56, 0x34, 0x12, 0x01, 0x05, 0x00, 0x00 };
        assert(esp_response_decode(bad_seq, sizeof(bad_seq), ESP_ROM_STATUS_LEN, &r) == 0);
        assert(r.error == ESP_ERROR_INVALID_MESSAGE);
        assert(!esp_response_is_unsupported(&r, ESP_OP_FLASH_DATA));

        /* Status carry (esp32-rom-defl-error-probe, case D): after an error the
         * ROM keeps its code in the second status byte of later successful
         * replies. These are whole frames from the trace: success. */
        static const uint8_t carried_07[] = { 0x01, 0x11, 0x04, 0x00, 0x83, 0x1d, 0xf0, 0x00, 0x00, 0x07, 0x61, 0x36 };
        static const uint8_t carried_05[] = { 0x01, 0x03, 0x04, 0x00, 0x83, 0x1d, 0xf0, 0x00, 0x00, 0x05, 0x31, 0x39 };
        static const uint8_t carried_0b[] = { 0x01, 0x0b, 0x04, 0x00, 0x83, 0x1d, 0xf0, 0x00, 0x00, 0x0b, 0x61, 0x36 };
        static const uint8_t refused_07[] = { 0x01, 0x11, 0x04, 0x00, 0x83, 0x1d, 0xf0, 0x00, 0x01, 0x07, 0x61, 0x36 };
        assert(esp_response_decode(carried_07, sizeof(carried_07), ESP_ROM_STATUS_LEN, &r) == 0);
        assert(r.op == ESP_OP_FLASH_DEFL_DATA && r.status == 0 && r.error == 0);
        assert(!esp_response_is_unsupported(&r, ESP_OP_FLASH_DEFL_DATA));
        assert(esp_response_decode(carried_05, sizeof(carried_05), ESP_ROM_STATUS_LEN, &r) == 0);
        assert(r.op == ESP_OP_FLASH_DATA && r.status == 0 && r.error == 0);
        assert(esp_response_decode(carried_0b, sizeof(carried_0b), ESP_ROM_STATUS_LEN, &r) == 0);
        assert(r.op == ESP_OP_SPI_SET_PARAMS && r.status == 0 && r.error == 0);
        assert(esp_response_decode(refused_07, sizeof(refused_07), ESP_ROM_STATUS_LEN, &r) == 0);
        assert(r.status == 1 && r.error == ESP_ERROR_INVALID_CRC);

        /* READ_FLASH_SLOW: always 64 data bytes, whatever was asked */
        uint8_t slow[8 + 64 + 4] = { 0x01, 0x0e, 0x44, 0x00, 0x78, 0x56, 0x34, 0x12 };
        memset(slow + 8, 0x5a, 64);
        assert(esp_response_decode(slow, sizeof(slow), ESP_ROM_STATUS_LEN, &r) == 0);
        assert(r.op == ESP_OP_READ_FLASH_SLOW && r.data_len == 64 && r.status == 0);
}

static void test_stub_status(void) {
        EspResponse r;

        /* the stub puts its code in the first status byte */
        static const uint8_t bad_checksum[] = { 0x01, 0x03, 0x02, 0x00, 0, 0, 0, 0, 0xc1, 0x00 };
        assert(esp_response_decode(bad_checksum, sizeof(bad_checksum), ESP_STUB_STATUS_LEN, &r) == 0);
        assert(r.status == 0xc1 && r.error == ESP_ERROR_BAD_DATA_CHECKSUM);
        assert(!esp_response_is_unsupported(&r, ESP_OP_FLASH_DATA));

        static const uint8_t not_impl[] = { 0x01, 0xd4, 0x02, 0x00, 0, 0, 0, 0, 0xff, 0x00 };
        assert(esp_response_decode(not_impl, sizeof(not_impl), ESP_STUB_STATUS_LEN, &r) == 0);
        assert(r.error == ESP_ERROR_CMD_NOT_IMPLEMENTED);
        assert(esp_response_is_unsupported(&r, 0xd4));

        /* "error = a || b" in the legacy stub yields (1, 0): failed, no code */
        static const uint8_t bare[] = { 0x01, 0xd0, 0x02, 0x00, 0, 0, 0, 0, 0x01, 0x00 };
        assert(esp_response_decode(bare, sizeof(bare), ESP_STUB_STATUS_LEN, &r) == 0);
        assert(r.status == 1 && r.error == ESP_ERROR_NONE);

        /* BAD_DATA_LEN comes with 0xEE after it */
        static const uint8_t bad_len[] = { 0x01, 0x03, 0x02, 0x00, 0, 0, 0, 0, 0xc0, 0xee };
        assert(esp_response_decode(bad_len, sizeof(bad_len), ESP_STUB_STATUS_LEN, &r) == 0);
        assert(r.error == ESP_ERROR_BAD_DATA_LEN);

        /* success carries no error, whatever the second byte says */
        static const uint8_t ok[] = { 0x01, 0x0b, 0x02, 0x00, 0, 0, 0, 0, 0x00, 0x07 };
        assert(esp_response_decode(ok, sizeof(ok), ESP_STUB_STATUS_LEN, &r) == 0);
        assert(r.status == 0 && r.error == 0);
}

static void test_response_errors(void) {
        static const uint8_t ohai[] = { 'O', 'H', 'A', 'I' };
        EspResponse r;

        /* the stub's greeting is a frame but not a response */
        assert(esp_response_decode(ohai, sizeof(ohai), ESP_STUB_STATUS_LEN, &r) == -EBADMSG);
        /* a request (the chip's own echo) */
        assert(esp_response_decode(esp32_rom_sync_wire + 1, sizeof(esp32_rom_sync_wire) - 2,
                                   ESP_ROM_STATUS_LEN, &r) == -EBADMSG);
        /* short, or a size field that disagrees with the frame */
        assert(esp_response_decode(esp32_rom_sync_reply, 7, ESP_ROM_STATUS_LEN, &r) == -EBADMSG);
        assert(esp_response_decode(esp32_rom_sync_reply, 11, ESP_ROM_STATUS_LEN, &r) == -EBADMSG);
        /* a stub reply (2 status bytes) read as a ROM one: too short for its status */
        assert(esp_response_decode(esp32_stub_flash_end_reply, sizeof(esp32_stub_flash_end_reply),
                                   ESP_ROM_STATUS_LEN, &r) == -EBADMSG);
        assert(esp_response_decode(esp32_stub_flash_end_reply, sizeof(esp32_stub_flash_end_reply), 3, &r) == -EINVAL);

        /* ret untouched on failure */
        memset(&r, 0xaa, sizeof(r));
        assert(esp_response_decode(ohai, sizeof(ohai), ESP_ROM_STATUS_LEN, &r) == -EBADMSG);
        assert(r.op == 0xaa);

        /* a ROM reply read with stub status length still decodes: the last two
         * (leftover) bytes are taken as status, as esptool would */
        assert(esp_response_decode(esp32_rom_read_magic_reply, sizeof(esp32_rom_read_magic_reply),
                                   ESP_STUB_STATUS_LEN, &r) == 0);
        assert(r.value == 0x00f01d83 && r.data_len == 2);
}

static void test_values(void) {
        EspResponse r;

        /* READ_REG: the value is the register */
        assert(esp_response_decode(esp32_rom_read_magic_reply, sizeof(esp32_rom_read_magic_reply),
                                   ESP_ROM_STATUS_LEN, &r) == 0);
        assert(r.op == ESP_OP_READ_REG && r.value == 0x00f01d83 && r.data_len == 0);

        /* SYNC: 0x20120707 from the ROM */
        assert(esp_response_decode(esp32c3_rom_sync_reply, sizeof(esp32c3_rom_sync_reply),
                                   ESP_ROM_STATUS_LEN, &r) == 0);
        assert(r.value == 0x20120707 && r.status == 0 && r.error == 0);

        /* WRITE_REG: stale value from the previous READ_REG */
        assert(esp_response_decode(esp32_rom_write_reg_reply, sizeof(esp32_rom_write_reg_reply),
                                   ESP_ROM_STATUS_LEN, &r) == 0);
        assert(r.value == 0x70000000);
}

static void test_opcode_names(void) {
        assert(streq_ptr(esp_opcode_to_string(ESP_OP_SYNC), "SYNC"));
        assert(streq_ptr(esp_opcode_to_string(ESP_OP_GET_SECURITY_INFO), "GET_SECURITY_INFO"));
        assert(streq_ptr(esp_opcode_to_string(ESP_OP_FLASH_DEFL_DATA), "FLASH_DEFL_DATA"));
        assert(streq_ptr(esp_opcode_to_string(ESP_OP_RUN_USER_CODE), "RUN_USER_CODE"));
        assert(!esp_opcode_to_string(0x00));
        assert(!esp_opcode_to_string(0x0c));
        assert(!esp_opcode_to_string(0xff));

        size_t known = 0;
        for (unsigned op = 0; op < 256; op++)
                known += !!esp_opcode_to_string((uint8_t) op);
        assert(known == 22);
}

int main(void) {
        test_requests_match_wire();
        test_requests_decode();
        test_replies_decode();
        test_payload_builders();
        test_checksum();
        test_request_errors();
        test_md5();
        test_security_info();
        test_rom_failures();
        test_stub_status();
        test_response_errors();
        test_values();
        test_opcode_names();
        printf("test-esp-command: ok\n");
        return 0;
}
