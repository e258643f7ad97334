# SPDX-License-Identifier: LGPL-2.1-or-later
"""End to end: esp-flash-tool on a fake USB serial port deploys a realistic flash set
(bootloader, partition table, app) to a simulated board and the board boots it.

Run: umockdev-wrapper /usr/bin/python3 test_e2e.py [Deploy.test_esp32_uart]
     (FBUILD_ESP_SIM, ESP_FLASH_TOOL set; meson does this)
"""

import hashlib
import os
import unittest

import esptestbed
import fixtures
from esptestbed import Bed, run_flash_tool

# Deploys switch to this speed after connecting, as real ones do.
BAUD = "--baud=921600"
# esptool's flasher stubs as esptool-js ships them (tests/conformance, `npm ci`).
STUB_DIR = os.environ.get("ESPTOOL_STUB_DIR", "")


class Deploy(unittest.TestCase):
    def setUp(self):
        self.bed = Bed()
        self.addCleanup(self.bed.close)

    def tool(self, dev, *args, reset):
        rc, out, err = run_flash_tool(self.bed, dev, *args, reset=reset)
        context = f"esp-flash-tool {' '.join(args)} -> rc={rc} out={out} stderr={err[-1500:]}"
        if dev.sim:
            context += f"\nsim: {dev.sim.describe()}"
        self.assertEqual(rc, 0, context)
        self.assertTrue(out, context)
        self.assertEqual(out[-1], {"result": "ok"}, context)
        return out, context

    def deploy(self, chip, kind, reset, stub=False, sim_args=()):
        dev = self.bed.add_device(chip, kind, sim_args=("--app-interval=200", *sim_args))
        options = [BAUD]
        if stub:
            stub_json = os.path.join(STUB_DIR, f"{chip}.json")
            self.assertTrue(os.path.isfile(stub_json),
                            f"no stub at {stub_json!r}: run `npm ci` in tests/conformance")
            options.append(f"--stub={stub_json}")
        regions = fixtures.flash_set(chip)
        args = []
        for offset, data, name in regions:
            path = os.path.join(dev.workdir, f"{name}.bin")
            with open(path, "wb") as f:
                f.write(data)
            args.append(f"0x{offset:x}={path}")

        # Write: reset into download mode, detect the chip, write all three regions.
        out, context = self.tool(dev, *options, "write", *args, reset=reset)
        # The tool names the chip it detected as the sim's --chip does.
        self.assertEqual(out[0]["chip"], chip, context)
        self.assertEqual(out[0]["flash_size"], 4 * 1024 * 1024, context)
        self.assertIs(out[0]["stub"], stub, context)
        self.assertEqual(bool(out[0]["usb_jtag"]), kind == "usb-jtag", context)
        written = out[1:-1]
        self.assertEqual(len(written), len(regions), context)
        for line, (offset, data, name) in zip(written, regions):
            self.assertEqual(line["offset"], offset, f"{name}: {context}")
            self.assertEqual(line["size"], len(data), f"{name}: {context}")
            self.assertIs(line["written"], True, f"{name}: {context}")
            self.assertEqual(line["md5"], hashlib.md5(data).hexdigest(), f"{name}: {context}")
            self.assertGreater(line["wire_bytes"], 0, f"{name}: {context}")

        # The chip's flash holds exactly the images, 0xFF everywhere else.
        flash = dev.sim.flash()
        expected = bytearray(b"\xff" * len(flash))
        for offset, data, _ in regions:
            expected[offset:offset + len(data)] = data
        if flash != expected:
            first = next(i for i in range(len(flash)) if flash[i] != expected[i])
            self.fail(f"flash differs first at 0x{first:x}: got {flash[first:first + 16].hex()} "
                      f"expected {bytes(expected[first:first + 16]).hex()}")
        stats = dev.sim.stats()
        self.assertEqual(stats["flash_begins"],
                         sum(fixtures.write_begins(chip, len(d), stub) for _, d, _ in regions), stats)
        self.assertEqual(stats["chip"], chip, stats)

        # The tool's hard reset booted the new application, which names its own hash.
        app = regions[2][1]
        self.assertEqual(fixtures.image_length(app), len(app))
        m = dev.read_serial(rb"app running sha256=([0-9a-f]{64})")
        self.assertEqual(m.group(1).decode(), hashlib.sha256(app).hexdigest())
        self.assertEqual(dev.sim.stats()["state"], "app")

        # Verify: a second session compares device MD5s and writes nothing.
        out, context = self.tool(dev, *options, "verify", *args, reset=reset)
        self.assertEqual(out[0]["chip"], chip, context)
        for line, (offset, data, name) in zip(out[1:-1], regions):
            self.assertEqual((line["offset"], line["size"], line["matched"], line["md5"]),
                             (offset, len(data), True, hashlib.md5(data).hexdigest()),
                             f"{name}: {context}")
        self.assertEqual(len(out), len(regions) + 2, context)
        self.assertEqual(dev.sim.stats()["flash_begins"], stats["flash_begins"], "verify wrote")
        self.assertEqual(dev.sim.flash(), bytes(expected))

        # The reset really went through the modem lines the bed emulates.
        self.assertEqual(self.bed.errors(), [])
        history = dev.lines.history
        if reset == "classic":
            # IO0 low (DTR) while EN is released (RTS off): esptool's classic sequence.
            self.assertIn((False, True), history)
            self.assertIn((True, False), history)
        else:
            self.assertGreater(len(history), 3, history)
        return dev

    def test_esp32_uart(self):
        self.deploy("esp32", "uart", "classic")

    def test_esp32s3_usb_jtag(self):
        self.deploy("esp32s3", "usb-jtag", "usb-jtag")

    def test_esp32c3_uart(self):
        self.deploy("esp32c3", "uart", "classic")

    def test_esp32_uart_stub(self):
        self.deploy("esp32", "uart", "classic", stub=True)

    def test_esp32s3_usb_jtag_stub(self):
        self.deploy("esp32s3", "usb-jtag", "usb-jtag", stub=True)

    def test_esp32_uart_slow_en(self):
        """A board with 10 µF on EN latches IO0 140 ms after EN rises: the short
        first reset and esptool's 50 ms one boot the app, and the connect gets
        through on esptool's 550 ms retry."""
        dev = self.deploy("esp32", "uart", "classic", sim_args=("--en-capacitor=10000",))
        # power-on; the write: two app boots, the loader, the hard reset into
        # the app; the verify: two app boots and the loader
        self.assertEqual(dev.sim.stats()["boots"], 1 + 4 + 3, dev.sim.stats())

    def test_fails_when_flash_is_tampered(self):
        """The checks above can fail: an external write after deploy must be seen by
        verify as a mismatch in exactly that region."""
        dev = self.deploy("esp32c3", "uart", "classic")
        dev.sim.external_write(fixtures.APP_OFFSET + 0x100, b"\x00\x01\x02\x03")
        rc, out, err = run_flash_tool(self.bed, dev, "verify",
                                      *[f"0x{o:x}={os.path.join(dev.workdir, n + '.bin')}"
                                        for o, _, n in fixtures.flash_set("esp32c3")],
                                      reset="classic")
        matched = {line["offset"]: line["matched"] for line in out if "matched" in line}
        self.assertEqual(matched, {0x0: True, 0x8000: True, fixtures.APP_OFFSET: False},
                         f"rc={rc} out={out} stderr={err[-1000:]}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
