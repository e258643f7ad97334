# SPDX-License-Identifier: LGPL-2.1-or-later
"""Different ports deploy in parallel; requests for one port are served one after
the other, in order. The chips run DESIGN.md's real timing model so that a deploy
lasts long enough for overlap (or its absence) to show.
Run: umockdev-wrapper /usr/bin/python3 test_concurrency.py (env: see harness.py)"""

import time
import unittest

import harness
import fixtures  # noqa: E402 (on the path harness sets up)

BAUD = 921600
APP_SIZE = 128 * 1024


def segments_by_download_boot(events):
    """Splits the sim's event log at every boot into download mode (each job
    starts with one) → [[event, ...], ...], dropping what came before the first."""
    segs = []
    for e in events:
        if e.get("event") == "boot" and e.get("mode") == "download":
            segs.append([])
        elif segs:
            segs[-1].append(e)
    return segs


def flash_begins(events):
    return [e for e in events if e.get("event") == "command"
            and e.get("name") in ("FLASH_BEGIN", "FLASH_DEFL_BEGIN")]


class Concurrency(harness.ServiceTestCase):
    def write_window(self, c, port, since=0):
        """(first, last) arrival time of the port's write-phase Progress signals."""
        ts = [t for t, m, a in c.signals[since:]
              if m == "Progress" and a[0] == port and a[1] in ("write", "post-verify")]
        self.assertTrue(ts, f"no write Progress for {port}")
        return ts[0], ts[-1]

    def test_two_ports_in_parallel(self):
        a = self.add_board("esp32", "uart", timing="real")
        b = self.add_board("esp32", "uart", timing="real")
        svc = self.start_service("bus")
        c = self.client()
        c.watch_signals()
        img_a = self.image(app_seed=11, app_size=APP_SIZE)
        img_b = self.image(app_seed=12, app_size=APP_SIZE)
        pa = c.call_async("DeployRegions", a.node, harness.regions_value(img_a.paths()),
                          harness.options_value(trust=False, baud=harness.dbus.UInt32(BAUD)))
        pb = c.call_async("DeployRegions", b.node, harness.regions_value(img_b.paths()),
                          harness.options_value(trust=False, baud=harness.dbus.UInt32(BAUD)))
        # Both ports report "flashing" at once while they run.
        owners_seen = set()
        last_poll = [0.0]

        def both_done():
            now = time.monotonic()
            if not (pa.done or pb.done) and now - last_poll[0] > 0.1:
                last_poll[0] = now
                devs = dict(c.list_devices())
                owners_seen.add((devs[a.node]["owner"], devs[b.node]["owner"]))
            return pa.done and pb.done
        c.run_until(both_done, harness.CALL_TIMEOUT, "both deploys")
        self.assertEqual(pa.get()[0], "full")
        self.assertEqual(pb.get()[0], "full")
        self.assertTrue(img_a.matches_flash(a.sim.flash()))
        self.assertTrue(img_b.matches_flash(b.sim.flash()))
        for dev, img in ((a, img_a), (b, img_b)):
            self.assertEqual(dev.sim.stats()["flash_begins"],
                             sum(fixtures.write_begins("esp32", len(d)) for _, _, d, _ in img.regions))
        # Overlap in time: each port's writing began before the other's ended.
        a0, a1 = self.write_window(c, a.node)
        b0, b1 = self.write_window(c, b.node)
        self.assertLess(a0, b1, f"A wrote {a0:.3f}–{a1:.3f}, B {b0:.3f}–{b1:.3f}: no overlap")
        self.assertLess(b0, a1, f"A wrote {a0:.3f}–{a1:.3f}, B {b0:.3f}–{b1:.3f}: no overlap")
        self.assertIn(("flashing", "flashing"), owners_seen)
        self.assertEqual(svc.activations(), 1)

    def test_one_port_serialized_in_order(self):
        dev = self.add_board("esp32", "uart", timing="real")
        self.start_service("bus")
        c1 = self.client()
        c1.watch_signals()
        c2 = self.client()
        img1 = self.image(app_seed=21, app_size=APP_SIZE)
        img2 = self.image(app_seed=22, app_size=APP_SIZE)
        opts = harness.options_value(trust=False, baud=harness.dbus.UInt32(BAUD))
        p1 = c1.call_async("DeployRegions", dev.node, harness.regions_value(img1.paths()), opts)
        # The second request arrives while the first is connecting/writing.
        c1.run_until(lambda: any(m == "Progress" and a[1] in ("connect", "verify", "write")
                                 for _, m, a in c1.signals) or p1.done, 30, "first job under way")
        p2 = c2.call_async("DeployRegions", dev.node, harness.regions_value(img2.paths()), opts)
        self.assertFalse(p1.done, "the first deploy ended before the second was sent; "
                                  "nothing was tested")
        c1.run_until(lambda: p1.done and p2.done, harness.CALL_TIMEOUT, "both deploys")
        # In order: the first wrote everything on the blank chip, the second only
        # its new application on top of it.
        self.assertEqual(p1.get()[0], "full")
        self.assertEqual(p2.get()[0], "selective")
        self.assertEqual(p2.get()[1], [(img2.regions[2][0], len(img2.regions[2][2]))])
        self.assertLess(p1.t_reply, p2.t_reply)
        self.assertTrue(img2.matches_flash(dev.sim.flash()))
        # The chip's log: job 1's session (a FLASH_BEGIN per region, two for a
        # long one on the ESP32 ROM) ends before job 2's (the application's) starts
        # — no interleaving.
        first = sum(fixtures.write_begins("esp32", len(d)) for _, _, d, _ in img1.regions)
        second = fixtures.write_begins("esp32", len(img2.regions[2][2]))
        segs = [s for s in segments_by_download_boot(dev.sim.events()) if flash_begins(s)]
        self.assertEqual([len(flash_begins(s)) for s in segs], [first, second],
                         f"expected two separate sessions with {first} then {second} FLASH_BEGINs")
        cmds = [e for e in dev.sim.events() if e.get("event") == "command"]
        self.assertEqual(len(flash_begins(cmds)), first + second)
        # Nothing of job 2 happens before job 1's last write: all SYNCs of the second
        # session come after the first session's last command.
        first_end = max(float(e["t"]) for e in segs[0] if e.get("event") == "command")
        second_start = min(float(e["t"]) for e in segs[1] if e.get("event") == "command")
        self.assertLess(first_end, second_start)


if __name__ == "__main__":
    unittest.main()
