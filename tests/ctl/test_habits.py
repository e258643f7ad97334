# SPDX-License-Identifier: LGPL-2.1-or-later
"""What people used to systemd tools, idf.py and esptool type (issue 15, "The
command line"): $FBUILD_ADDRESS, the port from --port / FBUILD_PORT / ESPPORT /
the only board, `deploy` in a project directory with no SOURCE (and -e ENV),
esptool's `OFFSET FILE` form and the rules for offsets (checked before the
service is even asked), --json=short|pretty|off with its schema version,
--no-legend, --no-pager, quiet by default and -v, short --help, and JSON errors
with the real message. Run: umockdev-wrapper /usr/bin/python3 test_habits.py"""

import json
import os
import re
import unittest

import ctlharness
from ctlharness import EXIT_INVALID, EXIT_NO_DEVICE, EXIT_SUCCESS


class Habits(ctlharness.CtlTestCase):

    def raw(self, *args, **kw):
        """fbuildctl without --address: what the environment says is what counts."""
        return self.ctl(ctlharness.FBUILDCTL, *args, raw=True, **kw)

    def pairs(self, seed=1):
        img = self.image(chip="esp32", app_seed=seed)
        return img, [f"{off:#x}={path}" for off, path in img.paths()]

    def test_fbuild_address(self):
        dev = self.add_board("esp32", "uart")
        svc = self.start()
        # Without it the system bus is tried (and here there is none).
        self.raw("devices", expect=ctlharness.EXIT_FAILURE)
        p = self.raw("devices", env={"FBUILD_ADDRESS": svc.endpoint.address}, expect=EXIT_SUCCESS)
        self.assertIn(dev.node, p.stdout)
        # --address wins over it.
        p = self.raw("--address=unix:path=/nonexistent/bus", "devices",
                     env={"FBUILD_ADDRESS": svc.endpoint.address})
        self.assertEqual(p.returncode, ctlharness.EXIT_FAILURE, p.stderr)

    def test_port_variables(self):
        a = self.add_board("esp32", "uart")
        b = self.add_board("esp32", "uart")
        self.start()
        _, pairs = self.pairs()
        # Two boards, nothing named: a usage error that mentions the variables.
        p = self.ctl("-q", "deploy", *pairs, expect=EXIT_INVALID)
        self.assertIn("FBUILD_PORT", p.stderr)
        cases = [
            ({"ESPPORT": b.node}, [], b.node),
            ({"FBUILD_PORT": a.node, "ESPPORT": b.node}, [], a.node),
            ({"FBUILD_PORT": a.node, "ESPPORT": b.node}, ["--port", b.node], b.node),
        ]
        for env, args, want in cases:
            with self.subTest(env=env, args=args):
                _, o = self.ctl_json("verify", *args, *pairs, env=env, expect=ctlharness.EXIT_MISMATCH)
                self.assertEqual(o["port"], want)
        # trust and monitor's PORT argument wins too; the variable names the default.
        _, o = self.ctl_json("trust", "show", env={"ESPPORT": b.node})
        self.assertEqual(o["port"], b.node)
        _, o = self.ctl_json("trust", "show", a.node, env={"ESPPORT": b.node})
        self.assertEqual(o["port"], a.node)

    def test_deploy_defaults_to_the_project(self):
        dev = self.add_board("esp32", "uart")
        self.start()
        build, regions = self.idf_project(chip="esp32")
        project = os.path.dirname(build)
        _, o = self.ctl_json("deploy", cwd=project)
        self.assertEqual((o["outcome"], o["sources"][0]["format"]), ("full", "esp-idf"))
        self.assertFlashHolds(dev, regions)
        self.ctl("verify", cwd=build, expect=EXIT_SUCCESS)
        # Not a project: says so, and what to give instead.
        p, o = self.ctl_json("deploy", cwd=self.work, expect=EXIT_INVALID)
        self.assertIn("No SOURCE given, and the current directory is not a project", p.stderr)
        self.assertIn("not a project", o["error"]["message"])

    def test_platformio_environment(self):
        dev = self.add_board("esp32", "uart")
        self.start()
        one, _ = self.pio_project(env="one", app_seed=1)
        _, two_regions = self.pio_project(env="two", app_seed=2)
        project = os.path.dirname(os.path.dirname(os.path.dirname(one)))
        p = self.ctl("deploy", cwd=project, expect=EXIT_INVALID)
        self.assertIn("choose one with -e ENV", p.stderr)
        _, o = self.ctl_json("deploy", "-e", "two", cwd=project)
        self.assertEqual(o["sources"][0]["directory"], os.path.join(project, ".pio", "build", "two"))
        self.assertFlashHolds(dev, two_regions)
        p = self.ctl("deploy", "--environment=three", project, expect=EXIT_INVALID)
        self.assertIn("no built environment three", p.stderr)
        self.assertIn("one, two", p.stderr.replace("two, one", "one, two"))
        p = self.ctl("devices", "-e", "two", expect=EXIT_INVALID)
        self.assertIn("does not take --environment", p.stderr)

    def test_esptool_offset_file_form(self):
        dev = self.add_board("esp32", "uart")
        self.start()
        img = self.image(chip="esp32", app_seed=5)
        args = [x for off, path in img.paths() for x in (f"{off:#x}", path)]
        _, o = self.ctl_json("deploy", *args)
        self.assertEqual(o["outcome"], "full")
        self.assertTrue(img.matches_flash(dev.sim.flash()))
        # Mixed with OFFSET=FILE and decimal offsets.
        (o1, p1), (o2, p2), (o3, p3) = img.paths()
        self.ctl("verify", f"{o1}", p1, f"{o2:#x}={p2}", f"{o3:#x}", p3, expect=EXIT_SUCCESS)

    def test_offset_rules_before_anything_is_sent(self):
        self.add_board("esp32", "uart")
        svc = self.start()
        img = self.image(chip="esp32")
        app = img.paths()[2][1]
        cases = [
            (["010000=" + app], ["leading zero", "0x10000"]),
            (["010000", app], ["leading zero", "0x10000"]),
            (["0x1g000=" + app], ["not a flash offset"]),
            (["0x10001=" + app], [os.path.basename(app), "4 KiB flash sector boundary", "0x10000"]),
            (["0x10001", app], ["4 KiB flash sector boundary"]),
            (["0x10000"], ["an offset needs a FILE after it"]),
        ]
        for args, words in cases:
            with self.subTest(args=args):
                p, o = self.ctl_json("deploy", *args, expect=EXIT_INVALID)
                for w in words:
                    self.assertIn(w, p.stderr)
                    self.assertIn(w, o["error"]["message"])
                self.assertNotIn("No such file", p.stderr)
                self.assertNotIn("org.fbuild.Deploy1.Error", p.stderr)
        # Nothing reached the service: it was never even started.
        self.assertEqual(svc.activations(), 0)

    def test_json_modes_and_schema(self):
        self.add_board("esp32", "uart")
        self.start()
        short = self.ctl("--json=short", "devices", expect=EXIT_SUCCESS).stdout
        self.assertEqual(len(short.splitlines()), 1, short)
        o = json.loads(short)
        self.assertEqual(o["schema"], 1)
        pretty = self.ctl("--json=pretty", "devices", expect=EXIT_SUCCESS).stdout
        self.assertGreater(len(pretty.splitlines()), 3)
        self.assertIn('\n  "devices"', pretty)
        self.assertEqual(json.loads(pretty), o)
        off = self.ctl("--json=off", "devices", expect=EXIT_SUCCESS).stdout
        self.assertTrue(off.startswith("PORT "), off)
        p = self.ctl("--json=yaml", "devices", expect=EXIT_INVALID)
        self.assertIn("Invalid --json mode 'yaml'", p.stderr)

    def test_json_errors_carry_the_message(self):
        self.add_board("esp32", "uart")
        self.start()
        for args, words in [(["deploy", "--frobnicate"], "Unknown option '--frobnicate'"),
                            (["trust", "remember"], "Unknown trust command 'remember'"),
                            (["devices", "--port=/dev/x"], "devices does not take --port"),
                            (["trust", "show", "a", "b"], "usage: fbuildctl trust")]:
            with self.subTest(args=args):
                _, o = self.ctl_json(*args, expect=EXIT_INVALID)
                self.assertIn(words, o["error"]["message"])
                self.assertNotEqual(o["error"]["message"], "invalid usage")

    def test_no_legend_no_pager(self):
        dev = self.add_board("esp32", "uart")
        self.start()
        p = self.ctl("--no-pager", "devices", "--no-legend", expect=EXIT_SUCCESS)
        self.assertEqual(len(p.stdout.splitlines()), 1, p.stdout)
        self.assertTrue(p.stdout.startswith(dev.node + " "), p.stdout)

    def test_quiet_by_default(self):
        dev = self.add_board("esp32", "uart")
        self.start(trust_default=True)
        build, _ = self.idf_project(chip="esp32")
        p = self.ctl("deploy", build, expect=EXIT_SUCCESS)
        self.assertNotIn("Deploying", p.stderr)
        self.assertNotIn("bootloader.bin", p.stderr)
        # A trust-skip is one line.
        p = self.ctl("deploy", build, expect=EXIT_SUCCESS)
        self.assertEqual(p.stdout.splitlines(),
                         [f"{dev.node}: trust-skip (the device provably holds this image; "
                          "the port was not opened)"])
        # verify lists each region once (stdout), and no plan on stderr.
        p = self.ctl("verify", build, expect=EXIT_SUCCESS)
        text = p.stdout + p.stderr
        for name in ("bootloader", "partition-table", "app"):
            self.assertEqual(len(re.findall(rf"\s{name}\s", text)), 1, text)
        # -v: the plan as well.
        p = self.ctl("-v", "verify", build, expect=EXIT_SUCCESS)
        self.assertIn(f"Verifying 3 regions (229 KiB) against {dev.node} (esp32):", p.stderr)

    def test_trust_show_unknown_port(self):
        self.add_board("esp32", "uart")
        self.start()
        p = self.ctl("trust", "show", "/dev/ttyUSB9", expect=EXIT_NO_DEVICE)
        self.assertIn("/dev/ttyUSB9", p.stderr)
        _, o = self.ctl_json("trust", "show", "/dev/ttyUSB9", expect=EXIT_NO_DEVICE)
        self.assertIn("/dev/ttyUSB9", o["error"]["message"])


if __name__ == "__main__":
    unittest.main()
