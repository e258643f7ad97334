# SPDX-License-Identifier: LGPL-2.1-or-later
"""Cancellation mid-write: Cancel from a second client makes the running deploy
(and one queued behind it) fail with org.fbuild.Deploy1.Error.Cancelled, trust is
cleared with reason "cancelled", the port is released, and the next deploy
repairs the half-written flash. The chip runs the real timing model and the image
is large enough that the cancel lands while flash is being written.
Run: umockdev-wrapper /usr/bin/python3 test_cancel.py (env: see harness.py)"""

import os
import signal
import time
import unittest

import dbus

import harness

BAUD = 921600
BIG_APP = 768 * 1024


class CancelMixin:
    activation = None

    def test_cancel_mid_write(self):
        # The board held other firmware (no flash of it erased): the big write
        # is one stream that the ROM erases whole before its first block, so
        # the cancel lands in its first inflate buffer and nothing of the new
        # app is left proven (on blank flash the ROM writes block by block
        # without erasing, and a cancel can come after a whole block).
        flash = os.path.join(self.work, "old-firmware.bin")
        with open(flash, "wb") as f:
            f.write(b"\xa5" * (4 << 20))
        dev = self.add_board("esp32", "uart", timing="real", flash=flash)
        port = dev.node
        svc = self.start_service(self.activation, trust_default=True)
        c = self.client()
        c.watch_signals()
        opts = harness.options_value(baud=dbus.UInt32(BAUD))

        # A small image first, so the device is trusted when the cancel comes.
        small = self.image(app_seed=31, app_size=64 * 1024)
        outcome, _, _ = c.deploy(port, small.paths(), baud=dbus.UInt32(BAUD))
        self.assertEqual(outcome, "full")
        self.assertTrue(c.trust_state(port)[0])
        begins0 = dev.sim.stats()["flash_begins"]

        big = self.image(app_seed=32, app_size=BIG_APP)
        big_app = len(big.regions[2][2])
        # The small deploy's signals were queued during its blocking call.
        c.drain()
        mark = len(c.signals)
        p1 = c.call_async("DeployRegions", port, harness.regions_value(big.paths()), opts)

        def writing():
            # Only the big app differs, so its write phase counts toward big_app bytes.
            return [a for _, m, a in c.signals[mark:]
                    if m == "Progress" and a[0] == port and a[1] == "write" and a[2] > 0
                    and a[3] == big_app]
        c.run_until(lambda: writing() or p1.done, 60, "the big deploy to start writing")
        self.assertFalse(p1.done, f"the deploy ended before it was cancelled: {p1.result or p1.error}")
        # A second request queues behind the running one.
        c2 = self.client()
        p2 = c2.call_async("DeployRegions", port, harness.regions_value(small.paths()), opts)
        c.run_until(lambda: True, 0.2)
        at_cancel = writing()[-1]
        self.assertLess(at_cancel[2], at_cancel[3], "cancel must land before the write ends")

        # Cancel from another client: busctl, its own process and connection.
        t_cancel = time.monotonic()
        harness.Busctl(svc.endpoint, timeout=30).run(
            "call", harness.BUS_NAME, harness.OBJECT_PATH, harness.INTERFACE, "Cancel", "s", port)
        c.run_until(lambda: p1.done and p2.done, 30, "the cancelled calls to return")
        for p in (p1, p2):
            self.assertIsNotNone(p.error, f"{p.method} was not cancelled: {p.result}")
            self.assertEqual(p.error.name, harness.error_name("Cancelled"), p.error.message)
        self.assertLess(p1.t_reply - t_cancel, 10, "the cancel took effect too slowly")
        # It was mid-write: the chip holds part of the new image, not all of it.
        flash = dev.sim.flash()
        self.assertIn("app", big.mismatches(flash))
        self.assertGreater(dev.sim.stats()["flash_begins"], begins0)
        written = [a for _, m, a in c.signals[mark:] if m == "Progress" and a[0] == port
                   and a[1] in ("write", "post-verify")]
        self.assertLess(max(a[2] for a in written), big.total())

        # Trust cleared, with the reason; announced by TrustChanged.
        trusted, h, since, why = c.trust_state(port)
        self.assertEqual((trusted, h, why), (False, b"", "cancelled"))
        c.run_until(lambda: any(m == "TrustChanged" and a[1] is False for _, m, a in c.signals[mark:]),
                    30, "TrustChanged")
        tc = [a for _, m, a in c.signals[mark:] if m == "TrustChanged"]
        self.assertEqual(tc[-1], [port, False, b"", "cancelled"])
        # The port is released.
        self.assertEqual(dict(c.list_devices())[port]["owner"], "idle")

        # The next deploy (trust on: it must not trust-skip) repairs the device.
        outcome, written, _ = c.deploy(port, big.paths(), baud=dbus.UInt32(BAUD))
        self.assertIn(outcome, ("selective", "full"))
        self.assertIn((big.regions[2][0], len(big.regions[2][2])), written)
        self.assertTrue(big.matches_flash(dev.sim.flash()),
                        f"not repaired: {big.mismatches(dev.sim.flash())}")
        self.assertTrue(c.trust_state(port)[0])
        self.assertEqual(svc.activations(), 1)


class SigtermMixin:
    def test_sigterm_mid_write(self):
        """SIGTERM during a job cancels it cleanly: the caller gets Cancelled, the
        port is released (the chip sees it closed), the instance exits 0, and the
        next call starts a new one that repairs the device."""
        dev = self.add_board("esp32", "uart", timing="real")
        port = dev.node
        svc = self.start_service(self.activation)
        c = self.client()
        c.watch_signals()
        big = self.image(app_seed=41, app_size=512 * 1024)
        p = c.call_async("DeployRegions", port, harness.regions_value(big.paths()),
                         harness.options_value(trust=False, baud=dbus.UInt32(BAUD)))
        c.run_until(lambda: p.done or any(m == "Progress" and a[1] == "write" and a[2] > 0
                                          for _, m, a in c.signals), 60, "writing")
        self.assertFalse(p.done)
        (pid,) = svc.service_pids()
        os.kill(pid, signal.SIGTERM)
        c.run_until(lambda: p.done, 30, "the deploy to end")
        self.assertIsNotNone(p.error, "a SIGTERM'd deploy must not report success")
        self.assertEqual(p.error.name, harness.error_name("Cancelled"), p.error.message)
        deadline = time.monotonic() + 30
        while svc.service_pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(svc.service_pids(), [], "the service did not exit on SIGTERM")
        if svc.activator:
            # The activator logs the exit once it has reaped the instance.
            deadline = time.monotonic() + 30
            exits = []
            while not exits and time.monotonic() < deadline:
                exits = [e for e in svc.activator.events() if e[0] == "exit"]
                time.sleep(0.05)
            self.assertTrue(exits, "the activator never saw the instance exit")
            self.assertEqual(exits[-1][3], "0", f"exit status {exits[-1][3]}")
        self.assertFalse(dev.sim.stats()["port_open"], "the port was left open")
        self.assertIn("app", big.mismatches(dev.sim.flash()))
        c.close()
        # A new instance, and the device is repaired.
        c2 = self.client()
        outcome, _, _ = c2.deploy(port, big.paths(), trust=False, baud=dbus.UInt32(BAUD))
        self.assertIn(outcome, ("full", "selective"))
        self.assertTrue(big.matches_flash(dev.sim.flash()))
        self.assertEqual(svc.activations(), 2)


class Cancel(CancelMixin, harness.ServiceTestCase):
    activation = "bus"


class CancelSocket(CancelMixin, SigtermMixin, harness.ServiceTestCase):
    activation = "socket"


if __name__ == "__main__":
    unittest.main()
