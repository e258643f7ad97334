# SPDX-License-Identifier: LGPL-2.1-or-later
"""The deploy benchmark: scenarios × clients against simulated ESP32-C3 boards
with DESIGN.md's reference timing model (the sim's --timing=real), at 921600
baud (one scenario at 115200). Clients: fbuild-deployd driven by fbuildctl
(sector granularity; region granularity and sector with esptool's flasher stub
for comparison), and esptool-js 0.7.0 under Node (full compressed write with
its stub and MD5 check).
Run through bench/run (it builds, generates the fixtures, wraps this in
umockdev-wrapper). Writes bench/results.md and, with matplotlib, bench/results.png."""

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "tests", "testbed"))
sys.path.insert(0, HERE)

import build_fixtures as bench_fixtures  # noqa: E402

SECTOR, BLOCK, PAGE = 0x1000, 0x10000, 256
# esptool-js ships esptool's stubs in the JSON format the service reads.
STUB_DIR = os.path.join(ROOT, "tests", "conformance", "node_modules", "esptool-js", "lib", "targets",
                        "stub_flasher")
FLASH_SIZE = 4 * 1024 * 1024

# The reference timing model (DESIGN.md), for the lower bound.
SECTOR_ERASE, BLOCK_ERASE, PAGE_PROGRAM = 0.045, 0.150, 0.0006
TURNAROUND, MD5_REQUEST, MD5_ROM_RATE = 0.001, 0.0002, 2e6


def lower_bound(before, regions, baud):
    """The time the model needs at the least: the changed sectors' new bytes
    compressed on the wire, erasing and programming those sectors, and one MD5
    round trip over the image (ROM rate: the loader a deploy starts with)."""
    after = bytearray(before)
    for off, data in regions:
        after[off:off + len(data)] = data
    changed = [s for s in range(FLASH_SIZE // SECTOR)
               if before[s * SECTOR:(s + 1) * SECTOR] != after[s * SECTOR:(s + 1) * SECTOR]]
    runs = []
    for s in changed:
        if runs and runs[-1][1] == s:
            runs[-1][1] = s + 1
        else:
            runs.append([s, s + 1])
    wire = erase = program = 0.0
    for a, b in runs:
        # Only the image's bytes need sending (the rest of a sector is 0xFF padding).
        chunk = bytes(after[a * SECTOR:b * SECTOR]).rstrip(b"\xff")
        wire += len(zlib.compress(chunk, 9)) * 10 / baud
        full_blocks = sum(1 for blk in range(a * SECTOR // BLOCK, b * SECTOR // BLOCK + 1)
                          if blk * BLOCK >= a * SECTOR and (blk + 1) * BLOCK <= b * SECTOR)
        erase += full_blocks * BLOCK_ERASE + ((b - a) - full_blocks * 16) * SECTOR_ERASE
        program += (len(chunk) + PAGE - 1) // PAGE * PAGE_PROGRAM
    image_bytes = sum(len(d) for _, d in regions)
    verify = TURNAROUND + MD5_REQUEST + image_bytes / MD5_ROM_RATE
    return wire + erase + program + verify, len(changed)


class Fixture:
    def __init__(self, manifest):
        self.m = manifest
        self.off = manifest["offsets"]

    def data(self, name):
        with open(self.m["files"][name]["path"], "rb") as f:
            return f.read()

    def path(self, name):
        return self.m["files"][name]["path"]

    def image(self, app="app-base", data="data-base"):
        """[(offset, file name)] of a full build."""
        return [(self.off["bootloader"], "bootloader"), (self.off["partitions"], "partitions"),
                (self.off["app"], app), (self.off["data"], data)]

    def flash_with(self, image):
        out = bytearray(b"\xff" * FLASH_SIZE)
        for off, name in image:
            d = self.data(name)
            out[off:off + len(d)] = d
        return bytes(out)


def scenarios(fx):
    base = fx.image()
    blank = b"\xff" * FLASH_SIZE
    a = fx.flash_with(base)
    return [
        # name, flash before, image, baud, devices, trusted first
        ("cold (blank chip)", blank, base, 921600, 1, False),
        ("no change, untrusted", a, base, 921600, 1, False),
        ("no change, trusted", a, base, 921600, 1, True),
        ("code edit in the app", a, fx.image(app="app-edit"), 921600, 1, False),
        ("constant change (same length)", a, fx.image(app="app-const"), 921600, 1, False),
        ("one file in the data partition", a, fx.image(data="data-changed"), 921600, 1, False),
        ("app replaced, bootloader+table same", a, fx.image(app="app-other"), 921600, 1, False),
        ("code edit at 115200", a, fx.image(app="app-edit"), 115200, 1, False),
        ("code edit, four devices at once", a, fx.image(app="app-edit"), 921600, 4, False),
    ]


class Result:
    def __init__(self, scenario, client, wall, wire, begins, bound, note=""):
        self.scenario, self.client, self.wall = scenario, client, wall
        self.wire, self.begins, self.bound, self.note = wire, begins, bound, note

    def ratio(self):
        return self.wall / self.bound if self.bound > 0 else None


def sim_counts(sims):
    st = [s.stats() for s in sims]
    return sum(x["rx_bytes"] + x["tx_bytes"] for x in st), sum(x["flash_begins"] for x in st)


def run_deployd(args, fx, bed, harness, name, before, image, baud, n_dev, trusted, granularity, workdir):
    import esptestbed
    devs = []
    for i in range(n_dev):
        flash = os.path.join(workdir, f"flash-{len(bed.devices)}.bin")
        with open(flash, "wb") as f:
            f.write(before)
        devs.append(bed.add_device(bench_fixtures.CHIP, "uart", flash=flash, timing="real",
                                   sim_args=("--app-interval=0",)))
    svc_dir = tempfile.mkdtemp(prefix="svc-", dir=workdir)
    os.chmod(svc_dir, 0o755)
    svc = harness.Service(svc_dir, bed, "bus")
    with open(svc.config_path, "w") as f:
        gran, _, stub = granularity.partition("+")
        f.write(f"[Service]\nLogLevel=info\nTrust=yes\nIdleTimeoutSec=600\nGranularity={gran}\n")
        if stub:
            f.write(f"StubDirectory={STUB_DIR}\n")
    env = bed.env()
    env["DBUS_SYSTEM_BUS_ADDRESS"] = svc.bus.address

    def deploy(dev, trust):
        argv = [args.fbuildctl, "deploy", f"--port={dev.node}", "--quiet", "--json"]
        if not trust:
            argv.append("--no-trust")
        if baud != 921600:
            argv.append(f"--baud={baud}")
        argv += [f"{off:#x}={fx.path(n)}" for off, n in image]
        t0 = time.monotonic()
        p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=600)
        t = time.monotonic() - t0
        if p.returncode != 0:
            raise RuntimeError(f"fbuildctl failed ({p.returncode}): {p.stdout} {p.stderr}\n{svc.log()}")
        return t, p.stdout

    try:
        if trusted:
            deploy(devs[0], True)   # untimed: makes the service trust the image
        else:
            # Untimed warm-up on a service-free call: activates the service so the
            # timing below is a deploy, not a process start.
            subprocess.run([args.fbuildctl, "devices"], env=env, capture_output=True, timeout=30)
        wire0, begins0 = sim_counts([d.sim for d in devs])
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(n_dev) as pool:
            outs = list(pool.map(lambda d: deploy(d, trusted), devs))
        wall = time.monotonic() - t0 if n_dev > 1 else outs[0][0]
        wire1, begins1 = sim_counts([d.sim for d in devs])
        for d in devs:
            # The image's bytes (the rest of a written sector is erased: not compared).
            flash = d.sim.flash()
            for off, n in image:
                data = fx.data(n)
                if flash[off:off + len(data)] != data:
                    raise RuntimeError(f"{name}: {n} on {d.node} differs after the deploy")
        note = ""
        try:
            j = json.loads(outs[0][1])
            note = j.get("outcome", "")
            if os.environ.get("BENCH_DEBUG"):
                print(json.dumps(j)[:1500], file=sys.stderr)
        except (ValueError, AttributeError):
            pass
        return wall, wire1 - wire0, begins1 - begins0, note
    finally:
        svc.stop()
        for d in devs:
            try:
                d.unplug()
            except esptestbed.BedError:
                pass


def run_esptool_js(args, fx, name, before, image, baud, n_dev, workdir):
    import esptestbed
    sims = []
    try:
        for i in range(n_dev):
            d = tempfile.mkdtemp(prefix="ejs-", dir=workdir)
            flash = os.path.join(d, "flash.bin")
            with open(flash, "wb") as f:
                f.write(before)
            sims.append(esptestbed.Sim(d, bench_fixtures.CHIP, flash, pty=os.path.join(d, "tty"),
                                       timing="real", extra_args=("--app-interval=0",)))
        env = dict(os.environ)
        for var in ("LD_PRELOAD", "UMOCKDEV_DIR"):
            env.pop(var, None)
        wire0, begins0 = sim_counts(sims)

        def flash_one(sim):
            argv = ["node", os.path.join(HERE, "esptool-js-flash.mjs"),
                    f"--tty={os.path.join(sim.workdir, 'tty')}", f"--control={sim.control_path}",
                    f"--baud={baud}"] + [f"{off}={fx.path(n)}" for off, n in image]
            t0 = time.monotonic()
            p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                               text=True, timeout=900)
            if p.returncode != 0:
                raise RuntimeError(f"esptool-js failed: {p.stdout} {p.stderr}")
            return time.monotonic() - t0

        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(n_dev) as pool:
            walls = list(pool.map(flash_one, sims))
        wall = time.monotonic() - t0 if n_dev > 1 else walls[0]
        wire1, begins1 = sim_counts(sims)
        return wall, wire1 - wire0, begins1 - begins0, "full write"
    finally:
        for s in sims:
            s.close()


def fmt_table(results):
    head = ("| scenario | client | wall s | bytes on wire | FLASH_BEGINs | bound s | × bound |\n"
            "|---|---|---:|---:|---:|---:|---:|\n")
    rows = []
    for r in results:
        ratio = r.ratio()
        rows.append(f"| {r.scenario} | {r.client}{(' (' + r.note + ')') if r.note else ''} | "
                    f"{r.wall:.3f} | {r.wire:,} | {r.begins} | {r.bound:.3f} | "
                    f"{'%.2f' % ratio if ratio is not None else '—'} |")
    return head + "\n".join(rows) + "\n"


def plot(results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = []
    for r in results:
        if r.scenario not in names:
            names.append(r.scenario)
    clients = []
    for r in results:
        if r.client not in clients:
            clients.append(r.client)
    fig, ax = plt.subplots(figsize=(11, 5.5))
    width = 0.8 / (len(clients) + 1)
    for ci, c in enumerate(clients + ["lower bound"]):
        xs, ys = [], []
        for si, s in enumerate(names):
            rs = [r for r in results if r.scenario == s and (r.client == c or c == "lower bound")]
            if not rs:
                continue
            y = rs[0].bound if c == "lower bound" else rs[0].wall
            if y <= 0:
                continue   # a trusted deploy has nothing to bound
            xs.append(si + ci * width)
            ys.append(y)
        ax.bar(xs, ys, width, label=c, hatch="//" if c == "lower bound" else None,
               color="lightgrey" if c == "lower bound" else None, edgecolor="black", linewidth=0.4)
    ax.set_yscale("log")
    ax.set_ylabel("seconds (log scale)")
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(names))])
    ax.set_xticklabels(names, rotation=25, ha="right", fontsize=8)
    ax.legend(fontsize=8, ncol=len(clients) + 1, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    ax.set_title("Deploy time per scenario (simulated ESP32-C3, reference timing model)", pad=30)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fbuildctl", required=True)
    ap.add_argument("--fixtures", required=True, help="directory for the generated fixtures")
    ap.add_argument("--out", default=os.path.join(HERE, "results.md"))
    ap.add_argument("--plot", default=os.path.join(HERE, "results.png"))
    ap.add_argument("--only", help="run only scenarios whose name contains this")
    ap.add_argument("--no-esptool-js", action="store_true")
    ap.add_argument("--replot", action="store_true",
                    help="only redraw the plot and the README table from --out")
    args = ap.parse_args()

    if args.replot:
        results = read_table(args.out)
        plot(results, args.plot)
        update_readme(os.path.join(ROOT, "README.md"), fmt_table(results))
        return

    import harness  # after sys.path and the environment are set up by bench/run

    fx = Fixture(bench_fixtures.build(args.fixtures))
    workdir = tempfile.mkdtemp(prefix="fbuild-bench.")
    os.chmod(workdir, 0o755)
    results = []
    started = time.monotonic()
    import esptestbed
    bed = esptestbed.Bed()
    try:
        for name, before, image, baud, n_dev, trusted in scenarios(fx):
            if args.only and args.only not in name:
                continue
            regions = [(off, fx.data(n)) for off, n in image]
            bound, n_changed = lower_bound(before, regions, baud)
            if trusted:
                bound = 0.0   # nothing to send, nothing to verify
            clients = [("fbuild-deployd", "sector")]
            if not trusted and n_dev == 1:
                clients += [("fbuild-deployd", "region"), ("fbuild-deployd", "sector+stub")]
            for client, gran in clients:
                wall, wire, begins, note = run_deployd(args, fx, bed, harness, name, before, image,
                                                       baud, n_dev, trusted, gran, workdir)
                results.append(Result(name, f"{client} {gran}", wall, wire, begins, bound, note))
                print(f"{name:38} {client} {gran:11} {wall:8.3f} s  {wire:>10,} B  "
                      f"{begins} begins  bound {bound:.3f} s  ({note})", flush=True)
            if not args.no_esptool_js and not trusted:
                wall, wire, begins, note = run_esptool_js(args, fx, name, before, image, baud, n_dev,
                                                          workdir)
                results.append(Result(name, "esptool-js 0.7.0", wall, wire, begins, bound, note))
                print(f"{name:38} esptool-js        {wall:8.3f} s  {wire:>10,} B  "
                      f"{begins} begins  bound {bound:.3f} s", flush=True)
    finally:
        bed.close()
        shutil.rmtree(workdir, ignore_errors=True)

    m = fx.m
    header = (
        "# Benchmark results\n\n"
        f"Generated by `bench/run` in {time.monotonic() - started:.0f} s. Simulated ESP32-C3 on a "
        "USB-UART bridge, DESIGN.md's reference timing model, 921600 baud unless the scenario "
        "says otherwise. Application: "
        + (f"compiled for rv32imc by {m['compiler']}" if m["compiled"]
           else "pseudo-code (no cross compiler found)")
        + f" ({m['files']['app-base']['size']:,} bytes); bootloader {m['files']['bootloader']['size']:,} "
        f"bytes; data partition {m['files']['data-base']['size']:,} bytes.\n\n"
        "Wall time: from starting the client process to its exit. Bytes on the wire: the sim's "
        "rx+tx counters. Bound: compressed changed bytes on the wire + erase/program of the "
        "changed sectors + one MD5 round trip over the image at the ROM's rate (0 for a trusted "
        "deploy: nothing needs doing).\n\n")
    table = fmt_table(results)
    print()
    print(table)
    with open(args.out, "w") as f:
        f.write(header + table)
        if plot(results, args.plot):
            f.write(f"\n![deploy times]({os.path.basename(args.plot)})\n")
    print(f"wrote {args.out}")
    update_readme(os.path.join(ROOT, "README.md"), table)


def read_table(path):
    """Results back from a results.md table (for --replot)."""
    results = []
    with open(path) as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) != 7 or cells[0] in ("scenario", "---") or cells[2].startswith("-"):
                continue
            client, note = cells[1], ""
            if client.endswith(")") and " (" in client:
                client, note = client[:-1].split(" (", 1)
            results.append(Result(cells[0], client, float(cells[2]), int(cells[3].replace(",", "")),
                                  int(cells[4]), float(cells[5]), note))
    return results


def update_readme(path, table):
    """The README's copy of the table sits between markers; the rest is prose."""
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return
    a, b = text.find(begin), text.find(end)
    if a < 0 or b < a:
        return
    text = text[:a + len(begin)] + "\n" + table + text[b:]
    with open(path, "w") as f:
        f.write(text)
    print(f"updated the table in {path}")


if __name__ == "__main__":
    main()
