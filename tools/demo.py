# SPDX-License-Identifier: LGPL-2.1-or-later
"""The body of tools/demo: one simulated ESP32 on a umockdev USB serial port, the
service on its peer-to-peer socket, and two deploys with busctl, printed as a user
would type them. Runs under umockdev-wrapper with Debian's /usr/bin/python3."""

import argparse
import glob
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "testbed"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))


def real_boards():
    """ESP-looking boards attached to this machine (outside the test bed)."""
    return sorted(glob.glob("/dev/serial/by-id/*"))


def busctl(address, *args):
    cmd = ["busctl", f"--address={address}", "--json=short", "call", "org.fbuild.Deploy1",
           "/org/fbuild/Deploy1", "org.fbuild.Deploy1", *args]
    shown = " ".join(shlex.quote(a) for a in cmd)
    print(f"\n$ {shown}")
    started = time.monotonic()
    out = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    elapsed = time.monotonic() - started
    if out.returncode != 0:
        sys.exit(f"busctl failed: {out.stderr.strip()}")
    return json.loads(out.stdout)["data"], elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deployd", required=True)
    ap.add_argument("--sim", required=True)
    args = ap.parse_args()
    os.environ["FBUILD_ESP_SIM"] = os.path.abspath(args.sim)

    import busfixture
    import esptestbed
    import fixtures

    boards = real_boards()
    if boards:
        print("Boards attached to this machine: " + ", ".join(boards))
        print("The demo still uses the simulated chip, so your board's firmware is left alone.")

    work = tempfile.mkdtemp(prefix="fbuild-demo-")
    print(f"Demo workspace: {work}")
    regions = []
    for offset, data, name in fixtures.flash_set("esp32"):
        path = os.path.join(work, f"{name}.bin")
        with open(path, "wb") as f:
            f.write(data)
        regions.append((offset, path, len(data)))

    with esptestbed.Bed() as bed:
        board = bed.add_device("esp32", "uart", timing="real")
        print(f"Simulated ESP32 (reference timing model) on {board.node} "
              f"(CP2102 10c4:ea60, serial {board.serial})")

        env = bed.env()
        env["FBUILD_DEPLOYD_IDLE_TIMEOUT_SEC"] = "10"
        service = busfixture.SocketActivator(work, [os.path.abspath(args.deployd)], env=env)
        service.start()
        try:
            region_args = [str(len(regions))]
            for offset, path, _ in regions:
                region_args += [str(offset), "s", path]
            deploy = ["DeployRegions", "sa(tv)a{sv}", board.node, *region_args,
                      "1", "baud", "u", "921600"]

            for attempt in ("first", "second"):
                before = board.sim.stats()
                (outcome, written, stats), elapsed = busctl(service.address, *deploy)
                after = board.sim.stats()
                print(f"{attempt} deploy: outcome={outcome} in {elapsed:.2f} s")
                for off, size in written:
                    print(f"  wrote 0x{off:06x} +{size} bytes")
                print(f"  bytes on the wire: {after['rx_bytes'] - before['rx_bytes']} to the chip, "
                      f"FLASH_BEGINs: {after['flash_begins'] - before['flash_begins']}")
                if "chip" in stats:
                    print(f"  chip: {stats['chip']['data']}, flash: "
                          f"{stats['flash_size']['data'] // (1024 * 1024)} MiB")

            (trusted, sha, since, reason), _ = busctl(service.address, "TrustState", "s", board.node)
            print(f"trusted={trusted} image_sha256={bytes(sha).hex()[:16]}…")
            m = board.read_serial(rb"app running sha256=[0-9a-f]{64}", timeout=10)
            print(f"the board now prints: {m.group(0).decode()}")
        finally:
            service.stop()
    shutil.rmtree(work, ignore_errors=True)
    print("\nThe first deploy wrote every region; the second was a trust-skip: "
          "the service proved the board still held the image and never opened the port.")


if __name__ == "__main__":
    main()
