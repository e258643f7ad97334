# SPDX-License-Identifier: LGPL-2.1-or-later
"""What a connect learns about a board (chip, console, flash size, the reset
holds it needs) is kept per device identity while the board stays attached
(issue 16 item 2): the next connect asks only the chip's magic register, which
a different board behind the same adapter answers differently; a re-plug
forgets it all, as it drops trust.
Run: umockdev-wrapper /usr/bin/python3 test_known_device.py (env: see harness.py)"""

import unittest

import harness


def commands(sim, since=0):
    """Names of the commands the chip handled, from event `since` on."""
    return [e["name"] for e in sim.events()[since:] if e.get("event") == "command"]


class KnownDevice(harness.ServiceTestCase):
    def setUp(self):
        super().setUp()
        self.svc = self.start_service("bus")
        self.c = self.client()

    def deploy(self, dev, img, **opts):
        mark = len(dev.sim.events())
        outcome, _, stats = self.c.deploy(dev.node, img.paths(), trust=False, **opts)
        self.assertTrue(img.matches_flash(dev.sim.flash()), img.mismatches(dev.sim.flash()))
        return outcome, stats, commands(dev.sim, mark)

    def test_second_connect_asks_less(self):
        dev = self.add_board("esp32c3", "uart")
        img = self.image(chip="esp32c3", app_seed=3)
        outcome, _, first = self.deploy(dev, img)
        self.assertEqual(outcome, "full")
        # The chip by its magic register (an answer to READ_REG also proves
        # Secure Download Mode off: GET_SECURITY_INFO is not asked), the flash
        # size by the JEDEC id (SPI registers written and read).
        self.assertEqual(first.count("GET_SECURITY_INFO"), 0, first)
        self.assertGreater(first.count("WRITE_REG"), 0, first)
        self.assertGreater(first.count("READ_REG"), 1, first)

        outcome, _, second = self.deploy(dev, img)
        self.assertEqual(outcome, "verify-skip")
        # Only the chip magic register, which proves the kind of chip, and the
        # low word of its MAC, which proves it is the one known (and so is its flash).
        self.assertEqual(second.count("GET_SECURITY_INFO"), 0, second)
        self.assertEqual(second.count("WRITE_REG"), 0, second)
        self.assertEqual(second.count("READ_REG"), 2, second)
        self.assertIn("SPI_ATTACH", second)       # the chip forgets it at every reset

        # Unplugged and back: everything is asked again.
        dev = self.bed.replug(dev)
        self.assertIn(dev.node, dict(self.c.list_devices()))
        outcome, _, third = self.deploy(dev, img)
        self.assertEqual(outcome, "verify-skip")
        self.assertEqual(third.count("GET_SECURITY_INFO"), 0, third)
        self.assertGreater(third.count("WRITE_REG"), 0, third)

    def test_other_board_behind_the_adapter(self):
        dev = self.add_board("esp32c3", "uart", swappable=True)
        img = self.image(chip="esp32c3", app_seed=4)
        self.assertEqual(self.deploy(dev, img)[0], "full")
        self.assertEqual(self.deploy(dev, img)[2].count("GET_SECURITY_INFO"), 0)

        # The cable moved to an ESP32-S3 with a blank flash: no uevent, same
        # identity. Its magic register differs, so nothing known is taken.
        self.bed.swap_board(dev, "esp32s3")
        outcome, stats, cmds = self.deploy(dev, img)
        self.assertEqual(outcome, "full")
        self.assertEqual(stats["chip"], "esp32s3")
        self.assertEqual(cmds.count("GET_SECURITY_INFO"), 0, cmds)
        self.assertGreater(cmds.count("WRITE_REG"), 0, cmds)

    def test_same_kind_other_board(self):
        dev = self.add_board("esp32c3", "uart", swappable=True)
        img = self.image(chip="esp32c3", app_seed=6)
        outcome, stats, _ = self.deploy(dev, img)
        self.assertEqual((outcome, stats["flash_size"]), ("full", 4 << 20))

        # Another ESP32-C3 (its own MAC) with 2 MB of flash: the chip is taken as
        # known, its flash is not — the JEDEC id is read and names 2 MB.
        self.bed.swap_board(dev, "esp32c3", flash_size="2MB", sim_args=("--reg=0x60008844=0x11223344",))
        outcome, stats, cmds = self.deploy(dev, img)
        self.assertEqual((outcome, stats["flash_size"]), ("full", 2 << 20))
        self.assertEqual(cmds.count("GET_SECURITY_INFO"), 0, cmds)
        self.assertGreater(cmds.count("WRITE_REG"), 0, cmds)

        # And that board is the known one from now on.
        outcome, stats, cmds = self.deploy(dev, img)
        self.assertEqual((outcome, stats["flash_size"]), ("verify-skip", 2 << 20))
        self.assertEqual(cmds.count("WRITE_REG"), 0, cmds)

    def test_failure_forgets(self):
        dev = self.add_board("esp32c3", "uart", swappable=True)
        img = self.image(chip="esp32c3", app_seed=7)
        self.assertEqual(self.deploy(dev, img)[0], "full")

        # Another ESP32-C3 with 256 KB: the chip is taken as known, its flash is
        # read and the image does not fit. A job that went by known facts and
        # failed leaves nothing known: the next connect asks everything.
        self.bed.swap_board(dev, "esp32c3", flash_size="256KB", sim_args=("--reg=0x60008844=0x55667788",))
        mark = len(dev.sim.events())
        with self.assertRaises(harness.CallError):
            self.c.deploy(dev.node, img.paths(), trust=False)
        self.assertEqual(commands(dev.sim, mark).count("GET_SECURITY_INFO"), 0)
        small = harness.Image(self.work, [(o, d, n) for o, _, d, n in img.regions if n != "app"], "small")
        outcome, stats, cmds = self.deploy(dev, small)
        self.assertEqual((outcome, stats["flash_size"]), ("full", 256 << 10))
        self.assertEqual(cmds.count("GET_SECURITY_INFO"), 0, cmds)
        self.assertGreater(cmds.count("WRITE_REG"), 0, cmds)

    def test_slow_en_remembered(self):
        # 10 µF on EN: the short first reset and esptool's 50 ms one boot the
        # application; esptool's 550 ms retry gets through. The next connect
        # starts with that hold.
        dev = self.add_board("esp32", "uart", sim_args=("--en-capacitor=10000",))
        img = self.image(chip="esp32", app_seed=5)
        mark = len(dev.sim.events())
        self.assertEqual(self.deploy(dev, img, after="none")[0], "full")
        first = [e.get("mode") for e in dev.sim.events()[mark:] if e.get("event") == "boot"]
        mark = len(dev.sim.events())
        self.assertEqual(self.deploy(dev, img, after="none")[0], "verify-skip")
        second = [e.get("mode") for e in dev.sim.events()[mark:] if e.get("event") == "boot"]
        self.assertEqual(first.count("download"), 1, first)
        self.assertGreater(len(first), 1, first)
        self.assertEqual(second, ["download"])


if __name__ == "__main__":
    unittest.main()
