# SPDX-License-Identifier: LGPL-2.1-or-later
"""fbuild-deployd installed for real (issue 14): this machine's OS booted in a
container with systemd as PID 1 (container.py), the project installed into it,
and the service run by systemd, dbus-daemon and polkitd as on a user's machine.

FBUILD_INSTALL selects how it is installed:
  readme  the ```sh blocks of README.md's "Installing" section (between
          <!-- installing:begin --> and <!-- installing:end -->), verbatim and in
          order, each as the user its first line names ("# as root", "# as alice");
  deb     the .deb that tools/build-deb builds (dpkg-buildpackage, then lintian,
          which must find no error), installed with dpkg -i, then the same user
          blocks of the README (everything after its first root block, the build).
Then, in order (one container per test process; the tests share it):
  - systemd-analyze verify on the installed units;
  - socket activation on /run/fbuild-deployd/bus; D-Bus activation through
    dbus-daemon → systemd (SystemdService=);
  - idle exit after IdleTimeoutSec= and re-activation by the next call, no call
    lost; the journal's structured fields; the sandbox enforced (a /tmp path is
    refused with PathNotVisible) while the serial device is reachable;
  - systemctl stop during a deploy: cancelled, trust cleared, clean exit;
  - polkit like systemctl: an admin authenticates through fbuildctl's agent
    with a password; a user without the rule is refused, told which action and
    how to allow it.
Boards come from the umockdev test bed, run inside the container
(bed-in-container.py); the service reaches them through the test-only drop-in
that the README names (TESTBED_DROPIN below) — production needs none of it.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from container import Container

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ["FBUILD_SOURCE_ROOT"]
BUILD_ROOT = os.environ["FBUILD_BUILD_ROOT"]
INSTALL = os.environ.get("FBUILD_INSTALL", "readme")
SIM = os.environ.get("FBUILD_ESP_SIM") or os.path.join(BUILD_ROOT, "tests", "sim", "fbuild-esp-sim")

BEGIN, END = "<!-- installing:begin -->", "<!-- installing:end -->"
SRC = "/srv/fbuild-deployd"          # the source tree inside, readable by every user
BED_DIR = "/run/fbuild-testbed"       # outside the service's private /tmp
RULES_DIR = "/usr/share/polkit-1/rules.d"
TESTBED_DROPIN = "/run/systemd/system/fbuild-deployd.service.d/50-testbed.conf"
UNIT = "fbuild-deployd.service"
SOCKET = "fbuild-deployd.socket"
PEER = "unix:path=/run/fbuild-deployd/bus"
DEST = ["org.fbuild.Deploy1", "/org/fbuild/Deploy1", "org.fbuild.Deploy1"]
ADMIN_PASSWORD = "installed-suite-admin"


def installing_blocks(readme):
    """[(user, text)] for the ```sh blocks of the Installing section, in order."""
    if readme.count(BEGIN) != 1 or readme.count(END) != 1:
        raise ValueError(f"README.md must hold {BEGIN} and {END} once each")
    section = readme.split(BEGIN, 1)[1].split(END, 1)[0]
    blocks, current, fence = [], None, None
    for line in section.splitlines():
        s = line.strip()
        if fence is None:
            if s.startswith("```"):
                fence = s[3:].strip()
                current = [] if fence == "sh" else None
        elif s == "```":
            if current is not None:
                m = re.fullmatch(r"# as (\w+)", current[0].strip()) if current else None
                if not m:
                    raise ValueError(f"a block must start with '# as USER': {current!r}")
                blocks.append((m.group(1), "\n".join(current[1:]) + "\n"))
            fence, current = None, None
        elif current is not None:
            current.append(line)
    if fence is not None:
        raise ValueError("a code block in the Installing section is not closed")
    return blocks


def source_files():
    """The source tree as git has it (tracked and new files, not the ignored
    build trees), relative to SOURCE_ROOT; without git (a release tarball),
    every file but the build trees (.gitignore's /build*/, node_modules)."""
    p = subprocess.run(["git", "-C", SOURCE_ROOT, "ls-files", "-z", "--cached", "--others",
                        "--exclude-standard"], capture_output=True)
    if p.returncode == 0:
        return [f for f in p.stdout.decode().split("\0")
                if f and os.path.lexists(os.path.join(SOURCE_ROOT, f))]
    files = []
    for top, dirs, names in os.walk(SOURCE_ROOT):
        rel = os.path.relpath(top, SOURCE_ROOT)
        dirs[:] = [d for d in dirs if d not in (".git", "node_modules", "__pycache__")
                   and not (rel == "." and d.startswith("build"))]
        files += [os.path.normpath(os.path.join(rel, n)) for n in names if n != ".git"]
    return files


class Installed(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root")  # CI runs as root (tools/run-tests)
        cls.tmp = tempfile.mkdtemp(prefix="fbuild-installed-")
        os.chmod(cls.tmp, 0o755)
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        binds = [SOURCE_ROOT, os.path.dirname(SIM)]
        if INSTALL == "deb":
            cls.deb_dir = os.path.join(cls.tmp, "deb")
            p = subprocess.run([os.path.join(SOURCE_ROOT, "tools", "build-deb"), cls.deb_dir],
                               capture_output=True, text=True, timeout=600)
            assert p.returncode == 0, f"tools/build-deb failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
            binds.append(cls.deb_dir)
        c = cls.c = Container(cls.tmp, binds=binds,
                              copies=["/var/lib/dpkg"] if INSTALL == "deb" else [])
        cls.addClassCleanup(cls._stop_container)
        c.start()
        cls.bed = None
        with open(os.path.join(SOURCE_ROOT, "README.md")) as f:
            cls.blocks = installing_blocks(f.read())
        cls.transcript = []

        # The source tree, copied where every user can read it (the build writes into it).
        files = "\0".join(source_files()).encode()
        tar = subprocess.run(["tar", "-C", SOURCE_ROOT, "--null", "-T", "-", "-cf", "-"],
                             input=files, capture_output=True, check=True).stdout
        c.run(["mkdir", "-p", SRC])
        p = subprocess.run(c.argv(["tar", "-C", SRC, "-xf", "-"]), input=tar, capture_output=True)
        assert p.returncode == 0, p.stderr
        # The users the walkthrough and the polkit tests need: alice (who the
        # README makes a deployer), bob (nobody), carol (an administrator: Debian's
        # polkit asks for a member of sudo).
        c.run(["useradd", "-m", "alice"])
        c.run(["useradd", "-m", "bob"])
        c.run(["useradd", "-m", "-G", "sudo", "carol"])
        c.run(["chpasswd"], input=f"carol:{ADMIN_PASSWORD}\n")

        # Install: the README's root blocks before the first user's, or the .deb.
        first_user = next(i for i, (u, _) in enumerate(cls.blocks) if u != "root")
        if INSTALL == "readme":
            for user, text in cls.blocks[:first_user]:
                cls.run_block(user, text)
            cls.rest = cls.blocks[first_user:]
        else:
            debs = [f for f in os.listdir(cls.deb_dir)
                    if f.endswith(".deb") and "-dbgsym_" not in f]
            assert len(debs) == 1, debs
            cls.rules_dir_before = c.run(["stat", "-c", "%a %U", RULES_DIR]).stdout
            # A Docker image's policy-rc.d (exit 101) forbids maintainer scripts to
            # start anything; a booted system has none. Only the container's copy
            # of /usr loses it.
            c.run(["rm", "-f", "/usr/sbin/policy-rc.d"])
            c.run(["dpkg", "-i", os.path.join(cls.deb_dir, debs[0])],
                  env={"DEBIAN_FRONTEND": "noninteractive"}, timeout=300)
            # The blocks between the build and the first user's (e.g. usermod) still run.
            cls.rest = cls.blocks[1:]

        # The test bed, and the drop-in that lets the service see it.
        cls.start_bed()
        cls.port0 = cls.bed_command("add esp32 fast")["port"]

    @classmethod
    def _stop_container(cls):
        if getattr(cls, "bed", None):
            try:
                cls.bed.stdin.write("quit\n")
                cls.bed.stdin.flush()
                cls.bed.wait(20)
            except Exception:
                cls.bed.kill()
        if os.environ.get("FBUILD_INSTALLED_DEBUG"):
            print(cls.c.run(["journalctl", "-b", "--no-pager", "-o", "short-monotonic"],
                            check=False).stdout[-20000:])
        cls.c.stop()

    @classmethod
    def run_block(cls, user, text, check=True):
        """A README block, verbatim, in one bash as `user`, from the source tree."""
        script = f"set -euo pipefail\ncd {shlex.quote(SRC)}\n{text}"
        argv = ["bash", "-c", script] if user == "root" else \
            ["runuser", "-l", user, "-c", f"bash -c {shlex.quote(script)}"]
        p = cls.c.run(argv, check=False, timeout=300)
        cls.transcript.append((user, text, p))
        if check and p.returncode != 0:
            raise AssertionError(f"README block (as {user}) exited {p.returncode}:\n{text}\n"
                                 f"stdout:\n{p.stdout[-3000:]}\nstderr:\n{p.stderr[-3000:]}")
        return p

    @classmethod
    def start_bed(cls):
        c = cls.c
        c.run(["install", "-d", "-m", "0755", BED_DIR])
        env = {"TMPDIR": BED_DIR, "PYTHONPATH": os.path.join(SOURCE_ROOT, "tests", "testbed"),
               "FBUILD_ESP_SIM": SIM, "PYTHONDONTWRITEBYTECODE": "1"}
        cls.bed = c.popen(["umockdev-wrapper", "/usr/bin/python3",
                           os.path.join(HERE, "bed-in-container.py")], env=env,
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        root = json.loads(cls.bed.stdout.readline())["root"]
        c.write(TESTBED_DROPIN, "\n".join([
            "# Test only (tests/installed): the umockdev test bed's simulated boards.",
            "[Service]",
            "Environment=LD_PRELOAD=libumockdev-preload.so.0",
            f"Environment=UMOCKDEV_DIR={root}",
            "# The simulated ports are ptys behind umockdev's /dev nodes.",
            "DeviceAllow=char-pts rw", ""]))
        c.run(["systemctl", "daemon-reload"])

    @classmethod
    def bed_command(cls, line):
        cls.bed.stdin.write(line + "\n")
        cls.bed.stdin.flush()
        answer = json.loads(cls.bed.stdout.readline())
        assert "error" not in answer, answer
        return answer

    # ---- helpers ---------------------------------------------------------------

    def active(self, unit=UNIT):
        return self.c.run(["systemctl", "is-active", unit], check=False).stdout.strip()

    def wait_for(self, what, predicate, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.2)
        self.fail(f"timed out waiting for {what}")

    def journal(self, *args):
        out = self.c.run(["journalctl", "--no-pager", "-o", "json", *args], check=False).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def invocations(self):
        """How many times systemd started the service so far."""
        return sum(1 for e in self.journal("_PID=1", "UNIT=" + UNIT)
                   if e.get("JOB_TYPE") == "start" and e.get("JOB_RESULT") == "done")

    def busctl(self, *args, user="alice", address=None, check=True):
        argv = ["busctl", "--timeout=120"]
        argv += [f"--address={address}"] if address else ["--system"]
        return self.c.run(argv + list(args), user=user, check=check)

    def ctl(self, *args, user="alice", check=True, timeout=180):
        home = "/root" if user == "root" else f"/home/{user}"
        return self.c.run(["fbuildctl", *args], user=user, env={"HOME": home}, check=check,
                          timeout=timeout)

    # ---- the walkthrough ----------------------------------------------------------

    def test_00_walkthrough(self):
        """The README's Installing section, from the first user block on."""
        for user, text in self.rest:
            self.run_block(user, text)
        deploys = [p for u, t, p in self.transcript if "fbuildctl" in t and "deploy" in t]
        self.assertEqual(len(deploys), 1, "one block holds the two deploys")
        out = deploys[0].stdout
        self.assertRegex(out, r"full")
        self.assertIn("trust-skip", out.split("full", 1)[1],
                      f"the redeploy was not a trust-skip:\n{out}")
        self.assertIn(self.port0, out)

    def test_01_socket_enabled(self):
        """By the README's systemctl enable --now, or by the package's postinst."""
        self.assertEqual(self.c.run(["systemctl", "is-enabled", SOCKET], check=False).stdout.strip(),
                         "enabled")
        self.assertEqual(self.c.run(["systemctl", "is-enabled", UNIT], check=False).stdout.strip(),
                         "indirect")  # started by its socket or the bus, never by itself
        self.assertTrue(self.c.run(["test", "-S", "/run/fbuild-deployd/bus"], check=False).returncode == 0)

    @unittest.skipUnless(INSTALL == "deb", "the package only")
    def test_02_package(self):
        with open(os.path.join(self.deb_dir, "lintian.txt")) as f:
            tags = [l for l in f if re.match(r"[EW]: ", l)]
        self.assertFalse([t for t in tags if t.startswith("E: ")], "".join(tags))
        # Shipping a rule does not loosen the rules directory polkitd keeps private.
        self.assertEqual(self.c.run(["stat", "-c", "%a %U", RULES_DIR]).stdout,
                         self.rules_dir_before)
        files = self.c.run(["dpkg", "-L", "fbuild-deployd"]).stdout.split()
        for path in ["/usr/bin/fbuildctl", "/usr/libexec/fbuild-deployd",
                     "/usr/libexec/fbuild-deployd-digest",
                     "/lib/systemd/system/fbuild-deployd.socket",
                     "/usr/share/dbus-1/system.d/org.fbuild.Deploy1.conf",
                     "/usr/share/polkit-1/actions/org.fbuild.deploy1.policy",
                     RULES_DIR + "/50-fbuild-deployd.rules"]:
            self.assertIn(path, files)

    def test_01_units_verify(self):
        p = self.c.run(["systemd-analyze", "verify", UNIT, SOCKET], check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotIn("fbuild", p.stderr, p.stderr)
        # The D-Bus activation file names the unit systemd starts.
        p = self.c.run(["grep", "-rx", f"SystemdService={UNIT}", "/usr/share/dbus-1/system-services/"])
        self.assertIn("org.fbuild.Deploy1.service", p.stdout)

    # ---- activation -------------------------------------------------------------------

    def test_10_socket_activation(self):
        self.c.run(["systemctl", "stop", UNIT])
        self.assertEqual(self.active(SOCKET), "active")
        self.assertEqual(self.active(), "inactive")
        before = self.invocations()
        p = self.busctl("call", *DEST, "ListDevices", address=PEER)
        self.assertIn(self.port0, p.stdout)
        self.assertEqual(self.active(), "active")
        self.assertEqual(self.invocations(), before + 1)
        # Started for the socket: the listening fd came from systemd.
        pid = self.c.run(["systemctl", "show", "-P", "MainPID", UNIT]).stdout.strip()
        socks = self.c.run(["ss", "-xlp", "src", "/run/fbuild-deployd/bus"], check=False).stdout
        self.assertRegex(socks, rf"/run/fbuild-deployd/bus\s.*\"fbuild-deployd\",pid={pid},fd=3\b.*"
                         rf"\"systemd\",pid=1,",
                         f"the service does not hold the socket unit's listener:\n{socks}")

    def test_11_dbus_activation(self):
        self.c.run(["systemctl", "stop", SOCKET, UNIT])
        # A socket whose service runs refuses to start: stop that first.
        self.addCleanup(self.c.run, ["sh", "-c", f"systemctl stop {UNIT} && systemctl start {SOCKET}"])
        self.assertEqual(self.active(), "inactive")
        since = self.c.run(["date", "+%Y-%m-%d %H:%M:%S"]).stdout.strip()
        time.sleep(1)
        p = self.busctl("call", *DEST, "ListDevices")
        self.assertIn(self.port0, p.stdout)
        self.assertEqual(self.active(), "active")
        msgs = [e.get("MESSAGE", "") for e in self.journal("-u", "dbus.service", "--since", since)]
        self.assertTrue(any("Activating via systemd: service name='org.fbuild.Deploy1' unit='"
                            + UNIT + "'" in m for m in msgs), "\n".join(msgs))

    def test_12_idle_exit_and_reactivation(self):
        self.c.write("/etc/fbuild/deployd.conf", "[Service]\nIdleTimeoutSec=1s\n")
        self.addCleanup(self.c.run, ["rm", "-f", "/etc/fbuild/deployd.conf"])
        self.c.run(["systemctl", "stop", UNIT])
        before = self.invocations()
        # Each call after the service has exited idle starts it again, by the
        # bus and by the socket in turn.
        for i in range(3):
            self.wait_for("idle exit", lambda: self.active() == "inactive")
            p = self.busctl("call", *DEST, "ListDevices", address=PEER if i % 2 else None)
            self.assertIn(self.port0, p.stdout)
        # Calls spaced around the idle timeout: some meet an instance that is
        # releasing its name or draining its socket; every one is answered.
        for i, delay in enumerate([0.9, 1.0, 1.1, 0.95, 1.05, 1.2]):
            time.sleep(delay)
            p = self.busctl("call", *DEST, "ListDevices", address=PEER if i % 2 else None)
            self.assertIn(self.port0, p.stdout)
        self.wait_for("idle exit", lambda: self.active() == "inactive")
        # A burst at a stopped service, both ways at once: none lost.
        procs = [self.c.popen(["busctl", "--timeout=120",
                               f"--address={PEER}" if i % 2 else "--system",
                               "call", *DEST, "ListDevices"], user="alice",
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i in range(8)]
        for pr in procs:
            out, err = pr.communicate(timeout=120)
            self.assertEqual(pr.returncode, 0, err)
            self.assertIn(self.port0, out)
        started = self.invocations() - before
        self.assertGreaterEqual(started, 4, "the service did not exit and come back between calls")
        exits = [e for e in self.journal("-u", UNIT) if "idle" in e.get("MESSAGE", "").lower()]
        self.assertTrue(exits, "no idle exit logged")
        # Every exit was clean.
        self.assertEqual(self.c.run(["systemctl", "show", "-P", "Result", UNIT]).stdout.strip(),
                         "success")

    # ---- the journal, the sandbox ------------------------------------------------------

    def test_20_journal_fields(self):
        uid = self.c.run(["id", "-u", "alice"]).stdout.strip()
        done = [e for e in self.journal("-u", UNIT)
                if e.get("PORT") == self.port0 and e.get("CALLER_UID") == uid and "JOB" in e]
        outcomes = [e.get("OUTCOME") for e in done]
        self.assertIn("full", outcomes, done)
        self.assertIn("trust-skip", outcomes, done)
        self.assertTrue(all(e.get("SYSLOG_IDENTIFIER") == "fbuild-deployd" for e in done))

    def test_21_sandbox(self):
        self.busctl("call", *DEST, "ListDevices")
        pid = self.c.run(["systemctl", "show", "-P", "MainPID", UNIT]).stdout.strip()
        status = self.c.run(["cat", f"/proc/{pid}/status"]).stdout
        self.assertRegex(status, r"NoNewPrivs:\s+1")
        self.assertRegex(status, r"Seccomp:\s+2")
        self.assertRegex(status, r"CapBnd:\s+00000000000000c0")  # CAP_SETGID, CAP_SETUID
        # The same bytes, from alice's home and from /tmp, as paths (busctl cannot
        # pass fds): the home one verifies against the reachable board, the /tmp
        # one is refused by name, saying why and what to do.
        self.c.run(["sh", "-c", "head -c 4096 /dev/urandom > /home/alice/blob.bin && "
                    "cp /home/alice/blob.bin /tmp/blob.bin && chown alice /home/alice/blob.bin "
                    "/tmp/blob.bin"])
        ok = self.busctl("call", *DEST, "Verify", "sa(tv)a{sv}", self.port0,
                         "1", "0x100000", "s", "/home/alice/blob.bin", "0")
        self.assertIn("a(ttbay) 1 1048576 4096 false", ok.stdout)
        # gdbus, for the error's name (busctl prints only its message).
        p = self.c.run(["gdbus", "call", "--system", "--dest", DEST[0], "--object-path", DEST[1],
                        "--method", DEST[2] + ".Verify", self.port0,
                        "[(0x100000, <'/tmp/blob.bin'>)]", "{}"], user="alice", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("org.fbuild.Deploy1.Error.PathNotVisible", p.stderr)
        self.assertIn("private /tmp", p.stderr)
        self.assertIn("file descriptor", p.stderr)
        # fbuildctl passes the file itself, so /tmp is no problem for it.
        v = self.ctl("verify", "--port", self.port0, "0x100000=/tmp/blob.bin", check=False)
        self.assertEqual(v.returncode, 7, v.stdout + v.stderr)  # differs: read, not refused

    def test_22_page_out_under_the_sandbox(self):
        """PageOutIdleSec= works under the unit's seccomp filter and /proc
        protections: the idle service logs the page-out, not a refusal, and
        answers the next call."""
        self.c.write("/etc/fbuild/deployd.conf", "[Service]\nLogLevel=debug\nPageOutIdleSec=1s\n")
        self.addCleanup(self.c.run, ["rm", "-f", "/etc/fbuild/deployd.conf"])
        self.addCleanup(self.c.run, ["systemctl", "stop", UNIT])
        self.c.run(["systemctl", "stop", UNIT])
        self.busctl("call", *DEST, "ListDevices")
        pid = self.c.run(["systemctl", "show", "-P", "MainPID", UNIT]).stdout.strip()

        def messages():
            return [e.get("MESSAGE", "") for e in self.journal("-u", UNIT, f"_PID={pid}")]
        self.wait_for("the page-out", lambda: any(m.startswith(("Idle: paged out", "Cannot page out"))
                                                  for m in messages()))
        self.assertFalse([m for m in messages() if m.startswith("Cannot page out")], messages()[-10:])
        self.assertIn(self.port0, self.busctl("call", *DEST, "ListDevices").stdout)
        self.assertEqual(self.c.run(["systemctl", "show", "-P", "MainPID", UNIT]).stdout.strip(), pid)

    # ---- systemctl stop during a deploy ----------------------------------------------

    def test_30_stop_during_deploy(self):
        port = self.bed_command("add esp32 real")["port"]
        self.wait_for(f"{port} listed",
                      lambda: port in self.busctl("call", *DEST, "ListDevices").stdout)
        self.c.run(["runuser", "-l", "alice", "-c",
                    f"{SRC}/tools/sample-build --app-version 2 ~/hello2 >/dev/null"])
        first = self.ctl("deploy", "--port", port, "/home/alice/hello/build")
        self.assertIn("full", first.stdout)
        trust = json.loads(self.ctl("--json", "trust", "show", port).stdout)
        self.assertTrue(trust["trusted"], trust)
        begins = self.bed_command(f"stats {port}")["flash_begins"]
        deploy = self.c.popen(["fbuildctl", "deploy", "--baud=115200", "--port", port,
                               "/home/alice/hello2/build"], user="alice",
                              env={"HOME": "/home/alice"},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        # Stopped before its first FLASH_BEGIN a deploy leaves the flash (and so
        # trust) as it was: wait until the chip has seen the write begin.
        def writing():
            return self.bed_command(f"stats {port}")["flash_begins"] > begins
        self.wait_for("the deploy to start writing", writing, timeout=60)
        self.c.run(["systemctl", "stop", UNIT])
        out, err = deploy.communicate(timeout=60)
        self.assertNotEqual(deploy.returncode, 0, out + err)
        self.assertEqual(self.c.run(["systemctl", "show", "-P", "Result", UNIT]).stdout.strip(),
                         "success")
        entries = self.journal("-u", UNIT)
        cancelled = [e for e in entries if e.get("PORT") == port and e.get("OUTCOME") == "Cancelled"]
        self.assertEqual(len(cancelled), 1, [e.get("MESSAGE") for e in entries[-30:]])
        msgs = [e.get("MESSAGE", "") for e in entries]
        last_set = max(i for i, m in enumerate(msgs) if re.match(r"Trust for \S+ set", m))
        self.assertTrue(any(re.match(r"Trust for \S+ cleared", m) for m in msgs[last_set:]),
                        msgs[last_set:])
        # The next instance does not trust it, and redeploying writes for real.
        trust = json.loads(self.ctl("--json", "trust", "show", port).stdout)
        self.assertFalse(trust["trusted"], trust)

    # ---- polkit like systemctl ----------------------------------------------------------

    def test_40_refused_without_the_rule(self):
        p = self.ctl("--no-ask-password", "verify", "--port", self.port0,
                     "/home/alice/hello/build", user="bob", check=False)
        self.assertEqual(p.returncode, 4, p.stdout + p.stderr)
        self.assertIn("org.fbuild.deploy1.verify", p.stderr)
        self.assertIn("polkit rule", p.stderr)
        self.assertIn("-Dpolkit_group=", p.stderr)

    def test_41_admin_authenticates_through_the_agent(self):
        self.c.run(["sh", "-c", "cp -r /home/alice/hello /home/carol/ && chown -R carol /home/carol/hello"])
        # setpriv, not runuser -c or su -c, which start a new session without
        # the terminal.
        # Over the system bus (polkit's subject: the caller's bus name) and peer
        # to peer on the socket (the caller's process).
        for transport in ([], [f"--address={PEER}"]):
            argv = ["/usr/bin/python3", os.path.join(HERE, "pty-answer.py"), ADMIN_PASSWORD, "--",
                    "setpriv", "--reuid=carol", "--regid=carol", "--init-groups", "env",
                    "HOME=/home/carol", "fbuildctl", *transport, "verify", "--port", self.port0,
                    "/home/carol/hello/build"]
            p = self.c.run(argv, check=False, timeout=120)
            self.assertIn("Password:", p.stdout, transport)
            self.assertIn("org.fbuild.deploy1.verify", p.stdout)  # the agent names the action
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        # Without a terminal nothing can ask: refused, as with --no-ask-password.
        q = self.ctl("verify", "--port", self.port0, "/home/carol/hello/build", user="carol",
                     check=False)
        self.assertEqual(q.returncode, 4, q.stdout + q.stderr)


if __name__ == "__main__":
    unittest.main()
