# SPDX-License-Identifier: LGPL-2.1-or-later
"""Private D-Bus plumbing for the integration tests: a private system bus with
bus activation, a socket activator for the peer-to-peer socket, and the three
clients the issue names (busctl, gdbus, dbus-python).

Everything lives in a per-test temporary directory; nothing installed
system-wide is read except the stock /usr/share/dbus-1/system.conf that the bus
configuration is derived from (see DESIGN.md, "Test infrastructure facts").
"""

import os
import re
import select
import shlex
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
BUS_NAME = "org.fbuild.Deploy1"
OBJECT_PATH = "/org/fbuild/Deploy1"
INTERFACE = "org.fbuild.Deploy1"
JOB_INTERFACE = "org.fbuild.Deploy1.Job"
ERROR_PREFIX = "org.fbuild.Deploy1.Error."
STOCK_SYSTEM_CONF = "/usr/share/dbus-1/system.conf"


def _wait_for(predicate, timeout, what, interval=0.02):
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def _read_line(fd, timeout, what):
    """One line from a pipe fd, without blocking past `timeout`."""
    buf = b""
    deadline = time.monotonic() + timeout
    os.set_blocking(fd, False)
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"timed out waiting for {what}")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError(f"{what}: pipe closed before a line arrived (got {buf!r})")
            buf += chunk
    return buf.split(b"\n", 1)[0].decode()


def stop_process(proc, timeout=5, sig=signal.SIGTERM):
    """SIGTERM, wait, then SIGKILL: for processes we started."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    except ProcessLookupError:
        pass


# Prefix for every long-lived process a test starts: if its parent dies (the test
# killed outright, or dbus-daemon/the activator gone), it goes too. pdeathsig
# survives the exec chain below, so the service itself carries it.
ORPHAN_GUARD = ["/usr/bin/setpriv", "--pdeathsig", "KILL", "--"]  # dbus-daemon does not search PATH


def service_command(binary, args=(), env=None, log=None, orphan_guard=True):
    """An argv that runs `binary` with extra environment; when `log` is given,
    through a /bin/sh that appends stdout+stderr to it and then execs, so the
    service keeps the activated pid (LISTEN_PID). No orphan guard under bus
    activation: dbus-daemon's babysitter, the service's parent, exits as soon as
    the name is owned."""
    env = env or {}
    inner = ["/usr/bin/env"] + [f"{k}={v}" for k, v in sorted(env.items())] + [binary] + list(args)
    if log:
        inner = ["/bin/sh", "-c", "exec \"$@\" >>" + shlex.quote(log) + " 2>&1", "sh"] + inner
    return (ORPHAN_GUARD if orphan_guard else []) + inner


# --------------------------------------------------------------------------------------
# the private system bus


def system_bus_config(listen_dir, service_dir, policy_dir, extra_policy_dirs=()):
    """The stock system.conf with <user>, <fork/>, <pidfile>, <syslog/>,
    <servicehelper>, <standard_system_servicedirs/>, the /etc includes and the
    stock <listen> removed, plus our own <listen>, <servicedir> and policy
    <includedir>. Returns the XML text."""
    tree = ET.parse(STOCK_SYSTEM_CONF)
    root = tree.getroot()
    drop = {"user", "fork", "pidfile", "syslog", "servicehelper",
            "standard_system_servicedirs", "listen", "includedir", "include",
            "servicedir"}
    for el in list(root):
        if el.tag in drop:
            root.remove(el)
    # Our <listen> and <servicedir> up front; the policy <includedir> goes last,
    # after the stock <policy> blocks, as in the stock file.
    first = [ET.Element("listen"), ET.Element("servicedir")]
    first[0].text = f"unix:path={listen_dir}/system_bus_socket"
    first[1].text = service_dir
    for i, el in enumerate(first):
        el.tail = "\n  "
        root.insert(1 + i, el)
    # Failed activations should fail fast rather than in 25 s.
    lim = ET.SubElement(root, "limit", name="service_start_timeout")
    lim.text = "15000"
    lim.tail = "\n  "
    for d in [policy_dir, *extra_policy_dirs]:
        inc = ET.SubElement(root, "includedir")
        inc.text = d
        inc.tail = "\n  "
    body = ET.tostring(root, encoding="unicode")
    return ('<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"\n'
            ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">\n' + body + "\n")


def activation_service_file(exec_argv, name=BUS_NAME):
    """A D-Bus system service file. dbus-daemon splits Exec= like a shell, so
    quote each word. No SystemdService=: this bus has no systemd to hand off to."""
    return ("[D-BUS Service]\n"
            f"Name={name}\n"
            f"Exec={' '.join(shlex.quote(a) for a in exec_argv)}\n"
            "User=root\n")


class PrivateSystemBus:
    """dbus-daemon --nofork --print-address=3 on a generated config. Start it from
    the process that runs under umockdev-wrapper, after the test bed exists: the
    services it activates inherit its environment (LD_PRELOAD, UMOCKDEV_DIR)."""

    def __init__(self, workdir, exec_argv, policy_file, env=None, extra_policy_files=()):
        self.workdir = workdir
        self.exec_argv = exec_argv
        self.policy_file = policy_file
        # e.g. polkitd's, so that user polkitd may own org.freedesktop.PolicyKit1
        self.extra_policy_files = list(extra_policy_files)
        self.env = env
        self.proc = None
        self.address = None
        self.log_path = os.path.join(workdir, "dbus-daemon.log")

    def start(self, timeout=10):
        conf_dir = os.path.join(self.workdir, "bus")
        listen_dir = os.path.join(conf_dir, "run")
        service_dir = os.path.join(conf_dir, "system-services")
        policy_dir = os.path.join(conf_dir, "system.d")
        for d in (conf_dir, listen_dir, service_dir, policy_dir):
            os.makedirs(d, exist_ok=True)
            # polkitd (as user polkitd) and unprivileged test clients must reach the socket.
            os.chmod(d, 0o755)
        for policy in [self.policy_file] + self.extra_policy_files:
            with open(policy) as src, open(os.path.join(policy_dir, os.path.basename(policy)), "w") as dst:
                dst.write(src.read())
        with open(os.path.join(service_dir, BUS_NAME + ".service"), "w") as f:
            f.write(activation_service_file(self.exec_argv))
        conf = os.path.join(conf_dir, "system.conf")
        with open(conf, "w") as f:
            f.write(system_bus_config(listen_dir, service_dir, policy_dir))
        r, w = os.pipe()
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                ORPHAN_GUARD + ["dbus-daemon", f"--config-file={conf}", "--nofork",
                                "--nopidfile", f"--print-address={w}"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                pass_fds=(w,), env=self.env)
        finally:
            os.close(w)
            log.close()
        try:
            self.address = _read_line(r, timeout, "dbus-daemon address").strip()
        except Exception:
            self.stop()
            raise RuntimeError("dbus-daemon did not start:\n" + self.log())
        finally:
            os.close(r)
        return self

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def env_for_clients(self):
        return {"DBUS_SYSTEM_BUS_ADDRESS": self.address}

    def stop(self):
        stop_process(self.proc)
        self.proc = None


# --------------------------------------------------------------------------------------
# socket activation


ACTIVATOR = os.path.join(HERE, "socket-activator.py")


class SocketActivator:
    """tests/integration/socket-activator.py on a socket in `workdir`."""

    def __init__(self, workdir, argv, env=None, max_spawns=0):
        self.workdir = workdir
        self.argv = argv
        self.env = env
        self.max_spawns = max_spawns
        rundir = os.path.join(workdir, "run")
        os.makedirs(rundir, exist_ok=True)
        os.chmod(rundir, 0o755)
        self.socket_path = os.path.join(rundir, "bus")
        self.events_path = os.path.join(workdir, "activator-events")
        self.log_path = os.path.join(workdir, "activator.log")
        self.proc = None

    @property
    def address(self):
        return f"unix:path={self.socket_path}"

    def start(self, timeout=10):
        log = open(self.log_path, "ab")
        cmd = [sys.executable, ACTIVATOR, "--listen", self.socket_path,
               "--events", self.events_path]
        if self.max_spawns:
            cmd += ["--max-spawns", str(self.max_spawns)]
        self.proc = subprocess.Popen(ORPHAN_GUARD + cmd + ["--"] + self.argv,
                                     stdout=subprocess.PIPE, stderr=log,
                                     stdin=subprocess.DEVNULL, env=self.env)
        log.close()
        line = _read_line(self.proc.stdout.fileno(), timeout, "socket-activator ready")
        if line != "ready":
            raise RuntimeError(f"socket-activator said {line!r}")
        return self

    def events(self):
        """[(kind, n, pid, status-or-None, t)]"""
        out = []
        try:
            with open(self.events_path) as f:
                for line in f:
                    p = line.split()
                    if p[0] == "spawn":
                        out.append(("spawn", int(p[1]), int(p[2]), None, float(p[3])))
                    else:
                        out.append(("exit", int(p[1]), int(p[2]), p[3], float(p[4])))
        except FileNotFoundError:
            pass
        return out

    def spawn_count(self):
        return sum(1 for e in self.events() if e[0] == "spawn")

    def running_pid(self):
        pid = None
        for e in self.events():
            pid = e[2] if e[0] == "spawn" else None
        return pid

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self):
        stop_process(self.proc, timeout=10)
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None


# --------------------------------------------------------------------------------------
# clients


class Endpoint:
    """Where a client connects: the private system bus (by name) or the
    peer-to-peer socket (no bus, so no destination)."""

    def __init__(self, address, peer_to_peer, extra_env=None):
        self.address = address
        self.peer_to_peer = peer_to_peer
        self.extra_env = extra_env or {}

    def __repr__(self):
        return f"Endpoint({'p2p' if self.peer_to_peer else 'bus'} {self.address})"

    def client_env(self, user=None):
        env = dict(os.environ)
        if user:
            # An unprivileged client needs none of the test bed's preload.
            for k in ("LD_PRELOAD", "UMOCKDEV_DIR"):
                env.pop(k, None)
        if not self.peer_to_peer:
            env["DBUS_SYSTEM_BUS_ADDRESS"] = self.address
        env.update(self.extra_env)
        return env


class CallError(Exception):
    def __init__(self, name, message, tool):
        super().__init__(f"{tool}: {name}: {message}")
        self.name = name
        self.message = message
        self.tool = tool


def _as_user(user):
    if not user:
        return []
    return ["setpriv", f"--reuid={user}", f"--regid={_group_of(user)}", "--clear-groups", "--"]


def _group_of(user):
    import pwd
    import grp
    return grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name


class Busctl:
    """busctl 252. Peer-to-peer: `--address=` (busctl still sends Hello);
    system bus: `--system` with DBUS_SYSTEM_BUS_ADDRESS. Cannot pass fds."""

    def __init__(self, endpoint, user=None, timeout=60):
        self.ep = endpoint
        self.user = user
        self.timeout = timeout

    def _base(self):
        b = _as_user(self.user) + ["busctl", "--no-pager", f"--timeout={self.timeout}"]
        if self.ep.peer_to_peer:
            b.append(f"--address={self.ep.address}")
        else:
            b.append("--system")
        return b

    def run(self, *args, check=True):
        cmd = self._base() + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, env=self.ep.client_env(self.user),
                           timeout=self.timeout + 15)
        if check and p.returncode != 0:
            raise CallError("busctl-failed", p.stderr.strip(), "busctl")
        return p

    def introspect(self, xml=False, path=OBJECT_PATH):
        dest = BUS_NAME
        if xml:
            return self.run("--xml-interface", "introspect", dest, path).stdout
        return self.run("introspect", dest, path).stdout

    def call_json(self, method, signature="", *args):
        """Returns the decoded `--json=short` reply: {"type": sig, "data": [...]}."""
        import json
        cmd = ["--json=short", "call", BUS_NAME, OBJECT_PATH, INTERFACE, method]
        if signature:
            cmd += [signature] + [str(a) for a in args]
        p = self.run(*cmd, check=False)
        if p.returncode != 0:
            # busctl 252 prints only the error message, not its name.
            raise CallError(None, p.stderr.strip(), "busctl")
        return json.loads(p.stdout)


class Gdbus:
    """gdbus call. Values are GVariant text; fds are passed as `handle N` with
    the fd inherited as N (the `gdbus call … 3 3<file` style)."""

    def __init__(self, endpoint, user=None, timeout=60):
        self.ep = endpoint
        self.user = user
        self.timeout = timeout

    def call(self, method, *args, fds=None, path=OBJECT_PATH, interface=INTERFACE):
        """fds: {child_fd_number: open fd in this process}. Returns the reply as
        GVariant text; raises CallError(name) on a D-Bus error. path and
        interface: another object (a job's)."""
        cmd = _as_user(self.user) + ["gdbus", "call"]
        # gdbus insists on --dest even peer-to-peer, where there is no bus to
        # route by it: the service must accept (ignore) it there.
        if self.ep.peer_to_peer:
            cmd += ["--address", self.ep.address, "--dest", BUS_NAME]
        else:
            cmd += ["--system", "--dest", BUS_NAME]
        cmd += ["--object-path", path, "--method", f"{interface}.{method}",
                "--timeout", str(self.timeout), "--"] + list(args)
        fds = fds or {}
        # Put each fd at its requested number in the child, without disturbing ours.
        dups = {n: os.dup(fd) for n, fd in fds.items()}

        def preexec():
            for n, fd in dups.items():
                os.dup2(fd, n, inheritable=True)

        try:
            p = subprocess.run(cmd, capture_output=True, text=True, env=self.ep.client_env(self.user),
                               # close_fds would run after preexec and close the
                               # numbers we just set up; Python's own fds are
                               # non-inheritable anyway (PEP 446).
                               close_fds=not dups, preexec_fn=preexec if dups else None,
                               timeout=self.timeout + 15)
        finally:
            for fd in dups.values():
                os.close(fd)
        if p.returncode != 0:
            m = re.search(r"GDBus\.Error:([A-Za-z0-9_.]+):\s*(.*)", p.stderr, re.S)
            if m:
                raise CallError(m.group(1), m.group(2).strip(), "gdbus")
            raise CallError("gdbus-failed", p.stderr.strip(), "gdbus")
        return p.stdout.strip()


def dbus_python_connection(endpoint):
    """A dbus-python connection: a private bus connection for the system bus
    (so tests never share the process-global one), a plain Connection for
    peer-to-peer (libdbus sends no Hello there)."""
    import dbus
    import dbus.bus
    import dbus.connection
    if endpoint.peer_to_peer:
        return dbus.connection.Connection(endpoint.address)
    return dbus.bus.BusConnection(endpoint.address)


def dbus_python_proxy(conn, endpoint):
    import dbus
    dest = None if endpoint.peer_to_peer else BUS_NAME
    obj = conn.get_object(dest, OBJECT_PATH, introspect=False)
    return dbus.Interface(obj, INTERFACE)


# --------------------------------------------------------------------------------------
# introspection comparison


def interface_model(xml_text, interface=INTERFACE):
    """A comparable model of one interface from introspection XML:
    {"methods": {name: [(direction, name, type)]}, "signals": {...},
     "properties": {name: (type, access)}}. Annotations are ignored."""
    root = ET.fromstring(xml_text)
    iface = None
    for el in root.iter("interface"):
        if el.get("name") == interface:
            iface = el
            break
    if iface is None:
        raise AssertionError(f"interface {interface} not in introspection data")
    model = {"methods": {}, "signals": {}, "properties": {}}
    for m in iface.findall("method"):
        model["methods"][m.get("name")] = [
            (a.get("direction", "in"), a.get("name"), a.get("type")) for a in m.findall("arg")]
    for s in iface.findall("signal"):
        model["signals"][s.get("name")] = [(a.get("name"), a.get("type")) for a in s.findall("arg")]
    for p in iface.findall("property"):
        model["properties"][p.get("name")] = (p.get("type"), p.get("access"))
    return model


def busctl_introspect_rows(text, interface=INTERFACE):
    """Parses `busctl introspect` table output (an "interface" row, then its
    members as ".Name") into {(kind, name): (signature, result)} for the members of
    `interface`."""
    rows = {}
    current = None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        if parts[1] == "interface":
            current = parts[0]
            continue
        if current != interface or not parts[0].startswith("."):
            continue
        name = parts[0][1:]
        kind = parts[1]
        sig = parts[2] if len(parts) > 2 else "-"
        res = parts[3] if len(parts) > 3 else "-"
        rows[(kind, name)] = (sig, res)
    return rows


def wait_socket_connectable(path, timeout=10):
    def ok():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return True
        except OSError:
            return False
        finally:
            s.close()
    return _wait_for(ok, timeout, f"connect to {path}")


class GioClient:
    """GLib's GDBus from Python (gi): the gdbus library itself, for what the gdbus
    command line cannot do. `gdbus call` (GLib 2.74) maps only top-level `h`
    arguments to an fd list, so handles nested in a(tv) reach the service with no
    fd attached; here the fd list is built explicitly and `handle N` indexes it."""

    def __init__(self, endpoint):
        from gi.repository import Gio
        self.ep = endpoint
        flags = Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
        if not endpoint.peer_to_peer:
            flags |= Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION
        self.conn = Gio.DBusConnection.new_for_address_sync(endpoint.address, flags, None, None)
        if endpoint.peer_to_peer:
            # sd-bus (252, and upstream still: systemd PR #5520) can drop a peer whose
            # first message after the SASL BEGIN carries fds, when that message is
            # read together with the auth lines. A round trip first avoids it.
            self.conn.call_sync(None, "/", "org.freedesktop.DBus.Peer", "Ping", None, None,
                                Gio.DBusCallFlags.NONE, 30000, None)

    def call(self, method, signature, params_text, fds=(), timeout=120):
        """params_text: GVariant text of the whole tuple; fds: fds to append, in
        order (dup'd: the list owns its copies). Returns the unpacked reply tuple."""
        from gi.repository import Gio, GLib
        params = GLib.Variant.parse(GLib.VariantType.new(f"({signature})"), params_text, None, None)
        fd_list = Gio.UnixFDList.new()
        for fd in fds:
            fd_list.append(fd)
        try:
            reply, _ = self.conn.call_with_unix_fd_list_sync(
                None if self.ep.peer_to_peer else BUS_NAME, OBJECT_PATH, INTERFACE, method,
                params, None, Gio.DBusCallFlags.NONE, timeout * 1000, fd_list, None)
        except GLib.Error as e:
            name = Gio.DBusError.get_remote_error(e)
            if name:
                Gio.DBusError.strip_remote_error(e)
            raise CallError(name or f"{e.domain}:{e.code}", e.message, "gdbus-lib") from None
        return reply.unpack()

    def close(self):
        self.conn.close_sync(None)
