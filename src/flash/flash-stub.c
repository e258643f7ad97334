/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading esptool's JSON stub images (entry, text/data as base64 and their
 * load addresses), from a file, a passed fd or the first match in a search
 * path; a bounded JSON reader of our own (no JSON library in the service). */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "flash-stub.h"
#include "macro.h"

/* ---- a bounded JSON reader ----------------------------------------------------- */

/* Nesting a stub file needs: esptool's ESP32-S3 stub nests plugins 3 deep. */
#define JSON_DEPTH_MAX 16

typedef struct JsonCursor {
        const char *p, *end;
} JsonCursor;

static void json_skip_space(JsonCursor *c) {
        while (c->p < c->end && strchr(" \t\r\n", *c->p) && *c->p != '\0')
                c->p++;
}

/* A string token: ret_start and ret_len get its raw bytes between the quotes
 * (escapes kept; the keys and base64 values read here have none). */
static int json_string(JsonCursor *c, const char **ret_start, size_t *ret_len) {
        const char *s;

        if (c->p >= c->end || *c->p != '"')
                return -EBADMSG;
        s = ++c->p;
        while (c->p < c->end && *c->p != '"') {
                if ((unsigned char) *c->p < 0x20)
                        return -EBADMSG;
                if (*c->p == '\\') {
                        c->p++;
                        if (c->p >= c->end)
                                return -EBADMSG;
                }
                c->p++;
        }
        if (c->p >= c->end)
                return -EBADMSG;
        if (ret_start)
                *ret_start = s;
        if (ret_len)
                *ret_len = (size_t) (c->p - s);
        c->p++;
        return 0;
}

/* Any value, skipped: objects and arrays to JSON_DEPTH_MAX. */
static int json_skip_value(JsonCursor *c, unsigned depth) {
        int r;

        json_skip_space(c);
        if (c->p >= c->end)
                return -EBADMSG;
        switch (*c->p) {
        case '"':
                return json_string(c, NULL, NULL);
        case '{':
        case '[': {
                char close = *c->p == '{' ? '}' : ']';
                bool object = close == '}';

                if (depth >= JSON_DEPTH_MAX)
                        return -EBADMSG;
                c->p++;
                json_skip_space(c);
                if (c->p < c->end && *c->p == close) {
                        c->p++;
                        return 0;
                }
                for (;;) {
                        if (object) {
                                json_skip_space(c);
                                r = json_string(c, NULL, NULL);
                                if (r < 0)
                                        return r;
                                json_skip_space(c);
                                if (c->p >= c->end || *c->p != ':')
                                        return -EBADMSG;
                                c->p++;
                        }
                        r = json_skip_value(c, depth + 1);
                        if (r < 0)
                                return r;
                        json_skip_space(c);
                        if (c->p >= c->end)
                                return -EBADMSG;
                        if (*c->p == close) {
                                c->p++;
                                return 0;
                        }
                        if (*c->p != ',')
                                return -EBADMSG;
                        c->p++;
                }
        }
        default: {
                const char *s = c->p;

                /* numbers, true, false, null: a run of these characters */
                while (c->p < c->end && strchr("0123456789+-.eEtruefalsn", *c->p) && *c->p != '\0')
                        c->p++;
                return c->p > s ? 0 : -EBADMSG;
        }
        }
}

static int parse_u32(const char *s, size_t n, uint32_t *ret) {
        uint64_t u = 0;

        if (n == 0 || n > 10)
                return -EBADMSG;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EBADMSG;
                u = u * 10 + (uint64_t) (s[i] - '0');
        }
        if (u > UINT32_MAX)
                return -EBADMSG;
        *ret = (uint32_t) u;
        return 0;
}

static int base64_value(char c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

/* Base64 (padding optional) into a malloc'd buffer. */
static int decode_base64(const char *s, size_t n, uint8_t **ret, size_t *ret_len) {
        _cleanup_free_ uint8_t *buf = NULL;
        uint32_t acc = 0;
        size_t len = 0;
        int bits = 0;

        buf = malloc(n / 4 * 3 + 3);
        if (!buf)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                int d;

                if (s[i] == '=') {
                        /* only padding may follow */
                        for (size_t k = i; k < n; k++)
                                if (s[k] != '=')
                                        return -EBADMSG;
                        break;
                }
                d = base64_value(s[i]);
                if (d < 0)
                        return -EBADMSG;
                acc = (acc << 6) | (uint32_t) d;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        buf[len++] = (uint8_t) (acc >> bits);
                }
        }
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

/* ---- stubs ----------------------------------------------------------------------- */

typedef struct StubFields {
        bool has_entry, has_text_start, has_data_start;
        const char *text, *data;
        size_t text_len, data_len;
} StubFields;

/* One top-level member: the fields a stub needs, the rest skipped. */
static int stub_member(JsonCursor *c, const char *key, size_t klen, FlashStub *s, StubFields *f) {
        static const struct {
                const char *name;
                size_t offset;
        } numbers[] = {
                { "entry", offsetof(FlashStub, image.entry) },
                { "text_start", offsetof(FlashStub, image.text_start) },
                { "data_start", offsetof(FlashStub, image.data_start) },
        };
        const char *v;
        size_t n;
        int r;

        json_skip_space(c);
        for (size_t i = 0; i < ELEMENTSOF(numbers); i++) {
                if (klen != strlen(numbers[i].name) || memcmp(key, numbers[i].name, klen) != 0)
                        continue;
                v = c->p;
                r = json_skip_value(c, 1);
                if (r < 0)
                        return r;
                r = parse_u32(v, (size_t) (c->p - v), (uint32_t *) ((uint8_t *) s + numbers[i].offset));
                if (r < 0)
                        return r;
                if (i == 0)
                        f->has_entry = true;
                else if (i == 1)
                        f->has_text_start = true;
                else
                        f->has_data_start = true;
                return 0;
        }
        if ((klen == 4 && memcmp(key, "text", 4) == 0) || (klen == 4 && memcmp(key, "data", 4) == 0)) {
                r = json_string(c, &v, &n);
                if (r < 0)
                        return r;
                if (key[0] == 't') {
                        f->text = v;
                        f->text_len = n;
                } else {
                        f->data = v;
                        f->data_len = n;
                }
                return 0;
        }
        return json_skip_value(c, 1);
}

int flash_stub_parse(const char *json, size_t len, FlashStub **ret) {
        _cleanup_(flash_stub_freep) FlashStub *s = NULL;
        JsonCursor c = { json, json + len };
        StubFields f = {};
        int r;

        assert(json && ret);
        if (len > FLASH_STUB_FILE_MAX)
                return -EFBIG;

        s = calloc(1, sizeof(FlashStub));
        if (!s)
                return -ENOMEM;

        json_skip_space(&c);
        if (c.p >= c.end || *c.p != '{')
                return -EBADMSG;
        c.p++;
        json_skip_space(&c);
        if (c.p < c.end && *c.p == '}')
                c.p++;
        else
                for (;;) {
                        const char *key;
                        size_t klen;

                        json_skip_space(&c);
                        r = json_string(&c, &key, &klen);
                        if (r < 0)
                                return r;
                        json_skip_space(&c);
                        if (c.p >= c.end || *c.p != ':')
                                return -EBADMSG;
                        c.p++;
                        r = stub_member(&c, key, klen, s, &f);
                        if (r < 0)
                                return r;
                        json_skip_space(&c);
                        if (c.p >= c.end)
                                return -EBADMSG;
                        if (*c.p == '}') {
                                c.p++;
                                break;
                        }
                        if (*c.p != ',')
                                return -EBADMSG;
                        c.p++;
                }
        json_skip_space(&c);
        if (c.p != c.end)
                return -EBADMSG;        /* trailing bytes */

        if (!f.has_entry || !f.has_text_start || !f.text)
                return -EBADMSG;
        r = decode_base64(f.text, f.text_len, &s->text, &s->image.text_len);
        if (r < 0)
                return r;
        if (s->image.text_len == 0)
                return -EBADMSG;
        /* Some stubs have no data segment. */
        if (f.data) {
                if (!f.has_data_start)
                        return -EBADMSG;
                r = decode_base64(f.data, f.data_len, &s->data, &s->image.data_len);
                if (r < 0)
                        return r;
        }
        if (s->image.text_len > FLASH_STUB_SEGMENT_MAX || s->image.data_len > FLASH_STUB_SEGMENT_MAX)
                return -EFBIG;
        s->image.text = s->text;
        s->image.data = s->data;

        *ret = TAKE_PTR(s);
        return 0;
}

/* Where a stub may live: the chips' internal SRAM as the instruction and data
 * buses see it (esptool's MEMORY_MAP IRAM/DRAM; one range where both buses
 * share addresses). */
typedef struct StubRam {
        uint32_t start, end;
} StubRam;

static const StubRam stub_ram[_ESP_CHIP_MAX][2] = {
        [ESP_CHIP_ESP32]   = { { 0x40070000, 0x400c0000 }, { 0x3ffae000, 0x40000000 } },
        [ESP_CHIP_ESP32S2] = { { 0x40020000, 0x40070000 }, { 0x3ffb0000, 0x40000000 } },
        [ESP_CHIP_ESP32S3] = { { 0x40370000, 0x403e0000 }, { 0x3fc88000, 0x3fd00000 } },
        [ESP_CHIP_ESP32C2] = { { 0x4037c000, 0x403c0000 }, { 0x3fca0000, 0x3fce0000 } },
        [ESP_CHIP_ESP32C3] = { { 0x4037c000, 0x403e0000 }, { 0x3fc80000, 0x3fce0000 } },
        [ESP_CHIP_ESP32C5] = { { 0x40800000, 0x40880000 } },
        [ESP_CHIP_ESP32C6] = { { 0x40800000, 0x40880000 } },
        [ESP_CHIP_ESP32H2] = { { 0x40800000, 0x40850000 } },
        [ESP_CHIP_ESP32P4] = { { 0x4ff00000, 0x4ffc0000 } },
};

static bool stub_fits(EspChipId chip, uint32_t start, size_t len) {
        for (size_t i = 0; i < ELEMENTSOF(stub_ram[chip]); i++) {
                const StubRam *m = &stub_ram[chip][i];

                if (m->end > m->start && start >= m->start && (uint64_t) start + len <= m->end)
                        return true;
        }
        return false;
}

int flash_stub_check_chip(const FlashStub *s, EspChipId chip) {
        const EspStubImage *im;

        if (!s || chip < 0 || chip >= _ESP_CHIP_MAX)
                return -EINVAL;
        im = &s->image;
        if (!stub_fits(chip, im->text_start, im->text_len))
                return -ERANGE;
        if (im->data_len > 0 && !stub_fits(chip, im->data_start, im->data_len))
                return -ERANGE;
        /* The entry point is code the upload brought. */
        if (im->entry < im->text_start || (uint64_t) im->entry >= (uint64_t) im->text_start + im->text_len)
                return -ERANGE;
        return 0;
}

int flash_stub_read_fd(int fd, char **ret_text, size_t *ret_len) {
        if (fd < 0 || !ret_text || !ret_len)
                return -EINVAL;
        return fd_read_regular(fd, FLASH_STUB_FILE_MAX, ret_text, ret_len);
}

static int stub_load_path(const char *path, FlashStub **ret) {
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t len;
        int r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        r = flash_stub_read_fd(fd, &text, &len);
        if (r < 0)
                return r;
        return flash_stub_parse(text, len, ret);
}

int flash_stub_load(const char *dir, const char *chip_name, FlashStub **ret) {
        _cleanup_free_ char *path = NULL;

        if (!dir || !chip_name || !ret || strchr(chip_name, '/'))
                return -EINVAL;
        if (asprintf(&path, "%s/%s.json", dir, chip_name) < 0)
                return -ENOMEM;
        return stub_load_path(path, ret);
}

/* The names a chip's stub has in one directory, in the order tried: esptool-js
 * and a configured directory (<chip>.json), esptool 5 (1/<chip>.json, its
 * default stub; 2/<chip>.json), esptool 4 (stub_flasher_32c3.json). */
static int stub_find_in(const char *dir, const char *chip_name, FlashStub **ret, char **ret_path) {
        const char *suffix = strncmp(chip_name, "esp", 3) == 0 ? chip_name + 3 : chip_name;
        static const char *const subdirs[] = { "", "1/", "2/", "stub_flasher_" };
        int r = -ENOENT;

        for (size_t i = 0; i < ELEMENTSOF(subdirs); i++) {
                _cleanup_free_ char *path = NULL;
                int k;

                if (asprintf(&path, "%s/%s%s.json", dir, subdirs[i], i == 3 ? suffix : chip_name) < 0)
                        return -ENOMEM;
                k = stub_load_path(path, ret);
                if (k >= 0) {
                        if (ret_path)
                                *ret_path = TAKE_PTR(path);
                        return 0;
                }
                /* A broken file is worth saying; a missing one is the usual case. */
                if (k != -ENOENT && k != -ENOTDIR)
                        r = k;
        }
        return r;
}

int flash_stub_find(const char *search_path, const char *chip_name, FlashStub **ret, char **ret_path) {
        _cleanup_free_ char *copy = NULL;
        char *saveptr = NULL;
        int r = -ENOENT;

        if (!search_path || !chip_name || !ret || strchr(chip_name, '/'))
                return -EINVAL;
        copy = strdup(search_path);
        if (!copy)
                return -ENOMEM;

        for (char *entry = strtok_r(copy, ":", &saveptr); entry; entry = strtok_r(NULL, ":", &saveptr)) {
                glob_t g = {};

                if (entry[0] != '/')
                        continue;
                /* Python's version is in the path: /usr/local/lib/python3.11/… */
                if (glob(entry, GLOB_NOSORT | GLOB_ONLYDIR, NULL, &g) != 0) {
                        globfree(&g);
                        continue;
                }
                for (size_t i = 0; i < g.gl_pathc; i++) {
                        int k = stub_find_in(g.gl_pathv[i], chip_name, ret, ret_path);

                        if (k >= 0) {
                                globfree(&g);
                                return 0;
                        }
                        if (k != -ENOENT)
                                r = k;
                }
                globfree(&g);
        }
        return r;
}

FlashStub *flash_stub_free(FlashStub *s) {
        if (!s)
                return NULL;
        free(s->text);
        free(s->data);
        free(s);
        return NULL;
}
