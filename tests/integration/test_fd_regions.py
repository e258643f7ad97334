# SPDX-License-Identifier: LGPL-2.1-or-later
"""Regions whose source is a file descriptor (`h`) work like paths: same outcomes,
same verdicts, same image hash — passed by dbus-python and by gdbus (`handle N`
with the fd inherited as N), over the bus and peer-to-peer. Fds that are no
readable regular file are refused by name.
Run: umockdev-wrapper /usr/bin/python3 test_fd_regions.py (env: see harness.py)"""

import os
import unittest

import dbus

import harness
from harness import CallError


class FdRegionsMixin:
    activation = None

    def setUp(self):
        super().setUp()
        self.dev = self.add_board("esp32", "uart")
        self.port = self.dev.node
        self.sim = self.dev.sim
        self.svc = self.start_service(self.activation)
        self.c = self.client()

    def open_fds(self, image, flags=os.O_RDONLY):
        fds = []
        for off, path in image.paths():
            fd = os.open(path, flags | os.O_CLOEXEC)
            self.addCleanup(os.close, fd)
            fds.append((off, fd))
        return fds

    def test_dbus_python_fds_like_paths(self):
        img = self.image(app_seed=1)
        by_path = self.c.verify(self.port, img.paths())
        by_fd = self.c.verify(self.port, self.open_fds(img), fds=True)
        self.assertEqual(by_fd, by_path)
        self.assertEqual([m for _, _, m, _ in by_fd], [False] * 3)

        outcome, written, stats = self.c.deploy(self.port, self.open_fds(img), fds=True, trust=False)
        self.assertEqual(outcome, "full")
        self.assertEqual(written, [(off, len(d)) for off, _, d, _ in img.regions])
        self.assertTrue(img.matches_flash(self.sim.flash()))
        outcome, written, stats_p = self.c.deploy(self.port, img.paths(), trust=False)
        self.assertEqual((outcome, written), ("verify-skip", []))
        self.assertEqual(stats_p["image_sha256"], stats["image_sha256"],
                         "an fd and a path to the same bytes must hash alike")

        # Mixed: the app by fd (a new one), the rest by path.
        img2 = self.image(app_seed=2)
        mixed = [(o, p) for o, p in img2.paths()[:2]]
        app_off, app_path = img2.paths()[2]
        fd = os.open(app_path, os.O_RDONLY | os.O_CLOEXEC)
        self.addCleanup(os.close, fd)
        regions = dbus.Array([dbus.Struct((dbus.UInt64(o), dbus.String(p, variant_level=1)), signature=None)
                              for o, p in mixed] +
                             [dbus.Struct((dbus.UInt64(app_off), dbus.types.UnixFd(fd, variant_level=1)),
                                          signature=None)], signature="(tv)")
        outcome, written, _ = self.c.call("DeployRegions", self.port, regions,
                                          harness.options_value(trust=False))
        self.assertEqual(outcome, "selective")
        self.assertEqual(written, [(app_off, len(img2.regions[2][2]))])
        self.assertTrue(img2.matches_flash(self.sim.flash()))

    def test_gdbus_fd_list(self):
        """GLib's GDBus client (the library under the gdbus tool) with an explicit
        fd list: `handle N` indexes it."""
        img = self.image(app_seed=4)
        gd = harness.GioClient(self.svc.endpoint)
        self.addCleanup(gd.close)
        fds = []
        parts = []
        for n, (off, path) in enumerate(img.paths()):
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            self.addCleanup(os.close, fd)
            fds.append(fd)
            parts.append(f"(uint64 {off}, <handle {n}>)")
        args = f"('{self.port}', [{', '.join(parts)}], {{'trust': <false>}})"
        outcome, written, stats = gd.call("DeployRegions", "sa(tv)a{sv}", args, fds)
        self.assertEqual(outcome, "full")
        self.assertEqual(written, [(off, len(d)) for off, _, d, _ in img.regions])
        self.assertTrue(img.matches_flash(self.sim.flash()))
        (res,) = gd.call("Verify", "sa(tv)a{sv}", args, fds)
        self.assertEqual([(o, s, m, bytes(h)) for o, s, m, h in res],
                         [(off, len(d), True, harness.md5(d)) for off, _, d, _ in img.regions])
        # The same fds again: the service must read them by offset (pread), so
        # a file position moved by an earlier call does not matter.
        outcome, written, stats2 = gd.call("DeployRegions", "sa(tv)a{sv}", args, fds)
        self.assertEqual((outcome, written), ("verify-skip", []))
        self.assertEqual(bytes(stats2["image_sha256"]), bytes(stats["image_sha256"]))

    def test_gdbus_cli_nested_handle(self):
        """`gdbus call … 'handle 3' 3<file` (GLib 2.74) attaches fds only for
        top-level `h` arguments: a handle inside a(tv) goes out as a bare index
        with no fd behind it. sd-bus refuses such a message before our handler
        runs; the service stays healthy and the fd route above is the one to use."""
        img = self.image()
        off, path = img.paths()[2]
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self.addCleanup(os.close, fd)
        with self.assertRaises(CallError) as cm:
            harness.Gdbus(self.svc.endpoint).call(
                "Verify", self.port, f"[(uint64 {off}, <handle 3>)]", "@a{sv} {}", fds={3: fd})
        self.assertEqual(cm.exception.name, "org.freedesktop.DBus.Error.InconsistentMessage")
        res = self.c.verify(self.port, [(off, path)])
        self.assertEqual(len(res), 1)

    def test_bad_fds(self):
        img = self.image()
        off, path = img.paths()[2]
        wfd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        self.addCleanup(os.close, wfd)
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        self.addCleanup(os.close, w)
        dfd = os.open(self.work, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.addCleanup(os.close, dfd)
        efd = os.open(os.path.join(self.work, "empty"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self.addCleanup(os.close, efd)
        before = self.sim.stats()
        cases = [("write-only", wfd, "InvalidSource"), ("pipe", r, "InvalidSource"),
                 ("directory", dfd, "InvalidSource"), ("empty", efd, "InvalidRegions")]
        failures = []
        for name, fd, want in cases:
            for method in ("DeployRegions", "Verify"):
                try:
                    res = self.c.call(method, self.port, harness.regions_value([(off, fd)], fds=True),
                                      harness.options_value(), timeout=30)
                    failures.append(f"{name}/{method}: succeeded: {res!r}")
                except CallError as e:
                    if e.name != harness.error_name(want):
                        failures.append(f"{name}/{method}: {e.name} ({e.message}), wanted {want}")
        self.assertEqual(failures, [])
        self.assertEqual(self.sim.stats()["rx_bytes"], before["rx_bytes"])
        # Healthy afterwards.
        outcome, _, _ = self.c.deploy(self.port, self.open_fds(img), fds=True, trust=False)
        self.assertEqual(outcome, "full")


class FdRegionsBus(FdRegionsMixin, harness.ServiceTestCase):
    activation = "bus"


class FdRegionsSocket(FdRegionsMixin, harness.ServiceTestCase):
    activation = "socket"


if __name__ == "__main__":
    unittest.main()
