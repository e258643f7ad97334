/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The serial loader running on the simulated chip: the ROM's download mode
 * and, once uploaded, the flasher stub. It turns request frames into reply
 * frames and flash changes, and tells its host when each reply may go out
 * according to the timing model. It never touches a file descriptor. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "sim-chip.h"
#include "sim-digest.h"
#include "sim-flash.h"
#include "sim-regs.h"
#include "sim-timing.h"

/* Opcodes, as the ROM and the stubs number them. */
enum {
        SIM_OP_FLASH_BEGIN = 0x02,
        SIM_OP_FLASH_DATA = 0x03,
        SIM_OP_FLASH_END = 0x04,
        SIM_OP_MEM_BEGIN = 0x05,
        SIM_OP_MEM_END = 0x06,
        SIM_OP_MEM_DATA = 0x07,
        SIM_OP_SYNC = 0x08,
        SIM_OP_WRITE_REG = 0x09,
        SIM_OP_READ_REG = 0x0a,
        SIM_OP_SPI_SET_PARAMS = 0x0b,
        SIM_OP_SPI_ATTACH = 0x0d,
        SIM_OP_READ_FLASH_SLOW = 0x0e,
        SIM_OP_CHANGE_BAUDRATE = 0x0f,
        SIM_OP_FLASH_DEFL_BEGIN = 0x10,
        SIM_OP_FLASH_DEFL_DATA = 0x11,
        SIM_OP_FLASH_DEFL_END = 0x12,
        SIM_OP_SPI_FLASH_MD5 = 0x13,
        SIM_OP_GET_SECURITY_INFO = 0x14,
        SIM_OP_ERASE_FLASH = 0xd0,
        SIM_OP_ERASE_REGION = 0xd1,
        SIM_OP_READ_FLASH = 0xd2,
        SIM_OP_RUN_USER_CODE = 0xd3,
};

const char *sim_op_to_string(uint8_t op);

/* What the loader needs from the chip around it. */
/* Stubs are 2 or 3 segments of a few KiB each. */
#define SIM_MEM_SEGMENTS_MAX 8
#define SIM_MEM_IMAGE_MAX (128 * 1024)

typedef struct SimLoaderHost {
        void *userdata;
        /* Queues bytes for the host no earlier than `at` (SLIP-framed if slip
         * is set); returns when the last of them will have left. */
        nsec_t (*send)(void *userdata, const uint8_t *data, size_t n, bool slip, nsec_t at);
        /* The UART switches to `baud` bit/s (the rate it really runs at,
         * which a ROM's divider may make differ from the one asked for)
         * once everything queued so far has left. */
        void (*set_baud)(void *userdata, uint32_t baud, nsec_t at);
        /* FLASH_END(0): software reset after the reply has left. */
        void (*soft_reset)(void *userdata, nsec_t at);
        /* ROM FLASH_END(1): leave the loader and run whatever is there. */
        void (*run_user_code)(void *userdata, nsec_t at);
        /* A divisor of zero, or a CPU that trapped: nothing answers until the next reset. */
        void (*uart_dead)(void *userdata);
        /* For the log and the stats: one call per request frame. */
        void (*command)(void *userdata, nsec_t at, uint8_t op, size_t len, bool stub,
                        uint16_t status);
        /* For the log: the flash range an SPI_FLASH_MD5 hashed (optional). */
        void (*flash_md5)(void *userdata, uint32_t addr, uint32_t size);
        /* For the log: a range the loader erased (optional). */
        void (*flash_erase)(void *userdata, uint32_t addr, uint32_t len);
} SimLoaderHost;

/* The largest frame either loader accepts (the stub's MAX_WRITE_BLOCK + 64). */
#define SIM_LOADER_MAX_FRAME 0x4040U

/* The ROM's reply buffer: up to 64 bytes of body, 2 status, 2 stale. */
#define SIM_ROM_RESP_RAM 68

/* The ROM's inflate output buffer (sim-rom-inflate.c). */
#define SIM_ROM_INFLATE_WINDOW 0x8000U

typedef struct SimFlashWrite {
        bool active;
        bool compressed;
        uint32_t next_write;
        uint32_t remaining;             /* stub: bytes still to write */
        uint32_t erase_next;            /* stub: erase-as-you-go cursor */
        uint32_t erase_remaining;
        uint32_t compressed_remaining;
        uint32_t expect_seq;            /* ROM */
        uint32_t base;                  /* ROM: FLASH_DEFL_BEGIN's offset */
        uint32_t num_blocks;            /* ROM: FLASH_DEFL_BEGIN's block count */
        uint32_t produced;              /* ROM: bytes inflated so far */
        bool failed;                    /* ROM: the inflater gave up; every block fails */
        bool discard;                   /* ROM: begun with erase size 0 under the
                                         * zero-erase=nowrite fault: nothing is programmed */
        z_stream z;
        bool z_live;
        bool z_done;
} SimFlashWrite;

typedef struct SimReadFlash {
        bool active;
        uint32_t addr;
        uint32_t remaining;
        uint32_t total;
        uint32_t packet;
        uint32_t acked;
        bool waiting_ack;
        SimDigest *md5;
} SimReadFlash;

typedef struct SimLoader {
        const SimChip *chip;
        SimFlash *flash;
        SimRegs *regs;
        SimTimingMode timing;
        SimConsole console;
        SimLoaderHost host;

        bool stub;
        nsec_t busy_until;              /* the CPU is free from here on */
        nsec_t flash_busy_until;        /* the SPI flash is free from here on */
        uint32_t chip_size;             /* SPI_SET_PARAMS total size */
        bool spi_attached;
        bool uart_dead;

        /* ROM reply quirks: a reply's value repeats the last READ_REG (or
         * SYNC) value, an unsupported command echoes the last supported
         * opcode, and the body, the two status bytes and two stale bytes
         * after them all come from one RAM buffer that is never cleared. */
        uint8_t last_op;
        uint32_t last_value;
        uint8_t resp_ram[SIM_ROM_RESP_RAM];
        /* The error code of the last failed command: successful replies
         * carry it in their second status byte until a READ_REG or an MD5
         * clears it (traces *-rom-defl-error-probe, section D). */
        uint8_t rom_error;

        SimFlashWrite fw;
        /* The ROM inflates into this buffer; it outlives each stream (a
         * completed stream's spill shows earlier streams' bytes). */
        uint8_t rom_window[SIM_ROM_INFLATE_WINDOW];
        struct {
                bool active;
                bool data_seen;
                uint32_t remaining;
                uint32_t expect_seq;
                /* What MEM_DATA put into RAM since the last reset, so that
                 * MEM_END can tell whether its entry point holds code. */
                size_t n_segments;
                struct {
                        uint32_t addr, len;     /* len: bytes received so far */
                        size_t at;              /* where its bytes start in image[] */
                } segment[SIM_MEM_SEGMENTS_MAX];
                size_t image_used;
                uint8_t image[SIM_MEM_IMAGE_MAX];
        } mem;
        SimReadFlash rf;
        uint16_t deferred;              /* stub: error from the last post-processing */

        uint64_t commands;
        uint64_t flash_begins;
        uint64_t erased_bytes;          /* sectors and blocks erased, in bytes */
        bool wdt_disabled;
        /* The zero-erase=nowrite fault (untraced: what a ROM might do with
         * data after a begin whose erase size is 0): it acknowledges the
         * blocks and programs nothing. */
        bool rom_zero_erase_nowrite;
} SimLoader;

int sim_loader_init(SimLoader *l, const SimChip *chip, SimFlash *flash, SimRegs *regs,
                    SimTimingMode timing, SimConsole console, const SimLoaderHost *host);
void sim_loader_done(SimLoader *l);
/* Back to a freshly booted ROM (chip reset). */
void sim_loader_reset(SimLoader *l);
/* Largest frame the current loader's receive buffer holds. */
size_t sim_loader_max_frame(const SimLoader *l);
/* Handles one received SLIP frame (payload only) that finished arriving at done. */
int sim_loader_frame(SimLoader *l, const uint8_t *frame, size_t n, nsec_t done);
