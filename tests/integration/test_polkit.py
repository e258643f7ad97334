# SPDX-License-Identifier: LGPL-2.1-or-later
"""Authorization through a real polkitd, with real users: for every method that
needs it and on both transports (the private system bus; the peer-to-peer
socket, whose instance reaches polkitd over the same private bus), root is
allowed, the member of the allowed group is allowed by the example rules, the
other user is refused with org.fbuild.Deploy1.Error.PermissionDenied and nothing
happens (the simulated chip sees no traffic, trust is kept). Removing the rules
takes effect without restarting the service; a caller that hangs up while polkit
decides leaves nothing behind. Without a system bus only root is served.
Run: umockdev-wrapper /usr/bin/python3 test_polkit.py (env: see harness.py)"""

import os
import subprocess
import time
import unittest

import busfixture
import harness
import polkitfixture
from harness import CallError

DENIED = harness.error_name("PermissionDenied")
NO_OPTS = "@a{sv} {}"


class PolkitBase:
    """A test bed board, polkit set up (lock, users, files), and start() for the
    service with polkitd on its bus; calls as a user by gdbus."""
    activation = None

    def setUp(self):
        super().setUp()
        why = polkitfixture.available()
        if why:
            self.skipTest(why)
        self.pk = polkitfixture.Polkit(self).setup()
        self.dev = self.add_board("esp32", "uart")
        self.port = self.dev.node
        self.sim = self.dev.sim

    def start(self, **kw):
        """The service under test, with polkitd on the bus it uses."""
        extra = [polkitfixture.POLKIT_BUS_POLICY]
        if self.activation == "bus":
            svc = self.start_service("bus", extra_policy_files=extra, **kw)
            self.pk.start(svc.bus.address, self.work)
        else:
            # polkitd needs a bus; the socket-activated instance reaches it as its
            # system bus, as on a host with both.
            busdir = os.path.join(self.work, "polkit-bus")
            os.makedirs(busdir)
            os.chmod(busdir, 0o755)
            bus = busfixture.PrivateSystemBus(busdir, ["/bin/false"], harness.POLICY,
                                              extra_policy_files=extra).start()
            self.addCleanup(bus.stop)
            self.pk.start(bus.address, self.work)
            svc = self.start_service("socket", extra_env={"DBUS_SYSTEM_BUS_ADDRESS": bus.address}, **kw)
        self.svc = svc
        self.addCleanup(self._dump_polkit_log)
        return svc

    def _dump_polkit_log(self):
        outcome = getattr(self, "_outcome", None)
        if outcome is not None and not getattr(outcome, "success", True):
            print(f"---- polkitd ----\n{self.pk.log()[-3000:]}")

    # ---- calls ------------------------------------------------------------------------

    def call(self, user, method, *args, **kw):
        """gdbus as user (None: root); the reply as GVariant text. kw: path and
        interface of another object (a job's)."""
        return harness.Gdbus(self.svc.endpoint, user=user, timeout=60).call(method, *args, **kw)

    def assertDenied(self, user, method, *args):
        with self.assertRaises(CallError, msg=f"{method} as {user}") as cm:
            self.call(user, method, *args)
        self.assertEqual(cm.exception.name, DENIED, f"{method} as {user}: {cm.exception.message}")
        return cm.exception

    def popen_call(self, user, method, *args):
        """gdbus as user in the background: a Popen (stdout, stderr: pipes)."""
        ep = self.svc.endpoint
        cmd = busfixture._as_user(user) + ["gdbus", "call"]
        if ep.peer_to_peer:
            cmd += ["--address", ep.address, "--dest", harness.BUS_NAME]
        else:
            cmd += ["--system", "--dest", harness.BUS_NAME]
        cmd += ["--object-path", harness.OBJECT_PATH, "--method", f"{harness.INTERFACE}.{method}",
                "--timeout", "120", "--"] + list(args)
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=ep.client_env(user))
        self.addCleanup(p.stderr.close)
        self.addCleanup(p.stdout.close)
        self.addCleanup(busfixture.stop_process, p)
        return p

    def regions(self, img):
        return "[" + ", ".join(f"(uint64 {off}, <'{path}'>)" for off, path in img.paths()) + "]"

    def traffic(self):
        s = self.sim.stats()
        return (s["rx_bytes"], s["commands"], self.dev.lines.opens)

    def trusted(self, user=None):
        return self.call(user, "TrustState", self.port).startswith("(true,")

    def guarded_calls(self, img, trust=True):
        opts = "{'trust': <%s>}" % ("true" if trust else "false")
        return [("Verify", (self.port, self.regions(img), NO_OPTS)),
                ("DeployRegions", (self.port, self.regions(img), opts)),
                ("ForgetTrust", (self.port,)),
                ("Cancel", (self.port,)),
                ("Monitor", (self.port, "uint32 115200", NO_OPTS))]


class PolkitMixin(PolkitBase):

    def test_who_may_do_what(self):
        self.start()
        img = self.image()
        pk = self.pk

        # Unguarded: anyone may list devices and read trust state.
        self.assertIn(self.port, self.call(pk.user_out, "ListDevices"))
        self.assertFalse(self.trusted(pk.user_out))

        # The outsider: every guarded method refused, before the port is touched.
        before = self.traffic()
        for method, args in self.guarded_calls(img):
            self.assertDenied(pk.user_out, method, *args)
        self.assertEqual(self.traffic(), before, "a refused call reached the chip")

        # root, without asking polkit.
        out = self.call(None, "DeployRegions", self.port, self.regions(img), "{'trust': <true>}")
        self.assertTrue(out.startswith("('full',"), out)
        self.assertTrue(img.matches_flash(self.sim.flash()))
        self.assertTrue(self.trusted())

        # The outsider again, now that there is trust to lose: nothing changes.
        before = self.traffic()
        for method, args in self.guarded_calls(img):
            self.assertDenied(pk.user_out, method, *args)
        self.assertEqual(self.traffic(), before, "a refused call reached the chip")
        self.assertTrue(self.trusted(), "a refused ForgetTrust dropped trust")

        # The group member, allowed by the example rules.
        out = self.call(pk.user_in, "DeployRegions", self.port, self.regions(img), "{'trust': <true>}")
        self.assertTrue(out.startswith("('trust-skip',"), out)
        out = self.call(pk.user_in, "Verify", self.port, self.regions(img), NO_OPTS)
        self.assertIn("true", out)
        self.assertNotIn("false", out)
        self.call(pk.user_in, "Cancel", self.port)
        out = self.call(pk.user_in, "Monitor", self.port, "uint32 115200", NO_OPTS)
        self.assertTrue(out.startswith("(handle "), out)
        self.call(pk.user_in, "ForgetTrust", self.port)
        self.assertFalse(self.trusted())
        out = self.call(pk.user_in, "DeployRegions", self.port, self.regions(img), "{'trust': <false>}")
        self.assertTrue(out.startswith("('verify-skip',"), out)

        # root may do the rest too.
        out = self.call(None, "Verify", self.port, self.regions(img), NO_OPTS)
        self.assertNotIn("false", out)
        self.call(None, "Cancel", self.port)
        self.call(None, "ForgetTrust", self.port)
        self.assertEqual(len(self.svc.service_pids()), 1)

    def test_removing_the_rules_takes_effect_at_once(self):
        svc = self.start()
        pk = self.pk
        self.call(pk.user_in, "ForgetTrust", self.port)
        pids = svc.service_pids()
        self.assertEqual(len(pids), 1)

        pk.remove_rules()
        # polkitd reloads its rules when the directory changes; no restart of ours.
        deadline = time.monotonic() + 30
        while True:
            try:
                self.call(pk.user_in, "ForgetTrust", self.port)
            except CallError as e:
                self.assertEqual(e.name, DENIED, e.message)
                break
            self.assertLess(time.monotonic(), deadline, "polkitd never dropped the rules")
            time.sleep(0.2)
        self.assertEqual(svc.service_pids(), pids, "the service was restarted")
        # Nothing else changed: root still may, the outsider still may not.
        self.call(None, "ForgetTrust", self.port)
        self.assertDenied(pk.user_out, "ForgetTrust", self.port)

    def test_caller_hangs_up_while_polkit_decides(self):
        """polkit says yes to the slow user, but only after 3 s; the caller is gone
        by then: no verify runs, no reply is attempted, nothing stays pending (the
        service goes idle and exits)."""
        svc = self.start(idle_timeout=2)
        img = self.image()
        before = self.traffic()
        client = self.popen_call(self.pk.user_slow, "Verify", self.port, self.regions(img), NO_OPTS)

        def log():
            return harness._read(svc.log_path)
        asked = "Asked polkit whether"
        busfixture._wait_for(lambda: asked in log(), 30, "the service to ask polkit")
        client.kill()
        client.wait()
        busfixture._wait_for(lambda: "Dropping the org.fbuild.deploy1.verify check" in log(), 15,
                             "the service to drop the check of the caller that hung up")
        self.assertEqual(len(svc.service_pids()), 1)

        # polkit's late "yes" arrives meanwhile and is dropped: the chip hears nothing.
        time.sleep(4)
        self.assertEqual(self.traffic(), before, "a call whose caller hung up still ran")
        self.assertNotIn("Failed to dispatch the call", log())
        self.assertNotIn("Failed to reply", log())
        # Healthy, and nothing pending: it exits when idle.
        self.assertIn(self.port, self.call(None, "ListDevices"))
        busfixture._wait_for(lambda: not svc.service_pids(), 20, "idle exit after the dropped check")


class PolkitBus(PolkitMixin, harness.ServiceTestCase):
    activation = "bus"


class PolkitSocket(PolkitMixin, harness.ServiceTestCase):
    activation = "socket"


class NoSystemBus(harness.ServiceTestCase):
    """Peer-to-peer only (a container, CI): nobody to ask, so only root is served."""

    def test_only_root_without_a_bus(self):
        dev = self.add_board("esp32", "uart")
        svc = self.start_service("socket")
        before = dev.sim.stats()
        for method, args in (("ForgetTrust", (dev.node,)), ("Cancel", (dev.node,)),
                             ("Reset", (dev.node, "false")),
                             ("Verify", (dev.node, "[(uint64 65536, <'/etc/hostname'>)]", NO_OPTS))):
            with self.assertRaises(CallError) as cm:
                harness.Gdbus(svc.endpoint, user="nobody").call(method, *args)
            self.assertEqual(cm.exception.name, DENIED, cm.exception.message)
            self.assertIn("no system bus", cm.exception.message)
        self.assertEqual(dev.sim.stats()["commands"], before["commands"])
        self.assertEqual(dev.sim.stats()["resets"], before["resets"], "Reset refused: the board untouched")
        harness.Gdbus(svc.endpoint).call("ForgetTrust", dev.node)
        self.assertIn(dev.node, harness.Gdbus(svc.endpoint, user="nobody").call("ListDevices"))


if __name__ == "__main__":
    unittest.main()
