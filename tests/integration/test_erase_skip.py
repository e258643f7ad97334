# SPDX-License-Identifier: LGPL-2.1-or-later
"""Writing over flash proven erased, on the ROM loader: a blank chip's verify
MD5s show 0xFF where the image goes, so the ROM is told to erase nothing
(FLASH_(DEFL_)BEGIN with erase size 0), and the post-write MD5 still proves
every region. Flash that holds anything else (one byte) is erased as before,
and a ROM that does not take data after an erase size of 0 (the sim's
zero-erase=nowrite fault: no trace shows what a real ROM does) gets the write
again with the erase.
Run: umockdev-wrapper /usr/bin/python3 test_erase_skip.py (env: see harness.py)"""

import os
import unittest

import harness
import fixtures  # noqa: E402 (on the path harness sets up)

SECTOR, BLOCK = 0x1000, 0x10000
FLASH_SIZE = 4 << 20


def erase_events(sim):
    """(offset, length) of every erase the chip made."""
    return [(e["offset"], e["length"]) for e in sim.events() if e.get("event") == "erase"]


class EraseSkip(harness.ServiceTestCase):
    CHIP = "esp32c3"
    # What else may be erased: on the ESP32, the tails compressed heads spill into.
    TAIL_ERASES = 0

    def setUp(self):
        super().setUp()
        # 300 KiB: five 64 KiB blocks of application.
        self.app = fixtures.application(self.CHIP, size=300 * 1024, seed=5)
        regions = [(o, d, n) if n != "app" else (o, self.app, n) for o, d, n in fixtures.flash_set(self.CHIP)]
        self.image = harness.Image(self.work, regions, "base")

    def board(self, flash=None, sim_args=()):
        path = None
        if flash is not None:
            path = os.path.join(self.work, "flash.bin")
            with open(path, "wb") as f:
                f.write(flash)
        self.dev = self.add_board(self.CHIP, "uart", flash=path, sim_args=sim_args)
        self.sim = self.dev.sim
        self.svc = self.start_service("bus")
        self.c = self.client()

    def deploy(self):
        outcome, written, stats = self.c.deploy(self.dev.node, self.image.paths(), trust=False, loader="rom")
        self.assertTrue(self.image.matches_flash(self.sim.flash()),
                        f"flash differs in {self.image.mismatches(self.sim.flash())}")
        return outcome, written, harness.unwrap(stats)

    def test_blank_chip_is_not_erased(self):
        self.board()
        outcome, _, stats = self.deploy()
        self.assertEqual(outcome, "full")
        self.assertEqual(stats["loader"], "rom")
        self.assertEqual(erase_events(self.sim), [], "a blank chip was erased")
        self.assertEqual(self.sim.stats()["erased_bytes"], 0)
        self.assertEqual((stats["repairs"], stats["stream_restarts"]), (0, 0))
        # The same image again: it verifies, nothing is written.
        outcome, written, _ = self.deploy()
        self.assertEqual((outcome, written), ("verify-skip", []))

    def test_one_byte_not_blank_is_erased(self):
        dirty = fixtures.APP_OFFSET + 2 * BLOCK + 5 * SECTOR + 100
        flash = bytearray(b"\xff" * FLASH_SIZE)
        flash[dirty] = 0x00
        self.board(bytes(flash))
        outcome, _, _ = self.deploy()
        self.assertEqual(outcome, "full")
        erases = erase_events(self.sim)
        self.assertTrue(any(o <= dirty < o + n for o, n in erases),
                        f"the sector holding 0x00 at 0x{dirty:x} was not erased: {erases}")
        # Only the 64 KiB block that MD5 found not blank is erased: the rest of
        # the chip was proven erased.
        self.assertLessEqual(self.sim.stats()["erased_bytes"], BLOCK + self.TAIL_ERASES, f"erased {erases}")

    def test_rom_that_writes_nothing_after_erase_size_0(self):
        self.board(sim_args=("--fault=zero-erase=nowrite",))
        outcome, _, stats = self.deploy()
        self.assertEqual(outcome, "full")
        # The first write did not prove out and was made again with the erase;
        # the rest of the session erased from the start.
        self.assertGreater(self.sim.stats()["erased_bytes"], 0, "nothing was written with the erase")
        results = self.c.verify(self.dev.node, self.image.paths())
        self.assertTrue(all(m for _, _, m, _ in results), f"the image does not verify: {results}")


class EraseSkipEsp32(EraseSkip):
    """The ESP32 ROM, whose compressed writes spill past their end: the
    uncompressed tail a spill lands in is still erased first, so nothing the
    spill programmed stays (the partition table right after the bootloader)."""
    CHIP = "esp32"
    TAIL_ERASES = 2 * 0x8000    # the two pieces around the block that is not blank

    def test_blank_chip_is_not_erased(self):
        self.board()
        outcome, _, stats = self.deploy()
        self.assertEqual(outcome, "full")
        self.assertEqual((stats["repairs"], stats["stream_restarts"]), (0, 0))
        # Only the tails that a compressed head's spill lands in are erased
        # (at most 32 KiB each, one per region written).
        erases = erase_events(self.sim)
        self.assertLessEqual(self.sim.stats()["erased_bytes"], 3 * 0x8000, f"erased {erases}")


if __name__ == "__main__":
    unittest.main()
