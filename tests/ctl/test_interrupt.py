# SPDX-License-Identifier: LGPL-2.1-or-later
"""Ctrl-C during a deploy: fbuildctl asks the service to Cancel the port's job,
waits for the call to fail with org.fbuild.Deploy1.Error.Cancelled and exits 6;
the service reports the job cancelled (trust lost with reason "cancelled", the
port idle again) and the next deploy repairs the half-written flash. Also a
Cancel from another client, and Ctrl-C during verify. The chip runs the real
timing model with a large app, so the signal lands mid-write.
Run: umockdev-wrapper /usr/bin/python3 test_interrupt.py"""

import json
import time
import unittest

import ctlharness
from ctlharness import EXIT_CANCELLED, EXIT_SUCCESS

BIG_APP = 768 * 1024


class Interrupt(ctlharness.CtlTestCase):

    def big_pairs(self, seed, size=BIG_APP):
        img = self.image(chip="esp32", app_seed=seed, app_size=size)
        return img, [f"{off:#x}={path}" for off, path in img.paths()]

    def wait_writing(self, proc):
        # Plain progress: the first line of the write phase.
        self.wait_for_file_text(proc.err_file, "\nwrite: ", 60, proc)
        self.assertIsNone(proc.poll(), "the deploy ended before it could be interrupted")

    def test_ctrl_c_during_deploy(self):
        dev = self.add_board("esp32", "uart", timing="real")
        self.start(trust_default=True)
        # Trusted first, so losing trust is visible.
        _, small_pairs = self.big_pairs(seed=1, size=64 * 1024)
        self.ctl("-q", "deploy", "--baud=921600", *small_pairs, expect=EXIT_SUCCESS, timeout=120)
        img, pairs = self.big_pairs(seed=2)

        proc = self.ctl_popen("--json", "deploy", "--baud=921600", *pairs)
        self.wait_writing(proc)
        t0 = time.monotonic()
        self.interrupt(proc)
        rc = proc.wait(30)
        err = self.read_back(proc.err_file)
        out = self.read_back(proc.out_file)
        self.assertEqual(rc, EXIT_CANCELLED, f"stdout:\n{out}\nstderr:\n{err}")
        self.assertLess(time.monotonic() - t0, 15, "cancelling took too long")
        self.assertIn("Cancelling the deploy", err)
        self.assertIn("Cancelled.", err)
        # The service's own verdict, as the call's error.
        o = json.loads(out)
        self.assertEqual(o["error"]["name"], "org.fbuild.Deploy1.Error.Cancelled")
        self.assertEqual(o["exit_code"], EXIT_CANCELLED)
        self.assertIn("app", img.mismatches(dev.sim.flash()))

        # The service reports it too: trust lost because of the cancel, port idle.
        _, t = self.ctl_json("trust", "show", dev.node)
        self.assertEqual((t["trusted"], t["last_invalidation"]), (False, "cancelled"))
        _, d = self.ctl_json("devices")
        self.assertEqual(d["devices"][0]["owner"], "idle")

        # And the next deploy repairs the device.
        _, o = self.ctl_json("deploy", "--baud=921600", *pairs, timeout=180)
        self.assertIn(o["outcome"], ("selective", "full"))
        self.assertTrue(img.matches_flash(dev.sim.flash()))

    def test_cancel_from_another_client(self):
        dev = self.add_board("esp32", "uart", timing="real")
        self.start()
        _, pairs = self.big_pairs(seed=3)
        proc = self.ctl_popen("deploy", "--baud=921600", *pairs)
        self.wait_writing(proc)
        ctlharness.harness.Busctl(self.service.endpoint, timeout=30).run(
            "call", ctlharness.harness.BUS_NAME, ctlharness.harness.OBJECT_PATH,
            ctlharness.harness.INTERFACE, "Cancel", "s", dev.node)
        rc = proc.wait(30)
        err = self.read_back(proc.err_file)
        self.assertEqual(rc, EXIT_CANCELLED, err)
        self.assertIn("Cancelled by another client.", err)
        self.assertIn("org.fbuild.Deploy1.Error.Cancelled", err)

    def test_ctrl_c_during_verify(self):
        dev = self.add_board("esp32", "uart", timing="real")
        self.start()
        img, pairs = self.big_pairs(seed=4)
        # Verify at 115200 reads MD5s only; interrupt as soon as it starts.
        proc = self.ctl_popen("-v", "verify", *pairs)
        self.wait_for_file_text(proc.err_file, "\nconnect\n", 60, proc)
        self.interrupt(proc)
        rc = proc.wait(30)
        err = self.read_back(proc.err_file)
        self.assertEqual(rc, EXIT_CANCELLED, err)
        self.assertIn("Cancelling the verify", err)


if __name__ == "__main__":
    unittest.main()
