# SPDX-License-Identifier: LGPL-2.1-or-later
"""Jobs as objects (issue 13, item 5): each DeployRegions and Verify is
/org/fbuild/Deploy1/job/N with org.fbuild.Deploy1.Job from the moment it is
queued until its reply. The caller alone is told its job's path (JobQueued,
before any Progress of it); Progress names the job; ListJobs lists it; its
properties follow it, with PropertiesChanged; Cancel on the object cancels it;
the object is gone once the call has its answer. What the object exports is
exactly data/dbus/org.fbuild.Deploy1.Job.xml.
Run: umockdev-wrapper /usr/bin/python3 test_jobs.py (env: see harness.py)"""

import time
import unittest

import dbus

import busfixture
import harness

BAUD = 921600
BIG_APP = 768 * 1024
JOB_PREFIX = "/org/fbuild/Deploy1/job"
PROPERTIES = "org.freedesktop.DBus.Properties"
UNKNOWN_OBJECT = "org.freedesktop.DBus.Error.UnknownObject"


def watch_properties(c):
    """Records PropertiesChanged of any object on c: (time, path, interface, changed)."""
    seen = []

    def handler(interface, changed, invalidated, path=None):
        seen.append((time.monotonic(), str(path), str(interface),
                     {str(k): harness.unwrap(v) for k, v in changed.items()}))
    c._receivers.append(c.conn.add_signal_receiver(handler, signal_name="PropertiesChanged",
                                                   dbus_interface=PROPERTIES, path_keyword="path"))
    return seen


def object_call(c, path, interface, method, signature="", args=()):
    dest = None if c.ep.peer_to_peer else harness.BUS_NAME
    return c.conn.call_blocking(dest, path, interface, method, signature, args, timeout=60)


def job_properties(c, path):
    return {str(k): harness.unwrap(v)
            for k, v in object_call(c, path, PROPERTIES, "GetAll", "s", (harness.JOB_INTERFACE,)).items()}


class JobsMixin:
    activation = None

    def setUp(self):
        super().setUp()
        self.dev = self.add_board("esp32", "uart", timing="real")
        self.port = self.dev.node
        self.svc = self.start_service(self.activation, trust_default=False)

    def assertGone(self, c, path):
        with self.assertRaises(dbus.exceptions.DBusException, msg=f"{path} still answers") as cm:
            job_properties(c, path)
        self.assertEqual(cm.exception.get_dbus_name(), UNKNOWN_OBJECT)
        self.assertEqual(c.call("ListJobs"), [])

    def test_caller_learns_its_job_and_progress_names_it(self):
        port = self.port
        c = self.client()
        c.watch_signals()
        other = self.client()
        other.watch_signals()
        img = self.image(app_seed=41, app_size=64 * 1024)
        paths = []
        for method in ("DeployRegions", "Verify"):
            mark, other_mark = len(c.signals), len(other.signals)
            c.call(method, port, harness.regions_value(img.paths()), harness.options_value())
            # The caller's signals came before its reply, on its connection.
            c.drain()
            mine = c.signals[mark:]
            queued = [(i, a) for i, (_, m, a) in enumerate(mine) if m == "JobQueued"]
            self.assertEqual(len(queued), 1, f"{method}: JobQueued {queued}")
            at, (path, qport) = queued[0]
            self.assertEqual(qport, port)
            self.assertTrue(path.startswith(JOB_PREFIX + "/"), path)
            progress = [(i, a) for i, (_, m, a) in enumerate(mine) if m == "Progress"]
            self.assertTrue(progress, f"{method}: no Progress")
            self.assertLess(at, progress[0][0], "JobQueued must come before the job's first Progress")
            self.assertEqual({a[4] for _, a in progress}, {path})
            self.assertEqual({a[0] for _, a in progress}, {port})
            # Everyone sees Progress with the job; only the caller hears JobQueued
            # (which would have come before the Progress it waits for here).
            other.run_until(lambda: len([1 for _, m, _ in other.signals[other_mark:] if m == "Progress"])
                            >= len(progress), 30, "the other client's Progress")
            theirs = other.signals[other_mark:]
            self.assertEqual([a for _, m, a in theirs if m == "JobQueued"], [])
            self.assertEqual([a[:4] for _, m, a in theirs if m == "Progress"], [a[:4] for _, a in progress])
            self.assertEqual({a[4] for _, m, a in theirs if m == "Progress"}, {path})
            # Answered: the object is gone.
            self.assertGone(c, path)
            paths.append(path)
        ids = [int(p.rsplit("/", 1)[1]) for p in paths]
        self.assertLess(ids[0], ids[1], f"job ids must grow: {paths}")

    def test_running_job_object_then_cancel(self):
        port = self.port
        c = self.client()
        c.watch_signals()
        props_seen = watch_properties(c)
        big = self.image(app_seed=42, app_size=BIG_APP)
        opts = harness.options_value(baud=dbus.UInt32(BAUD))
        p = c.call_async("DeployRegions", port, harness.regions_value(big.paths()), opts)

        def writing():
            return [a for _, m, a in c.signals if m == "Progress" and a[1] == "write" and a[2] > 0]
        c.run_until(lambda: writing() or p.done, 60, "the deploy to start writing")
        self.assertFalse(p.done, f"the deploy ended early: {p.result or p.error}")
        path, total = writing()[0][4], writing()[0][3]
        queued = [a for _, m, a in c.signals if m == "JobQueued"]
        self.assertEqual(queued, [[path, port]])
        job_id = int(path.rsplit("/", 1)[1])

        # ListJobs: this one job, as (id, kind, port, phase, uid, path).
        jobs = c.call("ListJobs")
        self.assertEqual(len(jobs), 1, jobs)
        self.assertEqual(tuple(jobs[0][:3]) + tuple(jobs[0][4:]), (job_id, "deploy", port, 0, path))
        self.assertIn(jobs[0][3], ("write", "post-verify"))

        # The properties, read while it writes.
        props = job_properties(c, path)
        self.assertEqual(set(props), {"Id", "Kind", "Port", "Uid", "Phase", "Progress", "BytesDone",
                                      "BytesTotal"})
        self.assertEqual((props["Id"], props["Kind"], props["Port"], props["Uid"]),
                         (job_id, "deploy", port, 0))
        self.assertEqual((props["Phase"], props["BytesTotal"]), ("write", total))
        self.assertGreater(props["BytesDone"], 0)
        self.assertLess(props["BytesDone"], total, "cancel must land before the write ends")
        self.assertAlmostEqual(props["Progress"], props["BytesDone"] / props["BytesTotal"])

        # PropertiesChanged follows the write, for this object and interface.
        def changes():
            return [ch for _, pth, iface, ch in props_seen if pth == path and iface == harness.JOB_INTERFACE
                    and ch.get("Phase") == "write" and ch.get("BytesDone", 0) > props["BytesDone"]]
        c.run_until(lambda: changes() or p.done, 30, "PropertiesChanged with more bytes written")
        ch = changes()[0]
        self.assertEqual(set(ch), {"Phase", "Progress", "BytesDone", "BytesTotal"})
        self.assertEqual(ch["BytesTotal"], total)

        # The object is listed under the job prefix, and exports what the XML says.
        listing = str(object_call(c, JOB_PREFIX, "org.freedesktop.DBus.Introspectable", "Introspect"))
        self.assertIn(f'<node name="{job_id}"/>', listing)
        with open(harness.JOB_INTROSPECTION_XML) as f:
            want = busfixture.interface_model(f.read(), harness.JOB_INTERFACE)
        got = busfixture.interface_model(
            str(object_call(c, path, "org.freedesktop.DBus.Introspectable", "Introspect")),
            harness.JOB_INTERFACE)
        self.assertEqual(got, want)
        # busctl sees the same object.
        rows = busfixture.busctl_introspect_rows(harness.Busctl(self.svc.endpoint).introspect(path=path),
                                                 harness.JOB_INTERFACE)
        self.assertEqual(rows[("method", "Cancel")], ("-", "-"))
        self.assertEqual(rows[("property", "BytesTotal")][0], "t")

        # Cancel on the object: the call fails with Cancelled, the object goes.
        self.assertFalse(p.done)
        object_call(c, path, harness.JOB_INTERFACE, "Cancel")
        c.run_until(lambda: p.done, 30, "the cancelled call to return")
        self.assertIsNotNone(p.error, f"not cancelled: {p.result}")
        self.assertEqual(p.error.name, harness.error_name("Cancelled"), p.error.message)
        self.assertIn("app", big.mismatches(self.dev.sim.flash()))
        c.drain()
        done = [ch for _, pth, iface, ch in props_seen if pth == path and ch.get("Phase") == "done"]
        self.assertEqual(len(done), 1, "the object's last change is Phase done")
        self.assertGone(c, path)
        self.assertEqual(dict(c.list_devices())[port]["owner"], "idle")


class JobsBus(JobsMixin, harness.ServiceTestCase):
    activation = "bus"


class JobsSocket(JobsMixin, harness.ServiceTestCase):
    activation = "socket"


if __name__ == "__main__":
    unittest.main()
