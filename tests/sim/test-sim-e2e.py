#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""End-to-end self-test of fbuild-esp-sim.

Starts the simulator on its own pty (--pty, --timing=fast unless a test needs
the timing model), replays whole exchanges from shared/reference-traces byte
for byte (esptool's requests in, the real chip's replies expected out), then
exercises the boot model through the control socket, the control commands and
the fault injector, and checks the flash file.

Usage: test-sim-e2e.py PATH-TO-fbuild-esp-sim
"""

import hashlib
import json
import os
import random
import re
import select
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import time
import tty
import zlib

HERE = os.path.dirname(os.path.realpath(__file__))
TRACES = os.environ.get(
    "SIM_REFERENCE_TRACES",
    os.path.join(HERE, "reference-traces"))

# The ESP32 traces were recorded under emulation, whose eFuse word 4 (the
# 8 MHz oscillator field) reads 0 and RTCCALICFG1 0x28000; the simulated chip
# has silicon's calibration unless told otherwise.
EMULATOR_REGS = ["--reg=0x3ff5a010=0", "--reg=0x3ff5f06c=0x28000"]

SYNC_FRAME = bytes.fromhex("0008240000000000070712205555555555555555555555555555555555555555555555555555555555555555")

passed = 0
failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL: {what}", flush=True)
    return cond


# ---- SLIP ------------------------------------------------------------------------

def slip_encode(payload):
    return b"\xc0" + payload.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"


def slip_decode(raw):
    return raw.replace(b"\xdb\xdc", b"\xc0").replace(b"\xdb\xdd", b"\xdb")


def command(op, data=b"", checksum=0):
    return struct.pack("<BBHI", 0, op, len(data), checksum) + data


def data_checksum(data):
    c = 0xEF
    for b in data:
        c ^= b
    return c


# ---- the simulator process ---------------------------------------------------------

class Sim:
    def __init__(self, binary, workdir, chip="esp32", flash=None, args=()):
        self.workdir = workdir
        self.tty_path = os.path.join(workdir, f"tty-{chip}")
        self.ctl_path = os.path.join(workdir, f"ctl-{chip}")
        self.log_path = os.path.join(workdir, f"log-{chip}.jsonl")
        self.flash = flash or os.path.join(workdir, f"flash-{chip}.bin")
        cmd = [binary, f"--chip={chip}", f"--flash={self.flash}", f"--pty={self.tty_path}",
               f"--control={self.ctl_path}", f"--log={self.log_path}"]
        if not any(a.startswith("--timing") for a in args):
            cmd.append("--timing=fast")
        cmd += list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=None)
        line = self._readline_with_timeout(self.proc.stdout, 10)
        if line != b"ready\n":
            raise RuntimeError(f"simulator did not become ready: {line!r}")
        self.fd = os.open(self.tty_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        self.buf = b""
        self.ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.ctl.connect(self.ctl_path)
        self.ctl_buf = b""

    @staticmethod
    def _readline_with_timeout(f, timeout):
        r, _, _ = select.select([f], [], [], timeout)
        return f.readline() if r else b""

    def send(self, data):
        while data:
            try:
                k = os.write(self.fd, data)
                data = data[k:]
            except BlockingIOError:
                select.select([], [self.fd], [], 1)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([self.fd], [], [], left)
        if not r:
            return False
        self.buf += os.read(self.fd, 65536)
        return True

    def read_frame(self, timeout=30.0):
        """Next SLIP frame's payload, skipping anything between frames."""
        deadline = time.monotonic() + timeout
        while True:
            start = self.buf.find(b"\xc0")
            if start >= 0:
                # Skip empty frames (back-to-back delimiters).
                while start + 1 < len(self.buf) and self.buf[start + 1] == 0xC0:
                    start += 1
                end = self.buf.find(b"\xc0", start + 1)
                if end > start:
                    frame = self.buf[start + 1:end]
                    self.buf = self.buf[end + 1:]
                    return slip_decode(frame)
            if not self._fill(deadline):
                return None

    def read_until(self, marker, timeout=30.0):
        deadline = time.monotonic() + timeout
        while marker not in self.buf:
            if not self._fill(deadline):
                return None
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_until_any(self, markers, timeout=30.0):
        """Up to the first of markers to arrive, or None."""
        deadline = time.monotonic() + timeout
        while not any(m in self.buf for m in markers):
            if not self._fill(deadline):
                return None
        i = min(self.buf.index(m) + len(m) for m in markers if m in self.buf)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def drain(self, quiet=0.05, limit=1.0):
        end = time.monotonic() + limit
        while time.monotonic() < end and self._fill(min(end, time.monotonic() + quiet)):
            pass
        self.buf = b""

    def request(self, op, data=b"", checksum=0, timeout=30.0):
        self.send(slip_encode(command(op, data, checksum)))
        return self.read_frame(timeout)

    def control(self, line):
        return self.controls([line])[0]

    def controls(self, lines):
        """Commands sent in one write (the chip reads them at one instant);
        their replies."""
        self.ctl.sendall(b"".join(line.encode() + b"\n" for line in lines))
        replies = []
        for _ in lines:
            while b"\n" not in self.ctl_buf:
                chunk = self.ctl.recv(65536)
                if not chunk:
                    return replies + [None] * (len(lines) - len(replies))
                self.ctl_buf += chunk
            reply, self.ctl_buf = self.ctl_buf.split(b"\n", 1)
            replies.append(reply.decode())
        return replies

    def stats(self):
        reply = self.control("stats")
        assert reply.startswith("ok "), reply
        return json.loads(reply[3:])

    def stop(self):
        try:
            self.control("quit")
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for f in (self.fd,):
            try:
                os.close(f)
            except OSError:
                pass
        self.ctl.close()
        return self.proc.returncode


# ---- reference trace replay ----------------------------------------------------------

HEXLINE = re.compile(r"^    ((?:[0-9a-f]{2,16} ?){1,2})\s*\|")


def parse_trace(path):
    """[('cmd', name), ('w', bytes), ('r', bytes)] from an esptool --trace log."""
    events = []
    lines = open(path).read().split("\n")
    i = 0

    def hexblock(j):
        out = ""
        while j < len(lines):
            m = HEXLINE.match(lines[j])
            if not m:
                break
            out += m.group(1).replace(" ", "")
            j += 1
        return out, j

    while i < len(lines):
        line = lines[i]
        m = re.search(r"--- Cmd (\S+) \(0x", line)
        if m:
            events.append(("cmd", m.group(1)))
            i += 1
            continue
        m = re.search(r"(Write \d+ bytes|Received full packet):\s*([0-9a-f]*)\s*$", line)
        if m:
            h = m.group(2)
            if h:
                i += 1
            else:
                h, i = hexblock(i + 1)
            events.append(("w" if m.group(1).startswith("Write") else "r", bytes.fromhex(h)))
            continue
        i += 1
    return events


def replay(sim, name, lenient_leftover=False):
    """Sends every request of a trace and compares every reply byte for byte.
    With lenient_leftover, the two stale status bytes of ROM replies may differ
    until the first MD5 reply: they depend on what ran before the trace."""
    print(f"replay {name}", flush=True)
    path = os.path.join(TRACES, name)
    events = parse_trace(path)
    cmd = "?"
    mismatches = 0
    replies = 0
    begins = 0
    for kind, data in events:
        if kind == "cmd":
            cmd = data
            if cmd in ("FLASH_BEGIN", "FLASH_DEFL_BEGIN"):
                begins += 1
            continue
        if kind == "w":
            sim.send(data)
            continue
        got = sim.read_frame()
        replies += 1
        ok = got == data
        if not ok and lenient_leftover and got and len(got) == len(data) and got[:-2] == data[:-2]:
            ok = True
        if got and got[:2] == b"\x01\x13" and got == data:
            lenient_leftover = False
        if not ok:
            mismatches += 1
            if mismatches <= 5:
                print(f"  {name}: {cmd}: got {got.hex() if got else None}\n"
                      f"  {' ' * len(name)}  {' ' * len(cmd)}  expected {data.hex()}")
        if got is None:
            break
    check(mismatches == 0, f"replay {name}: {mismatches} of {replies} replies differ")
    return begins


def md5_file_range(path, offset, length):
    with open(path, "rb") as f:
        f.seek(offset)
        return hashlib.md5(f.read(length)).hexdigest()


def expected_app_sha256(path):
    """The README's rule, implemented independently of the simulator."""
    data = open(path, "rb").read()
    offset, size = 0x10000, len(data) - 0x10000
    apps = []
    for e in range(0x8000, 0x8000 + 0xC00, 32):
        magic, ptype, subtype, poff, psize = struct.unpack_from("<HBBII", data, e)
        if magic != 0x50AA:
            break
        if ptype == 0:
            apps.append((subtype, poff, psize))
    if apps:
        factory = [a for a in apps if a[0] == 0]
        _, offset, size = (factory or apps)[0]
        size = min(size, len(data) - offset)
    img = data[offset:offset + size]
    length = None
    if img[:1] == b"\xe9" and 0 < img[1] <= 16:
        pos = 24
        for _ in range(img[1]):
            seg_len = struct.unpack_from("<I", img, pos + 4)[0]
            pos += 8 + seg_len
        pos = (pos + 1 + 15) // 16 * 16
        if img[23] == 1:
            pos += 32
        if pos <= size:
            length = pos
    if length is None:
        length = len(img.rstrip(b"\xff"))
    return hashlib.sha256(img[:length]).hexdigest()


# ---- tests -----------------------------------------------------------------------------

def test_replay_esp32(binary, work):
    check(os.path.isdir(TRACES), f"reference traces present at {TRACES}")
    # A fresh ESP32: identification and the flash-id register dance.
    sim = Sim(binary, work, "esp32", args=["--boot=download", *EMULATOR_REGS])
    sim.drain()
    replay(sim, "esp32-rom-chip-id.trace.txt")
    replay(sim, "esp32-rom-flash-id.trace.txt")
    check(sim.stop() == 0, "esp32 sim exits 0")

    # The ROM write/verify chain, in the order the emulator ran it: the stale
    # status bytes carry over from one run to the next exactly as traced.
    flash = os.path.join(work, "flash-esp32-rom.bin")
    sim = Sim(binary, work, "esp32", flash=flash, args=["--boot=download", *EMULATOR_REGS])
    sim.drain()
    # The traced run started after a READ_FLASH_SLOW of erased flash had left
    # 0xFF in the ROM's reply buffer ("...0000ffff") and READ in SPI_USR2.
    r = sim.request(0x0E, struct.pack("<II", 0, 64))
    check(r == bytes.fromhex("010e440000000000") + b"\xff" * 64 + b"\0" * 4, "READ_FLASH_SLOW of erased flash")
    begins = replay(sim, "esp32-rom-write-flash.trace.txt")
    begins += replay(sim, "esp32-rom-verify-flash.trace.txt")
    begins += replay(sim, "esp32-rom-write-flash-compressed.trace.txt")
    begins += replay(sim, "esp32-rom-read-flash-slow.trace.txt")
    check(sim.stats()["flash_begins"] == begins, f"stats flash_begins counts {begins} begins")
    check(md5_file_range(flash, 0x1000, 0x4000) == "15dd728d5e70984d3a72cc64f38df192",
          "flash file holds the bootloader at 0x1000")
    check(md5_file_range(flash, 0x8000, 0xC00) == "22a0a82f9653dfab428bf73748de1930",
          "flash file holds the partition table at 0x8000")
    check(md5_file_range(flash, 0x10000, 0x10000) == "00bd0400fda9cb266fd73e3702d293f9",
          "flash file holds the app at 0x10000")
    check(md5_file_range(flash, 0x30000, 0x10000) == "5b14e4b7e0bc72451959b4d720426df8",
          "flash file holds the inflated data at 0x30000")
    sim.stop()

    # The compressed-write spill of the ESP32 ROM: esptool writes a partition
    # table, 32 KiB at 0x40000 (fills the ROM's inflate buffer) and a 26 KiB
    # bootloader at 0x1000, whose completion programs the rest of the buffer
    # over 0x7800..0x8fff. Every write verifies; the later verify-flash of the
    # partition table fails, and the read-back shows the stale bytes.
    flash = os.path.join(work, "flash-esp32-spill.bin")
    sim = Sim(binary, work, "esp32", flash=flash, args=["--boot=download", *EMULATOR_REGS])
    sim.drain()
    # The traced chip had run esptool before, which had left SPI_USR at 0.
    r = sim.request(0x09, struct.pack("<IIII", 0x3FF4201C, 0, 0xFFFFFFFF, 0))
    check(r is not None and r[:2] == b"\x01\x09", "WRITE_REG SPI_USR answered")
    replay(sim, "esp32-rom-write-flash-compressed-spill.trace.txt", lenient_leftover=True)
    replay(sim, "esp32-rom-read-flash-after-spill.trace.txt")
    check(md5_file_range(flash, 0x48000, 0x8000) == md5_file_range(flash, 0x40000, 0x8000),
          "the 32 KiB stream at 0x40000 is programmed a second time at 0x48000")
    with open(flash, "rb") as f:
        f.seek(0x7800)
        spill = f.read(0x800)
    check(spill.startswith(b"7f8|STALE-06804|"), f"0x7800 holds the stale buffer: {spill[:16]!r}")
    sim.stop()

    # esptool 5.3 --no-stub asking for 460800 / 921600 on the emulated chip:
    # it reads RTCCALICFG1 and eFuse word 4, computes 0 from the unprogrammed
    # eFuse, sends CHANGE_BAUDRATE(0, 0) and the ROM never answers again.
    for name in ("esp32-rom-change-baud-460800-read-mac.trace.txt",
                 "esp32-rom-change-baud-921600-write.trace.txt"):
        sim = Sim(binary, work, "esp32", args=["--boot=download", *EMULATOR_REGS])
        sim.drain()
        replay(sim, name, lenient_leftover=True)
        check(sim.read_frame(0.3) is None, f"{name}: no answer to CHANGE_BAUDRATE(0, 0)")
        check(sim.request(0x08, SYNC_FRAME[8:], timeout=0.3) is None, f"{name}: nor to a SYNC after it")
        sim.stop()

    # The same on a chip with silicon's calibration (the default): esptool's
    # scaled argument makes the UART run within tolerance of 921600, and the
    # link works at the new rate; stats names the host rate that fits.
    sim = Sim(binary, work, "esp32", args=["--boot=download"])
    sim.drain()

    def read_reg(addr):
        r = sim.request(0x0A, struct.pack("<I", addr))
        return struct.unpack_from("<I", r, 4)[0]
    cali, efuse = read_reg(0x3FF5F06C), read_reg(0x3FF5A010)
    measured = ((cali >> 7) & 0x1FFFFFF) * 15625 * (efuse & 0xFF) // 40
    valid = 40000000 if measured > 33000000 else 26000000
    arg = int(921600 * measured // valid)
    check(cali != 0 and efuse & 0xFF != 0 and abs(arg - 921600) < 921600 * 0.1,
          f"calibration registers 0x{cali:08x} 0x{efuse:08x} give an argument near 921600: {arg}")
    r = sim.request(0x0F, struct.pack("<II", arg, 0))
    check(r is not None and r[8:10] == b"\0\0", "CHANGE_BAUDRATE(scaled 921600) answered")
    st = sim.stats()
    check(st["baud"] == 921600 and abs(st["uart_rate"] - 921600) < 921600 * 0.005,
          f"the UART runs at {st['uart_rate']}, i.e. 921600 baud")
    r = sim.request(0x08, SYNC_FRAME[8:])
    check(r == bytes.fromhex("010804000707122000000000"), "SYNC at the new rate")
    sim.stop()
    sim = Sim(binary, work, "esp32", args=["--boot=download"])
    sim.drain()
    r = sim.request(0x0F, struct.pack("<II", 921600, 0))
    st = sim.stats()
    check(r is not None and st["baud"] != 921600 and st["uart_rate"] > 921600 * 1.025,
          f"unscaled CHANGE_BAUDRATE(921600): the UART runs at {st['uart_rate']}, out of tolerance")
    sim.stop()

    # The stub chains: upload, write, verify; then a fresh chip that uploads the
    # stub, switches to 921600, reads flash back, and a run that finds the stub
    # still running and erases a region.
    flash = os.path.join(work, "flash-esp32-stub.bin")
    sim = Sim(binary, work, "esp32", flash=flash, args=["--boot=download", *EMULATOR_REGS])
    sim.drain()
    replay(sim, "esp32-stub-write-flash.trace.txt")
    replay(sim, "esp32-stub-verify-flash.trace.txt")
    check(sim.stats()["state"] == "stub", "stats state is stub after the stub runs")
    sim.stop()
    sim = Sim(binary, work, "esp32", flash=flash, args=["--boot=download", *EMULATOR_REGS])
    sim.drain()
    # That run read back flash the traced chip already held: put it there.
    events = parse_trace(os.path.join(TRACES, "esp32-stub-change-baud-read-flash.trace.txt"))
    i = events.index(("cmd", "READ_FLASH"))
    held = [d for k, d in events[i:] if k == "r"][1]
    check(sim.control(f"external-write 0x10000 {held.hex()}") == "ok", "external-write of 4 KiB")
    replay(sim, "esp32-stub-change-baud-read-flash.trace.txt")
    check(sim.stats()["baud"] == 921600, "the stub switched the UART to 921600")
    replay(sim, "esp32-stub-erase-region.trace.txt")
    check(md5_file_range(flash, 0x200000, 0x1000) == hashlib.md5(b"\xff" * 0x1000).hexdigest(),
          "ERASE_REGION erased the flash file")
    sim.stop()
    return os.path.join(work, "flash-esp32-rom.bin")


def test_replay_esp32c3(binary, work):
    flash = os.path.join(work, "flash-c3-rom.bin")
    sim = Sim(binary, work, "esp32c3", flash=flash, args=["--boot=download"])
    sim.drain()
    replay(sim, "esp32c3-rom-write-flash.trace.txt")
    replay(sim, "esp32c3-rom-verify-flash.trace.txt")
    replay(sim, "esp32c3-rom-chip-id.trace.txt")
    sim.stop()
    flash = os.path.join(work, "flash-c3-stub.bin")
    sim = Sim(binary, work, "esp32c3", flash=flash, args=["--boot=download"])
    sim.drain()
    replay(sim, "esp32c3-stub-write-flash.trace.txt")
    replay(sim, "esp32c3-stub-verify-flash.trace.txt")
    check(md5_file_range(flash, 0x0, 0x4000) == "15dd728d5e70984d3a72cc64f38df192",
          "C3 flash file holds the bootloader at 0x0")
    sim.stop()


ESP32_DOWNLOAD_BANNER = (b"ets Jul 29 2019 12:21:46\r\n\r\n"
                         b"rst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\n"
                         b"waiting for download\r\n")


def test_boot_model_uart(binary, work, flash):
    sim = Sim(binary, work, "esp32", flash=flash, args=["--app-interval=50"])
    sim.drain()

    # esptool's classic reset, both lines at once: EN low, then EN high with
    # IO0 low, then release.
    check(sim.control("signals 0 1") == "ok", "signals answers ok")
    check(sim.stats()["state"] == "reset", "RTS alone holds the chip in reset")
    check(sim.control("panic 0x400d1234") == "err no application runs", "no panic without an application")
    sim.drain()     # what the app printed before the reset
    sim.control("signals 1 0")
    time.sleep(0.05)
    sim.control("signals 0 0")
    banner = sim.read_until(b"waiting for download\r\n")
    check(banner == ESP32_DOWNLOAD_BANNER, f"download banner: {banner!r}")
    check(sim.request(0x08, SYNC_FRAME[8:]) == bytes.fromhex("010804000707122000000000"),
          "SYNC answered after the reset into download mode")
    for _ in range(7):
        sim.read_frame()

    # The same with one line at a time, as esptool's setDTR/setRTS do it: the
    # EN delay lets IO0 follow a moment after EN rises.
    sim.control("dtr 0")
    sim.control("rts 1")
    time.sleep(0.01)        # esptool holds EN low 100 ms here
    # EN rises with `dtr 1` and the strapping is latched about 15 ms later: the
    # two go in one write, as esptool's back-to-back calls reach a real bridge
    # well inside that, however late this process runs.
    sim.controls(["dtr 1", "rts 0"])
    time.sleep(0.05)
    sim.control("dtr 0")
    check(sim.read_until(b"waiting for download\r\n") is not None, "download mode via single-line changes")

    # A plain reset boots the application, which names its image's SHA-256.
    # (EN must stay low long enough for the capacitor on it to discharge.)
    sim.control("rts 1")
    time.sleep(0.005)
    sim.control("rts 0")
    text = sim.read_until(b"app running sha256=")
    check(text is not None and b"rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)" in text,
          "app boot banner")
    line = sim.read_until(b"\r\n")
    want = expected_app_sha256(flash)
    check(line is not None and line[:-2].decode() == want, f"app line names sha256 {want}: {line!r}")
    check(sim.read_until(b"app running sha256=" + want.encode() + b"\r\n", 2) is not None,
          "app line repeats every --app-interval")
    st = sim.stats()
    check(st["state"] == "app" and st["app_sha256"] == want, "stats shows app state and sha256")
    check(st["boots"] >= 4, f"boots counted: {st['boots']}")

    # A crash on request (issue 15's decoder tests): ESP-IDF's Xtensa backtrace.
    check(sim.control("panic 0x400d1234 0x400d5678") == "ok", "panic answers ok in the app")
    text = sim.read_until(b"\r\n\r\nELF file SHA256: ")
    check(text is not None and b"Guru Meditation Error: Core  0 panic'ed" in text and
          b"Backtrace: 0x400d1234:0x3ffb1230 0x400d5678:0x3ffb1250\r\n" in text, f"Xtensa panic: {text!r}")
    check(sim.control("panic nope").startswith("err"), "panic refuses a bad address")

    # What the monitor received is exactly what the log says the chip sent.
    sim.drain(0.1)
    sim.stop()
    sent = b"".join(bytes.fromhex(e["hex"]) for e in map(json.loads, open(sim.log_path))
                    if e["event"] == "tx" and not e.get("lost"))
    check(ESP32_DOWNLOAD_BANNER in sent and want.encode() in sent, "log records the bytes sent")


def sim_events(sim):
    with open(sim.log_path) as f:
        return [json.loads(line) for line in f if line.endswith("\n")]


def io0_hold_after_en_rise(events):
    """Seconds from EN's last rise to IO0's release after it, by the chip's clock."""
    rise = release = None
    for e in events:
        if e["event"] == "signals":
            if e["en"] and not e["io0"] and rise is None:
                rise = e["t"]
            elif e["en"] and e["io0"] and rise is not None:
                release = e["t"]
                break
    if rise is None or release is None:
        return float("inf")
    return release - rise


def test_boot_model_en_rc(binary, work, flash):
    """The EN pin's RC (sim-en.h): holds that are too short fail as on a chip."""
    # A 10 µF board latches IO0 about 140 ms after EN rises: esptool's 50 ms
    # IO0 hold boots the application, its 550 ms retry reaches the loader.
    sim = Sim(binary, work, "esp32", flash=flash, args=["--en-capacitor=10000"])
    sim.drain()
    # The hold that counts is the one the chip saw (its log's clock): on a
    # loaded machine the 50 ms sleep may last past the latch, which is another
    # case (the 550 ms one below), so such a try is made again.
    for _ in range(10):
        mark = len(sim_events(sim))
        sim.control("signals 0 1")
        time.sleep(0.01)
        sim.control("signals 1 0")
        time.sleep(0.05)
        sim.control("signals 0 0")
        text = sim.read_until_any((b"app running sha256=", b"waiting for download\r\n"))
        hold = io0_hold_after_en_rise(sim_events(sim)[mark:])
        if hold < 0.1:
            break
    check(hold < 0.1, f"no try held IO0 under 100 ms (the machine is too slow): {hold:.3f}s")
    check(text is not None and b"SPI_FAST_FLASH_BOOT" in text and b"waiting for download" not in text,
          f"a {hold * 1000:.0f} ms IO0 hold on a 10 uF board boots the app: {text!r}")
    sim.control("signals 0 1")
    time.sleep(0.01)
    sim.control("signals 1 0")
    time.sleep(0.55)
    sim.control("signals 0 0")
    check(sim.read_until(b"waiting for download\r\n") is not None, "a 550 ms IO0 hold reaches the loader")
    sim.stop()

    # A pulse shorter than the discharge does not reset the chip: it goes on
    # running (an exaggerated capacitor so that the pulse is short for sure).
    sim = Sim(binary, work, "esp32", flash=flash, args=["--en-capacitor=1000000", "--boot=download"])
    sim.drain()
    boots = sim.stats()["boots"]
    # Both lines in one write: the chip takes them at the same instant, however
    # late this process runs.
    check(sim.controls(["signals 0 1", "signals 0 0"]) == ["ok", "ok"], "the pulse is taken")
    st = sim.stats()
    check(any(e["event"] == "en-pulse-too-short" for e in sim_events(sim)), "the chip saw a short pulse")
    check(st["state"] == "download" and st["boots"] == boots, f"a short EN pulse leaves the chip alone: {st}")
    check(sim.request(0x08, SYNC_FRAME[8:]) == bytes.fromhex("010804000707122000000000"),
          "the loader still answers after the short pulse")
    sim.stop()


def test_boot_model_usb_jtag(binary, work):
    sim = Sim(binary, work, "esp32c3", args=["--console=usb-jtag", "--app-interval=50"])
    sim.drain()
    # esptool's USBJTAGSerialReset, line by line.
    for line in ("rts 0", "dtr 0", "dtr 1", "rts 0", "rts 1", "dtr 0", "rts 1"):
        sim.control(line)
    banner = sim.read_until(b"waiting for download\r\n") or b""
    # The app may have printed a line before the reset; the banner follows it.
    banner = banner[banner.rfind(b"ESP-ROM"):]
    check(banner == b"ESP-ROM:esp32c3-api1-20210207\r\nBuild:Feb  7 2021\r\n"
                    b"rst:0x15 (USB_UART_CHIP_RESET),boot:0x5 (DOWNLOAD(USB/UART0/1))\r\n"
                    b"Saved PC:0x400462e2\r\nwaiting for download\r\n", f"USB-JTAG download banner: {banner!r}")
    sim.control("rts 0")
    sim.control("dtr 0")
    check(sim.stats()["state"] == "download", "clearing the lines does not reset over USB-Serial-JTAG")
    # UARTDEV_BUF_NO tells hosts the console is USB-Serial-JTAG (3 on the C3).
    check(sim.request(0x0A, struct.pack("<I", 0x3FCDF07C)) == bytes.fromhex("010a04000300000000000000"),
          "UARTDEV_BUF_NO reads USB-Serial-JTAG")
    # Hard reset: RTS alone, download flag clear.
    sim.control("rts 1")
    sim.control("rts 0")
    check(sim.read_until(b"app running sha256=") is not None, "hard reset over USB-Serial-JTAG boots the app")
    # A crash on request: ESP-IDF's RISC-V register dump, MEPC and RA.
    check(sim.control("panic 0x42000010 0x42000020") == "ok", "panic answers ok in the app")
    text = sim.read_until(b"MHARTID")
    check(text is not None and b"MEPC    : 0x42000010  RA      : 0x42000020" in text, f"RISC-V panic: {text!r}")
    sim.stop()


def test_deflate_md5_and_external_write(binary, work):
    """FLASH_DEFL_* and SPI_FLASH_MD5 on an ESP32-C3 ROM with our own data, then
    a write behind the host's back that the next MD5 sees."""
    sim = Sim(binary, work, "esp32c3", args=["--boot=download"])
    sim.drain()
    payload = bytes((i * 7 + (i >> 8)) & 0xFF for i in range(0x3000)) + b"\x00" * 0x1000
    comp = zlib.compress(payload, 9)
    block = 0x400
    blocks = (len(comp) + block - 1) // block
    ok = sim.request(0x0D, b"\x00" * 8) == bytes.fromhex("010d04000000000000000000")
    r = sim.request(0x10, struct.pack("<IIIII", blocks * block, blocks, block, 0x20000, 0))
    ok = ok and r == bytes.fromhex("011004000000000000000000")
    for seq in range(blocks):
        chunk = comp[seq * block:(seq + 1) * block]
        r = sim.request(0x11, struct.pack("<IIII", len(chunk), seq, 0, 0) + chunk, data_checksum(chunk))
        ok = ok and r == bytes.fromhex("011104000000000000000000")
    check(ok, "FLASH_DEFL_BEGIN/DATA accepted")
    r = sim.request(0x13, struct.pack("<IIII", 0x20000, len(payload), 0, 0))
    md5 = hashlib.md5(payload).hexdigest().encode()
    check(r == bytes.fromhex("0113240000000000") + md5 + b"\x00\x00\x00\x00",
          "ROM SPI_FLASH_MD5 is 32 hex characters of the inflated data")
    # The hex digest's characters 2-3 now stand in the stale status bytes.
    r = sim.request(0x12, struct.pack("<I", 1))
    check(r == bytes.fromhex("011204000000000000") + b"\x00" + md5[2:4], "FLASH_DEFL_END(1), stale bytes")
    with open(sim.flash, "rb") as f:
        f.seek(0x20000)
        check(f.read(len(payload)) == payload, "flash file matches the inflated data")

    check(sim.control("external-write 0x20000 deadbeef") == "ok", "external-write answers ok")
    changed = b"\xde\xad\xbe\xef" + payload[4:]
    r = sim.request(0x13, struct.pack("<IIII", 0x20000, len(payload), 0, 0))
    check(r[8:40] == hashlib.md5(changed).hexdigest().encode(), "MD5 sees the external write")
    check(sim.control("external-write 0x20000 xyz").startswith("err"), "bad hex is rejected")
    check(sim.control("bogus").startswith("err"), "unknown command answers err")
    check(sim.control("fault melt=1").startswith("err"), "bad fault spec answers err")

    # A bad checksum and a wrong sequence number, as the ROM answers them.
    sim.request(0x02, struct.pack("<IIIII", 0x1000, 1, 0x400, 0x100000, 0))
    r = sim.request(0x03, struct.pack("<IIII", 0x400, 0, 0, 0) + b"\x11" * 0x400, 0x00)
    check(r[-4:-2] == b"\x01\x07", "bad data checksum answers 0x01 0x07")
    r = sim.request(0x03, struct.pack("<IIII", 0x400, 5, 0, 0) + b"\x11" * 0x400, data_checksum(b"\x11" * 0x400))
    check(r[-4:-2] == b"\x01\x05", "wrong sequence answers 0x01 0x05")
    sim.stop()


def test_flash_end(binary, work):
    """trace *-rom-flash-end-probe: FLASH_END(0) reboots into download mode,
    FLASH_END(1) leaves the loader; FLASH_DEFL_END(1) stays."""
    sim = Sim(binary, work, "esp32", args=["--boot=download"])
    sim.drain()
    check(sim.request(0x02, b"\0" * 12 + struct.pack("<I", 0)) == bytes.fromhex("010204000000000000000000"),
          "FLASH_BEGIN size 0")
    check(sim.request(0x04, struct.pack("<I", 0)) == bytes.fromhex("010404000000000000000000"), "FLASH_END(0)")
    text = sim.read_until(b"waiting for download\r\n")
    check(text == b"\xc0\xc0ets Jul 29 2019 12:21:46\r\n\r\nrst:0x3 (SW_RESET),"
                  b"boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\nwaiting for download\r\n",
          f"software reset banner: {text!r}")
    check(sim.request(0x08, SYNC_FRAME[8:]) == bytes.fromhex("010804000707122000000000"), "SYNC after FLASH_END(0)")
    for _ in range(7):
        sim.read_frame()
    sim.request(0x10, b"\0" * 12 + struct.pack("<I", 0))
    sim.request(0x12, struct.pack("<I", 1))
    check(sim.request(0x08, SYNC_FRAME[8:]) is not None, "FLASH_DEFL_END(1) stays in the loader")
    for _ in range(7):
        sim.read_frame()
    # Nothing bootable in flash: the ESP32 falls into its command interpreter,
    # which echoes (trace: the SYNC comes back as 08 20 08 24 07 07 12 20 55...).
    sim.request(0x02, b"\0" * 12 + struct.pack("<I", 0))
    sim.request(0x04, struct.pack("<I", 1))
    text = sim.read_until(b"OK\r\n>")
    check(text == b"flash read err, 631\r\nFalling back to built-in command interpreter.\r\nOK\r\n>",
          f"FLASH_END(1) text: {text!r}")
    sim.send(slip_encode(SYNC_FRAME))
    check(sim.read_frame() == bytes.fromhex("0820082407071220") + b"\x55" * 32, "the interpreter echoes")
    check(sim.stats()["state"] == "console", "stats state is console")
    sim.stop()

    sim = Sim(binary, work, "esp32c3", args=["--boot=download"])
    sim.drain()
    sim.request(0x02, b"\0" * 12 + struct.pack("<II", 0, 0))
    sim.request(0x04, struct.pack("<I", 1))
    check(sim.read_until(b"user code done\r\n") == b"user code done\r\n", "C3 FLASH_END(1) prints user code done")
    sim.send(slip_encode(SYNC_FRAME))
    check(sim.read_frame(0.5) is None, "after FLASH_END(1) the C3 answers nothing")
    check(sim.stats()["state"] == "halted", "stats state is halted")
    sim.stop()


def port_hung_up(fd):
    """What a host sees when the device is gone: POLLHUP, EOF on read, EIO on write."""
    p = select.poll()
    p.register(fd, select.POLLIN)
    hup = any(ev & select.POLLHUP for _, ev in p.poll(1000))
    try:
        eof = os.read(fd, 100) == b""
    except OSError:
        eof = True
    try:
        os.write(fd, b"\xc0")
        eio = False
    except OSError as e:
        eio = e.errno == 5
    return hup and eof and eio


def test_faults(binary, work):
    # Every byte dropped: SYNC goes unanswered.
    sim = Sim(binary, work, "esp32", args=["--boot=download", "--fault=drop=1"])
    sim.drain()
    sim.send(slip_encode(SYNC_FRAME))
    check(sim.read_frame(0.3) is None, "drop=1 loses the request")
    check(sim.stats()["dropped"] == len(slip_encode(SYNC_FRAME)), "dropped bytes counted")
    sim.stop()

    # Corruption breaks the frame; a runtime stall delays the answer.
    sim = Sim(binary, work, "esp32", args=["--boot=download", "--seed=3"])
    sim.drain()
    check(sim.control("fault corrupt=1") == "ok", "fault command answers ok")
    sim.send(slip_encode(command(0x0A, struct.pack("<I", 0x40001000))))
    got = sim.read_frame(0.3)
    check(got is None or got != bytes.fromhex("010a0400831df00000000000"), "corrupt=1 spoils the request")
    sim.stop()

    sim = Sim(binary, work, "esp32", args=["--boot=download", "--fault=stall=300@0"])
    sim.drain()
    t0 = time.monotonic()
    r = sim.request(0x0A, struct.pack("<I", 0x40001000))
    dt = time.monotonic() - t0
    check(r == bytes.fromhex("010a0400831df00000000000") and dt >= 0.29, f"stall=300@0 delays by {dt:.3f}s")
    sim.stop()

    # One flipped byte inside a compressed block: the ROM's own reaction
    # (trace esp32-rom-defl-error-probe): 0x07, the expected sequence number
    # advances anyway, the resend gets 0x05, the stream lacks a block and its
    # last block gets 0x0b, nothing reaches flash; a fresh FLASH_DEFL_BEGIN and
    # a full resend recover.
    flash = os.path.join(work, "flash-esp32-flip.bin")
    sim = Sim(binary, work, "esp32", flash=flash, args=["--boot=download"])
    sim.drain()
    data = random.Random(5).randbytes(0x2000)
    z = zlib.compress(data, 9)
    blocks = [z[i:i + 0x400] for i in range(0, len(z), 0x400)]
    begin = struct.pack("<IIII", 0x2000, len(blocks), 0x400, 0x10000)

    def block_frame(seq):
        b = blocks[seq]
        return slip_encode(command(0x11, struct.pack("<IIII", len(b), seq, 0, 0) + b, data_checksum(b)))

    def status(r):
        return r[8:10].hex() if r else None

    check(status(sim.request(0x10, begin)) == "0000", "FLASH_DEFL_BEGIN")
    sim.send(block_frame(0))
    check(status(sim.read_frame()) == "0000", "block 0")
    enc = block_frame(1)
    pos = next(i for i in range(30, len(enc)) if enc[i] < 0x40)
    check(sim.control(f"fault flip={sim.stats()['rx_bytes'] + pos}") == "ok", "fault flip=BYTE answers ok")
    sim.send(enc)
    check(status(sim.read_frame()) == "0107", "a flipped data byte gets a checksum error")
    check(sim.stats()["corrupted"] == 1, "one byte corrupted")
    sim.send(enc)
    check(status(sim.read_frame()) == "0105", "resending that block: the ROM expects the next one")
    statuses = []
    for seq in range(2, len(blocks)):
        sim.send(block_frame(seq))
        statuses.append(status(sim.read_frame()))
    check(statuses[-1] == "010b" and all(s[:2] == "00" for s in statuses[:-1]),
          f"the stream goes on until its last block fails to inflate: {statuses}")
    check(md5_file_range(flash, 0x10000, 0x2000) == hashlib.md5(b"\xff" * 0x2000).hexdigest(),
          "nothing of the broken stream reached flash")
    # (its reply carries the 0x0b: nothing has cleared it)
    check(status(sim.request(0x10, begin)) == "000b", "a fresh FLASH_DEFL_BEGIN")
    statuses = []
    for seq in range(len(blocks)):
        sim.send(block_frame(seq))
        statuses.append(status(sim.read_frame()))
    check(all(s[:2] == "00" for s in statuses), f"the full resend is accepted: {statuses}")
    check(md5_file_range(flash, 0x10000, 0x2000) == hashlib.md5(data).hexdigest(), "and reaches flash")
    sim.stop()

    # block-corrupt=1: every flash data block arrives with one bit flipped, so
    # the ROM refuses it as a checksum error; other commands are untouched.
    sim = Sim(binary, work, "esp32", args=["--boot=download", "--fault=block-corrupt=1"])
    sim.drain()
    check(status(sim.request(0x0A, struct.pack("<I", 0x40001000))) == "0000", "block-corrupt spares READ_REG")
    check(status(sim.request(0x02, struct.pack("<IIII", 0x1000, 1, 0x400, 0x100000)))[:2] == "00",
          "block-corrupt spares FLASH_BEGIN")
    good = b"\x11" * 0x400
    r = sim.request(0x03, struct.pack("<IIII", 0x400, 0, 0, 0) + good, data_checksum(good))
    check(status(r) == "0107", f"block-corrupt=1: a good block arrives with a bad checksum ({status(r)})")
    check(sim.stats()["corrupted_blocks"] == 1, "the damaged block is counted")
    sim.stop()

    # loss-above=BAUD:1: lossless at 115200, every byte lost once the UART runs faster.
    sim = Sim(binary, work, "esp32c3", args=["--boot=download", "--fault=loss-above=115200:1"])
    sim.drain()
    check(status(sim.request(0x0A, struct.pack("<I", 0x40001000))) == "0000", "loss-above: clean at 115200")
    check(status(sim.request(0x0F, struct.pack("<II", 921600, 0))) == "0000", "CHANGE_BAUDRATE(921600)")
    time.sleep(0.05)
    check(sim.stats()["baud"] == 921600 and sim.stats()["dropped"] == 0, "at 921600, nothing lost yet")
    sim.send(slip_encode(command(0x0A, struct.pack("<I", 0x40001000))))
    check(sim.read_frame(0.3) is None, "loss-above: the request at 921600 is lost")
    check(sim.stats()["dropped"] > 0, "the lost bytes are counted")
    sim.stop()

    # Vanishing at a byte count: the host sees the port hang up.
    sim = Sim(binary, work, "esp32", args=["--boot=download", "--fault=vanish=20"])
    sim.drain()
    os.write(sim.fd, slip_encode(SYNC_FRAME))
    deadline = time.monotonic() + 30
    while sim.stats()["state"] != "gone" and time.monotonic() < deadline:
        time.sleep(0.02)
    check(sim.stats()["state"] == "gone", "stats state is gone")
    check(port_hung_up(sim.fd), "vanish=20 hangs up the port (POLLHUP, EOF, EIO)")
    check(not os.path.exists(sim.tty_path), "the pty link disappears")
    sim.stop()

    sim = Sim(binary, work, "esp32", args=["--boot=download"])
    sim.drain()
    check(sim.control("vanish") == "ok", "vanish answers ok")
    check(port_hung_up(sim.fd), "vanish hangs up the port")
    sim.stop()


def test_real_timing(binary, work):
    sim = Sim(binary, work, "esp32", args=["--boot=download", "--timing=real"])
    sim.drain(0.2)
    # 46 bytes in (4.0 ms) + 1 ms turnaround + 8 replies of 14 bytes (9.7 ms).
    # Never faster than the model; not much slower either, unless this machine
    # is loaded: a slow exchange is tried again (a few times at most).
    times = []
    for _ in range(5):
        t0 = time.monotonic()
        sim.send(slip_encode(SYNC_FRAME))
        frames = [sim.read_frame(30) for _ in range(8)]
        dt = time.monotonic() - t0
        check(all(f == bytes.fromhex("010804000707122000000000") for f in frames), "eight SYNC replies")
        check(dt >= 0.0145, f"SYNC exchange takes the modelled time at 115200 baud: {dt * 1000:.1f} ms")
        times.append(dt)
        if dt < 0.2:
            break
    check(min(times) < 0.2, f"a SYNC exchange in under 200 ms: {[round(t * 1000) for t in times]} ms")
    sim.stop()


def test_inherited_fds(binary, work):
    """How a test bed runs it: --fd=<pty master> and --control-fd=<socket>; the
    simulator exits when the control connection closes."""
    master, slave = os.openpty()
    tty.setraw(slave)
    ours, theirs = socket.socketpair()
    proc = subprocess.Popen([binary, "--chip=esp32", f"--flash={os.path.join(work, 'flash-fd.bin')}",
                             f"--fd={master}", f"--control-fd={theirs.fileno()}", "--boot=download",
                             "--timing=fast"], pass_fds=(master, theirs.fileno()), stdout=subprocess.PIPE)
    os.close(master)
    theirs.close()
    check(Sim._readline_with_timeout(proc.stdout, 10) == b"ready\n", "ready with inherited fds")
    os.write(slave, slip_encode(SYNC_FRAME))
    buf = b""
    deadline = time.monotonic() + 5
    while buf.count(b"\xc0") < 16 and time.monotonic() < deadline:
        r, _, _ = select.select([slave], [], [], 0.5)
        if r:
            buf += os.read(slave, 4096)
    check(buf.endswith(slip_encode(bytes.fromhex("010804000707122000000000")) * 8), "SYNC over --fd")
    ours.sendall(b"signals 0 1\n")
    check(ours.recv(100) == b"ok\n", "control over --control-fd")
    ours.close()
    try:
        check(proc.wait(timeout=5) == 0, "exits when the control connection closes")
    except subprocess.TimeoutExpired:
        proc.kill()
        check(False, "exits when the control connection closes")
    os.close(slave)

    sim = Sim(binary, work, "esp32")
    sim.proc.terminate()
    check(sim.proc.wait(timeout=5) == 0, "SIGTERM exits cleanly")
    check(not os.path.exists(sim.tty_path) and not os.path.exists(sim.ctl_path),
          "pty link and control socket removed on exit")
    os.close(sim.fd)
    sim.ctl.close()


def test_cli(binary):
    out = subprocess.run([binary, "--help"], capture_output=True, text=True)
    check(out.returncode == 0 and all(o in out.stdout for o in (
        "--chip", "--flash", "--flash-size", "--fd", "--pty", "--control", "--control-fd", "--console",
        "--boot", "--timing", "--log", "--seed", "--fault", "--reg", "--app-interval", "--version")), "--help lists every option")
    out = subprocess.run([binary, "--version"], capture_output=True, text=True)
    check(out.returncode == 0 and out.stdout.startswith("fbuild-esp-sim "), "--version")
    out = subprocess.run([binary, "--chip=esp8266", "--flash=/dev/null", "--pty=/tmp/x"], capture_output=True)
    check(out.returncode != 0, "unknown chip is rejected")


def main():
    import faulthandler
    faulthandler.dump_traceback_later(100, exit=True)
    binary = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="sim-e2e-") as work:
        test_cli(binary)
        flash = test_replay_esp32(binary, work)
        test_replay_esp32c3(binary, work)
        test_boot_model_uart(binary, work, flash)
        test_boot_model_en_rc(binary, work, flash)
        test_boot_model_usb_jtag(binary, work)
        test_deflate_md5_and_external_write(binary, work)
        test_flash_end(binary, work)
        test_faults(binary, work)
        test_inherited_fds(binary, work)
        test_real_timing(binary, work)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
