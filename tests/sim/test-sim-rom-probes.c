/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The loader's write behaviours against the raw probes in reference-traces:
 * each test sends the probe's request sequence (with the probe's data where
 * the probe gives it) and compares status bytes and per-sector MD5s with
 * what the probe recorded on the real ROM or stub. Usage: test-sim-rom-probes DIR */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "macro.h"
#include "sim-chip.h"
#include "sim-digest.h"
#include "sim-flash.h"
#include "sim-loader.h"

static const char *traces_dir;

/* ---- the rig: a loader on a flash file, the last reply kept ---------------- */

typedef struct Rig {
        char path[64];
        SimFlash *flash;
        SimRegs regs;
        SimLoader l;
        uint8_t reply[128];
        size_t reply_len;
        size_t replies;
        uint32_t baud;
        bool dead;
} Rig;

static nsec_t rig_send(void *u, const uint8_t *data, size_t n, bool slip, nsec_t at) {
        Rig *r = u;

        if (slip) {
                memcpy(r->reply, data, MIN(n, sizeof(r->reply)));
                r->reply_len = n;
                r->replies++;
        }
        return at;
}
static void rig_baud(void *u, uint32_t baud, nsec_t at) {
        ((Rig *) u)->baud = baud;
}
static void rig_nop_at(void *u, nsec_t at) {
}
static void rig_dead(void *u) {
        ((Rig *) u)->dead = true;
}
static void rig_command(void *u, nsec_t at, uint8_t op, size_t len, bool stub, uint16_t status) {
}

static void rig_init(Rig *r, const char *chip) {
        const SimChip *c = sim_chip_from_name(chip);
        int fd;

        assert(c);
        *r = (Rig) {};
        strcpy(r->path, "/tmp/test-sim-rom-probes-XXXXXX");
        fd = mkstemp(r->path);
        assert(fd >= 0);
        close(fd);
        assert(sim_flash_open(r->path, 4U << 20, true, &r->flash) == 0);
        assert(sim_regs_load(&r->regs, c->regs, c->n_regs) == 0);
        assert(sim_regs_load(&r->regs, c->spi_regs_rom, c->n_spi_regs_rom) == 0);
        assert(sim_loader_init(&r->l, c, r->flash, &r->regs, SIM_TIMING_FAST, SIM_CONSOLE_UART,
                               &(SimLoaderHost) {
                                       .userdata = r,
                                       .send = rig_send,
                                       .set_baud = rig_baud,
                                       .soft_reset = rig_nop_at,
                                       .run_user_code = rig_nop_at,
                                       .uart_dead = rig_dead,
                                       .command = rig_command,
                               }) == 0);
}

static void rig_done(Rig *r) {
        sim_loader_done(&r->l);
        sim_regs_clear(&r->regs);
        r->flash = sim_flash_free(r->flash);
        unlink(r->path);
}

/* Sends one request; returns the reply's first two status bytes as 0xSSEE,
 * or -1 if there was no reply. */
static int rig_request(Rig *r, uint8_t op, const void *data, size_t n, uint8_t checksum) {
        _cleanup_free_ uint8_t *frame = malloc(8 + n);
        size_t size, status_at;

        assert(frame);
        frame[0] = 0;
        frame[1] = op;
        frame[2] = (uint8_t) n;
        frame[3] = (uint8_t) (n >> 8);
        memset(frame + 4, 0, 4);
        frame[4] = checksum;
        if (n > 0)
                memcpy(frame + 8, data, n);
        r->replies = 0;
        assert(sim_loader_frame(&r->l, frame, 8 + n, 0) >= 0);
        if (r->replies == 0)
                return -1;
        if (r->reply_len < 10)
                return -2;      /* not a reply: the stub's OHAI */
        size = r->reply[2] | r->reply[3] << 8;
        /* ROM replies end in four status bytes, the stub's in two. */
        status_at = 8 + size - (r->l.stub ? 2 : 4);
        assert(status_at + 1 < r->reply_len);
        return r->reply[status_at] << 8 | r->reply[status_at + 1];
}

static uint8_t checksum_of(const uint8_t *p, size_t n) {
        uint8_t c = 0xEF;

        for (size_t i = 0; i < n; i++)
                c ^= p[i];
        return c;
}

/* FLASH_BEGIN / FLASH_DEFL_BEGIN in the length this loader takes. */
static int rig_begin(Rig *r, uint8_t op, uint32_t size, uint32_t blocks, uint32_t offset) {
        uint32_t p[5] = { size, blocks, 0x400, offset, 0 };
        size_t n = r->l.chip->rom_flash_begin_short || r->l.stub ? 16 : 20;

        return rig_request(r, op, p, n, 0);
}

/* One data block: seq, then the data; the checksum spoiled if bad. */
static int rig_block(Rig *r, uint8_t op, uint32_t seq, const uint8_t *data, size_t n, bool bad) {
        _cleanup_free_ uint8_t *p = calloc(1, 16 + n);
        uint8_t chk = checksum_of(data, n);

        assert(p);
        p[0] = (uint8_t) n;
        p[1] = (uint8_t) (n >> 8);
        p[4] = (uint8_t) seq;
        p[5] = (uint8_t) (seq >> 8);
        memcpy(p + 16, data, n);
        return rig_request(r, op, p, 16 + n, bad ? (uint8_t) (chk ^ 0x5a) : chk);
}

static void write_plain(Rig *r, uint32_t offset, const uint8_t *data, size_t len) {
        uint32_t blocks = (uint32_t) DIV_ROUND_UP(len, 0x400);

        assert(rig_begin(r, 0x02, (uint32_t) len, blocks, offset) >> 8 == 0);
        for (uint32_t i = 0; i < blocks; i++) {
                uint8_t block[0x400];
                size_t k = MIN((size_t) 0x400, len - i * 0x400);

                memset(block, 0xFF, sizeof(block));
                memcpy(block, data + i * 0x400, k);
                assert(rig_block(r, 0x03, i, block, sizeof(block), false) >> 8 == 0);
        }
}

/* zlib at level 9, as esptool compresses; returns the length. */
static size_t deflate_buf(const uint8_t *data, size_t len, uint8_t **ret) {
        uLongf n = compressBound(len);
        uint8_t *out = malloc(n);

        assert(out);
        assert(compress2(out, &n, data, len, 9) == Z_OK);
        *ret = out;
        return n;
}

static void write_defl(Rig *r, uint32_t offset, const uint8_t *data, size_t len) {
        _cleanup_free_ uint8_t *z = NULL;
        size_t zn = deflate_buf(data, len, &z);
        uint32_t blocks = (uint32_t) DIV_ROUND_UP(zn, 0x400);
        /* The ROM takes the size rounded up to a block, the stub exact. */
        uint32_t size = r->l.stub ? (uint32_t) len : (uint32_t) ALIGN_TO(len, 0x400);

        assert(rig_begin(r, 0x10, size, blocks, offset) >> 8 == 0);
        for (uint32_t i = 0; i < blocks; i++)
                assert(rig_block(r, 0x11, i, z + i * 0x400, MIN((size_t) 0x400, zn - i * 0x400), false) >> 8 == 0);
}

/* Uploads "a stub" the way esptool does; the simulator then is the stub. */
static void rig_start_stub(Rig *r) {
        uint32_t begin[4] = { 16, 1, 16, 0x40080000 };
        uint32_t end[2] = { 0, 0x40080000 };
        uint8_t code[16] = { 1 };

        assert(rig_request(r, 0x05, begin, sizeof(begin), 0) == 0);
        assert(rig_block(r, 0x07, 0, code, sizeof(code), false) == 0);
        (void) rig_request(r, 0x06, end, sizeof(end), 0);
        assert(r->l.stub);
}

static void md5_hex(const void *data, size_t n, char out[33]) {
        _cleanup_(sim_digest_freep) SimDigest *d = NULL;
        uint8_t digest[SIM_DIGEST_MAX];

        assert(sim_digest_new(SIM_DIGEST_MD5, &d) == 0);
        assert(sim_digest_update(d, data, n) == 0);
        assert(sim_digest_final(d, digest) == 16);
        sim_hex(digest, 16, out);
}

static void flash_md5(Rig *r, uint32_t addr, uint32_t len, char out[33]) {
        uint8_t digest[SIM_DIGEST_MAX];

        assert(sim_digest_flash(SIM_DIGEST_MD5, r->flash, addr, len, digest) == 16);
        sim_hex(digest, 16, out);
}

/* ---- the probe files ------------------------------------------------------ */

typedef struct SectorMd5 {
        uint32_t addr;
        char md5[33];
} SectorMd5;

/* The per-sector MD5s a probe recorded after the step whose heading contains
 * `step` ("  -- after <step>: SPI_FLASH_MD5 per 4 KiB sector ..."). */
static size_t probe_sectors(const char *probe, const char *step, SectorMd5 *out, size_t max) {
        char path[512], line[512], heading[128];
        FILE *f;
        bool in = false;
        size_t n = 0;

        snprintf(path, sizeof(path), "%s/%s", traces_dir, probe);
        f = fopen(path, "re");
        if (!f) {
                fprintf(stderr, "cannot open %s\n", path);
                abort();
        }
        snprintf(heading, sizeof(heading), "-- after %s: SPI_FLASH_MD5", step);
        while (fgets(line, sizeof(line), f)) {
                unsigned addr;
                char md5[33];

                if (strstr(line, heading)) {
                        in = true;
                        continue;
                }
                if (!in)
                        continue;
                if (sscanf(line, " 0x%x %32s", &addr, md5) != 2 || strlen(md5) != 32)
                        break;
                assert(n < max);
                out[n].addr = addr;
                memcpy(out[n].md5, md5, 33);
                n++;
        }
        fclose(f);
        assert(n > 0);
        return n;
}

/* Every recorded sector in [from, to) must hold what the probe saw. */
static void expect_probe(Rig *r, const char *probe, const char *step, uint32_t from, uint32_t to) {
        SectorMd5 s[64];
        size_t n = probe_sectors(probe, step, s, ELEMENTSOF(s));
        size_t checked = 0;

        for (size_t i = 0; i < n; i++) {
                char got[33];

                if (s[i].addr < from || s[i].addr >= to)
                        continue;
                flash_md5(r, s[i].addr, 0x1000, got);
                if (strcmp(got, s[i].md5) != 0) {
                        fprintf(stderr, "%s, after %s: sector 0x%x has %s, the probe saw %s\n",
                                probe, step, s[i].addr, got, s[i].md5);
                        abort();
                }
                checked++;
        }
        assert(checked > 0);
}

/* ---- behaviour 1: the compressed-write spill ------------------------------ */

static void fill_random(uint8_t *p, size_t n, unsigned seed) {
        srandom(seed);
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t) random();
}

/* The probe's texts: "STALE-%05x|" and "Q64K-%06x|" at every 12th byte. */
static void fill_text(uint8_t *p, size_t n, bool q64k) {
        char item[16];

        for (size_t i = 0; i < n; i += 12) {
                if (q64k)
                        snprintf(item, sizeof(item), "Q64K-%06zx|", i);
                else
                        snprintf(item, sizeof(item), "STALE-%05zx|", i);
                memcpy(p + i, item, MIN((size_t) 12, n - i));
        }
}

/* esp32-rom-defl-spill-probe and its ESP32-C3 and stub twins: the same
 * sequence on each loader, compared sector by sector with what was recorded. */
static void test_spill_probe(const char *chip, bool stub, const char *probe) {
        static uint8_t a5[0x10000], rnd4k[0x1000], stale[0x8000], pt[0xc00], boot[0x6800], q64k[0x10000];
        bool spills = !stub && sim_chip_from_name(chip)->rom_defl_spills;
        uint8_t buf[0x1800];
        char got[33], want[33];
        Rig r;

        printf("spill probe %s (%s)\n", probe, spills ? "spills" : "does not spill");
        rig_init(&r, chip);
        if (stub)
                rig_start_stub(&r);
        assert(rig_request(&r, 0x0b, (uint32_t[6]) { 0, 4U << 20, 0x10000, 0x1000, 0x100, 0xffff }, 24, 0) >> 8 == 0);

        /* 1. pre-fill with 0xA5 */
        memset(a5, 0xA5, sizeof(a5));
        write_plain(&r, 0x10000, a5, sizeof(a5));
        expect_probe(&r, probe, "pre-fill", 0, UINT32_MAX);

        /* 2. uncompressed 4 KiB (random: the probe does not give it) */
        fill_random(rnd4k, sizeof(rnd4k), 2);
        write_plain(&r, 0x10000, rnd4k, sizeof(rnd4k));
        expect_probe(&r, probe, "uncompressed 4 KiB write", 0x11000, UINT32_MAX);

        /* 3. 32 KiB of text, compressed, at 0x40000 */
        fill_text(stale, sizeof(stale), false);
        write_defl(&r, 0x40000, stale, sizeof(stale));
        expect_probe(&r, probe, "compressed 32 KiB write", 0, UINT32_MAX);

        /* 4. 4 KiB compressed over the 0xA5 pattern: its own sector is ours,
         * the next seven are the probe's (stale buffer AND 0xA5, or 0xA5). */
        fill_random(rnd4k, sizeof(rnd4k), 4);
        write_defl(&r, 0x10000, rnd4k, sizeof(rnd4k));
        flash_md5(&r, 0x10000, 0x1000, got);
        md5_hex(rnd4k, sizeof(rnd4k), want);
        assert(strcmp(got, want) == 0);
        expect_probe(&r, probe, "compressed 4 KiB write", 0x11000, UINT32_MAX);

        /* 5. a partition table, then 26 KiB compressed at 0x1000 (our own data:
         * the e2e replay of esptool's run covers the traced bytes) */
        fill_random(pt, sizeof(pt), 5);
        fill_random(boot, sizeof(boot), 6);
        write_plain(&r, 0x8000, pt, sizeof(pt));
        write_defl(&r, 0x1000, boot, sizeof(boot));
        flash_md5(&r, 0x1000, sizeof(boot), got);
        md5_hex(boot, sizeof(boot), want);
        assert(strcmp(got, want) == 0);
        sim_flash_read(r.flash, 0x7800, buf, sizeof(buf));
        for (size_t i = 0; i < sizeof(buf); i++) {
                /* 0x7800.. erased at FLASH_DEFL_BEGIN, 0x8000.. the table, 0x8c00.. erased */
                uint8_t before = i >= 0x800 && i < 0x800 + sizeof(pt) ? pt[i - 0x800] : 0xFF;
                uint8_t expect = spills ? before & stale[0x6800 + i] : before;

                if (buf[i] != expect) {
                        fprintf(stderr, "0x%zx: 0x%02x, expected 0x%02x\n", 0x7800 + i, buf[i], expect);
                        abort();
                }
        }
        expect_probe(&r, probe, "compressed 26 KiB write", 0x9000, UINT32_MAX);

        /* 6. 64 KiB of text, compressed, at 0x20000 */
        fill_text(q64k, sizeof(q64k), true);
        write_defl(&r, 0x20000, q64k, sizeof(q64k));
        expect_probe(&r, probe, "compressed 64 KiB write", 0, UINT32_MAX);

        rig_done(&r);
}

/* ---- behaviours 2 and 3: errors in a stream, and the status they leave --- */

#define MAX_LINES 1024

typedef struct Probe {
        char *lines[MAX_LINES];
        size_t n;
} Probe;

static void probe_load(Probe *p, const char *name) {
        char path[512], line[4096];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", traces_dir, name);
        f = fopen(path, "re");
        assert(f);
        *p = (Probe) {};
        while (fgets(line, sizeof(line), f)) {
                assert(p->n < MAX_LINES);
                line[strcspn(line, "\n")] = 0;
                p->lines[p->n] = strdup(line);
                assert(p->lines[p->n]);
                p->n++;
        }
        fclose(f);
}

static void probe_free(Probe *p) {
        for (size_t i = 0; i < p->n; i++)
                free(p->lines[i]);
}

static size_t unhex(const char *s, uint8_t *out, size_t max) {
        size_t n = 0;

        while (n < max && s[0] && s[1] && sscanf(s, "%2hhx", &out[n]) == 1) {
                n++;
                s += 2;
        }
        return n;
}

/* One request line: "> DESC (0xOP) len=N chk=0xCC: HEX[...(M bytes)]". */
typedef struct ProbeRequest {
        char desc[128];
        uint8_t op;
        uint8_t frame[64];
        size_t shown;           /* bytes of the frame the line shows */
        bool truncated;
} ProbeRequest;

static bool probe_parse_request(const char *line, ProbeRequest *ret) {
        const char *len = strstr(line, ") len="), *colon, *open;
        unsigned op;

        if (strncmp(line, "> ", 2) != 0 || !len)
                return false;
        open = len;
        while (open > line && *open != '(')
                open--;
        assert(sscanf(open, "(0x%2x)", &op) == 1);
        *ret = (ProbeRequest) { .op = (uint8_t) op };
        snprintf(ret->desc, sizeof(ret->desc), "%.*s", (int) (open - 1 - (line + 2)), line + 2);
        colon = strstr(len, ": ");
        assert(colon);
        ret->shown = unhex(colon + 2, ret->frame, sizeof(ret->frame));
        ret->truncated = strstr(colon, "...") != NULL;
        return true;
}

/* The reply frame recorded on the line after a request, if any. */
static size_t probe_reply(const Probe *p, size_t i, uint8_t *out, size_t max) {
        const char *f;

        if (i >= p->n || strncmp(p->lines[i], "< ", 2) != 0)
                return 0;
        f = strstr(p->lines[i], "frame=");
        return f ? unhex(f + 6, out, max) : 0;
}

/* A data block's index in the probe's stream, found by its first data bytes
 * among the lines that send block N as "... seq N" and nothing else. */
static int probe_block_index(const Probe *p, const ProbeRequest *req) {
        for (size_t i = 0; i < p->n; i++) {
                ProbeRequest o;
                char want[64];
                unsigned seq;

                if (!probe_parse_request(p->lines[i], &o) || o.op != req->op)
                        continue;
                if (sscanf(o.desc, "%*s seq %u", &seq) != 1)
                        continue;
                snprintf(want, sizeof(want), "%s seq %u", req->op == 0x11 ? "FLASH_DEFL_DATA" : "FLASH_DATA", seq);
                if (strcmp(o.desc, want) != 0)
                        continue;
                if (o.shown > 24 && req->shown > 24 &&
                    memcmp(o.frame + 24, req->frame + 24, MIN(o.shown, req->shown) - 24) == 0)
                        return (int) seq;
        }
        return -1;
}

/* esp32-rom-defl-error-probe and its ESP32-C3 twin: every request the probe
 * sent, with our own 4 KiB of random data where the probe's is cut short
 * (both compress to a single stored deflate block of 4107 bytes, 5 blocks),
 * and every reply compared with the recorded frame: header, value and both
 * status bytes, so the error code successful replies carry after an error is
 * checked too (the two stale bytes after them hold digits of the data's MD5,
 * which differ). MD5 replies are checked against what the probe says
 * the flash held: erased, the data, or block 0, 2, 3 and an erased KiB. */
static void test_error_probe(const char *chip, const char *name) {
        static uint8_t data[0x1000];
        _cleanup_free_ uint8_t *z = NULL;
        size_t zn, md5s = 0, compared = 0;
        char erased[33];
        Probe p;
        Rig r;

        printf("error probe %s\n", name);
        memset(data, 0xFF, sizeof(data));
        md5_hex(data, sizeof(data), erased);
        fill_random(data, sizeof(data), 11);
        zn = deflate_buf(data, sizeof(data), &z);
        assert(zn == 4107);

        probe_load(&p, name);
        rig_init(&r, chip);
        for (size_t i = 0; i < p.n; i++) {
                uint8_t expect[128], block[0x400 + 16];
                ProbeRequest req;
                size_t e;
                int st;

                if (strstr(p.lines[i], "-- chip reset")) {
                        sim_loader_reset(&r.l);
                        continue;
                }
                if (!probe_parse_request(p.lines[i], &req))
                        continue;

                if (req.op == 0x11 || req.op == 0x03) {
                        int k = probe_block_index(&p, &req);
                        const uint8_t *src;
                        size_t n;

                        if (k < 0)
                                k = (int) (req.frame[12] | req.frame[13] << 8);
                        if (req.op == 0x11) {
                                src = z + k * 0x400;
                                n = MIN((size_t) 0x400, zn - k * 0x400);
                        } else {
                                src = data + k * 0x400;
                                n = 0x400;
                        }
                        memset(block, 0, 16);
                        block[0] = (uint8_t) n;
                        block[1] = (uint8_t) (n >> 8);
                        memcpy(block + 4, req.frame + 12, 4);   /* the probe's sequence number */
                        memcpy(block + 16, src, n);
                        st = rig_request(&r, req.op, block, 16 + n,
                                         strstr(req.desc, "wrong checksum") ?
                                         (uint8_t) (checksum_of(src, n) ^ 0x5a) : checksum_of(src, n));
                } else {
                        assert(!req.truncated);
                        st = rig_request(&r, req.op, req.frame + 8, req.shown - 8, req.frame[4]);
                }

                e = probe_reply(&p, i + 1, expect, sizeof(expect));
                if (e == 0) {
                        assert(st == -1);
                        continue;
                }
                assert(st >= 0);
                if (req.op == 0x13 && memcmp(expect + 8, erased, 32) != 0) {
                        /* The data's MD5: the probe's note says which bytes. */
                        const char *note = p.lines[i + 2];
                        uint8_t hole[0x1000];
                        char want[33];

                        if (strstr(note, "-> MATCH"))
                                md5_hex(data, sizeof(data), want);
                        else {
                                assert(strstr(p.lines[i + 3], "block 0, blocks 2 and 3, then 1 KiB of 0xFF"));
                                memcpy(hole, data, 0x400);
                                memcpy(hole + 0x400, data + 0x800, 0x800);
                                memset(hole + 0xc00, 0xFF, 0x400);
                                md5_hex(hole, sizeof(hole), want);
                        }
                        memcpy(expect + 8, want, 32);
                        md5s++;
                } else if (req.op == 0x13)
                        md5s++;
                if (r.reply_len != e || memcmp(r.reply, expect, e - 2) != 0) {
                        fprintf(stderr, "%s line %zu (%s): got ", name, i + 1, req.desc);
                        for (size_t k = 0; k < r.reply_len; k++)
                                fprintf(stderr, "%02x", r.reply[k]);
                        fprintf(stderr, "\n%*s expected %s\n", (int) strlen(name) + 16, "",
                                strstr(p.lines[i + 1], "frame=") + 6);
                        abort();
                }
                compared++;
        }
        /* Sections A to D: six flash checks, and nothing left out. */
        assert(md5s == 6);
        assert(compared > 60);
        rig_done(&r);
        probe_free(&p);
}

/* ---- behaviour 4: CHANGE_BAUDRATE and the calibration registers ---------- */

static uint32_t rig_read_reg(Rig *r, uint32_t addr) {
        assert(rig_request(r, 0x0a, &addr, 4, 0) == 0);
        return r->reply[4] | r->reply[5] << 8 | r->reply[6] << 16 | (uint32_t) r->reply[7] << 24;
}

/* esp32-rom-change-baud-probe, byte for byte, on a chip with the emulator's
 * unprogrammed eFuse: registers, CHANGE_BAUDRATE(921600) answered and
 * UART_CLKDIV 0x30001c after it, CHANGE_BAUDRATE(0) never answered and
 * nothing after it until a reset. */
static void test_change_baud_probe(void) {
        const char *name = "esp32-rom-change-baud-probe.txt";
        size_t compared = 0, silent = 0;
        Probe p;
        Rig r;

        printf("change-baud probe %s\n", name);
        probe_load(&p, name);
        rig_init(&r, "esp32");
        assert(sim_regs_write(&r.regs, 0x3ff5a010, 0) == 0);
        assert(sim_regs_write(&r.regs, 0x3ff5f06c, 0x00028000) == 0);
        for (size_t i = 0; i < p.n; i++) {
                uint8_t expect[128];
                ProbeRequest req;
                size_t e;
                int st;

                if (strstr(p.lines[i], "after a chip reset")) {
                        sim_loader_reset(&r.l);
                        continue;
                }
                if (!probe_parse_request(p.lines[i], &req))
                        continue;
                assert(!req.truncated);
                st = rig_request(&r, req.op, req.frame + 8, req.shown - 8, req.frame[4]);
                e = probe_reply(&p, i + 1, expect, sizeof(expect));
                if (e == 0) {
                        assert(strstr(p.lines[i + 1], "no reply"));
                        assert(st == -1);
                        silent++;
                        continue;
                }
                assert(st >= 0 && r.reply_len == e && memcmp(r.reply, expect, e) == 0);
                if (req.op == 0x0f)
                        assert(r.baud == 921600);
                compared++;
        }
        assert(r.dead);
        assert(silent == 2 && compared >= 8);
        rig_done(&r);
        probe_free(&p);
}

/* What esptool 5.3 does before CHANGE_BAUDRATE on the ESP32 ROM (trace
 * README), against the chip's own calibration: the argument comes out near
 * the requested rate, and the UART then runs within a UART's tolerance of
 * it. An unscaled request misses by more than that. */
static void test_change_baud_calibrated(uint32_t baud) {
        uint32_t cali, efuse, arg, clkdiv;
        uint64_t measured, assumed;
        Rig r;

        rig_init(&r, "esp32");
        cali = rig_read_reg(&r, 0x3ff5f06c);
        efuse = rig_read_reg(&r, 0x3ff5a010);
        measured = (uint64_t) ((cali >> 7) & 0x1FFFFFF) * 15625 * (efuse & 0xFF) / 40;
        assumed = measured > 33000000 ? 40000000 : 26000000;
        arg = (uint32_t) ((uint64_t) baud * measured / assumed);
        printf("calibrated CHANGE_BAUDRATE for %u: RTCCALICFG1 0x%08x, eFuse 0x%08x, measured %" PRIu64
               " Hz, argument %u\n", baud, cali, efuse, measured, arg);
        assert(measured > 30000000 && assumed == 40000000);
        assert(arg > baud * 9 / 10 && arg < baud * 11 / 10);

        assert(rig_request(&r, 0x0f, (uint32_t[2]) { arg, 0 }, 8, 0) == 0);
        assert(!r.dead);
        printf("  UART at %u baud\n", r.baud);
        assert((uint64_t) r.baud * 1000 > (uint64_t) baud * 995 && (uint64_t) r.baud * 1000 < (uint64_t) baud * 1005);
        /* UART_CLKDIV holds the ROM's divider: measured clock x 16 / argument. */
        clkdiv = rig_read_reg(&r, 0x3ff40014);
        assert(((clkdiv & 0xFFFFF) << 4 | (clkdiv >> 20 & 0xF)) == measured * 16 / arg);
        rig_done(&r);

        /* The same rate asked for without the scaling. */
        rig_init(&r, "esp32");
        assert(rig_request(&r, 0x0f, (uint32_t[2]) { baud, 0 }, 8, 0) == 0);
        printf("  unscaled: UART at %u baud\n", r.baud);
        assert((uint64_t) r.baud * 1000 > (uint64_t) baud * 1025);
        rig_done(&r);
}

int main(int argc, char *argv[]) {
        assert(argc == 2);
        traces_dir = argv[1];

        test_spill_probe("esp32", false, "esp32-rom-defl-spill-probe.txt");
        test_spill_probe("esp32c3", false, "esp32c3-rom-defl-spill-probe.txt");
        test_spill_probe("esp32", true, "esp32-stub-defl-spill-probe.txt");
        test_error_probe("esp32", "esp32-rom-defl-error-probe.txt");
        test_error_probe("esp32c3", "esp32c3-rom-defl-error-probe.txt");
        test_change_baud_probe();
        test_change_baud_calibrated(921600);
        test_change_baud_calibrated(460800);
        test_change_baud_calibrated(115200);
        printf("test-sim-rom-probes: ok\n");
        return 0;
}
