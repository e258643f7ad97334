# SPDX-License-Identifier: LGPL-2.1-or-later
"""Devices and the trust invariant (issue 4), against simulated chips behind the
umockdev test bed: ListDevices/DeviceAdded/DeviceRemoved follow udev; a trust-skip
never opens the port; trust is dropped on a udev remove ("device-removed"), on
another process opening the tty or the USB device node ("foreign-open"), or still
holding the USB device node when a deploy ends (not recorded then), or holding
the tty or the USB node when the deploy begins, even if gone by its end; kept
across the re-enumeration a USB-OTG board does after the service's own reset, but
not across an unplug; an unplug mid-write fails with a named error and the service
keeps serving the other ports.
Run: umockdev-wrapper /usr/bin/python3 test_trust.py (env: see harness.py)"""

import os
import subprocess
import threading
import time
import unittest

import dbus

import harness

FAST_BAUD = 921600
# TRUST_REENUM_WINDOW_USEC in src/trust/trust-reenum.h, plus a margin.
REENUM_WINDOW = 3.0


def usb_node(dev):
    """The board's /dev/bus/usb/001/DDD (esptestbed: device number = USB port + 1)."""
    port = int(dev.usb_syspath.rsplit("-", 1)[1])
    return f"/dev/bus/usb/001/{port + 1:03d}"


def sim_seen(dev):
    """What the chip has seen of the host so far."""
    st = dev.sim.stats()
    return {k: st[k] for k in ("rx_bytes", "commands", "flash_begins")}, dev.lines.opens


class TrustMixin:
    def wait_trust(self, c, port, reason, timeout=30):
        """Poll TrustState until trust is gone with `reason`; return the state."""
        deadline = time.monotonic() + timeout
        while True:
            state = c.trust_state(port)
            if (not state[0] and state[3] == reason) or time.monotonic() > deadline:
                return state
            time.sleep(0.05)

    def open_elsewhere(self, node):
        """Another process opens (and closes) a node, like a serial monitor or a
        flasher would."""
        p = self.bed.run(["/usr/bin/python3", "-c",
                          f"import os; os.close(os.open({node!r}, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK))"])
        self.assertEqual(p.returncode, 0, p.stderr)


class Trust(TrustMixin, harness.ServiceTestCase):
    def setUp(self):
        super().setUp()
        self.dev = self.add_board("esp32", "uart")
        self.svc = self.start_service("bus", trust_default=True)
        self.c = self.client()
        self.c.watch_signals()

    def test_redeploy_never_opens_the_port(self):
        img = self.image(app_seed=41)
        outcome, _, _ = self.c.deploy(self.dev.node, img.paths())
        self.assertEqual(outcome, "full")
        # The service's own open of the tty is not a foreign open.
        trusted, h, _, _ = self.c.trust_state(self.dev.node)
        self.assertTrue(trusted)
        seen = sim_seen(self.dev)

        outcome, written, stats = self.c.deploy(self.dev.node, img.paths())
        self.assertEqual((outcome, written), ("trust-skip", []))
        self.assertEqual(stats["bytes_sent"], 0)
        self.assertEqual(sim_seen(self.dev), seen, "a trust-skip must not open the port")
        self.assertTrue(self.c.trust_state(self.dev.node)[0])

    def test_unplug_replug_goes_through_verify(self):
        img = self.image(app_seed=42)
        self.assertEqual(self.c.deploy(self.dev.node, img.paths())[0], "full")
        identity = dict(self.c.list_devices())[self.dev.node]["identity"]

        new = self.bed.replug(self.dev)
        self.assertNotEqual(new.node, self.dev.node)
        devices = dict(self.c.list_devices())
        self.assertNotIn(self.dev.node, devices)
        self.assertEqual(devices[new.node]["identity"], identity, "the identity follows the board")
        trusted, h, since, why = self.c.trust_state(new.node)
        self.assertEqual((trusted, h, since, why), (False, b"", 0, "device-removed"))
        # The node it left answers for it too.
        self.assertEqual(self.c.trust_state(self.dev.node), (False, b"", 0, "device-removed"))

        outcome, written, _ = self.c.deploy(new.node, img.paths())
        self.assertEqual((outcome, written), ("verify-skip", []))
        self.assertGreater(new.sim.stats()["commands"], 0, "verify-skip must ask the chip")
        self.assertTrue(self.c.trust_state(new.node)[0])
        self.c.drain()
        tc = [a for _, m, a in self.c.signals if m == "TrustChanged"]
        self.assertIn([self.dev.node, False, b"", "device-removed"], tc)

    def test_foreign_open_of_the_tty(self):
        img = self.image(app_seed=43)
        self.assertEqual(self.c.deploy(self.dev.node, img.paths())[0], "full")
        self.assertTrue(self.c.trust_state(self.dev.node)[0])
        self.c.drain()
        mark = len(self.c.signals)

        self.open_elsewhere(self.dev.node)
        trusted, h, _, why = self.wait_trust(self.c, self.dev.node, "foreign-open")
        self.assertEqual((trusted, h, why), (False, b"", "foreign-open"))
        self.c.run_until(lambda: any(m == "TrustChanged" for _, m, _ in self.c.signals[mark:]),
                         30, "TrustChanged")
        tc = [a for _, m, a in self.c.signals[mark:] if m == "TrustChanged"]
        self.assertEqual(tc, [[self.dev.node, False, b"", "foreign-open"]])

        # Not trusted: the next deploy asks the chip (which still matches).
        self.assertEqual(self.c.deploy(self.dev.node, img.paths())[0], "verify-skip")
        self.assertTrue(self.c.trust_state(self.dev.node)[0])

    def test_foreign_open_of_the_usb_node(self):
        img = self.image(app_seed=44)
        self.assertEqual(self.c.deploy(self.dev.node, img.paths())[0], "full")
        self.assertTrue(self.c.trust_state(self.dev.node)[0])

        self.open_elsewhere(usb_node(self.dev))
        trusted, _, _, why = self.wait_trust(self.c, self.dev.node, "foreign-open")
        self.assertEqual((trusted, why), (False, "foreign-open"))
        self.assertEqual(self.c.deploy(self.dev.node, img.paths())[0], "verify-skip")

    def test_usb_node_held_through_a_deploy(self):
        # Another process opened the USB device node before the deploy (not
        # the tty: nothing refuses the deploy) and still holds it when the
        # deploy ends: whatever the deploy proved, the device may not keep it.
        # The job's end looks for holders of the tty and the USB node (one pass).
        img = self.image(app_seed=47)
        fd = os.open(usb_node(self.dev), os.O_RDWR | os.O_NOCTTY)
        try:
            holder = subprocess.Popen(["sleep", "300"], pass_fds=[fd], env=self.bed.env(),
                                      start_new_session=True)
        finally:
            os.close(fd)
        try:
            self.assertEqual(self.c.deploy(self.dev.node, img.paths())[0], "full")
            trusted, _, _, why = self.c.trust_state(self.dev.node)
            self.assertEqual((trusted, why), (False, "foreign-open"))
        finally:
            holder.kill()
            holder.wait()
        # Nobody holds it now: the next deploy proves the image and keeps trust.
        self.assertEqual(self.c.deploy(self.dev.node, img.paths())[0], "verify-skip")
        self.assertTrue(self.c.trust_state(self.dev.node)[0])

    def deploy_while_a_holder_leaves(self, node, img, **opts):
        """Deploy while another process, which opened `node` before the deploy,
        holds it until the chip has seen the deploy's first FLASH_BEGIN and then
        exits: it was there while the deploy had the chip, and is gone by the end."""
        begins = self.dev.sim.stats()["flash_begins"]
        fd = os.open(node, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            holder = subprocess.Popen(["sleep", "300"], pass_fds=[fd], env=self.bed.env(),
                                      start_new_session=True)
        finally:
            os.close(fd)
        writing = threading.Event()

        def leave_once_writing():
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if self.dev.sim.stats()["flash_begins"] > begins:
                    writing.set()
                    break
                time.sleep(0.005)
            holder.kill()
            holder.wait()
        t = threading.Thread(target=leave_once_writing)
        t.start()
        try:
            outcome = self.c.deploy(self.dev.node, img.paths(), **opts)[0]
        finally:
            t.join()
        self.assertTrue(writing.is_set(), "the deploy never wrote")
        return outcome

    def test_holder_gone_by_the_end_still_leaves_no_trust(self):
        # The USB device node (nothing refuses a deploy for it), then the tty
        # with the force option: the holder could have talked to the chip after
        # the deploy's last proof.
        for i, (node, opts) in enumerate(((usb_node(self.dev), {}), (self.dev.node, {"force": True}))):
            with self.subTest(node=node):
                img = self.image(app_seed=60 + i, tag=f"held{i}")
                self.assertIn(self.deploy_while_a_holder_leaves(node, img, **opts), ("full", "selective"))
                trusted, _, _, why = self.c.trust_state(self.dev.node)
                self.assertEqual((trusted, why), (False, "foreign-open"))
        # Nobody holds it now: the next deploy proves the image and keeps trust.
        self.assertEqual(self.c.deploy(self.dev.node, img.paths())[0], "verify-skip")
        self.assertTrue(self.c.trust_state(self.dev.node)[0])

    def test_external_write_is_repaired(self):
        img = self.image(app_seed=45)
        self.assertEqual(self.c.deploy(self.dev.node, img.paths())[0], "full")
        self.assertTrue(self.c.trust_state(self.dev.node)[0])

        # A third process has the port open while the chip's flash changes behind
        # the service's back.
        app_off, _, app, _ = img.regions[2]
        fd = os.open(self.dev.node, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            self.dev.sim.external_write(app_off + 0x1000, b"\x55" * 64)
        finally:
            os.close(fd)
        self.assertIn("app", img.mismatches(self.dev.sim.flash()))
        self.assertEqual(self.wait_trust(self.c, self.dev.node, "foreign-open")[3], "foreign-open")

        # Region granularity (once the default): the damaged region written whole.
        outcome, written, _ = self.c.deploy(self.dev.node, img.paths(), granularity="region")
        self.assertEqual(outcome, "selective")
        self.assertEqual(written, [(app_off, len(app))])
        self.assertTrue(img.matches_flash(self.dev.sim.flash()),
                        f"not repaired: {img.mismatches(self.dev.sim.flash())}")
        self.assertTrue(self.c.trust_state(self.dev.node)[0])


class Devices(harness.ServiceTestCase):
    def test_hotplug_signals_and_list(self):
        first = self.add_board("esp32", "uart")
        self.start_service("bus")
        c = self.client()
        c.watch_signals()
        devices = dict(c.list_devices())
        self.assertEqual(list(devices), [first.node])
        props = devices[first.node]
        self.assertEqual((props["vid"], props["pid"], props["kind"], props["serial"]),
                         (first.vid, first.pid, "uart-bridge", first.serial))
        self.assertEqual(props["identity"], f"usb:{first.vid:04x}:{first.pid:04x}:{first.serial}")

        jtag = self.add_board("esp32s3", "usb-jtag")
        otg = self.add_board("esp32s3", "usb-otg")
        c.run_until(lambda: len([1 for _, m, _ in c.signals if m == "DeviceAdded"]) >= 2, 30,
                    "DeviceAdded")
        added = {a[0]: a[1] for _, m, a in c.signals if m == "DeviceAdded"}
        self.assertEqual(set(added), {jtag.node, otg.node})
        self.assertEqual(added[jtag.node]["kind"], "usb-serial-jtag")
        self.assertEqual(added[otg.node]["kind"], "usb-otg")
        self.assertEqual(added[otg.node]["owner"], "idle")
        self.assertFalse(added[otg.node]["trusted"])
        devices = dict(c.list_devices())
        self.assertEqual(set(devices), {first.node, jtag.node, otg.node})
        self.assertEqual(devices[otg.node], added[otg.node])

        jtag.unplug()
        c.run_until(lambda: any(m == "DeviceRemoved" for _, m, _ in c.signals), 30, "DeviceRemoved")
        removed = [a for _, m, a in c.signals if m == "DeviceRemoved"]
        self.assertEqual(removed, [[jtag.node, added[jtag.node]["identity"]]])
        self.assertEqual(set(dict(c.list_devices())), {first.node, otg.node})


class UsbOtg(TrustMixin, harness.ServiceTestCase):
    def test_reset_reenumeration_keeps_trust_unplug_does_not(self):
        dev = self.add_board("esp32s3", "usb-otg")
        self.start_service("bus", trust_default=True)
        c = self.client()
        c.watch_signals()
        img = self.image(chip="esp32s3", app_seed=46)

        self.assertEqual(c.deploy(dev.node, img.paths())[0], "full")
        # The chip's reset into the application takes its USB off the bus and back,
        # on another node as the kernel numbers it.
        back = self.bed.replug(dev)
        c.run_until(lambda: any(m == "DeviceAdded" and a[0] == back.node for _, m, a in c.signals),
                    30, "DeviceAdded after the reset")
        trusted, _, _, why = c.trust_state(back.node)
        self.assertTrue(trusted, f"trust lost across our own reset ({why})")
        seen = sim_seen(back)
        self.assertEqual(c.deploy(back.node, img.paths())[0], "trust-skip")
        self.assertEqual(sim_seen(back), seen, "a trust-skip must not open the port")

        # Long after the reset, an unplug is an unplug.
        time.sleep(REENUM_WINDOW + 1)
        again = self.bed.replug(back)
        trusted, _, _, why = c.trust_state(again.node)
        self.assertEqual((trusted, why), (False, "device-removed"))
        self.assertEqual(c.deploy(again.node, img.paths())[0], "verify-skip")

    def test_reset_without_return_drops_trust(self):
        dev = self.add_board("esp32s3", "usb-otg")
        self.start_service("bus", trust_default=True)
        c = self.client()
        img = self.image(chip="esp32s3", app_seed=47)
        self.assertEqual(c.deploy(dev.node, img.paths())[0], "full")
        identity = dict(c.list_devices())[dev.node]["identity"]
        dev.unplug()
        # Gone for good: once the window has passed, trust is dropped.
        time.sleep(REENUM_WINDOW + 1)
        back = self.bed.replug(dev)
        self.assertEqual(dict(c.list_devices())[back.node]["identity"], identity)
        trusted, _, _, why = c.trust_state(back.node)
        self.assertEqual((trusted, why), (False, "device-removed"))


class MidWrite(TrustMixin, harness.ServiceTestCase):
    def test_unplug_mid_write(self):
        dev = self.add_board("esp32", "uart", timing="real")
        other = self.add_board("esp32", "uart")
        self.start_service("bus", trust_default=True)
        c = self.client()
        c.watch_signals()
        small = self.image(app_seed=48, app_size=64 * 1024)
        self.assertEqual(c.deploy(dev.node, small.paths(), baud=dbus.UInt32(FAST_BAUD))[0], "full")
        self.assertTrue(c.trust_state(dev.node)[0])
        identity = dict(c.list_devices())[dev.node]["identity"]

        big = self.image(app_seed=49, app_size=512 * 1024)
        c.drain()
        mark = len(c.signals)
        p = c.call_async("DeployRegions", dev.node, harness.regions_value(big.paths()),
                         harness.options_value())
        c.run_until(lambda: p.done or any(m == "Progress" and a[0] == dev.node and a[1] == "write"
                                          and a[2] > 0 for _, m, a in c.signals[mark:]),
                    60, "the deploy to start writing")
        self.assertFalse(p.done, f"the deploy ended before the unplug: {p.result or p.error}")
        dev.unplug()
        # The protocol's own timeouts bound this; the generous limit only stops a hang.
        c.run_until(lambda: p.done, 60, "the deploy to fail")
        self.assertIsNotNone(p.error, f"the deploy succeeded on an unplugged board: {p.result}")
        self.assertEqual(p.error.name, harness.error_name("NoSuchDevice"), p.error.message)

        back = self.bed.replug(dev)
        self.assertEqual(dict(c.list_devices())[back.node]["identity"], identity)
        trusted, _, _, why = c.trust_state(back.node)
        self.assertFalse(trusted)
        self.assertIn(why, ("device-removed", "write-failed"))
        # The service still serves the other ports.
        self.assertEqual(c.deploy(other.node, small.paths())[0], "full")
        self.assertTrue(small.matches_flash(other.sim.flash()))

    def test_foreign_open_during_a_deploy(self):
        dev = self.add_board("esp32", "uart", timing="real")
        self.start_service("bus", trust_default=True)
        c = self.client()
        c.watch_signals()
        img = self.image(app_seed=50, app_size=256 * 1024)
        mark = len(c.signals)
        p = c.call_async("DeployRegions", dev.node, harness.regions_value(img.paths()),
                         harness.options_value())
        c.run_until(lambda: p.done or any(m == "Progress" and a[0] == dev.node and a[1] == "write"
                                          and a[2] > 0 for _, m, a in c.signals[mark:]),
                    60, "the deploy to start writing")
        self.assertFalse(p.done, f"the deploy ended before the foreign open: {p.result or p.error}")
        # Someone else opens the port while the service has it: whatever this
        # deploy proves, the device may not keep it.
        self.open_elsewhere(dev.node)
        c.run_until(lambda: p.done, 120, "the deploy to end")
        self.assertEqual(p.get()[0], "full")
        trusted, _, _, why = c.trust_state(dev.node)
        self.assertEqual((trusted, why), (False, "foreign-open"))
        self.assertNotEqual(c.deploy(dev.node, img.paths())[0], "trust-skip")


if __name__ == "__main__":
    unittest.main()
