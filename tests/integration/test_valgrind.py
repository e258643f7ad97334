# SPDX-License-Identifier: LGPL-2.1-or-later
"""fbuild-deployd under valgrind's memcheck through one whole scenario: socket
activation, a full deploy, a trust-skip, a verify, then idle exit. The service
must exit 0 with no memcheck errors and no definitely or indirectly lost
blocks. Registered only for builds without sanitizers (tests/integration/meson.build).
Run: umockdev-wrapper /usr/bin/python3 test_valgrind.py (env: see harness.py)"""

import os
import re
import shutil
import time
import unittest

import harness
from invariant import Invariant

ERROR_EXIT = 97
# What umockdev's preload library does with the service's buffers (see the file).
SUPPRESSIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "valgrind.supp")


class Valgrind(harness.ServiceTestCase):
    def setUp(self):
        super().setUp()
        if not shutil.which("valgrind"):
            self.skipTest("valgrind is not installed (tools/setup-deps installs it)")
        self.real = harness.DEPLOYD
        self.vglog = os.path.join(self.work, "valgrind.log")
        # The service keeps its name (the harness and the activator go by it);
        # this fbuild-deployd is a script that runs the real one under memcheck.
        vgdir = os.path.join(self.work, "vg")
        os.makedirs(vgdir)
        os.chmod(vgdir, 0o755)
        wrapper = os.path.join(vgdir, os.path.basename(self.real))
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\n"
                    f"exec valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect "
                    f"--errors-for-leak-kinds=definite,indirect --error-exitcode={ERROR_EXIT} "
                    f"--suppressions={SUPPRESSIONS} "
                    f"--log-file={self.vglog} {self.real} \"$@\"\n")
        os.chmod(wrapper, 0o755)
        harness.DEPLOYD = wrapper
        self.addCleanup(setattr, harness, "DEPLOYD", self.real)

    def service_pids(self):
        """The harness looks for the service by argv[0]; under valgrind that is
        valgrind itself, so look for the real binary anywhere on the command line."""
        pids = []
        for p in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    argv = f.read().decode(errors="replace").split("\0")
                with open(f"/proc/{p}/environ", "rb") as f:
                    env = f.read()
            except OSError:
                continue
            if (self.real in argv and argv[0] != "/bin/sh"
                    and f"{harness.CONFIG_ENV}={self.svc.config_path}".encode() in env):
                pids.append(int(p))
        return pids

    def test_deploy_trust_skip_verify_idle_exit(self):
        dev = self.add_board("esp32", "uart")
        # The board stays trusted: the longer stay that trust buys ends after 5 s.
        self.svc = self.start_service("socket", idle_timeout=3, trust_default=True,
                                      extra_config="TrustIdleTimeoutSec=5\n")
        self.svc.service_pids = self.service_pids
        inv = Invariant()
        c = self.client()
        image = self.image(app_seed=300, app_size=96 * 1024)
        self.assertEqual(inv.deploy(c, dev, image)[0], "full")
        self.assertEqual(inv.deploy(c, dev, image)[0], "trust-skip")
        res = c.verify(dev.node, image.paths())
        self.assertEqual([m for _, _, m, _ in res], [True, True, True])
        c.close()

        # Idle exit: valgrind writes its summary as the service exits.
        deadline = time.monotonic() + 120
        while not [e for e in self.svc.activator.events() if e[0] == "exit"]:
            self.assertLess(time.monotonic(), deadline, "the service did not exit when idle")
            time.sleep(0.2)
        exits = [e for e in self.svc.activator.events() if e[0] == "exit"]
        with open(self.vglog) as f:
            log = f.read()
        self.assertEqual(self.svc.activations(), 1)
        self.assertEqual(exits[0][3], "0", f"exit status {exits[0][3]} ({ERROR_EXIT}: memcheck errors)\n{log}")
        summary = re.search(r"ERROR SUMMARY: (\d+) errors", log)
        self.assertIsNotNone(summary, log)
        self.assertEqual(summary.group(1), "0", log)
        for kind in ("definitely", "indirectly"):
            m = re.search(kind + r" lost: ([\d,]+) bytes", log)
            self.assertTrue(m is None or m.group(1) == "0", f"{kind} lost:\n{log}")
        self.assertTrue("All heap blocks were freed" in log or "definitely lost: 0 bytes" in log, log)


if __name__ == "__main__":
    unittest.main()
