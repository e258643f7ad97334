# SPDX-License-Identifier: LGPL-2.1-or-later
"""Whose files the service reads (issue 12, findings 1 and 2): a path is opened as
the caller, and "the caller" is what the caller cannot change after sending its
call. A client that execs a setgid program while its DeployRegions is pending
does not get the program's group; a path through /proc magic links
(/proc/self/fd/N, /proc/<pid>/fd/N, /proc/self/root/…) never reaches the
service's own files. Real polkitd, real users, a real setgid binary.
Run: umockdev-wrapper /usr/bin/python3 test_caller_files.py (env: see harness.py)"""

import grp
import json
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


# Runs as the prober: one connection, a Verify per path given on stdin, one
# JSON line per answer ({"path", "name", "message"}; name None: it succeeded).
PROBE_CLIENT = r"""
import json, sys
import dbus, dbus.bus, dbus.connection
address, p2p, port, offset = sys.argv[1:]
p2p = p2p == "1"
conn = dbus.connection.Connection(address) if p2p else dbus.bus.BusConnection(address)
obj = conn.get_object(None if p2p else "org.fbuild.Deploy1", "/org/fbuild/Deploy1", introspect=False)
iface = dbus.Interface(obj, "org.fbuild.Deploy1")
for line in sys.stdin:
    path = line.rstrip("\n")
    try:
        r = iface.Verify(port, dbus.Array([(dbus.UInt64(int(offset)), dbus.String(path, variant_level=1))],
                                          signature="(tv)"),
                         dbus.Dictionary({}, signature="sv"), timeout=60)
        out = {"path": path, "name": None, "message": repr(r)}
    except dbus.exceptions.DBusException as e:
        out = {"path": path, "name": e.get_dbus_name(), "message": e.get_dbus_message()}
    print(json.dumps(out), flush=True)
"""

# The prober may verify (and nothing else): it is in no group.
PROBER_RULES = """// fbuild-deployd integration tests: a second authorized user.
polkit.addRule(function(action, subject) {
        if (action.id == "org.fbuild.deploy1.verify" && subject.user == "%s")
                return polkit.Result.YES;
});
"""


class MagicLinksMixin(PolkitBase):
    """Finding 2: the opener sees neither the service's fds nor /proc's magic
    links. While the service holds a user's private region file open (a queued
    job), another authorized user names it through /proc/self/fd/N,
    /proc/<service pid>/fd/N, /proc/self/root/…, /dev/stdout and friends: every
    one is a named error, none is read."""

    def setUp(self):
        super().setUp()
        self.pk.install_extra_rules("30-fbuild-deployd-prober", PROBER_RULES % self.pk.user_out)

    def probe(self, user, paths, offset):
        ep = self.svc.endpoint
        cmd = busfixture._as_user(user) + [sys.executable, "-c", PROBE_CLIENT, ep.address,
                                           "1" if ep.peer_to_peer else "0", self.port, str(offset)]
        p = subprocess.run(cmd, input="".join(f"{x}\n" for x in paths), capture_output=True, text=True,
                           env=ep.client_env(user), timeout=600)
        self.assertEqual(p.returncode, 0, p.stderr)
        return [json.loads(line) for line in p.stdout.splitlines()]

    def test_proc_magic_links_reach_nothing(self):
        slow = self.add_board("esp32", "uart", timing="real")
        self.start()
        pk = self.pk
        # Long enough to outlast the probing, also in a sanitizer build.
        big = self.image(app_seed=50, app_size=2 * 1024 * 1024)
        small = self.image(app_seed=51)
        app_off, _, app, _ = small.regions[2]

        home = pk.make_home(pk.user_in, self.work)
        private = os.path.join(home, "app.bin")
        with open(private, "wb") as f:
            f.write(app)
        pw = pwd.getpwnam(pk.user_in)
        os.chown(private, pw.pw_uid, pw.pw_gid)
        os.chmod(private, 0o600)

        # root's long deploy holds the slow port; the user's verify of its own
        # private file queues behind it, its file open in the service.
        c = self.client()
        hog = c.call_async("DeployRegions", slow.node, harness.regions_value(big.paths()),
                           harness.options_value(trust=False))
        queued = self.popen_call(pk.user_in, "Verify", slow.node, f"[(uint64 {app_off}, <'{private}'>)]",
                                 "@a{sv} {}")
        marker = f"Queued a verify on {slow.node}"
        busfixture._wait_for(lambda: marker in harness._read(self.svc.log_path), 60, "the queued verify")
        [svc_pid] = self.svc.service_pids()
        held = {}
        for n in os.listdir(f"/proc/{svc_pid}/fd"):
            try:
                held[int(n)] = os.readlink(f"/proc/{svc_pid}/fd/{n}")
            except FileNotFoundError:
                pass
        private_fds = [n for n, target in held.items() if target == private]
        self.assertTrue(private_fds, f"the service does not hold {private} open: {held}")
        top = max(held) + 8

        paths = [f"/proc/self/fd/{n}" for n in range(top)]
        paths += [f"/proc/thread-self/fd/{n}" for n in private_fds + [1, 2]]
        paths += [f"/dev/fd/{n}" for n in private_fds + [1, 2]]
        paths += [f"/proc/{svc_pid}/fd/{n}" for n in sorted(held)]
        paths += [f"/proc/{svc_pid}/root{private}", f"/proc/{svc_pid}/cwd{private}",
                  f"/proc/self/root{private}", f"/proc/self/cwd{private}",
                  f"/proc/self/root{self.svc.log_path}", f"/proc/{svc_pid}/exe",
                  "/dev/stdin", "/dev/stdout", "/dev/stderr", "/proc/self/exe"]
        answers = self.probe(pk.user_out, paths, app_off)
        self.assertEqual([a["path"] for a in answers], paths)
        allowed = (harness.error_name("PermissionDenied"), harness.error_name("InvalidSource"))
        read = [a for a in answers if a["name"] not in allowed]
        self.assertEqual(read, [], "a magic link reached a file")
        # Those that are links (not absent fds) are refused as such.
        for a in answers:
            if a["path"].startswith(("/dev/std", "/proc/self/root", "/proc/self/cwd")) or \
                    a["path"] in ("/proc/self/fd/0", "/proc/self/fd/1", "/proc/self/fd/2", "/proc/self/exe"):
                self.assertEqual(a["name"], harness.error_name("PermissionDenied"), a)
                self.assertIn("magic link", a["message"], a)

        # The file was held open all along, and the user's own job was not
        # disturbed; its file is readable to it.
        self.assertIn(private, [os.readlink(f"/proc/{svc_pid}/fd/{n}") for n in private_fds])
        c.drain(0.1)
        self.assertFalse(hog.done)
        c.call("Cancel", slow.node)
        _, err = queued.communicate(timeout=60)
        self.assertIn("Error.Cancelled", err)
        c.run_until(lambda: hog.done, 60, "the cancelled deploy")
        out = self.call(pk.user_in, "Verify", self.port, f"[(uint64 {app_off}, <'{private}'>)]", "@a{sv} {}")
        self.assertIn("false", out)


class MagicLinksBus(MagicLinksMixin, harness.ServiceTestCase):
    activation = "bus"


class MagicLinksSocket(MagicLinksMixin, harness.ServiceTestCase):
    activation = "socket"


# A FUSE file system that hangs (root, raw /dev/fuse, no libfuse): it mounts
# itself on argv[1], says "ready", answers INIT, LOOKUP and GETATTR for one
# regular file, "hang.bin", and never answers OPEN (it says "open" when one
# arrives). Killing it aborts the connection, which ends every stuck open.
HANGING_FUSE = r"""
import ctypes, os, struct, sys
mnt = sys.argv[1]
fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
libc = ctypes.CDLL(None, use_errno=True)
opts = f"fd={fd},rootmode=40000,user_id=0,group_id=0,allow_other".encode()
if libc.mount(b"fbuild-test-hang", mnt.encode(), b"fuse.fbuild-test-hang", 0x2 | 0x4, opts) != 0:
    sys.exit(f"mount: {os.strerror(ctypes.get_errno())}")
print("ready", flush=True)

def attr(ino, mode, size):
    return struct.pack("<QQQQQQIIIIIIIIII", ino, size, 8, 0, 0, 0, 0, 0, 0, mode, 1, 0, 0, 0, 4096, 0)

def reply(unique, error=0, payload=b""):
    os.write(fd, struct.pack("<IiQ", 16 + len(payload), error, unique) + payload)

FILE, DIR = 0o100644, 0o040755
while True:
    req = os.read(fd, 1 << 17)
    length, opcode, unique, nodeid = struct.unpack_from("<IIQQ", req)
    body = req[40:length]
    if opcode == 26:                                    # INIT
        reply(unique, 0, struct.pack("<IIIIHHIIHHI28x", 7, 31, 0, 0, 16, 12, 4096, 1, 0, 0, 0))
    elif opcode == 1:                                   # LOOKUP
        if body.rstrip(b"\0") == b"hang.bin":
            reply(unique, 0, struct.pack("<QQQQII", 2, 0, 3600, 3600, 0, 0) + attr(2, FILE, 4096))
        else:
            reply(unique, -2)
    elif opcode == 3:                                   # GETATTR
        a = attr(1, DIR, 0) if nodeid == 1 else attr(2, FILE, 4096)
        reply(unique, 0, struct.pack("<QII", 3600, 0, 0) + a)
    elif opcode == 14:                                  # OPEN: never answered
        print("open", flush=True)
    elif opcode in (2, 36, 42):                         # FORGET, INTERRUPT, BATCH_FORGET
        pass
    else:
        reply(unique, -38)                              # ENOSYS
"""


class SlowOpens(harness.ServiceTestCase):
    """Opening never blocks the event loop (finding "never blocks the event loop"):
    a path on a hung file system gets Timeout in bounded time while other calls
    are answered meanwhile, twice (the first opener is still stuck), a later call
    for the port keeps its place, Cancel reaches a call still opening, and the
    stuck openers are reaped once the file system goes away; a FIFO is
    InvalidSource at once."""

    def setUp(self):
        super().setUp()
        if not os.path.exists("/dev/fuse"):
            self.skipTest("no /dev/fuse")
        self.dev = self.add_board("esp32", "uart")
        self.port = self.dev.node
        self.svc = self.start_service("bus")

    def hanging_fuse(self):
        mnt = os.path.join(self.work, "hung")
        os.makedirs(mnt)
        p = subprocess.Popen([sys.executable, "-c", HANGING_FUSE, mnt], stdout=subprocess.PIPE, text=True)
        self.addCleanup(p.stdout.close)
        self.addCleanup(subprocess.run, ["umount", "-l", mnt], capture_output=True)
        self.addCleanup(busfixture.stop_process, p, 5, 9)
        self.assertEqual(busfixture._read_line(p.stdout.fileno(), 30, "the FUSE server"), "ready")
        return p, os.path.join(mnt, "hang.bin")

    def service_children(self, pid):
        kids = []
        for p in os.listdir("/proc"):
            if p.isdigit():
                try:
                    with open(f"/proc/{p}/stat") as f:
                        stat = f.read()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(p))
        return kids

    def test_hung_file_system(self):
        fuse, path = self.hanging_fuse()
        c = self.client()
        other = self.client()
        regions = harness.regions_value([(0x10000, path)])
        good = self.image()

        for attempt in range(2):
            pending = c.call_async("Verify", self.port, regions, harness.options_value())
            c.conn.flush()
            # The opener is stuck in the file system's OPEN...
            self.assertEqual(busfixture._read_line(fuse.stdout.fileno(), 30, "an OPEN"), "open")
            # ...and the service answers others meanwhile.
            self.assertIn(self.port, [port for port, _ in other.call("ListDevices", timeout=20)])
            self.assertFalse(other.call("TrustState", self.port, timeout=20)[0])
            # A later call for the same port queues its job only once the
            # earlier one is answered: one port's jobs keep the calls' order.
            later = other.call_async("Verify", self.port, harness.regions_value(good.paths()),
                                     harness.options_value())
            c.run_until(lambda: pending.done, 60, f"the Verify on the hung file system (attempt {attempt})")
            self.assertIsNotNone(pending.error, pending.result)
            self.assertEqual(pending.error.name, harness.error_name("Timeout"), pending.error.message)
            self.assertIn(path, pending.error.message)
            other.run_until(lambda: later.done, 60, "the later Verify")
            self.assertIsNone(later.error)
            self.assertGreater(later.t_reply, pending.t_reply)

        # Cancel reaches a call whose file is still being opened: it is as good
        # as queued.
        pending = c.call_async("Verify", self.port, regions, harness.options_value())
        c.conn.flush()
        self.assertEqual(busfixture._read_line(fuse.stdout.fileno(), 30, "an OPEN"), "open")
        other.call("Cancel", self.port, timeout=20)
        c.run_until(lambda: pending.done, 60, "the cancelled Verify")
        self.assertIsNotNone(pending.error, pending.result)
        self.assertEqual(pending.error.name, harness.error_name("Cancelled"), pending.error.message)

        fifo = os.path.join(self.work, "fifo")
        os.mkfifo(fifo, 0o666)
        with self.assertRaises(harness.CallError) as cm:
            c.call("Verify", self.port, harness.regions_value([(0x10000, fifo)]), harness.options_value(),
                   timeout=20)
        self.assertEqual(cm.exception.name, harness.error_name("InvalidSource"), cm.exception.message)

        # The stuck openers die with the file system's connection, and are reaped.
        [svc_pid] = self.svc.service_pids()
        busfixture.stop_process(fuse, 5, 9)
        busfixture._wait_for(lambda: not self.service_children(svc_pid), 30, "the openers to be reaped")

        outcome, _, _ = c.deploy(self.port, good.paths(), trust=False)
        self.assertEqual(outcome, "full")
        self.assertEqual(self.svc.service_pids(), [svc_pid])


class ExecRaceBus(ExecRaceMixin, harness.ServiceTestCase):
    activation = "bus"


class ExecRaceSocket(ExecRaceMixin, harness.ServiceTestCase):
    activation = "socket"


if __name__ == "__main__":
    unittest.main()
