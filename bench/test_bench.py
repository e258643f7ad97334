# SPDX-License-Identifier: LGPL-2.1-or-later
"""Checks of the benchmark's pure parts (no timing, no chip): the fixture
builder's image surgery and the lower bound's arithmetic. The benchmark itself
is run by bench/run and never asserted on."""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "testbed"))

import bench  # noqa: E402
import build_fixtures as bf  # noqa: E402
import fixtures  # noqa: E402

SECTOR = 0x1000


def changed_sectors(a, b, base=0):
    return sorted({(base + i) // SECTOR for i in range(len(a)) if a[i] != b[i]})


class Fixtures(unittest.TestCase):
    def test_rewrap_keeps_segments_and_names_the_chip(self):
        app = fixtures.application(bf.CHIP, size=64 * 1024)
        wrapped = bf.rewrap(app, bf.CHIP_ROM)
        self.assertEqual(len(wrapped), len(app))
        self.assertEqual(fixtures.image_length(wrapped), len(wrapped))
        self.assertEqual(int.from_bytes(wrapped[12:14], "little"), fixtures.CHIP_IDS[bf.CHIP_ROM])
        entry, segs = bf.parse_image(wrapped)
        _, orig = bf.parse_image(app)
        self.assertEqual([d for _, d in segs], [d for _, d in orig])
        self.assertEqual([a for a, _ in segs], fixtures.SEGMENT_ADDRS[bf.CHIP_ROM])
        self.assertIn(entry, fixtures.SEGMENT_ADDRS[bf.CHIP_ROM])

    def test_bootloader_change_is_one_word_and_the_trailer(self):
        for chip in (bf.CHIP, bf.CHIP_ROM):
            base, new = fixtures.bootloader(chip), bf.bootloader_changed(chip)
            self.assertEqual(len(base), len(new))
            self.assertEqual(fixtures.image_length(new), len(new))
            diff = [i for i in range(len(base)) if base[i] != new[i]]
            body = [i for i in diff if i < len(base) - 33]
            self.assertEqual(len(body), 4, chip)                 # the word
            self.assertTrue(all(i >= len(base) - 33 for i in diff[4:]))  # checksum + SHA-256
            off = fixtures.BOOTLOADER_OFFSETS[chip]
            self.assertEqual(len(changed_sectors(base, new, off)), 2, chip)

    def test_esp32_bootloader_reaches_the_sector_below_the_table(self):
        # What makes the ESP32 scenario the spill case: a write of the
        # bootloader's last sector is followed, within 32 KiB, by the table.
        off = fixtures.BOOTLOADER_OFFSETS[bf.CHIP_ROM]
        end = off + len(fixtures.bootloader(bf.CHIP_ROM))
        self.assertLess(fixtures.PARTITION_TABLE_OFFSET - (end - 1) // SECTOR * SECTOR, 0x8000)


class Bound(unittest.TestCase):
    def test_no_change_is_one_md5_over_the_image(self):
        before = bytearray(b"\xff" * bench.FLASH_SIZE)
        data = bytes(range(256)) * 64
        before[0x10000:0x10000 + len(data)] = data
        t, n = bench.lower_bound(bytes(before), [(0x10000, data)], 921600)
        self.assertEqual(n, 0)
        self.assertAlmostEqual(t, bench.TURNAROUND + bench.MD5_REQUEST + len(data) / bench.MD5_ROM_RATE)

    def test_one_changed_sector_costs_its_erase_and_pages(self):
        before = bytes(b"\xff" * bench.FLASH_SIZE)
        data = b"\x00" * 0x2000
        t, n = bench.lower_bound(before, [(0x20000, data)], 921600)
        self.assertEqual(n, 2)
        verify = bench.TURNAROUND + bench.MD5_REQUEST + len(data) / bench.MD5_ROM_RATE
        erase_program = 2 * bench.SECTOR_ERASE + 32 * bench.PAGE_PROGRAM
        self.assertGreater(t, verify + erase_program)       # plus the wire
        self.assertLess(t, verify + erase_program + 0.001)  # 8 KiB of zeros compress to little


if __name__ == "__main__":
    unittest.main()
