# SPDX-License-Identifier: LGPL-2.1-or-later
"""fbuildctl offers the service the flasher stub of the user's own toolchain
(issue 16 item 3): PlatformIO's tool-esptoolpy under $HOME, ESP-IDF's esptool
under $IDF_PATH; the service uses it when it pays and fbuildctl says which
loader served; a file that is not a stub is not offered. The service itself is
given no stub (the harness empties StubSearchPath=).
Run: umockdev-wrapper /usr/bin/python3 test_toolchain_stub.py"""

import os
import shutil
import unittest

import ctlharness
import harness
from ctlharness import EXIT_SUCCESS

STUBS = os.path.join(harness.SOURCE_ROOT, "tests", "conformance", "node_modules", "esptool-js", "lib",
                     "targets", "stub_flasher")


@unittest.skipUnless(os.path.exists(os.path.join(STUBS, "esp32.json")),
                     "esptool-js's stubs are not installed (npm ci in tests/conformance)")
class ToolchainStub(ctlharness.CtlTestCase):

    def setUp(self):
        super().setUp()
        self.dev = self.add_board("esp32", "uart")
        self.start()
        self.build, _ = self.idf_project(chip="esp32")
        self.home = os.path.join(self.work, "home")

    def put(self, directory, name, source="esp32.json"):
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, name)
        shutil.copy(os.path.join(STUBS, source), path)
        return path

    def test_platformio_stub_serves_a_cold_deploy(self):
        # esptool 4's file name, in PlatformIO's package
        path = self.put(os.path.join(self.home, ".platformio", "packages", "tool-esptoolpy", "esptool",
                                     "targets", "stub_flasher"), "stub_flasher_32.json")
        p = self.ctl("-v", "deploy", self.build, expect=EXIT_SUCCESS)
        self.assertIn(f"Flasher stub offered to the service: {path}", p.stderr)
        self.assertIn("loader: flasher stub", p.stdout)

        # nothing changed: the stub would not pay, the ROM answers
        _, obj = self.ctl_json("deploy", "--no-trust", self.build)
        self.assertEqual(obj["outcome"], "verify-skip")
        self.assertEqual(obj["stats"]["loader"], "rom")

    def test_idf_stub_and_loader_rom(self):
        idf = os.path.join(self.work, "esp-idf")
        self.put(os.path.join(idf, "components", "esptool_py", "esptool", "esptool", "targets",
                              "stub_flasher", "1"), "esp32.json")
        p = self.ctl("--loader=rom", "deploy", self.build, expect=EXIT_SUCCESS, env={"IDF_PATH": idf})
        self.assertIn("loader: ROM", p.stdout)
        p = self.ctl("--loader=stub", "deploy", "--no-trust", self.build, expect=EXIT_SUCCESS,
                     env={"IDF_PATH": idf})
        self.assertIn("loader: flasher stub", p.stdout)

    def test_not_a_stub_is_not_offered(self):
        d = os.path.join(self.home, ".platformio", "packages", "tool-esptoolpy", "esptool", "targets",
                         "stub_flasher")
        os.makedirs(d)
        with open(os.path.join(d, "esp32.json"), "w") as f:
            f.write('{"entry": "not a number"}')
        p = self.ctl("-v", "deploy", self.build, expect=EXIT_SUCCESS)
        self.assertNotIn("Flasher stub offered", p.stderr)
        self.assertIn("loader: ROM", p.stdout)


if __name__ == "__main__":
    unittest.main()
