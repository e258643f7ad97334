# SPDX-License-Identifier: LGPL-2.1-or-later
"""This machine's own OS booted as a container with systemd as PID 1, for the
`installed` suite (issue 14): systemd-nspawn --volatile=yes keeps the host's
/usr (made writable here by a throwaway overlay, so that `ninja install` and
dpkg can write to it) and gives fresh /etc, /var and /run; commands run inside
with nsenter. Needs root and systemd-nspawn (Debian systemd-container).
"""

import os
import signal
import subprocess
import time

# --volatile=yes starts /etc almost empty (passwd, group, shadow, machine-id):
# the host's PAM and login configuration come in read-only, so that runuser,
# chpasswd and polkit's password check work as on the host.
HOST_ETC = ["/etc/pam.d", "/etc/security", "/etc/login.defs", "/etc/default", "/etc/skel",
            "/etc/shells"]

ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
       "LANG": "C.UTF-8", "HOME": "/root", "TERM": "dumb"}


class ContainerError(Exception):
    pass


class Container:
    """Boot with start(), run commands with run()/sh(), stop() powers off.
    binds: host paths made visible read-only at the same path inside;
    copies: host directories copied in after boot (into the fresh /var, say
    /var/lib/dpkg, so that dpkg knows what the host's /usr holds)."""

    def __init__(self, workdir, binds=(), copies=()):
        self.workdir = workdir
        self.binds = list(binds)
        self.copies = list(copies)
        self.name = f"fbuild-installed-{os.getpid()}"
        self.proc = None
        self.leader = None
        self.log_path = os.path.join(workdir, "container.log")

    def start(self, timeout=90):
        argv = ["systemd-nspawn", "--quiet", "--directory=/", "--volatile=yes",
                "--register=no", "--keep-unit", "--boot", f"--machine={self.name}",
                "--overlay=/usr::/usr"]
        argv += [f"--bind-ro={b}:{b}" for b in self.binds + [e for e in HOST_ETC if os.path.exists(e)]]
        argv += [f"--bind-ro={c}:{c}.host" for c in self.copies]
        argv += ["--", "systemd.firstboot=no"]
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while self.leader is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise ContainerError(f"systemd-nspawn did not start:\n{self.tail()}")
            self.leader = self._find_leader()
            time.sleep(0.1)
        # is-system-running --wait needs the container's bus; retry until it is up.
        state = ""
        while time.monotonic() < deadline:
            p = self.run(["systemctl", "is-system-running", "--wait"], check=False,
                         timeout=max(1, deadline - time.monotonic()))
            state = p.stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.2)
        if state not in ("running", "degraded"):
            raise ContainerError(f"the container did not boot (state {state!r}):\n{self.tail()}")
        # Units of the host OS that fail in a container (none on a stock Debian)
        # are not ours to judge, but are shown in the log.
        if state == "degraded":
            print(self.run(["systemctl", "--failed", "--no-legend"], check=False).stdout)
        self._host_system_accounts()
        for c in self.copies:
            self.run(["sh", "-c", 'mkdir -p "$0" && cp -a "$0.host/." "$0/" && umount "$0.host" && rmdir "$0.host"', c])

    def _host_system_accounts(self):
        """The fresh /etc gets its system users from sysusers.d, numbered in
        another order than on the host, whose /usr (files owned by, e.g.,
        polkitd: /usr/share/polkit-1/rules.d is 0700) the container shares.
        Use the host's system users and groups (ids below 1000, and nobody),
        before any daemon running as one of them has started."""
        for name, shadow in (("passwd", "shadow"), ("group", "gshadow")):
            with open(f"/etc/{name}") as f:
                lines = [l for l in f if int(l.split(":")[2]) < 1000 or l.split(":")[2] == "65534"]
            names = {l.split(":")[0] for l in lines}
            with open(f"/etc/{shadow}") as f:
                shadows = [l for l in f if l.split(":")[0] in names]
            self.write(f"/etc/{name}", "".join(lines), mode=0o644)
            self.write(f"/etc/{shadow}", "".join(shadows), mode=0o640)
            self.run(["chgrp", "shadow", f"/etc/{shadow}"], check=False)

    def _find_leader(self):
        """The container's PID 1, as seen from here: nspawn's child running systemd."""
        for pid in _children(self.proc.pid):
            try:
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().strip() == "systemd":
                        return pid
            except OSError:
                pass
            for grandchild in _children(pid):
                try:
                    with open(f"/proc/{grandchild}/comm") as f:
                        if f.read().strip() == "systemd":
                            return grandchild
                except OSError:
                    pass
        return None

    def argv(self, argv, user=None, env=None):
        base = ["nsenter", "-t", str(self.leader), "-a", "--wdns=/", "env", "-i"]
        base += [f"{k}={v}" for k, v in {**ENV, **(env or {})}.items()]
        if user:
            base += ["runuser", "-u", user, "--"]
        return base + list(argv)

    def run(self, argv, user=None, env=None, check=True, timeout=120, input=None, cwd="/"):
        """Run argv inside (as root, or as user); return CompletedProcess (text)."""
        if cwd != "/":
            argv = ["sh", "-c", 'cd "$0" && exec "$@"', cwd, *argv]
        p = subprocess.run(self.argv(argv, user, env), capture_output=True, text=True,
                           timeout=timeout, input=input,
                           stdin=None if input is not None else subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise ContainerError(f"{' '.join(argv)} exited {p.returncode}:\n"
                                 f"stdout:\n{p.stdout[-3000:]}\nstderr:\n{p.stderr[-3000:]}")
        return p

    def sh(self, script, **kw):
        return self.run(["bash", "-c", script], **kw)

    def popen(self, argv, user=None, env=None, **kw):
        return subprocess.Popen(self.argv(argv, user, env), **kw)

    def write(self, path, text, mode=0o644):
        self.run(["sh", "-c", 'mkdir -p "$(dirname "$0")" && cat > "$0" && chmod "$1" "$0"',
                  path, f"{mode:o}"], input=text)

    def tail(self, n=4000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout=60):
        if not self.proc or self.proc.poll() is not None:
            return
        # SIGTERM makes nspawn power the container off in order.
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()


def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []
