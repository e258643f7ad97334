# SPDX-License-Identifier: LGPL-2.1-or-later
"""The digest helper (fbuild-deployd-digest, src/flash/digest.h) killed in the
middle of a deploy: the deploy fails by name (FlashError) rather than hanging or
passing on a digest nobody computed (nor blaming the serial link: no baud
fallback), trust is cleared, the port is released, and
once the service is idle again it holds no child and exactly the fds it held
before. The next deploy gets a new helper and repairs the board; libcrypto never
maps into the service. Real timing model, so the write takes long enough to kill
the helper while it lasts.
Run: umockdev-wrapper /usr/bin/python3 test_digest_helper.py (env: see harness.py)"""

import os
import signal
import time
import unittest

import dbus

import harness

BAUD = 921600
BIG_APP = 768 * 1024
HELPER = "fbuild-deployd-digest"


def children(pid):
    """The service's children: {pid: name of the binary}."""
    out = {}
    for p in os.listdir("/proc"):
        if p.isdigit() and harness._ppid(int(p)) == pid:
            try:
                out[int(p)] = os.path.basename(os.readlink(f"/proc/{p}/exe"))
            except OSError:
                pass
    return out


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def holds_a_tty(pid):
    """Whether the service still holds a serial port open beyond stdio (the
    reset into the application keeps it until EN is released)."""
    for fd in os.listdir(f"/proc/{pid}/fd"):
        if int(fd) > 2:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(("/dev/pts/", "/dev/tty")):
                    return True
            except OSError:
                pass
    return False


def maps_libcrypto(pid):
    with open(f"/proc/{pid}/maps") as f:
        return "libcrypto.so" in f.read()


class KilledHelper(harness.ServiceTestCase):
    def settled(self, c, pid, fds):
        """Waits until the idle service has stopped its helpers and holds fds
        fds (a condition, not a time): fails with what it holds instead."""
        try:
            c.run_until(lambda: not children(pid) and not holds_a_tty(pid) and fd_count(pid) == fds, 30,
                        "the service to settle")
        except TimeoutError:
            self.fail(f"children {children(pid)}, fds {sorted(os.listdir(f'/proc/{pid}/fd'))} "
                      f"({fd_count(pid)}, before: {fds})")

    def test_helper_killed_mid_deploy(self):
        dev = self.add_board("esp32", "uart", timing="real")
        port = dev.node
        svc = self.start_service("bus", trust_default=True)
        c = self.client()
        c.watch_signals()
        opts = harness.options_value(baud=dbus.UInt32(BAUD))

        small = self.image(app_seed=41, app_size=64 * 1024)
        outcome, _, _ = c.deploy(port, small.paths(), baud=dbus.UInt32(BAUD))
        self.assertEqual(outcome, "full")
        self.assertTrue(c.trust_state(port)[0])
        pid = svc.service_pids()[0]
        # Idle: the helpers are stopped and the port is released after the
        # reset's EN hold. What the service holds now is the baseline.
        c.run_until(lambda: not children(pid) and not holds_a_tty(pid), 30, "the helpers to stop")
        fds = fd_count(pid)

        big = self.image(app_seed=42, app_size=BIG_APP)
        big_app = len(big.regions[2][2])
        c.drain()
        mark = len(c.signals)
        p = c.call_async("DeployRegions", port, harness.regions_value(big.paths()), opts)

        def writing():
            return [a for _, m, a in c.signals[mark:]
                    if m == "Progress" and a[0] == port and a[1] == "write" and a[2] > 0
                    and a[3] == big_app]
        c.run_until(lambda: writing() or p.done, 60, "the deploy to start writing")
        self.assertFalse(p.done, f"the deploy ended before the helper was killed: {p.result or p.error}")
        # The image was hashed before the write: its helper waits for the next digest.
        helpers = [h for h, name in children(pid).items() if name == HELPER]
        self.assertEqual(len(helpers), 1, children(pid))
        os.kill(helpers[0], signal.SIGKILL)
        at_kill = writing()[-1]
        self.assertLess(at_kill[2], at_kill[3], "the kill must land before the write ends")

        c.run_until(lambda: p.done, 60, "the deploy to fail")
        self.assertIsNotNone(p.error, f"the deploy succeeded without its helper: {p.result}")
        self.assertEqual(p.error.name, harness.error_name("FlashError"), p.error.message)
        self.assertIn("digest helper", p.error.message)
        self.assertFalse(c.trust_state(port)[0])
        self.assertEqual(dict(c.list_devices())[port]["owner"], "idle")
        self.settled(c, pid, fds)

        # A new helper for the next deploy, which proves (the write went on
        # until the digest after it) or repairs the board.
        outcome, written, _ = c.deploy(port, big.paths(), baud=dbus.UInt32(BAUD))
        self.assertIn(outcome, ("verify-skip", "selective", "full"))
        self.assertTrue(big.matches_flash(dev.sim.flash()), big.mismatches(dev.sim.flash()))
        self.assertTrue(c.trust_state(port)[0])
        self.assertEqual(c.deploy(port, big.paths(), baud=dbus.UInt32(BAUD))[0], "trust-skip")
        self.settled(c, pid, fds)
        self.assertFalse(maps_libcrypto(pid))
        self.assertEqual(svc.service_pids(), [pid])


if __name__ == "__main__":
    unittest.main()
