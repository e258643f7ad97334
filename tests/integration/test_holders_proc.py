# SPDX-License-Identifier: LGPL-2.1-or-later
"""ProtectProc=invisible and the /proc holder scan (issue 12): the scan that
drops trust when another process still holds a port (src/device/device-holders.c)
must see under ProtectProc=invisible what it sees without it. Run the scan
(tests/tools/holders-probe) against pty slaves held by another user and by
root, on the normal /proc and on a private proc mounted hidepid=invisible (what
ProtectProc=invisible mounts), with all of root's capabilities and with only the
unit's CapabilityBoundingSet=.

What this shows (and the README says): with all capabilities the scan finds
every holder on either /proc; with the unit's capabilities it finds, on either
/proc, only root's processes with no more capabilities than its own: reading
another process's /proc/PID/fd takes ptrace access (CAP_SYS_PTRACE for another
user's or a more capable one, and CAP_DAC_READ_SEARCH for another user's 0500
directory), which the unit does not grant, with or without ProtectProc.
hidepid=invisible hides nothing from a process in group 0 (no gid= option), so
ProtectProc=invisible changes nothing the scan sees, and the unit sets it.
Run: /usr/bin/python3 test_holders_proc.py (env: FBUILD_HOLDERS_PROBE, FBUILD_SERVICE_UNIT)"""

import os
import re
import shutil
import subprocess
import sys
import unittest

PROBE = os.environ.get("FBUILD_HOLDERS_PROBE", "")
UNIT = os.environ.get("FBUILD_SERVICE_UNIT", "")


def unit_capabilities():
    """CapabilityBoundingSet= of the unit as setpriv's --bounding-set argument."""
    with open(UNIT) as f:
        m = re.search(r"^CapabilityBoundingSet=(.*)$", f.read(), re.M)
    caps = m.group(1).split()
    return "-all," + ",".join("+" + c.lower().removeprefix("cap_") for c in caps)


class HoldersUnderProtectProc(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (mount namespaces, another user's process)")
        for tool in ("unshare", "setpriv"):
            if not shutil.which(tool):
                self.skipTest(f"no {tool}")
        if not PROBE or not os.access(PROBE, os.X_OK):
            self.skipTest(f"FBUILD_HOLDERS_PROBE not set: {PROBE!r}")
        if not UNIT or not os.path.exists(UNIT):
            self.skipTest(f"FBUILD_SERVICE_UNIT not set: {UNIT!r}")

    def holder(self, user, caps=None):
        """A pty whose slave only a `sleep` of user (None: root, with caps: only
        those) holds; returns the slave's path."""
        master, slave = os.openpty()
        name = os.ttyname(slave)
        cmd = ["sleep", "120"]
        if user:
            cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--"] + cmd
        if caps:
            cmd = ["setpriv", f"--bounding-set={caps}", "--"] + cmd
        p = subprocess.Popen(cmd, stdin=slave, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(slave)
        self.addCleanup(os.close, master)
        self.addCleanup(p.wait)
        self.addCleanup(p.kill)
        return name

    def scan(self, node, hidepid, caps):
        inner = ([] if caps is None else ["setpriv", f"--bounding-set={caps}", "--"]) + [PROBE, node]
        if hidepid:
            cmd = ["unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
                   'mount -t proc -o hidepid=invisible proc /proc && exec "$@"', "sh"] + inner
        else:
            cmd = inner
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        return int(p.stdout.strip())

    def test_protect_proc_changes_nothing_the_scan_sees(self):
        unit_caps = unit_capabilities()
        holders = {"nobody": self.holder("65534"), "root": self.holder(None),
                   # root with the unit's capabilities: like the service itself
                   "root-sandboxed": self.holder(None, unit_caps)}
        seen = {}
        for name, node in holders.items():
            for caps_name, caps in (("all", None), ("unit", unit_caps)):
                for hidepid in (False, True):
                    seen[(name, caps_name, hidepid)] = self.scan(node, hidepid, caps)
        sys.stderr.write(f"holder scan results (holder, capabilities, hidepid=invisible): {seen}\n")

        # ProtectProc=invisible changes nothing the scan sees, whatever the capabilities.
        for name in holders:
            for caps_name in ("all", "unit"):
                self.assertEqual(seen[(name, caps_name, False)], seen[(name, caps_name, True)],
                                 f"hidepid=invisible changed the scan for {name}'s holder ({caps_name} caps)")
        # All of root's capabilities: every holder, on either /proc.
        for name in holders:
            self.assertEqual(seen[(name, "all", True)], 1, name)
        # The unit's: only processes that ptrace rules let it read, i.e. root's
        # with no more capabilities than the service; not another user's (that
        # needs CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH), nor root's with more
        # (CAP_SYS_PTRACE). README "Who may do what" says so.
        self.assertEqual(seen[("root-sandboxed", "unit", True)], 1)
        self.assertEqual(seen[("nobody", "unit", True)], 0)
        self.assertEqual(seen[("root", "unit", True)], 0)

        with open(UNIT) as f:
            self.assertIn("ProtectProc=invisible\n", f.read())


if __name__ == "__main__":
    unittest.main()
