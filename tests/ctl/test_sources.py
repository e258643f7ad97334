# SPDX-License-Identifier: LGPL-2.1-or-later
"""fbuildctl deploy and verify from each SOURCE format: ESP-IDF build directories
(current and older flasher_args.json, given as build dir, project dir or the file
itself), PlatformIO environments (with idedata.json naming a framework's
boot_app0.bin, and without it, where the chip comes from the bootloader's image
header), and explicit OFFSET=FILE pairs; each checked byte for byte on the
simulated chip. Run: umockdev-wrapper /usr/bin/python3 test_sources.py"""

import os
import unittest

import ctlharness
from ctlharness import EXIT_INVALID, EXIT_SUCCESS


class Sources(ctlharness.CtlTestCase):

    def test_esp_idf_build_dir(self):
        dev = self.add_board("esp32", "uart")
        self.start(trust_default=True)
        build, regions = self.idf_project(chip="esp32")
        p = self.ctl("-v", "deploy", build, expect=EXIT_SUCCESS)
        self.assertIn(f"{dev.node}: full", p.stdout)
        self.assertFlashHolds(dev, regions)
        # The chip came from flasher_args.json; the bootloader went to 0x1000.
        self.assertIn("(esp32)", p.stderr)
        self.assertIn("0x00001000", p.stderr)
        # Again: the device provably holds it.
        p = self.ctl("deploy", build, expect=EXIT_SUCCESS)
        self.assertIn(f"{dev.node}: trust-skip", p.stdout)
        p = self.ctl("verify", build, expect=EXIT_SUCCESS)
        self.assertIn("all 3 regions match", p.stdout)

    def test_esp_idf_legacy_project_dir(self):
        # An older flasher_args.json has no chip: it comes from config/sdkconfig.json,
        # and the S3's bootloader sits at 0x0. The project dir stands for build/.
        dev = self.add_board("esp32s3", "usb-jtag")
        self.start()
        build, regions = self.idf_project(chip="esp32s3", legacy=True)
        p = self.ctl("-v", "deploy", "--port", dev.node, os.path.dirname(build), expect=EXIT_SUCCESS)
        self.assertIn("(esp32s3)", p.stderr)
        self.assertFlashHolds(dev, regions)
        # flasher_args.json itself names its build directory too.
        self.ctl("verify", os.path.join(build, "flasher_args.json"), expect=EXIT_SUCCESS)

    def test_platformio_idedata(self):
        # An Arduino build: idedata.json places the bootloader, the partition table and
        # the framework's boot_app0.bin; firmware.bin goes to application_offset.
        dev = self.add_board("esp32", "uart")
        self.start()
        env_dir, regions = self.pio_project(chip="esp32", idedata=True)
        p = self.ctl("-v", "deploy", env_dir, expect=EXIT_SUCCESS)
        self.assertFlashHolds(dev, regions)
        for off, name in ((0x1000, "bootloader"), (0x8000, "partitions"), (0xE000, "boot_app0"),
                          (0x10000, "app")):
            self.assertRegex(p.stderr, rf"0x{off:08x}\s+\S+ \S+\s+{name}")

    def test_platformio_moved_tree(self):
        # The tree was copied from another machine: idedata.json's absolute paths are
        # stale, and the same file names in the env dir are used instead.
        dev = self.add_board("esp32", "uart")
        self.start()
        env_dir, regions = self.pio_project(name="elsewhere", chip="esp32", idedata=True,
                                            boot_app0_in_build=True)
        moved = os.path.join(self.work, "moved")
        os.rename(os.path.join(self.work, "elsewhere"), moved)
        self.ctl("deploy", os.path.join(moved, ".pio", "build", "esp32dev"), expect=EXIT_SUCCESS)
        self.assertFlashHolds(dev, regions)

    def test_platformio_without_idedata(self):
        # No idedata.json: the fixed layout, the chip from bootloader.bin's image
        # header (esp32c3 → bootloader at 0x0), the project dir naming its one env.
        dev = self.add_board("esp32c3", "uart")
        self.start()
        env_dir, regions = self.pio_project(chip="esp32c3", env="c3", idedata=False)
        project = os.path.dirname(os.path.dirname(os.path.dirname(env_dir)))
        p = self.ctl("-v", "deploy", project, expect=EXIT_SUCCESS)
        self.assertIn("(esp32c3)", p.stderr)
        self.assertIn("0x00000000", p.stderr)
        self.assertFlashHolds(dev, regions)

    def test_platformio_several_envs(self):
        self.add_board("esp32", "uart")
        self.start()
        env_dir, _ = self.pio_project(env="one")
        self.pio_project(env="two")
        project = os.path.dirname(os.path.dirname(os.path.dirname(env_dir)))
        p = self.ctl("deploy", project, expect=EXIT_INVALID)
        self.assertIn("2 environments", p.stderr)
        self.assertIn("one", p.stderr)
        self.assertIn("two", p.stderr)

    def test_offset_pairs(self):
        dev = self.add_board("esp32", "uart")
        self.start()
        img = self.image(chip="esp32", app_seed=3)
        pairs = [f"{off:#x}={path}" for off, path in img.paths()]
        p = self.ctl("deploy", *pairs, expect=EXIT_SUCCESS)
        self.assertIn(f"{dev.node}: full", p.stdout)
        self.assertTrue(img.matches_flash(dev.sim.flash()))
        # Relative paths are relative to the working directory, decimal offsets work.
        rel = [f"{off}={os.path.basename(path)}" for off, path in img.paths()]
        self.ctl("verify", *rel, expect=EXIT_SUCCESS, cwd=os.path.dirname(img.paths()[0][1]))

    def test_combined_sources(self):
        # A build plus an extra region (a filesystem image) in one deploy.
        dev = self.add_board("esp32", "uart")
        self.start()
        build, regions = self.idf_project(chip="esp32")
        fs = os.path.join(self.work, "spiffs.bin")
        data = bytes(range(256)) * 64
        with open(fs, "wb") as f:
            f.write(data)
        self.ctl("deploy", build, f"0x290000={fs}", expect=EXIT_SUCCESS)
        self.assertFlashHolds(dev, regions + [(0x290000, data, "spiffs")])


if __name__ == "__main__":
    unittest.main()
