# SPDX-License-Identifier: LGPL-2.1-or-later
"""Serial monitors (issue 4): Monitor returns a socket fed from one shared open of
the port; two monitors get identical streams; a deploy pauses them (a notice line
and MonitorPaused), and afterwards they get the new firmware's boot output from
its first byte, byte for byte what the simulated chip logged as sent; a monitor
that never reads loses bytes behind a marker but slows nothing; input reaches the
device only with "write"; monitors follow a board across re-enumeration and end
with a reason when it is gone for good.
Run: umockdev-wrapper /usr/bin/python3 test_monitor.py (env: see harness.py)"""

import hashlib
import re
import socket
import threading
import time
import unittest

import dbus

import harness

BAUD = 115200
PAUSED = b"\r\n[fbuild-deployd] paused: a job has the port\r\n"
RESUMED = b"\r\n[fbuild-deployd] resumed at %d baud\r\n" % BAUD


def app_line(app):
    return b"app running sha256=" + hashlib.sha256(app).hexdigest().encode()


class Reader:
    """The client end of a monitor socket, read on a thread of its own (or not
    at all until start() is called)."""

    def __init__(self, fd):
        self.sock = socket.socket(fileno=fd)
        self.data = b""
        self.eof = False
        self._lock = threading.Lock()
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            with self._lock:
                if not chunk:
                    self.eof = True
                    return
                self.data += chunk

    def get(self):
        with self._lock:
            return self.data

    def wait_for(self, pattern, timeout=30, start=0):
        deadline = time.monotonic() + timeout
        while True:
            data = self.get()
            m = re.compile(pattern, re.S).search(data, start)
            if m:
                return m
            if time.monotonic() > deadline or (self.eof and not m):
                raise AssertionError(f"{pattern!r} not seen in {data[-600:]!r}")
            time.sleep(0.02)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        if self._thread:
            self._thread.join(5)


class MonitorTestCase(harness.ServiceTestCase):
    def open_monitor(self, c, port, baud=BAUD, read=True, **opts):
        fd = c.iface.Monitor(port, dbus.UInt32(baud), harness.options_value(**opts),
                             timeout=harness.CALL_TIMEOUT)
        r = Reader(fd.take())
        self.addCleanup(r.close)
        return r.start() if read else r

    def owner(self, c, port):
        return dict(c.list_devices())[port]["owner"]

    def sim_sent_since_last_reset(self, sim):
        """Every byte the chip sent to an open port since its last reset (its log)."""
        events = sim.events()
        last = max(i for i, e in enumerate(events) if e.get("event", e.get("type")) == "reset")
        return b"".join(bytes.fromhex(e["hex"]) for e in events[last + 1:]
                        if e.get("event", e.get("type")) == "tx" and not e.get("lost"))


class Monitors(MonitorTestCase):
    def setUp(self):
        super().setUp()
        self.dev = self.add_board("esp32", "uart")
        self.start_service("bus", trust_default=True)
        self.c = self.client()
        self.c.watch_signals()

    def test_two_monitors_and_a_deploy(self):
        img1 = self.image(app_seed=61)
        img2 = self.image(app_seed=62)
        self.assertEqual(self.c.deploy(self.dev.node, img1.paths())[0], "full")
        a = self.open_monitor(self.c, self.dev.node)
        b = self.open_monitor(self.c, self.dev.node)
        self.assertEqual(self.owner(self.c, self.dev.node), "monitoring")
        # One shared open: the chip saw the port opened once for both.
        a.wait_for(app_line(img1.regions[2][2]))
        b.wait_for(app_line(img1.regions[2][2]))

        mark = len(self.c.signals)
        outcome, _, _ = self.c.deploy(self.dev.node, img2.paths())
        self.assertEqual(outcome, "selective")
        new_app = app_line(img2.regions[2][2])
        for r in (a, b):
            r.wait_for(re.escape(RESUMED) + b".*" + re.escape(new_app))
        # The monitors saw the resume; its signal goes through the bus daemon and
        # may come later than that on a loaded machine.
        self.c.run_until(lambda: any(m == "MonitorResumed" for _, m, _ in self.c.signals[mark:]),
                         30, "MonitorResumed")
        self.c.drain()
        sig = [(m, args) for _, m, args in self.c.signals[mark:] if m.startswith("Monitor")]
        self.assertEqual(sig, [("MonitorPaused", [self.dev.node]), ("MonitorResumed", [self.dev.node])])

        # Identical streams from the pause on (b attached a moment after a).
        sa, sb = a.get(), b.get()
        pa, pb = sa.index(PAUSED), sb.index(PAUSED)
        end_a = sa.index(new_app, pa) + len(new_app)
        end_b = sb.index(new_app, pb) + len(new_app)
        self.assertEqual(sa[pa:end_a], sb[pb:end_b])
        # The paused notice comes first, then the resumed one, then the new boot.
        self.assertLess(pa, sa.index(RESUMED, pa))
        after = sa[sa.index(RESUMED, pa) + len(RESUMED):end_a]
        # The chip logs what it sent just after sending it: wait for the log to
        # catch up with what the monitors already have.
        deadline = time.monotonic() + 30
        sent = self.sim_sent_since_last_reset(self.dev.sim)
        while new_app not in sent and time.monotonic() < deadline:
            time.sleep(0.05)
            sent = self.sim_sent_since_last_reset(self.dev.sim)
        self.assertIn(new_app, sent)
        sent = sent[:sent.index(new_app) + len(new_app)]
        self.assertEqual(after, sent, "the monitors must get the boot output from its first byte")
        self.assertIn(b"rst:", after[:200])

        # The monitors end when their clients hang up; the port is released.
        a.close()
        b.close()
        deadline = time.monotonic() + 30
        while self.owner(self.c, self.dev.node) != "idle" and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.owner(self.c, self.dev.node), "idle")
        # Our own opens never counted as foreign: the device is still trusted.
        self.assertTrue(self.c.trust_state(self.dev.node)[0])

    def test_write_option(self):
        img = self.image(app_seed=63)
        self.assertEqual(self.c.deploy(self.dev.node, img.paths())[0], "full")
        ro = self.open_monitor(self.c, self.dev.node)
        rw = self.open_monitor(self.c, self.dev.node, write=dbus.Boolean(True))
        ro.wait_for(b"app running")
        rx0 = self.dev.sim.stats()["rx_bytes"]
        ro.sock.sendall(b"ignored\n")
        rw.sock.sendall(b"hello\n")
        deadline = time.monotonic() + 30
        while self.dev.sim.stats()["rx_bytes"] < rx0 + 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        self.assertEqual(self.dev.sim.stats()["rx_bytes"], rx0 + 6)
        # A client that closes its sending side still gets the stream.
        ro.sock.shutdown(socket.SHUT_WR)
        ro.wait_for(b"app running", start=len(ro.get()))
        # A second baud rate on the same device is refused.
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            self.c.iface.Monitor(self.dev.node, dbus.UInt32(9600), harness.options_value())
        self.assertEqual(cm.exception.get_dbus_name(), harness.error_name("DeviceBusy"))
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            self.c.iface.Monitor(self.dev.node, dbus.UInt32(BAUD), harness.options_value(bogus=True))
        self.assertEqual(cm.exception.get_dbus_name(), harness.error_name("InvalidOptions"))


class SlowMonitor(MonitorTestCase):
    def test_a_monitor_that_never_reads(self):
        # A chatty application: a status line every millisecond.
        dev = self.add_board("esp32", "uart", sim_args=["--app-interval=1"])
        self.start_service("bus", trust_default=True)
        c = self.client()
        img1 = self.image(app_seed=64)
        img2 = self.image(app_seed=65)
        self.assertEqual(c.deploy(dev.node, img1.paths())[0], "full")
        stalled = self.open_monitor(c, dev.node, read=False)
        reader = self.open_monitor(c, dev.node)
        # Far more than the stalled monitor's buffers hold.
        deadline = time.monotonic() + 60
        while len(reader.get()) < 256 * 1024 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertGreaterEqual(len(reader.get()), 256 * 1024)

        outcome, _, _ = c.deploy(dev.node, img2.paths())
        self.assertEqual(outcome, "selective")
        new_app = app_line(img2.regions[2][2])
        reader.wait_for(re.escape(RESUMED) + b".*" + re.escape(new_app))
        self.assertNotIn(b"bytes dropped", reader.get())

        # Now the stalled one reads: bytes were dropped for it alone, marked, and
        # the notices still reached it.
        stalled.start()
        stalled.wait_for(rb"\[fbuild-deployd\] \d+ bytes dropped")
        stalled.wait_for(re.escape(RESUMED))
        stalled.wait_for(re.escape(new_app))


class MonitorFollows(MonitorTestCase):
    def test_follows_reenumeration_and_ends_when_gone(self):
        dev = self.add_board("esp32s3", "usb-otg")
        self.start_service("bus", trust_default=True)
        c = self.client()
        img = self.image(chip="esp32s3", app_seed=66)
        self.assertEqual(c.deploy(dev.node, img.paths())[0], "full")
        m = self.open_monitor(c, dev.node)
        m.wait_for(app_line(img.regions[2][2]))

        back = self.bed.replug(dev)
        pos = m.wait_for(rb"\[fbuild-deployd\] device back on " + re.escape(back.node.encode())).end()
        m.wait_for(app_line(img.regions[2][2]), start=pos)
        self.assertEqual(self.owner(c, back.node), "monitoring")

        back.unplug()
        m.wait_for(rb"\[fbuild-deployd\] monitor ended: device-removed", timeout=30)
        deadline = time.monotonic() + 30
        while not m.eof and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(m.eof, "the monitor's socket must be closed at the end")


class MonitorIdle(MonitorTestCase):
    def test_no_idle_exit_while_monitored(self):
        dev = self.add_board("esp32", "uart")
        svc = self.start_service("bus", idle_timeout=1)
        c = self.client()
        m = self.open_monitor(c, dev.node)
        pids = svc.service_pids()
        self.assertEqual(len(pids), 1)
        # The client's bus connection is no peer connection: only the monitor
        # keeps the service, well past its idle timeout.
        time.sleep(3)
        self.assertEqual(svc.service_pids(), pids)
        mark = len(m.get())
        m.wait_for(b"app running", start=mark)
        m.close()
        deadline = time.monotonic() + 20
        while svc.service_pids() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(svc.service_pids(), [], "the service must exit once idle")


if __name__ == "__main__":
    unittest.main()
