/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The stub-or-ROM choice: a no-change deploy and a one-sector write stay on
 * the ROM, a cold or a code-edit-sized write pays for the stub's upload, and
 * the link's rate moves the line between them. */
#undef NDEBUG
#include <assert.h>
#include <stdio.h>

#include "flash-loader-choice.h"
#include "flash-ranges.h"
#include "macro.h"

/* esptool-js's ESP32-C3 stub: 5880 bytes of text, 204 of data. */
#define STUB_BYTES (5880u + 204u)
#define RTT (1 * USEC_PER_MSEC)

static void test_choice(void) {
        const FlashRun one_sector[] = { { 0x10000 + 21 * 0x1000, 0x1000 } };
        const FlashRun two_sectors[] = { { 0x20000, 0x1000 }, { 0x50000, 0x1000 } };
        const FlashRun code_edit[] = { { 0x10000 + 0x40000, 0x60000 } };
        const FlashRun cold[] = { { 0x0, 0x7000 }, { 0x8000, 0x1000 }, { 0x10000, 0xf9000 } };

        /* nothing to write: the upload is pure cost */
        assert(!flash_stub_pays(921600, RTT, 0, NULL, STUB_BYTES, NULL, 0));
        assert(!flash_stub_pays(921600, RTT, 0, NULL, STUB_BYTES, one_sector, 1));
        assert(!flash_stub_pays(921600, RTT, 0, NULL, STUB_BYTES, two_sectors, 2));
        assert(flash_stub_pays(921600, RTT, 0, NULL, STUB_BYTES, code_edit, 1));
        assert(flash_stub_pays(921600, RTT, 0, NULL, STUB_BYTES, cold, ELEMENTSOF(cold)));
        /* the ESP32 ROM's spill makes its writes dearer still */
        assert(flash_stub_pays(921600, RTT, 0x8000, NULL, STUB_BYTES, code_edit, 1));
        /* at 115200 the upload costs half a second: still worth it for a cold write */
        assert(flash_stub_pays(115200, RTT, 0, NULL, STUB_BYTES, cold, ELEMENTSOF(cold)));
        assert(!flash_stub_pays(115200, RTT, 0, NULL, STUB_BYTES, two_sectors, 2));

        /* the parts: an upload at 921600 is tens of milliseconds, at 115200 eight times that */
        assert(flash_cost_stub_upload(921600, RTT, STUB_BYTES) < 100 * USEC_PER_MSEC);
        assert(flash_cost_stub_upload(115200, RTT, STUB_BYTES) > 6 * flash_cost_stub_upload(921600, RTT, STUB_BYTES) / 2);
        assert(flash_cost_runs_stub(921600, RTT, cold, ELEMENTSOF(cold)) <
               flash_cost_runs_rom(921600, RTT, 0, NULL, cold, ELEMENTSOF(cold)));
        printf("upload %llu us; one sector: rom %llu, stub %llu; cold: rom %llu, stub %llu\n",
               (unsigned long long) flash_cost_stub_upload(921600, RTT, STUB_BYTES),
               (unsigned long long) flash_cost_runs_rom(921600, RTT, 0, NULL, one_sector, 1),
               (unsigned long long) flash_cost_runs_stub(921600, RTT, one_sector, 1),
               (unsigned long long) flash_cost_runs_rom(921600, RTT, 0, NULL, cold, ELEMENTSOF(cold)),
               (unsigned long long) flash_cost_runs_stub(921600, RTT, cold, ELEMENTSOF(cold)));
}

/* A blank chip (its flash proven erased): the ROM writes without erasing, which
 * makes it cheaper by the whole erase; a cold write still pays for the stub, a
 * small one still does not. */
static void test_choice_erased(void) {
        const FlashRun cold[] = { { 0x0, 0x7000 }, { 0x8000, 0x1000 }, { 0x10000, 0xf9000 } };
        const FlashRun one_sector[] = { { 0x10000 + 21 * 0x1000, 0x1000 } };
        FlashRanges blank = {};
        usec_t saved;

        assert(flash_ranges_add(&blank, 0, 4 << 20) == 0);
        saved = flash_cost_runs_rom(921600, RTT, 0, NULL, cold, ELEMENTSOF(cold)) -
                flash_cost_runs_rom(921600, RTT, 0, &blank, cold, ELEMENTSOF(cold));
        /* 7 + 1 + 9 sectors and 15 blocks */
        assert(saved == 17 * 45 * USEC_PER_MSEC + 15 * 150 * USEC_PER_MSEC);
        assert(flash_stub_pays(921600, RTT, 0, &blank, STUB_BYTES, cold, ELEMENTSOF(cold)));
        assert(!flash_stub_pays(921600, RTT, 0, &blank, STUB_BYTES, one_sector, 1));
        flash_ranges_done(&blank);
}

int main(void) {
        test_choice();
        test_choice_erased();
        printf("flash-loader-choice: ok\n");
        return 0;
}
