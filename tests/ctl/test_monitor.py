# SPDX-License-Identifier: LGPL-2.1-or-later
"""`fbuildctl monitor` and `fbuildctl deploy --monitor` (issue 6) against the real
service: the output is byte for byte what the simulated chip sent (its event log);
a deploy from a second client pauses and resumes the monitor (the in-band notices
on stdout, MonitorPaused/MonitorResumed as notices on stderr) and the new
firmware's boot banner arrives complete; `deploy --monitor` opens its monitor
before the deploy, so it sees the new boot from its first byte; the monitor ends
with a reason and exit 3 when the board is unplugged; input reaches the device
only when asked for; on a terminal, raw mode and Ctrl-] to quit.
Run: umockdev-wrapper /usr/bin/python3 test_monitor.py"""

import hashlib
import os
import pty
import re
import signal
import subprocess
import threading
import time
import unittest

import ctlharness
from ctlharness import EXIT_INVALID, EXIT_NO_DEVICE, EXIT_SUCCESS

PAUSED = b"\r\n[fbuild-deployd] paused: a job has the port\r\n"
RESUMED = b"\r\n[fbuild-deployd] resumed at 115200 baud\r\n"
NOTICE = re.compile(rb"\r\n\[fbuild-deployd\] [^\r\n]*\r\n")
ESCAPE = b"\x1d"


def app_line(app):
    return b"app running sha256=" + hashlib.sha256(app).hexdigest().encode()


class MonitorCase(ctlharness.CtlTestCase):

    def setUp(self):
        super().setUp()
        self.dev = self.add_board("esp32", "uart")

    def pairs(self, img):
        return [f"{off:#x}={path}" for off, path in img.paths()]

    def app_of(self, img):
        return app_line(img.regions[2][2])

    def popen(self, *args, stdin=subprocess.DEVNULL):
        """fbuildctl in the background, stdout and stderr as bytes in files."""
        n = len(getattr(self, "_mon_logs", []))
        out = open(os.path.join(self.work, f"mon-{n}.out"), "w+b")
        err = open(os.path.join(self.work, f"mon-{n}.err"), "w+b")
        self._mon_logs = getattr(self, "_mon_logs", []) + [out, err]
        self.addCleanup(out.close)
        self.addCleanup(err.close)
        proc = subprocess.Popen(self.ctl_argv(args), env=self.ctl_env(), stdin=stdin, stdout=out,
                                stderr=err, start_new_session=True)

        def reap():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.addCleanup(reap)
        proc.out_file, proc.err_file = out, err
        return proc

    def wait_for(self, proc, f, pattern, timeout=60, start=0):
        """Waits for a regex (bytes) in one of proc's files; returns the match."""
        deadline = time.monotonic() + timeout
        while True:
            data = self.read_back(f)
            m = re.compile(pattern, re.S).search(data, start)
            if m:
                return m
            if time.monotonic() > deadline or proc.poll() is not None:
                self.fail(f"{pattern!r} not seen (exit {proc.poll()}):\n--- stdout\n"
                          f"{self.read_back(proc.out_file)[-1500:]!r}\n--- stderr\n"
                          f"{self.read_back(proc.err_file)[-1500:]!r}")
            time.sleep(0.02)

    def stop(self, proc, sig=signal.SIGINT, expect=EXIT_SUCCESS):
        proc.send_signal(sig)
        rc = proc.wait(30)
        err = self.read_back(proc.err_file).decode(errors="replace")
        self.assertEqual(rc, expect, err)
        return self.read_back(proc.out_file), err

    def monitor_on_pty(self, args, err_name):
        """fbuildctl ARGS on a terminal (a pty) of its own, with a thread that
        collects what it shows. Returns (master, proc, err, got, lock, thread):
        write keys to master; read got under lock."""
        master, slave = pty.openpty()
        err = open(os.path.join(self.work, err_name), "w+b")
        self.addCleanup(err.close)
        proc = subprocess.Popen(self.ctl_argv(args), env=self.ctl_env(), stdin=slave,
                                stdout=slave, stderr=err, start_new_session=True)
        os.close(slave)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
        got = bytearray()
        lock = threading.Lock()

        def drain():
            while True:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    return
                if not chunk:
                    return
                with lock:
                    got.extend(chunk)
        t = threading.Thread(target=drain, daemon=True)
        t.start()
        return master, proc, err, got, lock, t

    def resets(self):
        return sum(1 for e in self.dev.sim.events() if e.get("event") == "reset")

    def wait_booted(self):
        """A deploy answers once it has released EN; the chip boots its app a
        few ms later (EN is an RC, tests/sim/sim-en.h). A reset pulled before
        that only lengthens the deploy's reset instead of making one of its own,
        so tests that count resets let that boot happen first."""
        deadline = time.monotonic() + 30
        while self.dev.sim.stats()["state"] != "app":
            self.assertLess(time.monotonic(), deadline, "the board did not boot after the deploy")
            time.sleep(0.02)

    def sent_since_last_reset(self, until=None, after=0):
        """What the chip sent to an open port since its last reset (its own log).
        With until: since the last reset (from the after-th on) after which it sent
        those bytes (closing the port after a test may reset it again), waiting
        for them a while: the
        chip logs a write after making it, so a monitor can be first."""
        deadline = time.monotonic() + 30
        while True:
            boots = [b""]
            for e in self.dev.sim.events():
                if e.get("event") == "reset":
                    boots.append(b"")
                elif e.get("event") == "tx" and not e.get("lost"):
                    boots[-1] += bytes.fromhex(e["hex"])
            if until is None:
                return boots[-1]
            hits = [b for b in boots[1 + after:] if until in b]
            if hits or time.monotonic() > deadline:
                return hits[-1] if hits else b""
            time.sleep(0.05)

    def wait_start_boot(self, proc, resets_before, app):
        """The monitor resets the board on start (as espflash): waits for that
        reset and for the whole boot after it, up to app, in proc's output."""
        deadline = time.monotonic() + 30
        while self.resets() <= resets_before or self.dev.sim.stats()["state"] != "app":
            self.assertLess(time.monotonic(), deadline, "the monitor did not reset the board on start")
            time.sleep(0.02)
        sent = self.sent_since_last_reset(until=app, after=resets_before)
        self.assertIn(app, sent)
        self.wait_for(proc, proc.out_file, re.escape(sent[:sent.index(app) + len(app)]))

    def assertBootFromFirstByte(self, stream, app):
        """The stream after its last resumed notice is exactly what the chip sent
        since its last reset, at least up to the new app's line."""
        self.assertIn(RESUMED, stream)
        after = stream[stream.rindex(RESUMED) + len(RESUMED):]
        sent = self.sent_since_last_reset(until=app)
        self.assertIn(app, sent)
        sent = sent[:sent.index(app) + len(app)]
        self.assertEqual(after[:len(sent)], sent, "the boot output must arrive from its first byte")
        self.assertTrue(after.startswith(b"ets "), after[:80])
        self.assertIn(b"rst:", after[:200])


class Monitor(MonitorCase):

    def test_output_is_what_the_chip_sent(self):
        self.start(trust_default=True)
        img = self.image(chip="esp32", app_seed=71)
        self.ctl("-q", "deploy", *self.pairs(img), expect=EXIT_SUCCESS)
        self.wait_booted()
        resets = self.resets()
        proc = self.popen("monitor", "--port", self.dev.node)
        self.wait_for(proc, proc.err_file, rb"Monitoring /dev/\S+ at 115200 baud")
        self.wait_start_boot(proc, resets, self.app_of(img))
        # The reset button, pressed while monitored: EN low, then released.
        resets = self.resets()
        self.dev.sim.signals(False, True)
        time.sleep(0.05)        # a press lasts long enough to discharge EN (tests/sim/sim-en.h)
        self.dev.sim.signals(False, False)
        mark = len(self.read_back(proc.out_file))
        self.wait_for(proc, proc.out_file, rb"ets .*" + re.escape(self.app_of(img)), start=mark)
        out, err = self.stop(proc)
        self.assertIn("stopped", err)
        sent = self.sent_since_last_reset(until=self.app_of(img), after=resets)
        # The new boot, wherever it starts in our output, is what the chip sent.
        start = out.rindex(sent[:24])
        self.assertGreaterEqual(start, mark)
        after = out[start:]
        self.assertEqual(after, sent[:len(after)])
        self.assertIn(self.app_of(img), after)
        self.assertNotIn(b"[fbuild-deployd]", out, "no pause, no notices")

    def test_input_only_when_asked(self):
        self.start(trust_default=True)
        img = self.image(chip="esp32", app_seed=72)
        self.ctl("-q", "deploy", *self.pairs(img), expect=EXIT_SUCCESS)
        # Without --write: stdin is not read (half-closed), nothing reaches the chip.
        r, w = os.pipe()
        ro = self.popen("monitor", stdin=r)
        os.close(r)
        self.wait_for(ro, ro.out_file, re.escape(self.app_of(img)))
        rx0 = self.dev.sim.stats()["rx_bytes"]
        os.write(w, b"ignored\n")
        os.close(w)
        # With --write: what stdin holds reaches the device, and the monitor
        # goes on after stdin's end.
        r, w = os.pipe()
        rw = self.popen("monitor", "--write", stdin=r)
        os.close(r)
        mark = len(self.read_back(rw.out_file))
        self.wait_for(rw, rw.out_file, re.escape(self.app_of(img)), start=mark)
        os.write(w, b"hello\n")
        os.close(w)
        deadline = time.monotonic() + 20
        while self.dev.sim.stats()["rx_bytes"] < rx0 + 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.dev.sim.stats()["rx_bytes"], rx0 + 6)
        mark = len(self.read_back(rw.out_file))
        self.wait_for(rw, rw.out_file, re.escape(self.app_of(img)), start=mark)
        for p in (ro, rw):
            self.stop(p, signal.SIGTERM)

    def test_terminal_raw_and_escape(self):
        self.start(trust_default=True)
        img = self.image(chip="esp32", app_seed=73)
        self.ctl("-q", "deploy", *self.pairs(img), expect=EXIT_SUCCESS)
        master, proc, err, got, lock, t = self.monitor_on_pty(["monitor"], "tty.err")

        def seen(needle, timeout=30):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                with lock:
                    if needle in got:
                        return
                time.sleep(0.02)
            self.fail(f"{needle!r} not on the terminal: {bytes(got)[-500:]!r}\n"
                      f"stderr: {self.read_back(err)!r}")
        seen(self.app_of(img))
        self.assertIn(b"Ctrl-] to quit", self.read_back(err))
        # Keys go to the device as typed: Ctrl-C too (no signal in raw mode), and
        # the terminal does not echo them.
        rx0 = self.dev.sim.stats()["rx_bytes"]
        os.write(master, b"qz\x03")
        deadline = time.monotonic() + 20
        while self.dev.sim.stats()["rx_bytes"] < rx0 + 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.dev.sim.stats()["rx_bytes"], rx0 + 3)
        self.assertIsNone(proc.poll(), "Ctrl-C must not end a raw monitor")
        os.write(master, ESCAPE)
        self.assertEqual(proc.wait(30), EXIT_SUCCESS, self.read_back(err))
        self.assertIn(b"stopped", self.read_back(err))
        with lock:
            self.assertNotIn(b"qz", bytes(got), "raw mode: no echo")
        os.close(master)
        t.join(5)

    def test_usage(self):
        self.start()
        p = self.ctl("--json", "monitor", expect=EXIT_INVALID)
        self.assertIn("--json", p.stderr)
        p = self.ctl("deploy", "--write", "0x10000=/dev/null", expect=EXIT_INVALID)
        self.assertIn("--write", p.stderr)
        self.ctl("verify", "--monitor", "0x10000=/dev/null", expect=EXIT_INVALID)
        self.ctl("devices", "--write", expect=EXIT_INVALID)
        p = self.ctl("monitor", "/dev/ttyNOPE9", expect=EXIT_NO_DEVICE)
        self.assertIn("NoSuchDevice", p.stderr)


class PauseResume:
    """A monitor and a deploy from a second client; run on both endpoints."""

    def test_pause_resume_across_a_deploy(self):
        self.start(trust_default=True)
        img1 = self.image(chip="esp32", app_seed=74)
        img2 = self.image(chip="esp32", app_seed=75)
        self.ctl("-q", "deploy", *self.pairs(img1), expect=EXIT_SUCCESS)
        proc = self.popen("monitor")
        self.wait_for(proc, proc.out_file, re.escape(self.app_of(img1)))

        # The second client: a plain deploy, not told about the monitor.
        p = self.ctl("deploy", *self.pairs(img2), expect=EXIT_SUCCESS)
        self.assertIn("selective", p.stdout)
        self.assertNotIn("busy", p.stderr.lower())

        m = self.wait_for(proc, proc.out_file,
                          re.escape(PAUSED) + rb".*" + re.escape(RESUMED) + rb".*" +
                          re.escape(self.app_of(img2)))
        self.wait_for(proc, proc.err_file, rb"monitor paused.*monitor resumed")
        out, err = self.stop(proc, signal.SIGTERM)
        self.assertEqual(out.count(PAUSED), 1)
        self.assertEqual(out.count(RESUMED), 1)
        # Nothing of the old firmware after the pause, the new one's boot complete.
        self.assertNotIn(self.app_of(img1), out[m.start():])
        self.assertBootFromFirstByte(out, self.app_of(img2))
        self.assertIn(f"{self.dev.node}: monitor paused", err)
        self.assertIn(f"{self.dev.node}: monitor resumed", err)
        self.assertLess(err.index("monitor paused"), err.index("monitor resumed"))


class PauseResumeSocket(PauseResume, MonitorCase):
    activation = "socket"


class PauseResumeBus(PauseResume, MonitorCase):
    activation = "bus"


class DeployMonitor(MonitorCase):

    def test_deploy_monitor_sees_the_first_boot_byte(self):
        self.start(trust_default=True)
        img1 = self.image(chip="esp32", app_seed=76)
        img2 = self.image(chip="esp32", app_seed=77)
        self.ctl("-q", "deploy", *self.pairs(img1), expect=EXIT_SUCCESS)
        proc = self.popen("deploy", "--monitor", *self.pairs(img2))
        self.wait_for(proc, proc.out_file, re.escape(RESUMED) + rb".*" + re.escape(self.app_of(img2)))
        out, err = self.stop(proc)
        # The outcome first, then the device's output.
        first = out.split(b"\n", 1)[0]
        self.assertIn(b"selective", first)
        self.assertLess(out.index(b"written:"), out.index(PAUSED))
        self.assertBootFromFirstByte(out, self.app_of(img2))
        self.assertTrue(img2.matches_flash(self.dev.sim.flash()))
        self.assertIn("Monitoring", err)

    def test_deploy_monitor_on_a_fresh_board(self):
        # Nothing to pause before (the flash is empty): the full deploy's boot
        # still arrives from its first byte.
        self.start()
        img = self.image(chip="esp32", app_seed=78)
        proc = self.popen("-q", "deploy", "--monitor", *self.pairs(img))
        self.wait_for(proc, proc.out_file, re.escape(RESUMED) + rb".*" + re.escape(self.app_of(img)))
        out, _ = self.stop(proc, signal.SIGTERM)
        self.assertIn(b"full", out.split(b"\n", 1)[0])
        self.assertBootFromFirstByte(out, self.app_of(img))


class Unplug(MonitorCase):

    def test_monitor_ends_with_a_reason(self):
        self.start(trust_default=True)
        img = self.image(chip="esp32", app_seed=79)
        self.ctl("-q", "deploy", *self.pairs(img), expect=EXIT_SUCCESS)
        proc = self.popen("monitor")
        self.wait_for(proc, proc.out_file, re.escape(self.app_of(img)))
        self.dev.unplug()
        # The service waits a few seconds for the board to come back.
        rc = proc.wait(60)
        out = self.read_back(proc.out_file)
        err = self.read_back(proc.err_file).decode(errors="replace")
        self.assertEqual(rc, EXIT_NO_DEVICE, err)
        self.assertIn(b"[fbuild-deployd] monitor ended: device-removed", out)
        self.assertIn("device-removed", err)
        self.assertIn("the device is gone", err)


if __name__ == "__main__":
    unittest.main()
