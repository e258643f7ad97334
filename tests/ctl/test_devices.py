# SPDX-License-Identifier: LGPL-2.1-or-later
"""`fbuildctl devices` and who has a port (issue 15): the CHIP column shows the
chip the last job on the port detected; OWNER says `foreign (NAME pid N)` while
another process holds the tty open, a deploy then refuses with DeviceBusy naming
that process, and --force goes ahead, saying the device's trust was dropped.
Run: umockdev-wrapper /usr/bin/python3 test_devices.py"""

import os
import subprocess
import unittest

import ctlharness
from ctlharness import EXIT_DEVICE_ERROR, EXIT_SUCCESS


class DevicesOwners(ctlharness.CtlTestCase):

    def row(self, node, *args):
        p = self.ctl("devices", "--no-legend", *args, expect=EXIT_SUCCESS)
        rows = [line for line in p.stdout.splitlines() if line.startswith(node + " ")]
        self.assertEqual(len(rows), 1, p.stdout)
        return rows[0]

    def hold(self, node):
        """Another program with the port open, as a terminal program would have it.
        The port is opened here and handed to `sleep`: Popen returns once sleep has
        been exec'd, and closing our copy leaves sleep the only holder, so the owner
        is named `sleep` from the first look (a shell that opened it and then exec'd
        sleep would be seen as `bash` by a look that came before the exec)."""
        fd = os.open(node, os.O_RDWR | os.O_NOCTTY)
        try:
            proc = subprocess.Popen(["sleep", "300"], pass_fds=[fd], env=self.bed.env(),
                                    start_new_session=True)
        finally:
            os.close(fd)

        def reap():
            proc.kill()
            proc.wait()
        self.addCleanup(reap)
        return proc

    def test_chip_column(self):
        dev = self.add_board("esp32c3", "uart")
        self.start()
        self.assertEqual(self.row(dev.node).split()[4], "-")
        build, _ = self.idf_project(chip="esp32c3")
        self.ctl("-q", "deploy", build, expect=EXIT_SUCCESS)
        self.assertEqual(self.row(dev.node).split()[4], "esp32c3")
        _, o = self.ctl_json("devices")
        self.assertEqual(o["devices"][0]["chip"], "esp32c3")

    def test_foreign_holder(self):
        dev = self.add_board("esp32", "uart")
        self.start(trust_default=True)
        build, regions = self.idf_project(chip="esp32")
        self.ctl("-q", "deploy", build, expect=EXIT_SUCCESS)
        self.assertTrue(self.row(dev.node).endswith(" idle"), self.row(dev.node))

        holder = self.hold(dev.node)
        owner = f"foreign (sleep pid {holder.pid})"
        self.assertTrue(self.row(dev.node).endswith(" " + owner), self.row(dev.node))
        _, o = self.ctl_json("devices")
        self.assertEqual((o["devices"][0]["owner"], o["devices"][0]["holder_pid"],
                          o["devices"][0]["holder_name"]), ("foreign", holder.pid, "sleep"))

        # A deploy refuses, naming the holder; the flash is not touched.
        other, other_regions = self.idf_project(name="other", chip="esp32", app_seed=2)
        p = self.ctl("deploy", other, expect=EXIT_DEVICE_ERROR)
        self.assertIn(f"is open by sleep (pid {holder.pid})", p.stderr)
        self.assertIn("org.fbuild.Deploy1.Error.DeviceBusy", p.stderr)
        self.assertIn("--force", p.stderr)
        self.assertFlashHolds(dev, regions)
        _, o = self.ctl_json("deploy", other, expect=EXIT_DEVICE_ERROR)
        self.assertEqual(o["error"]["name"], "org.fbuild.Deploy1.Error.DeviceBusy")
        self.assertIn(f"sleep (pid {holder.pid})", o["error"]["message"])

        # --force goes ahead and says that trust is gone (the holder's open dropped it).
        p = self.ctl("deploy", "--force", other, expect=EXIT_SUCCESS)
        self.assertIn(f"is open by sleep (pid {holder.pid}); deploying anyway (--force)", p.stderr)
        self.assertIn("dropped the device's trust", p.stderr)
        self.assertNotIn("trust-skip", p.stdout)
        self.assertFlashHolds(dev, other_regions)
        # No trust while another process holds the port: it may have written anything.
        p = self.ctl("trust", "show", expect=EXIT_SUCCESS)
        self.assertIn("not trusted", p.stdout)
        self.assertIn("trust last lost: foreign-open", p.stdout)

        holder.kill()
        holder.wait()
        self.assertTrue(self.row(dev.node).endswith(" idle"))
        p = self.ctl("verify", "--force", other, expect=ctlharness.EXIT_INVALID)
        self.assertIn("verify does not take --force", p.stderr)


if __name__ == "__main__":
    unittest.main()
