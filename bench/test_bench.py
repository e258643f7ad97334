# SPDX-License-Identifier: LGPL-2.1-or-later
"""Checks of the benchmark's pure parts (no timing, no chip): the fixture
builder's image surgery, the lower bound's arithmetic, the default client's
configuration and the targets table's verdicts on made-up results. The
benchmark itself is run by bench/run and never asserted on."""

import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "testbed"))

import bench  # noqa: E402
import build_fixtures as bf  # noqa: E402
import idle_rss  # noqa: E402
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


C3, ROM = bench.CHIPS[0][0], bench.CHIPS[1][0]


def result(scenario, client, wall, bound=1.0, note="selective", chip=C3):
    return bench.Result(chip, scenario, client, wall, 0, 0, bound, note)


def all_met():
    d = "fbuild-deployd default"
    return [
        result("no change, untrusted", d, 1.1, note="verify-skip"),
        result("constant change (same length)", d, 1.4),
        result("constant change (same length)", d, 1.4, chip=ROM),
        result("one file in the data partition", d, 1.3),
        result("one file in the data partition", d, 1.3, chip=ROM),
        result("code edit in the app", d, 5.0),
        result("code edit in the app", "fbuild-deployd region", 14.0),
        result("code edit at 115200", d, 20.0),
        result("code edit at 115200", "fbuild-deployd region", 60.0),
        result("cold (blank chip)", d, 16.0),
        result("cold (blank chip)", "fbuild-deployd sector+stub", 11.0),
        result("cold (blank chip)", "esptool-js 0.7.0", 14.0, note="full write"),
        result(bench.IDLE_SCENARIO, d, 0.01, bound=0.0, note="trust-skip"),
        result("code edit, four devices at once", d, 5.5),
    ]


class Targets(unittest.TestCase):
    def verdicts(self, results, **kw):
        return {t: v for t, _, v in bench.targets(results, **kw)}

    def test_all_met(self):
        v = self.verdicts(all_met(), idle={"VmRSS": 3700})
        self.assertEqual(len(v), 12)
        self.assertEqual(set(v.values()), {"met"}, v)

    def test_misses_say_by_how_much(self):
        rs = all_met()
        rs[0].wall = 1.5                          # 1.5× against 1.2×
        rs[12].note = "verify-skip"               # the service had exited
        rs[13].wall = 7.0                         # four boards 1.4× one
        v = self.verdicts(rs, idle={"VmRSS": 4000})
        self.assertEqual(v["no change, untrusted: ≤ 1.2× its bound"], "missed by 0.30× (+25%)")
        self.assertEqual(v["redeploy after 2 minutes idle: a trust-skip"], "missed: verify-skip")
        self.assertEqual(v["four boards: ≤ 1.2× one board"], "missed by 17%")
        idle = [x for k, x in v.items() if k.startswith("idle memory")]
        self.assertEqual(idle, ["missed by 0.10 MB"])   # 4000 KiB is 4.096 MB

    def test_cold_with_a_stub_found_by_default_is_compared_directly(self):
        rs = all_met()
        rs[9].note = "selective, stub"
        rs[9].wall = 15.0
        v = self.verdicts(rs)
        self.assertEqual(v["cold, a stub available: no slower than esptool-js"], "missed by 7%")
        self.assertNotIn("cold on the ROM loader: within 1.2× of esptool-js", v)

    def test_cold_with_a_stub_found_through_idf_path(self):
        rs = all_met() + [result("cold (blank chip)", f"fbuild-deployd {bench.DEFAULT_WITH_IDF}", 12.0,
                                 note="selective, stub")]
        v = self.verdicts(rs)
        self.assertEqual(v["cold, a stub available (found through IDF_PATH, nothing configured): no slower "
                           "than esptool-js"], "met")
        self.assertEqual(v["cold on the ROM loader: within 1.2× of esptool-js"], "met")
        self.assertEqual(len(v), 11)

    def test_cold_on_the_rom_loader_allows_1_2x(self):
        rs = all_met()
        rs[9].wall = 17.5       # 1.25× esptool-js
        v = self.verdicts(rs)
        self.assertEqual(v["cold on the ROM loader: within 1.2× of esptool-js"], "missed by 4%")

    def test_code_edit_compares_with_whole_regions(self):
        rs = all_met()
        rs[5].wall = 15.0
        v = self.verdicts(rs)
        self.assertEqual(v["code edit in the app: never slower than the whole changed regions"], "missed by 7%")

    def test_left_out_scenarios_are_not_measured(self):
        v = self.verdicts([])
        self.assertTrue(all(x == "not measured" for x in v.values()), v)

    def test_after_idle_memory_is_a_row(self):
        after = {"stayed": True, "waited": 120, "rss": {"Rss": 5600, "Anonymous": 800, "File": 4800,
                                                         "by_file": {}}}
        v = self.verdicts(all_met(), after_idle=after)
        self.assertEqual(v["idle memory after a deploy, holding trust: under 4 MB RSS without the preload"],
                         "missed by 1.73 MB")

    def test_the_targets_table_is_not_read_back_as_results(self):
        with tempfile.NamedTemporaryFile("w", suffix=".md", delete=False) as f:
            f.write("## Targets\n\n" + bench.fmt_targets(bench.targets(all_met())) + "\n## ESP32-C3\n\n"
                    + bench.fmt_table(all_met()[:2]))
        try:
            back = bench.read_table(f.name)
        finally:
            os.unlink(f.name)
        self.assertEqual([(r.scenario, r.client, r.wall) for r in back],
                         [("no change, untrusted", "fbuild-deployd default", 1.1),
                          ("constant change (same length)", "fbuild-deployd default", 1.4)])


class AgainstPrevious(unittest.TestCase):
    def test_default_now_against_the_stub_and_sector_rows_then(self):
        now = [result("constant change (same length)", "fbuild-deployd default", 1.5),
               result("constant change (same length)", "fbuild-deployd region", 9.0),
               result("constant change (same length)", "fbuild-deployd default", 2.0, chip=ROM),
               result(bench.ACTIVATION_SCENARIO, "fbuild-deployd default", 0.02, bound=0.0),
               result("a scenario new in this run", "fbuild-deployd default", 3.0)]
        then = [result("constant change (same length)", "fbuild-deployd sector+stub", 1.0),
                result("constant change (same length)", "fbuild-deployd sector", 3.0),
                result("constant change (same length)", "fbuild-deployd sector", 1.6, chip=ROM),
                result(bench.ACTIVATION_SCENARIO, "fbuild-deployd sector", 0.01, bound=0.0)]
        rows = bench.against_previous(now, then)
        self.assertEqual(rows, [("ESP32-C3", "constant change (same length)", 1.5, 1.0, 3.0),
                                ("ESP32 (ROM loader)", "constant change (same length)", 2.0, None, 1.6)])
        table = bench.fmt_against_previous(rows).splitlines()
        self.assertEqual(table[2], "| ESP32-C3 | constant change (same length) | 1.500 | 1.000 | 1.50 | 3.000 | 0.50 |")
        self.assertEqual(table[3], "| ESP32 (ROM loader) | constant change (same length) | 2.000 | — | — | 1.600 | 1.25 |")
        self.assertEqual(bench.fmt_against_previous([]), "")


class Configs(unittest.TestCase):
    def config(self, name, mode=bench.DEPLOY):
        with tempfile.NamedTemporaryFile("r", suffix=".conf") as f:
            bench.write_config(f.name, bench.ClientConfig(name, mode))
            return f.read()

    def test_default_names_no_granularity_and_no_stub(self):
        text = self.config("default")
        self.assertNotIn("Granularity", text)
        self.assertNotIn("Stub", text)
        self.assertIn("IdleTimeoutSec=600", text)

    def test_idle_scenario_keeps_the_default_timeouts(self):
        text = self.config("default", bench.IDLE)
        self.assertNotIn("IdleTimeoutSec", text)
        self.assertEqual(text, "[Service]\nLogLevel=info\n")

    def test_named_configs(self):
        self.assertIn("Granularity=region\n", self.config("region"))
        text = self.config("sector+stub")
        self.assertIn("Granularity=sector\n", text)
        self.assertIn(f"StubDirectory={bench.STUB_DIR}\n", text)



SMAPS = """\
55d0-55d2 r-xp 00000000 fe:00 1 /usr/bin/fbuild-deployd
Rss:                   8 kB
Anonymous:             0 kB
7f00-7f01 rw-p 00014000 fe:00 2 /usr/lib/libumockdev-preload.so.0.0.0
Rss:                   4 kB
Anonymous:             4 kB
7f01-7f02 rw-p 00000000 00:00 0
Rss:                  40 kB
Anonymous:            40 kB
7f03-7f04 rw-p 00000000 00:00 0
Rss:                  16 kB
Anonymous:            16 kB
"""


class IdleMemory(unittest.TestCase):
    def test_the_preloads_mappings_and_its_bss_are_left_out(self):
        with tempfile.NamedTemporaryFile("w", suffix=".smaps") as f:
            f.write(SMAPS)
            f.flush()
            real_open = idle_rss.open if hasattr(idle_rss, "open") else open
            idle_rss.open = lambda path, *a, **kw: real_open(f.name, *a, **kw)
            try:
                kib = idle_rss.smaps_kib(0, exclude=idle_rss.TESTBED_MAPPINGS)
            finally:
                del idle_rss.open
        # The service's code and the anonymous mapping that does not follow the
        # preload's data; not the preload nor the nameless mapping right after it.
        self.assertEqual((kib["Rss"], kib["Anonymous"], kib["File"]), (24, 16, 8))


if __name__ == "__main__":
    unittest.main()
