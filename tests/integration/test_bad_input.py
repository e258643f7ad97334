# SPDX-License-Identifier: LGPL-2.1-or-later
"""Malformed calls, each answered by its named org.fbuild.Deploy1.Error.* before the
port is opened, and the service still healthy afterwards. Run over the private
system bus and, separately, over the socket-activated peer-to-peer socket.
Run: umockdev-wrapper /usr/bin/python3 test_bad_input.py (env: see harness.py)"""

import os
import socket
import unittest

import dbus

import harness
from harness import CallError


def _regions(items):
    """[(offset, source)] where source is a path (str) or a ready dbus value."""
    out = []
    for off, src in items:
        v = dbus.String(src, variant_level=1) if isinstance(src, str) else src
        out.append(dbus.Struct((dbus.UInt64(off), v), signature=None))
    return dbus.Array(out, signature="(tv)")


class BadInputMixin:
    activation = None

    def setUp(self):
        super().setUp()
        self.dev = self.add_board("esp32", "uart")
        self.port = self.dev.node
        self.sim = self.dev.sim
        self.svc = self.start_service(self.activation)
        self.files = os.path.join(self.work, "files")
        os.makedirs(self.files)
        os.chmod(self.files, 0o755)

    def file(self, name, data, mode=0o644):
        path = os.path.join(self.files, name)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        return path

    def good_deploy(self, c, img):
        outcome, _, _ = c.deploy(self.port, img.paths(), trust=False)
        return outcome

    def test_table(self):
        c = self.client()
        img = self.image()
        # A first good deploy: proves the setup, and lets the service learn the
        # chip's flash size (4 MiB), so "past the end of flash" is known up front.
        self.assertEqual(self.good_deploy(c, img), "full")

        k4 = self.file("4k.bin", os.urandom(4096))
        k8 = self.file("8k.bin", os.urandom(8192))
        empty = self.file("empty.bin", b"")
        fifo = os.path.join(self.files, "fifo")
        os.mkfifo(fifo, 0o666)
        sock_path = os.path.join(self.files, "sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(sock_path)
        self.addCleanup(sock.close)
        no_opts = {}
        flash_end = 4 * 1024 * 1024

        table = [
            # name, port, regions, options, error
            ("overlapping", None, [(0x10000, k8), (0x11000, k4)], no_opts, "InvalidRegions"),
            ("overlapping-unsorted", None, [(0x11000, k4), (0x10000, k8)], no_opts, "InvalidRegions"),
            ("duplicate-offset", None, [(0x10000, k4), (0x10000, k4)], no_opts, "InvalidRegions"),
            ("unaligned-1", None, [(0x10001, k4)], no_opts, "InvalidRegions"),
            ("unaligned-2k", None, [(0x10800, k4)], no_opts, "InvalidRegions"),
            ("past-end-of-flash", None, [(flash_end - 4096, k8)], no_opts, "InvalidRegions"),
            ("beyond-flash", None, [(flash_end, k4)], no_opts, "InvalidRegions"),
            ("offset-over-32-bits", None, [(1 << 40, k4)], no_opts, "InvalidRegions"),
            ("no-regions", None, [], no_opts, "InvalidRegions"),
            ("empty-file", None, [(0x10000, empty)], no_opts, "InvalidRegions"),
            ("directory", None, [(0x10000, self.files)], no_opts, "InvalidSource"),
            ("fifo", None, [(0x10000, fifo)], no_opts, "InvalidSource"),
            ("unix-socket", None, [(0x10000, sock_path)], no_opts, "InvalidSource"),
            ("char-device", None, [(0x10000, "/dev/null")], no_opts, "InvalidSource"),
            ("missing-file", None, [(0x10000, self.files + "/nope.bin")], no_opts, "InvalidSource"),
            ("relative-path", None, [(0x10000, "4k.bin")], no_opts, "InvalidSource"),
            ("source-wrong-type", None, [(0x10000, dbus.UInt32(5, variant_level=1))], no_opts,
             "InvalidSource"),
            ("unknown-port", "/dev/ttyUSB9", [(0x10000, k4)], no_opts, "NoSuchDevice"),
            ("port-not-a-device", self.files + "/4k.bin", [(0x10000, k4)], no_opts, "NoSuchDevice"),
            ("unknown-option", None, [(0x10000, k4)], {"bogus": dbus.Boolean(True)}, "InvalidOptions"),
            ("trust-as-string", None, [(0x10000, k4)], {"trust": dbus.String("yes")}, "InvalidOptions"),
            ("baud-as-int32", None, [(0x10000, k4)], {"baud": dbus.Int32(921600)}, "InvalidOptions"),
            ("baud-out-of-range", None, [(0x10000, k4)], {"baud": dbus.UInt32(50)}, "InvalidOptions"),
            ("unknown-chip", None, [(0x10000, k4)], {"chip": dbus.String("esp8266x")}, "InvalidOptions"),
            ("unknown-reset", None, [(0x10000, k4)], {"before": dbus.String("sideways")}, "InvalidOptions"),
            ("unknown-granularity", None, [(0x10000, k4)], {"granularity": dbus.String("byte")},
             "InvalidOptions"),
        ]

        before = self.sim.stats()
        opens = self.dev.lines.opens
        failures = []
        for name, port, regions, opts, want in table:
            for method in ("DeployRegions", "Verify"):
                try:
                    r = c.call(method, port or self.port, _regions(regions),
                               dbus.Dictionary(opts, signature="sv"), timeout=30)
                    failures.append(f"{name}/{method}: succeeded with {r!r}, wanted {want}")
                except CallError as e:
                    if e.name != harness.error_name(want):
                        failures.append(f"{name}/{method}: {e.name} ({e.message}), wanted {want}")
        self.assertEqual(failures, [])
        after = self.sim.stats()
        # Rejected before the port is opened: the chip heard nothing, the node was never opened.
        self.assertEqual((after["rx_bytes"], after["commands"]), (before["rx_bytes"], before["commands"]))
        self.assertEqual(self.dev.lines.opens, opens)

        # Still healthy: same instance, and a good call works.
        self.assertEqual(self.svc.activations(), 1)
        self.assertIn(self.port, [p for p, _ in c.list_devices()])
        img2 = self.image(app_seed=2)
        self.assertEqual(self.good_deploy(c, img2), "selective")
        self.assertTrue(img2.matches_flash(self.sim.flash()))
        self.assertEqual(len(self.svc.service_pids()), 1)

    def test_past_end_of_detected_flash_on_first_contact(self):
        """Before the service has talked to the chip, the flash size is unknown: the
        region is refused once detected, still with InvalidRegions, and nothing is
        written."""
        c = self.client()
        big = self.file("8k.bin", os.urandom(8192))
        before = self.sim.stats()
        for method in ("DeployRegions", "Verify"):
            with self.assertRaises(CallError) as cm:
                c.call(method, self.port, _regions([(4 * 1024 * 1024 - 4096, big)]),
                       dbus.Dictionary({}, signature="sv"))
            self.assertEqual(cm.exception.name, harness.error_name("InvalidRegions"),
                             cm.exception.message)
        self.assertEqual(self.sim.stats()["flash_begins"], before["flash_begins"])

    def test_caller_cannot_make_the_service_read_for_it(self):
        """A path is opened with the caller's credentials: nobody cannot deploy a
        root-only file, though root can. Where nobody is authorized at all (no
        polkit layer), nobody can use a copy it may read, which shows that the
        refusal is about the file; where polkit refuses nobody up front ("Not
        authorized", no polkitd on this private bus), that refusal must come
        before any file is looked at, and the credential check proper is then left
        to the polkit tests with an authorized unprivileged user."""
        img = self.image()
        app_off, app_path, app, _ = img.regions[2]
        secret = self.file("secret-app.bin", app, mode=0o600)
        public = self.file("public-app.bin", app, mode=0o644)
        as_nobody = harness.Gdbus(self.svc.endpoint, user="nobody")
        as_root = harness.Gdbus(self.svc.endpoint)

        def regions(path):
            return f"[(uint64 {app_off}, <'{path}'>)]"

        for method in ("DeployRegions", "Verify"):
            with self.assertRaises(CallError) as cm:
                as_nobody.call(method, self.port, regions(secret), "@a{sv} {}")
            self.assertEqual(cm.exception.name, harness.error_name("PermissionDenied"),
                             cm.exception.message)
        self.assertEqual(self.sim.stats()["flash_begins"], 0)
        self.assertEqual(self.dev.lines.opens, 0, "the port was opened for a refused caller")

        try:
            out = as_nobody.call("Verify", self.port, regions(public), "@a{sv} {}")
            authorized = True
            self.assertIn("false", out)   # blank chip: not matched
        except CallError as e:
            authorized = False
            self.assertEqual(e.name, harness.error_name("PermissionDenied"), e.message)
            self.assertIn("Not authorized", e.message)
            # The same refusal, whatever the file: nothing was opened for nobody.
            with self.assertRaises(CallError) as cm:
                as_nobody.call("Verify", self.port, regions(self.files + "/nope.bin"), "@a{sv} {}")
            self.assertEqual(cm.exception.name, harness.error_name("PermissionDenied"))

        # Root may read the secret file, so the service deploys it.
        out = as_root.call("DeployRegions", self.port, regions(secret), "{'trust': <false>}")
        self.assertTrue(out.startswith("('full',"), out)
        self.assertEqual(self.sim.flash()[app_off:app_off + len(app)], app)
        if authorized:
            out = as_nobody.call("Verify", self.port, regions(public), "@a{sv} {}")
            self.assertIn("true", out)
            self.assertNotIn("false", out)


class BadInputBus(BadInputMixin, harness.ServiceTestCase):
    activation = "bus"


class BadInputSocket(BadInputMixin, harness.ServiceTestCase):
    activation = "socket"


if __name__ == "__main__":
    unittest.main()
