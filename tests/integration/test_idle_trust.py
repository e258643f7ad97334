# SPDX-License-Identifier: LGPL-2.1-or-later
"""Trust that outlives a compile (issue 16, item 4): while the service holds trust
for an attached board it stays up for TrustIdleTimeoutSec= instead of
IdleTimeoutSec=, so a redeploy after a pause is still a trust-skip; trust that is
dropped (ForgetTrust, unplug, a foreign open) shortens the stay back to
IdleTimeoutSec=; TrustIdleTimeoutSec=0 turns the longer stay off. Under bus
activation and under the socket activator.
Run: umockdev-wrapper /usr/bin/python3 test_idle_trust.py (env: see harness.py)

No timing assertions: "still running" is checked only at a point well past the
short timeout and well inside the long one, and "it exits" waits with a generous
bound. Where the test must tell the short timeout from the long one, the long one
is 10 minutes, so an exit within the bound can only be the short one."""

import time
import unittest

import harness

SHORT = 1       # IdleTimeoutSec=
# TrustIdleTimeoutSec= where the test waits for the long stay to end: the
# redeploy after the "still up" check (2 × SHORT) must come inside it, with room
# for a loaded machine.
LONG = 10
NEVER = 600     # TrustIdleTimeoutSec= where an exit must be the short timeout's
# How long "it exits" may take on a loaded machine (ASan, 4 helpers on 2 cores).
EXIT_BOUND = 30


class IdleTrustMixin:
    activation = None

    def setUp(self):
        super().setUp()
        self.dev = self.add_board("esp32", "uart")
        # An untrusted board beside it: attached devices alone keep nothing.
        self.other = self.add_board("esp32", "uart")

    def start(self, trust_idle, env=None):
        self.svc = self.start_service(self.activation, idle_timeout=SHORT,
                                      extra_config=f"TrustIdleTimeoutSec={trust_idle}\n",
                                      extra_env=env)
        return self.svc

    def call(self, fn):
        """One call on a connection of its own, closed at once: a peer connection
        would keep the service up by itself (socket activation)."""
        c = harness.Client(self.svc.endpoint)
        try:
            return fn(c)
        finally:
            c.close()

    def deploy_trusted(self, img):
        outcome = self.call(lambda c: c.deploy(self.dev.node, img.paths(), trust=True))[0]
        self.assertEqual(self.call(lambda c: c.trust_state(self.dev.node))[0], True)
        return outcome

    def one_pid(self):
        pids = self.svc.service_pids()
        self.assertEqual(len(pids), 1, pids)
        return pids

    def assert_still_up(self, pids, what):
        """Twice the short timeout after the last call: still the same process."""
        time.sleep(2 * SHORT)
        self.assertEqual(self.svc.service_pids(), pids, f"exited after IdleTimeoutSec= {what}")

    def wait_exit(self, what):
        deadline = time.monotonic() + EXIT_BOUND
        while self.svc.service_pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.svc.service_pids(), [], f"the service did not exit {what}")

    def test_trust_keeps_it_up_and_redeploy_is_trust_skip(self):
        self.start(LONG)
        img = self.image(app_seed=161)
        self.assertEqual(self.deploy_trusted(img), "full")
        pids = self.one_pid()
        self.assert_still_up(pids, "while holding trust for an attached board")
        # The pause of a compile, inside the long window: no port opened.
        opens = self.dev.lines.opens
        outcome, written, stats = self.call(lambda c: c.deploy(self.dev.node, img.paths(), trust=True))
        self.assertEqual((outcome, written, stats["bytes_sent"]), ("trust-skip", [], 0))
        self.assertEqual(self.dev.lines.opens, opens)
        self.assertEqual(self.svc.service_pids(), pids)
        # And it does go, after the long one.
        self.wait_exit("after TrustIdleTimeoutSec=")
        self.assertIn("holding trust, exiting", harness._read(self.svc.log_path))
        self.assertEqual(self.svc.activations(), 1)
        # Trust died with it.
        state = self.call(lambda c: c.trust_state(self.dev.node))
        self.assertEqual((state[0], state[3]), (False, "service-start"))

    def identity(self):
        return dict(self.call(lambda c: c.list_devices()))[self.dev.node]["identity"]

    def test_forget_trust_shortens_the_stay(self):
        self.dropped_trust_shortens_the_stay_with(
            lambda: self.call(lambda c: c.call("ForgetTrust", self.dev.node)), "forgotten")

    def test_unplug_shortens_the_stay(self):
        self.dropped_trust_shortens_the_stay_with(self.dev.unplug, "device-removed")

    def test_foreign_open_shortens_the_stay(self):
        def open_elsewhere():
            p = self.bed.run(["/usr/bin/python3", "-c",
                              f"import os; os.close(os.open({self.dev.node!r}, "
                              "os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK))"])
            self.assertEqual(p.returncode, 0, p.stderr)
        self.dropped_trust_shortens_the_stay_with(open_elsewhere, "foreign-open")

    def dropped_trust_shortens_the_stay_with(self, drop, reason):
        self.start(NEVER)
        self.assertEqual(self.deploy_trusted(self.image(app_seed=162)), "full")
        identity = self.identity()
        pids = self.one_pid()
        self.assert_still_up(pids, "while holding trust for an attached board")
        drop()
        self.wait_exit(f"after IdleTimeoutSec= once trust was dropped ({reason})")
        self.assertEqual(self.svc.activations(), 1)
        self.assertIn(f"Trust for {identity} cleared: {reason}.", harness._read(self.svc.log_path))

    def test_zero_turns_the_longer_stay_off(self):
        # The file says 10 minutes; the environment's 0 overrides it.
        self.start(NEVER, env={"FBUILD_DEPLOYD_TRUST_IDLE_TIMEOUT_SEC": "0"})
        self.assertEqual(self.deploy_trusted(self.image(app_seed=163)), "full")
        self.one_pid()
        self.wait_exit("after IdleTimeoutSec= with TrustIdleTimeoutSec=0, trust or not")
        log = harness._read(self.svc.log_path)
        self.assertNotIn("holding trust", log)
        self.assertNotIn("cleared", log, "trust was held until the exit")


class IdleTrustBus(IdleTrustMixin, harness.ServiceTestCase):
    activation = "bus"


class IdleTrustSocket(IdleTrustMixin, harness.ServiceTestCase):
    activation = "socket"


if __name__ == "__main__":
    unittest.main()
