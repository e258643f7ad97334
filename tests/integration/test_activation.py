# SPDX-License-Identifier: LGPL-2.1-or-later
"""The service starts on demand — by bus activation on a private system bus, and
separately by the socket activator on the peer-to-peer socket — and what it
exports is exactly data/dbus/org.fbuild.Deploy1.xml, as seen by busctl, gdbus and
dbus-python.
Run: umockdev-wrapper /usr/bin/python3 test_activation.py (env: see harness.py)"""

import subprocess
import unittest

import busfixture
import harness


class ActivationMixin:
    activation = None

    def setUp(self):
        super().setUp()
        self.dev = self.add_board("esp32", "uart")
        self.svc = self.start_service(self.activation)

    def test_started_on_demand_by_first_call(self):
        self.assertEqual(self.svc.activations(), 0, "nothing may start the service before a call")
        self.assertEqual(self.svc.service_pids(), [])
        devices = self.client().list_devices()
        self.assertEqual(self.svc.activations(), 1)
        self.assertEqual(len(self.svc.service_pids()), 1)
        ports = [port for port, _ in devices]
        self.assertIn(self.dev.node, ports)

    def test_introspection_matches_contract(self):
        with open(harness.INTROSPECTION_XML) as f:
            want = busfixture.interface_model(f.read())
        self.assertTrue(want["methods"], "the contract XML declares no methods")
        bc = harness.Busctl(self.svc.endpoint)
        # The full XML, as busctl fetches it from the running service.
        got = busfixture.interface_model(bc.introspect(xml=True))
        self.assertEqual(got["methods"], want["methods"])
        self.assertEqual(got["signals"], want["signals"])
        self.assertEqual(got["properties"], want["properties"])
        # busctl's own table view: every member, with its signature, and nothing else.
        rows = busfixture.busctl_introspect_rows(bc.introspect())
        want_rows = {}
        for name, args in want["methods"].items():
            want_rows[("method", name)] = (
                "".join(t for d, _, t in args if d == "in") or "-",
                "".join(t for d, _, t in args if d == "out") or "-")
        for name, args in want["signals"].items():
            want_rows[("signal", name)] = ("".join(t for _, t in args) or "-", "-")
        for name, (typ, _) in want["properties"].items():
            want_rows[("property", name)] = (typ, rows.get(("property", name), (None, None))[1])
        self.assertEqual(rows, want_rows)

    def test_version(self):
        """The Version property and --version say the build's version; --help works."""
        want = harness.PROJECT_VERSION
        self.assertTrue(want, "FBUILD_VERSION not passed by meson")
        out = harness.Busctl(self.svc.endpoint).run(
            "get-property", harness.BUS_NAME, harness.OBJECT_PATH, harness.INTERFACE,
            "Version").stdout.strip()
        self.assertEqual(out, f's "{want}"')
        p = subprocess.run([harness.DEPLOYD, "--version"], capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(want, p.stdout)
        p = subprocess.run([harness.DEPLOYD, "--help"], capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("--idle-timeout", p.stdout)
        self.assertEqual(self.svc.activations(), 1)

    def test_three_clients_agree(self):
        """busctl, gdbus and dbus-python reach the same instance and read the same
        TrustState of an untouched port."""
        via_python = self.client().trust_state(self.dev.node)
        self.assertEqual(via_python[0], False)
        self.assertEqual(via_python[1], b"")
        gd = harness.Gdbus(self.svc.endpoint).call("TrustState", f"'{self.dev.node}'")
        self.assertTrue(gd.startswith("(false, @ay [],") or gd.startswith("(false, [],")
                        or gd.startswith("(false, @ay []"), gd)
        bc = harness.Busctl(self.svc.endpoint).call_json("TrustState", "s", self.dev.node)
        self.assertEqual(bc["type"], "bayts")
        self.assertEqual(bc["data"][0], False)
        self.assertEqual(bc["data"][1], [])
        self.assertEqual(bc["data"][3], via_python[3])
        self.assertEqual(self.svc.activations(), 1, "one instance must serve all three")


class BusActivation(ActivationMixin, harness.ServiceTestCase):
    activation = "bus"

    def test_name_owned_by_root_and_activatable(self):
        ep = self.svc.endpoint
        p = subprocess.run(["busctl", "--system", "list", "--activatable", "--no-pager",
                            "--no-legend"], capture_output=True, text=True,
                           env=ep.client_env(), timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(harness.BUS_NAME, p.stdout)
        self.client().list_devices()
        p = subprocess.run(["busctl", "--system", "status", "--no-pager", harness.BUS_NAME],
                           capture_output=True, text=True, env=ep.client_env(), timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"(?m)^UID=0$")
        pids = self.svc.service_pids()
        self.assertRegex(p.stdout, rf"(?m)^PID={pids[0]}$")


class SocketActivation(ActivationMixin, harness.ServiceTestCase):
    activation = "socket"

    def test_no_bus_needed(self):
        """The socket-activated instance has no system bus at all and still serves."""
        self.client().list_devices()
        self.assertEqual(self.svc.service_pids(), [self.svc.activator.running_pid()],
                         "the instance serving us must be the one the activator spawned")


if __name__ == "__main__":
    unittest.main()
