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

    def test_every_method_every_bad_parameter(self):
        """One rule per parameter kind, one error name per failure, the same in
        every method that takes the parameter (issue 12): a bad port is
        NoSuchDevice, a bad baud (Monitor's argument or the "baud" option) and a
        bad option InvalidOptions, a bad region path InvalidSource. Nothing
        reaches the chip, and nothing is kept for a port that is not there."""
        c = self.client()
        k4 = self.file("4k.bin", os.urandom(4096))
        good_regions = _regions([(0x10000, k4)])
        none = dbus.Dictionary({}, signature="sv")
        U32 = dbus.UInt32

        def opts(**kw):
            return dbus.Dictionary(kw, signature="sv")

        bad_ports = [("empty", ""), ("relative", "ttyUSB0"), ("too-long", "/dev/" + "x" * 300),
                     ("unknown", "/dev/ttyUSB9"), ("not-a-device", k4), ("directory", "/dev")]
        # method → the call with the port in place
        by_port = {
            "TrustState": lambda p: (p,),
            "ForgetTrust": lambda p: (p,),
            "Cancel": lambda p: (p,),
            "Monitor": lambda p: (p, U32(115200), none),
            "Verify": lambda p: (p, good_regions, none),
            "DeployRegions": lambda p: (p, good_regions, opts(trust=False)),
        }
        table = []   # (what, method, args, error)
        for kind, port in bad_ports:
            for method, args in by_port.items():
                table.append((f"port-{kind}", method, args(port), "NoSuchDevice"))
        for baud in (0, 1, 9599, 12000001, 4000000000):
            table.append((f"baud-{baud}", "Monitor", (self.port, U32(baud), none), "InvalidOptions"))
        for baud in (1, 9599, 12000001, 4000000000):
            for method in ("Verify", "DeployRegions"):
                table.append((f"baud-option-{baud}", method, (self.port, good_regions, opts(baud=U32(baud))),
                              "InvalidOptions"))
        bad_options = {
            "Monitor": [("unknown", opts(bogus=True)), ("write-as-string", opts(write="yes")),
                        ("key-too-long", opts(**{"w" * 100: True}))],
            "Verify": [("unknown", opts(bogus=True)), ("baud-as-int32", opts(baud=dbus.Int32(115200))),
                       ("key-too-long", opts(**{"k" * 100: True})), ("chip-too-long", opts(chip="esp32" * 40))],
        }
        bad_options["DeployRegions"] = bad_options["Verify"] + [("before-too-long", opts(before="x" * 100))]
        for method, rows in bad_options.items():
            for kind, o in rows:
                args = (self.port, U32(115200), o) if method == "Monitor" else (self.port, good_regions, o)
                table.append((f"option-{kind}", method, args, "InvalidOptions"))
        for method in ("Verify", "DeployRegions"):
            for kind, path in (("path-too-long", "/" + "p" * 5000), ("path-relative", "4k.bin")):
                table.append((kind, method, (self.port, _regions([(0x10000, path)]), none), "InvalidSource"))

        before = self.sim.stats()
        opens = self.dev.lines.opens
        failures = []
        for what, method, args, want in table:
            try:
                r = getattr(c.iface, method)(*args, timeout=30)
                failures.append(f"{what}/{method}: succeeded with {r!r}, wanted {want}")
            except dbus.exceptions.DBusException as e:
                if e.get_dbus_name() != harness.error_name(want):
                    failures.append(f"{what}/{method}: {e.get_dbus_name()} ({e.get_dbus_message()[:160]}), "
                                    f"wanted {want}")
        self.assertEqual(failures, [])
        after = self.sim.stats()
        self.assertEqual((after["rx_bytes"], after["commands"]), (before["rx_bytes"], before["commands"]))
        self.assertEqual(self.dev.lines.opens, opens)
        # The good port still answers.
        self.assertEqual(c.trust_state(self.port)[3], "service-start")

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
