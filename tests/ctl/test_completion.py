# SPDX-License-Identifier: LGPL-2.1-or-later
"""data/completion/fbuildctl under bash with bash-completion: commands, per-command
options, option values, OFFSET=FILE, build directories and PlatformIO
environments; then Tab inside tools/sim-shell on a pty (issue 15), which starts
its own service for a simulated board from the build tree.
Run: /usr/bin/python3 test_completion.py (skips without bash-completion)."""

import os
import pty
import select
import subprocess
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get("FBUILD_SOURCE_ROOT") or os.path.dirname(os.path.dirname(HERE))
SCRIPT = os.path.join(SOURCE_ROOT, "data", "completion", "fbuildctl")
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"

DRIVER = r"""
. "$1"; . "$2"; shift 2
COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}
read -ra COMP_WORDS <<< "$COMP_LINE"
[[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMPREPLY=()
_fbuildctl fbuildctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"""


@unittest.skipUnless(os.path.exists(BASH_COMPLETION), "bash-completion is not installed")
class Completion(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fbuildctl-completion.")
        os.makedirs(os.path.join(self.dir, "build"))
        open(os.path.join(self.dir, "app.bin"), "w").close()

    def tearDown(self):
        subprocess.run(["rm", "-rf", self.dir], check=True)

    def complete(self, line):
        p = subprocess.run(["bash", "-c", DRIVER, "complete", BASH_COMPLETION, SCRIPT, line],
                           capture_output=True, text=True, cwd=self.dir, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        return sorted(x for x in p.stdout.splitlines() if x)

    def test_commands(self):
        self.assertEqual(self.complete("fbuildctl "),
                         ["deploy", "devices", "help", "monitor", "reset", "trust", "verify"])
        self.assertEqual(self.complete("fbuildctl --json de"), ["deploy", "devices"])
        self.assertEqual(self.complete("fbuildctl help "), ["deploy", "devices", "monitor", "reset", "trust", "verify"])
        self.assertEqual(self.complete("fbuildctl trust "), ["forget", "show"])

    def test_options(self):
        deploy = self.complete("fbuildctl deploy --")
        for opt in ("--port", "--no-trust", "--baud", "--chip", "--before", "--after", "--quiet",
                    "--address", "--host", "--json", "--help", "--version"):
            self.assertIn(opt, deploy)
        self.assertNotIn("--no-trust", self.complete("fbuildctl verify --"))
        self.assertNotIn("--port", self.complete("fbuildctl devices --"))
        self.assertIn("--port", self.complete("fbuildctl trust --"))
        monitor = self.complete("fbuildctl monitor --")
        for opt in ("--port", "--baud", "--write", "--address"):
            self.assertIn(opt, monitor)
        self.assertNotIn("--chip", monitor)
        self.assertNotIn("--monitor", self.complete("fbuildctl verify --"))
        self.assertEqual(self.complete("fbuildctl deploy --mon"), ["--monitor"])
        self.assertEqual(self.complete("fbuildctl monitor --wr"), ["--write"])
        # An option's value is skipped when finding the command.
        self.assertEqual(self.complete("fbuildctl --address unix:path=/x deploy --no-t"), ["--no-trust"])

    def test_values(self):
        self.assertEqual(self.complete("fbuildctl deploy --chip esp32s"), ["esp32s2", "esp32s3"])
        self.assertEqual(self.complete("fbuildctl deploy --chip=esp32c"),
                         ["esp32c2", "esp32c3", "esp32c5", "esp32c6"])
        self.assertEqual(self.complete("fbuildctl deploy --before "),
                         ["classic", "default", "none", "unix-tight", "usb"])
        self.assertEqual(self.complete("fbuildctl verify --after "), ["default", "none"])
        self.assertIn("921600", self.complete("fbuildctl deploy -b "))
        self.assertIn("115200", self.complete("fbuildctl monitor --baud "))
        self.assertEqual(self.complete("fbuildctl --address "), ["unix:path=/run/fbuild-deployd/bus"])

    def test_sources(self):
        self.assertEqual(self.complete("fbuildctl deploy 0x10000=a"), ["0x10000=app.bin"])
        self.assertEqual(self.complete("fbuildctl verify 4096=b"), ["4096=build/"])
        self.assertEqual(self.complete("fbuildctl deploy bu"), ["build"])

    def test_build_directories_and_environments(self):
        # SOURCE: directories and build metadata, not every file (issue 15).
        os.makedirs(os.path.join(self.dir, "proj", ".pio", "build", "one"))
        os.makedirs(os.path.join(self.dir, "proj", ".pio", "build", "two"))
        with open(os.path.join(self.dir, "proj", "platformio.ini"), "w") as f:
            f.write("[platformio]\n[env:three]\nboard = x\n[env:two]\n")
        open(os.path.join(self.dir, "build", "flasher_args.json"), "w").close()
        self.assertEqual(self.complete("fbuildctl deploy "), ["build", "proj"])
        self.assertEqual(self.complete("fbuildctl deploy build/"), ["build/flasher_args.json"])
        self.assertEqual(self.complete("fbuildctl deploy proj -e "), ["one", "three", "two"])
        self.assertEqual(self.complete("fbuildctl verify proj --environment t"), ["three", "two"])
        self.assertEqual(self.complete("fbuildctl deploy proj/.pio/build/one -e "), ["one", "three", "two"])

    def test_new_options(self):
        deploy = self.complete("fbuildctl deploy --")
        for opt in ("--environment", "--force", "--verbose", "--no-legend", "--no-pager", "--json="):
            self.assertIn(opt, deploy)
        self.assertNotIn("--force", self.complete("fbuildctl verify --"))
        self.assertEqual(self.complete("fbuildctl --json=p"), ["pretty"])
        self.assertEqual(self.complete("fbuildctl devices --json="), ["off", "pretty", "short"])

    def test_monitor_options(self):
        # Issue 15's monitor: its options, their values, and reset.
        monitor = self.complete("fbuildctl monitor --")
        for opt in ("--no-reset", "--elf", "--timestamps", "--log", "--eol", "--raw"):
            self.assertIn(opt, monitor)
        self.assertEqual(self.complete("fbuildctl monitor --eol "), ["CR", "CRLF", "LF"])
        reset = self.complete("fbuildctl reset --")
        self.assertIn("--bootloader", reset)
        self.assertIn("--port", reset)
        self.assertNotIn("--bootloader", monitor)


@unittest.skipUnless(os.path.exists(BASH_COMPLETION), "bash-completion is not installed")
@unittest.skipUnless(os.environ.get("FBUILD_SIM_BUILD_DIR"), "FBUILD_SIM_BUILD_DIR (a built tree) not set")
class SimShellCompletion(unittest.TestCase):
    """Inside tools/sim-shell, on a terminal, Tab completes the simulated board's
    port and the chips, with no "_init_completion: command not found"."""

    def test_tab_in_sim_shell(self):
        home = tempfile.mkdtemp(prefix="fbuildctl-sim-home.")
        self.addCleanup(subprocess.run, ["rm", "-rf", home])
        env = dict(os.environ, HOME=home, TERM="dumb", FBUILD_SIM_BUILD_DIR=os.environ["FBUILD_SIM_BUILD_DIR"],
                   DBUS_SYSTEM_BUS_ADDRESS="unix:path=/nonexistent/no-system-bus")
        pid, fd = pty.fork()
        if pid == 0:
            os.chdir(SOURCE_ROOT)
            os.execvpe(os.path.join(SOURCE_ROOT, "tools", "sim-shell"), ["sim-shell", "--chip", "esp32c3"], env)
        out = bytearray()

        def read_until(needle, timeout):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                r, _, _ = select.select([fd], [], [], 0.1)
                if r:
                    try:
                        chunk = os.read(fd, 65536)
                    except OSError:
                        return False
                    if not chunk:
                        return False
                    out.extend(chunk)
                if needle in out:
                    return True
            return False

        try:
            self.assertTrue(read_until(b"(fbuild-sim)", 120), out.decode(errors="replace"))
            start = len(out)
            os.write(fd, b"fbuildctl trust show /dev/ttyU\t")
            self.assertTrue(read_until(b"/dev/ttyUSB0", 20), out.decode(errors="replace"))
            os.write(fd, b"\x15fbuildctl deploy --chip esp32c\t\t")
            self.assertTrue(read_until(b"esp32c6", 20), out.decode(errors="replace"))
            # What completed is what runs: the port, through $FBUILD_ADDRESS.
            os.write(fd, b"\x15fbuildctl trust show /dev/ttyU\t\n")
            self.assertTrue(read_until(b"/dev/ttyUSB0: not trusted", 30), out.decode(errors="replace"))
            os.write(fd, b"exit\n")
            read_until(b"@@never@@", 10)
        finally:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
            os.close(fd)
        text = out.decode(errors="replace")
        self.assertNotIn("command not found", text)
        self.assertNotIn("_init_completion", text[start:])


if __name__ == "__main__":
    unittest.main()
