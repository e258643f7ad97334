# SPDX-License-Identifier: LGPL-2.1-or-later
"""Idle exit and re-activation: with a 1 s idle timeout, 50 calls spread across the
idle boundary make the service exit and come back several times, and not one call
is lost — under bus activation and under the socket activator.
Run: umockdev-wrapper /usr/bin/python3 test_idle.py (env: see harness.py)"""

import json
import sys
import time
import unittest

import harness

IDLE = 1.0
# How long "it exits" may take on a loaded machine: a bound against a hang only.
EXIT_BOUND = 30
# Gaps between calls, in units of the idle timeout: most well inside, some right
# around the boundary (where the service is deciding to exit or draining), some
# well past it. 50 calls, about 30 s in all.
GAPS = [0.05, 0.05, 0.3, 0.95, 0.05, 1.05, 0.2, 1.5, 0.05, 1.0,
        0.0, 0.5, 1.1, 0.02, 0.98, 0.1, 2.0, 0.05, 1.02, 0.3,
        0.05, 0.9, 1.2, 0.0, 0.0, 1.0, 0.4, 1.6, 0.05, 0.99,
        0.1, 1.01, 0.05, 0.3, 1.3, 0.0, 0.6, 1.05, 0.05, 0.97,
        0.2, 1.5, 0.05, 1.0, 0.1, 0.8, 1.1, 0.05, 1.03, 0.0]
assert len(GAPS) == 50


class IdleMixin:
    activation = None

    def setUp(self):
        super().setUp()
        self.dev = self.add_board("esp32", "uart")

    def busctl_call(self, bc, i):
        """A fresh client process per call, as scripts use the service."""
        if i % 2 == 0:
            out = bc.call_json("TrustState", "s", self.dev.node)
            self.assertEqual(out["type"], "bayts")
            trusted, h, since, why = out["data"]
            self.assertEqual((trusted, h, since), (False, [], 0))
            self.assertEqual(why, "service-start")
        else:
            out = bc.call_json("ListDevices")
            self.assertEqual(out["type"], "a(sa{sv})")
            self.assertIn(self.dev.node, [d[0] for d in out["data"][0]], json.dumps(out))

    def test_fifty_calls_across_idle_exits(self):
        # The config file says 10 minutes; the environment override says 1 s.
        svc = self.start_service(self.activation, idle_timeout=600, idle_env=IDLE)
        bc = harness.Busctl(svc.endpoint, timeout=30)
        lost = []
        pids = set()
        for i, gap in enumerate(GAPS):
            time.sleep(gap * IDLE)
            try:
                self.busctl_call(bc, i)
            except (harness.CallError, AssertionError) as e:
                lost.append(f"call {i} after a {gap * IDLE:.2f}s gap: {e}")
            pids.update(svc.service_pids())
        self.assertEqual(lost, [])
        n = svc.activations()
        sys.stderr.write(f"{self.activation}: 50 calls, {n} activations, {len(pids)} pids seen\n")
        # 16 gaps are ≥ 1.05 × the timeout; allow for scheduling slop but insist on
        # several real exits and re-activations.
        self.assertGreaterEqual(n, 5, f"only {n} activations for 50 calls across idle gaps")
        self.assertLessEqual(n, 50)
        self.assertGreaterEqual(len(pids), min(n, 5) - 1)
        # And it goes away by itself when idle.
        deadline = time.monotonic() + IDLE + EXIT_BOUND
        while svc.service_pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(svc.service_pids(), [], "the service did not exit when idle")
        if svc.activator:
            # The activator logs an exit once it has reaped the instance.
            deadline = time.monotonic() + EXIT_BOUND
            exits = [e for e in svc.activator.events() if e[0] == "exit"]
            while len(exits) < n and time.monotonic() < deadline:
                time.sleep(0.05)
                exits = [e for e in svc.activator.events() if e[0] == "exit"]
            self.assertEqual(len(exits), n)
            self.assertTrue(all(e[3] == "0" for e in exits),
                            f"an instance exited uncleanly: {exits}")

    def test_config_file_timeout_and_no_exit_while_connected(self):
        svc = self.start_service(self.activation, idle_timeout=IDLE)
        c = self.client()
        c.list_devices()
        pid = svc.service_pids()
        self.assertEqual(len(pid), 1)
        if self.activation == "socket":
            # A peer connection keeps it alive well past the timeout.
            time.sleep(IDLE * 3)
            self.assertEqual(svc.service_pids(), pid, "exited while a peer was connected")
            c.list_devices()
            c.close()
        deadline = time.monotonic() + IDLE + EXIT_BOUND
        while svc.service_pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(svc.service_pids(), [], "no idle exit with IdleTimeoutSec= in the config file")
        # The next call brings it back.
        c2 = self.client()
        self.assertIn(self.dev.node, [p for p, _ in c2.list_devices()])
        self.assertEqual(svc.activations(), 2)


class IdleBus(IdleMixin, harness.ServiceTestCase):
    activation = "bus"


class IdleSocket(IdleMixin, harness.ServiceTestCase):
    activation = "socket"


if __name__ == "__main__":
    unittest.main()
