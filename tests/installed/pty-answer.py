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
import termios
import time


def wait_echo_off(fd, timeout=30):
    """The agent turns echo off after its prompt: type once it has (the master
    sees the terminal's modes), or after a bound against a hang."""
    deadline = time.monotonic() + timeout
    while termios.tcgetattr(fd)[3] & termios.ECHO and time.monotonic() < deadline:
        time.sleep(0.01)


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
            wait_echo_off(fd)
            os.write(fd, password.encode() + b"\n")
            answered = True
    sys.stdout.write(seen.decode(errors="replace"))
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
