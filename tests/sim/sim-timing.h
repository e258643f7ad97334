/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The simulated chip's timing model (DESIGN.md, "Reference timing model") as
 * pure arithmetic: an operation goes in, a duration comes out. The event loop
 * only adds these durations to its clock, so the numbers live here alone. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

/* Simulated time: nanoseconds on CLOCK_MONOTONIC. Microseconds are too coarse
 * for one byte at 921600 baud (10.85 us), and rounding per byte would add up. */
typedef uint64_t nsec_t;

#define SIM_NSEC_PER_USEC ((nsec_t) 1000ULL)
#define SIM_NSEC_PER_MSEC ((nsec_t) 1000000ULL)
#define SIM_NSEC_PER_SEC ((nsec_t) 1000000000ULL)
#define SIM_NSEC_INFINITY ((nsec_t) UINT64_MAX)

typedef enum SimTimingMode {
        SIM_TIMING_REAL,        /* DESIGN.md's model */
        SIM_TIMING_FAST,        /* every duration is zero */
        _SIM_TIMING_MAX,
        _SIM_TIMING_INVALID = -EINVAL,
} SimTimingMode;

/* How the host reaches the chip: a USB-UART bridge in front of UART0, or the
 * chip's own USB-Serial-JTAG peripheral (no UART, so no baud-bound bytes). */
typedef enum SimConsole {
        SIM_CONSOLE_UART,
        SIM_CONSOLE_USB_JTAG,
        _SIM_CONSOLE_MAX,
        _SIM_CONSOLE_INVALID = -EINVAL,
} SimConsole;

const char *sim_timing_mode_to_string(SimTimingMode m);
SimTimingMode sim_timing_mode_from_string(const char *s);
const char *sim_console_to_string(SimConsole c);
SimConsole sim_console_from_string(const char *s);

/* The model's constants, in one table so tests and the README can quote them. */
#define SIM_UART_BITS_PER_BYTE 10
#define SIM_USB_JTAG_BYTE_NSEC ((nsec_t) 1000)          /* ~1 MB/s full-speed bulk */
#define SIM_TURNAROUND_NSEC (1 * SIM_NSEC_PER_MSEC)      /* per host→device→host exchange */
#define SIM_SECTOR_ERASE_NSEC (45 * SIM_NSEC_PER_MSEC)   /* 4 KiB */
#define SIM_BLOCK_ERASE_NSEC (150 * SIM_NSEC_PER_MSEC)   /* 64 KiB */
#define SIM_PAGE_PROGRAM_NSEC (600 * SIM_NSEC_PER_USEC)  /* 256 B */
#define SIM_MD5_REQUEST_NSEC (200 * SIM_NSEC_PER_USEC)
#define SIM_MD5_ROM_BYTES_PER_SEC 2000000ULL
#define SIM_MD5_STUB_BYTES_PER_SEC 4000000ULL

#define SIM_FLASH_PAGE_SIZE 0x100U
#define SIM_FLASH_SECTOR_SIZE 0x1000U
#define SIM_FLASH_BLOCK_SIZE 0x10000U

/* Time per byte on the line as a fraction num/den nanoseconds, so a long
 * stream is timed exactly: byte i of a burst ends at start + (i+1)*num/den. */
typedef struct SimByteTime {
        uint64_t num;
        uint64_t den;
} SimByteTime;

SimByteTime sim_timing_byte_time(SimTimingMode mode, SimConsole console, uint32_t baud);
/* Duration of n back-to-back bytes. */
nsec_t sim_byte_time_span(SimByteTime bt, uint64_t n);

nsec_t sim_timing_turnaround(SimTimingMode mode);
nsec_t sim_timing_erase(SimTimingMode mode, uint32_t sectors, uint32_t blocks);
nsec_t sim_timing_program(SimTimingMode mode, uint32_t offset, uint32_t len);
nsec_t sim_timing_md5(SimTimingMode mode, uint32_t len, bool stub);
nsec_t sim_timing_chip_erase(SimTimingMode mode, uint32_t flash_size);

/* How the ROM's SPIEraseArea splits [offset, offset+len) (sector aligned by the
 * caller): 4 KiB sectors up to the next 64 KiB boundary, whole 64 KiB blocks,
 * then the trailing sectors. */
void sim_erase_split(uint32_t offset, uint32_t len, uint32_t *ret_sectors, uint32_t *ret_blocks);

/* The stub's erase-as-you-go step: a 64 KiB block when aligned and at least a
 * block remains, else one sector. Returns the bytes the next erase covers. */
uint32_t sim_erase_next_unit(uint32_t addr, uint32_t remaining);
