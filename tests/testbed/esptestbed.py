# SPDX-License-Identifier: LGPL-2.1-or-later
"""A bench of simulated ESP boards on fake USB serial ports, for end-to-end tests.

umockdev provides the host side: sysfs/udev entries for a USB device with a tty
child, a /dev node backed by a pty, and an ioctl hook on that node. fbuild-esp-sim
provides the chip on the pty's master side. The modem-control ioctls (TIOCM*) are
answered here and forwarded to the sim, which is how DTR/RTS reach its reset logic.

Must run under `umockdev-wrapper` (it preloads libumockdev-preload), with Debian's
/usr/bin/python3 (python3-gi, gir1.2-umockdev-1.0). Clients started with `Bed.run`
inherit the wrapper's environment, so they see the bed instead of the real /sys, /dev.
"""

import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import traceback

import gi

gi.require_version("UMockdev", "1.0")
from gi.repository import UMockdev  # noqa: E402

# Built programs, passed by meson (tests/testbed/meson.build).
SIM = os.environ.get("FBUILD_ESP_SIM", "")
FLASH_TOOL = os.environ.get("ESP_FLASH_TOOL", "")
SERIAL_PROBE = os.environ.get("SERIAL_PROBE", "")

TIOCM_DTR = termios.TIOCM_DTR
TIOCM_RTS = termios.TIOCM_RTS
MODEM_IOCTLS = {termios.TIOCMGET, termios.TIOCMSET, termios.TIOCMBIS, termios.TIOCMBIC}

# The two kinds of port ESP boards show up as.
KINDS = {
    # A CP2102 bridge: DTR/RTS drive EN/IO0 through the two-transistor circuit.
    "uart": {
        "vid": 0x10C4, "pid": 0xEA60, "driver": "cp210x", "prefix": "ttyUSB", "major": 188,
        "manufacturer": "Silicon Labs", "product": "CP2102 USB to UART Bridge Controller",
        "interface": "255/0/0", "console": "uart",
    },
    # The ESP32-S3/C3 built-in USB-Serial-JTAG: a CDC-ACM port whose DTR/RTS go to
    # the peripheral's own reset logic.
    "usb-jtag": {
        "vid": 0x303A, "pid": 0x1001, "driver": "cdc_acm", "prefix": "ttyACM", "major": 166,
        "manufacturer": "Espressif", "product": "USB JTAG/serial debug unit",
        "interface": "2/2/0", "console": "usb-jtag",
    },
    # A TinyUSB CDC port on the chip's own USB-OTG (ESP32-S2/S3 application code):
    # cdc_acm, reset like a bridge here; on a real board the port drops off the bus
    # when the chip resets, which tests act out with Bed.replug.
    "usb-otg": {
        "vid": 0x303A, "pid": 0x4001, "driver": "cdc_acm", "prefix": "ttyACM", "major": 166,
        "manufacturer": "Espressif Systems", "product": "Espressif Device",
        "interface": "2/2/0", "console": "uart",
    },
}

USB_ROOT = "/devices/pci0000:00/0000:00:14.0/usb1"


class BedError(Exception):
    pass


def _dotdots(path):
    """Relative prefix from a /sys/devices/... directory back up to /sys."""
    return "../" * (path.count("/"))


def usb_serial_description(kind, port, tty_name, serial):
    """umockdev text format for one USB serial device and its tty, shaped like what
    `umockdev-record` captures from real hardware: a usb_device with its descriptors
    as attributes, an interface bound to the driver, (for usb-serial drivers) the port
    device, and the tty class device whose `device` link leads back to them, which is
    what libserialport follows to read idVendor/idProduct/serial through sysfs."""
    k = KINDS[kind]
    usb = f"{USB_ROOT}/1-{port}"
    intf = f"{usb}/1-{port}:1.0"
    devnum = port + 1  # the root hub is device 1
    vid, pid = f"{k['vid']:04x}", f"{k['pid']:04x}"
    vendor_enc = k["manufacturer"].replace(" ", "_")
    model_enc = k["product"].replace(" ", "_")
    id_serial = f"{vendor_enc}_{model_enc}_{serial}"
    usb_minor = devnum - 1  # bus 1: minor = (bus-1)*128 + devnum-1
    tty_minor = int(re.sub(r"\D", "", tty_name))

    def drv(path, name, bus="usb"):
        return f"L: driver={_dotdots('/sys' + path)}bus/{bus}/drivers/{name}"

    blocks = [f"""P: {usb}
N: bus/usb/001/{devnum:03d}
E: DEVNAME=/dev/bus/usb/001/{devnum:03d}
E: DEVTYPE=usb_device
E: DRIVER=usb
E: PRODUCT={k['vid']:x}/{k['pid']:x}/100
E: TYPE=0/0/0
E: BUSNUM=001
E: DEVNUM={devnum:03d}
E: MAJOR=189
E: MINOR={usb_minor}
E: SUBSYSTEM=usb
E: ID_VENDOR={vendor_enc}
E: ID_VENDOR_ID={vid}
E: ID_MODEL={model_enc}
E: ID_MODEL_ID={pid}
E: ID_SERIAL={id_serial}
E: ID_SERIAL_SHORT={serial}
E: ID_BUS=usb
A: idVendor={vid}
A: idProduct={pid}
A: bcdDevice=0100
A: serial={serial}
A: manufacturer={k['manufacturer']}
A: product={k['product']}
A: busnum=1
A: devnum={devnum}
A: devpath={port}
A: speed=12
A: bNumInterfaces= 1
A: bConfigurationValue=1
A: bDeviceClass=00
A: dev=189:{usb_minor}
{drv(usb, 'usb')}
""", f"""P: {intf}
E: DEVTYPE=usb_interface
E: DRIVER={k['driver']}
E: PRODUCT={k['vid']:x}/{k['pid']:x}/100
E: INTERFACE={k['interface']}
E: SUBSYSTEM=usb
A: bInterfaceNumber=00
A: bInterfaceClass={int(k['interface'].split('/')[0]):02x}
A: bNumEndpoints=02
{drv(intf, k['driver'])}
"""]
    tty_props = f"""E: DEVNAME=/dev/{tty_name}
E: MAJOR={k['major']}
E: MINOR={tty_minor}
E: SUBSYSTEM=tty
E: ID_BUS=usb
E: ID_VENDOR={vendor_enc}
E: ID_VENDOR_ID={vid}
E: ID_MODEL={model_enc}
E: ID_MODEL_ID={pid}
E: ID_SERIAL={id_serial}
E: ID_SERIAL_SHORT={serial}
E: ID_USB_INTERFACE_NUM=00
E: ID_USB_DRIVER={k['driver']}
E: ID_PATH=pci-0000:00:14.0-usb-0:{port}:1.0
E: ID_PATH_TAG=pci-0000_00_14_0-usb-0_{port}_1_0
E: DEVLINKS=/dev/serial/by-id/usb-{id_serial}-if00{'-port0' if kind == 'uart' else ''}
A: dev={k['major']}:{tty_minor}"""
    if kind == "uart":
        # usb-serial drivers put a port device between the interface and the tty.
        port_dev = f"{intf}/{tty_name}"
        blocks.append(f"""P: {port_dev}
E: DRIVER={k['driver']}
E: SUBSYSTEM=usb-serial
A: port_number=0
{drv(port_dev, k['driver'], 'usb-serial')}
""")
        blocks.append(f"""P: {port_dev}/tty/{tty_name}
N: {tty_name}
{tty_props}
L: device=../../../{tty_name}
""")
        tty = f"{port_dev}/tty/{tty_name}"
    else:
        blocks.append(f"""P: {intf}/tty/{tty_name}
N: {tty_name}
{tty_props}
L: device=../../../1-{port}:1.0
""")
        tty = f"{intf}/tty/{tty_name}"
    return "\n".join(blocks), "/sys" + usb, "/sys" + tty


class ModemLines(UMockdev.IoctlBase):
    """The serial driver's view of DTR/RTS for one node.

    umockdev routes every ioctl on the node to this object (on its own worker thread).
    TIOCM{GET,SET,BIS,BIC} are answered from `dtr`/`rts` (a pty has no modem lines) and
    every change is handed to `on_change(dtr, rts)` before the ioctl returns, so the
    chip sees an edge before the client's next step. Anything else runs on the client's
    real fd via client.execute()."""

    def __init__(self, node, on_change=None):
        super().__init__()
        self.node = node
        self.dtr = False
        self.rts = False
        self.history = []   # (dtr, rts) after every change, in order
        self.errors = []    # exceptions raised while handling; tests assert it stays empty
        self.opens = 0
        self._on_change = on_change
        self._lock = threading.Lock()

    def _apply(self, dtr, rts):
        with self._lock:
            if (dtr, rts) == (self.dtr, self.rts) and self.history:
                return
            self.dtr, self.rts = dtr, rts
            self.history.append((dtr, rts))
            if self._on_change:
                self._on_change(dtr, rts)

    def do_client_connected(self, client):
        # Opening a tty raises DTR and RTS (the kernel's tty_port_raise_dtr_rts).
        self.opens += 1
        try:
            self._apply(True, True)
        except Exception as e:  # never let an exception cross into umockdev's thread
            self.errors.append(e)
            traceback.print_exc()

    def do_handle_ioctl(self, client):
        request = client.get_request()
        try:
            if request not in MODEM_IOCTLS:
                ret, err = client.execute()
                client.complete(ret, err)
                return True
            arg = client.get_arg().resolve(0, 4)
            if request == termios.TIOCMGET:
                bits = (TIOCM_DTR if self.dtr else 0) | (TIOCM_RTS if self.rts else 0)
                arg.update(0, struct.pack("i", bits))
            else:
                # IoctlData.data is read as a C string by PyGObject; retrieve() is
                # the binding that returns the whole buffer.
                bits = struct.unpack("i", bytes(arg.retrieve()))[0]
                dtr, rts = self.dtr, self.rts
                if request == termios.TIOCMSET:
                    dtr, rts = bool(bits & TIOCM_DTR), bool(bits & TIOCM_RTS)
                elif request == termios.TIOCMBIS:
                    dtr, rts = dtr or bool(bits & TIOCM_DTR), rts or bool(bits & TIOCM_RTS)
                else:
                    dtr, rts = dtr and not bits & TIOCM_DTR, rts and not bits & TIOCM_RTS
                self._apply(dtr, rts)
            client.complete(0, 0)
        except Exception as e:
            self.errors.append(e)
            traceback.print_exc()
            client.complete(-1, 5)  # EIO, so the client fails loudly too
        return True


class Sim:
    """One fbuild-esp-sim process and its control connection."""

    def __init__(self, workdir, chip, flash, *, fd=None, pty=None, console="uart",
                 timing="fast", boot=None, flash_size=None, extra_args=(), env=None):
        if not SIM or not os.access(SIM, os.X_OK):
            raise BedError(f"FBUILD_ESP_SIM not set or not executable: {SIM!r}")
        os.makedirs(workdir, exist_ok=True)
        self.workdir = workdir
        self.chip = chip
        self.flash_path = flash
        self.control_path = os.path.join(workdir, "control")
        self.log_path = os.path.join(workdir, "sim-events.jsonl")
        self.stderr_path = os.path.join(workdir, "sim-stderr.log")
        args = [SIM, f"--chip={chip}", f"--flash={flash}", f"--control={self.control_path}",
                f"--console={console}", f"--timing={timing}", f"--log={self.log_path}"]
        if fd is not None:
            args.append(f"--fd={fd}")
        if pty is not None:
            args.append(f"--pty={pty}")
        if boot:
            args.append(f"--boot={boot}")
        if flash_size:
            args.append(f"--flash-size={flash_size}")
        args += list(extra_args)
        self.args = args
        # The chip is not a host process: keep it out of umockdev's preload.
        env = dict(env if env is not None else os.environ)
        for var in ("LD_PRELOAD", "UMOCKDEV_DIR"):
            env.pop(var, None)
        # --pdeathsig: if the harness is killed outright (SIGKILL on timeout), the
        # sim must not outlive it.
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            ["setpriv", "--pdeathsig", "KILL", "--"] + args,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr,
            pass_fds=(fd,) if fd is not None else (), env=env)
        self.stdout_lines = []
        self._ready = threading.Event()
        # Drain stdout for the whole run, so a chatty sim never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        if not self._ready.wait(10):
            self.close()
            raise BedError(f"sim did not print 'ready' within 10 s: {self.describe()}")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(10)
        self._sock.connect(self.control_path)
        self._rfile = self._sock.makefile("rb")
        self._lock = threading.Lock()

    def _drain(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.stdout_lines.append(line)
            if line == "ready":
                self._ready.set()

    def describe(self):
        try:
            with open(self.stderr_path, "rb") as f:
                err = f.read()[-2000:].decode(errors="replace")
        except OSError:
            err = ""
        return (f"args={self.args} rc={self.proc.poll()} stdout={self.stdout_lines[-5:]} "
                f"stderr={err!r}")

    def command(self, line):
        """Send one control command, return the reply line; raise on `err ...`."""
        with self._lock:
            self._sock.sendall(line.encode() + b"\n")
            reply = self._rfile.readline().decode().rstrip("\n")
        if not reply:
            raise BedError(f"sim closed the control socket after {line!r}: {self.describe()}")
        if not reply.startswith("ok"):
            raise BedError(f"sim answered {reply!r} to {line!r}")
        return reply

    def signals(self, dtr, rts):
        self.command(f"signals {int(dtr)} {int(rts)}")

    def stats(self):
        reply = self.command("stats")
        return json.loads(reply[2:].strip())

    def external_write(self, offset, data):
        self.command(f"external-write {offset} {bytes(data).hex()}")

    def fault(self, spec):
        self.command(f"fault {spec}")

    def vanish(self):
        self.command("vanish")

    def panic(self, *pcs):
        """The running application crashes with these program counters."""
        self.command("panic " + " ".join(f"{pc:#x}" for pc in pcs))

    def events(self):
        """The sim's JSON-lines event log, parsed."""
        try:
            with open(self.log_path) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def flash(self):
        with open(self.flash_path, "rb") as f:
            return f.read()

    def close(self):
        if self.proc.poll() is None:
            try:
                if getattr(self, "_sock", None):
                    self._sock.settimeout(2)
                    self._sock.sendall(b"quit\n")
                self.proc.wait(2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_sock", None):
            self._sock.close()
            self._sock = None
        self._stderr.close()


class Device:
    """One simulated board on one fake USB port."""

    def __init__(self, bed, kind, port, tty_name, serial, chip):
        self.bed = bed
        self.kind = kind
        self.chip = chip
        self.serial = serial
        self.vid = KINDS[kind]["vid"]
        self.pid = KINDS[kind]["pid"]
        self.node = f"/dev/{tty_name}"
        self.description, self.usb_syspath, self.tty_syspath = \
            usb_serial_description(kind, port, tty_name, serial)
        self.sim = None
        self.present = False

    @property
    def syspaths(self):
        """Every sysfs device of this board, parent first (the order of add events)."""
        paths, p = [], self.tty_syspath
        while p.startswith(self.usb_syspath):
            if os.path.isdir(self.bed.root + p) and not os.path.basename(p) == "tty":
                paths.append(p)
            p = os.path.dirname(p)
        return list(reversed(paths))

    def uevent(self, action):
        """Announce every level of the device, like the kernel does on (un)plug."""
        paths = self.syspaths
        for p in (paths if action != "remove" else reversed(paths)):
            self.bed.testbed.uevent(p, action)

    def unplug(self):
        """The board leaves the bus: the chip stops, the open tty hangs up, remove
        uevents go out and the sysfs entries and /dev node disappear."""
        if self.sim and self.sim.proc.poll() is None:
            try:
                self.sim.vanish()
            except BedError:
                pass
        # Hang up the line (a sim's vanish already did if it held the only master).
        _release_master(self.bed.testbed.get_dev_fd(self.node))
        self.uevent("remove")
        self.bed.testbed.remove_device(self.usb_syspath)
        self._remove_tty_node()
        self.present = False

    def _remove_tty_node(self):
        """umockdev removes the USB device's node but leaves the tty's: clear it, or
        the next pty that gets the same /dev/pts number cannot be mapped (replug)."""
        name = self.node[len("/dev/"):]
        majmin = f"{KINDS[self.kind]['major']}:{int(re.sub(r'[^0-9]', '', name))}"
        dev = os.path.join(self.bed.root, "dev")
        for p in (os.path.join(dev, name), os.path.join(dev, ".node", name)):
            if os.path.lexists(p):
                os.unlink(p)
        ptymap = os.path.join(dev, ".ptymap")
        for entry in os.listdir(ptymap) if os.path.isdir(ptymap) else ():
            p = os.path.join(ptymap, entry)
            if os.path.islink(p) and os.readlink(p) == majmin:
                os.unlink(p)

    def read_serial(self, pattern, timeout=5.0):
        """Open the node like a serial monitor would and read until `pattern` (a
        regex on bytes) matches; return the match. Raises BedError with what was
        read on timeout."""
        fd = os.open(self.node, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        got = b""
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    chunk = os.read(fd, 4096)
                except BlockingIOError:
                    chunk = None
                if chunk:
                    got += chunk
                    m = re.search(pattern, got)
                    if m:
                        return m
                else:
                    time.sleep(0.01)
        finally:
            os.close(fd)
        raise BedError(f"{pattern!r} not seen on {self.node} within {timeout} s; read {got[-400:]!r}")


class Bed:
    """A umockdev testbed with simulated boards. Use as a context manager; everything
    (sims, temp dirs, the testbed) is torn down on exit, also on failure."""

    def __init__(self, keep=None):
        if not UMockdev.in_mock_environment():
            # Testbed.new() sets UMOCKDEV_DIR, but without the preload nothing sees it.
            if "umockdev-preload" not in os.environ.get("LD_PRELOAD", ""):
                raise BedError("run this under umockdev-wrapper")
        _install_sigterm_exit()
        self.keep = keep if keep is not None else bool(os.environ.get("TESTBED_KEEP"))
        self.tmp = tempfile.mkdtemp(prefix="esptestbed.")
        self.testbed = UMockdev.Testbed.new()
        self.root = self.testbed.get_root_dir()
        self.devices = []
        self.handlers = {}
        self._next_port = 1
        self._next_minor = {k["prefix"]: 0 for k in KINDS.values()}  # kinds may share a prefix

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def add_device(self, chip="esp32", kind="uart", *, sim=True, serial=None, flash=None,
                   flash_size=None, timing="fast", boot=None, sim_args=(), swappable=False):
        """Plug a board in: sysfs + /dev node + ioctl handler, and (unless sim=False) a
        sim on the pty master. Emits the add uevents. Returns the Device.
        swappable: the bed keeps a copy of the pty master, so that swap_board() can
        put another chip behind the same adapter (the line then stays up when the
        sim exits: no hang-up on vanish)."""
        port = self._next_port
        self._next_port += 1
        minor = self._next_minor[KINDS[kind]["prefix"]]
        self._next_minor[KINDS[kind]["prefix"]] += 1
        tty_name = f"{KINDS[kind]['prefix']}{minor}"
        if serial is None:
            serial = (f"{port:04d}" if kind == "uart"
                      else f"F4:12:FA:00:00:{port:02X}")  # USB-JTAG serials are MACs
        dev = Device(self, kind, port, tty_name, serial, chip)
        self.testbed.add_from_string(dev.description)
        master = self.testbed.get_dev_fd(dev.node)
        if master < 0:
            raise BedError(f"umockdev made no pty for {dev.node}")
        workdir = os.path.join(self.tmp, f"{tty_name}-{chip}")
        os.makedirs(workdir)
        dev.workdir = workdir
        dev.master_copy = os.dup(master) if swappable and sim else None
        if sim:
            dev.sim = Sim(workdir, chip, flash or os.path.join(workdir, "flash.bin"),
                          fd=master, console=KINDS[kind]["console"], timing=timing,
                          boot=boot, flash_size=flash_size, extra_args=sim_args)
            # The sim holds the only master from now on, so when it vanishes (unplug,
            # --fault=vanish=N) or dies, clients see the line hang up as on a real
            # unplug instead of a silent line.
            _release_master(master)
            on_change = dev.sim.signals
        else:
            dev.master_fd = master
            on_change = None
        handler = ModemLines(dev.node, on_change)
        self.testbed.attach_ioctl(dev.node, handler)
        self.handlers[dev.node] = handler
        dev.lines = handler
        dev.present = True
        self.devices.append(dev)
        dev.uevent("add")
        return dev

    def replug(self, dev, **kwargs):
        """Plug the same board (same USB serial, same flash file) back in, with a fresh
        sim. umockdev cannot re-create a removed sysfs path, so it comes back on the
        next USB port and tty number, as in another socket: code that follows a board
        must go by its identity, not its path. Returns the new Device."""
        if dev.present:
            dev.unplug()
        flash = dev.sim.flash_path if dev.sim else None
        if dev.sim:
            dev.sim.close()
        return self.add_device(dev.chip, dev.kind, sim=dev.sim is not None, serial=dev.serial,
                               flash=flash, **kwargs)

    def swap_board(self, dev, chip, flash_size=None, sim_args=()):
        """Another board behind the same USB-UART adapter (a cable moved from one
        board to the next): the chip and its flash change, the USB device and its
        identity do not, and no uevent goes out. Needs add_device(swappable=True)."""
        if dev.master_copy is None:
            raise BedError("swap_board() needs a device added with swappable=True")
        dev.sim.close()
        n = sum(1 for name in os.listdir(dev.workdir) if name.startswith("swap-"))
        workdir = os.path.join(dev.workdir, f"swap-{n}-{chip}")
        dev.sim = Sim(workdir, chip, os.path.join(workdir, "flash.bin"), fd=dev.master_copy,
                      console=KINDS[dev.kind]["console"], flash_size=flash_size,
                      extra_args=sim_args)
        dev.chip = chip
        self.handlers[dev.node]._on_change = dev.sim.signals
        return dev

    def env(self):
        """Environment for a client process: the wrapper's (LD_PRELOAD, UMOCKDEV_DIR)."""
        env = dict(os.environ)
        env["UMOCKDEV_DIR"] = self.root
        return env

    def run(self, argv, timeout=60, check=False):
        """Run a client inside the bed; return CompletedProcess (text)."""
        return subprocess.run(argv, env=self.env(), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout, check=check)

    def errors(self):
        return [e for h in self.handlers.values() for e in h.errors]

    def close(self):
        for dev in self.devices:
            if dev.sim:
                dev.sim.close()
            if getattr(dev, "master_copy", None) is not None:
                os.close(dev.master_copy)
                dev.master_copy = None
        for node in list(self.handlers):
            try:
                self.testbed.detach_ioctl(node)
            except Exception:
                pass
        self.handlers.clear()
        self.testbed = None  # its finalizer closes the ptys and removes the root dir
        if self.keep:
            sys.stderr.write(f"esptestbed: keeping {self.tmp}\n")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def run_flash_tool(bed, device, *args, reset=None, timeout=60):
    """Run esp-flash-tool on a device; return (returncode, [json objects], stderr)."""
    if not FLASH_TOOL or not os.access(FLASH_TOOL, os.X_OK):
        raise BedError(f"ESP_FLASH_TOOL not set or not executable: {FLASH_TOOL!r}")
    argv = [FLASH_TOOL, f"--port={device.node}"]
    if reset:
        argv.append(f"--reset={reset}")
    argv += list(args)
    p = bed.run(argv, timeout=timeout)
    out = []
    for line in p.stdout.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            raise BedError(f"esp-flash-tool printed a non-JSON line {line!r}; "
                           f"argv={argv} stderr={p.stderr[-2000:]!r}")
    return p.returncode, out, p.stderr


def _release_master(fd):
    """Close the testbed's pty master without closing its fd number: umockdev keeps the
    number and closes it when the testbed is finalized, so it must stay valid."""
    if fd >= 0:
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, fd)
        os.close(null)


_sigterm_installed = False


def _install_sigterm_exit():
    """meson (and CI) stop a test with SIGTERM; turn it into SystemExit so `with Bed()`
    and finally blocks still clean up."""
    global _sigterm_installed
    if _sigterm_installed or threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    _sigterm_installed = True
