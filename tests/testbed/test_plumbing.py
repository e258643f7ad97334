# SPDX-License-Identifier: LGPL-2.1-or-later
"""The bed itself: a client using libserialport and libudev (serial-probe) must see a
real USB serial port, and its DTR/RTS changes must reach the bed (and the chip).
Run: umockdev-wrapper /usr/bin/python3 test_plumbing.py  (SERIAL_PROBE, FBUILD_ESP_SIM set)
"""

import errno
import json
import os
import select
import subprocess
import unittest

import esptestbed
from esptestbed import Bed


def probe(bed, *args, timeout=20):
    p = bed.run([esptestbed.SERIAL_PROBE, *args], timeout=timeout)
    lines = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    return p.returncode, lines, p.stderr


class Plumbing(unittest.TestCase):
    def setUp(self):
        self.assertTrue(esptestbed.SERIAL_PROBE, "SERIAL_PROBE must point at serial-probe")
        self.bed = Bed()
        self.addCleanup(self.bed.close)

    def test_libserialport_reads_usb_identity(self):
        uart = self.bed.add_device("esp32", "uart", sim=False)
        jtag = self.bed.add_device("esp32s3", "usb-jtag", sim=False)
        rc, out, err = probe(self.bed, "info", uart.node)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out[0], {
            "transport": "usb", "vid": "10c4", "pid": "ea60", "bus": 1, "address": 2,
            "serial": uart.serial, "manufacturer": "Silicon Labs",
            "product": "CP2102 USB to UART Bridge Controller"})
        rc, out, err = probe(self.bed, "info", jtag.node)
        self.assertEqual(rc, 0, err)
        self.assertEqual((out[0]["vid"], out[0]["pid"], out[0]["serial"], out[0]["address"]),
                         ("303a", "1001", jtag.serial, 3))
        self.assertEqual(jtag.node, "/dev/ttyACM0")

    def test_modem_lines_reach_the_bed(self):
        dev = self.bed.add_device("esp32", "uart", sim=False)
        # Every step after the first changes the lines, so each leaves one history entry.
        steps = ["set=00", "rts=1", "dtr=1", "rts=0", "set=01", "set=10", "set=00",
                 "write=ping"]
        rc, out, err = probe(self.bed, "lines", dev.node, *steps)
        self.assertEqual(rc, 0, err)
        # What the client reads back with TIOCMGET after each step...
        seen = [(o["dtr"], o["rts"]) for o in out]
        self.assertEqual(seen, [(0, 0), (0, 1), (1, 1), (1, 0), (0, 1), (1, 0), (0, 0),
                                (0, 0)])
        # ...is what the handler recorded, in order, ending with the client's last state.
        history = dev.lines.history
        self.assertEqual(history[0], (True, True), "open must raise DTR and RTS")
        tail = [(int(d), int(r)) for d, r in history[-7:]]
        self.assertEqual(tail, seen[:7])
        self.assertEqual(os.read(dev.master_fd, 100), b"ping")
        self.assertEqual(self.bed.errors(), [])

    def test_udev_enumeration_and_hotplug(self):
        self.bed.add_device("esp32", "uart", sim=False)
        rc, out, err = probe(self.bed, "enumerate")
        self.assertEqual(rc, 0, err)
        self.assertEqual([(o["devnode"], o["vid"], o["pid"], o["driver"]) for o in out],
                         [("/dev/ttyUSB0", "10c4", "ea60", "cp210x")])

        mon = subprocess.Popen([esptestbed.SERIAL_PROBE, "monitor", "2"], env=self.bed.env(),
                               stdout=subprocess.PIPE, text=True)
        self.addCleanup(mon.kill)
        self.assertEqual(json.loads(mon.stdout.readline()), {"ready": True})
        jtag = self.bed.add_device("esp32c3", "usb-jtag", sim=False)
        # Read the add event before unplugging: the monitor looks the parents up in
        # sysfs, which the unplug removes (the same race exists on real hardware).
        add = json.loads(mon.stdout.readline())
        self.assertEqual((add["event"], add["devnode"], add["vid"], add["driver"],
                          add["id_vendor_id"]),
                         ("add", "/dev/ttyACM0", "303a", "cdc_acm", "303a"))
        jtag.unplug()
        out, _ = mon.communicate(timeout=10)
        remove = json.loads(out)
        # A remove event carries the device's properties, not its (gone) sysfs.
        self.assertEqual((remove["event"], remove["devnode"], remove["id_vendor_id"]),
                         ("remove", "/dev/ttyACM0", "303a"))
        self.assertFalse(os.path.exists(jtag.node))

    def test_reset_reaches_the_sim(self):
        self.assertTrue(esptestbed.SIM, "FBUILD_ESP_SIM must point at fbuild-esp-sim")
        dev = self.bed.add_device("esp32", "uart")
        self.assertEqual(dev.sim.stats()["state"], "app")  # --boot=app at power-on
        # esptool's classic reset: IO0 low while EN rises -> download mode; the ROM's
        # banner ends in "waiting for download".
        rc, out, err = probe(self.bed, "lines", dev.node,
                             "set=01", "sleep=100", "set=10", "sleep=50", "set=00",
                             "read=200")
        self.assertEqual(rc, 0, err)
        self.assertIn(b"waiting for download", bytes.fromhex(out[-1]["read_hex"]))
        stats = dev.sim.stats()
        self.assertEqual((stats["state"], stats["dtr"], stats["rts"], stats["en"], stats["io0"]),
                         ("download", 0, 0, 1, 1), stats)
        # A line change from a client lands in the sim's state before the ioctl returns.
        rc, out, err = probe(self.bed, "lines", dev.node, "set=10")
        self.assertEqual(rc, 0, err)
        stats = dev.sim.stats()
        self.assertEqual((stats["dtr"], stats["rts"]), (1, 0), stats)
        self.assertEqual(self.bed.errors(), [])

    def test_unplug_hangs_up_and_replug_keeps_identity(self):
        dev = self.bed.add_device("esp32c3", "uart")
        dev.sim.external_write(0x10000, b"\xe9kept")
        fd = os.open(dev.node, os.O_RDWR | os.O_NOCTTY)
        self.addCleanup(os.close, fd)
        dev.unplug()
        # A client holding the port sees the line hang up (EOF or EIO), like a real
        # unplug, and the node is gone.
        self.assertEqual(select.select([fd], [], [], 5)[0], [fd], "no hangup seen")
        try:
            self.assertEqual(os.read(fd, 64), b"")
        except OSError as e:
            self.assertEqual(e.errno, errno.EIO)
        self.assertFalse(os.path.exists(dev.node))
        again = self.bed.replug(dev)
        rc, out, err = probe(self.bed, "info", again.node)
        self.assertEqual(rc, 0, err)
        self.assertEqual((out[0]["vid"], out[0]["serial"]), ("10c4", dev.serial))
        self.assertNotEqual(again.node, dev.node)
        self.assertEqual(again.sim.flash()[0x10000:0x10005], b"\xe9kept")


if __name__ == "__main__":
    unittest.main(verbosity=2)
