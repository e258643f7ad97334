# SPDX-License-Identifier: LGPL-2.1-or-later
"""granularity=sector against a simulated ESP32: a one-sector change writes
exactly that sector (the written ranges, the chip's FLASH_BEGIN count and its
flash file agree), a change that shifts everything falls back to the whole
region, and the transfer baud rate defaults to BridgeBaud= on a bridge.
Run: umockdev-wrapper /usr/bin/python3 test_sectors.py (env: see harness.py)"""

import os
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
