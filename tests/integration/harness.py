# SPDX-License-Identifier: LGPL-2.1-or-later
"""The whole-service fixture: a umockdev test bed with simulated boards
(tests/testbed/esptestbed.py), fbuild-deployd from the build tree started either by
bus activation on a private system bus or by the test tree's socket activator, and
typed helpers for calling it with dbus-python, gdbus and busctl.

Must run under umockdev-wrapper with /usr/bin/python3. meson passes the built
programs' paths in the environment (tests/integration/meson.build):
  FBUILD_DEPLOYD      the service
  FBUILD_ESP_SIM      the simulated chip (read by esptestbed)
  FBUILD_SOURCE_ROOT  the source tree (for data/dbus/*)
"""

import hashlib
import os
import shutil
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get("FBUILD_SOURCE_ROOT") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE_ROOT, "tests", "testbed"))
sys.path.insert(0, HERE)

import busfixture  # noqa: E402
from busfixture import (BUS_NAME, ERROR_PREFIX, INTERFACE, JOB_INTERFACE, OBJECT_PATH,  # noqa: E402,F401
                        Busctl, CallError, Endpoint, Gdbus, GioClient, PrivateSystemBus,
                        SocketActivator)
import esptestbed  # noqa: E402
import fixtures  # noqa: E402

import dbus  # noqa: E402
import dbus.mainloop.glib  # noqa: E402
from gi.repository import GLib  # noqa: E402

DEPLOYD = os.environ.get("FBUILD_DEPLOYD", "")
PROJECT_VERSION = os.environ.get("FBUILD_VERSION", "")
POLICY = os.path.join(SOURCE_ROOT, "data", "dbus", "org.fbuild.Deploy1.conf")
INTROSPECTION_XML = os.path.join(SOURCE_ROOT, "data", "dbus", "org.fbuild.Deploy1.xml")
JOB_INTROSPECTION_XML = os.path.join(SOURCE_ROOT, "data", "dbus", "org.fbuild.Deploy1.Job.xml")

# Environment the service understands (documented by the daemon: --help / README).
IDLE_ENV = "FBUILD_DEPLOYD_IDLE_TIMEOUT_SEC"
CONFIG_ENV = "FBUILD_DEPLOYD_CONFIG"

# Generous per-call timeout: long calls reply when done.
CALL_TIMEOUT = 120

SECTOR = 4096


def error_name(short):
    return ERROR_PREFIX + short


def sha256(b):
    return hashlib.sha256(b).digest()


def md5(b):
    return hashlib.md5(b).digest()



def _ppid(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            # the command name may hold spaces and parentheses: fields after the last ')'
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None

class Image:
    """A set of regions written to files: [(offset, path, bytes, name)]."""

    def __init__(self, workdir, regions, tag="img"):
        self.regions = []
        os.makedirs(workdir, exist_ok=True)
        for off, data, name in regions:
            path = os.path.join(workdir, f"{tag}-{name}-{off:#x}.bin")
            with open(path, "wb") as f:
                f.write(data)
            self.regions.append((off, path, data, name))

    def paths(self):
        return [(off, path) for off, path, _, _ in self.regions]

    def total(self):
        return sum(len(d) for _, _, d, _ in self.regions)

    def matches_flash(self, flash):
        return all(flash[off:off + len(d)] == d for off, _, d, _ in self.regions)

    def mismatches(self, flash):
        return [name for off, _, d, name in self.regions if flash[off:off + len(d)] != d]


def standard_image(workdir, chip="esp32", app_seed=1, app_size=None, tag=None):
    """bootloader + partition table + application, from tests/testbed/fixtures.py."""
    regions = fixtures.flash_set(chip, app_seed=app_seed)
    if app_size is not None:
        regions = [(o, d, n) if n != "app" else
                   (o, fixtures.application(chip, size=app_size, seed=app_seed), n)
                   for o, d, n in regions]
    return Image(workdir, regions, tag or f"{chip}-app{app_seed}")


# --------------------------------------------------------------------------------------
# dbus-python value builders


def regions_value(regions, fds=False):
    """a(tv): [(offset, path)] → paths as `s`, or (fds=True) [(offset, fd)] as `h`."""
    items = []
    for off, src in regions:
        if fds:
            v = dbus.types.UnixFd(src, variant_level=1)
        else:
            v = dbus.String(src, variant_level=1)
        items.append(dbus.Struct((dbus.UInt64(off), v), signature=None))
    return dbus.Array(items, signature="(tv)")


def options_value(**opts):
    d = {}
    for k, v in opts.items():
        k = k.replace("_", "-")
        d[k] = v
    return dbus.Dictionary(d, signature="sv")


def unwrap(v):
    """dbus-python values → plain Python."""
    if isinstance(v, (dbus.Array, list)):
        if getattr(v, "signature", None) == "y":
            return bytes(v)
        return [unwrap(x) for x in v]
    if isinstance(v, (dbus.Struct, tuple)):
        return tuple(unwrap(x) for x in v)
    if isinstance(v, (dbus.Dictionary, dict)):
        return {unwrap(k): unwrap(x) for k, x in v.items()}
    if isinstance(v, dbus.Boolean):
        return bool(v)
    if isinstance(v, (dbus.String, dbus.ObjectPath, dbus.Signature)):
        return str(v)
    if isinstance(v, dbus.Byte):
        return int(v)
    if isinstance(v, (dbus.Int16, dbus.Int32, dbus.Int64, dbus.UInt16, dbus.UInt32,
                      dbus.UInt64)):
        return int(v)
    if isinstance(v, dbus.Double):
        return float(v)
    return v


class Client:
    """A dbus-python client with a GLib main loop on this thread, for calls that
    need signals or concurrency. Synchronous helpers raise CallError with the
    D-Bus error name."""

    def __init__(self, endpoint):
        self.ep = endpoint
        self.loop_integration = dbus.mainloop.glib.DBusGMainLoop()
        if endpoint.peer_to_peer:
            self.conn = dbus.connection.Connection(endpoint.address, mainloop=self.loop_integration)
            # libdbus learns whether fds may be sent only when authentication has
            # finished; on a bus, Hello waits for that, peer-to-peer nothing does,
            # and a first message carrying fds fails on the client side with
            # "Cannot send file descriptors on this connection". One round trip
            # first (it also keeps clear of sd-bus' early-fd bug, see GioClient).
            self.conn.call_blocking(None, "/", "org.freedesktop.DBus.Peer", "Ping", "", (),
                                    timeout=30)
        else:
            self.conn = dbus.bus.BusConnection(endpoint.address, mainloop=self.loop_integration)
        obj = self.conn.get_object(None if endpoint.peer_to_peer else BUS_NAME, OBJECT_PATH,
                                   introspect=False)
        self.iface = dbus.Interface(obj, INTERFACE)
        self.signals = []       # (monotonic time, member, args)
        self._receivers = []

    def close(self):
        for r in self._receivers:
            r.remove()
        self._receivers = []
        self.conn.close()

    def watch_signals(self):
        """Record every signal of the interface, with its arrival time. On the bus,
        signals arrive only for match rules, which this adds."""
        def handler(*args, **kw):
            self.signals.append((time.monotonic(), kw["member"], [unwrap(a) for a in args]))
        self._receivers.append(self.conn.add_signal_receiver(
            handler, dbus_interface=INTERFACE, path=OBJECT_PATH, member_keyword="member"))

    def call(self, method, *args, timeout=CALL_TIMEOUT):
        try:
            return unwrap(getattr(self.iface, method)(*args, timeout=timeout))
        except dbus.exceptions.DBusException as e:
            raise CallError(e.get_dbus_name(), e.get_dbus_message(), "dbus-python") from None

    def call_async(self, method, *args, timeout=CALL_TIMEOUT):
        """Start a call; returns a Pending whose .done/.result/.error/.t_reply fill
        in while the main loop runs (see run_until)."""
        p = Pending(method)

        def ok(*res):
            p.t_reply = time.monotonic()
            p.result = unwrap(res[0]) if len(res) == 1 else tuple(unwrap(r) for r in res)
            p.done = True

        def err(e):
            p.t_reply = time.monotonic()
            p.error = CallError(e.get_dbus_name(), e.get_dbus_message(), "dbus-python")
            p.done = True

        getattr(self.iface, method)(*args, timeout=timeout, reply_handler=ok, error_handler=err)
        p.t_sent = time.monotonic()
        return p

    def run_until(self, predicate, timeout, what="condition"):
        """Iterate the default main context until predicate() is true."""
        ctx = GLib.MainContext.default()
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
            ctx.iteration(False) or time.sleep(0.002)
        return True

    def drain(self, settle=0.2):
        """Dispatch what has arrived, e.g. signals that a blocking call queued, until
        nothing new arrives for `settle` seconds."""
        ctx = GLib.MainContext.default()
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < settle:
            if ctx.iteration(False):
                quiet_since = time.monotonic()
            else:
                time.sleep(0.005)

    # typed wrappers -------------------------------------------------------------------

    def deploy(self, port, regions, fds=False, **opts):
        outcome, written, stats = self.call("DeployRegions", port, regions_value(regions, fds),
                                            options_value(**opts))
        return outcome, written, stats

    def verify(self, port, regions, fds=False, **opts):
        return self.call("Verify", port, regions_value(regions, fds), options_value(**opts))

    def trust_state(self, port):
        trusted, h, since, why = self.call("TrustState", port)
        return trusted, h, since, why

    def list_devices(self):
        return self.call("ListDevices")


class Pending:
    def __init__(self, method):
        self.method = method
        self.done = False
        self.result = None
        self.error = None
        self.t_sent = None
        self.t_reply = None

    def get(self):
        assert self.done, f"{self.method} has not replied"
        if self.error:
            raise self.error
        return self.result


# --------------------------------------------------------------------------------------
# the service under test


class Service:
    """fbuild-deployd reachable at `endpoint`, started on demand by either bus
    activation ("bus") or the socket activator ("socket")."""

    def __init__(self, workdir, bed, activation, idle_timeout=None, idle_env=None,
                 trust_default=None, extra_env=None, extra_args=(), extra_policy_files=(),
                 extra_config="", wrapper=()):
        """idle_timeout goes into the config file (default 600 s, so nothing exits
        mid-test); idle_env into $FBUILD_DEPLOYD_IDLE_TIMEOUT_SEC, which overrides it.
        extra_config: more [Service] lines. wrapper: a command that execs the
        service, e.g. ["prlimit", "--nofile=128", "--"]."""
        if not DEPLOYD or not os.access(DEPLOYD, os.X_OK):
            raise unittest.SkipTest(f"FBUILD_DEPLOYD not set or not executable: {DEPLOYD!r}")
        self.workdir = workdir
        self.bed = bed
        self.activation = activation
        self.log_path = os.path.join(workdir, "deployd.log")
        self.bus = None
        self.activator = None
        env = {}
        # A config file of our own, so the host's /etc/fbuild/deployd.conf never leaks in.
        self.config_path = os.path.join(workdir, "deployd.conf")
        with open(self.config_path, "w") as f:
            f.write("[Service]\nLogLevel=debug\n")
            # Nor the host's esptool stubs (StubSearchPath= defaults to the system's):
            # a test that wants a stub says where.
            f.write("StubSearchPath=\n")
            if trust_default is not None:
                f.write(f"Trust={'yes' if trust_default else 'no'}\n")
            f.write(f"IdleTimeoutSec={idle_timeout if idle_timeout is not None else 600}\n")
            f.write(extra_config)
        env[CONFIG_ENV] = self.config_path
        if idle_env is not None:
            env[IDLE_ENV] = str(idle_env)
        env["UMOCKDEV_DIR"] = bed.root
        env.update(extra_env or {})
        self.env = env
        binary, extra_args = (wrapper[0], list(wrapper[1:]) + [DEPLOYD] + list(extra_args)) if wrapper \
            else (DEPLOYD, extra_args)
        if activation == "bus":
            listen = os.path.join(workdir, "bus", "run", "system_bus_socket")
            env["DBUS_SYSTEM_BUS_ADDRESS"] = f"unix:path={listen}"
            argv = busfixture.service_command(binary, extra_args, env, log=self.log_path,
                                              orphan_guard=False)
            self.bus = PrivateSystemBus(workdir, argv, POLICY, env=bed.env(),
                                        extra_policy_files=extra_policy_files).start()
            self.endpoint = Endpoint(self.bus.address, peer_to_peer=False)
        elif activation == "socket":
            # No system bus for this instance, unless the test brings one (polkit):
            # it must serve the socket alone.
            env.setdefault("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={workdir}/no-such-bus")
            argv = busfixture.service_command(binary, extra_args, env, log=self.log_path)
            self.activator = SocketActivator(workdir, argv, env=bed.env()).start()
            self.endpoint = Endpoint(self.activator.address, peer_to_peer=True)
        else:
            raise ValueError(activation)

    def activations(self):
        """How many times the service has been started so far."""
        if self.activator:
            return self.activator.spawn_count()
        return self.bus.log().count(f"Successfully activated service '{BUS_NAME}'")

    def log(self):
        out = []
        for name, text in (("deployd", _read(self.log_path)),
                           ("dbus-daemon", self.bus.log() if self.bus else ""),
                           ("activator", self.activator.log() if self.activator else "")):
            if text:
                out.append(f"---- {name} ----\n{text[-6000:]}")
        return "\n".join(out)

    def service_pids(self):
        """Pids of running fbuild-deployd processes started for this test."""
        pids = []
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                with open(f"/proc/{p}/environ", "rb") as f:
                    env = f.read().split(b"\0")
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    argv0 = f.read().split(b"\0")[0]
            except OSError:
                continue
            if (os.path.basename(argv0.decode(errors="replace")) == os.path.basename(DEPLOYD)
                    and f"{CONFIG_ENV}={self.config_path}".encode() in env):
                pids.append(int(p))
        # The service's file openers are its own binary, and until they exec
        # they carry its command line and environment: only the service itself,
        # not its children.
        return [p for p in pids if _ppid(p) not in pids]

    def stop(self):
        # The activator and dbus-daemon do not kill activated services; do it by
        # pid (only processes carrying this test's config path).
        if self.activator:
            self.activator.stop()
        for pid in self.service_pids():
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while self.service_pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in self.service_pids():
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        if self.bus:
            self.bus.stop()


def _read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


class ServiceTestCase(unittest.TestCase):
    """Per test: a temp dir (0755 so unprivileged clients reach the sockets), a
    test bed, and helpers to add boards and start the service. Everything is torn
    down in cleanups, also when the test fails; logs are printed on failure."""

    maxDiff = None

    def setUp(self):
        base = tempfile.mkdtemp(prefix="fbuild-int.")
        os.chmod(base, 0o755)
        self.work = base
        self.addCleanup(self._remove_work)
        self.bed = esptestbed.Bed()
        self.addCleanup(self.bed.close)
        self.service = None

    def _remove_work(self):
        if os.environ.get("FBUILD_INT_KEEP"):
            sys.stderr.write(f"keeping {self.work}\n")
            return
        shutil.rmtree(self.work, ignore_errors=True)

    def _dump_logs(self, service):
        outcome = getattr(self, "_outcome", None)
        failed = False
        if outcome is not None:
            result = getattr(outcome, "result", None)
            errs = list(getattr(result, "errors", [])) + list(getattr(result, "failures", []))
            failed = any(t is self for t, _ in errs) or not getattr(outcome, "success", True)
        if failed:
            sys.stderr.write(f"\n==== logs for {self.id()} ====\n{service.log()}\n")
            for d in self.bed.devices:
                if d.sim:
                    sys.stderr.write(f"---- sim {d.node}: {d.sim.describe()}\n")

    def add_board(self, chip="esp32", kind="uart", **kw):
        return self.bed.add_device(chip, kind, **kw)

    def start_service(self, activation="bus", **kw):
        svc_dir = os.path.join(self.work, f"svc-{activation}")
        os.makedirs(svc_dir, exist_ok=True)
        os.chmod(svc_dir, 0o755)
        self.service = Service(svc_dir, self.bed, activation, **kw)
        # Cleanups run LIFO: logs first (service still there), then stop, then the
        # log is searched for what sanitizers and glibc print as the service dies.
        self.addCleanup(self._check_service_log, self.service)
        self.addCleanup(self.service.stop)
        self.addCleanup(self._dump_logs, self.service)
        return self.service

    SERVICE_LOG_ALARMS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                          "runtime error:", "Fatal glibc error", "double free or corruption",
                          "Assertion `")

    def _check_service_log(self, service):
        text = _read(service.log_path)
        hits = [a for a in self.SERVICE_LOG_ALARMS if a in text]
        if hits:
            raise AssertionError(f"fbuild-deployd's log has {hits}:\n{text[-4000:]}")

    def client(self, endpoint=None):
        c = Client(endpoint or self.service.endpoint)
        self.addCleanup(c.close)
        return c

    def image(self, **kw):
        return standard_image(os.path.join(self.work, "images"), **kw)

    def assertCallError(self, short, fn, *args, **kw):
        with self.assertRaises(CallError) as cm:
            fn(*args, **kw)
        self.assertEqual(cm.exception.name, error_name(short), cm.exception.message)
        return cm.exception
