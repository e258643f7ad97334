/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The monitor's panic line parser: the addresses of ESP-IDF's Xtensa
 * backtraces and RISC-V register dumps, and nothing from other lines. */
#undef NDEBUG
#include <assert.h>
#include <string.h>

#include "crash-lines.h"

static size_t parse(const char *line, uint32_t *a, size_t max) {
        return crash_line_addresses(line, strlen(line), a, max);
}

int main(void) {
        uint32_t a[8];

        /* Xtensa: the PCs of PC:SP pairs, the SPs left out; a "|<-CORRUPTED" tail ends it. */
        assert(parse("Backtrace: 0x400d1231:0x3ffb1230 0x400d5675:0x3ffb1250 0x400d9999:0x3ffb1270", a, 8) == 3);
        assert(a[0] == 0x400d1231 && a[1] == 0x400d5675 && a[2] == 0x400d9999);
        assert(parse("Backtrace:0x40081234:0x3ffb0000 |<-CORRUPTED", a, 8) == 1 && a[0] == 0x40081234);
        /* At most max. */
        assert(parse("Backtrace: 0x1:0x2 0x3:0x4 0x5:0x6", a, 2) == 2 && a[1] == 0x3);
        /* RISC-V: MEPC, then RA, from one register line. */
        assert(parse("MEPC    : 0x42005c8e  RA      : 0x42005c84  SP      : 0x3fc8f9a0  GP      : 0x3fc8a600  ",
                     a, 8) == 2);
        assert(a[0] == 0x42005c8e && a[1] == 0x42005c84);
        /* Words that merely end in RA or MEPC are not those registers. */
        assert(parse("EXTRA   : 0x12345678  XMEPC : 0x1", a, 8) == 0);
        assert(parse("MHARTID : 0x00000000  ", a, 8) == 0);
        /* No hex after the colon, other lines, an empty one. */
        assert(parse("RA      : none", a, 8) == 0);
        assert(parse("app running sha256=0123", a, 8) == 0);
        assert(parse("", a, 8) == 0);
        /* More than 8 digits: the first 8 (a 32-bit address), never an overflow. */
        assert(parse("MEPC    : 0x123456789", a, 8) == 1 && a[0] == 0x12345678);
        return 0;
}
