# SPDX-License-Identifier: LGPL-2.1-or-later
"""ESP-IDF: `idf.py fbuild-flash` and `idf.py fbuild-monitor` through fbuild-deployd.

Copy this file into your project's top directory (next to CMakeLists.txt); idf.py
loads every idf_ext.py it finds there. Then:

    idf.py build fbuild-flash              # deploy build/, writing only what changed
    idf.py -p /dev/ttyUSB1 fbuild-flash    # a port of your choice (else ESPPORT, else the one board)
    idf.py fbuild-monitor                  # the serial monitor, shared with deploys

The commands are fbuildctl's (on PATH, or FBUILDCTL=/path/to/fbuildctl).
"""

import os
import shlex
import subprocess


def fbuild_command(action, build_dir, port=None, baud=None, fbuildctl=None):
    """The fbuildctl command line for an action: a list, as subprocess takes it."""
    argv = [fbuildctl or os.environ.get("FBUILDCTL") or "fbuildctl"]
    if action == "fbuild-flash":
        argv.append("deploy")
    elif action == "fbuild-monitor":
        argv.append("monitor")
    else:
        raise ValueError(f"unknown action {action!r}")
    if port:
        argv += ["--port", port]
    if baud and action == "fbuild-monitor":
        argv += ["--baud", str(baud)]
    if action == "fbuild-flash":
        argv.append(build_dir)
    return argv


def _run(action, args, monitor_baud=None):
    argv = fbuild_command(action, args.build_dir, port=getattr(args, "port", None), baud=monitor_baud)
    print("Running: " + " ".join(shlex.quote(a) for a in argv), flush=True)
    status = subprocess.call(argv)
    if status != 0:
        raise SystemExit(status)


def action_extensions(base_actions, project_path):
    def flash(action_name, ctx, args, **kwargs):
        _run(action_name, args)

    def monitor(action_name, ctx, args, monitor_baud=None, **kwargs):
        _run(action_name, args, monitor_baud)

    return {
        "actions": {
            "fbuild-flash": {
                "callback": flash,
                "help": "Deploy the build through fbuild-deployd (only what changed is written).",
                # After `build` when both are given, as `flash` is.
                "order_dependencies": ["all", "app", "bootloader", "partition-table"],
            },
            "fbuild-monitor": {
                "callback": monitor,
                "help": "Serial monitor through fbuild-deployd (a deploy pauses it instead of failing).",
                "options": [{"names": ["-b", "--monitor-baud"], "type": int,
                             "help": "The console's baud rate (default 115200)."}],
                "order_dependencies": ["fbuild-flash"],
            },
        }
    }
