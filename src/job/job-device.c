/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The worker's session with the device: connect (and optionally a stub),
 * verify by on-chip MD5, plan (regions or sectors), write what differs, prove
 * it, reset into the application. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flash-loader-choice.h"
#include "flash-plan.h"
#include "flash-sentinel.h"
#include "flash-stub.h"
#include "flash-write.h"
#include "job-internal.h"
#include "log.h"
#include "macro.h"

/* ---- the worker: the device -------------------------------------------------------- */

typedef struct WriteProgress {
        Job *job;
        uint64_t base;           /* bytes of earlier regions written */
        uint64_t total;          /* bytes to write in all */
        uint64_t last_posted;    /* cumulative bytes at the last post */
        uint64_t last_done;      /* region bytes at the previous callback */
        usec_t data_sent_at;     /* when the region's last block went out; 0 before */
        bool unverified;         /* no post-write MD5 follows */
        uint64_t erasing;        /* bytes the ROM is erasing before the first block, 0 if not */
} WriteProgress;

static int job_write_progress(uint64_t done, uint64_t total, void *userdata) {
        WriteProgress *w = userdata;
        uint64_t step = done >= w->last_done ? done - w->last_done : done;
        uint64_t cumulative = w->base + done;

        w->last_done = done;
        if (job_cancelled(w->job))
                return -ECANCELED;

        /* A block was acknowledged, so the erase before it is over; the write
         * starts where it would have without one. */
        if (w->erasing > 0) {
                job_progress(w->job, JOB_PHASE_ERASE, w->base + w->erasing, w->total);
                job_progress(w->job, JOB_PHASE_WRITE, w->base, w->total);
                w->erasing = 0;
        }

        if (done >= total) {
                /* What follows inside flash_write_region() is the MD5 check. */
                if (!w->unverified)
                        w->data_sent_at = now_usec();
                job_progress(w->job, w->unverified ? JOB_PHASE_WRITE : JOB_PHASE_POST_VERIFY,
                             cumulative, w->total);
                w->last_posted = cumulative;
        } else if (progress_due(w->last_posted, cumulative, step)) {
                job_progress(w->job, JOB_PHASE_WRITE, cumulative, w->total);
                w->last_posted = cumulative;
        }
        return 0;
}

/* The chip's stub from the first source that has a usable one (JobOptions):
 * parsed, and its segments inside the chip's RAM. A source that has none or a
 * broken one is logged and the next is asked; none at all: the ROM loader. */
static int job_find_stub(Job *j, EspLoader *l) {
        const EspChipInfo *chip = esp_loader_chip(l);
        _cleanup_(flash_stub_freep) FlashStub *stub = NULL;
        _cleanup_free_ char *origin = NULL;
        int r;

        if (j->stub || j->kind != JOB_KIND_DEPLOY || j->options.loader == JOB_LOADER_ROM || !chip ||
            esp_loader_secure_download_mode(l))
                return 0;

        if (j->options.stub_json) {
                r = flash_stub_parse(j->options.stub_json, j->options.stub_json_len, &stub);
                if (r >= 0)
                        r = flash_stub_check_chip(stub, chip->id);
                if (r >= 0)
                        origin = strdup("the caller's toolchain");
                else {
                        log_warning_errno(r, "%s: the flasher stub passed for %s is not usable (%s), looking elsewhere: %m",
                                          ESC(j->port), chip->name,
                                          r == -ERANGE ? "its code lies outside the chip's RAM" : "not an esptool stub");
                        stub = flash_stub_free(stub);
                }
        }
        if (!stub && j->options.stub_dir) {
                r = flash_stub_load(j->options.stub_dir, chip->name, &stub);
                if (r >= 0)
                        r = flash_stub_check_chip(stub, chip->id);
                if (r >= 0) {
                        if (asprintf(&origin, "%s/%s.json", j->options.stub_dir, chip->name) < 0)
                                origin = NULL;  /* only for the log */
                } else {
                        log_warning_errno(r, "%s: no usable flasher stub for %s in %s: %m", ESC(j->port),
                                          chip->name, j->options.stub_dir);
                        stub = flash_stub_free(stub);
                }
        }
        if (!stub && j->options.stub_search && j->options.stub_search[0]) {
                r = flash_stub_find(j->options.stub_search, chip->name, &stub, &origin);
                if (r >= 0)
                        r = flash_stub_check_chip(stub, chip->id);
                if (r < 0 && r != -ENOENT)
                        log_warning_errno(r, "%s: the flasher stub for %s in the search path is not usable: %m",
                                          ESC(j->port), chip->name);
                if (r < 0)
                        stub = flash_stub_free(stub);
        }
        if (!stub) {
                log_debug("%s: no flasher stub for %s, the ROM loader serves (search %s).", j->port, chip->name, strna(j->options.stub_search));
                return 0;
        }
        log_debug("%s: flasher stub for %s from %s (%zu bytes).", j->port, chip->name, strna(origin),
                  stub->image.text_len + stub->image.data_len);
        j->stub = TAKE_PTR(stub);
        j->stub_origin = TAKE_PTR(origin);
        return 0;
}

static int job_raise_baud_and_attach(Job *j, EspLoader *l, Transport *t);

/* Starts the stub found (a stub that failed is not tried again in this job,
 * after a link fallback either). One that does not greet or answer
 * leaves a chip that answers nothing until a reset: it is reset into its
 * bootloader, connected and attached again, and the job goes on with the ROM
 * loader (verify verdicts and plans stay valid: the upload only touched RAM). */
static int job_start_stub(Job *j, EspLoader *l, Transport *t) {
        usec_t started = now_usec();
        int r;

        if (!j->stub || j->stats.stub_failed || esp_loader_is_stub(l))
                return 0;

        r = esp_loader_run_stub(l, &j->stub->image);
        if (r >= 0) {
                log_debug("%s: flasher stub running after %" PRIu64 " ms at %" PRIu32 " baud.", j->port,
                          (uint64_t) ((now_usec() - started) / USEC_PER_MSEC), t->baud);
                return 0;
        }
        if (r == -ECANCELED || r == -ENODEV)
                return job_fail(j, r, "cannot start the flasher stub");

        log_warning_errno(r, "%s: the flasher stub from %s did not run (%m), going on with the ROM loader",
                          ESC(j->port), strna(j->stub_origin));
        j->stats.stub_failed = true;
        r = transport_set_baud(t, JOB_CONNECT_BAUD);
        if (r < 0)
                return job_fail(j, r, "cannot go back to %u baud", JOB_CONNECT_BAUD);
        r = esp_loader_connect(l, j->options.reset_before, JOB_CONNECT_ATTEMPTS);
        if (r < 0)
                return job_fail(j, r, "cannot reconnect to the bootloader after the flasher stub failed");
        return job_raise_baud_and_attach(j, l, t);
}

/* Whether the stub pays for writing runs (JOB_LOADER_AUTO), and if so starts it.
 * erased (may be NULL): flash the ROM would write without erasing. */
static int job_consider_stub(Job *j, EspLoader *l, Transport *t, const FlashRun *runs, size_t n,
                             const FlashRanges *erased) {
        uint32_t window = 0;
        uint64_t bytes;

        if (j->options.loader != JOB_LOADER_AUTO || !j->stub || j->stats.stub_failed || esp_loader_is_stub(l))
                return 0;
        if (!esp_loader_defl_spill(l, &window))
                window = 0;
        bytes = j->stub->image.text_len + j->stub->image.data_len;
        if (!flash_stub_pays(esp_loader_uses_usb_jtag(l) ? 0 : j->link_baud, j->rtt_usec, window,
                             esp_loader_can_skip_erase(l) ? erased : NULL, bytes, runs, n))
                return 0;
        log_debug("%s: the flasher stub pays for %zu run(s): starting it.", j->port, n);
        return job_start_stub(j, l, t);
}

static int job_raise_baud(Job *j, EspLoader *l, Transport *t) {
        int r;

        /* After a fallback the link stays at the rate that works. */
        if (j->options.baud == 0 || j->options.baud == t->baud || j->stats.baud_fallback)
                return 0;

        r = esp_loader_change_baud(l, j->options.baud);
        if (r == -ECANCELED || r == -ENODEV)
                return job_fail(j, r, "cannot change the baud rate");
        /* The chip switched and answers at neither rate: a reset (the
         * link fallback) brings it back. */
        if (r < 0 && esp_loader_baud_raised(l))
                return job_fail(j, r, "lost the link after switching to %" PRIu32 " baud",
                                j->options.baud);
        /* The loader is back at the old rate: slower, but it works. */
        if (r < 0)
                log_warning_errno(r, "%s: cannot switch to %" PRIu32 " baud, staying at %" PRIu32 ": %m",
                                  j->port, j->options.baud, t->baud);
        return 0;
}

/* The fast rate first, then the flash attach and its dozen SPI register round
 * trips at that rate. */
static int job_raise_baud_and_attach(Job *j, EspLoader *l, Transport *t) {
        int r;

        r = job_raise_baud(j, l, t);
        if (r < 0)
                return r;
        j->link_baud = t->baud;
        r = esp_loader_attach_flash(l, 0);
        if (r < 0)
                return job_fail(j, r, "cannot attach the SPI flash");
        return 0;
}

/* The image hash left for later (not hash_first), while the reset holds
 * the chip: the host would only sleep there. */
static void job_hash_in_hold(void *userdata) {
        Job *j = userdata;

        j->hash_error = job_hash(j, false);
}

static int job_connect(Job *j, EspLoader *l, Transport *t) {
        const EspChipInfo *chip;
        uint32_t flash_size;
        int r;

        /* Not after a link fallback: that session asks everything afresh,
         * at the rate that works. */
        esp_loader_set_known(l, j->stats.baud_fallback ? NULL : &j->known);
        esp_loader_set_fast_baud(l, j->stats.baud_fallback ? 0 : j->options.baud);
        esp_loader_set_uart_link(l, j->options.uart_link);
        if (!j->img->hash_valid && j->hash_error == 0)
                esp_loader_set_hold_work(l, job_hash_in_hold, j);
        r = esp_loader_connect(l, j->options.reset_before, JOB_CONNECT_ATTEMPTS);
        esp_loader_set_hold_work(l, NULL, NULL);
        /* Its failure has its own words (job_hash()), whatever the connect did. */
        if (j->hash_error < 0)
                return j->hash_error;
        if (r < 0)
                return job_fail(j, r, "cannot connect to the bootloader on %s (reset %s)", j->port,
                                strna(esp_reset_strategy_to_string(j->options.reset_before)));
        /* No reset held the chip (or none at all): now, before anything is proven. */
        r = job_hash(j, false);
        if (r < 0)
                return r;

        chip = esp_loader_chip(l);
        j->stats.chip = chip ? chip->name : NULL;
        if (j->options.chip && (!chip || chip->id != j->options.chip->id))
                return job_refuse(j, -ENXIO, "found %s, but %s was requested",
                                chip ? chip->name : "an unknown chip", j->options.chip->name);

        /* The rate goes up before the flash attach and its dozen SPI register
         * round trips, and before any stub upload: the stub keeps the UART
         * divider the ROM set, so it is uploaded and answers at the fast rate. */
        r = job_raise_baud_and_attach(j, l, t);
        if (r < 0)
                return r;
        flash_size = esp_loader_flash_size(l);
        j->stats.flash_size = flash_size;
        j->used_known = j->used_known || esp_loader_used_known(l);
        if (esp_loader_facts(l, &j->learned) < 0)
                j->learned = (EspLoaderFacts) {};

        /* The second of the two flash size checks (the first at submit, against
         * what the last connect on the port learnt). */
        r = image_check_flash_size(j->img, flash_size);
        if (r < 0)
                return job_refuse(j, r, "a region %s (%" PRIu32 " KiB)", image_rule_strerror(r),
                                  flash_size / 1024);

        r = job_find_stub(j, l);
        if (r < 0)
                return r;
        /* "stub": as esptool, before anything else; "auto" waits for the cost model. */
        if (j->options.loader == JOB_LOADER_STUB) {
                r = job_start_stub(j, l, t);
                if (r < 0)
                        return r;
        }

        log_info("%s: connected to %s, %" PRIu32 " KiB flash, %" PRIu32 " baud%s", ESC(j->port),
                 chip ? chip->description : "?", flash_size / 1024, t->baud,
                 esp_loader_secure_download_mode(l) ? ", secure download mode" : "");
        return 0;
}

/* The round trip the sector planner's cost model needs: an MD5 request's time
 * minus what the model says its hashing and wire bytes take; the smallest
 * seen (the least disturbed), and not capped by the default, which only
 * stands in until the first exchange. */
static void job_measure_rtt(Job *j, EspLoader *l, uint64_t len, usec_t elapsed) {
        FlashCostModel m;
        usec_t rtt;

        flash_cost_model_init(&m, esp_loader_uses_usb_jtag(l) ? 0 : j->link_baud, 0,
                              esp_loader_is_stub(l));
        rtt = flash_cost_rtt_of(&m, len, elapsed);
        j->rtt_usec = j->rtt_measured ? MIN(j->rtt_usec, rtt) : rtt;
        j->rtt_measured = true;
}

/* A device MD5 of [offset, offset + size) that is the MD5 of 0xFF bytes
 * proves the range erased (as any MD5 verdict proves: short of a collision). */
static int job_note_device_md5(Job *j, uint32_t offset, uint32_t size, const uint8_t device_md5[16]) {
        int r;

        r = flash_md5_is_erased(device_md5, size);
        if (r <= 0)
                return r;
        return flash_ranges_add(&j->erased, offset, (uint64_t) offset + size);
}

/* Whether the chip holds data at [offset, offset + size): from the image alone
 * inside flash this session proved erased (no request: the earlier MD5 said
 * all there is), else by the chip's MD5, which may prove more flash erased.
 * also (may be NULL): host work run once meanwhile (flash_verify_region_also()). */
static int job_probe(Job *j, EspLoader *l, uint32_t offset, const uint8_t *data, uint32_t size,
                     EspLoaderWorkFn also, void *also_userdata, bool *ret_match) {
        uint8_t device[16];
        int r;

        if (flash_ranges_covers(&j->erased, offset, (uint64_t) offset + size)) {
                bool all_ff = true;

                for (uint32_t i = 0; i < size && all_ff; i++)
                        all_ff = data[i] == 0xff;
                *ret_match = all_ff;
                if (also)
                        also(also_userdata);
                return 0;
        }
        r = flash_verify_region_also(l, offset, data, size, also, also_userdata, ret_match, device);
        if (r < 0 || *ret_match)
                return r;   /* a match holds the image, which says what is erased */
        return job_note_device_md5(j, offset, size, device);
}

/* What verify has shown must be written, at the least: one sector in every
 * 64 KiB block (or region verified whole) of regions[0, upto) whose MD5
 * differed, or with region granularity the whole region. Enough evidence for
 * a cold deploy to start the stub after a few blocks, and never enough to
 * start it for one changed sector. */
static int job_consider_stub_in_verify(Job *j, EspLoader *l, Transport *t, size_t upto) {
        _cleanup_free_ FlashRun *runs = NULL;
        size_t n = 0, cap = 0;

        if (j->options.loader != JOB_LOADER_AUTO || !j->stub || j->stats.stub_failed || esp_loader_is_stub(l))
                return 0;
        for (size_t i = 0; i < upto; i++)
                cap += j->blocks[i].changed ? j->blocks[i].n : 1;
        runs = calloc(MAX(cap, (size_t) 1), sizeof(FlashRun));
        if (!runs)
                return -ENOMEM;

        for (size_t i = 0; i < upto; i++) {
                const ImageRegion *reg = &j->img->regions[i];

                if (j->blocks[i].changed) {
                        for (size_t b = 0; b < j->blocks[i].n; b++) {
                                uint32_t off, size;

                                if (!j->blocks[i].changed[b])
                                        continue;
                                flash_plan_block_range(reg->offset, (uint32_t) reg->size, b, &off, &size);
                                runs[n++] = (FlashRun) { .offset = off, .size = MIN(size, FLASH_PLAN_SECTOR_SIZE) };
                        }
                } else if (!j->results[i].matched)
                        /* region granularity writes it whole; the planner may narrow it to a sector */
                        runs[n++] = (FlashRun) {
                                .offset = reg->offset,
                                .size = j->options.granularity == JOB_GRANULARITY_REGION ? (uint32_t) reg->size :
                                        (uint32_t) MIN(reg->size, (uint64_t) FLASH_PLAN_SECTOR_SIZE),
                        };
        }
        /* One sector per block is the least that will be written; its erase
         * stays in the ROM's cost (not what is proven erased) as a stand-in
         * for the rest of the block, most of which a cold write writes too. */
        return job_consider_stub(j, l, t, runs, n, NULL);
}

/* What an earlier job proved the device held at this region's place: 1 the
 * region's own bytes, 0 other bytes, -ENOENT nothing known. */
static int job_known_content(Job *j, const ImageRegion *reg) {
        uint8_t md5[16];
        int r;

        for (size_t i = 0; i < j->n_known_content; i++) {
                const JobKnownRegion *k = &j->known_content[i];

                if (k->offset != reg->offset || k->size != reg->size)
                        continue;
                r = flash_md5(reg->data, reg->size, md5);
                if (r < 0)
                        return r;
                return memcmp(md5, k->md5, sizeof(md5)) == 0;
        }
        return -ENOENT;
}

/* How a sector deploy verifies a region of several 64 KiB blocks: in how many
 * pieces. One MD5 of the whole region is what region granularity asks, and all
 * an unchanged region needs; but a changed one is then hashed a second time,
 * block by block, for the planner (on the ROM 0.5 s for 1 MB). Block by block
 * from the start hashes it once, for a round trip more per block. So a region
 * known to differ goes block by block: what this service last proved the device
 * held there is other bytes (job_known_content), or, with nothing known, an ESP
 * image's appended SHA-256 (flash-sentinel.h) differs on the chip, for one
 * small MD5; a region known the same, or an image whose digest matched, is
 * hashed whole. The rest (a data partition) in as many pieces as the cost
 * model finds cheapest (flash_plan_verify_split()). */
static int job_verify_pieces(Job *j, EspLoader *l, const ImageRegion *reg, size_t *ret) {
        size_t n_blocks = flash_plan_n_blocks(reg->offset, (uint32_t) reg->size);
        FlashCostModel m;
        uint32_t at;
        bool match = false;
        usec_t started;
        int r;

        *ret = 1;
        if (j->kind != JOB_KIND_DEPLOY || j->options.granularity != JOB_GRANULARITY_SECTOR ||
            n_blocks <= 1)
                return 0;
        /* This service proved what the device held here: if that is not this
         * region, the region changed (a data partition too, which has no
         * digest); if it is, the region's one MD5 will most likely match. */
        r = job_known_content(j, reg);
        if (r >= 0) {
                log_debug("%s: region at 0x%" PRIx32 " %s what the device was last proven to hold",
                          j->port, reg->offset, r == 0 ? "differs from" : "is");
                *ret = r == 0 ? n_blocks : 1;
                return 0;
        }
        if (r != -ENOENT)
                return r;
        flash_cost_model_init(&m, esp_loader_uses_usb_jtag(l) ? 0 : j->link_baud, j->rtt_usec,
                              esp_loader_is_stub(l));
        if (!flash_sentinel_find(reg->data, reg->size, &at)) {
                *ret = flash_plan_verify_split(&m, reg->offset, (uint32_t) reg->size);
                log_debug("%s: region at 0x%" PRIx32 ": hashed in %zu piece(s) of %zu block(s), rtt %" PRIu64 " us",
                          j->port, reg->offset, *ret, n_blocks, j->rtt_usec);
                return 0;
        }
        /* The probe pays if one deploy in eight changes the image (a rebuild
         * changes its digest) and it then saves hashing the region again. */
        if (flash_cost_probe(&m, FLASH_SENTINEL_SIZE) * FLASH_PLAN_CHANGE_ODDS >= flash_cost_probe(&m, reg->size))
                return 0;

        started = now_usec();
        r = flash_verify_region(l, reg->offset + at, reg->data + at, FLASH_SENTINEL_SIZE, &match, NULL);
        if (r < 0)
                return r;
        job_measure_rtt(j, l, FLASH_SENTINEL_SIZE, now_usec() - started);
        log_debug("%s: region at 0x%" PRIx32 ": the image's digest %s on the device", j->port,
                  reg->offset, match ? "is" : "is not");
        *ret = match ? 1 : n_blocks;
        return 0;
}

/* One MD5 of the region's blocks [first, end); the round trip measured. */
static int job_verify_range(Job *j, EspLoader *l, const ImageRegion *reg, size_t first, size_t end,
                            EspLoaderWorkFn also, void *also_userdata, bool *ret_match) {
        uint32_t off, size, last_off, last_size;
        usec_t started = now_usec();
        bool local;
        int r;

        if (job_cancelled(j))
                return -ECANCELED;
        flash_plan_block_range(reg->offset, (uint32_t) reg->size, first, &off, &size);
        flash_plan_block_range(reg->offset, (uint32_t) reg->size, end - 1, &last_off, &last_size);
        size = last_off + last_size - off;
        local = flash_ranges_covers(&j->erased, off, (uint64_t) off + size);
        r = job_probe(j, l, off, reg->data + (off - reg->offset), size, also, also_userdata, ret_match);
        if (r < 0)
                return r;
        if (!local)     /* answered from the image: no round trip to measure */
                job_measure_rtt(j, l, size, now_usec() - started);
        return 0;
}

/* The image's MD5 of a whole region: what the device holds there if every
 * piece matches. */
typedef struct JobRegionDigest {
        const ImageRegion *reg;
        uint8_t md5[16];
        int r;
        bool done;
} JobRegionDigest;

static void job_region_digest(void *userdata) {
        JobRegionDigest *d = userdata;

        d->r = flash_md5(d->reg->data, d->reg->size, d->md5);
        d->done = true;
}

/* The region's block verdicts for the planner, from its MD5 in `pieces` pieces;
 * the blocks of a piece that differs are hashed one by one, the last one
 * inferred changed when the others matched. */
static int job_verify_blocks(Job *j, EspLoader *l, Transport *t, size_t i, size_t pieces, bool *ret_match) {
        const ImageRegion *reg = &j->img->regions[i];
        JobBlockVerdicts *v = &j->blocks[i];
        JobRegionDigest whole = { .reg = reg };
        bool all = true;
        int r;

        v->n = flash_plan_n_blocks(reg->offset, (uint32_t) reg->size);
        v->changed = calloc(v->n, sizeof(bool));
        if (!v->changed)
                return -ENOMEM;

        for (size_t p = 0; p < pieces; p++) {
                size_t first, end;
                bool match = false, others_match = true;

                flash_plan_piece_blocks(v->n, pieces, p, &first, &end);
                /* The region's own MD5 while the chip hashes the first piece,
                 * not after the last one, for the verdict that all matched. */
                r = job_verify_range(j, l, reg, first, end, p == 0 ? job_region_digest : NULL, &whole, &match);
                if (r < 0)
                        return r;
                all = all && match;
                for (size_t b = first; !match && b < end; b++) {
                        bool block_match = false;

                        /* The piece differs: if its other blocks matched, this one is it. */
                        if (b + 1 == end && others_match) {
                                v->changed[b] = true;
                                break;
                        }
                        r = job_verify_range(j, l, reg, b, b + 1, NULL, NULL, &block_match);
                        if (r < 0)
                                return r;
                        v->changed[b] = !block_match;
                        others_match = others_match && block_match;
                }
                if (!match) {
                        r = job_consider_stub_in_verify(j, l, t, i + 1);
                        if (r < 0)
                                return r;
                }
        }

        /* Every block matched, so the region's MD5 is the image's. */
        if (all) {
                if (!whole.done)
                        job_region_digest(&whole);
                if (whole.r < 0)
                        return whole.r;
                memcpy(j->results[i].device_md5, whole.md5, sizeof(whole.md5));
        }
        *ret_match = all;
        return 0;
}

/* Fills results[].matched; sets *ret_impossible if the chip cannot report MD5. */
static int job_verify(Job *j, EspLoader *l, Transport *t, bool *ret_impossible) {
        Image *img = j->img;
        uint64_t done = 0, total = job_image_total_bytes(img);
        int r;

        job_progress(j, JOB_PHASE_VERIFY, 0, total);

        /* Secure Download Mode refuses SPI_FLASH_MD5 (and reads) outright. */
        if (esp_loader_secure_download_mode(l)) {
                *ret_impossible = true;
                return 0;
        }

        for (size_t i = 0; i < img->n_regions; i++) {
                ImageRegion *reg = &img->regions[i];
                bool match = false;
                size_t pieces = 1;
                usec_t started;

                if (job_cancelled(j))
                        return -ECANCELED;
                r = job_verify_pieces(j, l, reg, &pieces);
                if (r >= 0 && pieces > 1)
                        r = job_verify_blocks(j, l, t, i, pieces, &match);
                else if (r >= 0) {
                        started = now_usec();
                        r = flash_verify_region(l, reg->offset, reg->data, reg->size, &match,
                                                j->results[i].device_md5);
                        if (r >= 0)
                                job_measure_rtt(j, l, reg->size, now_usec() - started);
                        if (r >= 0 && !match)
                                r = job_note_device_md5(j, reg->offset, (uint32_t) reg->size,
                                                        j->results[i].device_md5);
                }
                if (r == -EOPNOTSUPP) {
                        /* All or nothing: earlier verdicts do not make a plan. */
                        for (size_t k = 0; k < img->n_regions; k++)
                                j->results[k].matched = false;
                        *ret_impossible = true;
                        return 0;
                }
                if (r < 0)
                        return job_fail(j, r, "cannot verify the region at 0x%" PRIx32, reg->offset);
                j->results[i].matched = match;
                done += reg->size;
                job_progress(j, JOB_PHASE_VERIFY, done, total);
                if (!match && j->kind == JOB_KIND_DEPLOY) {
                        r = job_consider_stub_in_verify(j, l, t, i + 1);
                        if (r < 0)
                                return r;
                }
        }

        *ret_impossible = false;
        return 0;
}

/* What to write of one mismatched region: the region whole, or (sector
 * granularity) the runs the planner narrows it to by probing the chip. */
typedef struct JobRegionPlan {
        FlashRun *runs;
        size_t n_runs;
        FlashRanges matched;    /* what the planner's probes found equal */
} JobRegionPlan;

static void job_region_plans_free(JobRegionPlan *plans, size_t n) {
        for (size_t i = 0; plans && i < n; i++) {
                free(plans[i].runs);
                flash_ranges_done(&plans[i].matched);
        }
        free(plans);
}

static int job_plan_region(Job *j, EspLoader *l, const ImageRegion *reg,
                           const JobBlockVerdicts *blocks, bool unverifiable, JobRegionPlan *ret) {
        _cleanup_(flash_planner_freep) FlashPlanner *p = NULL;
        const FlashPlanStats *st;
        FlashCostModel m;
        uint32_t off, size;
        int r;

        /* Probing needs MD5, and a region of one sector has nothing to narrow. */
        if (j->options.granularity != JOB_GRANULARITY_SECTOR || unverifiable ||
            reg->size <= FLASH_PLAN_SECTOR_SIZE) {
                ret->runs = calloc(1, sizeof(FlashRun));
                if (!ret->runs)
                        return -ENOMEM;
                ret->runs[0] = (FlashRun) { .offset = reg->offset, .size = (uint32_t) reg->size };
                ret->n_runs = 1;
                return 0;
        }

        flash_cost_model_init(&m, esp_loader_uses_usb_jtag(l) ? 0 : j->link_baud, j->rtt_usec,
                              esp_loader_is_stub(l));
        /* the planner's writes cost no erase where the ROM need not erase */
        m.erased = esp_loader_can_skip_erase(l) ? &j->erased : NULL;
        r = flash_planner_new(&m, reg->offset, (uint32_t) reg->size, &p);
        if (r < 0)
                return r;
        if (blocks && blocks->changed) {
                r = flash_planner_seed_blocks(p, blocks->changed, blocks->n);
                if (r < 0)
                        return r;
        }

        while ((r = flash_planner_next(p, &off, &size)) > 0) {
                usec_t started = now_usec();
                bool match = false;

                if (job_cancelled(j))
                        return -ECANCELED;
                r = job_probe(j, l, off, reg->data + (off - reg->offset), size, NULL, NULL, &match);
                if (r < 0)
                        return job_fail(j, r, "cannot probe 0x%" PRIx32 "+0x%" PRIx32, off, size);
                job_measure_rtt(j, l, size, now_usec() - started);
                r = flash_planner_feed(p, !match);
                if (r < 0)
                        return r;
                if (match) {
                        r = flash_ranges_add(&ret->matched, off, (uint64_t) off + size);
                        if (r < 0)
                                return r;
                }
        }
        if (r < 0)
                return r;

        r = flash_planner_runs(p, &ret->runs, &ret->n_runs);
        if (r < 0)
                return r;

        st = flash_planner_stats(p);
        log_debug("%s: region at 0x%" PRIx32 ": %zu probe(s), %zu run(s)%s, rtt %" PRIu64 " us",
                  j->port, reg->offset, st->probes, ret->n_runs,
                  st->gave_up ? ", stopped probing early" : "", j->rtt_usec);
        return 0;
}

/* Whether a plan writes the region whole, so that its own MD5 check proves it. */
static bool job_plan_is_whole(const JobRegionPlan *p, const ImageRegion *reg) {
        return p->n_runs == 1 && p->runs[0].offset == reg->offset && p->runs[0].size == reg->size;
}

static int job_verify_touched_blocks(Job *j, EspLoader *l, const ImageRegion *reg,
                                     const JobRegionPlan *plan, bool *ret_match) {
        size_t n = flash_plan_n_blocks(reg->offset, (uint32_t) reg->size);
        int r;

        for (size_t b = 0; b < n; b++) {
                uint32_t off, size;
                bool touched = false, match = false;

                flash_plan_block_range(reg->offset, (uint32_t) reg->size, b, &off, &size);
                for (size_t k = 0; k < plan->n_runs && !touched; k++)
                        touched = plan->runs[k].offset < off + size &&
                                  off < plan->runs[k].offset + plan->runs[k].size;
                if (!touched)
                        continue;
                /* Its runs proven by their own MD5 and the rest by the
                 * planner's probes: hashing it again proves nothing new (what
                 * a write may have spilled past its run is job_prove_writes()'s). */
                r = flash_plan_block_proven(off, size, plan->runs, plan->n_runs, &plan->matched);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                if (job_cancelled(j))
                        return -ECANCELED;
                r = flash_verify_region(l, off, reg->data + (off - reg->offset), size, &match, NULL);
                if (r < 0)
                        return r;
                if (!match) {
                        *ret_match = false;
                        return 0;
                }
        }
        *ret_match = true;
        return 0;
}

static int job_add_written(Job *j, uint64_t offset, uint64_t size) {
        JobRange *w;

        w = reallocarray(j->written, j->n_written + 1, sizeof(JobRange));
        if (!w)
                return -ENOMEM;
        j->written = w;
        j->written[j->n_written++] = (JobRange) { .offset = offset, .size = size };
        return 0;
}

static int job_note_write(Job *j, EspLoader *l, uint32_t offset, uint32_t size);

/* One write with its MD5 proof (or without, unverifiable), timed into the stats. */
static int job_write_run(Job *j, EspLoader *l, const ImageRegion *reg, uint32_t offset, uint32_t size,
                         WriteProgress *w, bool unverifiable) {
        const uint8_t *data = reg->data + (offset - reg->offset);
        uint64_t fp_start = 0, fp_end = 0;
        usec_t started, ended;
        int r, k;

        /* The ROM erases the whole range before it answers FLASH_BEGIN (about
         * 3 s/MB) and tells nothing meanwhile: say so, instead of a write stuck at
         * its start. A stub erases as it writes. Bytes, counted as the write's. */
        w->erasing = esp_loader_is_stub(l) ? 0 : size;
        job_progress(j, w->erasing > 0 ? JOB_PHASE_ERASE : JOB_PHASE_WRITE, w->base, w->total);
        w->last_posted = w->base;
        w->last_done = 0;
        w->data_sent_at = 0;

        started = now_usec();
        if (unverifiable)
                r = flash_write_region_unverified(l, offset, data, size, job_write_progress, w);
        else
                r = flash_write_region_over(l, offset, data, size, &j->erased, job_write_progress, w, NULL);
        ended = now_usec();
        /* what it may have programmed holds 0xFF no more, whatever its outcome */
        k = flash_write_footprint(l, offset, size, &fp_start, &fp_end) ?
                flash_ranges_remove(&j->erased, fp_start, fp_end) : flash_ranges_remove(&j->erased, 0, UINT64_MAX);
        if (k < 0)
                return k;

        if (r == -ECANCELED || (r < 0 && job_cancelled(j)))
                return -ECANCELED;
        if (r < 0)
                return job_fail(j, r, "cannot write 0x%" PRIx32 "+0x%" PRIx32, offset, size);

        if (w->data_sent_at >= started && w->data_sent_at <= ended) {
                j->stats.write_usec += w->data_sent_at - started;
                j->stats.post_verify_usec += ended - w->data_sent_at;
        } else
                j->stats.write_usec += ended - started;

        w->base += size;
        if (!unverifiable) {
                r = job_note_write(j, l, offset, size);
                if (r < 0)
                        return r;
        }
        return job_add_written(j, offset, size);
}

/* What a write may have changed beyond what its own MD5 proved: the rest of
 * the sectors it erased (and, on a loader whose writes are unknown, anything). */
static int job_note_write(Job *j, EspLoader *l, uint32_t offset, uint32_t size) {
        uint64_t start = offset, end = (uint64_t) offset + size;
        int r;

        if (!flash_write_footprint(l, offset, size, &start, &end))
                j->footprint_unknown = true;
        r = flash_ranges_add(&j->unproven, start, end);
        if (r < 0)
                return r;
        return flash_ranges_remove(&j->unproven, offset, (uint64_t) offset + size);
}

/* The trust invariant: before a success every part of the image a write may
 * have programmed or erased is proven by MD5 (the whole image if a loader's
 * footprint is unknown). A part that no longer matches is written again, and
 * that repair is in `written` and the stats. */
static int job_prove_writes(Job *j, EspLoader *l, WriteProgress *w) {
        Image *img = j->img;
        unsigned repairs = 0;
        bool again = true;
        int r;

        if (j->footprint_unknown) {
                log_debug("%s: the loader's write footprint is unknown: proving the whole image", j->port);
                for (size_t i = 0; i < img->n_regions; i++) {
                        r = flash_ranges_add(&j->unproven, img->regions[i].offset,
                                             img->regions[i].offset + img->regions[i].size);
                        if (r < 0)
                                return r;
                }
        }

        while (again) {
                again = false;
                for (size_t i = 0; i < img->n_regions; i++) {
                        const ImageRegion *reg = &img->regions[i];
                        uint64_t reg_end = reg->offset + reg->size;
                        FlashRange piece;
                        bool match = false;

                        while ((r = flash_ranges_first_in(&j->unproven, reg->offset, reg_end, &piece)) > 0) {
                                uint64_t a, b;

                                if (job_cancelled(j))
                                        return -ECANCELED;
                                r = flash_verify_region(l, (uint32_t) piece.start,
                                                        reg->data + (piece.start - reg->offset),
                                                        piece.end - piece.start, &match, NULL);
                                if (r < 0)
                                        return job_fail(j, r, "cannot prove 0x%" PRIx64 "+0x%" PRIx64,
                                                        piece.start, piece.end - piece.start);
                                if (match) {
                                        r = flash_ranges_remove(&j->unproven, piece.start, piece.end);
                                        if (r < 0)
                                                return r;
                                        continue;
                                }
                                if (++repairs > JOB_PROOF_ROUNDS * img->n_regions)
                                        return job_refuse(j, -EIO, "0x%" PRIx64 "+0x%" PRIx64 " still differs after %u repairs",
                                                          piece.start, piece.end - piece.start, repairs - 1);

                                /* whole sectors, within the region */
                                a = MAX((uint64_t) reg->offset, piece.start / FLASH_PLAN_SECTOR_SIZE * FLASH_PLAN_SECTOR_SIZE);
                                b = MIN(reg_end, ALIGN_TO(piece.end, FLASH_PLAN_SECTOR_SIZE));
                                log_notice("%s: 0x%" PRIx64 "+0x%" PRIx64 " changed under a write, writing it again",
                                           j->port, a, b - a);
                                flash_ranges_done(&j->erased);   /* may be stale too */
                                w->total += b - a;
                                r = job_write_run(j, l, reg, (uint32_t) a, (uint32_t) (b - a), w, false);
                                if (r < 0)
                                        return r;
                                j->stats.repairs++;
                                again = true;
                        }
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int job_write(Job *j, EspLoader *l, Transport *t, bool unverifiable) {
        Image *img = j->img;
        WriteProgress w = { .job = j, .unverified = unverifiable };
        JobRegionPlan *plans;
        int r = 0;

        plans = calloc(img->n_regions, sizeof(JobRegionPlan));
        if (!plans)
                return -ENOMEM;

        /* Plan every region first, so that write progress knows its total. */
        for (size_t i = 0; i < img->n_regions && r >= 0; i++) {
                if (j->results[i].matched)
                        continue;
                r = job_plan_region(j, l, &img->regions[i], j->blocks ? &j->blocks[i] : NULL,
                                    unverifiable, &plans[i]);
                for (size_t k = 0; r >= 0 && k < plans[i].n_runs; k++)
                        w.total += plans[i].runs[k].size;
        }

        /* The runs are known: the last chance for the stub to pay. */
        if (r >= 0 && !unverifiable) {
                _cleanup_free_ FlashRun *all = NULL;
                size_t n = 0, cap = 0;

                for (size_t i = 0; i < img->n_regions; i++)
                        cap += plans[i].n_runs;
                all = calloc(MAX(cap, (size_t) 1), sizeof(FlashRun));
                if (!all)
                        r = -ENOMEM;
                for (size_t i = 0; r >= 0 && i < img->n_regions; i++)
                        for (size_t k = 0; k < plans[i].n_runs; k++)
                                all[n++] = plans[i].runs[k];
                if (r >= 0)
                        r = job_consider_stub(j, l, t, all, n, &j->erased);
        }

        for (size_t i = 0; i < img->n_regions && r >= 0; i++) {
                ImageRegion *reg = &img->regions[i];
                bool match = true;

                if (j->results[i].matched)
                        continue;

                for (size_t k = 0; k < plans[i].n_runs && r >= 0; k++) {
                        if (job_cancelled(j))
                                r = -ECANCELED;
                        else
                                r = job_write_run(j, l, reg, plans[i].runs[k].offset,
                                                  plans[i].runs[k].size, &w, unverifiable);
                }
                if (r < 0)
                        break;

                /* Runs were proven one by one; now the region: every block a
                 * run touched is hashed again (the rest matched by MD5 in this
                 * session already: verify or the planner's probes). */
                if (!unverifiable && !job_plan_is_whole(&plans[i], reg)) {
                        r = job_verify_touched_blocks(j, l, reg, &plans[i], &match);
                        if (r < 0) {
                                r = job_fail(j, r, "cannot verify the region at 0x%" PRIx32, reg->offset);
                                break;
                        }
                }
                if (!match) {
                        /* Something changed under us (or the planner missed a
                         * sector): the whole region, as region granularity would. */
                        log_warning("%s: the region at 0x%" PRIx32 " still differs after a sector write, writing it whole",
                                    j->port, reg->offset);
                        /* what this session proved erased may be stale too */
                        flash_ranges_done(&j->erased);
                        w.total += reg->size;
                        r = job_write_run(j, l, reg, reg->offset, (uint32_t) reg->size, &w, false);
                        if (r < 0)
                                break;
                }

                j->results[i].written = true;
                /* Proven by the post-write MD5, so this is what the device holds. */
                if (!unverifiable) {
                        r = flash_md5(reg->data, reg->size, j->results[i].device_md5);
                        if (r < 0)
                                break;
                }
        }

        if (r >= 0 && !unverifiable)
                r = job_prove_writes(j, l, &w);

        job_region_plans_free(plans, img->n_regions);
        return r;
}

/* "full": every region written whole (sector runs that cover less are "selective"). */
static bool job_wrote_everything(Job *j) {
        uint64_t written = 0;

        for (size_t i = 0; i < j->n_results; i++)
                if (!j->results[i].written)
                        return false;
        for (size_t i = 0; i < j->n_written; i++)
                written += j->written[i].size;
        return written >= job_image_total_bytes(j->img);
}

static int job_session(Job *j, EspLoader *l, Transport *t) {
        Image *img = j->img;
        bool unverifiable = false, all_matched = true;
        usec_t started;
        int r;

        job_progress(j, JOB_PHASE_CONNECT, 0, 0);
        started = now_usec();
        r = job_connect(j, l, t);
        j->stats.connect_usec = now_usec() - started;
        if (r < 0)
                return r;
        j->link_baud = t->baud;
        j->rtt_usec = JOB_RTT_DEFAULT_USEC;
        j->rtt_measured = false;

        started = now_usec();
        /* A second session (after a link fallback) verifies afresh. */
        for (size_t i = 0; i < img->n_regions; i++) {
                free(j->blocks[i].changed);
                j->blocks[i] = (JobBlockVerdicts) {};
        }
        flash_ranges_done(&j->erased);
        r = job_verify(j, l, t, &unverifiable);
        j->stats.verify_usec = now_usec() - started;
        if (r < 0)
                return r;

        if (unverifiable) {
                if (j->kind == JOB_KIND_VERIFY)
                        return job_refuse(j, -EOPNOTSUPP, "the chip refuses flash MD5 (secure download mode?)");
                /* Nothing is known about the flash: write it all, and say so. */
                j->stats.verification_impossible = true;
                log_notice("%s: flash MD5 unavailable, writing every region unverified", ESC(j->port));
        }
        for (size_t i = 0; i < img->n_regions; i++)
                if (!j->results[i].matched)
                        all_matched = false;

        if (j->kind == JOB_KIND_DEPLOY) {
                if (all_matched && j->n_written > 0)
                        /* a session after a link fallback finds the first one's writes */
                        j->outcome = job_wrote_everything(j) ? JOB_OUTCOME_FULL : JOB_OUTCOME_SELECTIVE;
                else if (all_matched)
                        j->outcome = JOB_OUTCOME_VERIFY_SKIP;
                else {
                        r = job_write(j, l, t, unverifiable);
                        if (r < 0)
                                return r;
                        j->outcome = job_wrote_everything(j) ? JOB_OUTCOME_FULL
                                                             : JOB_OUTCOME_SELECTIVE;
                }
        } else if (all_matched)
                j->outcome = JOB_OUTCOME_VERIFY_SKIP;

        j->stats.loader = esp_loader_is_stub(l) ? "stub" : "rom";
        log_info("%s: %s served by the %s", ESC(j->port), job_kind_to_string(j->kind),
                 esp_loader_is_stub(l) ? "flasher stub" : "ROM loader");

        if (j->options.reset_after) {
                if (job_cancelled(j))
                        return -ECANCELED;
                job_progress(j, JOB_PHASE_RESET, 0, 0);
                started = now_usec();
                /* Released by whoever takes the port next (job_take_reset_port()). */
                r = esp_loader_hold_reset(l, &j->reset_release_at);
                j->reset_held = r >= 0;
                j->stats.reset_usec = now_usec() - started;
                /* The flash is written and proven; a reset that fails (a USB-OTG
                 * board already gone to re-enumerate) does not undo that. */
                if (r < 0)
                        log_warning_errno(r, "%s: hard reset failed: %m", ESC(j->port));
        }
        return 0;
}

/* Failures a raised baud rate may cause: a reply lost or garbled, a block
 * refused, a write that kept nothing, data that did not read back. */
static bool job_link_fallback_wanted(Job *j, EspLoader *l, int r) {
        /* An image hash that failed is not the link's fault. */
        return esp_loader_baud_raised(l) && !j->stats.baud_fallback && !job_cancelled(j) &&
               j->hash_error == 0 && (r == -ETIMEDOUT || r == -EBADMSG || r == -EPROTO || r == -EIO);
}

static void job_take_loader_stats(Job *j, EspLoader *l) {
        const EspLoaderStats *st = esp_loader_stats(l);

        j->stats.flash_begins += st->flash_begins;
        j->stats.stream_restarts += st->stream_restarts;
}

/* The chip keeps a raised rate until it is reset (the ROM, and a stub the ROM
 * would have to upload again): reset it into the bootloader at the connect
 * rate and run the session again. What is on the flash and proven stays: the
 * session's verify finds it, and the writes already made stay in `written`. */
static int job_link_fallback(Job *j, Transport *t, EspLoader **l, int failure) {
        int r;

        log_warning("%s: the link lost data at %" PRIu32 " baud (%s), going on at %u baud",
                    ESC(j->port), t->baud, strerror(-failure), JOB_CONNECT_BAUD);
        j->stats.baud_fallback = true;
        j->error_message[0] = '\0';

        job_take_loader_stats(j, *l);
        *l = esp_loader_free(*l);
        r = transport_set_baud(t, JOB_CONNECT_BAUD);
        if (r < 0)
                return job_fail(j, r, "cannot go back to %u baud", JOB_CONNECT_BAUD);
        r = esp_loader_new(t, l);
        if (r < 0)
                return r;
        return job_session(j, *l, t);
}

/* A failed or cancelled job does not leave the chip in download mode: it is
 * reset into whatever application its flash holds (esptool's hard reset),
 * or the job's message says that it could not be. */
static void job_reset_after_failure(Job *j, EspLoader *l) {
        usec_t started = now_usec();
        int r;

        r = esp_loader_hold_reset(l, &j->reset_release_at);
        j->reset_held = r >= 0;
        if (r < 0) {
                log_warning_errno(r, "%s: cannot reset the board after the failed job: %m", ESC(j->port));
                j->reset_failed = true;
                return;
        }
        /* The monitors resume as after a successful job's reset. */
        j->stats.reset_usec = MAX(now_usec() - started, (usec_t) 1);
}

static void job_publish_transport(Job *j, Transport *t, bool *ret_cancelled) {
        pthread_mutex_lock(&j->mutex);
        j->transport = t;
        *ret_cancelled = j->cancelled;
        pthread_mutex_unlock(&j->mutex);
}

int job_run_device(Job *j) {
        _cleanup_(esp_loader_freep) EspLoader *l = NULL;
        Transport *t = NULL;
        bool cancelled;
        int r;

        /* After a memo hit nothing was read yet; reading before opening the port
         * means a changed file fails the job with the device untouched. */
        r = job_load_image(j);
        if (r < 0)
                return r;

        j->n_results = j->img->n_regions;
        j->results = calloc(j->n_results, sizeof(JobRegionResult));
        if (!j->results)
                return -ENOMEM;
        j->blocks = calloc(j->n_results, sizeof(JobBlockVerdicts));
        if (!j->blocks)
                return -ENOMEM;
        for (size_t i = 0; i < j->n_results; i++)
                j->results[i] = (JobRegionResult) {
                        .offset = j->img->regions[i].offset,
                        .size = j->img->regions[i].size,
                };

        if (job_cancelled(j))
                return -ECANCELED;
        r = j->cb.open_transport(j->port, JOB_CONNECT_BAUD, &t);
        if (r < 0)
                return job_fail(j, r, "cannot open %s", j->port);

        /* From here job_cancel() interrupts blocking I/O; a cancel that came
         * while we were opening is seen right away. */
        job_publish_transport(j, t, &cancelled);
        if (cancelled)
                r = -ECANCELED;
        else {
                r = esp_loader_new(t, &l);
                if (r >= 0)
                        r = job_session(j, l, t);
                if (r < 0 && l && job_link_fallback_wanted(j, l, r))
                        r = job_link_fallback(j, t, &l, r);
                if (r < 0 && l && j->options.reset_after)
                        job_reset_after_failure(j, l);
                if (l)
                        job_take_loader_stats(j, l);
                l = esp_loader_free(l);
        }
        j->stats.baud = t->baud;
        j->stats.bytes_sent = t->bytes_sent;
        j->stats.bytes_received = t->bytes_received;

        job_publish_transport(j, NULL, &cancelled);
        if (j->reset_held) {
                /* Closing would release EN (HUPCL) with nobody listening. */
                j->held_port = t;
        } else
                transport_free(t);
        return r;
}
