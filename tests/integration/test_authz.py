# SPDX-License-Identifier: LGPL-2.1-or-later
"""Who may act on what another user started (issue 12, README "Who may do
what"), with real polkitd and real users: Cancel of another user's job and a
writing monitor on a device another user monitors need
org.fbuild.deploy1.manage-others (administrators by default; the example rules
do not give it to the group), while a user cancels its own jobs and reads
alongside others with the ordinary actions. A user granted manage-others (and
nothing else) may do both.
Run: umockdev-wrapper /usr/bin/python3 test_authz.py (env: see harness.py)"""

import pwd
import re
import unittest

import busfixture
import harness
from harness import CallError
from test_limits import MonitorHolder
from test_polkit import DENIED, NO_OPTS, PolkitBase

OTHERS = "org.fbuild.deploy1.manage-others"
# user_slow gets manage-others and nothing else (it is in no group).
OTHERS_RULES = """// fbuild-deployd integration tests: one user may act on others' work.
polkit.addRule(function(action, subject) {
        if (action.id == "%s" && subject.user == "%s")
                return polkit.Result.YES;
});
"""


class AuthzMixin(PolkitBase):
    def setUp(self):
        super().setUp()
        self.pk.install_extra_rules("45-fbuild-deployd-others", OTHERS_RULES % (OTHERS, self.pk.user_slow))

    def start_long_deploy(self, user, port, img):
        """DeployRegions as user in the background; returns once it holds the port."""
        p = self.popen_call(user, "DeployRegions", port, self.regions(img), "{'trust': <false>}")
        busfixture._wait_for(lambda: "'owner': <'flashing'>" in self.call(None, "ListDevices"), 60,
                             f"{user}'s deploy to hold the port")
        return p

    def test_cancel_needs_ownership_or_manage_others(self):
        slow = self.add_board("esp32", "uart", timing="real")
        self.start()
        pk = self.pk
        big = self.image(app_seed=50, app_size=768 * 1024)

        job = self.start_long_deploy(pk.user_in2, slow.node, big)
        # Another allowed user: denied, by name and with the action it lacks; the job goes on.
        e = self.assertDenied(pk.user_in, "Cancel", slow.node)
        self.assertIn(OTHERS, e.message)
        self.assertIsNone(job.poll(), "a refused Cancel stopped the job")
        # A user with manage-others (and nothing else) may.
        self.call(pk.user_slow, "Cancel", slow.node)
        _, err = job.communicate(timeout=60)
        self.assertIn("Error.Cancelled", err)

        # With a job of its own queued behind someone else's, a user's Cancel
        # (fbuildctl's Ctrl-C) cancels its own and leaves the other one alone.
        job = self.start_long_deploy(pk.user_in2, slow.node, big)
        mine = self.popen_call(pk.user_in, "Verify", slow.node, self.regions(self.image(app_seed=51)), NO_OPTS)
        busfixture._wait_for(lambda: f"Queued a verify on {slow.node}" in harness._read(self.svc.log_path), 60,
                             "user_in's verify to queue")
        self.call(pk.user_in, "Cancel", slow.node)
        _, err = mine.communicate(timeout=60)
        self.assertIn("Error.Cancelled", err)
        self.assertIsNone(job.poll(), "a user's Cancel stopped another user's job")
        # Its own job, a user cancels with the ordinary action.
        self.call(pk.user_in2, "Cancel", slow.node)
        _, err = job.communicate(timeout=60)
        self.assertIn("Error.Cancelled", err)
        # And someone else's with nothing running is simply nothing to cancel.
        self.call(pk.user_in, "Cancel", slow.node)
        self.assertEqual(len(self.svc.service_pids()), 1)

    def job_of(self, user, port):
        """The path of user's job on port, as ListJobs (read by root) says."""
        uid = pwd.getpwnam(user).pw_uid
        out = self.call(None, "ListJobs")
        # (id, kind, port, phase, uid, path); gdbus annotates types on the first only.
        jobs = re.findall(r"\((?:uint32 )?(\d+), '(\w+)', '([^']*)', '([^']*)', (?:uint32 )?(\d+), "
                          r"(?:objectpath )?'([^']+)'\)", out)
        mine = [j for j in jobs if j[2] == port and int(j[4]) == uid]
        self.assertEqual(len(mine), 1, f"{user}'s jobs on {port}: {out}")
        return mine[0][5]

    def test_cancel_job_object_needs_ownership_or_manage_others(self):
        """Cancel() on a job object follows the manager's Cancel rule for that job."""
        slow = self.add_board("esp32", "uart", timing="real")
        self.start()
        pk = self.pk
        big = self.image(app_seed=52, app_size=768 * 1024)

        job = self.start_long_deploy(pk.user_in2, slow.node, big)
        path = self.job_of(pk.user_in2, slow.node)
        uid = self.call(None, "Get", f"'{harness.JOB_INTERFACE}'", "'Uid'", path=path,
                        interface="org.freedesktop.DBus.Properties")
        self.assertEqual(uid, f"(<uint32 {pwd.getpwnam(pk.user_in2).pw_uid}>,)")
        # Another allowed user: denied, naming the action it lacks; the job goes on.
        with self.assertRaises(CallError) as cm:
            self.call(pk.user_in, "Cancel", path=path, interface=harness.JOB_INTERFACE)
        self.assertEqual(cm.exception.name, DENIED, cm.exception.message)
        self.assertIn(OTHERS, cm.exception.message)
        self.assertIsNone(job.poll(), "a refused Cancel stopped the job")
        self.assertEqual(self.job_of(pk.user_in2, slow.node), path)
        # A user with manage-others (and nothing else) may.
        self.call(pk.user_slow, "Cancel", path=path, interface=harness.JOB_INTERFACE)
        _, err = job.communicate(timeout=60)
        self.assertIn("Error.Cancelled", err)

        # Its own job, a user cancels with the ordinary action.
        job = self.start_long_deploy(pk.user_in2, slow.node, big)
        path2 = self.job_of(pk.user_in2, slow.node)
        self.assertNotEqual(path2, path)
        self.call(pk.user_in2, "Cancel", path=path2, interface=harness.JOB_INTERFACE)
        _, err = job.communicate(timeout=60)
        self.assertIn("Error.Cancelled", err)
        # Gone once answered.
        with self.assertRaises(CallError) as cm:
            self.call(None, "Cancel", path=path2, interface=harness.JOB_INTERFACE)
        self.assertEqual(cm.exception.name, "org.freedesktop.DBus.Error.UnknownObject")

    def test_writing_monitor_next_to_another_user(self):
        svc = self.start()
        pk = self.pk
        watcher = MonitorHolder(self, svc.endpoint, self.port, pk.user_in2)
        self.assertEqual(watcher.monitor(1), ["ok"])

        before = self.traffic()
        e = self.assertDenied(pk.user_in, "Monitor", self.port, "uint32 115200", "{'write': <true>}")
        self.assertIn(OTHERS, e.message)
        self.assertEqual(self.traffic()[:2], before[:2], "a refused writer reached the chip")
        # Reading alongside is the ordinary monitor action.
        out = self.call(pk.user_in, "Monitor", self.port, "uint32 115200", NO_OPTS)
        self.assertTrue(out.startswith("(handle "), out)
        # manage-others (and nothing else) may write next to them; so may root.
        out = self.call(pk.user_slow, "Monitor", self.port, "uint32 115200", "{'write': <true>}")
        self.assertTrue(out.startswith("(handle "), out)
        out = self.call(None, "Monitor", self.port, "uint32 115200", "{'write': <true>}")
        self.assertTrue(out.startswith("(handle "), out)
        # With nobody else there, the group member writes with the monitor action.
        watcher.p.stdin.close()
        watcher.p.wait(30)

        def alone_then_writes():
            try:
                return self.call(pk.user_in, "Monitor", self.port, "uint32 115200",
                                 "{'write': <true>}").startswith("(handle ")
            except CallError as e:
                self.assertEqual(e.name, DENIED, e.message)
                return False
        busfixture._wait_for(alone_then_writes, 30, "the other monitors to end", interval=0.2)


class AuthzBus(AuthzMixin, harness.ServiceTestCase):
    activation = "bus"


class AuthzSocket(AuthzMixin, harness.ServiceTestCase):
    activation = "socket"


if __name__ == "__main__":
    unittest.main()
