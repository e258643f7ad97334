# SPDX-License-Identifier: LGPL-2.1-or-later
"""The umockdev test bed inside the `installed` suite's container: run under
umockdev-wrapper with TMPDIR=/run/fbuild-testbed, so that the bed's root is
where the installed service (PrivateTmp=yes) can see it. The test drives it
over stdin/stdout, one command a line, one JSON answer a line:
  add CHIP TIMING   plug a board in (uart bridge; TIMING fast|real) → {"port": …}
  flash PORT        → {"sha256": …} of the simulated chip's whole flash
  stats PORT        → the simulated chip's counters (flash_begins, …)
  quit              unplug everything and exit (also on EOF)
The first line it prints is {"root": UMOCKDEV_DIR}.
"""

import hashlib
import json
import os
import sys

import esptestbed


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    with esptestbed.Bed() as bed:
        os.chmod(bed.root, 0o755)
        say({"root": bed.root})
        devices = {}
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            try:
                if words[0] == "add":
                    dev = bed.add_device(words[1], "uart", timing=words[2])
                    devices[dev.node] = dev
                    say({"port": dev.node})
                elif words[0] == "flash":
                    with open(devices[words[1]].sim.flash_path, "rb") as f:
                        say({"sha256": hashlib.sha256(f.read()).hexdigest()})
                elif words[0] == "stats":
                    say(devices[words[1]].sim.stats())
                elif words[0] == "quit":
                    break
                else:
                    say({"error": f"unknown command {words[0]}"})
            except Exception as e:  # report, keep serving
                say({"error": repr(e)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
