# SPDX-License-Identifier: LGPL-2.1-or-later
"""The flasher stub without configuration (issue 16 item 3), against a simulated
ESP32-C3: a stub found in StubSearchPath= (laid out as esptool 5 installs it) is
uploaded after the switch to the fast rate and serves a cold deploy; a no-change
deploy and a one-sector write stay on the ROM (the cost model); a stub passed as
an fd serves too, and one that is not a stub is refused by name; a stub that
does not run falls back to the ROM loader and the deploy still succeeds.
Run: umockdev-wrapper /usr/bin/python3 test_stub.py (env: see harness.py)"""

import json
import os
import shutil
import unittest

import dbus

import harness
import fixtures  # noqa: E402 (on the path harness sets up)

SECTOR = 0x1000
STUB_DIR = os.path.join(harness.SOURCE_ROOT, "tests", "conformance", "node_modules", "esptool-js",
                        "lib", "targets", "stub_flasher")
HAVE_STUBS = os.path.exists(os.path.join(STUB_DIR, "esp32c3.json"))


def commands(events, name):
    return [i for i, e in enumerate(events) if e.get("event") == "command" and e.get("name") == name]


class StubBase(harness.ServiceTestCase):
    chip = "esp32c3"

    def setUp(self):
        super().setUp()
        self.dev = self.add_board(self.chip, "uart")
        self.port = self.dev.node
        self.sim = self.dev.sim
        self.svc = self.start_service("bus")
        # before the first call activates the service
        with open(self.svc.config_path, "a") as f:
            for line in self.config_lines():
                f.write(line + "\n")
        self.c = self.client()
        self.app = fixtures.application(self.chip, size=300 * 1024, seed=11)

    def config_lines(self):
        return []

    def image(self, app, tag):
        return harness.Image(self.work, [(o, d, n) if n != "app" else (o, app, n)
                                         for o, d, n in fixtures.flash_set(self.chip)], tag)

    def deploy(self, img, **opts):
        opts.setdefault("trust", False)
        opts.setdefault("granularity", "sector")
        outcome, written, stats = self.c.deploy(self.port, img.paths(), **opts)
        self.assertTrue(img.matches_flash(self.sim.flash()), f"flash differs in {img.mismatches(self.sim.flash())}")
        return outcome, written, harness.unwrap(stats)


@unittest.skipUnless(HAVE_STUBS, "esptool-js's stubs are not installed (npm ci in tests/conformance)")
class StubSearchPath(StubBase):
    def config_lines(self):
        # esptool 5's layout under a versioned Python directory: …/python3.X/…/stub_flasher/1/<chip>.json
        tree = os.path.join(self.work, "lib", "python3.99", "site-packages", "esptool", "targets",
                            "stub_flasher", "1")
        os.makedirs(tree)
        shutil.copy(os.path.join(STUB_DIR, "esp32c3.json"), tree)
        return ["StubSearchPath=/nonexistent:" + os.path.join(
            self.work, "lib", "python3*", "site-packages", "esptool", "targets", "stub_flasher")]

    def test_cold_deploy_uploads_the_stub_at_the_fast_rate(self):
        img = self.image(self.app, "cold")
        outcome, _, stats = self.deploy(img, after="none")
        self.assertIn(outcome, ("full", "selective"))
        self.assertEqual(stats["loader"], "stub")
        self.assertFalse(stats["stub_failed"])
        self.assertTrue(self.sim.stats()["stub"])

        events = self.sim.events()
        mem = commands(events, "MEM_BEGIN") + commands(events, "MEM_DATA")
        self.assertTrue(mem, "no stub upload in the sim's log")
        bauds = [e for e in events[:min(mem)] if e.get("event") == "baud"]
        self.assertTrue(bauds, "the rate was not switched before the upload")
        self.assertEqual(bauds[-1]["nominal"], 921600)
        self.assertTrue(all(e.get("loader") == "rom" for i, e in enumerate(events) if i in mem))
        # no rate change after the upload: the stub keeps the ROM's divider
        self.assertFalse([e for e in events[max(mem):] if e.get("event") == "baud"])

    def test_no_change_and_one_sector_stay_on_the_rom(self):
        img = self.image(self.app, "base")
        self.deploy(img)
        uploads = len(commands(self.sim.events(), "MEM_BEGIN"))

        outcome, _, stats = self.deploy(img)
        self.assertEqual(outcome, "verify-skip")
        self.assertEqual(stats["loader"], "rom")

        changed = bytearray(self.app)
        changed[21 * SECTOR + 3] ^= 0xFF
        one = self.image(bytes(changed), "one")
        outcome, written, stats = self.deploy(one)
        self.assertEqual((outcome, written), ("selective", [(fixtures.APP_OFFSET + 21 * SECTOR, SECTOR)]))
        self.assertEqual(stats["loader"], "rom")
        self.assertEqual(len(commands(self.sim.events(), "MEM_BEGIN")), uploads)

    def test_loader_rom_and_stub(self):
        img = self.image(self.app, "rom")
        _, _, stats = self.deploy(img, loader="rom")
        self.assertEqual(stats["loader"], "rom")
        self.assertFalse(commands(self.sim.events(), "MEM_BEGIN"))
        # "stub": even for a verify-skip
        _, _, stats = self.deploy(img, loader="stub")
        self.assertEqual(stats["loader"], "stub")


@unittest.skipUnless(HAVE_STUBS, "esptool-js's stubs are not installed (npm ci in tests/conformance)")
class StubFd(StubBase):
    def config_lines(self):
        return ["StubSearchPath="]

    def test_passed_stub_serves(self):
        img = self.image(self.app, "fd")
        with open(os.path.join(STUB_DIR, "esp32c3.json"), "rb") as f:
            _, _, stats = self.deploy(img, stub=dbus.types.UnixFd(f))
        self.assertEqual(stats["loader"], "stub")

    def test_without_a_stub_the_rom_serves(self):
        _, _, stats = self.deploy(self.image(self.app, "none"))
        self.assertEqual(stats["loader"], "rom")
        self.assertFalse(commands(self.sim.events(), "MEM_BEGIN"))

    def test_not_a_stub_is_refused_by_name(self):
        img = self.image(self.app, "bad")
        bad = os.path.join(self.work, "bad.json")
        for text in (b"", b"{", b"not json at all", b'{"entry": 1}', b"[" * 100000,
                     json.dumps({"entry": 1, "text": "AQ*D", "text_start": 2}).encode()):
            with open(bad, "wb") as f:
                f.write(text)
            with open(bad, "rb") as f, self.assertRaises(harness.CallError) as e:
                self.c.deploy(self.port, img.paths(), stub=dbus.types.UnixFd(f))
            self.assertEqual(e.exception.name, harness.error_name("InvalidOptions"), text[:20])
        # not a regular file
        r, w = os.pipe()
        try:
            with self.assertRaises(harness.CallError) as e:
                self.c.deploy(self.port, img.paths(), stub=dbus.types.UnixFd(r))
            self.assertEqual(e.exception.name, harness.error_name("InvalidOptions"), e.exception.message)
        finally:
            os.close(r)
            os.close(w)
        # the service still serves
        _, _, stats = self.deploy(img)
        self.assertEqual(stats["loader"], "rom")

    def test_stub_for_another_chip_is_skipped(self):
        # an ESP32 stub's code lies outside the ESP32-C3's RAM: not uploaded
        img = self.image(self.app, "other")
        with open(os.path.join(STUB_DIR, "esp32.json"), "rb") as f:
            _, _, stats = self.deploy(img, stub=dbus.types.UnixFd(f))
        self.assertEqual(stats["loader"], "rom")
        self.assertFalse(stats["stub_failed"])
        self.assertFalse(commands(self.sim.events(), "MEM_BEGIN"))


class BrokenStub(StubBase):
    """A stub that parses and fits the chip's RAM but traps at its entry point
    (an all-zero word): the sim goes silent, the service resets the chip and
    the ROM loader does the deploy. Needs no esptool stub at all."""

    def config_lines(self):
        d = os.path.join(self.work, "broken")
        os.makedirs(d)
        with open(os.path.join(d, "esp32c3.json"), "w") as f:
            json.dump({"entry": 0x40380000, "text": "A" * 512, "text_start": 0x40380000,
                       "data": "AAAA", "data_start": 0x3fc96d68}, f)
        return ["StubSearchPath=" + d]

    def test_falls_back_to_the_rom(self):
        img = self.image(self.app, "broken")
        outcome, _, stats = self.deploy(img)
        self.assertIn(outcome, ("full", "selective"))
        self.assertEqual(stats["loader"], "rom")
        self.assertTrue(stats["stub_failed"])
        events = self.sim.events()
        self.assertTrue(commands(events, "MEM_END"), "the stub was not uploaded")
        self.assertTrue([e for e in events if e.get("event") == "uart-dead"])
        self.assertFalse(self.sim.stats()["stub"])
        self.assertIn("did not run", self.svc.log())


if __name__ == "__main__":
    unittest.main()
