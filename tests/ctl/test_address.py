# SPDX-License-Identifier: LGPL-2.1-or-later
"""Transports: --address talks to the service's own peer-to-peer socket (started
on demand by the socket activator, no bus daemon anywhere), and without it
fbuildctl uses the system bus (here a private dbus-daemon with bus activation,
found through DBUS_SYSTEM_BUS_ADDRESS), where Progress signals are matched by the
service's bus name. Run: umockdev-wrapper /usr/bin/python3 test_address.py"""

import unittest

import ctlharness
from ctlharness import EXIT_FAILURE, EXIT_INVALID, EXIT_SUCCESS


class TransportMixin:

    def test_devices_deploy_verify(self):
        dev = self.add_board("esp32", "uart")
        svc = self.start(trust_default=True)
        _, o = self.ctl_json("devices")
        self.assertEqual([d["port"] for d in o["devices"]], [dev.node])
        build, regions = self.idf_project(chip="esp32")
        p, o = self.ctl_json("deploy", build)
        self.assertEqual(o["outcome"], "full")
        # Progress signals reached the client over this transport.
        total = sum(len(d) for _, d, _ in regions)
        self.assertIn(f"post-verify: {total}/{total} bytes (100%)", p.stderr.splitlines())
        self.assertFlashHolds(dev, regions)
        self.ctl("verify", build, expect=EXIT_SUCCESS)
        self.assertEqual(svc.activations(), 1)


class Address(TransportMixin, ctlharness.CtlTestCase):
    activation = "socket"

    def test_address_is_what_is_used(self):
        # Without --address the (absent) system bus is tried, and fails.
        self.add_board("esp32", "uart")
        svc = self.start()
        p = self.ctl(FBUILDCTL_ARGV0(), "devices", raw=True, expect=EXIT_FAILURE)
        self.assertIn("Cannot connect to the system bus", p.stderr)
        self.assertEqual(svc.activations(), 0)
        self.ctl("devices", expect=EXIT_SUCCESS)
        self.assertEqual(svc.activations(), 1)

    def test_bad_address(self):
        self.start()
        p = self.ctl(FBUILDCTL_ARGV0(), "--address=nonsense", "devices", raw=True, expect=EXIT_INVALID)
        self.assertIn("Invalid bus address", p.stderr)
        p = self.ctl(FBUILDCTL_ARGV0(), "--address=unix:path=/x", "-H", "root@localhost", "devices",
                     raw=True, expect=EXIT_INVALID)
        self.assertIn("exclude each other", p.stderr)


class SystemBus(TransportMixin, ctlharness.CtlTestCase):
    activation = "bus"


def FBUILDCTL_ARGV0():
    return ctlharness.FBUILDCTL


if __name__ == "__main__":
    unittest.main()
