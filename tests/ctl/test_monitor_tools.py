# SPDX-License-Identifier: LGPL-2.1-or-later
"""The monitor's tools (issue 15): crash decoding with a real RV32 ELF from
Debian's cross compiler (gcc-riscv64-unknown-elf) and the panic the simulated
chip prints on request (its `panic` control command); --timestamps, --log,
--eol and --raw.
Run: umockdev-wrapper /usr/bin/python3 test_monitor_tools.py"""

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import time

import ctlharness
from ctlharness import EXIT_INVALID, EXIT_NO_DEVICE, EXIT_SUCCESS

# tests/integration has a test_monitor.py of its own, earlier on sys.path.
_spec = importlib.util.spec_from_file_location(
    "ctl_test_monitor", os.path.join(os.path.dirname(os.path.abspath(__file__)), "test_monitor.py"))
_ctl_test_monitor = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_ctl_test_monitor)
MonitorCase = _ctl_test_monitor.MonitorCase

CRASH_C = """\
void crash_here(void);
void app_main(void);

void crash_here(void)
{
        *(volatile int *) 0 = 1;
}

void app_main(void)
{
        crash_here();
        for (;;)
                ;
}
"""
CC = "riscv64-unknown-elf-gcc"
NM = "riscv64-unknown-elf-nm"


class ToolsCase(MonitorCase):

    def setUp(self):
        ctlharness.CtlTestCase.setUp(self)

    def popen_env(self, extra, *args):
        """popen() with extra environment variables."""
        env = self.ctl_env
        self.ctl_env = lambda *a, **kw: dict(env(*a, **kw), **extra)
        try:
            return self.popen(*args)
        finally:
            self.ctl_env = env

    def crash_elf(self):
        """A real RV32 ELF with debug info; returns (path, {symbol: address})."""
        for tool in (CC, NM, "riscv64-unknown-elf-addr2line"):
            self.assertIsNotNone(shutil.which(tool), f"{tool} missing: run tools/setup-deps")
        src = os.path.join(self.work, "crash.c")
        elf = os.path.join(self.work, "crash.elf")
        with open(src, "w") as f:
            f.write(CRASH_C)
        subprocess.run([CC, "-march=rv32imc", "-mabi=ilp32", "-g", "-O0", "-nostdlib", "-Wl,-e,app_main",
                        "-o", elf, src], check=True)
        syms = {}
        for line in subprocess.run([NM, elf], check=True, capture_output=True, text=True).stdout.splitlines():
            addr, _, name = line.split()
            syms[name] = int(addr, 16)
        return elf, syms

    def board_with_app(self, chip, seed, kind="uart"):
        self.dev = self.add_board(chip, kind)
        self.start(trust_default=True)
        img = self.image(chip=chip, app_seed=seed)
        self.ctl("-q", "deploy", *self.pairs(img), expect=EXIT_SUCCESS)
        self.wait_booted()
        return img


class CrashDecode(ToolsCase):

    def test_rv32_panic_decoded_with_elf(self):
        elf, syms = self.crash_elf()
        img = self.board_with_app("esp32c3", 81)
        resets = self.resets()
        proc = self.popen("monitor", "--elf", elf)
        self.wait_start_boot(proc, resets, self.app_of(img))
        mark = len(self.read_back(proc.out_file))
        self.dev.sim.panic(syms["crash_here"], syms["app_main"])
        m = self.wait_for(proc, proc.out_file, rb"MEPC    : 0x([0-9a-f]{8})  RA      : 0x([0-9a-f]{8})[^\n]*\n"
                          rb"(.*app_main at [^\n]*\n)", start=mark)
        self.assertEqual(int(m.group(1), 16), syms["crash_here"])
        decoded = m.group(3).decode()
        # One line per address, in order, each naming the function and its place in crash.c.
        self.assertRegex(decoded, r"^0x%08x: crash_here at .*crash\.c:[56]\n" % syms["crash_here"])
        self.assertRegex(decoded, r"\n0x%08x: app_main at .*crash\.c:1[01]\n$" % syms["app_main"])
        out, _ = self.stop(proc)
        self.assertEqual(out.count(b"crash_here at"), 1, "decoded once, after the register line")

    def test_without_the_tool_says_what_to_install(self):
        # With PATH holding no addr2line, the monitor says what to install, once.
        elf, syms = self.crash_elf()
        img = self.board_with_app("esp32c3", 82)
        bare = os.path.join(self.work, "bin")
        os.makedirs(bare)
        resets = self.resets()
        proc = self.popen_env({"PATH": bare}, "monitor", "--elf", elf)
        self.wait_start_boot(proc, resets, self.app_of(img))
        self.dev.sim.panic(syms["crash_here"], syms["app_main"])
        self.wait_for(proc, proc.out_file, rb"MEPC[^\n]*\n.*cannot decode the crash: install .*"
                      rb"binutils-riscv64-unknown-elf")
        self.dev.sim.panic(syms["crash_here"], syms["app_main"])
        self.wait_for(proc, proc.out_file, rb"MEPC.*MEPC")
        out, _ = self.stop(proc)
        self.assertEqual(out.count(b"cannot decode"), 1, "said once")
        self.assertNotIn(b"crash_here at", out)

    def test_xtensa_backtrace_line_is_found(self):
        # The esp32 sim prints Xtensa's "Backtrace: PC:SP …"; decoded with the
        # RV32 ELF's addr2line by way of a wrapper named as ESP-IDF's Xtensa tool
        # would be (the addresses are what is under test, not the architecture).
        elf, syms = self.crash_elf()
        img = self.board_with_app("esp32", 83)
        bindir = os.path.join(self.work, "xbin")
        os.makedirs(bindir)
        xelf = os.path.join(self.work, "xtensa.elf")
        with open(elf, "rb") as f:
            data = bytearray(f.read())
        data[18:20] = (94).to_bytes(2, "little")        # EM_XTENSA
        with open(xelf, "wb") as f:
            f.write(data)
        tool = os.path.join(bindir, "xtensa-esp32-elf-addr2line")
        with open(tool, "w") as f:
            # Called as TOOL -pfiaC -e ELF ADDR…: the same, on the RV32 original.
            f.write(f"#!/bin/sh\nshift 3\nexec riscv64-unknown-elf-addr2line -pfiaC -e '{elf}' \"$@\"\n")
        os.chmod(tool, 0o755)
        resets = self.resets()
        proc = self.popen_env({"PATH": bindir + ":" + os.environ.get("PATH", "/usr/bin")},
                              "monitor", "--elf", xelf)
        self.wait_start_boot(proc, resets, self.app_of(img))
        self.dev.sim.panic(syms["crash_here"], syms["app_main"])
        m = self.wait_for(proc, proc.out_file, rb"Backtrace: 0x([0-9a-f]{8}):0x[0-9a-f]{8} "
                          rb"0x([0-9a-f]{8}):0x[0-9a-f]{8}\r\n(.*app_main at [^\n]*\n)")
        self.assertEqual(int(m.group(2), 16), syms["app_main"])
        self.assertRegex(m.group(3).decode(), r"^0x%08x: crash_here at .*crash\.c:[56]\n" % syms["crash_here"])
        self.stop(proc)

    def test_deploy_monitor_decodes_with_the_builds_elf(self):
        elf, syms = self.crash_elf()
        self.dev = self.add_board("esp32c3", "uart")
        self.start()
        img = self.image(chip="esp32c3", app_seed=84)
        build = os.path.join(self.work, "build")
        os.makedirs(build)
        pairs = []
        for off, path in img.paths():
            if off == img.regions[2][0]:
                path = shutil.copy(path, os.path.join(build, "app.bin"))
                shutil.copy(elf, os.path.join(build, "app.elf"))
            pairs.append(f"{off:#x}={path}")
        proc = self.popen("-q", "deploy", "--monitor", *pairs)
        self.wait_for(proc, proc.out_file, rb"\[fbuild-deployd\] resumed.*" + re.escape(self.app_of(img)))
        self.dev.sim.panic(syms["crash_here"], syms["app_main"])
        self.wait_for(proc, proc.out_file, rb"MEPC[^\n]*\n0x[0-9a-f]{8}: crash_here at .*crash\.c:[56]\n")
        self.stop(proc, signal.SIGTERM)

    def test_elf_usage(self):
        self.start()
        p = self.ctl("monitor", "--elf", os.path.join(self.work, "nope.elf"), "/dev/ttyX", expect=EXIT_INVALID)
        self.assertIn("nope.elf", p.stderr)
        p = self.ctl("deploy", "--elf", "x.elf", "0x10000=/dev/null", expect=EXIT_INVALID)
        self.assertIn("only go with --monitor", p.stderr)


class ShowOptions(ToolsCase):

    def test_timestamps_and_log(self):
        img = self.board_with_app("esp32", 85)
        log = os.path.join(self.work, "mon.log")
        with open(log, "wb") as f:
            f.write(b"earlier\n")
        proc = self.popen("monitor", "--timestamps", "--log", log)
        self.wait_for(proc, proc.out_file, re.escape(self.app_of(img)))
        self.dev.sim.signals(False, True)
        time.sleep(0.05)        # a press lasts long enough to discharge EN (tests/sim/sim-en.h)
        self.dev.sim.signals(False, False)
        self.wait_for(proc, proc.out_file, rb"(ets |ESP-ROM:).*" + re.escape(self.app_of(img)))
        out, _ = self.stop(proc)
        lines = out.split(b"\n")
        stamp = re.compile(rb"^\[\d\d:\d\d:\d\d\.\d{3}\] ")
        self.assertGreater(len(lines), 10)
        for ln in lines[:-1]:
            self.assertRegex(ln, stamp, "every line stamped")
        # Without the stamps, the lines are the chip's own.
        self.assertIn(self.app_of(img), b"\n".join(stamp.sub(b"", ln) for ln in lines))
        with open(log, "rb") as f:
            logged = f.read()
        self.assertTrue(logged.startswith(b"earlier\n"), "appended")
        self.assertEqual(logged[len(b"earlier\n"):], out, "the log holds what was shown")

    def eol_sent(self, *args, data=b"a\rb\nc\r\nd"):
        r, w = os.pipe()
        proc = self.popen("monitor", "--write", *args, stdin=r)
        os.close(r)
        self.wait_for(proc, proc.err_file, rb"Monitoring")
        events = len(self.dev.sim.events())
        os.write(w, data)
        os.close(w)
        got = b""
        for _ in range(400):
            got = b"".join(bytes.fromhex(e["hex"]) for e in self.dev.sim.events()[events:]
                           if e.get("event") == "rx" and "hex" in e)
            if got.endswith(b"d"):
                break
            time.sleep(0.05)
        self.stop(proc, signal.SIGTERM)
        return got

    def test_eol_and_raw(self):
        self.board_with_app("esp32", 86)
        self.assertEqual(self.eol_sent("--eol", "CRLF"), b"a\r\nb\r\nc\r\nd")
        self.assertEqual(self.eol_sent("--eol", "LF"), b"a\nb\nc\nd")
        self.assertEqual(self.eol_sent("--eol", "cr"), b"a\rb\rc\rd")
        self.assertEqual(self.eol_sent("--raw"), b"a\rb\nc\r\nd")
        self.assertEqual(self.eol_sent(), b"a\rb\nc\r\nd", "as typed by default")

    def test_usage(self):
        self.start()
        p = self.ctl("monitor", "--eol", "NL", expect=EXIT_INVALID)
        self.assertIn("--eol", p.stderr)
        p = self.ctl("monitor", "--raw", "--timestamps", expect=EXIT_INVALID)
        self.assertIn("--raw", p.stderr)
        p = self.ctl("deploy", "--timestamps", "0x10000=/dev/null", expect=EXIT_INVALID)
        self.assertIn("only go with --monitor", p.stderr)
        p = self.ctl("monitor", "--help", expect=EXIT_SUCCESS)
        for opt in ("--elf", "--timestamps", "--log", "--eol", "--raw"):
            self.assertIn(opt, p.stdout)


class Keys(ToolsCase):
    """idf_monitor's keys on a terminal (a pty), fbuildctl reset, --no-reset."""

    def state(self):
        return self.dev.sim.stats()["state"]

    def wait_state(self, want, resets_before):
        deadline = time.monotonic() + 30
        while self.resets() <= resets_before or self.state() != want:
            self.assertLess(time.monotonic(), deadline, f"the board never got to {want} after a reset "
                            f"(state {self.state()})")
            time.sleep(0.02)

    def test_ctrl_t_keys_on_a_terminal(self):
        img = self.board_with_app("esp32", 91)
        master, proc, err, got, lock, t = self.monitor_on_pty(["monitor", "--no-reset"], "keys.err")

        def seen(pattern, start=0, timeout=30):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                with lock:
                    # The terminal's ONLCR makes the device's \r\n a \r\r\n: compare without \r.
                    if re.search(pattern, bytes(got[start:]).replace(b"\r", b""), re.S):
                        return
                time.sleep(0.02)
            self.fail(f"{pattern!r} not on the terminal: {bytes(got)[-500:]!r}\n"
                      f"stderr: {self.read_back(err)!r}")

        seen(re.escape(self.app_of(img)))
        self.assertIn(b"Ctrl-T Ctrl-H", self.read_back(err))
        rx0 = self.dev.sim.stats()["rx_bytes"]
        # Ctrl-T Ctrl-H: the keys, on stderr.
        os.write(master, b"\x14\x08")
        self.wait_for_bytes(err, rb"Ctrl-T Ctrl-R reset the board")
        # Ctrl-T Ctrl-R: a reset into the application, heard from its first byte.
        resets = self.resets()
        with lock:
            mark = len(got)
        os.write(master, b"\x14\x12")
        self.wait_state("app", resets)
        sent = self.sent_since_last_reset(until=self.app_of(img), after=resets)
        seen(re.escape(sent[:sent.index(self.app_of(img))].replace(b"\r", b"")), start=mark)
        # Ctrl-T Ctrl-P: into the bootloader, waiting for download.
        resets = self.resets()
        with lock:
            mark = len(got)
        os.write(master, b"\x14\x10")
        self.wait_state("download", resets)
        seen(rb"waiting for download", start=mark)
        # None of the command keys reached the chip; Ctrl-T Ctrl-T sends one Ctrl-T.
        self.assertEqual(self.dev.sim.stats()["rx_bytes"], rx0)
        os.write(master, b"\x14\x14")
        deadline = time.monotonic() + 20
        while self.dev.sim.stats()["rx_bytes"] < rx0 + 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.dev.sim.stats()["rx_bytes"], rx0 + 1)
        self.assertIsNone(proc.poll())
        os.write(master, b"\x1d")
        self.assertEqual(proc.wait(30), EXIT_SUCCESS, self.read_back(err))
        os.close(master)
        t.join(5)

    def boots_after(self, resets):
        """The boot modes the sim logged since its resets-th reset."""
        n, modes = 0, []
        for e in self.dev.sim.events():
            if e.get("event") == "reset":
                n += 1
            elif e.get("event") == "boot" and n > resets:
                modes.append(e["mode"])
        return modes

    def wait_for_bytes(self, f, pattern, timeout=30):
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.read_back(f)):
            self.assertLess(time.monotonic(), deadline, f"{pattern!r} not in {self.read_back(f)!r}")
            time.sleep(0.02)

    def test_reset_command(self):
        img = self.board_with_app("esp32", 92)
        resets = self.resets()
        p = self.ctl("reset", "--bootloader", expect=EXIT_SUCCESS)
        self.assertIn("bootloader", p.stdout)
        self.wait_state("download", resets)
        resets = self.resets()
        _, o = self.ctl_json("reset", self.dev.node)
        self.assertEqual((o["command"], o["port"], o["bootloader"]), ("reset", self.dev.node, False))
        self.wait_state("app", resets)
        # Nobody listens: the sim's log says what booted.
        self.assertEqual(self.boots_after(resets), ["app"])
        self.assertEqual(self.dev.sim.stats()["app_sha256"], self.app_of(img).split(b"=")[1].decode())
        # The flash is untouched: trust stays.
        _, t = self.ctl_json("trust", "show", self.dev.node)
        self.assertTrue(t["trusted"])
        p = self.ctl("reset", "/dev/ttyNOPE9", expect=EXIT_NO_DEVICE)
        self.assertIn("NoSuchDevice", p.stderr)

    def test_reset_on_start_unless_no_reset(self):
        img = self.board_with_app("esp32", 93)
        resets = self.resets()
        proc = self.popen("monitor", "--no-reset")
        self.wait_for(proc, proc.out_file, re.escape(self.app_of(img)))
        self.stop(proc)
        self.assertEqual(self.resets(), resets, "--no-reset: the board runs on")
        proc = self.popen("monitor")
        self.wait_start_boot(proc, resets, self.app_of(img))
        out, _ = self.stop(proc)
        self.assertEqual(self.resets(), resets + 1, "one reset on start")


class OneBoot(ToolsCase):
    """With a monitor attached, a deploy boots the new firmware once, and the
    monitor's first bytes after the resume are that boot's first bytes."""

    def app_boots_since(self, n_events):
        return [e for e in self.dev.sim.events()[n_events:] if e.get("event") == "boot" and e["mode"] == "app"]

    def check_one_boot(self, chip="esp32", kind="uart", banner=b"ets "):
        img1 = self.board_with_app(chip, 97, kind)
        img2 = self.image(chip=chip, app_seed=98)
        proc = self.popen("monitor", "--no-reset")
        self.wait_for(proc, proc.out_file, re.escape(self.app_of(img1)))
        n_events = len(self.dev.sim.events())
        self.ctl("-q", "deploy", *self.pairs(img2), expect=EXIT_SUCCESS)
        m = self.wait_for(proc, proc.out_file, rb"\[fbuild-deployd\] resumed at 115200 baud\r\n(.*)" +
                          re.escape(self.app_of(img2)))
        time.sleep(1)       # a second boot, if any, would come within this
        boots = self.app_boots_since(n_events)
        self.assertEqual(len(boots), 1, f"app boots during the deploy: {boots}")
        # Everything the chip sent since that boot's reset reached the monitor,
        # from the banner's first byte on.
        sent = self.sent_since_last_reset(until=self.app_of(img2))
        first = m.group(1)
        self.assertTrue(sent.startswith(banner), sent[:40])
        self.assertEqual(first, sent[:len(first)])
        lost = [e for e in self.dev.sim.events()[n_events:] if e.get("event") == "tx" and e.get("lost")]
        self.assertEqual(lost, [], "the boot's output went nowhere")
        self.stop(proc)

    def test_one_boot_per_deploy(self):
        self.check_one_boot()

    def test_one_boot_per_deploy_usb_serial_jtag(self):
        self.check_one_boot("esp32s3", "usb-jtag", b"ESP-ROM:")

    def test_one_boot_after_a_verify_skip(self):
        # Nothing written, still one reset into the application, heard whole.
        img1 = self.board_with_app("esp32", 99)
        proc = self.popen("monitor", "--no-reset")
        self.wait_for(proc, proc.out_file, re.escape(self.app_of(img1)))
        n_events = len(self.dev.sim.events())
        self.ctl("-q", "deploy", "--no-trust", *self.pairs(img1), expect=EXIT_SUCCESS)
        self.wait_for(proc, proc.out_file, rb"\[fbuild-deployd\] resumed at 115200 baud\r\nets .*" +
                      re.escape(self.app_of(img1)))
        time.sleep(1)
        self.assertEqual(len(self.app_boots_since(n_events)), 1)
        self.stop(proc)


class AfterFailure(ToolsCase):
    """A cancelled or failed deploy leaves the board reset into its application,
    never in download mode (issue 15)."""

    def last_boot(self):
        boots = [e["mode"] for e in self.dev.sim.events() if e.get("event") == "boot"]
        return boots[-1] if boots else None

    def test_cancelled_deploy_resets_into_the_application(self):
        self.dev = self.add_board("esp32", "uart", timing="real")
        self.start()
        img = self.image(chip="esp32", app_seed=95, app_size=768 * 1024)
        proc = self.ctl_popen("deploy", "--baud=921600", *self.pairs(img))
        self.wait_for_file_text(proc.err_file, "\nwrite: ", 60, proc)
        self.interrupt(proc)
        self.assertEqual(proc.wait(30), ctlharness.EXIT_CANCELLED, self.read_back(proc.err_file))
        deadline = time.monotonic() + 20
        while self.dev.sim.stats()["state"] != "app":
            self.assertLess(time.monotonic(), deadline,
                            f"left in {self.dev.sim.stats()['state']}, last boot {self.last_boot()}")
            time.sleep(0.05)
        self.assertEqual(self.last_boot(), "app")

    def test_failed_deploy_resets_into_the_application(self):
        # Every block the chip receives arrives corrupted: the write fails.
        self.dev = self.add_board("esp32", "uart")
        self.start()
        img = self.image(chip="esp32", app_seed=96)
        self.dev.sim.fault("block-corrupt=1.0")
        p = self.ctl("deploy", *self.pairs(img), timeout=200)
        self.assertEqual(p.returncode, ctlharness.EXIT_DEVICE_ERROR, p.stderr)
        deadline = time.monotonic() + 60
        while self.dev.sim.stats()["state"] != "app":
            self.assertLess(time.monotonic(), deadline,
                            f"left in {self.dev.sim.stats()['state']}, last boot {self.last_boot()}")
            time.sleep(0.05)
        self.assertEqual(self.last_boot(), "app")


if __name__ == "__main__":
    import unittest
    unittest.main()
