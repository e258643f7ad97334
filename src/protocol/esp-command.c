/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ESP serial loader packets: request encoding and decoding, response decoding,
 * the payload layout of every command, and the MD5 / security-info replies.
 * Pure byte shuffling; every integer on the wire is little-endian. */

#include <errno.h>
#include <string.h>

#include "esp-command.h"
#include "esp-status.h"

#define ESP_DIR_REQUEST 0x00
#define ESP_DIR_RESPONSE 0x01

static void put_le16(uint8_t *p, uint16_t v) {
        p[0] = v & 0xff;
        p[1] = v >> 8;
}

static void put_le32(uint8_t *p, uint32_t v) {
        p[0] = v & 0xff;
        p[1] = (v >> 8) & 0xff;
        p[2] = (v >> 16) & 0xff;
        p[3] = v >> 24;
}

static uint16_t get_le16(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}

static uint32_t get_le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static const char *const opcode_table[256] = {
        [ESP_OP_FLASH_BEGIN] = "FLASH_BEGIN",
        [ESP_OP_FLASH_DATA] = "FLASH_DATA",
        [ESP_OP_FLASH_END] = "FLASH_END",
        [ESP_OP_MEM_BEGIN] = "MEM_BEGIN",
        [ESP_OP_MEM_END] = "MEM_END",
        [ESP_OP_MEM_DATA] = "MEM_DATA",
        [ESP_OP_SYNC] = "SYNC",
        [ESP_OP_WRITE_REG] = "WRITE_REG",
        [ESP_OP_READ_REG] = "READ_REG",
        [ESP_OP_SPI_SET_PARAMS] = "SPI_SET_PARAMS",
        [ESP_OP_SPI_ATTACH] = "SPI_ATTACH",
        [ESP_OP_READ_FLASH_SLOW] = "READ_FLASH_SLOW",
        [ESP_OP_CHANGE_BAUDRATE] = "CHANGE_BAUDRATE",
        [ESP_OP_FLASH_DEFL_BEGIN] = "FLASH_DEFL_BEGIN",
        [ESP_OP_FLASH_DEFL_DATA] = "FLASH_DEFL_DATA",
        [ESP_OP_FLASH_DEFL_END] = "FLASH_DEFL_END",
        [ESP_OP_SPI_FLASH_MD5] = "SPI_FLASH_MD5",
        [ESP_OP_GET_SECURITY_INFO] = "GET_SECURITY_INFO",
        [ESP_OP_ERASE_FLASH] = "ERASE_FLASH",
        [ESP_OP_ERASE_REGION] = "ERASE_REGION",
        [ESP_OP_READ_FLASH] = "READ_FLASH",
        [ESP_OP_RUN_USER_CODE] = "RUN_USER_CODE",
};

const char *esp_opcode_to_string(uint8_t op) {
        return opcode_table[op];
}

uint8_t esp_checksum(const void *data, size_t n) {
        const uint8_t *p = data;
        uint8_t c = ESP_CHECKSUM_SEED;

        for (size_t i = 0; i < n; i++)
                c ^= p[i];
        return c;
}

int esp_request_encode(uint8_t op, const void *payload, size_t n, uint32_t checksum,
                       uint8_t *buf, size_t cap) {
        if (n > UINT16_MAX)
                return -EMSGSIZE;
        if (cap < ESP_REQUEST_HEADER_SIZE + n)
                return -ENOBUFS;

        buf[0] = ESP_DIR_REQUEST;
        buf[1] = op;
        put_le16(buf + 2, (uint16_t) n);
        put_le32(buf + 4, checksum);
        if (n > 0)
                memcpy(buf + ESP_REQUEST_HEADER_SIZE, payload, n);

        return (int) (ESP_REQUEST_HEADER_SIZE + n);
}

int esp_request_decode(const uint8_t *frame, size_t n, EspRequest *ret) {
        size_t size;

        if (n < ESP_REQUEST_HEADER_SIZE || frame[0] != ESP_DIR_REQUEST)
                return -EBADMSG;

        size = get_le16(frame + 2);
        if (size != n - ESP_REQUEST_HEADER_SIZE)
                return -EBADMSG;

        *ret = (EspRequest) {
                .op = frame[1],
                .checksum = get_le32(frame + 4),
                .payload = frame + ESP_REQUEST_HEADER_SIZE,
                .payload_len = size,
        };
        return 0;
}

int esp_response_decode(const uint8_t *frame, size_t n, size_t status_len, EspResponse *ret) {
        const uint8_t *st;
        uint8_t error = 0;
        size_t size;

        if (status_len != ESP_ROM_STATUS_LEN && status_len != ESP_STUB_STATUS_LEN)
                return -EINVAL;
        if (n < ESP_RESPONSE_HEADER_SIZE || frame[0] != ESP_DIR_RESPONSE)
                return -EBADMSG;

        size = get_le16(frame + 2);
        if (size != n - ESP_RESPONSE_HEADER_SIZE || size < status_len)
                return -EBADMSG;

        st = frame + n - status_len;
        /* Only the first two status bytes mean anything (the ROM's last two are
         * leftovers). The ROM sends (1, code); a stub sends (code, 0), and may
         * send (1, 0) when it has no better code. */
        if (st[0] != 0)
                error = status_len == ESP_STUB_STATUS_LEN && st[0] != 1 ? st[0] : st[1];

        *ret = (EspResponse) {
                .op = frame[1],
                .value = get_le32(frame + 4),
                .data = frame + ESP_RESPONSE_HEADER_SIZE,
                .data_len = size - status_len,
                .status = st[0],
                .error = error,
        };
        return 0;
}

bool esp_response_is_unsupported(const EspResponse *r, uint8_t request_op) {
        if (r->status == 0)
                return false;
        if (r->error == ESP_ERROR_CMD_NOT_IMPLEMENTED)
                return true;
        return r->error == ESP_ERROR_INVALID_MESSAGE && r->op != request_op;
}

size_t esp_payload_sync(uint8_t out[ESP_SYNC_PAYLOAD_SIZE]) {
        static const uint8_t head[4] = { 0x07, 0x07, 0x12, 0x20 };

        memcpy(out, head, sizeof(head));
        memset(out + sizeof(head), 0x55, ESP_SYNC_PAYLOAD_SIZE - sizeof(head));
        return ESP_SYNC_PAYLOAD_SIZE;
}

/* Writes n words; most payloads are nothing more than that. */
static size_t put_words(uint8_t *out, const uint32_t *w, size_t n) {
        for (size_t i = 0; i < n; i++)
                put_le32(out + 4 * i, w[i]);
        return 4 * n;
}

size_t esp_payload_read_reg(uint8_t out[4], uint32_t addr) {
        return put_words(out, (const uint32_t[]) { addr }, 1);
}

size_t esp_payload_write_reg(uint8_t out[16], uint32_t addr, uint32_t value, uint32_t mask,
                             uint32_t delay_us) {
        return put_words(out, (const uint32_t[]) { addr, value, mask, delay_us }, 4);
}

size_t esp_payload_spi_attach(uint8_t out[8], uint32_t config, bool rom) {
        /* The ROM wants a second word: is_legacy (0) and three pad bytes. */
        if (rom)
                return put_words(out, (const uint32_t[]) { config, 0 }, 2);
        return put_words(out, (const uint32_t[]) { config }, 1);
}

size_t esp_payload_spi_set_params(uint8_t out[24], uint32_t total_size) {
        /* flash id, total size, block, sector, page size, status mask: what
         * esptool sends for every chip. */
        return put_words(out, (const uint32_t[]) { 0, total_size, 64 * 1024, 4 * 1024, 256, 0xffff }, 6);
}

size_t esp_payload_change_baudrate(uint8_t out[8], uint32_t new_baud, uint32_t old_baud) {
        return put_words(out, (const uint32_t[]) { new_baud, old_baud }, 2);
}

size_t esp_payload_begin(uint8_t out[20], uint32_t size, uint32_t blocks, uint32_t block_size,
                         uint32_t offset, bool with_encrypted_flag, bool encrypted) {
        if (with_encrypted_flag)
                return put_words(out, (const uint32_t[]) { size, blocks, block_size, offset, encrypted }, 5);
        return put_words(out, (const uint32_t[]) { size, blocks, block_size, offset }, 4);
}

size_t esp_payload_data_header(uint8_t out[ESP_DATA_HEADER_SIZE], uint32_t data_len, uint32_t seq) {
        return put_words(out, (const uint32_t[]) { data_len, seq, 0, 0 }, 4);
}

size_t esp_payload_flash_end(uint8_t out[4], bool stay_in_loader) {
        return put_words(out, (const uint32_t[]) { stay_in_loader }, 1);
}

size_t esp_payload_mem_end(uint8_t out[8], bool no_entry, uint32_t entry) {
        return put_words(out, (const uint32_t[]) { no_entry, entry }, 2);
}

size_t esp_payload_spi_flash_md5(uint8_t out[16], uint32_t addr, uint32_t size) {
        return put_words(out, (const uint32_t[]) { addr, size, 0, 0 }, 4);
}

size_t esp_payload_erase_region(uint8_t out[8], uint32_t addr, uint32_t size) {
        return put_words(out, (const uint32_t[]) { addr, size }, 2);
}

size_t esp_payload_read_flash(uint8_t out[16], uint32_t addr, uint32_t size, uint32_t packet_size,
                              uint32_t max_inflight) {
        return put_words(out, (const uint32_t[]) { addr, size, packet_size, max_inflight }, 4);
}

static int unhex(uint8_t c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -EBADMSG;
}

int esp_md5_reply_parse(const EspResponse *r, uint8_t ret_digest[16]) {
        uint8_t digest[16];

        if (r->status != 0)
                return -EPROTO;

        if (r->data_len == 16)          /* stub: raw digest */
                memcpy(digest, r->data, 16);
        else if (r->data_len == 32) {   /* ROM: ASCII hex */
                for (size_t i = 0; i < 16; i++) {
                        int hi = unhex(r->data[2 * i]), lo = unhex(r->data[2 * i + 1]);

                        if (hi < 0 || lo < 0)
                                return -EBADMSG;
                        digest[i] = (uint8_t) (hi << 4 | lo);
                }
        } else
                return -EBADMSG;

        memcpy(ret_digest, digest, 16);
        return 0;
}

int esp_security_info_parse(const EspResponse *r, EspSecurityInfo *ret) {
        EspSecurityInfo info = {};
        const uint8_t *p = r->data;

        if (r->status != 0)
                return -EPROTO;
        if (r->data_len != 12 && r->data_len != 20)
                return -EBADMSG;

        info.flags = get_le32(p);
        info.flash_crypt_cnt = p[4];
        memcpy(info.key_purposes, p + 5, sizeof(info.key_purposes));
        if (r->data_len == 20) {
                info.has_chip_id = true;
                info.chip_id = get_le32(p + 12);
                info.eco_version = get_le32(p + 16);
        }

        *ret = info;
        return 0;
}
