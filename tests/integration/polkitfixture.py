# SPDX-License-Identifier: LGPL-2.1-or-later
"""Real polkit for the integration tests: the project's action file and example
rules installed where polkitd reads them, real users and a group, and polkitd
itself on a test's private system bus.

polkitd only reads /usr/share/polkit-1/actions and /etc/polkit-1/rules.d, so
every test that installs files there holds one machine-wide lock for its whole
run (tests in other processes wait), names its files uniquely, and removes them,
its users and its group in cleanups. Must run as root.
"""

import fcntl
import grp
import os
import pwd
import subprocess
import time

import busfixture

SOURCE_ROOT = os.environ.get("FBUILD_SOURCE_ROOT") or os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))
POLICY_SRC = os.path.join(SOURCE_ROOT, "polkit", "org.fbuild.deploy1.policy")
RULES_SRC = os.path.join(SOURCE_ROOT, "polkit", "50-fbuild-deployd.rules.in")

LOCK_PATH = "/run/fbuild-polkit-test.lock"
ACTIONS_DIR = "/usr/share/polkit-1/actions"
RULES_DIR = "/etc/polkit-1/rules.d"
POLKITD = "/usr/lib/polkit-1/polkitd"
POLKIT_BUS_POLICY = "/usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf"
POLKIT_NAME = "org.freedesktop.PolicyKit1"
# polkit answers Verify for the "slow" user only after 3 s, and then says yes:
# a caller that hangs up meanwhile must leave nothing behind (no verify runs).
SLOW_RULES = """// fbuild-deployd integration tests: a slow polkit.
polkit.addRule(function(action, subject) {
        if (action.id == "org.fbuild.deploy1.verify" && subject.user == "%s") {
                polkit.spawn(["/bin/sleep", "3"]);
                return polkit.Result.YES;
        }
});
"""
# Every file this module installs carries this in its name, so that what a
# killed test left behind can be swept (under the lock) by the next one.
FILE_MARK = "fbuild-test-"


def available():
    """None if real polkit tests can run here, else why not."""
    if os.geteuid() != 0:
        return "needs root (installs polkit files, creates users)"
    for p in (POLKITD, POLKIT_BUS_POLICY, "/usr/sbin/useradd", "/usr/sbin/groupadd"):
        if not os.path.exists(p):
            return f"{p} is missing"
    if not os.path.isdir(RULES_DIR) or not os.path.isdir(ACTIONS_DIR):
        return "polkit's rules or actions directory is missing"
    return None


def _read(path):
    with open(path) as f:
        return f.read()


def _run(*argv):
    subprocess.run(argv, check=True, capture_output=True, text=True)


class Polkit:
    """Call setup() from a test's setUp (it registers its own cleanups on the
    test case, LIFO, so everything is undone also when the test fails)."""

    def __init__(self, testcase):
        self.tc = testcase
        self.tag = f"{os.getpid()}-{int(time.monotonic() * 1000) % 100000}"
        # Short names: useradd wants at most 32 characters.
        short = f"{os.getpid() % 100000}"
        self.group = f"fbpkg{short}"
        self.user_in = f"fbpkin{short}"      # in the allowed group
        self.user_in2 = f"fbpkib{short}"     # in the allowed group too: "another user"
        self.user_out = f"fbpkout{short}"    # in no group but its own
        self.user_slow = f"fbpkslow{short}"  # polkit takes its time (SLOW_RULES)
        self.installed = []
        self.proc = None
        self.log_path = None

    # ---- the lock and the global files ---------------------------------------------

    def setup(self, rules=True):
        self._lock()
        self._sweep()
        self._users()
        self.install(POLICY_SRC, os.path.join(ACTIONS_DIR, f"org.fbuild.deploy1.{FILE_MARK}{self.tag}.policy"))
        if rules:
            self.install_rules()
        # Before polkitd starts, so that it is in force from the first check.
        self.install_extra_rules("40-fbuild-deployd-slow", SLOW_RULES % self.user_slow)
        return self

    def _lock(self):
        fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)     # waits for the other polkit tests

        def unlock():
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self.tc.addCleanup(unlock)

    def _sweep(self):
        for d in (ACTIONS_DIR, RULES_DIR):
            for f in os.listdir(d):
                if FILE_MARK in f:
                    os.unlink(os.path.join(d, f))

    def install(self, src_or_text, dst, text=False):
        content = src_or_text if text else _read(src_or_text)
        tmp = dst + ".tmp"
        with open(tmp, "w") as f:
            f.write(content)
        os.chmod(tmp, 0o644)
        os.rename(tmp, dst)     # polkitd never sees half a file
        self.installed.append(dst)
        self.tc.addCleanup(self._remove, dst)
        return dst

    def _remove(self, path):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    @property
    def rules_path(self):
        return os.path.join(RULES_DIR, f"50-fbuild-deployd-{FILE_MARK}{self.tag}.rules")

    def install_rules(self):
        """The shipped example, with the test's group for @POLKIT_GROUP@."""
        text = _read(RULES_SRC).replace("@POLKIT_GROUP@", self.group)
        return self.install(text, self.rules_path, text=True)

    def remove_rules(self):
        self._remove(self.rules_path)

    def install_extra_rules(self, name, js):
        return self.install(js, os.path.join(RULES_DIR, f"{name}-{FILE_MARK}{self.tag}.rules"), text=True)

    # ---- users -----------------------------------------------------------------------

    def _users(self):
        for u in (self.user_in, self.user_in2, self.user_out, self.user_slow):
            self._drop_user(u)
        self._drop_group(self.group)
        _run("groupadd", self.group)
        self.tc.addCleanup(self._drop_group, self.group)
        # -U: a private primary group; -M: no home unless a test makes one.
        _run("useradd", "-M", "-U", "-s", "/usr/sbin/nologin", "-G", self.group, self.user_in)
        self.tc.addCleanup(self._drop_user, self.user_in)
        _run("useradd", "-M", "-U", "-s", "/usr/sbin/nologin", "-G", self.group, self.user_in2)
        self.tc.addCleanup(self._drop_user, self.user_in2)
        _run("useradd", "-M", "-U", "-s", "/usr/sbin/nologin", self.user_out)
        self.tc.addCleanup(self._drop_user, self.user_out)
        _run("useradd", "-M", "-U", "-s", "/usr/sbin/nologin", self.user_slow)
        self.tc.addCleanup(self._drop_user, self.user_slow)

    def _drop_user(self, name):
        try:
            pwd.getpwnam(name)
        except KeyError:
            return
        subprocess.run(["userdel", name], capture_output=True)

    def _drop_group(self, name):
        try:
            grp.getgrnam(name)
        except KeyError:
            return
        subprocess.run(["groupdel", name], capture_output=True)

    def make_home(self, user, parent):
        """A private (0700) home directory for user under parent."""
        pw = pwd.getpwnam(user)
        home = os.path.join(parent, f"home-{user}")
        os.makedirs(home)
        os.chown(home, pw.pw_uid, pw.pw_gid)
        os.chmod(home, 0o700)
        return home

    # ---- polkitd -----------------------------------------------------------------------

    def start(self, bus_address, workdir, timeout=15):
        """polkitd as root (it drops to user polkitd) on the given bus; returns once
        it owns org.freedesktop.PolicyKit1."""
        self.log_path = os.path.join(workdir, "polkitd.log")
        env = dict(os.environ)
        for k in ("LD_PRELOAD", "UMOCKDEV_DIR"):
            env.pop(k, None)
        env["DBUS_SYSTEM_BUS_ADDRESS"] = bus_address
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(busfixture.ORPHAN_GUARD + [POLKITD, "--no-debug"],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        log.close()
        self.tc.addCleanup(self.stop)

        def owned():
            if self.proc.poll() is not None:
                raise RuntimeError(f"polkitd exited ({self.proc.returncode}):\n{self.log()}")
            p = subprocess.run(["busctl", "--system", "--no-pager", "call", "org.freedesktop.DBus",
                                "/org/freedesktop/DBus", "org.freedesktop.DBus", "NameHasOwner", "s",
                                POLKIT_NAME], capture_output=True, text=True, env=env)
            return p.stdout.strip() == "b true"
        busfixture._wait_for(owned, timeout, "polkitd on the private bus", interval=0.1)
        return self

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except (FileNotFoundError, TypeError):
            return ""

    def stop(self):
        busfixture.stop_process(self.proc)
        self.proc = None


def is_denied(err_name):
    return err_name in ("org.fbuild.Deploy1.Error.PermissionDenied", "org.freedesktop.DBus.Error.AccessDenied")

