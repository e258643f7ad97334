# SPDX-License-Identifier: LGPL-2.1-or-later
"""granularity=sector against a simulated ESP32: a one-sector change writes
exactly that sector (the written ranges, the chip's FLASH_BEGIN count and its
flash file agree), a change that shifts everything falls back to the whole
region, and the transfer baud rate defaults to BridgeBaud= on a bridge.
Run: umockdev-wrapper /usr/bin/python3 test_sectors.py (env: see harness.py)"""

import hashlib
import os
import random
import re
import unittest

import dbus

import harness
import fixtures  # noqa: E402 (on the path harness sets up)

SECTOR = 0x1000


class Sectors(harness.ServiceTestCase):
    def setUp(self):
        super().setUp()
        self.dev = self.add_board("esp32", "uart")
        self.port = self.dev.node
        self.sim = self.dev.sim
        self.svc = self.start_service("bus")
        self.c = self.client()
        # A 512 KiB application: eight 64 KiB blocks to narrow down.
        self.app = fixtures.application("esp32", size=512 * 1024, seed=7)
        self.base = self.app_image(self.app, "base")
        outcome, _, _ = self.c.deploy(self.port, self.base.paths(), trust=False)
        self.assertEqual(outcome, "full")
        self.assertTrue(self.base.matches_flash(self.sim.flash()))

    def app_image(self, app, tag):
        regions = [(o, d, n) if n != "app" else (o, app, n)
                   for o, d, n in fixtures.flash_set("esp32", app_seed=7)]
        return harness.Image(self.work, regions, tag)

    def deploy_sector(self, image):
        before = self.sim.stats()
        outcome, written, stats = self.c.deploy(self.port, image.paths(), trust=False,
                                                granularity="sector")
        after = self.sim.stats()
        self.assertTrue(image.matches_flash(self.sim.flash()),
                        f"flash differs in {image.mismatches(self.sim.flash())}")
        return outcome, written, stats, after["flash_begins"] - before["flash_begins"]

    def test_one_sector(self):
        app_off = fixtures.APP_OFFSET
        changed = bytearray(self.app)
        at = 37 * SECTOR + 100          # in the sixth sector of the third block
        changed[at:at + 8] = bytes(b ^ 0x5A for b in changed[at:at + 8])
        img = self.app_image(bytes(changed), "one")
        flash_before = self.sim.flash()

        outcome, written, stats, begins = self.deploy_sector(img)
        self.assertEqual(outcome, "selective")
        self.assertEqual(written, [(app_off + 37 * SECTOR, SECTOR)])
        self.assertEqual(begins, 1)
        self.assertEqual(stats["flash_begins"], 1)
        flash = self.sim.flash()
        lo, hi = app_off + 37 * SECTOR, app_off + 38 * SECTOR
        self.assertEqual(flash[:lo], flash_before[:lo], "bytes below the sector changed")
        # The ESP32 ROM's compressed writes spill into the next 28 KiB: the one
        # sector goes uncompressed, and nothing else is rewritten.
        self.assertEqual(flash[hi:], flash_before[hi:], "bytes above the sector changed")
        self.assertEqual((stats["repairs"], stats["stream_restarts"]), (0, 0))
        results = self.c.verify(self.port, img.paths())
        self.assertTrue(all(m for _, _, m, _ in results), f"the image does not verify: {results}")

        # Same image again: nothing to write.
        outcome, written, _, begins = self.deploy_sector(img)
        self.assertEqual((outcome, written, begins), ("verify-skip", [], 0))

    def test_scattered_sectors(self):
        app_off = fixtures.APP_OFFSET
        changed = bytearray(self.app)
        for s in (3, 70, 71, 120):
            changed[s * SECTOR + 9] ^= 0xFF
        img = self.app_image(bytes(changed), "scattered")

        outcome, written, _, begins = self.deploy_sector(img)
        self.assertEqual(outcome, "selective")
        self.assertEqual(written, [(app_off + 3 * SECTOR, SECTOR), (app_off + 70 * SECTOR, 2 * SECTOR),
                                   (app_off + 120 * SECTOR, SECTOR)])
        self.assertEqual(begins, 3)

    def test_shift_writes_region_whole(self):
        app_off = fixtures.APP_OFFSET
        # An insertion near the start shifts everything after it: no sector matches.
        shifted = self.app[:0x200] + b"\x13\x05\x00\x00" + self.app[0x200:-4]
        img = self.app_image(shifted, "shifted")

        outcome, written, stats, begins = self.deploy_sector(img)
        self.assertEqual(outcome, "selective")
        self.assertEqual(written, [(app_off, len(shifted))])
        self.assertEqual(begins, fixtures.write_begins("esp32", len(shifted)))

    def test_region_granularity_unchanged(self):
        app_off = fixtures.APP_OFFSET
        changed = bytearray(self.app)
        changed[5 * SECTOR] ^= 1
        img = self.app_image(bytes(changed), "region")
        outcome, written, _ = self.c.deploy(self.port, img.paths(), trust=False, granularity="region")
        self.assertEqual((outcome, written), ("selective", [(app_off, len(changed))]))

    def test_baud(self):
        # The default on a bridge is BridgeBaud= (921600); "baud" 0 stays at 115200.
        changed = bytearray(self.app)
        changed[9 * SECTOR] ^= 1
        img = self.app_image(bytes(changed), "baud")
        self.c.deploy(self.port, img.paths(), trust=False, after="none")
        self.assertEqual(self.sim.stats()["baud"], 921600)
        self.c.call("ForgetTrust", self.port)
        changed[9 * SECTOR] ^= 1
        img = self.app_image(bytes(changed), "baud0")
        self.c.deploy(self.port, img.paths(), trust=False, after="none", baud=dbus.UInt32(0))
        self.assertEqual(self.sim.stats()["baud"], 115200)


def md5_commands(sim):
    return sum(1 for e in sim.events() if e.get("event") == "command" and e.get("name") == "SPI_FLASH_MD5")


def md5_ranges(sim, since=0):
    """(offset, length) of every SPI_FLASH_MD5 the chip ran, from the since-th event on."""
    return [(e["offset"], e["length"]) for e in sim.events()[since:] if e.get("event") == "md5"]


def hashed_in(ranges, start, end):
    """(requests, bytes) of the MD5s inside [start, end)."""
    inside = [(o, n) for o, n in ranges if o >= start and o + n <= end]
    return len(inside), sum(n for _, n in inside)


def rebuilt(app, at):
    """The application rebuilt with one byte changed: its checksum and appended
    SHA-256 (the image's last 33 bytes) change with it, as a real rebuild's do."""
    out = bytearray(app)
    out[at] ^= 0x5A
    out[-33] ^= 0x5A                    # the XOR checksum over the segment bytes
    out[-32:] = hashlib.sha256(bytes(out[:-32])).digest()
    return bytes(out)


class DefaultPlanner(harness.ServiceTestCase):
    """The default granularity (sector, issue 16): an unchanged image costs the
    MD5 commands region granularity asks (one per region), a change still writes
    only the sectors that differ. The chip starts with the image already on it
    (as after another tool flashed it) and the service has never seen it. A
    region the service knows nothing about and that is no ESP image (the data
    partition) is hashed in as many pieces as the cost model finds cheapest
    (the service logs how many): fewer than its blocks, more than one if a
    change in it is to be narrowed without hashing it all again."""

    DATA_OFFSET = 0x100000
    DATA_BLOCKS = 16

    def setUp(self):
        super().setUp()
        rng = random.Random("planner")
        self.app = fixtures.application("esp32", size=512 * 1024, seed=11)
        self.data = bytes(rng.getrandbits(8) for _ in range(self.DATA_BLOCKS * 0x10000))
        self.regions = [(o, d, n) if n != "app" else (o, self.app, n)
                        for o, d, n in fixtures.flash_set("esp32")] + [(self.DATA_OFFSET, self.data, "data")]
        self.dev = self.add_board("esp32", "uart", flash=self.write_flash("flash.bin"))
        self.port = self.dev.node
        self.sim = self.dev.sim
        self.svc = self.start_service("bus")
        self.c = self.client()

    def write_flash(self, name):
        """A flash file holding the image, as another tool left it."""
        flash = bytearray(b"\xff" * (4 << 20))
        for off, d, _ in self.regions:
            flash[off:off + len(d)] = d
        path = os.path.join(self.work, name)
        with open(path, "wb") as f:
            f.write(flash)
        return path

    def with_region(self, name, data, tag):
        return harness.Image(self.work, [(o, data if n == name else d, n) for o, d, n in self.regions], tag)

    def deploy_counting(self, image, **opts):
        md5s, begins = md5_commands(self.sim), self.sim.stats()["flash_begins"]
        self.events_before = len(self.sim.events())
        outcome, written, _ = self.c.deploy(self.port, image.paths(), trust=False, **opts)
        self.assertTrue(image.matches_flash(self.sim.flash()),
                        f"flash differs in {image.mismatches(self.sim.flash())}")
        return outcome, written, md5_commands(self.sim) - md5s, self.sim.stats()["flash_begins"] - begins

    def data_hashed(self):
        """(requests, bytes) of the last deploy's MD5s inside the data region."""
        return hashed_in(md5_ranges(self.sim, self.events_before), self.DATA_OFFSET,
                         self.DATA_OFFSET + len(self.data))

    def data_pieces(self):
        """How many pieces the service last chose to hash the data region in (its log)."""
        with open(self.svc.log_path) as f:
            found = re.findall(rf"region at {self.DATA_OFFSET:#x}: hashed in (\d+) piece\(s\)", f.read())
        self.assertTrue(found, "the service did not say how it hashes the data region")
        return int(found[-1])

    def assert_pieces_chosen(self):
        """Hashed in pieces by the cost model: neither whole nor block by block
        (a 1 MB region on a fast link), and each of its bytes once."""
        pieces = self.data_pieces()
        self.assertGreater(pieces, 1)
        self.assertLess(pieces, self.DATA_BLOCKS)
        return pieces

    def test_unchanged_costs_what_region_costs(self):
        img = harness.Image(self.work, self.regions, "same")
        sector = self.deploy_counting(img)
        sector_data = self.data_hashed()
        region = self.deploy_counting(img, granularity="region")
        self.assertEqual(region, ("verify-skip", [], len(self.regions), 0))
        # One MD5 per region, as region granularity; plus, for the application
        # (an ESP image of several blocks), one of its 32-byte appended SHA-256
        # that tells whether it was rebuilt before it is hashed whole; plus a
        # round trip per piece past the first of the data partition.
        pieces = self.assert_pieces_chosen()
        self.assertEqual(sector_data, (pieces, len(self.data)))
        self.assertEqual(sector, ("verify-skip", [], len(self.regions) + 1 + pieces - 1, 0))

    def test_unchanged_data_exactly_region(self):
        # A region that is no ESP image (a data partition): its MD5 in pieces,
        # each byte hashed once.
        img = harness.Image(self.work, [(self.DATA_OFFSET, self.data, "data")], "data-only")
        outcome = self.deploy_counting(img)
        pieces = self.assert_pieces_chosen()
        self.assertEqual(outcome, ("verify-skip", [], pieces, 0))
        self.assertEqual(self.data_hashed(), (pieces, len(self.data)))
        self.assertEqual(self.deploy_counting(img, granularity="region"), ("verify-skip", [], 1, 0))
        self.assertEqual(self.data_hashed(), (1, len(self.data)))

    def test_pieces_prove_the_region_digest(self):
        # A region hashed in pieces that all match is proven whole: its digest
        # (the image's, computed while the chip hashes the first piece) is what
        # the service keeps as the board's content, so the next deploy of the
        # same region asks one MD5 of it.
        img = harness.Image(self.work, [(self.DATA_OFFSET, self.data, "data")], "data-proven")
        pieces = self.deploy_counting(img)[2]
        self.assertGreater(pieces, 1)
        self.assertEqual(self.deploy_counting(img), ("verify-skip", [], 1, 0))
        self.assertEqual(self.data_hashed(), (1, len(self.data)))

    def test_one_sector_in_data(self):
        data = bytearray(self.data)
        data[45 * SECTOR + 77] ^= 0xFF
        img = self.with_region("data", bytes(data), "data-one")
        outcome, written, _, begins = self.deploy_counting(img)
        self.assertEqual((outcome, written, begins),
                         ("selective", [(self.DATA_OFFSET + 45 * SECTOR, SECTOR)], 1))

    def test_data_change_hashes_region_about_once(self):
        # A change in a data partition the service has not seen: its pieces,
        # then the blocks of the one piece that differs, then sectors. Hashing
        # it whole and then block by block (twice its bytes) would fail this.
        data = bytearray(self.data)
        data[9 * 0x10000 + 3 * SECTOR + 5] ^= 0xFF
        img = self.with_region("data", bytes(data), "data-once")
        outcome, written, _, _ = self.deploy_counting(img)
        self.assertEqual((outcome, written), ("selective", [(self.DATA_OFFSET + 0x93000, SECTOR)]))
        _, hashed = self.data_hashed()
        self.assertLessEqual(hashed, 1.25 * len(self.data), md5_ranges(self.sim, self.events_before))
        self.assert_pieces_chosen()

    def test_known_content(self):
        # Two boards with the same flash; the service has proven what the second
        # holds (an unchanged deploy). A data file changes: on the unknown board
        # the data region is hashed in the pieces the cost model chose, then
        # narrowed; on the known one it is known to differ from what the board
        # holds and is hashed block by block straight away, and the unchanged
        # application needs no digest probe.
        other = self.add_board("esp32", "uart", flash=self.write_flash("flash-other.bin"))
        img = harness.Image(self.work, self.regions, "same-other")
        self.assertEqual(self.c.deploy(other.node, img.paths(), trust=False)[0], "verify-skip")

        data = bytearray(self.data)
        data[5 * SECTOR + 1] ^= 0xFF
        img = self.with_region("data", bytes(data), "data-known")
        unknown = self.deploy_counting(img)
        self.sim, self.port = other.sim, other.node
        known = self.deploy_counting(img)
        one = ("selective", [(self.DATA_OFFSET + 5 * SECTOR, SECTOR)])
        self.assertEqual(unknown[:2], one)
        self.assertEqual(known[:2], one)
        ranges = md5_ranges(self.sim, self.events_before)
        data_end = self.DATA_OFFSET + len(self.data)
        self.assertEqual([n for o, n in ranges if self.DATA_OFFSET <= o < data_end and n >= 0x10000],
                         [0x10000] * self.DATA_BLOCKS, ranges)
        self.assertEqual([n for _, n in ranges if n == 32], [])

    def test_rebuilt_app(self):
        # One byte in the middle, and the image's digest at its end: the two
        # sectors that differ are written, nothing else.
        app = rebuilt(self.app, 70 * SECTOR + 3)
        img = self.with_region("app", app, "app-rebuilt")
        last = (len(app) - 1) // SECTOR * SECTOR
        outcome, written, _, _ = self.deploy_counting(img)
        self.assertEqual((outcome, written),
                         ("selective", [(fixtures.APP_OFFSET + 70 * SECTOR, SECTOR),
                                        (fixtures.APP_OFFSET + last, len(app) - last)]))


STUB_DIR = os.path.join(harness.SOURCE_ROOT, "tests", "conformance", "node_modules", "esptool-js",
                        "lib", "targets", "stub_flasher")


@unittest.skipUnless(os.path.exists(os.path.join(STUB_DIR, "esp32.json")),
                     "esptool-js's stubs are not installed (npm ci in tests/conformance)")
class SectorsWithStub(harness.ServiceTestCase):
    """StubDirectory=: the service runs esptool's flasher stub (0x4000 blocks, MD5 as
    raw bytes, erase as it goes) and the sector path works the same over it."""

    def setUp(self):
        super().setUp()
        self.dev = self.add_board("esp32", "uart")
        self.port = self.dev.node
        self.sim = self.dev.sim
        self.svc = self.start_service("bus")
        with open(self.svc.config_path, "a") as f:
            f.write(f"StubDirectory={STUB_DIR}\n")

    def test_stub_sector_write(self):
        app = fixtures.application("esp32", size=300 * 1024, seed=9)
        regions = [(o, d, n) if n != "app" else (o, app, n) for o, d, n in fixtures.flash_set("esp32")]
        base = harness.Image(self.work, regions, "stub-base")
        c = self.client()
        outcome, _, _ = c.deploy(self.port, base.paths(), trust=False, after="none")
        self.assertEqual(outcome, "full")
        st = self.sim.stats()
        self.assertTrue(st["stub"], f"the service did not start the stub: {st}")
        self.assertTrue(base.matches_flash(self.sim.flash()))

        changed = bytearray(app)
        changed[21 * SECTOR + 5] ^= 0xFF
        img = harness.Image(self.work, [(o, d, n) if n != "app" else (o, bytes(changed), n)
                                        for o, d, n in regions], "stub-one")
        begins = self.sim.stats()["flash_begins"]
        # one sector alone would not pay for the stub ("auto"): ask for it
        outcome, written, stats = c.deploy(self.port, img.paths(), trust=False, granularity="sector",
                                           loader="stub")
        self.assertEqual(harness.unwrap(stats)["loader"], "stub")
        self.assertEqual((outcome, written), ("selective", [(fixtures.APP_OFFSET + 21 * SECTOR, SECTOR)]))
        self.assertEqual(self.sim.stats()["flash_begins"] - begins, 1)
        self.assertTrue(img.matches_flash(self.sim.flash()))


if __name__ == "__main__":
    unittest.main()
