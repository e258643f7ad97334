# SPDX-License-Identifier: LGPL-2.1-or-later
"""fbuildctl against the real service: builds on the integration fixture
(tests/integration/harness.py: the umockdev bed with simulated chips, the socket
activator, the private dbus-daemon) and adds a way to run the built fbuildctl on
either endpoint, plus the ESP-IDF and PlatformIO trees of fixtures/trees.py.

Must run under umockdev-wrapper with /usr/bin/python3. meson passes, besides what
harness.py reads, FBUILDCTL: the client under test.
"""

import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get("FBUILD_SOURCE_ROOT") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE_ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(HERE, "fixtures"))

import harness  # noqa: E402
import trees  # noqa: E402

FBUILDCTL = os.environ.get("FBUILDCTL", "")

# Exit codes, as docs/fbuildctl.md documents them.
EXIT_SUCCESS = 0
EXIT_FAILURE = 1
EXIT_INVALID = 2
EXIT_NO_DEVICE = 3
EXIT_PERMISSION = 4
EXIT_DEVICE_ERROR = 5
EXIT_CANCELLED = 6
EXIT_MISMATCH = 7


class CtlTestCase(harness.ServiceTestCase):
    """A ServiceTestCase that runs fbuildctl. `activation` picks the endpoint the
    client uses: "socket" (peer-to-peer, --address) or "bus" (the private system bus
    through DBUS_SYSTEM_BUS_ADDRESS, no --address)."""

    activation = "socket"

    def setUp(self):
        if not FBUILDCTL or not os.access(FBUILDCTL, os.X_OK):
            self.skipTest(f"FBUILDCTL not set or not executable: {FBUILDCTL!r}")
        super().setUp()

    def start(self, **kw):
        return self.start_service(self.activation, **kw)

    def ctl_argv(self, args, endpoint=None):
        ep = endpoint or self.service.endpoint
        argv = [FBUILDCTL]
        if ep.peer_to_peer:
            argv.append(f"--address={ep.address}")
        return argv + list(args)

    def ctl_env(self, endpoint=None, extra=None):
        ep = endpoint or self.service.endpoint
        env = self.bed.env()
        if not ep.peer_to_peer:
            env["DBUS_SYSTEM_BUS_ADDRESS"] = ep.address
        else:
            # Make sure the default (system bus) path is never what answers.
            env["DBUS_SYSTEM_BUS_ADDRESS"] = f"unix:path={self.work}/no-system-bus"
        # fbuildctl offers the stub of the user's toolchain: none from this host's
        # ($HOME's, $IDF_PATH's) unless a test puts one there.
        for k in ("IDF_PATH", "IDF_PYTHON_ENV_PATH", "PLATFORMIO_CORE_DIR"):
            env.pop(k, None)
        env["HOME"] = os.path.join(self.work, "home")
        env.update(extra or {})
        return env

    def ctl(self, *args, endpoint=None, expect=None, timeout=120, env=None, raw=False, cwd=None):
        """Runs fbuildctl; returns the CompletedProcess. expect: the exit code the
        test requires (checked with stdout/stderr in the message)."""
        argv = list(args) if raw else self.ctl_argv(args, endpoint)
        p = subprocess.run(argv, env=self.ctl_env(endpoint, env), stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout, cwd=cwd)
        if expect is not None:
            self.assertEqual(p.returncode, expect,
                             f"fbuildctl {' '.join(args)} exited {p.returncode}, expected {expect}\n"
                             f"--- stdout\n{p.stdout}\n--- stderr\n{p.stderr}")
        return p

    def ctl_json(self, *args, expect=EXIT_SUCCESS, **kw):
        """Runs fbuildctl --json; returns (process, the one JSON object on stdout)."""
        p = self.ctl("--json", *args, expect=expect, **kw)
        try:
            obj = json.loads(p.stdout)
        except json.JSONDecodeError as e:
            self.fail(f"--json printed no single JSON object ({e}):\n{p.stdout!r}\n--- stderr\n{p.stderr}")
        self.assertIsInstance(obj, dict)
        return p, obj

    def ctl_popen(self, *args, endpoint=None):
        """Starts fbuildctl in the background (its own process group, so a SIGINT
        reaches it alone); stdout/stderr are files in the work dir."""
        n = len(getattr(self, "_popen_logs", []))
        out = open(os.path.join(self.work, f"ctl-{n}.out"), "w+")
        err = open(os.path.join(self.work, f"ctl-{n}.err"), "w+")
        self._popen_logs = getattr(self, "_popen_logs", []) + [out, err]
        self.addCleanup(out.close)
        self.addCleanup(err.close)
        proc = subprocess.Popen(self.ctl_argv(args, endpoint), env=self.ctl_env(endpoint),
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                start_new_session=True)

        def reap():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.addCleanup(reap)
        proc.out_file, proc.err_file = out, err
        return proc

    @staticmethod
    def read_back(f):
        f.flush()
        f.seek(0)
        return f.read()

    def wait_for_file_text(self, f, needle, timeout, proc=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.read_back(f)
            if needle in text:
                return text
            if proc is not None and proc.poll() is not None:
                break
            time.sleep(0.02)
        self.fail(f"{needle!r} did not appear within {timeout}s:\n{self.read_back(f)}")

    # trees --------------------------------------------------------------------------

    def idf_project(self, name="idf", **kw):
        return trees.idf_build(os.path.join(self.work, name), **kw)

    def pio_project(self, name="pio", **kw):
        return trees.pio_build(os.path.join(self.work, name), **kw)

    def assertFlashHolds(self, dev, regions):
        flash = dev.sim.flash()
        for off, data, name in regions:
            self.assertEqual(flash[off:off + len(data)], data, f"{name} at {off:#x} is not on the chip")

    @staticmethod
    def interrupt(proc):
        """Ctrl-C: SIGINT to fbuildctl alone, as a terminal sends it to the foreground job."""
        proc.send_signal(signal.SIGINT)
