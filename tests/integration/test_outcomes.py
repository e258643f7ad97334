# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every DeployRegions outcome against a simulated ESP32 behind the umockdev test
bed, judged by what the chip saw (its stats counters and its flash file), plus
Verify's verdicts and the Progress signals.
Run: umockdev-wrapper /usr/bin/python3 test_outcomes.py (env: see harness.py)"""

import hashlib
import struct
import time
import unittest

import harness
import fixtures  # noqa: E402 (on the path harness sets up)


def image_hash(image):
    """DESIGN.md: SHA-256 over each region's (offset u64 LE, length u64 LE, bytes)."""
    h = hashlib.sha256()
    for off, _, data, _ in sorted(image.regions):
        h.update(struct.pack("<QQ", off, len(data)))
        h.update(data)
    return h.digest()


class Outcomes(harness.ServiceTestCase):
    def setUp(self):
        super().setUp()
        self.dev = self.add_board("esp32", "uart")
        self.port = self.dev.node
        self.sim = self.dev.sim
        # Service-wide default: trust on (calls below override it per call).
        self.svc = self.start_service("bus", trust_default=True)
        self.c = self.client()
        self.c.watch_signals()

    def progress(self, since=0):
        return [(t, args) for t, member, args in self.c.signals[since:]
                if member == "Progress" and args[0] == self.port]

    def deploy_watched(self, image, **opts):
        """DeployRegions with the main loop running, so Progress signals are seen."""
        self.c.drain()
        mark = len(self.c.signals)
        p = self.c.call_async("DeployRegions", self.port, harness.regions_value(image.paths()),
                              harness.options_value(**opts))
        self.c.run_until(lambda: p.done, harness.CALL_TIMEOUT, "DeployRegions reply")
        # Signals sent before the reply arrive before it on the same connection;
        # dispatch anything still pending all the same.
        self.c.drain()
        return p.get(), self.progress(mark)

    def assertProgressEvery64K(self, progress, total):
        """The issue's promise: a Progress signal at least every 64 KiB of flash written."""
        writes = [a for _, a in progress if a[1] in ("write", "post-verify")]
        self.assertTrue(writes, f"no write Progress signals: {progress}")
        self.assertTrue(all(a[3] == total for a in writes),
                        f"write Progress total must be the bytes to write ({total}): {writes}")
        dones = [a[2] for a in writes]
        self.assertEqual(dones, sorted(dones), "write progress must not go backwards")
        self.assertLessEqual(dones[0], 64 * 1024)
        self.assertEqual(dones[-1], total, "the last write Progress must report everything written")
        gaps = [b - a for a, b in zip(dones, dones[1:])]
        self.assertLessEqual(max(gaps, default=0), 64 * 1024,
                             f"a gap above 64 KiB between Progress signals: {dones}")

    def assertRunsApp(self, app, timeout=30):
        want = hashlib.sha256(app).hexdigest()
        deadline = time.monotonic() + timeout
        while True:
            st = self.sim.stats()
            if (st["state"], st["app_sha256"]) == ("app", want) or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        self.assertEqual((st["state"], st["app_sha256"]), ("app", want))

    def test_every_outcome(self):
        img1 = self.image(app_seed=1)
        img2 = self.image(app_seed=2)
        self.assertEqual(self.sim.flash()[:16], b"\xff" * 16, "the chip must start blank")
        s0 = self.sim.stats()

        # 1. full: a blank chip gets every region.
        (outcome, written, stats), progress = self.deploy_watched(img1, trust=False)
        self.assertEqual(outcome, "full")
        self.assertEqual(written, [(off, len(d)) for off, _, d, _ in img1.regions])
        self.assertTrue(img1.matches_flash(self.sim.flash()),
                        f"flash differs in {img1.mismatches(self.sim.flash())}")
        s1 = self.sim.stats()
        begins = sum(fixtures.write_begins("esp32", len(d)) for _, _, d, _ in img1.regions)
        self.assertEqual(s1["flash_begins"] - s0["flash_begins"], begins)
        self.assertEqual(stats["flash_begins"], begins)
        self.assertEqual(stats["image_sha256"], image_hash(img1))
        self.assertEqual(stats["chip"].lower().replace("-", ""), "esp32")
        self.assertEqual(stats["flash_size"], 4 * 1024 * 1024)
        self.assertGreater(stats["bytes_sent"], 0)
        self.assertGreater(stats["bytes_received"], 0)
        for k in ("connect_usec", "verify_usec", "write_usec", "post_verify_usec", "reset_usec"):
            self.assertIn(k, stats)
        self.assertGreater(stats["write_usec"], 0)
        self.assertFalse(stats["verification_impossible"])
        self.assertProgressEvery64K(progress, img1.total())
        phases = [a[1] for _, a in progress]
        for ph in ("connect", "verify", "write", "reset"):
            self.assertIn(ph, phases)
        self.assertLess(phases.index("connect"), phases.index("write"))
        self.assertLess(phases.index("write"), phases.index("reset"))
        # Reset into the application afterwards: the chip boots the new app (the
        # sim models EN's RC delay, so the boot may trail the reply a little).
        self.assertRunsApp(img1.regions[2][2])

        # 2. verify-skip: same image, trust off → the device is asked, nothing written.
        (outcome, written, stats), _ = self.deploy_watched(img1, trust=False)
        self.assertEqual(outcome, "verify-skip")
        self.assertEqual(written, [])
        s2 = self.sim.stats()
        self.assertEqual(s2["flash_begins"], s1["flash_begins"])
        self.assertGreater(s2["commands"], s1["commands"], "verify-skip must talk to the chip")
        self.assertEqual(stats["flash_begins"], 0)

        # 3. selective: only the application changed; bootloader and partition
        #    table untouched — exactly one more FLASH_BEGIN at the chip.
        flash_before = self.sim.flash()
        (outcome, written, stats), progress = self.deploy_watched(img2, trust=True)
        self.assertEqual(outcome, "selective")
        app_off, _, app2, _ = img2.regions[2]
        self.assertEqual(written, [(app_off, len(app2))])
        s3 = self.sim.stats()
        self.assertEqual(s3["flash_begins"] - s2["flash_begins"], fixtures.write_begins("esp32", len(app2)))
        flash = self.sim.flash()
        self.assertTrue(img2.matches_flash(flash))
        self.assertEqual(flash[:app_off], flash_before[:app_off],
                         "bytes below the application must be untouched")
        self.assertProgressEvery64K(progress, len(app2))
        self.assertRunsApp(app2)
        s3 = self.sim.stats()   # after the app's boot, which trails the reply

        # 4. trust-skip: the same image with trust on — the port is never opened.
        opens = self.dev.lines.opens
        lines = list(self.dev.lines.history)
        (outcome, written, stats), progress = self.deploy_watched(img2, trust=True)
        self.assertEqual(outcome, "trust-skip")
        self.assertEqual(written, [])
        s4 = self.sim.stats()
        for k in ("rx_bytes", "commands", "flash_begins", "boots"):
            self.assertEqual(s4[k], s3[k], f"trust-skip changed the chip's {k}")
        self.assertEqual(self.dev.lines.opens, opens, "trust-skip opened the port")
        self.assertEqual(self.dev.lines.history, lines, "trust-skip touched DTR/RTS")
        self.assertEqual(stats["bytes_sent"], 0)
        self.assertFalse([a for _, a in progress if a[1] in ("connect", "write")])

        trusted, h, since, _ = self.c.trust_state(self.port)
        self.assertTrue(trusted)
        self.assertEqual(h, image_hash(img2))
        self.assertGreater(since, 0)

        # The default comes from the config file (Trust=yes): no option → trust-skip.
        outcome, _, _ = self.c.deploy(self.port, img2.paths())
        self.assertEqual(outcome, "trust-skip")
        self.assertEqual(self.sim.stats()["rx_bytes"], s4["rx_bytes"])

        # ForgetTrust: the next deploy must ask the device again.
        self.c.call("ForgetTrust", self.port)
        trusted, h, _, why = self.c.trust_state(self.port)
        self.assertEqual((trusted, h, why), (False, b"", "forgotten"))
        outcome, _, _ = self.c.deploy(self.port, img2.paths(), trust=True)
        self.assertEqual(outcome, "verify-skip")
        self.assertGreater(self.sim.stats()["rx_bytes"], s4["rx_bytes"])
        self.assertEqual(self.sim.stats()["flash_begins"], s3["flash_begins"])

    def test_bootloader_only_change(self):
        """The sample layout on the ESP32 ROM, whose compressed writes program the
        rest of a 32 KiB buffer past their end: a changed bootloader (26 KiB at
        0x1000) must leave the partition table at 0x8000 intact, the whole image
        must verify afterwards, and the next deploy is a trust-skip that the
        flash bears out."""
        img1 = self.image(app_seed=5)
        self.assertEqual(self.c.deploy(self.port, img1.paths(), trust=True)[0], "full")
        regions = [(o, d, n) for o, _, d, n in img1.regions]
        (bl_off, bl, _), pt = regions[0], regions[1]
        self.assertEqual((bl_off, len(bl), pt[0]), (0x1000, 26 * 1024, 0x8000))
        changed = bytearray(bl)
        changed[0x200] ^= 0xFF
        img2 = harness.Image(self.work, [(bl_off, bytes(changed), "bootloader")] + regions[1:], "bl-only")
        flash_before = self.sim.flash()

        # Region granularity (once the default): the bootloader written whole,
        # which is what reaches the spill.
        outcome, written, stats = self.c.deploy(self.port, img2.paths(), trust=True,
                                                granularity="region")
        self.assertEqual(outcome, "selective")
        self.assertEqual(written, [(bl_off, len(bl))])
        self.assertEqual(stats["repairs"], 0)
        flash = self.sim.flash()
        self.assertEqual(flash[pt[0]:pt[0] + len(pt[1])], pt[1], "the partition table was damaged")
        self.assertTrue(img2.matches_flash(flash), f"flash differs in {img2.mismatches(flash)}")
        end = -(-(bl_off + len(bl)) // 0x1000) * 0x1000
        self.assertEqual(flash[end:], flash_before[end:], "bytes after the bootloader's sectors changed")

        # The whole image verifies, and trust is for what the flash holds.
        results = self.c.verify(self.port, img2.paths())
        self.assertEqual([(o, s, m) for o, s, m, _ in results],
                         [(o, len(d), True) for o, _, d, _ in img2.regions])
        trusted, h, _, _ = self.c.trust_state(self.port)
        self.assertEqual((trusted, h), (True, image_hash(img2)))
        rx = self.sim.stats()["rx_bytes"]
        self.assertEqual(self.c.deploy(self.port, img2.paths(), trust=True)[0], "trust-skip")
        self.assertEqual(self.sim.stats()["rx_bytes"], rx)
        self.assertTrue(img2.matches_flash(self.sim.flash()))

    def test_hash_only_where_the_turn_needs_it(self):
        # A deploy without trust cannot be a trust-skip: its image hash is not
        # a phase of its own before its turn but done while its connect holds
        # the chip in reset, and still keys the trust its proof records. Nor
        # can one with trust to a device trusted with no image on an idle port.
        img = self.image(app_seed=4)
        (outcome, _, stats), progress = self.deploy_watched(img, trust=False)
        self.assertEqual(outcome, "full")
        phases = [a[1] for _, a in progress]
        self.assertNotIn("hash", phases)
        self.assertEqual(phases[0], "connect")
        self.assertEqual(stats["image_sha256"], image_hash(img))
        trusted, h, _, _ = self.c.trust_state(self.port)
        self.assertEqual((trusted, h), (True, image_hash(img)))
        # Kept for the next deploy of the same files: a trust-skip needs no hash.
        (outcome, _, _), progress = self.deploy_watched(img, trust=True)
        self.assertEqual(outcome, "trust-skip")
        self.assertNotIn("hash", [a[1] for _, a in progress])

        # One that may be a trust-skip hashes first: the turn compares it.
        img2 = self.image(app_seed=5)
        (outcome, _, stats), progress = self.deploy_watched(img2, trust=True)
        self.assertEqual(outcome, "selective")
        phases = [a[1] for _, a in progress]
        self.assertIn("hash", phases)
        self.assertLess(phases.index("hash"), phases.index("connect"))
        self.assertEqual(stats["image_sha256"], image_hash(img2))

        # Trust forgotten, the port idle: a deploy with trust has nothing to
        # compare with, and hashes during its connect.
        self.c.call("ForgetTrust", self.port)
        img3 = self.image(app_seed=6)
        (outcome, _, stats), progress = self.deploy_watched(img3, trust=True)
        self.assertEqual(outcome, "selective")
        phases = [a[1] for _, a in progress]
        self.assertNotIn("hash", phases)
        self.assertEqual(phases[0], "connect")
        self.assertEqual(stats["image_sha256"], image_hash(img3))
        trusted, h, _, _ = self.c.trust_state(self.port)
        self.assertEqual((trusted, h), (True, image_hash(img3)))
        self.assertEqual(self.c.deploy(self.port, img3.paths(), trust=True)[0], "trust-skip")

    def test_trust_changed_signals(self):
        img = self.image(app_seed=3)
        self.deploy_watched(img, trust=True)
        self.c.call("ForgetTrust", self.port)
        self.c.run_until(lambda: len([s for s in self.c.signals if s[1] == "TrustChanged"]) >= 2,
                         30, "two TrustChanged signals")
        tc = [a for _, m, a in self.c.signals if m == "TrustChanged"]
        self.assertEqual(tc[0], [self.port, True, image_hash(img), ""])
        self.assertEqual(tc[-1], [self.port, False, b"", "forgotten"])

    def test_list_devices(self):
        devs = dict(self.c.list_devices())
        self.assertIn(self.port, devs)
        d = devs[self.port]
        self.assertEqual((d["vid"], d["pid"]), (0x10C4, 0xEA60))
        self.assertEqual(d["kind"], "uart-bridge")
        self.assertEqual(d["serial"], self.dev.serial)
        self.assertEqual(d["owner"], "idle")
        self.assertFalse(d["trusted"])


class VerifyVerdicts(harness.ServiceTestCase):
    def setUp(self):
        super().setUp()
        self.dev = self.add_board("esp32", "uart")
        self.port = self.dev.node
        self.sim = self.dev.sim
        self.svc = self.start_service("bus")
        self.c = self.client()

    def verdicts(self, image):
        res = self.c.verify(self.port, image.paths())
        self.assertEqual([(o, s) for o, s, _, _ in res],
                         [(off, len(d)) for off, _, d, _ in image.regions])
        return res

    def assertDeviceMd5IsFlash(self, res):
        flash = self.sim.flash()
        for off, size, _, dev_md5 in res:
            self.assertEqual(dev_md5, harness.md5(flash[off:off + size]),
                             f"device MD5 of 0x{off:x}+{size} is not the MD5 of the sim's flash")

    def test_verdicts(self):
        img = self.image(app_seed=1)
        s0 = self.sim.stats()
        # Blank chip: nothing matches, and the device MD5 is that of 0xFF bytes.
        res = self.verdicts(img)
        self.assertEqual([m for _, _, m, _ in res], [False, False, False])
        self.assertDeviceMd5IsFlash(res)
        self.assertEqual(res[0][3], harness.md5(b"\xff" * len(img.regions[0][2])))
        s1 = self.sim.stats()
        self.assertEqual(s1["flash_begins"], s0["flash_begins"], "Verify must never write")
        self.assertGreater(s1["commands"], s0["commands"])

        outcome, _, _ = self.c.deploy(self.port, img.paths(), trust=False)
        self.assertEqual(outcome, "full")
        res = self.verdicts(img)
        self.assertEqual([m for _, _, m, _ in res], [True, True, True])
        self.assertDeviceMd5IsFlash(res)
        self.assertEqual([r[3] for r in res], [harness.md5(d) for _, _, d, _ in img.regions])

        # Someone changes one byte of the application behind the service's back.
        app_off, _, app, _ = img.regions[2]
        self.sim.external_write(app_off + 0x1234, bytes([app[0x1234] ^ 0x5A]))
        s2 = self.sim.stats()
        res = self.verdicts(img)
        self.assertEqual([m for _, _, m, _ in res], [True, True, False])
        self.assertDeviceMd5IsFlash(res)
        self.assertNotEqual(res[2][3], harness.md5(app))
        self.assertEqual(self.sim.stats()["flash_begins"], s2["flash_begins"])

        # A region that is only part of what is on flash: matched on its own bytes.
        part = harness.Image(self.work + "/part", [(0x8000, img.regions[1][2][:4096], "pt")])
        res = self.verdicts(part)
        self.assertEqual(res[0][2], True)
        self.assertDeviceMd5IsFlash(res)


if __name__ == "__main__":
    unittest.main()
