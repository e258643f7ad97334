/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading esptool's JSON stub images: a flat object of numbers and base64
 * strings, so a small scanner for exactly that shape does (no JSON library in
 * the service). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flash-stub.h"
#include "macro.h"

/* Stubs are a few KiB of base64; anything far larger is not one. */
#define FLASH_STUB_FILE_MAX (1024 * 1024)

/* The value after "key": in a flat object; NULL if the key is absent. */
static const char *find_value(const char *json, size_t len, const char *key) {
        size_t klen = strlen(key);

        for (const char *p = json; p + klen + 2 <= json + len; p++) {
                const char *q;

                if (*p != '"' || strncmp(p + 1, key, klen) != 0 || p[klen + 1] != '"')
                        continue;
                q = p + klen + 2;
                while (q < json + len && strchr(" \t\r\n", *q))
                        q++;
                if (q >= json + len || *q != ':')
                        continue;
                q++;
                while (q < json + len && strchr(" \t\r\n", *q))
                        q++;
                return q < json + len ? q : NULL;
        }
        return NULL;
}

static int parse_u32(const char *json, size_t len, const char *key, uint32_t *ret) {
        const char *v = find_value(json, len, key);
        unsigned long long u;
        char *end;

        if (!v || *v < '0' || *v > '9')
                return -EBADMSG;
        errno = 0;
        u = strtoull(v, &end, 10);
        if (errno != 0 || u > UINT32_MAX || end > json + len)
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

/* A base64 string value (padding optional). ret gets a malloc'd buffer. */
static int parse_base64(const char *json, size_t len, const char *key, uint8_t **ret, size_t *ret_len) {
        const char *v = find_value(json, len, key), *end;
        _cleanup_free_ uint8_t *buf = NULL;
        uint32_t acc = 0;
        size_t n = 0;
        int bits = 0;

        if (!v || *v != '"')
                return -EBADMSG;
        v++;
        end = memchr(v, '"', (size_t) (json + len - v));
        if (!end)
                return -EBADMSG;

        buf = malloc((size_t) (end - v) / 4 * 3 + 3);
        if (!buf)
                return -ENOMEM;
        for (const char *p = v; p < end; p++) {
                int d;

                if (*p == '=')
                        break;
                d = base64_value(*p);
                if (d < 0)
                        return -EBADMSG;
                acc = (acc << 6) | (uint32_t) d;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        buf[n++] = (uint8_t) (acc >> bits);
                }
        }
        *ret = TAKE_PTR(buf);
        *ret_len = n;
        return 0;
}

int flash_stub_parse(const char *json, size_t len, FlashStub **ret) {
        _cleanup_(flash_stub_freep) FlashStub *s = NULL;
        int r;

        if (!json || !ret)
                return -EINVAL;

        s = calloc(1, sizeof(FlashStub));
        if (!s)
                return -ENOMEM;
        r = parse_u32(json, len, "entry", &s->image.entry);
        if (r < 0)
                return r;
        r = parse_u32(json, len, "text_start", &s->image.text_start);
        if (r < 0)
                return r;
        r = parse_base64(json, len, "text", &s->text, &s->image.text_len);
        if (r < 0)
                return r;
        if (s->image.text_len == 0)
                return -EBADMSG;
        /* Some stubs have no data segment. */
        if (find_value(json, len, "data")) {
                r = parse_u32(json, len, "data_start", &s->image.data_start);
                if (r < 0)
                        return r;
                r = parse_base64(json, len, "data", &s->data, &s->image.data_len);
                if (r < 0)
                        return r;
        }
        s->image.text = s->text;
        s->image.data = s->data;

        *ret = TAKE_PTR(s);
        return 0;
}

int flash_stub_load(const char *dir, const char *chip_name, FlashStub **ret) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        ssize_t n;

        if (!dir || !chip_name || !ret || strchr(chip_name, '/'))
                return -EINVAL;
        if (asprintf(&path, "%s/%s.json", dir, chip_name) < 0)
                return -ENOMEM;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADMSG;
        if (st.st_size > FLASH_STUB_FILE_MAX)
                return -EFBIG;

        text = malloc((size_t) st.st_size + 1);
        if (!text)
                return -ENOMEM;
        n = read(fd, text, (size_t) st.st_size);
        if (n < 0)
                return -errno;
        text[n] = '\0';
        return flash_stub_parse(text, (size_t) n, ret);
}

FlashStub *flash_stub_free(FlashStub *s) {
        if (!s)
                return NULL;
        free(s->text);
        free(s->data);
        free(s);
        return NULL;
}
