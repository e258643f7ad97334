#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A socket activator for tests, shaped like systemd's Accept=no .socket unit.

It holds one listening unix stream socket. When a connection is pending and no
instance is running, it starts the service with the socket as fd 3 and
LISTEN_FDS=1 / LISTEN_PID / LISTEN_FDNAMES set, then stops watching the socket
until that instance exits: queued connections wait in the backlog for the next
instance. systemd-socket-activate execs once and never respawns, which cannot
test idle exit; this one does.

Usage: socket-activator.py --listen PATH [--events FILE] [--max-spawns N] -- CMD [ARG...]
Prints "ready" on stdout once listening. SIGTERM/SIGINT stop the running instance
(SIGTERM, then SIGKILL after 5 s) and exit. --events appends one line per event:
  spawn <n> <pid> <monotonic-seconds>
  exit <n> <pid> <wait-status> <monotonic-seconds>
"""

import argparse
import os
import select
import signal
import socket
import sys
import time


class Activator:
    def __init__(self, path, argv, events=None, max_spawns=0, backlog=128):
        self.path = path
        self.argv = argv
        self.events = events
        self.max_spawns = max_spawns
        self.spawns = 0
        self.child = None
        self.stopping = False
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        self.sock.bind(path)
        # Like SocketMode=0666 in a .socket unit: anyone may connect; the
        # service decides what a caller may do.
        os.chmod(path, 0o666)
        self.sock.listen(backlog)
        # The listening socket must survive exec in the child only.
        self.sock.set_inheritable(False)
        # A self-pipe turns SIGCHLD/SIGTERM into something poll() sees.
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)

    def _stop(self, *_):
        self.stopping = True

    def _event(self, *fields):
        if not self.events:
            return
        line = " ".join(str(f) for f in fields) + f" {time.monotonic():.6f}\n"
        with open(self.events, "a") as f:
            f.write(line)

    def _spawn(self):
        self.spawns += 1
        listen_fd = self.sock.fileno()
        pid = os.fork()
        if pid == 0:
            try:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_SETMASK, [])
                if listen_fd != 3:
                    os.dup2(listen_fd, 3, inheritable=True)
                else:
                    os.set_inheritable(3, True)
                os.closerange(4, 65536)
                env = dict(os.environ)
                env["LISTEN_FDS"] = "1"
                env["LISTEN_PID"] = str(os.getpid())
                env["LISTEN_FDNAMES"] = "fbuild-deployd.socket"
                os.execvpe(self.argv[0], self.argv, env)
            except BaseException as e:  # noqa: BLE001 - must never return into the parent's code
                os.write(2, f"socket-activator: exec {self.argv[0]}: {e}\n".encode())
            finally:
                os._exit(127)
        self.child = pid
        self._event("spawn", self.spawns, pid)

    def _reap(self):
        if self.child is None:
            return
        pid, status = os.waitpid(self.child, os.WNOHANG)
        if pid == 0:
            return
        self._event("exit", self.spawns, pid, status)
        self.child = None

    def _drain_wakeups(self):
        try:
            while os.read(self.wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def _terminate_child(self):
        if self.child is None:
            return
        try:
            os.kill(self.child, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 5
        while self.child is not None and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.02)
        if self.child is not None:
            try:
                os.kill(self.child, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(self.child, 0)
            self._event("exit", self.spawns, self.child, "killed")
            self.child = None

    def run(self):
        print("ready", flush=True)
        poller = select.poll()
        poller.register(self.wake_r, select.POLLIN)
        listening = False
        while not self.stopping:
            self._reap()
            want_listen = self.child is None
            if want_listen != listening:
                if want_listen:
                    poller.register(self.sock.fileno(), select.POLLIN)
                else:
                    poller.unregister(self.sock.fileno())
                listening = want_listen
            # The timeout is only a safety net against a lost wakeup.
            for fd, _ in poller.poll(500):
                if fd == self.wake_r:
                    self._drain_wakeups()
                elif fd == self.sock.fileno() and self.child is None and not self.stopping:
                    if self.max_spawns and self.spawns >= self.max_spawns:
                        print("socket-activator: spawn limit reached", file=sys.stderr, flush=True)
                        self.stopping = True
                        break
                    self._spawn()
        self._terminate_child()
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--listen", required=True, help="unix socket path to listen on")
    p.add_argument("--events", help="append spawn/exit events to this file")
    p.add_argument("--max-spawns", type=int, default=0, help="give up after N spawns (0: never)")
    p.add_argument("command", nargs=argparse.REMAINDER)
    a = p.parse_args()
    argv = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not argv:
        p.error("no command given")
    Activator(a.listen, argv, a.events, a.max_spawns).run()


if __name__ == "__main__":
    main()
