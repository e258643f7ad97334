# SPDX-License-Identifier: LGPL-2.1-or-later
"""What fbuildctl prints: the plan and plain progress lines when stderr is not a
terminal, a redrawn one-line bar when it is, the outcome and written ranges, and
--json (one object on stdout) for deploy, verify, devices and trust; --help and
--version. Run: umockdev-wrapper /usr/bin/python3 test_output.py"""

import json
import os
import re
import select
import subprocess
import time
import unittest

import ctlharness
from ctlharness import EXIT_MISMATCH, EXIT_SUCCESS


class Output(ctlharness.CtlTestCase):

    def test_plain_progress_and_outcome(self):
        dev = self.add_board("esp32", "uart")
        self.start()
        build, regions = self.idf_project(chip="esp32")
        p = self.ctl("-v", "deploy", build, expect=EXIT_SUCCESS)
        err = p.stderr.splitlines()
        # The plan: every region with its offset, size, name and file.
        self.assertIn(f"Deploying 3 regions (229 KiB) to {dev.node} (esp32):", err)
        for off, _, name in regions:
            self.assertTrue(any(re.match(rf"\s+0x{off:08x}\s+\S+ \S+\s+{name}\s+/", line) for line in err),
                            f"{name} missing from the plan:\n{p.stderr}")
        # Plain progress: each phase announced, byte phases in tenths, ending at 100%.
        self.assertIn("connect", err)
        self.assertIn("reset", err)
        total = sum(len(d) for _, d, _ in regions)
        self.assertIn(f"verify: {total}/{total} bytes (100%)", err)
        self.assertIn(f"post-verify: {total}/{total} bytes (100%)", err)
        self.assertIn(f"erase: {total}/{total} bytes (100%)", err)
        self.assertLess(p.stderr.index("\nerase: 0/"), p.stderr.index("\nwrite: "))
        writes = [line for line in err if line.startswith("write: ")]
        self.assertGreaterEqual(len(writes), 2, p.stderr)
        self.assertLessEqual(len(writes), 11, "plain progress should not flood a log")
        for line in writes:
            self.assertRegex(line, rf"^write: \d+/{total} bytes \(\d+%\)$")
        self.assertNotIn("\r", p.stderr)
        self.assertNotIn("\033", p.stderr)
        # The outcome and what was written, on stdout.
        out = p.stdout.splitlines()
        self.assertEqual(out[0], f"{dev.node}: full (every region was written)")
        for off, data, name in regions:
            self.assertTrue(any(f"0x{off:08x}…0x{off + len(data):08x}" in line and line.endswith(name)
                                for line in out), f"{name} missing:\n{p.stdout}")
        self.assertRegex(p.stdout, r"time: connect \d+ ms")

    def test_progress_of_our_job_only(self):
        """Another client's job on the port, ahead of ours: fbuildctl shows the
        progress of its own job alone (it follows its job by path, not by port)."""
        dev = self.add_board("esp32", "uart", timing="real")
        self.start()
        h = ctlharness.harness
        c = self.client()
        c.watch_signals()
        theirs = self.image(app_seed=61, app_size=512 * 1024)
        p = c.call_async("DeployRegions", dev.node, h.regions_value(theirs.paths()), h.options_value(trust=False))

        def their_writes():
            return [a for _, m, a in c.signals if m == "Progress" and a[1] == "write" and a[2] > 0]
        c.run_until(lambda: their_writes() or p.done, 60, "the other client's deploy to write")
        self.assertFalse(p.done, f"the other deploy ended early: {p.result or p.error}")
        their_total = their_writes()[0][3]

        build, regions = self.idf_project(chip="esp32")
        r = self.ctl("deploy", build, expect=EXIT_SUCCESS, timeout=180)
        c.run_until(lambda: p.done, 60, "the other deploy's reply")
        self.assertIsNone(p.error, p.error)
        # The other job wrote while ours waited: none of its numbers are ours to show.
        self.assertGreater(len([a for a in their_writes() if a[2] < their_total]), 0)
        ours = sum(len(d) for _, d, _ in regions)
        self.assertNotEqual(their_total, ours)
        lines = [line for line in r.stderr.splitlines() if " bytes (" in line]
        self.assertTrue(lines, r.stderr)
        for line in lines:
            self.assertNotIn(f"/{their_total} bytes", line, r.stderr)
            # Ours: the image (verify), or the part of it that differed (write).
            m = re.match(r"^[a-z-]+: \d+/(\d+) bytes \(\d+%\)$", line)
            self.assertTrue(m, line)
            self.assertLessEqual(int(m.group(1)), ours, r.stderr)

    def test_quiet(self):
        self.add_board("esp32", "uart")
        self.start()
        build, _ = self.idf_project(chip="esp32")
        p = self.ctl("-q", "deploy", build, expect=EXIT_SUCCESS)
        self.assertEqual(p.stderr, "")

    def test_terminal_bar(self):
        # stderr on a pty: the bar is redrawn in place (\r … erase to end of line),
        # never a stream of lines, and it is erased before the outcome.
        self.add_board("esp32", "uart", timing="real")
        self.start()
        build, _ = self.idf_project(chip="esp32")
        master, slave = os.openpty()
        proc = subprocess.Popen(self.ctl_argv(["deploy", "--baud=921600", build]), env=self.ctl_env(),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        tty = b""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                tty += chunk
            elif proc.poll() is not None:
                break
        os.close(master)
        out, _ = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, EXIT_SUCCESS, tty.decode(errors="replace"))
        text = tty.decode(errors="replace")
        bars = [b for b in text.split("\r") if b.startswith("write")]
        self.assertTrue(bars, f"no write bar drawn:\n{text!r}")
        self.assertRegex(bars[-1], r"^write\s+\[#+-*\]\s+\d+%\s+\d+ KiB/229 KiB")
        self.assertTrue(any(re.search(r"\[#*-+\]\s+\d+%.*/s  ETA \d+:\d\d", b) for b in bars),
                        f"no bar with rate and ETA:\n{text!r}")
        self.assertIn("\033[K", text)
        self.assertTrue(text.endswith("\r\033[K"), "the bar must be erased at the end")
        # Issue 15: no bar ever goes backwards (each phase keeps its own line, so
        # write and post-verify taking turns never redraw one over the other), and
        # once a phase shows its rate and ETA it keeps showing them.
        # Replays the cursor: what each screen line shows, draw after draw.
        shown, eta_seen, line_phase = {}, {}, {}
        row, drawn = 0, []
        for tok in re.finditer(r"\r|\n|\033\[(\d*)([ABK])|[^\r\n\033]+", text):
            t = tok.group(0)
            if t == "\n":
                row += 1
            elif tok.group(2) == "A":
                row -= int(tok.group(1) or 1)
            elif tok.group(2) == "B":
                row += int(tok.group(1) or 1)
            elif tok.group(2) is None and t != "\r":
                drawn.append((row, t))
        for row, seg in drawn:
            m = re.match(r"^(\S+)\s+(?:\[[#-]*\]\s+)?(\d+)%", seg)
            if not m:
                continue
            phase, pct = m.group(1), int(m.group(2))
            self.assertEqual(line_phase.setdefault(row, phase), phase,
                             f"line {row} showed {line_phase[row]}, then {phase}:\n{text!r}")
            self.assertGreaterEqual(pct, shown.get(phase, 0), f"{phase} went back to {pct}%:\n{text!r}")
            shown[phase] = pct
            has_eta = re.search(r"/s  ETA \d+:\d\d", seg) is not None
            if eta_seen.get(phase) and pct < 100:
                self.assertTrue(has_eta, f"{phase} lost its rate and ETA:\n{seg!r}")
            eta_seen[phase] = eta_seen.get(phase, False) or has_eta
        self.assertIn("write", shown)
        self.assertIn("post-verify", shown)
        # The ROM's erase before the first block has a bar of its own, which ends
        # full, instead of the write sitting at 0 % meanwhile.
        self.assertEqual(shown.get("erase"), 100, text)
        order = [re.match(r"^(\S+)", seg).group(1) for _, seg in drawn if re.match(r"^(erase|write) ", seg)]
        self.assertEqual(order[0], "erase", order)
        self.assertIn(b": full", out)

    def test_json_deploy(self):
        dev = self.add_board("esp32", "uart")
        self.start(trust_default=True)
        build, regions = self.idf_project(chip="esp32")
        p, o = self.ctl_json("deploy", build)
        self.assertEqual(o["command"], "deploy")
        self.assertEqual(o["port"], dev.node)
        self.assertEqual(o["chip"], "esp32")
        self.assertEqual(o["outcome"], "full")
        self.assertEqual(o["exit_code"], 0)
        self.assertEqual([(w["offset"], w["size"], w["name"]) for w in o["written"]],
                         [(off, len(d), name) for off, d, name in regions])
        self.assertEqual([(r["offset"], r["size"], r["name"]) for r in o["regions"]],
                         [(off, len(d), name) for off, d, name in regions])
        self.assertEqual([s["format"] for s in o["sources"]], ["esp-idf"])
        self.assertEqual(o["sources"][0]["directory"], build)
        self.assertEqual(o["flash_settings"], {"flash_mode": "dio", "flash_size": "4MB", "flash_freq": "40m"})
        for key in ("connect_usec", "write_usec", "bytes_sent"):
            self.assertGreater(o["stats"][key], 0, key)
        # Progress still went to stderr; stdout held only the object.
        self.assertIn("connect", p.stderr.splitlines())

        _, o = self.ctl_json("deploy", build)
        self.assertEqual((o["outcome"], o["written"]), ("trust-skip", []))

    def test_json_verify_mismatch(self):
        dev = self.add_board("esp32", "uart")
        self.start()
        build, regions = self.idf_project(chip="esp32")
        self.ctl("-q", "deploy", build, expect=EXIT_SUCCESS)
        other, other_regions = self.idf_project(name="other", chip="esp32", app_seed=2)
        p, o = self.ctl_json("verify", other, expect=EXIT_MISMATCH)
        self.assertEqual((o["command"], o["port"], o["matched"], o["exit_code"]),
                         ("verify", dev.node, False, EXIT_MISMATCH))
        got = {r["name"]: r for r in o["results"]}
        self.assertEqual(set(got), {"bootloader", "partition-table", "app"})
        self.assertTrue(got["bootloader"]["matched"])
        self.assertFalse(got["app"]["matched"])
        self.assertRegex(got["app"]["device_md5"], r"^[0-9a-f]{32}$")
        import hashlib
        app = regions[2][1]
        self.assertEqual(got["app"]["device_md5"], hashlib.md5(app).hexdigest())
        # The same as text.
        p = self.ctl("verify", other, expect=EXIT_MISMATCH)
        self.assertIn(f"{dev.node}: 1 of 3 regions differ", p.stdout)
        self.assertRegex(p.stdout, r"0x00010000\s+\S+ \S+\s+DIFFERS\s+app")

    def test_devices(self):
        a = self.add_board("esp32", "uart")
        b = self.add_board("esp32s3", "usb-jtag")
        self.start()
        p = self.ctl("devices", expect=EXIT_SUCCESS)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["PORT", "KIND", "VID:PID", "SERIAL", "CHIP", "TRUSTED", "OWNER"])
        rows = {line.split()[0]: line.split() for line in lines[1:]}
        self.assertEqual(rows[a.node][1:3], ["uart-bridge", "10c4:ea60"])
        self.assertEqual(rows[b.node][1:3], ["usb-serial-jtag", "303a:1001"])
        self.assertEqual(rows[a.node][5:], ["no", "idle"])
        _, o = self.ctl_json("devices")
        devs = {d["port"]: d for d in o["devices"]}
        self.assertEqual(set(devs), {a.node, b.node})
        self.assertEqual((devs[a.node]["vid"], devs[a.node]["pid"], devs[a.node]["kind"]),
                         (0x10C4, 0xEA60, "uart-bridge"))
        self.assertIs(devs[b.node]["trusted"], False)
        self.assertEqual(devs[b.node]["serial"], b.serial)

    def test_no_devices(self):
        self.start()
        p = self.ctl("devices", expect=EXIT_SUCCESS)
        self.assertEqual(p.stdout, "No serial devices attached.\n")
        _, o = self.ctl_json("devices")
        self.assertEqual(o, {"devices": [], "schema": 1})

    def test_trust_show_forget(self):
        dev = self.add_board("esp32", "uart")
        self.start(trust_default=True)
        build, _ = self.idf_project(chip="esp32")
        _, deployed = self.ctl_json("deploy", build)
        p = self.ctl("trust", "show", dev.node, expect=EXIT_SUCCESS)
        self.assertRegex(p.stdout, rf"^{dev.node}: trusted since \w+ \d{{4}}-\d\d-\d\d ")
        self.assertRegex(p.stdout, r"image sha256 [0-9a-f]{64}")
        _, o = self.ctl_json("trust", "show")       # the one device: PORT optional
        self.assertEqual((o["port"], o["trusted"]), (dev.node, True))
        self.assertRegex(o["image_sha256"], r"^[0-9a-f]{64}$")
        if "image_sha256" in deployed["stats"]:
            self.assertEqual(o["image_sha256"], deployed["stats"]["image_sha256"])
        self.assertGreater(o["since_usec"], 0)

        p = self.ctl("trust", "forget", dev.node, expect=EXIT_SUCCESS)
        self.assertIn("trust forgotten", p.stdout)
        p = self.ctl("trust", "show", dev.node, expect=EXIT_SUCCESS)
        self.assertIn(f"{dev.node}: not trusted", p.stdout)
        self.assertIn("trust last lost: forgotten", p.stdout)
        _, o = self.ctl_json("trust", "show", "--port", dev.node)
        self.assertEqual((o["trusted"], o["image_sha256"], o["last_invalidation"]), (False, "", "forgotten"))
        # No trust: the next deploy looks at the device (and finds it matches).
        _, o = self.ctl_json("deploy", build)
        self.assertEqual(o["outcome"], "verify-skip")

    def test_help_and_version(self):
        self.start()
        for verb in ("devices", "deploy", "verify", "trust"):
            p = self.ctl(verb, "--help", expect=EXIT_SUCCESS)
            self.assertTrue(p.stdout.startswith(f"fbuildctl {verb}"), p.stdout)
            # Short (issue 15): the exit-code table is in the manual page, once.
            self.assertIn("fbuildctl(1)", p.stdout)
            self.assertNotIn("  6  cancelled", p.stdout)
            self.assertLess(len(p.stdout.splitlines()), 40, p.stdout)
            p2 = self.ctl("help", verb, expect=EXIT_SUCCESS)
            self.assertEqual(p.stdout, p2.stdout)
        p = self.ctl("deploy", "--help", expect=EXIT_SUCCESS)
        for opt in ("--port", "--no-trust", "--baud", "--chip", "--before", "--after", "--address", "--json"):
            self.assertIn(opt, p.stdout)
        self.assertNotIn("--no-trust", self.ctl("verify", "--help").stdout)
        p = self.ctl("--help", expect=EXIT_SUCCESS)
        self.assertIn("Commands:", p.stdout)
        p = self.ctl("--version", expect=EXIT_SUCCESS)
        self.assertRegex(p.stdout, r"^fbuildctl \d+\.\d+\.\d+\n$")


if __name__ == "__main__":
    unittest.main()
