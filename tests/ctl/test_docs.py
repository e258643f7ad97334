# SPDX-License-Identifier: LGPL-2.1-or-later
"""docs/fbuildctl.md (the source of fbuildctl(1)) against the built fbuildctl:
the exit codes in its table are the ones src/ctl/ctl-exit.h defines, every
command has a section and every option any --help lists is documented; --help
is short and points to the manual page. And the manual pages themselves (issue
15): fbuildctl(1), fbuild-deployd(8), deployd.conf(5) and org.fbuild.Deploy1(5)
are built by meson from docs/*.md, render with man, carry what their sources
say and are installed into mandir. Needs no service.
Run: FBUILDCTL=… FBUILD_BUILD_ROOT=… /usr/bin/python3 test_docs.py"""

import json
import os
import re
import shutil
import subprocess
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get("FBUILD_SOURCE_ROOT") or os.path.dirname(os.path.dirname(HERE))
DOC = os.path.join(SOURCE_ROOT, "docs", "fbuildctl.md")
EXIT_H = os.path.join(SOURCE_ROOT, "src", "ctl", "ctl-exit.h")
FBUILDCTL = os.environ.get("FBUILDCTL", "")
FBUILD_DEPLOYD = os.environ.get("FBUILD_DEPLOYD", "")
BUILD_ROOT = os.environ.get("FBUILD_BUILD_ROOT", "")
PAGES = {"fbuildctl": "1", "fbuild-deployd": "8", "deployd.conf": "5", "org.fbuild.Deploy1": "5"}
VERBS = ("devices", "deploy", "verify", "trust", "monitor")


def render(path):
    """The page as man shows it, without formatting."""
    p = subprocess.run(["man", "-l", "-P", "cat", path], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, MANWIDTH="200", MAN_KEEP_FORMATTING="0"))
    if p.returncode != 0:
        raise AssertionError(f"man -l {path}: {p.stderr}")
    # No overstrike, and no words hyphenated across lines.
    return re.sub(r"\u2010\n\s*", "", re.sub(r".\x08", "", p.stdout))


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
        with open(EXIT_H) as f:
            defined = dict((v, c) for v, c in re.findall(r"CTL_EXIT_\w+ = (\d),\s*/\* (.+?) \*/", f.read()))
        self.assertEqual(sorted(table), [str(i) for i in range(8)])
        self.assertEqual(sorted(defined), sorted(table))
        # The first word of each meaning agrees ("done", "cancelled", …).
        for code in table:
            self.assertEqual(table[code].split()[0].strip(":;,`").lower(),
                             defined[code].split()[0].strip(":;,`").lower(), code)

    def test_help_is_short_and_points_to_the_manual(self):
        self.assertIn("fbuildctl(1)", self.help())
        for verb in VERBS:
            text = self.help(verb)
            self.assertIn("fbuildctl(1)", text, verb)
            self.assertNotIn("Exit status", text, verb)
            self.assertLess(len(text.splitlines()), 40, text)
        p = subprocess.run([FBUILD_DEPLOYD, "--help"], capture_output=True, text=True, timeout=30)
        self.assertIn("fbuild-deployd(8)", p.stdout)
        self.assertIn("deployd.conf(5)", p.stdout)

    def test_commands_and_options_documented(self):
        for verb in VERBS:
            self.assertIn(f"### `{verb}", self.doc)
            for opt in re.findall(r"(--[a-z-]+)", self.help(verb)):
                self.assertIn(f"`{opt}", self.doc, f"{opt} (from {verb} --help) is not documented")

    @unittest.skipUnless(os.environ.get("FBUILD_MAN_BUILT") == "1", "scdoc not found at setup: no man pages")
    def test_man_pages_built_and_rendered(self):
        text = render(os.path.join(BUILD_ROOT, "docs", "fbuildctl.1"))
        self.assertIn("busctl call", render(os.path.join(BUILD_ROOT, "docs", "org.fbuild.Deploy1.5")))
        for section in ("NAME", "SYNOPSIS", "OPTIONS", "ENVIRONMENT", "JSON OUTPUT", "EXIT STATUS"):
            self.assertRegex(text, rf"(?m)^{section}$")
        # What --help leaves out is here: every option, every exit code, the variables.
        for verb in VERBS:
            for opt in re.findall(r"(--[a-z-]+)", self.help(verb)):
                self.assertIn(opt, text, f"{opt} is not in fbuildctl(1)")
        for code in range(8):
            self.assertRegex(text, rf"(?m)^\s+{code}\s*$")
        for var in ("FBUILD_ADDRESS", "FBUILD_PORT", "ESPPORT"):
            self.assertIn(var, text)
        # The source is the Markdown: a sentence of it, formatting stripped, is in the page.
        self.assertIn("fbuildctl never starts a pager", " ".join(text.split()))
        for page, section in PAGES.items():
            with self.subTest(page=page):
                text = render(os.path.join(BUILD_ROOT, "docs", f"{page}.{section}"))
                self.assertTrue(text.lstrip().startswith(f"{page}({section})"), text[:200])
                self.assertRegex(text, r"(?m)^NAME$")
                self.assertRegex(text, r"(?m)^SEE ALSO$")
        deployd = render(os.path.join(BUILD_ROOT, "docs", "deployd.conf.5"))
        with open(os.path.join(SOURCE_ROOT, "data", "fbuild", "deployd.conf")) as f:
            for key in re.findall(r"^#(\w+)=", f.read(), re.M):
                self.assertIn(f"{key}=", deployd, f"{key} of the example config is not in deployd.conf(5)")
        bus = render(os.path.join(BUILD_ROOT, "docs", "org.fbuild.Deploy1.5"))
        with open(os.path.join(SOURCE_ROOT, "data", "dbus", "org.fbuild.Deploy1.xml")) as f:
            for member in re.findall(r'<(?:method|signal) name="(\w+)"', f.read()):
                self.assertIn(member, bus, f"{member} is not in org.fbuild.Deploy1(5)")

    @unittest.skipUnless(os.environ.get("FBUILD_MAN_BUILT") == "1", "scdoc not found at setup: no man pages")
    def test_man_pages_installed(self):
        meson = shutil.which("meson")
        self.assertIsNotNone(meson)
        p = subprocess.run([meson, "introspect", "--installed", BUILD_ROOT], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        installed = json.loads(p.stdout).values()
        for page, section in PAGES.items():
            self.assertTrue(any(d.endswith(f"/man/man{section}/{page}.{section}") for d in installed),
                            f"{page}({section}) is not installed:\n{sorted(installed)}")


if __name__ == "__main__":
    unittest.main()
