/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Timing model arithmetic for the simulated chip; see sim-timing.h. Nothing
 * here reads a clock or touches state, which is what makes it testable. */
#include <errno.h>
#include <string.h>

#include "macro.h"
#include "sim-timing.h"

static const char *const timing_mode_table[_SIM_TIMING_MAX] = {
        [SIM_TIMING_REAL] = "real",
        [SIM_TIMING_FAST] = "fast",
};

static const char *const console_table[_SIM_CONSOLE_MAX] = {
        [SIM_CONSOLE_UART] = "uart",
        [SIM_CONSOLE_USB_JTAG] = "usb-jtag",
};

const char *sim_timing_mode_to_string(SimTimingMode m) {
        if (m < 0 || m >= _SIM_TIMING_MAX)
                return NULL;
        return timing_mode_table[m];
}

SimTimingMode sim_timing_mode_from_string(const char *s) {
        for (size_t i = 0; s && i < ELEMENTSOF(timing_mode_table); i++)
                if (strcmp(s, timing_mode_table[i]) == 0)
                        return (SimTimingMode) i;
        return _SIM_TIMING_INVALID;
}

const char *sim_console_to_string(SimConsole c) {
        if (c < 0 || c >= _SIM_CONSOLE_MAX)
                return NULL;
        return console_table[c];
}

SimConsole sim_console_from_string(const char *s) {
        for (size_t i = 0; s && i < ELEMENTSOF(console_table); i++)
                if (strcmp(s, console_table[i]) == 0)
                        return (SimConsole) i;
        return _SIM_CONSOLE_INVALID;
}

SimByteTime sim_timing_byte_time(SimTimingMode mode, SimConsole console, uint32_t baud) {
        if (mode == SIM_TIMING_FAST)
                return (SimByteTime) { .num = 0, .den = 1 };
        /* USB-Serial-JTAG has no UART: the baud rate a host sets is ignored
         * and bytes move at USB full-speed bulk rate. */
        if (console == SIM_CONSOLE_USB_JTAG)
                return (SimByteTime) { .num = SIM_USB_JTAG_BYTE_NSEC, .den = 1 };
        if (baud == 0)
                baud = 1;
        return (SimByteTime) { .num = SIM_UART_BITS_PER_BYTE * SIM_NSEC_PER_SEC, .den = baud };
}

nsec_t sim_byte_time_span(SimByteTime bt, uint64_t n) {
        if (bt.num == 0 || n == 0)
                return 0;
        /* n * num stays far below 2^64 for any burst a host can send (16 MiB at
         * 300 baud is 5.6e17); divide last to keep the fraction exact. */
        return (nsec_t) (n * bt.num / (bt.den ?: 1));
}

nsec_t sim_timing_turnaround(SimTimingMode mode) {
        return mode == SIM_TIMING_FAST ? 0 : SIM_TURNAROUND_NSEC;
}

nsec_t sim_timing_erase(SimTimingMode mode, uint32_t sectors, uint32_t blocks) {
        if (mode == SIM_TIMING_FAST)
                return 0;
        return (nsec_t) sectors * SIM_SECTOR_ERASE_NSEC + (nsec_t) blocks * SIM_BLOCK_ERASE_NSEC;
}

nsec_t sim_timing_program(SimTimingMode mode, uint32_t offset, uint32_t len) {
        uint64_t first, last;

        if (mode == SIM_TIMING_FAST || len == 0)
                return 0;
        /* A write that straddles a page boundary costs a program per page
         * touched, which is how SPIWrite splits it. */
        first = offset / SIM_FLASH_PAGE_SIZE;
        last = ((uint64_t) offset + len - 1) / SIM_FLASH_PAGE_SIZE;
        return (nsec_t) (last - first + 1) * SIM_PAGE_PROGRAM_NSEC;
}

nsec_t sim_timing_md5(SimTimingMode mode, uint32_t len, bool stub) {
        uint64_t rate = stub ? SIM_MD5_STUB_BYTES_PER_SEC : SIM_MD5_ROM_BYTES_PER_SEC;

        if (mode == SIM_TIMING_FAST)
                return 0;
        return SIM_MD5_REQUEST_NSEC + (nsec_t) len * SIM_NSEC_PER_SEC / rate;
}

nsec_t sim_timing_chip_erase(SimTimingMode mode, uint32_t flash_size) {
        return sim_timing_erase(mode, 0, DIV_ROUND_UP(flash_size, SIM_FLASH_BLOCK_SIZE));
}

void sim_erase_split(uint32_t offset, uint32_t len, uint32_t *ret_sectors, uint32_t *ret_blocks) {
        uint32_t per_block = SIM_FLASH_BLOCK_SIZE / SIM_FLASH_SECTOR_SIZE;
        uint32_t sector = offset / SIM_FLASH_SECTOR_SIZE;
        uint32_t total = DIV_ROUND_UP(len, SIM_FLASH_SECTOR_SIZE);
        uint32_t head, blocks, sectors;

        head = per_block - sector % per_block;
        if (head == per_block)
                head = 0;
        head = MIN(head, total);
        total -= head;
        blocks = total / per_block;
        sectors = head + total % per_block;

        *ret_sectors = sectors;
        *ret_blocks = blocks;
}

uint32_t sim_erase_next_unit(uint32_t addr, uint32_t remaining) {
        if (remaining == 0)
                return 0;
        if (addr % SIM_FLASH_BLOCK_SIZE == 0 && remaining >= SIM_FLASH_BLOCK_SIZE)
                return SIM_FLASH_BLOCK_SIZE;
        return MIN(remaining, SIM_FLASH_SECTOR_SIZE);
}
