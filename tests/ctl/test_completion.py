# SPDX-License-Identifier: LGPL-2.1-or-later
"""data/completion/fbuildctl under bash with bash-completion: commands, per-command
options, option values, OFFSET=FILE and build directories. Needs no service.
Run: /usr/bin/python3 test_completion.py (skips without bash-completion)."""

import os
import shlex
import subprocess
import tempfile
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
        self.assertEqual(self.complete("fbuildctl "), ["deploy", "devices", "help", "monitor", "trust", "verify"])
        self.assertEqual(self.complete("fbuildctl --json de"), ["deploy", "devices"])
        self.assertEqual(self.complete("fbuildctl help "), ["deploy", "devices", "monitor", "trust", "verify"])
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
        self.assertEqual(self.complete("fbuildctl --address unix:path=/x deploy --no"), ["--no-trust"])

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


if __name__ == "__main__":
    unittest.main()
