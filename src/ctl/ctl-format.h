/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Human-readable sizes, rates, durations and digests for fbuildctl's output.
 * Pure: each writes into a caller's buffer and returns it. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define FORMAT_BYTES_MAX 16
#define FORMAT_RATE_MAX 24
#define FORMAT_DURATION_MAX 24
#define FORMAT_HEX_MAX(n) ((n) * 2 + 1)

/* 512 → "512 B", 1536 → "1.5 KiB", 204800 → "200 KiB", 4194304 → "4.0 MiB". */
char *format_bytes(char buf[static FORMAT_BYTES_MAX], uint64_t n);
/* Bytes per second → "98.3 KiB/s". */
char *format_rate(char buf[static FORMAT_RATE_MAX], double bytes_per_second);
/* An ETA: "0:07", "12:34", "1:02:03". */
char *format_clock(char buf[static FORMAT_DURATION_MAX], uint64_t usec);
/* A measured time: "850 ms", "3.2 s", "2 min 5 s". */
char *format_timespan(char buf[static FORMAT_DURATION_MAX], uint64_t usec);
/* Lower-case hex of n bytes; buf must hold FORMAT_HEX_MAX(n). */
char *format_hex(char *buf, const uint8_t *bytes, size_t n);
