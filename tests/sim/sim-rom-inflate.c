/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The ROM's FLASH_DEFL_DATA engine as the traces show it: output collects in a
 * 32 KiB buffer and reaches flash a whole buffer at a time, when the buffer
 * fills or the stream completes; a stream that never completes leaves nothing
 * of its last partial buffer in flash. On the ESP32 ROM completion programs the
 * whole buffer, stale tail included: the spill. */
#include <errno.h>
#include <string.h>

#include "macro.h"
#include "sim-loader-internal.h"

/* Programs window bytes [0, len) at the stream's page `page` (the window's
 * i-th byte belongs at base + page * 32 KiB + i). Whatever would lie past the
 * chip size the ROM's flash driver refuses, so it is left out. */
static nsec_t window_program(SimLoader *l, uint32_t page, uint32_t len, nsec_t start) {
        uint64_t addr = (uint64_t) l->fw.base + (uint64_t) page * SIM_ROM_INFLATE_WINDOW;

        if (addr >= l->chip_size)
                return MAX(start, l->flash_busy_until);
        len = (uint32_t) MIN((uint64_t) len, l->chip_size - addr);
        return sim_loader_flash_program(l, (uint32_t) addr, l->rom_window, len, start);
}

int sim_rom_inflate(SimLoader *l, const uint8_t *data, size_t n, bool last, nsec_t start, nsec_t *ret_end) {
        nsec_t end = start;

        if (l->fw.failed)
                return -EBADMSG;
        if (l->fw.z_done) {
                /* Blocks after the end of the stream change nothing. */
                *ret_end = start;
                return 0;
        }
        if (!l->fw.z_live) {
                if (inflateInit(&l->fw.z) != Z_OK)
                        return -ENOMEM;
                l->fw.z_live = true;
        }

        l->fw.z.next_in = (uint8_t *) data;
        l->fw.z.avail_in = (uInt) n;
        for (;;) {
                uint32_t pos = l->fw.produced % SIM_ROM_INFLATE_WINDOW;
                uint32_t room = SIM_ROM_INFLATE_WINDOW - pos, produced;
                int zr;

                /* zlib keeps its own copy of the history, so the output can
                 * go straight into the window at the stream's position. */
                l->fw.z.next_out = l->rom_window + pos;
                l->fw.z.avail_out = room;
                zr = inflate(&l->fw.z, Z_NO_FLUSH);
                if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
                        l->fw.failed = true;
                        return -EBADMSG;
                }
                produced = room - l->fw.z.avail_out;
                l->fw.produced += produced;
                /* A full window is programmed and the next one starts over
                 * at its beginning. */
                if (produced > 0 && l->fw.produced % SIM_ROM_INFLATE_WINDOW == 0)
                        end = window_program(l, l->fw.produced / SIM_ROM_INFLATE_WINDOW - 1,
                                             SIM_ROM_INFLATE_WINDOW, start);
                if (zr == Z_STREAM_END) {
                        l->fw.z_done = true;
                        break;
                }
                if (zr == Z_BUF_ERROR || (l->fw.z.avail_in == 0 && l->fw.z.avail_out > 0))
                        break;  /* all input consumed, all output out */
        }

        if (l->fw.z_done) {
                uint32_t page = l->fw.produced / SIM_ROM_INFLATE_WINDOW;
                uint32_t rest = l->fw.produced % SIM_ROM_INFLATE_WINDOW;

                /* Completion programs the current window. The ESP32 ROM
                 * programs all of it, so the bytes past the end of the stream
                 * (earlier streams' data, or a full window's second copy) are
                 * ANDed into unerased flash up to the next 32 KiB of the
                 * stream (trace esp32-rom-defl-spill-probe); the ESP32-C3 ROM
                 * programs only what this stream produced. */
                if (l->chip->rom_defl_spills)
                        end = window_program(l, page, SIM_ROM_INFLATE_WINDOW, start);
                else if (rest > 0)
                        end = window_program(l, page, rest, start);
        } else if (last) {
                /* The announced last block and still no end: the inflater is
                 * told no more input follows and fails (a dropped block). */
                l->fw.failed = true;
                return -EBADMSG;
        }

        *ret_end = MAX(end, start);
        return 0;
}
