# SPDX-License-Identifier: LGPL-2.1-or-later
"""The idle service's memory: fbuild-deployd started by socket activation the way
systemd starts it (LISTEN_FDS, no system bus), outside the test bed (no umockdev
preload, no simulated device), answers one ListDevices over the socket, and then
sits idle; its VmRSS (and the anonymous/file split) is read from /proc/PID/status.
Used by bench.py; runs on its own too:
    /usr/bin/python3 bench/idle_rss.py BUILD/src/daemon/fbuild-deployd"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

# What the test bed adds and this measurement must not carry.
PRELOAD_ENV = ("LD_PRELOAD", "UMOCKDEV_DIR")
SETTLE = 0.5    # s after the reply, so the state read is the idle one


def status_kib(pid, keys=("VmRSS", "RssAnon", "RssFile", "VmHWM")):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in keys:
                out[k] = int(v.split()[0])
    return out


# Mappings the test bed's LD_PRELOAD adds to a service (it needs only libc).
TESTBED_MAPPINGS = ("libumockdev-preload",)


def smaps_kib(pid, exclude=()):
    """{Rss, Anonymous, File} in KiB summed over /proc/PID/smaps, leaving out
    mappings of files whose name starts with one of `exclude` (what the test
    bed adds to a service it runs) with the nameless mapping right after them
    (their .bss), and {by_file: {name: Rss}} for the rest."""
    out = {"Rss": 0, "Anonymous": 0, "File": 0, "by_file": {}}
    name, skip, skipped_end = None, False, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if not parts[0].endswith(":"):
                # A mapping's header: range perms offset dev inode [path]
                start, end = parts[0].split("-")
                name = parts[5] if len(parts) > 5 else "[anon]"
                base = os.path.basename(name)
                skip = any(base.startswith(e) for e in exclude) or (name == "[anon]" and start == skipped_end)
                skipped_end = end if skip else None
                continue
            if skip:
                continue
            if parts[0] == "Rss:":
                kib = int(parts[1])
                out["Rss"] += kib
                if name.startswith("/"):
                    out["File"] += kib
                base = os.path.basename(name)
                out["by_file"][base] = out["by_file"].get(base, 0) + kib
            elif parts[0] == "Anonymous:":
                out["Anonymous"] += int(parts[1])
    return out


def describe_smaps(kib, top=4):
    big = sorted(kib["by_file"].items(), key=lambda kv: -kv[1])[:top]
    return (f"{kib['Rss'] / 1024:.1f} MiB RSS ({kib['Anonymous'] / 1024:.1f} MiB anonymous; largest: "
            + ", ".join(f"{n} {v / 1024:.1f}" for n, v in big) + " MiB)")


def measure(deployd):
    """{VmRSS, RssAnon, RssFile, VmHWM} in KiB of the idle service."""
    work = tempfile.mkdtemp(prefix="fbuild-idle-rss.")
    proc = None
    try:
        conf = os.path.join(work, "deployd.conf")
        with open(conf, "w") as f:
            f.write("[Service]\nLogLevel=info\nIdleTimeoutSec=600\n")
        path = os.path.join(work, "socket")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(16)
        env = {k: v for k, v in os.environ.items() if k not in PRELOAD_ENV}
        env.update(FBUILD_DEPLOYD_CONFIG=conf, LISTEN_FDS="1", LISTEN_FDNAMES="varlink",
                   DBUS_SYSTEM_BUS_ADDRESS=f"unix:path={work}/no-such-bus")
        env.pop("FBUILD_DEPLOYD_IDLE_TIMEOUT_SEC", None)

        def socket_as_fd3():
            fd = listener.fileno()
            if fd == 3:
                os.set_inheritable(3, True)
            else:
                os.dup2(fd, 3)

        # sh sets LISTEN_PID to its own pid, which exec keeps.
        proc = subprocess.Popen(["/bin/sh", "-c", 'LISTEN_PID=$$ exec "$0"', deployd], env=env,
                                preexec_fn=socket_as_fd3, close_fds=False, stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(work, "log"), "w"))
        listener.close()
        r = subprocess.run(["busctl", f"--address=unix:path={path}", "--timeout=30", "call",
                            "org.fbuild.Deploy1", "/org/fbuild/Deploy1", "org.fbuild.Deploy1",
                            "ListDevices"], capture_output=True, text=True, env=env, timeout=60)
        if r.returncode != 0:
            with open(os.path.join(work, "log")) as f:
                raise RuntimeError(f"ListDevices failed: {r.stderr}\n{f.read()}")
        time.sleep(SETTLE)
        if proc.poll() is not None:
            raise RuntimeError(f"fbuild-deployd exited ({proc.returncode})")
        return status_kib(proc.pid)
    finally:
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(work, ignore_errors=True)


def measure_median(deployd, runs=3):
    """measure() of `runs` fresh starts, the one with the median VmRSS: a page
    or two of the measurement moves between starts on a busy machine."""
    all_runs = sorted((measure(deployd) for _ in range(runs)), key=lambda k: k["VmRSS"])
    return all_runs[len(all_runs) // 2]


def describe(kib):
    return (f"{kib['VmRSS'] / 1024:.1f} MiB VmRSS ({kib['RssAnon'] / 1024:.1f} MiB anonymous, "
            f"{kib['RssFile'] / 1024:.1f} MiB file-backed; peak {kib['VmHWM'] / 1024:.1f} MiB)")


def markdown(kib):
    return (f"Idle memory: {describe(kib)} — the service started by socket activation outside "
            "the test bed (no umockdev preload, no device, no system bus), after one ListDevices; "
            "the median of three starts (`bench/idle_rss.py`, which also runs on its own).\n\n")


if __name__ == "__main__":
    print(f"idle fbuild-deployd: {describe(measure_median(sys.argv[1]))}")
