# SPDX-License-Identifier: LGPL-2.1-or-later
"""Runs a command on a new pseudo-terminal, as a person at a terminal would,
and types PASSWORD (once) when it asks for one; prints everything the terminal
showed and exits with the command's status. For the installed suite's polkit
test: fbuildctl starts pkttyagent only on a terminal.
Usage: pty-answer.py PASSWORD -- COMMAND…
"""

import os
import pty
import select
import sys
import time


def main():
    password, argv = sys.argv[1], sys.argv[sys.argv.index("--") + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    seen, answered = b"", False
    deadline = time.monotonic() + 100
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: the terminal's last process is gone
            break
        if not data:
            break
        seen += data
        if not answered and b"Password:" in seen:
            time.sleep(0.2)  # the agent turns echo off after the prompt
            os.write(fd, password.encode() + b"\n")
            answered = True
    sys.stdout.write(seen.decode(errors="replace"))
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
