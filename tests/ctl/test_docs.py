# SPDX-License-Identifier: LGPL-2.1-or-later
"""docs/fbuildctl.md against the built fbuildctl: the exit codes in the
reference's table are the ones --help lists, every command in the reference has
a --help, and every option --help lists is documented. Needs no service.
Run: FBUILDCTL=… /usr/bin/python3 test_docs.py"""

import os
import re
import subprocess
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get("FBUILD_SOURCE_ROOT") or os.path.dirname(os.path.dirname(HERE))
DOC = os.path.join(SOURCE_ROOT, "docs", "fbuildctl.md")
FBUILDCTL = os.environ.get("FBUILDCTL", "")


class Docs(unittest.TestCase):

    def setUp(self):
        if not FBUILDCTL or not os.access(FBUILDCTL, os.X_OK):
            self.skipTest("FBUILDCTL not set")
        with open(DOC) as f:
            self.doc = f.read()

    def help(self, *args):
        p = subprocess.run([FBUILDCTL, *args, "--help"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def test_exit_codes_agree(self):
        table = dict(re.findall(r"^\| (\d) \| ([^|]+) \|$", self.doc, re.M))
        listed = dict(re.findall(r"^  (\d)  (.+)$", self.help(), re.M))
        self.assertEqual(sorted(table), [str(i) for i in range(8)])
        self.assertEqual(sorted(listed), sorted(table))
        # The first word of each meaning agrees ("done", "cancelled", …).
        for code in table:
            self.assertEqual(table[code].split()[0].strip(":;,`").lower(),
                             listed[code].split()[0].strip(":;,`").lower(), code)

    def test_commands_and_options_documented(self):
        for verb in ("devices", "deploy", "verify", "trust", "monitor"):
            self.assertIn(f"### `{verb}", self.doc)
            for opt in re.findall(r"(--[a-z-]+)", self.help(verb)):
                self.assertIn(f"`{opt}", self.doc, f"{opt} (from {verb} --help) is not documented")


if __name__ == "__main__":
    unittest.main()
