#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A D-Bus client of org.fbuild.Deploy1, as an IDE would write one (Debian's
python3-dbus and python3-gi): deploys files passed as file descriptors, follows
the Progress signals and cancels on Ctrl-C (or, for a demonstration, as soon as
a phase starts: --cancel-at write).

    deploy-client.py [--port PORT] [--cancel-at PHASE] OFFSET=FILE...

It talks to $FBUILD_ADDRESS (the service's own socket) when that is set, else to
the system bus. Exit status: 0 done, 6 cancelled, 1 any other error.
"""

import argparse
import os
import signal
import sys

import dbus
import dbus.mainloop.glib
from gi.repository import GLib

NAME = INTERFACE = "org.fbuild.Deploy1"
OBJECT = "/org/fbuild/Deploy1"


def connect():
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    address = os.environ.get("FBUILD_ADDRESS")
    if address:
        # Peer to peer: no bus name, and every signal on the connection is the service's.
        return dbus.connection.Connection(address), None
    return dbus.SystemBus(), NAME


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", help="default: the one device ListDevices returns")
    ap.add_argument("--cancel-at", metavar="PHASE", help="call Cancel when this phase starts")
    ap.add_argument("regions", nargs="+", metavar="OFFSET=FILE")
    args = ap.parse_args()

    conn, name = connect()
    proxy = conn.get_object(name, OBJECT) if name else conn.get_object(object_path=OBJECT)
    manager = dbus.Interface(proxy, INTERFACE)

    port = args.port
    if not port:
        devices = manager.ListDevices()
        if len(devices) != 1:
            sys.exit(f"{len(devices)} devices attached: choose one with --port")
        port = str(devices[0][0])

    # The files are opened here, with our rights, and passed as descriptors.
    regions = []
    for arg in args.regions:
        offset, path = arg.split("=", 1)
        with open(path, "rb") as f:
            regions.append(dbus.Struct((dbus.UInt64(int(offset, 0)),
                                        dbus.types.UnixFd(f.fileno(), variant_level=1)), signature="tv"))

    loop = GLib.MainLoop()
    state = {"status": 1, "cancelled": False}

    def cancel():
        if not state["cancelled"]:
            state["cancelled"] = True
            print("cancelling…", flush=True)
            manager.Cancel(port, reply_handler=lambda: None,
                           error_handler=lambda e: print(f"Cancel failed: {e}", file=sys.stderr))

    # JobQueued (to this caller only) names our job's object; Progress names
    # the job it is about, so other clients' jobs on the port are left out.
    def on_queued(job, p):
        state["job"] = str(job)

    def on_progress(p, phase, done, total, job=None):
        if job is not None and state.get("job") and str(job) != state["job"]:
            return
        if str(p) != port and os.path.realpath(str(p)) != os.path.realpath(port):
            return
        print(f"progress {phase} {int(done)}/{int(total)}", flush=True)
        if args.cancel_at and str(phase) == args.cancel_at:
            cancel()

    conn.add_signal_receiver(on_queued, signal_name="JobQueued", dbus_interface=INTERFACE, path=OBJECT)
    conn.add_signal_receiver(on_progress, signal_name="Progress", dbus_interface=INTERFACE, path=OBJECT)

    def on_reply(outcome, written, stats):
        print(f"outcome {outcome}: {len(written)} ranges written")
        state["status"] = 0
        loop.quit()

    def on_error(e):
        print(f"error {e.get_dbus_name()}: {e.get_dbus_message()}")
        state["status"] = 6 if e.get_dbus_name() == "org.fbuild.Deploy1.Error.Cancelled" else 1
        loop.quit()

    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, lambda: cancel() or True)
    manager.DeployRegions(port, dbus.Array(regions, signature="(tv)"), dbus.Dictionary({}, signature="sv"),
                          reply_handler=on_reply, error_handler=on_error, timeout=24 * 3600)
    loop.run()
    return state["status"]


if __name__ == "__main__":
    sys.exit(main())
