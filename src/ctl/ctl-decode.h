/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The monitor's crash decoder (ctl-decode.c): ESP-IDF panic lines to
 * "function at file:line" through addr2line and the application's ELF. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* Addresses decoded per line at most (a backtrace is cut there). */
#define CTL_DECODE_MAX 32

typedef struct CtlDecoder CtlDecoder;

/* For the ELF at elf; the addr2line that fits its machine is looked for on
 * PATH now. 0, or -errno with *ret_error saying why (not an ELF, unreadable). */
int ctl_decoder_new(const char *elf, CtlDecoder **ret, char **ret_error);
CtlDecoder *ctl_decoder_free(CtlDecoder *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(CtlDecoder *, ctl_decoder_free);

/* For one line of device output (without its end): 1 and *ret the text to
 * print after it ("0xADDR: function at file:line" lines, or once, which tool
 * to install), 0 when there is nothing to add, -ENOMEM. */
int ctl_decoder_line(CtlDecoder *d, const char *line, size_t len, char **ret);
