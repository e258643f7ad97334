# SPDX-License-Identifier: LGPL-2.1-or-later
"""The fault matrix: simulated chips behind the umockdev test bed lose and corrupt
bytes, stall, vanish mid-write and come back; clients vanish mid-call; the
service is stopped and killed mid-write; a foreign process holds the port. Every
deploy goes through invariant.Invariant (a trust-skip only with the image on the
flash; a success only with the image on the flash; trust only for what the flash
holds). Each row prints: outcome, error name, whether the flash matches the
image afterwards, whether trust is correct.
Run: umockdev-wrapper /usr/bin/python3 test_faults.py (env: see harness.py)"""

import os
import random
import signal
import subprocess
import sys
import time
import unittest

import dbus

import harness
from busfixture import CallError
from invariant import Invariant, image_sha256

# Errors a fault may end in: each names what went wrong. Anything else (or a
# generic D-Bus error) fails the row.
FAULT_ERRORS = {harness.error_name(n) for n in
                ("Timeout", "ProtocolError", "FlashError", "NoSuchDevice", "Cancelled", "DeviceBusy")}
BAUD = 921600
RATES = ("1e-5", "1e-4", "1e-3", "1e-2")
# FAULT_MATRIX=full adds rates between the decades and more seeds.
FULL = os.environ.get("FAULT_MATRIX") == "full"


class Row:
    """One line of the matrix, printed as the test goes."""

    def __init__(self, name):
        self.name = name
        self.outcome = "-"
        self.error = "-"
        self.flash_ok = None
        self.trust_ok = None

    def __str__(self):
        err = self.error.rsplit(".", 1)[-1]
        return (f"{self.name:<34} outcome={self.outcome:<11} error={err:<17} "
                f"flash-matches={'yes' if self.flash_ok else 'no':<3} "
                f"trust-correct={'yes' if self.trust_ok else 'no'}")


class FaultTestCase(harness.ServiceTestCase):
    activation = "bus"

    def setUp(self):
        super().setUp()
        self.inv = Invariant(strict=True)
        self.rows = []
        self.addCleanup(self._print_rows)

    def _print_rows(self):
        for r in self.rows:
            sys.stderr.write(f"\nFAULT-ROW {r}")
        sys.stderr.write("\n")

    def attempt(self, c, row, dev, image, **opts):
        """A deploy under the invariant; fills in the row's outcome or error name."""
        try:
            row.outcome = self.inv.deploy(c, dev, image, **opts)[0]
        except CallError as e:
            row.outcome = "error"
            row.error = e.name
            self.assertIn(e.name, FAULT_ERRORS, f"{row.name}: unnamed failure {e}")
        return row.outcome

    def settle(self, c, row, dev, image, may_distrust=False):
        """Records whether flash and trust are right after the row's fault: trust is
        correct if the device is trusted exactly when this image is on its flash
        and the last deploy succeeded (the invariant checks the rest).
        may_distrust: a success that leaves the device untrusted is correct too."""
        row.flash_ok = image.matches_flash(dev.sim.flash())
        trusted, h, why = self.inv.check_trust(c, dev)
        if row.outcome == "error" or (may_distrust and not trusted):
            row.trust_ok = not trusted
        else:
            row.trust_ok = trusted and h == image_sha256(image) and row.flash_ok
        self.rows.append(row)
        return trusted, why


class LossAndCorruption(FaultTestCase):
    """Byte loss and corruption on the host→chip line at 1e-5…1e-2 per byte: the
    loader's retries recover, or the deploy fails by name; never a wrong flash
    reported as success. Then the fault goes away (a replug: a fresh chip on the
    same flash) and the next deploy repairs the board."""

    def _rate_rows(self, kind):
        rates = RATES + (("3e-5", "3e-4", "3e-3") if FULL else ())
        boards = [self.add_board("esp32", "uart", sim_args=(f"--seed={i + 7}",))
                  for i, _ in enumerate(rates)]
        self.start_service(self.activation, trust_default=True)
        c = self.client()
        for i, (rate, dev) in enumerate(zip(rates, boards)):
            image = self.image(app_seed=100 + i, app_size=192 * 1024)
            row = Row(f"{kind}={rate}")
            dev.sim.fault(f"{kind}={rate}")
            self.attempt(c, row, dev, image, baud=dbus.UInt32(BAUD))
            self.settle(c, row, dev, image)
            self.assertTrue(row.trust_ok, row)
            if row.outcome != "error":
                self.assertTrue(row.flash_ok, row)
                # Trusted now: the next deploy is a trust-skip, and the invariant
                # holds it to the flash.
                self.assertEqual(self.inv.deploy(c, dev, image)[0], "trust-skip")
            else:
                self.assertGreater(dev.sim.stats()["dropped" if kind == "drop" else "corrupted"], 0)
                back = self.bed.replug(dev)
                again = Row(f"{kind}={rate} then repaired")
                self.attempt(c, again, back, image, baud=dbus.UInt32(BAUD))
                self.settle(c, again, back, image)
                self.assertIn(again.outcome, ("full", "selective"), again)
                self.assertTrue(again.flash_ok and again.trust_ok, again)

    def test_byte_loss(self):
        self._rate_rows("drop")

    def test_byte_corruption(self):
        self._rate_rows("corrupt")


STUB_DIR = os.path.join(harness.SOURCE_ROOT, "tests", "conformance", "node_modules", "esptool-js",
                        "lib", "targets", "stub_flasher")


class ChecksumErrors(FaultTestCase):
    """Bytes mangled on the wire (corrupt=RATE per byte) on the faithful ESP32
    ROM, which counts a block it refuses so that sending it again can never
    work (reference-traces esp32-rom-defl-error-probe), and on the flasher
    stub, which keeps no sequence number. Where a restart can finish, the deploy
    succeeds with the image on the flash and says how often it began a stream
    again; where the link lets (almost) no block through, it fails by name and
    the next clean deploy repairs the board. Either way the invariant holds."""

    def _rows(self, stub, must_succeed, rates=("1e-4", "1e-3", "1e-2")):
        boards = [self.add_board("esp32", "uart", sim_args=(f"--seed={i + 31}",))
                  for i, _ in enumerate(rates)]
        svc = self.start_service(self.activation, trust_default=True)
        if stub:
            with open(svc.config_path, "a") as f:
                f.write(f"StubDirectory={STUB_DIR}\nLoader=stub\n")
        c = self.client()
        loader = "stub" if stub else "rom"
        for i, (rate, dev) in enumerate(zip(rates, boards)):
            image = self.image(app_seed=300 + i, app_size=192 * 1024)
            row = Row(f"{loader} corrupt={rate}")
            dev.sim.fault(f"corrupt={rate}")
            try:
                outcome, _, stats = self.inv.deploy(c, dev, image, baud=dbus.UInt32(BAUD))
                row.outcome = outcome
            except CallError as e:
                row.outcome, row.error, stats = "error", e.name, None
                self.assertIn(e.name, FAULT_ERRORS, f"{row.name}: unnamed failure {e}")
            self.settle(c, row, dev, image)
            self.assertTrue(row.trust_ok, row)
            if rate in must_succeed:
                self.assertEqual(row.outcome, "full", row)
            if row.outcome != "error":
                self.assertTrue(row.flash_ok, row)
                if not stub and dev.sim.stats()["corrupted"] > 20:
                    self.assertGreater(stats["stream_restarts"], 0, row)
                continue
            back = self.bed.replug(dev)
            again = Row(f"{loader} corrupt={rate} then repaired")
            self.attempt(c, again, back, image, baud=dbus.UInt32(BAUD))
            self.settle(c, again, back, image)
            self.assertIn(again.outcome, ("full", "selective"), again)
            self.assertTrue(again.flash_ok and again.trust_ok, again)

    def test_rom(self):
        self._rows(stub=False, must_succeed=("1e-4",))

    @unittest.skipUnless(os.path.exists(os.path.join(STUB_DIR, "esp32.json")),
                         "esptool-js's stubs are not installed (npm ci in tests/conformance)")
    def test_stub(self):
        # After a failed stream the stub's blocks halve (16 KiB down to 1 KiB),
        # which gets 1e-3 through. 1e-2 is left out: even a 1 KiB block then
        # arrives whole once in 30000 (0.99^1040), and the garbled frames'
        # timeouts outlast a client's call timeout.
        self._rows(stub=True, must_succeed=(), rates=("1e-4", "1e-3"))


class BlockChecksumErrors(FaultTestCase):
    """Checksum errors at a rate p, read as the issue means them: a data block
    reaches the chip with a bad checksum with probability p (the sim's
    block-corrupt=p flips one bit of a FLASH_DATA/FLASH_DEFL_DATA block's data,
    which its XOR checksum always sees). At a per-byte rate of 1e-2 no 1 KiB
    block would arrive intact (0.99^1024 ≈ 3e-5); those per-byte rows stay in
    ChecksumErrors. Every row here must finish with the whole image on the
    flash (the invariant compares it after the success) and trust right, on the
    ESP32 ROM (it counts a refused block, and spills), the ESP32-C3 ROM and the
    flasher stub (it keeps no sequence number). A 1 MiB application, so that
    the higher rates damage blocks in every row that has them."""

    RATES = ("1e-4", "1e-3", "1e-2", "1e-1")

    def _rows(self, chip, stub):
        boards = [self.add_board(chip, "uart", sim_args=(f"--seed={i + 61}",))
                  for i, _ in enumerate(self.RATES)]
        svc = self.start_service(self.activation, trust_default=True)
        if stub:
            with open(svc.config_path, "a") as f:
                f.write(f"StubDirectory={STUB_DIR}\nLoader=stub\n")
        c = self.client()
        loader = f"{chip} {'stub' if stub else 'rom'}"
        for i, (rate, dev) in enumerate(zip(self.RATES, boards)):
            image = self.image(chip=chip, app_seed=400 + i, app_size=1024 * 1024)
            row = Row(f"{loader} block-corrupt={rate}")
            dev.sim.fault(f"block-corrupt={rate}")
            # Region granularity (once the default), whose outcome is "full".
            outcome, _, stats = self.inv.deploy(c, dev, image, baud=dbus.UInt32(BAUD),
                                                granularity="region")
            row.outcome = outcome
            self.settle(c, row, dev, image)
            damaged = dev.sim.stats()["corrupted_blocks"]
            row.name += f" ({damaged} damaged)"
            self.assertEqual(row.outcome, "full", row)
            self.assertTrue(row.flash_ok and row.trust_ok, row)
            self.assertEqual(stats["chip"].lower().replace("-", ""), chip)
            if rate == "1e-1":
                self.assertGreater(damaged, 0, row)
                if not stub:
                    # the ROM counts a refused block: some stream began again
                    self.assertGreater(stats["stream_restarts"], 0, row)
            self.assertEqual(self.inv.deploy(c, dev, image)[0], "trust-skip")

    def test_esp32_rom(self):
        self._rows("esp32", stub=False)

    def test_esp32c3_rom(self):
        self._rows("esp32c3", stub=False)

    @unittest.skipUnless(os.path.exists(os.path.join(STUB_DIR, "esp32.json")),
                         "esptool-js's stubs are not installed (npm ci in tests/conformance)")
    def test_stub(self):
        self._rows("esp32", stub=True)


class LinkFallback(FaultTestCase):
    """A link that is clean at 115200 and loses bytes at 921600 (the sim's
    loss-above: a long cable, a marginal bridge). The baud change itself
    succeeds; then blocks are lost. The deploy resets the chip into its
    bootloader again, goes on at 115200 from what is proven on the flash and
    says so (baud_fallback); the port stays at 115200 for the rest of the
    service's life, so the next deploy there never tries the raised rate."""

    def test_lossy_raised_rate_falls_back(self):
        # 3e-3 per byte: the link check's SYNC (46 bytes) gets through, a 1 KiB
        # block almost never does.
        dev = self.add_board("esp32", "uart", sim_args=("--seed=5", "--fault=loss-above=115200:3e-3"))
        clean = self.add_board("esp32", "uart", sim_args=("--seed=6",))
        self.start_service(self.activation, trust_default=True)
        c = self.client()

        image = self.image(app_seed=500, app_size=256 * 1024)
        row = Row("loss above 115200, first deploy")
        outcome, written, stats = self.inv.deploy(c, dev, image, baud=dbus.UInt32(BAUD))
        row.outcome = outcome
        self.settle(c, row, dev, image)
        self.assertEqual(outcome, "full", row)
        self.assertTrue(row.flash_ok and row.trust_ok, row)
        self.assertGreater(dev.sim.stats()["dropped"], 0, "the raised rate lost nothing: no fault to recover from")
        self.assertIs(bool(stats["baud_fallback"]), True, stats)
        self.assertEqual(stats["baud"], 115200, stats)
        # Written: what went out at either rate; together it covers every region.
        for off, _, data, _ in image.regions:
            covered = set()
            for o, n in written:
                covered.update(range(max(o, off), min(o + n, off + len(data)), 0x1000))
            self.assertEqual(covered, set(range(off, off + len(data), 0x1000)), (hex(off), written))

        # The same service, the same port: the raised rate is not tried again.
        dropped = dev.sim.stats()["dropped"]
        other = self.image(app_seed=501, app_size=256 * 1024)
        row = Row("loss above 115200, next deploy")
        outcome, _, stats = self.inv.deploy(c, dev, other)
        row.outcome = outcome
        self.settle(c, row, dev, other)
        self.assertIn(outcome, ("full", "selective"), row)
        self.assertTrue(row.flash_ok and row.trust_ok, row)
        self.assertEqual(stats["baud"], 115200, stats)
        self.assertIs(bool(stats["baud_fallback"]), False, stats)
        self.assertEqual(dev.sim.stats()["dropped"], dropped, "the next deploy ran above 115200")

        # Another port keeps the raised default.
        row = Row("clean port, same service")
        outcome, _, stats = self.inv.deploy(c, clean, image)
        row.outcome = outcome
        self.settle(c, row, clean, image)
        self.assertEqual(outcome, "full", row)
        self.assertTrue(row.flash_ok and row.trust_ok, row)
        self.assertEqual(stats["baud"], BAUD, stats)
        self.assertIs(bool(stats["baud_fallback"]), False, stats)


    def test_link_check_fails_after_switch(self):
        # 5e-2 per byte: the chip takes CHANGE_BAUDRATE (at 115200) and switches,
        # then not even the link check's SYNC gets through: it answers at neither
        # rate until it is reset.
        dev = self.add_board("esp32", "uart", sim_args=("--seed=8", "--fault=loss-above=115200:5e-2"))
        self.start_service(self.activation, trust_default=True)
        c = self.client()
        image = self.image(app_seed=510, app_size=128 * 1024)
        row = Row("loss above 115200, check fails")
        outcome, _, stats = self.inv.deploy(c, dev, image, baud=dbus.UInt32(BAUD))
        row.outcome = outcome
        self.settle(c, row, dev, image)
        self.assertEqual(outcome, "full", row)
        self.assertTrue(row.flash_ok and row.trust_ok, row)
        self.assertGreater(dev.sim.stats()["dropped"], 0, "nothing ran above 115200")
        self.assertIs(bool(stats["baud_fallback"]), True, stats)
        self.assertEqual(stats["baud"], 115200, stats)


def wait_writing(c, port, pending, mark=0, extra=lambda: True, timeout=60):
    """Run the main loop until port's deploy has written something (and extra())."""
    c.run_until(lambda: pending.done or (extra() and any(
        m == "Progress" and a[0] == port and a[1] == "write" and a[2] > 0
        for _, m, a in c.signals[mark:])), timeout, "the deploy to start writing")


class MidWrite(FaultTestCase):
    """Faults that land while flash is being written, on chips with the real
    timing model so that there is a write to land in."""

    def test_stall_mid_block(self):
        # 10 s without a byte from the chip, some 40 KB into the stream (the stub
        # upload and connect take about 12 KB): longer than a block's deadline.
        dev = self.add_board("esp32", "uart", timing="real", sim_args=("--fault=stall=10000@40000",))
        self.start_service(self.activation, trust_default=True)
        c = self.client()
        image = self.image(app_seed=201, app_size=256 * 1024)
        row = Row("stall 10 s mid-block")
        self.attempt(c, row, dev, image, baud=dbus.UInt32(BAUD))
        self.settle(c, row, dev, image)
        self.assertTrue(row.trust_ok, row)
        self.assertTrue(any(e.get("event") == "stall" for e in dev.sim.events()), "no stall happened")
        if row.outcome == "error":
            self.assertEqual(row.error, harness.error_name("Timeout"), row)
        # The stall is over: the next deploy repairs or proves the board.
        again = Row("stall, next deploy")
        self.attempt(c, again, dev, image, baud=dbus.UInt32(BAUD))
        self.settle(c, again, dev, image)
        self.assertNotEqual(again.outcome, "error", again)
        self.assertTrue(again.flash_ok and again.trust_ok, again)

    def test_unplug_at_random_byte(self):
        rng = random.Random(int(os.environ.get("FAULT_SEED", "8")))
        for i in range(3 if FULL else 1):
            at = rng.randint(20000, 150000)
            dev = self.add_board("esp32", "uart", sim_args=(f"--fault=vanish={at}",))
            if self.service is None:
                self.start_service(self.activation, trust_default=True)
                c = self.client()
            image = self.image(app_seed=210 + i, app_size=256 * 1024)
            row = Row(f"unplug at byte {at}")
            self.attempt(c, row, dev, image, baud=dbus.UInt32(BAUD))
            # The sim vanished: take the board off the bus as the kernel would.
            dev.unplug()
            back = self.bed.replug(dev)
            self.settle(c, row, back, image)
            self.assertEqual(row.outcome, "error", row)
            self.assertIn(row.error, {harness.error_name("NoSuchDevice"), harness.error_name("Timeout")}, row)
            self.assertTrue(row.trust_ok, row)
            again = Row(f"unplug at byte {at}, replugged")
            self.attempt(c, again, back, image, baud=dbus.UInt32(BAUD))
            self.settle(c, again, back, image)
            self.assertIn(again.outcome, ("full", "selective"), again)
            self.assertTrue(again.flash_ok and again.trust_ok, again)

    def test_replug_during_retry(self):
        # Corruption makes the loader retry blocks; the board is pulled and put
        # back while a retry is under way.
        dev = self.add_board("esp32", "uart", timing="real", sim_args=("--seed=3", "--fault=corrupt=2e-5"))
        self.start_service(self.activation, trust_default=True)
        c = self.client()
        c.watch_signals()
        image = self.image(app_seed=220, app_size=512 * 1024)
        p = c.call_async("DeployRegions", dev.node, harness.regions_value(image.paths()),
                         harness.options_value(baud=dbus.UInt32(BAUD)))
        wait_writing(c, dev.node, p, extra=lambda: dev.sim.stats()["corrupted"] > 0, timeout=90)
        row = Row("replug during a retry")
        self.assertFalse(p.done, f"the deploy ended before the replug: {p.result or p.error}")
        back = self.bed.replug(dev)
        c.run_until(lambda: p.done, 60, "the deploy to end")
        try:
            row.outcome = p.get()[0]
        except CallError as e:
            row.outcome, row.error = "error", e.name
        self.settle(c, row, back, image)
        self.assertEqual(row.outcome, "error", row)
        self.assertIn(row.error, FAULT_ERRORS, row)
        self.assertTrue(row.trust_ok, row)
        again = Row("replug during a retry, next deploy")
        self.attempt(c, again, back, image, baud=dbus.UInt32(BAUD))
        self.settle(c, again, back, image)
        self.assertIn(again.outcome, ("full", "selective"), again)
        self.assertTrue(again.flash_ok and again.trust_ok, again)


    def test_external_write_during_deploy_is_repaired(self):
        # The ESP32-S3 ROM is untraced: its write footprint is unknown, so a
        # deploy proves the whole image before it reports success. Something
        # behind the service's back (another tool, a glitch) changes the
        # bootloader, which this deploy verified as matching and does not write,
        # while the application is being written: the proof finds it, writes it
        # again and says so.
        dev = self.add_board("esp32s3", "uart", timing="real")
        self.start_service(self.activation, trust_default=True)
        c = self.client()
        c.watch_signals()
        old = self.image(chip="esp32s3", app_seed=260, app_size=64 * 1024)
        self.assertEqual(self.inv.deploy(c, dev, old, baud=dbus.UInt32(BAUD))[0], "full")
        image = self.image(chip="esp32s3", app_seed=261, app_size=512 * 1024)
        (boot_off, _, boot, _), = [r for r in image.regions if r[3] == "bootloader"]
        self.assertEqual(image.mismatches(dev.sim.flash()), ["app"])

        self.inv.expect(image)
        c.drain()       # the first deploy's signals, queued behind its blocking call
        mark = len(c.signals)
        p = c.call_async("DeployRegions", dev.node, harness.regions_value(image.paths()),
                         harness.options_value(baud=dbus.UInt32(BAUD)))
        wait_writing(c, dev.node, p, mark)
        self.assertFalse(p.done, "the deploy ended before the external write")
        hit = boot_off + 0x1230
        dev.sim.external_write(hit, bytes(b ^ 0xff for b in boot[0x1230:0x1240]))
        c.run_until(lambda: p.done, 120, "the deploy to end")
        outcome, written, stats = p.get()

        row = Row("external write mid-deploy (S3)")
        row.outcome = outcome
        self.settle(c, row, dev, image)
        self.assertIn(outcome, ("selective", "full"), row)
        self.assertTrue(row.flash_ok and row.trust_ok, row)
        self.assertGreater(stats["repairs"], 0, stats)
        self.assertTrue(any(o <= hit < o + n for o, n in written), f"the repair is not in written: {written}")


CLIENT = r"""
import sys, dbus
bus = dbus.bus.BusConnection(sys.argv[1])
iface = dbus.Interface(bus.get_object("org.fbuild.Deploy1", "/org/fbuild/Deploy1"), "org.fbuild.Deploy1")
regions = dbus.Array([dbus.Struct((dbus.UInt64(int(o, 0)), dbus.String(p, variant_level=1)))
                      for o, p in (a.split("=", 1) for a in sys.argv[3:])], signature="(tv)")
iface.DeployRegions(sys.argv[2], regions, dbus.Dictionary({}, signature="sv"), timeout=600)
"""


class Processes(FaultTestCase):
    """A client, the service itself and a foreign process going away or getting in
    the way mid-write."""

    def test_client_vanishes_mid_call(self):
        dev = self.add_board("esp32", "uart", timing="real")
        svc = self.start_service("bus", trust_default=True)
        c = self.client()
        c.watch_signals()
        image = self.image(app_seed=230, app_size=384 * 1024)
        args = [f"{o:#x}={p}" for o, p in image.paths()]
        self.inv.expect(image)
        proc = subprocess.Popen(["/usr/bin/python3", "-c", CLIENT, svc.endpoint.address, dev.node] + args,
                                env=self.bed.env())
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        c.run_until(lambda: proc.poll() is not None or any(
            m == "Progress" and a[0] == dev.node and a[1] == "write" and a[2] > 0 for _, m, a in c.signals),
            60, "the other client's deploy to start writing")
        self.assertIsNone(proc.poll(), "the client's deploy ended before it was killed")
        proc.kill()
        proc.wait()
        c.run_until(lambda: dict(c.list_devices())[dev.node]["owner"] == "idle", 60, "the port to be idle")
        row = Row("client killed mid-call")
        row.outcome = "(no reply)"
        # Whatever the service did with the orphaned job, trust must match the
        # flash; the invariant holds it to that.
        trusted, h, why = self.inv.check_trust(c, dev)
        row.flash_ok = image.matches_flash(dev.sim.flash())
        row.trust_ok = (trusted and h == image_sha256(image) and row.flash_ok) or not trusted
        self.rows.append(row)
        self.assertTrue(row.trust_ok, row)
        again = Row("client killed, next deploy")
        self.attempt(c, again, dev, image)
        self.settle(c, again, dev, image)
        self.assertNotEqual(again.outcome, "error", again)
        self.assertTrue(again.flash_ok and again.trust_ok, again)

    def _signal_mid_write(self, sig, name):
        dev = self.add_board("esp32", "uart", timing="real")
        svc = self.start_service("socket", trust_default=True)
        c = self.client()
        c.watch_signals()
        old = self.image(app_seed=240, app_size=64 * 1024)
        self.assertEqual(self.inv.deploy(c, dev, old)[0], "full")
        image = self.image(app_seed=241, app_size=512 * 1024)
        p = c.call_async("DeployRegions", dev.node, harness.regions_value(image.paths()),
                         harness.options_value(baud=dbus.UInt32(BAUD)))
        wait_writing(c, dev.node, p)
        self.assertFalse(p.done)
        (pid,) = svc.service_pids()
        os.kill(pid, sig)
        # A killed peer-to-peer service just drops the connection, which
        # dbus-python does not turn into an error reply.
        c.run_until(lambda: p.done or not svc.service_pids(), 30, "the deploy to end")
        try:
            c.run_until(lambda: p.done, 30, "a reply")
        except TimeoutError:
            if sig != signal.SIGKILL:
                raise
        row = Row(f"{name} of the service mid-write")
        try:
            row.outcome = p.get()[0] if p.done else "error"
            row.error = row.error if p.done else "(connection-lost)"
        except CallError as e:
            row.outcome, row.error = "error", e.name
        deadline = time.monotonic() + 10
        while svc.service_pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(svc.service_pids(), [], f"the service outlived {name}")
        c.close()
        # A new instance: trust lived in the old one's memory, so nothing is trusted.
        c = self.client()
        trusted, h, why = self.inv.check_trust(c, dev)
        row.flash_ok = image.matches_flash(dev.sim.flash())
        row.trust_ok = not trusted
        self.rows.append(row)
        self.assertEqual(row.outcome, "error", row)
        self.assertNotEqual(row.error, "-", row)
        self.assertFalse(row.flash_ok, row)
        self.assertTrue(row.trust_ok, f"{row}: the restarted service trusts the board ({why})")
        again = Row(f"{name}, next deploy")
        self.attempt(c, again, dev, image, baud=dbus.UInt32(BAUD))
        self.settle(c, again, dev, image)
        self.assertIn(again.outcome, ("full", "selective"), again)
        self.assertTrue(again.flash_ok and again.trust_ok, again)
        self.assertEqual(svc.activations(), 2)

    def test_sigterm_mid_write(self):
        self._signal_mid_write(signal.SIGTERM, "SIGTERM")

    def test_sigkill_mid_write(self):
        self._signal_mid_write(signal.SIGKILL, "SIGKILL")

    def test_foreign_process_holds_the_port(self):
        dev = self.add_board("esp32", "uart")
        self.start_service("bus", trust_default=True)
        c = self.client()
        image = self.image(app_seed=250, app_size=128 * 1024)
        self.assertEqual(self.inv.deploy(c, dev, image)[0], "full")
        # A terminal program opens the port and keeps it open (reading nothing).
        holder = subprocess.Popen(
            ["/usr/bin/python3", "-c",
             f"import os, sys, time; fd = os.open({dev.node!r}, os.O_RDWR | os.O_NOCTTY); "
             "print('open', flush=True); time.sleep(600)"],
            env=self.bed.env(), stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: holder.poll() is None and holder.kill())
        self.assertEqual(holder.stdout.readline().strip(), "open")
        c.run_until(lambda: not c.trust_state(dev.node)[0], 10, "trust to be dropped")
        row = Row("foreign process holds the port")
        other = self.image(app_seed=251, app_size=128 * 1024)
        self.attempt(c, row, dev, other)
        # The holder could still write to the chip through its open fd, so the
        # service must not trust the device while it is held.
        self.settle(c, row, dev, other, may_distrust=True)
        self.assertTrue(row.trust_ok, row)
        if row.outcome != "error":
            self.assertTrue(row.flash_ok, row)
        trusted, _, _, reason = c.trust_state(dev.node)
        self.assertFalse(trusted, "trusted while another process holds the port")
        self.assertEqual(reason, "foreign-open")
        holder.kill()
        holder.wait()
        again = Row("foreign process gone, next deploy")
        self.attempt(c, again, dev, other)
        self.settle(c, again, dev, other)
        self.assertNotEqual(again.outcome, "error", again)
        self.assertTrue(again.flash_ok and again.trust_ok, again)


if __name__ == "__main__":
    unittest.main()
