# SPDX-License-Identifier: LGPL-2.1-or-later
"""Whose files the service reads (issue 12, findings 1 and 2): a path is opened as
the caller, and "the caller" is what the caller cannot change after sending its
call. A client that execs a setgid program while its DeployRegions is pending
does not get the program's group; a path through /proc magic links
(/proc/self/fd/N, /proc/<pid>/fd/N, /proc/self/root/…) never reaches the
service's own files. Real polkitd, real users, a real setgid binary.
Run: umockdev-wrapper /usr/bin/python3 test_caller_files.py (env: see harness.py)"""

import grp
import os
import pwd
import select
import shutil
import struct
import subprocess
import sys
import time
import unittest

import busfixture
import harness
from test_polkit import PolkitBase

DENIED = harness.error_name("PermissionDenied")

# Blocks holding the bus connection it inherited as fd argv[1], and copies what
# arrives on it (the reply to the call its exec'ing parent sent) to stdout.
SETGID_HELPER_C = r"""
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
        char buf[4096];
        ssize_t n;
        int fd;

        if (argc != 2)
                return 2;
        fd = atoi(argv[1]);
        /* libdbus left it non-blocking. */
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0)
                return 1;
        /* Says who it is now, for the test to know the race is set up. */
        fprintf(stderr, "egid=%u\n", (unsigned) getegid());
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                if (write(1, buf, n) != n)
                        return 1;
        return 0;
}
"""

# Runs as the test user: connects, sends DeployRegions without waiting for the
# reply, and execs the setgid helper with the connection's socket inherited, so
# that the connection (and the call) outlive the exec.
RACE_CLIENT = r"""
import os, sys
import dbus, dbus.bus, dbus.connection, dbus.lowlevel
address, p2p, port, offset, path, helper = sys.argv[1:]
p2p = p2p == "1"
conn = dbus.connection.Connection(address) if p2p else dbus.bus.BusConnection(address)
if p2p:
    conn.call_blocking(None, "/", "org.freedesktop.DBus.Peer", "Ping", "", (), timeout=30)
msg = dbus.lowlevel.MethodCallMessage(None if p2p else "org.fbuild.Deploy1", "/org/fbuild/Deploy1",
                                      "org.fbuild.Deploy1", "DeployRegions")
msg.append(port, [(dbus.UInt64(int(offset)), dbus.String(path, variant_level=1))],
           {"trust": dbus.Boolean(False)}, signature="sa(tv)a{sv}")
conn.send_message(msg)
conn.flush()
def is_socket(fd):
    try:
        return os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    except FileNotFoundError:   # listdir's own fd
        return False
socks = [int(fd) for fd in os.listdir("/proc/self/fd") if is_socket(fd)]
assert len(socks) == 1, socks
os.set_inheritable(socks[0], True)
os.execv(helper, [helper, str(socks[0])])
"""

# polkit takes a second before it says yes to the race client's deploy: by
# then the client has long exec'd the setgid helper, so the race is won every
# time by a service that reads the caller's groups from /proc.
SLOW_DEPLOY_RULES = """// fbuild-deployd integration tests: the exec race.
polkit.addRule(function(action, subject) {
        if (action.id == "org.fbuild.deploy1.deploy" && subject.user == "%s") {
                polkit.spawn(["/bin/sleep", "1"]);
                return polkit.Result.YES;
        }
});
"""


def _dbus_messages(data):
    """[(type, raw bytes)] of the complete little-endian D-Bus messages in data."""
    out = []
    while len(data) >= 16:
        if data[0:1] != b"l":
            raise ValueError(f"not a little-endian D-Bus message: {data[:16]!r}")
        body_len, _serial, fields_len = struct.unpack_from("<III", data, 4)
        header_len = 16 + fields_len
        header_len += -header_len % 8
        total = header_len + body_len
        if len(data) < total:
            break
        out.append((data[1], data[:total]))
        data = data[total:]
    return out


class ExecRaceMixin(PolkitBase):
    """Finding 1: the caller's groups are its login groups, never read from
    /proc when the call is handled."""

    def setUp(self):
        super().setUp()
        if not shutil.which("cc"):
            self.skipTest("no C compiler for the setgid helper")
        pk = self.pk
        self.user = pk.user_slow       # in no group but its own
        self.group = f"fbsg{os.getpid() % 100000}"
        subprocess.run(["groupdel", self.group], capture_output=True)
        subprocess.run(["groupadd", self.group], check=True, capture_output=True)
        self.addCleanup(subprocess.run, ["groupdel", self.group], capture_output=True)
        self.gid = grp.getgrnam(self.group).gr_gid
        pk.install_extra_rules("30-fbuild-deployd-race", SLOW_DEPLOY_RULES % self.user)

        shared = os.path.join(self.work, "shared")
        os.makedirs(shared)
        os.chmod(shared, 0o755)
        self.shared = shared
        helper_src = os.path.join(shared, "hold.c")
        with open(helper_src, "w") as f:
            f.write(SETGID_HELPER_C)
        self.helper = os.path.join(shared, "hold-setgid")
        subprocess.run(["cc", "-O1", "-o", self.helper, helper_src], check=True)
        os.chown(self.helper, 0, self.gid)
        os.chmod(self.helper, 0o2755)

    def group_only_file(self, data):
        path = os.path.join(self.shared, "group-only.bin")
        with open(path, "wb") as f:
            f.write(data)
        os.chown(path, 0, self.gid)
        os.chmod(path, 0o640)
        return path

    def race(self, path, offset):
        """The race client as self.user; returns (message type, raw reply)."""
        ep = self.svc.endpoint
        cmd = busfixture._as_user(self.user) + [
            sys.executable, "-c", RACE_CLIENT, ep.address, "1" if ep.peer_to_peer else "0",
            self.port, str(offset), path, self.helper]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ep.client_env(self.user))
        self.addCleanup(p.stderr.close)
        self.addCleanup(p.stdout.close)
        self.addCleanup(busfixture.stop_process, p)

        # Proof that the race is set up: the client is the setgid helper now,
        # with the group as its effective gid, while the call is pending.
        line = busfixture._read_line(p.stderr.fileno(), 20, "the setgid helper's egid")
        self.assertEqual(line, f"egid={self.gid}")

        data = b""
        deadline = time.monotonic() + 60
        fd = p.stdout.fileno()
        while True:
            replies = [(t, m) for t, m in _dbus_messages(data) if t in (2, 3)]   # return, error
            if replies:
                return replies[0]
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail(f"no reply to the race client's call: {data!r}")
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    self.fail(f"the connection closed without a reply (exit {p.wait()}): {data!r}")
                data += chunk

    def test_setgid_exec_after_the_call(self):
        """The client is not in the group; the group-only file is refused though
        the client has exec'd a setgid-that-group program by the time the call
        is handled, and nothing reaches the chip. Once the user's login groups
        include the group, the same file deploys: the refusal was about the
        group, and the groups are the user's login groups."""
        self.start()
        img = self.image()
        app_off, _, app, _ = img.regions[2]
        path = self.group_only_file(app)
        self.assertNotIn(self.group, [g.gr_name for g in grp.getgrall()
                                      if self.user in g.gr_mem])

        before = self.traffic()
        kind, reply = self.race(path, app_off)
        self.assertEqual(kind, 3, f"the exec race got the group's file deployed: {reply!r}")
        self.assertIn(DENIED.encode(), reply)
        self.assertIn(b"Cannot open", reply)
        self.assertEqual(self.traffic(), before, "the refused file reached the chip")
        self.assertNotEqual(self.sim.flash()[app_off:app_off + len(app)], app)

        subprocess.run(["gpasswd", "-a", self.user, self.group], check=True, capture_output=True)
        out = self.call(self.user, "DeployRegions", self.port, f"[(uint64 {app_off}, <'{path}'>)]",
                        "{'trust': <false>}")
        self.assertTrue(out.startswith("('full',"), out)
        self.assertEqual(self.sim.flash()[app_off:app_off + len(app)], app)


class ExecRaceBus(ExecRaceMixin, harness.ServiceTestCase):
    activation = "bus"


class ExecRaceSocket(ExecRaceMixin, harness.ServiceTestCase):
    activation = "socket"


if __name__ == "__main__":
    unittest.main()
