/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Caller-supplied strings on their way into a log line or an error message:
 * C-style escapes for control characters, backslashes and bytes that are not
 * UTF-8, so that a port name cannot start a second log line (journald reads
 * "<0>" at a line start as an emergency) or smuggle in terminal controls. */
#pragma once

#include <stddef.h>

/* Room for a typical escaped argument in logs; longer ones end in "...". */
#define ESCAPE_BUF 256u

/* Writes the escaped s (NULL: "(null)") into buf, truncated with "..." to fit
 * size (at least 4); returns buf. Valid UTF-8 other than C0/C1 controls and DEL
 * is copied as is; \a \b \t \n \v \f \r \\ get their C escapes; other controls
 * and every byte of an invalid sequence become \xNN (C1 controls \u00NN). */
char *escape_c(const char *s, char *buf, size_t size);

/* For one argument of one log call: the buffer lives until the end of the
 * enclosing block. */
#define ESC(s) escape_c((s), (char[ESCAPE_BUF]) {}, ESCAPE_BUF)
