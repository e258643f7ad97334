# SPDX-License-Identifier: LGPL-2.1-or-later
"""The body of tools/sim-shell: simulated ESP boards on the umockdev test bed, the
service behind the test tree's socket activator, and a bash that sees both. Runs
under umockdev-wrapper with Debian's /usr/bin/python3; the bed, the sims and the
activator are the test tree's own (esptestbed, busfixture), as in tools/demo.py."""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "testbed"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree

import busfixture  # noqa: E402  (esptestbed waits: it reads FBUILD_ESP_SIM on import)

# How each chip is usually wired: ESP32 and C3 dev kits through a CP2102 bridge,
# the S3 through its own USB-Serial-JTAG.
KIND = {"esp32": "uart", "esp32c3": "uart", "esp32s3": "usb-jtag"}

# Sourced by the interactive shell: the user's own setup, then a prompt that says
# where you are, and fbuildctl's completion. --rcfile skips /etc/bash.bashrc, which
# is what loads bash-completion on Debian, and fbuildctl's completion needs its
# _init_completion: load it here unless ~/.bashrc already did.
RCFILE = """[ -r ~/.bashrc ] && . ~/.bashrc
PS1="(fbuild-sim) $PS1"
if ! declare -F _init_completion >/dev/null && [ -r {bash_completion} ]; then
        . {bash_completion}
fi
. {completion}
"""
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"


def say(msg):
    # stderr, so that `sim-shell -c …` leaves stdout to the commands.
    print(f"sim-shell: {msg}", file=sys.stderr, flush=True)


def executable(path, what):
    if not os.access(path, os.X_OK):
        sys.exit(f"sim-shell: {what} not built: {path}")
    return os.path.abspath(path)


def main():
    ap = argparse.ArgumentParser(prog="sim-shell",
                                 description="A shell with simulated ESP boards and fbuild-deployd.")
    ap.add_argument("--deployd", required=True)
    ap.add_argument("--sim", required=True)
    ap.add_argument("--ctl-dir", required=True, help="directory holding the built fbuildctl")
    ap.add_argument("--boards", type=int, default=1, metavar="N", help="how many boards (default 1)")
    ap.add_argument("--chip", default="esp32", choices=sorted(KIND))
    ap.add_argument("-c", dest="commands", metavar="COMMANDS",
                    help="run COMMANDS with bash instead of an interactive shell")
    args = ap.parse_args()
    if args.boards < 1:
        ap.error("--boards must be at least 1")

    deployd = executable(args.deployd, "fbuild-deployd")
    executable(os.path.join(args.ctl_dir, "fbuildctl"), "fbuildctl")
    # esptestbed reads the sim's path when it is imported.
    os.environ["FBUILD_ESP_SIM"] = executable(args.sim, "fbuild-esp-sim")
    # An ASan build under umockdev's preload needs this (DESIGN.md); harmless otherwise.
    os.environ.setdefault("ASAN_OPTIONS", "verify_asan_link_order=0")

    import esptestbed

    # Closing the terminal must tear down as well as exit does (SIGTERM already
    # becomes SystemExit inside esptestbed).
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(128 + signal.SIGHUP))

    work = tempfile.mkdtemp(prefix="fbuild-sim-shell.")
    rc = 1
    try:
        with esptestbed.Bed() as bed:
            if os.geteuid() != 0:
                say("not root: with no polkit to ask, the service lets only root "
                    "deploy, verify or forget trust")
            for _ in range(args.boards):
                # The reference timing model, so progress is something you can watch.
                board = bed.add_device(args.chip, KIND[args.chip], timing="real")
                say(f"simulated {args.chip} on {board.node} "
                    f"({board.vid:04x}:{board.pid:04x}, serial {board.serial})")

            # The service must not pick up this machine's /etc/fbuild/deployd.conf, and
            # must not exit when idle: trust lives in its memory, and a walkthrough
            # typed at human speed would otherwise restart it between two deploys.
            conf = os.path.join(work, "deployd.conf")
            open(conf, "w").close()
            env = bed.env()
            env["FBUILD_DEPLOYD_CONFIG"] = conf
            env["FBUILD_DEPLOYD_IDLE_TIMEOUT_SEC"] = "infinity"
            # Peer-to-peer only: on a machine with a system bus (and maybe an installed
            # fbuild-deployd), this instance must not take org.fbuild.Deploy1 there.
            env["DBUS_SYSTEM_BUS_ADDRESS"] = f"unix:path={work}/no-system-bus"
            service = busfixture.SocketActivator(work, [deployd], env=env)
            service.start()
            try:
                say(f"fbuild-deployd on {service.address} (log: {service.log_path})")
                rc = run_shell(args, bed, service)
            finally:
                service.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(rc)


def run_shell(args, bed, service):
    """The user's shell, inside the bed (bed.env(): umockdev's preload and root),
    with FBUILD_ADDRESS and fbuildctl on PATH. Returns its exit status."""
    env = bed.env()
    env.pop("FBUILD_ESP_SIM", None)
    env["FBUILD_ADDRESS"] = service.address
    env["FBUILD_DEPLOYD_LOG"] = service.log_path
    env["PATH"] = os.path.abspath(args.ctl_dir) + os.pathsep + env.get("PATH", "/usr/bin:/bin")

    interactive = args.commands is None and sys.stdin.isatty()
    if args.commands is not None:
        argv = ["bash", "-c", args.commands]
    elif interactive:
        rcfile = os.path.join(service.workdir, "bashrc")
        with open(rcfile, "w") as f:
            f.write(RCFILE.format(completion=os.path.join(ROOT, "data", "completion", "fbuildctl"),
                                  bash_completion=BASH_COMPLETION))
        argv = ["bash", "--rcfile", rcfile, "-i"]
        say("FBUILD_ADDRESS is set and fbuildctl is on PATH; `exit` ends the session")
    else:
        argv = ["bash", "-s"]  # a script on stdin

    shell = subprocess.Popen(argv, env=env)
    # Ctrl-C is for the shell and what runs in it (fbuildctl cancels its deploy):
    # ignore it here, after the spawn, so the shell still gets the default action.
    for sig in (signal.SIGINT, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_IGN)
    try:
        status = shell.wait()
    finally:
        busfixture.stop_process(shell)  # on SIGTERM/SIGHUP while it still runs
    if status != 0 and not interactive:
        # A script failed: the service's side of it is in a log that is about to
        # be deleted with everything else, so show its end now.
        say(f"commands exited with {status}; the end of the service log:")
        sys.stderr.write("".join(service.log().splitlines(True)[-30:]))
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    main()
