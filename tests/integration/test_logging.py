# SPDX-License-Identifier: LGPL-2.1-or-later
"""What a caller can put into the service's log (issue 12): a port string with
"\\n<0>EMERG" in it must not start a second log line that journald would read
as an emergency; it appears escaped. Under systemd (stderr is the journal's
stream), the service logs natively with structured fields (PORT=, JOB=,
CALLER_UID=, OUTCOME=), checked here against a real systemd-journald running
in a private mount namespace.
Run: umockdev-wrapper /usr/bin/python3 test_logging.py (env: see harness.py)"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import dbus

import busfixture
import harness

EVIL = "/dev/ttyUSB0\n<0>EMERG\r\n<1>ALERT"
ESCAPED = "/dev/ttyUSB0\\n<0>EMERG\\r\\n<1>ALERT"


def evil_calls(port):
    none = dbus.Dictionary({}, signature="sv")
    regions = dbus.Array([dbus.Struct((dbus.UInt64(0x10000), dbus.String("/etc/hostname", variant_level=1)),
                                      signature=None)], signature="(tv)")
    return [("Cancel", (port,)), ("ForgetTrust", (port,)), ("TrustState", (port,)),
            ("Verify", (port, regions, none)), ("DeployRegions", (port, regions, none)),
            ("Monitor", (port, dbus.UInt32(115200), none))]


class LogInjection(harness.ServiceTestCase):
    def test_port_strings_cannot_forge_log_lines(self):
        self.add_board("esp32", "uart")
        svc = self.start_service("bus")
        c = self.client()
        names = []
        for method, args in evil_calls(EVIL):
            try:
                getattr(c.iface, method)(*args, timeout=30)
                names.append(None)
            except dbus.exceptions.DBusException as e:
                names.append(e.get_dbus_name())
        # A good call afterwards, so that the refusals are surely written.
        c.list_devices()
        text = harness._read(svc.log_path)
        forged = [line for line in text.split("\n") if line.startswith(("<0>", "<1>", "<2>", "EMERG", "ALERT"))]
        self.assertEqual(forged, [], "a caller's string started a log line")
        # No such port: each call is refused (and nothing is kept for it).
        self.assertEqual(names, [harness.error_name("NoSuchDevice")] * len(names))
        # Every refusal was logged, with the port escaped.
        for method, _ in evil_calls(EVIL):
            self.assertIn(f"{method} on {ESCAPED} refused", text)


# Inside `unshare -m`: /run is a fresh tmpfs, so systemd-journald (started here)
# owns /run/systemd/journal/* without touching the host; the service's stderr
# is a journal stream (systemd-cat) and JOURNAL_STREAM names it, as systemd
# sets it for a unit. Then the service serves the socket at $SOCK.
NAMESPACE_SCRIPT = r"""
set -e
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/systemd/journal /run/log/journal
/lib/systemd/systemd-journald >"$WORK/journald.log" 2>&1 &
echo $! >"$WORK/journald.pid"
i=0
while [ ! -S /run/systemd/journal/stdout ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
exec systemd-cat -t fbuild-deployd /bin/sh -c \
  'export JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2); exec systemd-socket-activate -l "$SOCK" \
     -E JOURNAL_STREAM -E FBUILD_DEPLOYD_CONFIG -E DBUS_SYSTEM_BUS_ADDRESS "$DEPLOYD"'
"""


class JournalFields(unittest.TestCase):
    def setUp(self):
        for tool in ("unshare", "nsenter", "systemd-cat", "systemd-socket-activate", "journalctl"):
            if not shutil.which(tool):
                self.skipTest(f"no {tool}")
        if not os.path.exists("/lib/systemd/systemd-journald"):
            self.skipTest("no systemd-journald")
        if os.geteuid() != 0:
            self.skipTest("needs root (a private mount namespace)")
        self.work = tempfile.mkdtemp(prefix="fbuild-journal.")
        os.chmod(self.work, 0o755)
        self.addCleanup(shutil.rmtree, self.work, ignore_errors=True)

    def journal(self, pid):
        p = subprocess.run(["nsenter", "-t", str(pid), "-m", "journalctl", "-D", "/run/log/journal",
                            "-o", "json", "--no-pager", "SYSLOG_IDENTIFIER=fbuild-deployd"],
                           capture_output=True, text=True, timeout=30)
        return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]

    def test_structured_fields_in_the_journal(self):
        sock = os.path.join(self.work, "bus")
        config = os.path.join(self.work, "deployd.conf")
        with open(config, "w") as f:
            f.write("[Service]\nLogLevel=debug\nIdleTimeoutSec=600\n")
        env = dict(os.environ, WORK=self.work, SOCK=sock, DEPLOYD=harness.DEPLOYD,
                   FBUILD_DEPLOYD_CONFIG=config,
                   DBUS_SYSTEM_BUS_ADDRESS=f"unix:path={self.work}/no-such-bus")
        env.pop("JOURNAL_STREAM", None)
        proc = subprocess.Popen(busfixture.ORPHAN_GUARD + ["unshare", "-m", "--propagation", "private",
                                                           "/bin/sh", "-c", NAMESPACE_SCRIPT],
                                env=env, stdin=subprocess.DEVNULL)
        self.addCleanup(self._stop, proc)
        busfixture._wait_for(lambda: os.path.exists(sock), 15, "the service's socket")

        # Refused calls (as root: every one gets past polkit to the port check),
        # and one that succeeds (Cancel of a real character device: 0 jobs).
        ep = busfixture.Endpoint(f"unix:path={sock}", peer_to_peer=True)
        gd = harness.Gdbus(ep)
        try:
            gd.call("Cancel", "'/dev/ttyUSB0\\n<0>EMERG'")
        except harness.CallError:
            pass
        gd.call("Cancel", "'/dev/null'")

        def entries():
            return [e for e in self.journal(proc.pid) if "PORT" in e]
        busfixture._wait_for(lambda: len(entries()) >= 2, 15, "the service's entries in the journal")
        got = entries()
        refused = [e for e in got if e.get("OUTCOME") == "refused:NoSuchDevice"]
        self.assertEqual(len(refused), 1, got)
        e = refused[0]
        self.assertEqual(e["PORT"], "/dev/ttyUSB0\\n<0>EMERG")
        self.assertEqual(e["CALLER_UID"], "0")
        self.assertEqual(e["PRIORITY"], "7")
        self.assertIn("Cancel on /dev/ttyUSB0\\n<0>EMERG refused", e["MESSAGE"])
        self.assertEqual(e.get("CODE_FUNC"), "log_refusal")
        cancelled = [e for e in got if e.get("OUTCOME") == "cancelled:0"]
        self.assertEqual(len(cancelled), 1, got)
        self.assertEqual(cancelled[0]["PORT"], "/dev/null")
        self.assertEqual(cancelled[0]["PRIORITY"], "6")
        # Natively: no "<N>" prefixes went through the stream.
        for e in self.journal(proc.pid):
            self.assertFalse(str(e.get("MESSAGE", "")).startswith("<"), e)

    def _stop(self, proc):
        try:
            with open(os.path.join(self.work, "journald.pid")) as f:
                jpid = int(f.read())
        except (OSError, ValueError):
            jpid = None
        busfixture.stop_process(proc)
        if jpid:
            try:
                os.kill(jpid, 15)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 5
            while os.path.exists(f"/proc/{jpid}") and time.monotonic() < deadline:
                time.sleep(0.05)
        if os.environ.get("FBUILD_INT_KEEP"):
            sys.stderr.write(f"journald log: {harness._read(os.path.join(self.work, 'journald.log'))}\n")


if __name__ == "__main__":
    unittest.main()
