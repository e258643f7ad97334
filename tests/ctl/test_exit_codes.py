# SPDX-License-Identifier: LGPL-2.1-or-later
"""fbuildctl's exit codes, one per kind of outcome (docs/fbuildctl.md): no such
device, no device or several devices without --port, invalid usage and input
(caught by fbuildctl or refused by the service), permission denied, a device that
does not answer, and an unreachable service; each with a message that says what
to do. Run: umockdev-wrapper /usr/bin/python3 test_exit_codes.py"""

import json
import os
import time
import unittest

import ctlharness
from ctlharness import (EXIT_DEVICE_ERROR, EXIT_FAILURE, EXIT_INVALID, EXIT_NO_DEVICE,
                        EXIT_PERMISSION, EXIT_SUCCESS)


class ExitCodes(ctlharness.CtlTestCase):

    def pairs(self, chip="esp32", seed=1):
        img = self.image(chip=chip, app_seed=seed)
        return img, [f"{off:#x}={path}" for off, path in img.paths()]

    def test_no_such_device(self):
        self.add_board("esp32", "uart")
        self.start()
        _, pairs = self.pairs()
        p = self.ctl("deploy", "--port=/dev/ttyUSB9", *pairs, expect=EXIT_NO_DEVICE)
        self.assertIn("org.fbuild.Deploy1.Error.NoSuchDevice", p.stderr)
        _, o = self.ctl_json("verify", "--port=/dev/ttyUSB9", *pairs, expect=EXIT_NO_DEVICE)
        self.assertEqual(o["error"]["name"], "org.fbuild.Deploy1.Error.NoSuchDevice")
        self.assertEqual(o["exit_code"], EXIT_NO_DEVICE)

    def test_no_device_attached(self):
        self.start()
        _, pairs = self.pairs()
        p = self.ctl("deploy", *pairs, expect=EXIT_NO_DEVICE)
        self.assertIn("No serial device is attached", p.stderr)
        self.ctl("trust", "forget", expect=EXIT_NO_DEVICE)

    def test_several_devices(self):
        a = self.add_board("esp32", "uart")
        b = self.add_board("esp32c3", "uart")
        self.start()
        img, pairs = self.pairs()
        p = self.ctl("deploy", *pairs, expect=EXIT_INVALID)
        self.assertIn("choose one with --port", p.stderr)
        self.assertIn(a.node, p.stderr)
        self.assertIn(b.node, p.stderr)
        # Naming one works.
        self.ctl("-q", "deploy", "--port", a.node, *pairs, expect=EXIT_SUCCESS)
        self.assertTrue(img.matches_flash(a.sim.flash()))

    def test_invalid_input_caught_locally(self):
        self.add_board("esp32", "uart")
        self.start()
        img, pairs = self.pairs()
        cases = [
            (["deploy"], "No SOURCE given, and the current directory is not a project"),
            (["deploy", "0x1000=/nonexistent.bin"], "No such file or directory"),
            (["deploy", pairs[0], pairs[0]], "Regions overlap"),
            (["deploy", "0x1000=" + img.paths()[0][1], "0x2000=" + img.paths()[1][1]], "Regions overlap"),
            (["deploy", "0x100000000=" + img.paths()[0][1]], "does not fit 32 bits"),
            (["deploy", img.paths()[0][1]], "needs its flash offset"),
            (["deploy", self.work], "not a build directory"),
            (["deploy", "--baud=fast", pairs[0]], "Invalid baud rate"),
            (["deploy", "--chip=esp8266", pairs[0]], "Unknown chip"),
            (["deploy", "--frobnicate", pairs[0]], "Unknown option"),
            (["devices", "--port=/dev/ttyUSB0"], "does not take --port"),
            (["verify", "--no-trust", pairs[0]], "does not take --no-trust"),
            (["trust", "remember"], "Unknown trust command"),
            (["flash", pairs[0]], "Unknown command"),
            ([], "Missing command"),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                p = self.ctl(*args, expect=EXIT_INVALID)
                self.assertIn(message, p.stderr)

    def test_invalid_build_metadata(self):
        self.add_board("esp32", "uart")
        self.start()
        build, _ = self.idf_project(chip="esp32")
        args = os.path.join(build, "flasher_args.json")
        with open(args) as f:
            good = f.read()
        bad = {
            "truncated": good[:len(good) // 2],
            "trailing comma": good.replace('"flash_freq": "40m"\n', '"flash_freq": "40m",\n'),
            "bad offset": good.replace('"0x8000" :', '"0x8zz0" :', 1),
            "encrypted": good.replace('"encrypted" : "false"', '"encrypted" : "true"', 1),
            "unknown chip": good.replace('"chip"   : "esp32"', '"chip"   : "esp8266"'),
            "not an object": "[]",
        }
        for what, text in bad.items():
            with self.subTest(what=what):
                with open(args, "w") as f:
                    f.write(text)
                p = self.ctl("deploy", build, expect=EXIT_INVALID)
                self.assertIn("flasher_args.json", p.stderr)
        with open(args, "w") as f:
            f.write(good)
        # A chip on the command line that contradicts the build.
        p = self.ctl("deploy", "--chip=esp32s3", build, expect=EXIT_INVALID)
        self.assertIn("contradicts the build", p.stderr)

    def test_invalid_input_refused_by_service(self):
        self.add_board("esp32", "uart")
        self.start()
        img, pairs = self.pairs()
        # An unaligned region is refused before the call (issue 15: test_offsets.py).
        # Unknown reset: InvalidOptions.
        p = self.ctl("deploy", "--before=sideways", *pairs, expect=EXIT_INVALID)
        self.assertIn("org.fbuild.Deploy1.Error.InvalidOptions", p.stderr)
        # Pairs carry no chip; --chip makes the service check it: ChipMismatch.
        p = self.ctl("deploy", "--chip=esp32c3", *pairs, expect=EXIT_INVALID)
        self.assertIn("org.fbuild.Deploy1.Error.ChipMismatch", p.stderr)

    def test_permission_denied_on_a_source(self):
        self.add_board("esp32", "uart")
        self.start()
        img, pairs = self.pairs()
        secret = img.paths()[0][1]
        os.chmod(secret, 0o600)             # root's; the caller below is nobody
        os.chmod(os.path.dirname(secret), 0o755)
        argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"] + \
            self.ctl_argv(["deploy"] + pairs)
        p = self.ctl(*argv, raw=True, expect=EXIT_PERMISSION)
        self.assertIn("Permission denied", p.stderr)

    def test_device_error(self):
        # A port with no chip behind it: the service times out connecting.
        dev = self.add_board("esp32", "uart", sim=False)
        self.start()
        _, pairs = self.pairs()
        p = self.ctl("deploy", "--port", dev.node, *pairs, expect=EXIT_DEVICE_ERROR, timeout=300)
        self.assertRegex(p.stderr, r"org\.fbuild\.Deploy1\.Error\.(Timeout|ProtocolError)")

    def test_port_vanishes_mid_deploy(self):
        # The board is pulled while the app is being written (issue 15): exit 3, the
        # device is gone, not 5; with --json the error says so too.
        for json_mode in (False, True):
            with self.subTest(json=json_mode):
                dev = self.add_board("esp32", "uart", sim_args=("--fault=vanish=60000",))
                self.start() if self.service is None else None
                img = self.image(chip="esp32", app_seed=7 + json_mode, app_size=256 * 1024)
                pairs = [f"{off:#x}={path}" for off, path in img.paths()]
                args = (["--json"] if json_mode else []) + ["deploy", "--port", dev.node] + pairs
                proc = self.ctl_popen(*args)
                deadline = time.monotonic() + 60
                while dev.sim.proc.poll() is None and time.monotonic() < deadline and proc.poll() is None:
                    time.sleep(0.01)
                dev.unplug()            # as the kernel does when the chip's line dies
                rc = proc.wait(120)
                out, err = self.read_back(proc.out_file), self.read_back(proc.err_file)
                self.assertEqual(rc, EXIT_NO_DEVICE, f"stdout:\n{out}\nstderr:\n{err}")
                self.assertIn(f"{dev.node} is gone: the device went away during the deploy", err)
                if json_mode:
                    o = json.loads(out)
                    self.assertEqual(o["exit_code"], EXIT_NO_DEVICE)
                    self.assertIn("went away", o["error"]["message"])

    def test_service_unreachable(self):
        self.start()
        _, pairs = self.pairs()
        nowhere = ctlharness.harness.Endpoint("unix:path=/nonexistent/bus", peer_to_peer=True)
        p = self.ctl("deploy", *pairs, endpoint=nowhere, expect=EXIT_FAILURE)
        self.assertIn("Cannot connect", p.stderr)


if __name__ == "__main__":
    unittest.main()
