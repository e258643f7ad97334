# SPDX-License-Identifier: LGPL-2.1-or-later
"""The README's walkthrough, run as written.

At run time (never a copy kept here) this reads the ```sh blocks between
<!-- walkthrough:begin --> and <!-- walkthrough:end --> in README.md, in order:
  - blocks whose first line is INSTALL_MARK are skipped: installing Debian
    packages is the test runner's job, not a test's;
  - the first other block must be the one command that starts the shell
    (`tools/sim-shell …`); that command line is run as written, from the source
    root, with the rest of the walkthrough handed to it as `-c SCRIPT`;
  - every later block goes into SCRIPT verbatim, in order, one shell session as
    a reader typing them would have, under `set -euo pipefail`, with a marker
    line before each block so that its output can be told apart.
The test then requires the whole script to succeed and the second
`fbuildctl … deploy` to say trust-skip.

A ```text block after a ```sh block is what that block prints on stdout (issue
15), and is compared with it: line by line, `…` inside a line stands for any
text, a line that is only `…` for any number of lines. Standard error is not
compared: there a deploy draws its progress bars, which a terminal erases. A
text block that cannot be compared (the interactive shell's greeting) must say
so on the line before it: NOT_COMPARED.

meson passes FBUILD_SOURCE_ROOT and FBUILD_SIM_BUILD_DIR (the build tree, so that
tools/sim-shell uses the built binaries instead of building its own).
"""

import functools
import os
import re
import shlex
import signal
import subprocess
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get("FBUILD_SOURCE_ROOT") or os.path.dirname(os.path.dirname(HERE))
BUILD_DIR = os.environ.get("FBUILD_SIM_BUILD_DIR", "")

BEGIN = "<!-- walkthrough:begin -->"
END = "<!-- walkthrough:end -->"
INSTALL_MARK = "# (install: done by the test runner)"
NOT_COMPARED = "<!-- readme-test: not compared:"
MARKER = "@@readme-block {}@@"
DONE = "@@readme-done@@"
DEPLOY = re.compile(r"^\s*fbuildctl\b.*\bdeploy\b", re.M)


def walkthrough_blocks(readme):
    """The ```sh blocks of the walkthrough section, in order, as text."""
    if readme.count(BEGIN) != 1 or readme.count(END) != 1:
        raise ValueError(f"README.md must hold {BEGIN} and {END} exactly once each")
    section = readme.split(BEGIN, 1)[1]
    if END not in section:
        raise ValueError(f"{END} comes before {BEGIN}")
    section = section.split(END, 1)[0]
    blocks, current, fence = [], None, None
    for line in section.splitlines():
        stripped = line.strip()
        if fence is None:
            if stripped.startswith("```"):
                fence = stripped[3:].strip()
                current = [] if fence == "sh" else None
        elif stripped == "```":
            if current is not None:
                blocks.append("\n".join(current) + "\n")
            fence, current = None, None
        elif current is not None:
            current.append(line)
    if fence is not None:
        raise ValueError("a code block in the walkthrough is not closed")
    return blocks


def walkthrough_text_blocks(readme):
    """The ```text blocks of the walkthrough, each with the index (among the
    ```sh blocks) of the sh block before it, and whether it is marked
    NOT_COMPARED: [(sh_index, text, compared)]."""
    section = readme.split(BEGIN, 1)[1].split(END, 1)[0]
    out, n_sh, fence, current, previous = [], 0, None, None, ""
    for line in section.splitlines():
        stripped = line.strip()
        if fence is None:
            if stripped.startswith("```"):
                fence = stripped[3:].strip()
                current = []
                marked = previous.startswith(NOT_COMPARED)
            elif stripped:
                previous = stripped
        elif stripped == "```":
            if fence == "sh":
                n_sh += 1
            elif fence == "text":
                out.append((n_sh - 1, "\n".join(current), not marked))
            fence, current, previous = None, None, ""
        else:
            current.append(line)
    return out


def line_pattern(expected):
    """One expected line as a regex: `…` is any text, the rest literal."""
    return re.compile("^" + ".*".join(re.escape(part) for part in expected.split("…")) + "$", re.S)


def matches(expected_lines, actual_lines):
    """Whether actual_lines fit expected_lines (a line of just `…`: any lines)."""
    @functools.lru_cache(maxsize=None)
    def fit(i, j):
        if i == len(expected_lines):
            return j == len(actual_lines)
        if expected_lines[i].strip() == "…":
            return any(fit(i + 1, k) for k in range(j, len(actual_lines) + 1))
        return j < len(actual_lines) and line_pattern(expected_lines[i]).match(actual_lines[j]) is not None \
            and fit(i + 1, j + 1)
    return fit(0, 0)


def plan(blocks):
    """Split the blocks into (install blocks, the shell's argv, blocks run in it)."""
    def is_install(b):
        return b.splitlines()[0].strip() == INSTALL_MARK

    n = 0
    while n < len(blocks) and is_install(blocks[n]):
        n += 1
    install, rest = blocks[:n], blocks[n:]
    if not install:
        raise ValueError(f"no install block (first line {INSTALL_MARK!r}) at the start")
    if any(is_install(b) for b in rest):
        raise ValueError("only the steps before the shell starts may be left to the runner")
    if not rest:
        raise ValueError("no blocks after the install step")
    start = [line for line in rest[0].splitlines() if line.strip() and not line.startswith("#")]
    if len(start) != 1 or not start[0].startswith("tools/sim-shell"):
        raise ValueError(f"the first block after install must be one `tools/sim-shell` "
                         f"command, not {rest[0]!r}")
    return install, shlex.split(start[0]), rest[1:]


def script(blocks):
    parts = ["set -euo pipefail\n"]
    for i, block in enumerate(blocks):
        # On both streams, so that each can be split by block.
        m = shlex.quote(MARKER.format(i))
        parts.append(f"echo {m}; echo {m} >&2\n{block}")
    parts.append(f"echo {shlex.quote(DONE)}\n")
    return "".join(parts)


def split_output(out, n):
    """Output per block, by the markers: {index: text} for the blocks that started."""
    found = {}
    pieces = re.split(r"^@@readme-block (\d+)@@$", out, flags=re.M)
    for i in range(1, len(pieces), 2):
        found[int(pieces[i])] = pieces[i + 1]
    assert set(found) <= set(range(n))
    return found


class Walkthrough(unittest.TestCase):
    def setUp(self):
        with open(os.path.join(SOURCE_ROOT, "README.md")) as f:
            self.readme = f.read()

    def test_walkthrough_runs_as_written(self):
        _, shell, blocks = plan(walkthrough_blocks(self.readme))
        self.assertGreaterEqual(len(blocks), 2, "the walkthrough has nothing to run")
        env = dict(os.environ)
        if BUILD_DIR:
            env["FBUILD_SIM_BUILD_DIR"] = BUILD_DIR
        # The commands must reach the service through $FBUILD_ADDRESS alone: no
        # system bus (and no fbuild-deployd installed on this machine) may answer.
        env["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=/nonexistent/readme-test-no-system-bus"
        p = subprocess.Popen(shell + ["-c", script(blocks)], cwd=SOURCE_ROOT, env=env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
        err = ""
        try:
            out, err = p.communicate(timeout=240)  # meson's own timeout is 300 s
        except subprocess.TimeoutExpired:
            # The whole group, or a command still running in the shell keeps the
            # output pipe open; SIGTERM first, so that sim-shell cleans up.
            os.killpg(p.pid, signal.SIGTERM)
            try:
                out, err = p.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                out, err = p.communicate()
            out += "\n(timed out)\n"
        print(out)  # the whole transcript, for `meson test -v` and the log
        print("--- stderr\n" + err)
        outputs = split_output(out, len(blocks))
        errors = split_output(err, len(blocks))
        if p.returncode != 0 or DONE not in out:
            last = max(outputs) if outputs else None
            where = (f"in this block:\n{blocks[last]}\nwhich printed:\n{outputs[last][-3000:]}\n"
                     f"and on stderr:\n{errors.get(last, '')[-3000:]}"
                     if last is not None else f"before the first block:\n{out[-3000:]}")
            self.fail(f"{' '.join(shell)} -c … exited {p.returncode} {where}")

        # Every deploy command, with the block it is in.
        deploys = [(i, m.group(0)) for i, b in enumerate(blocks) for m in DEPLOY.finditer(b)]
        self.assertGreaterEqual(len(deploys), 2, "the walkthrough should deploy twice")
        first, second = deploys[0][0], deploys[1][0]
        self.assertNotEqual(first, second,
                            "keep the first two deploys in blocks of their own, so that "
                            "their outputs can be told apart")
        self.assertEqual([d for d in deploys if d[0] == second], [deploys[1]],
                         "keep the second deploy in a block of its own")
        self.assertNotIn("trust-skip", outputs[first], "the first deploy cannot be a trust-skip")
        self.assertIn("trust-skip", outputs[second],
                      f"the second deploy did not say trust-skip:\n{outputs[second]}")

        # What the README says each block prints is what it printed (issue 15).
        texts = walkthrough_text_blocks(self.readme)
        self.assertGreaterEqual(sum(1 for _, _, compared in texts if compared), 6)
        # The shell's own start is not in `blocks`: the first run block is sh block 2
        # (after the install and the sim-shell blocks).
        offset = len(walkthrough_blocks(self.readme)) - len(blocks)
        for sh_index, text, compared in texts:
            if not compared:
                continue
            i = sh_index - offset
            self.assertGreaterEqual(i, 0, f"a compared text block follows no run block:\n{text}")
            actual = [line for line in outputs.get(i, "").strip("\n").splitlines() if line != DONE]
            with self.subTest(block=blocks[i].strip()[:60]):
                self.assertTrue(matches(text.strip("\n").splitlines(), actual),
                                f"README.md says block\n{blocks[i]}prints\n{text}\nbut it printed\n"
                                + "\n".join(actual))


class Extraction(unittest.TestCase):
    """The extractor itself, on a small README, so that a walkthrough that
    silently yields nothing cannot pass."""

    def test_blocks_and_plan(self):
        readme = "\n".join([
            "```sh", "not in the walkthrough", "```", BEGIN,
            "```sh", INSTALL_MARK, "sudo tools/setup-deps", "```",
            "```sh", "tools/sim-shell --boards 2", "```",
            "```text", "```sh is not a fence opener in here", "```",
            "```sh", "echo one", "", "echo two", "```", END,
            "```sh", "not either", "```"])
        blocks = walkthrough_blocks(readme)
        self.assertEqual(blocks[2], "echo one\n\necho two\n")
        self.assertEqual(len(blocks), 3)
        install, shell, rest = plan(blocks)
        self.assertEqual(shell, ["tools/sim-shell", "--boards", "2"])
        self.assertEqual(rest, ["echo one\n\necho two\n"])
        self.assertIn("set -euo pipefail", script(rest))

    def test_text_blocks_and_matching(self):
        readme = "\n".join([
            BEGIN, "```sh", INSTALL_MARK, "```", "```sh", "tools/sim-shell", "```",
            NOT_COMPARED + " interactive -->", "```text", "(prompt)", "```",
            "```sh", "echo one", "```", "```text", "on…", "…", "```", END])
        self.assertEqual(walkthrough_text_blocks(readme), [(1, "(prompt)", False), (2, "on…\n…", True)])
        self.assertTrue(matches(["on…", "…"], ["one", "two", "three"]))
        self.assertTrue(matches(["a", "…", "z"], ["a", "z"]))
        self.assertFalse(matches(["a", "z"], ["a", "b", "z"]))
        self.assertFalse(matches(["t: … ms"], ["t: 5 s"]))
        self.assertTrue(matches(["x…y"], ["x…y"]))

    def test_missing_markers(self):
        with self.assertRaises(ValueError):
            walkthrough_blocks("no walkthrough here")


if __name__ == "__main__":
    unittest.main()
