# SPDX-License-Identifier: LGPL-2.1-or-later
"""The service cannot be turned against its host: a path is opened with the
caller's credentials (an authorized unprivileged user cannot make it read a
root-only file, but deploys from its own private home), the systemd unit keeps
its `systemd-analyze security` rating, and one user cannot hold every
peer-to-peer connection or block the socket by connecting and never speaking.
Run: umockdev-wrapper /usr/bin/python3 test_containment.py (env: see harness.py)"""

import os
import pwd
import re
import shutil
import subprocess
import sys
import unittest

import busfixture
import harness
from harness import CallError
from test_polkit import NO_OPTS, PolkitBase

# The ratings `systemd-analyze security` gives, best first; "OK" or better passes.
GOOD_RATINGS = ("PERFECT", "SAFE", "OK")
# src/bus/bus-limits.h
PEERS_PER_UID = 16
JOBS_PER_UID = 8


class UnitSandbox(unittest.TestCase):
    def test_security_rating(self):
        unit = os.environ.get("FBUILD_SERVICE_UNIT")
        if not unit or not os.path.exists(unit):
            self.skipTest(f"FBUILD_SERVICE_UNIT not set or missing: {unit!r}")
        if not shutil.which("systemd-analyze"):
            self.skipTest("no systemd-analyze")
        # --offline: judge the file itself, without a running systemd.
        p = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", unit],
                           capture_output=True, text=True, timeout=60)
        out = p.stdout + p.stderr
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", out)
        self.assertIsNotNone(m, out)
        level, rating = float(m.group(1)), m.group(2)
        sys.stderr.write(f"{os.path.basename(unit)}: exposure {level} {rating}\n")
        self.assertIn(rating, GOOD_RATINGS, out)
        # The choices the issue asks for, which the rating alone would not pin.
        with open(unit) as f:
            text = f.read()
        for line in ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                     "DevicePolicy=closed", "RestrictAddressFamilies=AF_UNIX AF_NETLINK",
                     "IPAddressDeny=any", "SystemCallFilter=@system-service",
                     "CapabilityBoundingSet=CAP_SETUID CAP_SETGID",
                     # issue 12: the fd budget is sized from this; tasks and memory bounded
                     "LimitNOFILE=4096", "TasksMax=256", "MemoryMax=512M",
                     # issue 12: the holder scan sees the same with it (test_holders_proc.py)
                     "ProtectProc=invisible"):
            self.assertIn(line + "\n", text)


class ContainmentMixin(PolkitBase):
    def test_files_are_opened_as_the_caller(self):
        """The group member is authorized, yet a root-only file is refused
        (PermissionDenied, the chip hears nothing) and so is one in the other user's
        private home; a file in its own 0700 home works."""
        self.start()
        pk = self.pk
        img = self.image()
        app_off, _, app, _ = img.regions[2]

        secret = os.path.join(self.work, "root-only.bin")
        with open(secret, "wb") as f:
            f.write(app)
        os.chmod(secret, 0o600)

        def private_copy(user):
            home = pk.make_home(user, self.work)
            path = os.path.join(home, "app.bin")
            with open(path, "wb") as f:
                f.write(app)
            pw = pwd.getpwnam(user)
            os.chown(path, pw.pw_uid, pw.pw_gid)
            os.chmod(path, 0o600)
            return path
        mine = private_copy(pk.user_in)
        theirs = private_copy(pk.user_out)

        def regions(path):
            return f"[(uint64 {app_off}, <'{path}'>)]"

        before = self.traffic()
        for path in (secret, theirs):
            for method, opts in (("Verify", NO_OPTS), ("DeployRegions", "{'trust': <false>}")):
                e = self.assertDenied(pk.user_in, method, self.port, regions(path), opts)
                self.assertIn("Cannot open", e.message)
        self.assertEqual(self.traffic(), before, "a refused file reached the chip")

        out = self.call(pk.user_in, "DeployRegions", self.port, regions(mine), "{'trust': <false>}")
        self.assertTrue(out.startswith("('full',"), out)
        self.assertEqual(self.sim.flash()[app_off:app_off + len(app)], app)
        out = self.call(pk.user_in, "Verify", self.port, regions(mine), NO_OPTS)
        self.assertNotIn("false", out)


    def test_jobs_per_user_are_limited(self):
        """A user may have JOBS_PER_UID jobs running or queued; one more is
        LimitsExceeded, and the slots come back when its jobs end."""
        slow = self.add_board("esp32", "uart", timing="real")
        self.start()
        pk = self.pk
        big = self.image(app_seed=40, app_size=768 * 1024)
        small = self.image(app_seed=41)
        regions = self.regions(small)
        # root's long deploy holds the port: the user's jobs queue behind it.
        c = self.client()
        hog = c.call_async("DeployRegions", slow.node, harness.regions_value(big.paths()),
                           harness.options_value(trust=False))
        queued = [self.popen_call(pk.user_in, "Verify", slow.node, regions, NO_OPTS)
                  for _ in range(JOBS_PER_UID)]
        marker = f"Queued a verify on {slow.node}"
        busfixture._wait_for(lambda: harness._read(self.svc.log_path).count(marker) >= JOBS_PER_UID, 60,
                             f"{JOBS_PER_UID} queued verifies")
        with self.assertRaises(CallError) as cm:
            self.call(pk.user_in, "Verify", slow.node, regions, NO_OPTS)
        self.assertEqual(cm.exception.name, harness.error_name("LimitsExceeded"), cm.exception.message)
        self.assertFalse(hog.done)

        c.call("Cancel", slow.node)
        for p in queued:
            _, err = p.communicate(timeout=60)
            self.assertIn("Error.Cancelled", err)
        c.run_until(lambda: hog.done, 60, "the cancelled deploy")
        self.assertEqual(hog.error.name, harness.error_name("Cancelled"))
        # Every slot is back.
        out = self.call(pk.user_in, "Verify", self.port, regions, NO_OPTS)
        self.assertIn("false", out)


class ContainmentBus(ContainmentMixin, harness.ServiceTestCase):
    activation = "bus"


class ContainmentSocket(ContainmentMixin, harness.ServiceTestCase):
    activation = "socket"


# Holds N connections to the socket as whoever runs it, never speaking. Says
# "connected", then for each line on stdin "open K": how many the service has
# not closed. Exits when stdin closes.
HOLDER = r"""
import socket, sys
n, path = int(sys.argv[1]), sys.argv[2]
socks = []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.setblocking(False)
    socks.append(s)
print("connected", flush=True)
for _ in sys.stdin:
    alive = 0
    for s in socks:
        try:
            alive += s.recv(1) != b""
        except BlockingIOError:
            alive += 1
    print("open", alive, flush=True)
"""


class PeerLimits(harness.ServiceTestCase):
    """Peer-to-peer: silent clients do not block anyone, and one user gets at
    most PEERS_PER_UID connections (root is not limited)."""

    def setUp(self):
        super().setUp()
        self.dev = self.add_board("esp32", "uart")
        self.svc = self.start_service("socket")
        self.sock = self.svc.activator.socket_path

    def hold(self, n, user=None):
        cmd = busfixture._as_user(user) + [sys.executable, "-c", HOLDER, str(n), self.sock]
        env = self.svc.endpoint.client_env(user)
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.addCleanup(p.stdout.close)
        self.addCleanup(busfixture.stop_process, p)
        self.addCleanup(p.stdin.close)
        line = busfixture._read_line(p.stdout.fileno(), 30, "the connection holder")
        self.assertEqual(line, "connected")
        return p

    def still_open(self, p):
        p.stdin.write("count\n")
        p.stdin.flush()
        line = busfixture._read_line(p.stdout.fileno(), 30, "the connection holder's count")
        return int(line.split()[1])

    def refusals(self):
        return harness._read(self.svc.log_path).count("Refusing a peer connection from uid")

    def test_silent_clients_and_the_per_user_limit(self):
        root = harness.Gdbus(self.svc.endpoint)
        self.assertIn(self.dev.node, root.call("ListDevices"))

        # nobody fills its quota with connections that never say a word...
        holder = self.hold(PEERS_PER_UID + 4, user="nobody")
        busfixture._wait_for(lambda: self.refusals() >= 4, 30, "the service to refuse 4 connections")
        self.assertEqual(self.refusals(), 4)
        self.assertEqual(self.still_open(holder), PEERS_PER_UID, "the per-user connection limit did not hold")
        # ...which blocks neither root nor nobody's own next connection once one
        # is free; while it is full, nobody's new connections are refused.
        self.assertIn(self.dev.node, root.call("ListDevices"))
        with self.assertRaises(CallError):
            harness.Gdbus(self.svc.endpoint, user="nobody", timeout=10).call("ListDevices")
        # root is not limited.
        root_holder = self.hold(PEERS_PER_UID + 2)
        self.assertIn(self.dev.node, root.call("ListDevices"))
        self.assertEqual(self.still_open(root_holder), PEERS_PER_UID + 2)

        holder.stdin.close()
        holder.wait(10)
        root_holder.stdin.close()
        root_holder.wait(10)
        busfixture._wait_for(lambda: _call_ok(self.svc.endpoint, "nobody"), 15,
                             "nobody to be served again")
        self.assertEqual(len(self.svc.service_pids()), 1)


def _call_ok(endpoint, user):
    try:
        harness.Gdbus(endpoint, user=user, timeout=10).call("ListDevices")
        return True
    except CallError:
        return False


if __name__ == "__main__":
    unittest.main()
