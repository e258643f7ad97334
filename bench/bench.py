# SPDX-License-Identifier: LGPL-2.1-or-later
"""The deploy benchmark: scenarios × clients against simulated ESP32-C3 boards
and, for the small-change scenarios, simulated ESP32 boards on their ROM loader
(whose compressed writes spill), with DESIGN.md's reference timing model (the
sim's --timing=real), at 921600 baud (one scenario at 115200). Clients:
fbuild-deployd driven by fbuildctl in its default configuration (no
Granularity= or stub settings: whatever the defaults are), then with sector
granularity, region granularity and sector with esptool's flasher stub for
comparison, and esptool-js 0.7.0 under Node (full compressed write with its stub
and MD5 check). Two scenarios are about the service's lifetime: a redeploy after
two minutes of real idle (default timeouts: a trust-skip if trust kept the
service up), and activation → first reply (bus and socket activation). The idle
service's memory is measured before the scenarios and after the idle wait.
Run through bench/run (it builds, generates the fixtures, wraps this in
umockdev-wrapper). Writes bench/results.md and, with matplotlib, bench/results.png."""

import argparse
import concurrent.futures
import json
import os
import shutil
import statistics
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
import idle_rss  # noqa: E402

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


# The chips of the run, in table order: the sim's name and the heading.
CHIPS = [(bench_fixtures.CHIP, "ESP32-C3"), (bench_fixtures.CHIP_ROM, "ESP32 (ROM loader)")]


class Fixture:
    """One chip's view of the fixtures: its offsets, and its own bootloader and
    application files where it has them (esp32-*), else the shared ones."""

    def __init__(self, manifest, chip):
        self.m, self.chip = manifest, chip
        own = chip != manifest["chip"]
        self.off = manifest[chip]["offsets"] if own else manifest["offsets"]
        self.prefix = f"{chip}-" if own else ""

    def name(self, role):
        n = self.prefix + role
        return n if n in self.m["files"] else role

    def data(self, name):
        with open(self.m["files"][name]["path"], "rb") as f:
            return f.read()

    def path(self, name):
        return self.m["files"][name]["path"]

    def image(self, app="app-base", data="data-base", bootloader="bootloader"):
        """[(offset, file name)] of a full build."""
        return [(self.off["bootloader"], self.name(bootloader)), (self.off["partitions"], "partitions"),
                (self.off["app"], self.name(app)), (self.off["data"], data)]

    def flash_with(self, image):
        out = bytearray(b"\xff" * FLASH_SIZE)
        for off, name in image:
            d = self.data(name)
            out[off:off + len(d)] = d
        return bytes(out)


# The real idle time of "redeploy after 2 minutes idle" (BENCH_IDLE_WAIT only to
# try the bench out; results.md says what was used).
IDLE_WAIT = float(os.environ.get("BENCH_IDLE_WAIT", "120"))
IDLE_SCENARIO = "redeploy after 2 minutes idle"
ACTIVATION_SCENARIO = "activation → first reply"

# Scenario modes: a deploy, a trusted redeploy, a redeploy after IDLE_WAIT of
# idle (default timeouts), the first reply of a service that is not running.
DEPLOY, TRUSTED, IDLE, ACTIVATION = "deploy", "trusted", "idle", "activation"
# How many trusted redeploys the "no change, trusted" row takes the median of.
TRUSTED_REPEATS = 5


def scenarios(fx):
    base = fx.image()
    blank = b"\xff" * FLASH_SIZE
    a = fx.flash_with(base)
    if fx.chip == bench_fixtures.CHIP_ROM:
        # The ESP32 ROM's column: the small changes, where its spill matters.
        return [
            ("constant change (same length)", a, fx.image(app="app-const"), 921600, 1, DEPLOY),
            ("one file in the data partition", a, fx.image(data="data-changed"), 921600, 1, DEPLOY),
            ("bootloader-only change", a, fx.image(bootloader="bootloader-changed"), 921600, 1, DEPLOY),
        ]
    return [
        # name, flash before, image, baud, devices, mode
        ("cold (blank chip)", blank, base, 921600, 1, DEPLOY),
        ("no change, untrusted", a, base, 921600, 1, DEPLOY),
        ("no change, trusted", a, base, 921600, 1, TRUSTED),
        (IDLE_SCENARIO, a, base, 921600, 1, IDLE),
        ("code edit in the app", a, fx.image(app="app-edit"), 921600, 1, DEPLOY),
        ("constant change (same length)", a, fx.image(app="app-const"), 921600, 1, DEPLOY),
        ("one file in the data partition", a, fx.image(data="data-changed"), 921600, 1, DEPLOY),
        ("bootloader-only change", a, fx.image(bootloader="bootloader-changed"), 921600, 1, DEPLOY),
        ("app replaced, bootloader+table same", a, fx.image(app="app-other"), 921600, 1, DEPLOY),
        ("code edit at 115200", a, fx.image(app="app-edit"), 115200, 1, DEPLOY),
        ("code edit, four devices at once", a, fx.image(app="app-edit"), 921600, 4, DEPLOY),
        (ACTIVATION_SCENARIO, a, base, 921600, 1, ACTIVATION),
    ]


class Result:
    def __init__(self, chip, scenario, client, wall, wire, begins, bound, note=""):
        self.chip, self.scenario, self.client, self.wall = chip, scenario, client, wall
        self.wire, self.begins, self.bound, self.note = wire, begins, bound, note

    def ratio(self):
        return self.wall / self.bound if self.bound > 0 else None


def sim_counts(sims):
    st = [s.stats() for s in sims]
    return sum(x["rx_bytes"] + x["tx_bytes"] for x in st), sum(x["flash_begins"] for x in st)


def wait_until_quiet(sim, settle=0.1, limit=5.0):
    """Until the chip is out of reset and has sent nothing for `settle` s."""
    end = time.monotonic() + limit
    last, since = None, time.monotonic()
    while time.monotonic() < end:
        st = sim.stats()
        if st["en"] != 1 or st["tx_bytes"] != last:
            last, since = st["tx_bytes"], time.monotonic()
        elif time.monotonic() - since >= settle:
            return
        time.sleep(0.02)


def write_config(path, config):
    """The service's config for one client: "default" sets nothing the defaults
    decide (only the log level, and for the timed rows a long IdleTimeoutSec= so
    that the service outlives the untimed warm-up); the others name their
    granularity and, with "+stub", esptool's stubs."""
    with open(path, "w") as f:
        f.write("[Service]\nLogLevel=info\n")
        if config.mode == IDLE:
            return   # the default timeouts are the point
        f.write("IdleTimeoutSec=600\n")
        if not config.name.startswith("default"):
            gran, _, stub = config.name.partition("+")
            f.write(f"Trust=yes\nGranularity={gran}\n")
            if stub:
                f.write(f"StubDirectory={STUB_DIR}\n")


# The default configuration again, with an ESP-IDF checkout in fbuildctl's
# environment (IDF_PATH) whose esptool has the flasher stubs (esptool-js's copy
# of them): the stub a user has without configuring anything, if fbuildctl
# looks for one.
DEFAULT_WITH_IDF = "default+IDF_PATH"


def fake_idf(workdir):
    """An ESP-IDF tree with just esptool's stub directory, where ESP-IDF keeps
    its esptool (components/esptool_py/esptool)."""
    idf = os.path.join(workdir, "esp-idf")
    stubs = os.path.join(idf, "components", "esptool_py", "esptool", "esptool", "targets", "stub_flasher")
    if not os.path.isdir(stubs):
        shutil.copytree(STUB_DIR, stubs)
    return idf


class ClientConfig:
    def __init__(self, name, mode):
        self.name, self.mode = name, mode


def deploy_note(stdout):
    """The outcome fbuildctl reports (and the loader, where it says which)."""
    try:
        j = json.loads(stdout)
    except ValueError:
        return ""
    if os.environ.get("BENCH_DEBUG"):
        print(json.dumps(j)[:1500], file=sys.stderr)
    note = j.get("outcome", "") if isinstance(j, dict) else ""
    stats = j.get("stats", {}) if isinstance(j, dict) else {}
    loader = (j.get("loader") or (stats.get("loader") if isinstance(stats, dict) else None)) \
        if isinstance(j, dict) else None
    if isinstance(loader, str) and loader and note not in ("trust-skip", ""):
        note += f", {loader}"
    return note


def run_deployd(args, fx, bed, harness, name, before, image, baud, n_dev, mode, config_name, workdir):
    """One timed deploy (or n_dev at once); returns (wall, wire, begins, note,
    extra) where extra is the idle service's memory for the IDLE mode."""
    import esptestbed
    devs = []
    for i in range(n_dev):
        flash = os.path.join(workdir, f"flash-{len(bed.devices)}.bin")
        with open(flash, "wb") as f:
            f.write(before)
        devs.append(bed.add_device(fx.chip, "uart", flash=flash, timing="real",
                                   sim_args=("--app-interval=0",)))
    svc_dir = tempfile.mkdtemp(prefix="svc-", dir=workdir)
    os.chmod(svc_dir, 0o755)
    svc = harness.Service(svc_dir, bed, "bus")
    write_config(svc.config_path, ClientConfig(config_name, mode))
    env = bed.env()
    env["DBUS_SYSTEM_BUS_ADDRESS"] = svc.bus.address
    if config_name == DEFAULT_WITH_IDF:
        env["IDF_PATH"] = fake_idf(workdir)
    trust = mode in (TRUSTED, IDLE)
    extra = None

    def deploy(dev):
        argv = [args.fbuildctl, "deploy", f"--port={dev.node}", "--quiet", "--json"]
        if not trust:
            argv.append("--no-trust")
        if baud != 921600:
            argv.append(f"--baud={baud}")
        if config_name == DEFAULT_WITH_IDF:
            # An ESP-IDF user's build names its chip (flasher_args.json); the
            # bench passes offset=file pairs, so it says so as --chip does.
            argv.append(f"--chip={fx.chip}")
        argv += [f"{off:#x}={fx.path(n)}" for off, n in image]
        t0 = time.monotonic()
        p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=600)
        t = time.monotonic() - t0
        if p.returncode != 0:
            raise RuntimeError(f"fbuildctl failed ({p.returncode}): {p.stdout} {p.stderr}\n{svc.log()}")
        return t, p.stdout

    try:
        if trust:
            deploy(devs[0])   # untimed: makes the service trust the image
            # Its reset into the application ends after its reply; what the
            # booting application prints is not the timed deploy's traffic.
            wait_until_quiet(devs[0].sim)
        else:
            # Untimed warm-up on a service-free call: activates the service so the
            # timing below is a deploy, not a process start.
            subprocess.run([args.fbuildctl, "devices"], env=env, capture_output=True, timeout=30)
        if mode == IDLE:
            pids = svc.service_pids()
            time.sleep(IDLE_WAIT)
            still = svc.service_pids()
            extra = {"waited": IDLE_WAIT, "stayed": bool(pids) and still == pids}
            if extra["stayed"]:
                extra["rss"] = idle_rss.smaps_kib(still[0], exclude=idle_rss.TESTBED_MAPPINGS)
        wire0, begins0 = sim_counts([d.sim for d in devs])
        t0 = time.monotonic()
        if mode == TRUSTED:
            # A trust-skip takes milliseconds, where one sample is mostly the
            # machine's noise: the median of TRUSTED_REPEATS in a row.
            outs = [deploy(devs[0]) for _ in range(TRUSTED_REPEATS)]
            wall = statistics.median(t for t, _ in outs)
        else:
            with concurrent.futures.ThreadPoolExecutor(n_dev) as pool:
                outs = list(pool.map(deploy, devs))
            wall = time.monotonic() - t0 if n_dev > 1 else outs[0][0]
        wire1, begins1 = sim_counts([d.sim for d in devs])
        for d in devs:
            # The image's bytes (the rest of a written sector is erased: not compared).
            flash = d.sim.flash()
            for off, n in image:
                data = fx.data(n)
                if flash[off:off + len(data)] != data:
                    raise RuntimeError(f"{name}: {n} on {d.node} differs after the deploy")
        note = deploy_note(outs[0][1])
        keep_sim_logs(devs[0].sim.log_path, fx.chip, name, f"fbuild-deployd-{config_name}")
        return wall, wire1 - wire0, begins1 - begins0, note, extra
    finally:
        svc.stop()
        for d in devs:
            try:
                d.unplug()
            except esptestbed.BedError:
                pass


def run_activation(args, fx, bed, harness, activation, workdir):
    """The first reply of a service that is not running: `fbuildctl devices`
    from process start to exit while the bus (or the socket activator) starts
    fbuild-deployd, in the default configuration, one board attached; then the
    same call to the running service for comparison. Returns (first, running)."""
    import esptestbed
    flash = os.path.join(workdir, f"flash-{len(bed.devices)}.bin")
    with open(flash, "wb") as f:
        f.write(b"\xff" * FLASH_SIZE)
    dev = bed.add_device(fx.chip, "uart", flash=flash, timing="real", sim_args=("--app-interval=0",))
    svc_dir = tempfile.mkdtemp(prefix="svc-", dir=workdir)
    os.chmod(svc_dir, 0o755)
    svc = harness.Service(svc_dir, bed, activation)
    write_config(svc.config_path, ClientConfig("default", ACTIVATION))
    env = bed.env()
    argv = [args.fbuildctl, "devices", "--json=short"]
    if activation == "bus":
        env["DBUS_SYSTEM_BUS_ADDRESS"] = svc.bus.address
    else:
        argv.insert(1, f"--address={svc.endpoint.address}")

    def call():
        t0 = time.monotonic()
        p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=60)
        t = time.monotonic() - t0
        if p.returncode != 0 or dev.node not in p.stdout:
            raise RuntimeError(f"fbuildctl devices failed ({p.returncode}): {p.stdout} {p.stderr}\n"
                               f"{svc.log()}")
        return t

    try:
        if svc.service_pids():
            raise RuntimeError("the service is running before its first call")
        first = call()
        if len(svc.service_pids()) != 1 or svc.activations() != 1:
            raise RuntimeError(f"activation: {svc.activations()} activations, pids {svc.service_pids()}")
        running = call()
        return first, running
    finally:
        svc.stop()
        try:
            dev.unplug()
        except esptestbed.BedError:
            pass


def keep_sim_logs(path, chip, scenario, client):
    """With BENCH_SIM_LOGS=DIR, a copy of the chip's event log (every command
    with its time: where a deploy spends it) as DIR/CHIP-SCENARIO-CLIENT.jsonl."""
    keep = os.environ.get("BENCH_SIM_LOGS")
    if not keep:
        return
    os.makedirs(keep, exist_ok=True)
    slug = "".join(c if c.isalnum() else "-" for c in f"{chip}-{scenario}-{client}")
    shutil.copyfile(path, os.path.join(keep, slug + ".jsonl"))


def run_esptool_js(args, fx, name, before, image, baud, n_dev, workdir):
    import esptestbed
    sims = []
    try:
        for i in range(n_dev):
            d = tempfile.mkdtemp(prefix="ejs-", dir=workdir)
            flash = os.path.join(d, "flash.bin")
            with open(flash, "wb") as f:
                f.write(before)
            sims.append(esptestbed.Sim(d, fx.chip, flash, pty=os.path.join(d, "tty"),
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
        keep_sim_logs(sims[0].log_path, fx.chip, name, "esptool-js")
        return wall, wire1 - wire0, begins1 - begins0, "full write"
    finally:
        for s in sims:
            s.close()


MB = 1000 * 1000    # the idle-memory target is 4 MB


def find(results, chip, scenario, client, note_prefix=None):
    for r in results:
        if (r.chip, r.scenario, r.client) == (chip, scenario, client) and \
                (note_prefix is None or r.note.startswith(note_prefix)):
            return r
    return None


def uses_stub(r):
    return r is not None and "stub" in r.note


def targets(results, idle=None, after_idle=None):
    """Issue 16's targets for the default configuration, from one run's results:
    [(target, measured, verdict)] where verdict is "met", "missed: …" or "not
    measured" (a scenario left out with --only)."""
    c3, rom = CHIPS[0][0], CHIPS[1][0]
    rom_label = "ESP32 ROM loader"
    out = []

    def default(chip, scenario):
        return find(results, chip, scenario, "fbuild-deployd default")

    def ratio_target(label, r, limit):
        if r is None or r.ratio() is None:
            out.append((label, "—", "not measured"))
            return
        x = r.ratio()
        measured = f"{x:.2f}× ({r.wall:.3f} s against {r.bound:.3f} s; {r.note})"
        out.append((label, measured, "met" if x <= limit else f"missed by {x - limit:.2f}× "
                    f"({(x / limit - 1) * 100:+.0f}%)"))

    def no_slower(label, r, other, other_name, factor=1.0):
        if r is None or other is None:
            out.append((label, "—", "not measured"))
            return
        x = r.wall / other.wall
        measured = f"{r.wall:.3f} s against {other.wall:.3f} s {other_name} ({x:.2f}×; {r.note})"
        out.append((label, measured, "met" if x <= factor else f"missed by {(x / factor - 1) * 100:.0f}%"))

    ratio_target("no change, untrusted: ≤ 1.2× its bound", default(c3, "no change, untrusted"), 1.2)
    for scenario, short in (("constant change (same length)", "constant change"),
                            ("one file in the data partition", "data file")):
        ratio_target(f"{short}: ≤ 1.5× its bound", default(c3, scenario), 1.5)
        ratio_target(f"{short} ({rom_label}): ≤ 1.5× its bound", default(rom, scenario), 1.5)
    for scenario in ("code edit in the app", "code edit at 115200"):
        no_slower(f"{scenario}: never slower than the whole changed regions", default(c3, scenario),
                  find(results, c3, scenario, "fbuild-deployd region"), "with `Granularity=region`")
    cold, ejs = default(c3, "cold (blank chip)"), find(results, c3, "cold (blank chip)", "esptool-js 0.7.0")
    with_idf = find(results, c3, "cold (blank chip)", f"fbuild-deployd {DEFAULT_WITH_IDF}")
    if uses_stub(cold):
        no_slower("cold, a stub available: no slower than esptool-js", cold, ejs, "esptool-js")
    elif uses_stub(with_idf):
        no_slower("cold, a stub available (found through IDF_PATH, nothing configured): no slower than "
                  "esptool-js", with_idf, ejs, "esptool-js")
    else:
        # No stub was found without configuration: the stub case is the row
        # that names one (StubDirectory=).
        stub_row = find(results, c3, "cold (blank chip)", "fbuild-deployd sector+stub")
        no_slower("cold, a stub available: no slower than esptool-js (no stub found without "
                  "configuration: the `sector+stub` row)", stub_row, ejs, "esptool-js")
    if not uses_stub(cold):
        no_slower("cold on the ROM loader: within 1.2× of esptool-js", cold, ejs, "esptool-js", 1.2)
    idle_r = default(c3, IDLE_SCENARIO)
    if idle_r is None:
        out.append(("redeploy after 2 minutes idle: a trust-skip", "—", "not measured"))
    else:
        out.append(("redeploy after 2 minutes idle: a trust-skip",
                    f"{idle_r.note} in {idle_r.wall:.3f} s",
                    "met" if idle_r.note == "trust-skip" else f"missed: {idle_r.note}"))
    four, one = default(c3, "code edit, four devices at once"), default(c3, "code edit in the app")
    no_slower("four boards: ≤ 1.2× one board", four, one, "for one board", 1.2)
    if idle:
        kib = idle["VmRSS"]
        out.append(("idle memory (never deployed): under 4 MB RSS without the test bed's preload",
                    f"{kib * 1024 / MB:.2f} MB ({kib / 1024:.2f} MiB)",
                    "met" if kib * 1024 < 4 * MB else f"missed by {(kib * 1024 - 4 * MB) / MB:.2f} MB"))
    if after_idle and after_idle.get("rss"):
        kib = after_idle["rss"]["Rss"]
        out.append(("idle memory after a deploy, holding trust: under 4 MB RSS without the preload",
                    f"{kib * 1024 / MB:.2f} MB ({kib / 1024:.2f} MiB)",
                    "met" if kib * 1024 < 4 * MB else f"missed by {(kib * 1024 - 4 * MB) / MB:.2f} MB"))
    return out


def against_previous(results, previous):
    """The default configuration now against the rows of the previous results
    file that issue 16 names: sector granularity with a stub, and (where no
    stub can be found) sector granularity on the ROM loader: [(chip label,
    scenario, now, sector+stub then or None, sector then or None)]."""
    rows = []
    for chip, label in CHIPS:
        for r in results:
            if r.chip != chip or r.client != "fbuild-deployd default" or r.scenario == ACTIVATION_SCENARIO:
                continue
            then = [find(previous, chip, r.scenario, f"fbuild-deployd {c}") for c in ("sector+stub", "sector")]
            if any(then):
                rows.append((label, r.scenario, r.wall) + tuple(t.wall if t else None for t in then))
    return rows


def fmt_against_previous(rows):
    if not rows:
        return ""

    def cell(now, then):
        return ("—", "—") if then is None else (f"{then:.3f}", f"{now / then:.2f}" if then > 0 else "—")
    out = ["| chip | scenario | default now s | sector+stub then s | now / then | sector then s | now / then |",
           "|---|---|---:|---:|---:|---:|---:|"]
    for c, s, now, stub, sector in rows:
        out.append(f"| {c} | {s} | {now:.3f} | " + " | ".join(cell(now, stub) + cell(now, sector)) + " |")
    return "\n".join(out) + "\n"


def fmt_targets(rows):
    return ("| target (default configuration) | measured | result |\n|---|---|---|\n"
            + "\n".join(f"| {t} | {m} | {v} |" for t, m, v in rows) + "\n")


def chip_label(chip):
    return dict(CHIPS).get(chip, chip)


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


def fmt_side_by_side(results):
    """The second chip's scenarios next to the same ones on the first: wall time
    and × bound per chip, one row per scenario and client."""
    (c0, l0), (c1, l1) = CHIPS
    by = {(r.chip, r.scenario, r.client): r for r in results}
    rows = []
    for r in results:
        if r.chip != c1:
            continue
        other = by.get((c0, r.scenario, r.client))
        cells = []
        for x in (other, r):
            ratio = x.ratio() if x else None
            cells += [f"{x.wall:.3f}" if x else "—", "%.2f" % ratio if ratio is not None else "—"]
        rows.append(f"| {r.scenario} | {r.client} | " + " | ".join(cells) + " |")
    if not rows:
        return ""
    return (f"| scenario | client | {l0} s | {l0} × bound | {l1} s | {l1} × bound |\n"
            "|---|---|---:|---:|---:|---:|\n" + "\n".join(rows) + "\n")


def fmt_tables(results, heading):
    """Every chip's table under its heading, then the side-by-side comparison."""
    out = []
    for chip, label in CHIPS:
        rs = [r for r in results if r.chip == chip]
        if rs:
            out.append(f"{heading} {label}\n\n{fmt_table(rs)}")
    sbs = fmt_side_by_side(results)
    if sbs:
        out.append(f"{heading} Side by side\n\n{sbs}")
    return "\n".join(out)


def plot(results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    chips = [(c, l) for c, l in CHIPS if any(r.chip == c for r in results)]
    if not chips:
        return False
    counts = [len({r.scenario for r in results if r.chip == c}) for c, _ in chips]
    fig, axes = plt.subplots(1, len(chips), figsize=(max(8, 2 + 0.9 * sum(counts)), 6), squeeze=False,
                             gridspec_kw={"width_ratios": counts}, sharey=True)
    clients = []
    for r in results:
        if r.client not in clients:
            clients.append(r.client)
    colors = {c: f"C{i}" for i, c in enumerate(clients)}
    for ax, (chip, label) in zip(axes[0], chips):
        rc = [r for r in results if r.chip == chip]
        names = []
        for r in rc:
            if r.scenario not in names:
                names.append(r.scenario)
        width = 0.8 / (len(clients) + 1)
        for ci, c in enumerate(clients + ["lower bound"]):
            xs, ys = [], []
            for si, s in enumerate(names):
                rs = [r for r in rc if r.scenario == s and (r.client == c or c == "lower bound")]
                if not rs:
                    continue
                y = rs[0].bound if c == "lower bound" else rs[0].wall
                if y <= 0:
                    continue   # a trusted deploy has nothing to bound
                xs.append(si + ci * width)
                ys.append(y)
            lower = c == "lower bound"
            ax.bar(xs, ys, width, label=c, hatch="//" if lower else None,
                   color="lightgrey" if lower else colors[c], edgecolor="black", linewidth=0.4)
        ax.set_yscale("log")
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(names))])
        ax.set_xticklabels(names, rotation=25, ha="right", fontsize=8)
        ax.set_title(label, fontsize=10)
    axes[0][0].set_ylabel("seconds (log scale)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, ncol=len(clients) + 1, loc="upper center",
               bbox_to_anchor=(0.5, 0.95))
    fig.suptitle("Deploy time per scenario (simulated chips, reference timing model)")
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    fig.savefig(path, dpi=110)
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fbuildctl", required=True)
    ap.add_argument("--fixtures", required=True, help="directory for the generated fixtures")
    ap.add_argument("--out", default=os.path.join(HERE, "results.md"))
    ap.add_argument("--plot", default=os.path.join(HERE, "results.png"))
    ap.add_argument("--only", help="run only scenarios whose CHIP/NAME contains this "
                                   "(esp32c3/… or esp32/…, e.g. --only=esp32/ or --only=constant; "
                                   "several, comma-separated)")
    ap.add_argument("--no-esptool-js", action="store_true")
    ap.add_argument("--replot", action="store_true",
                    help="only redraw the plot and the README table from --out")
    args = ap.parse_args()

    if args.replot:
        results = read_table(args.out)
        plot(results, args.plot)
        update_readme(os.path.join(ROOT, "README.md"), fmt_tables(results, "####"))
        return

    import harness  # after sys.path and the environment are set up by bench/run

    # The results this run replaces, for the comparison with today's best rows.
    previous = read_table(args.out) if os.path.exists(args.out) else []
    manifest = bench_fixtures.build(args.fixtures)
    workdir = tempfile.mkdtemp(prefix="fbuild-bench.")
    os.chmod(workdir, 0o755)
    results = []
    after_idle = None
    started = time.monotonic()
    idle = idle_rss.measure_median(os.environ["FBUILD_DEPLOYD"])
    print(f"idle fbuild-deployd: {idle_rss.describe(idle)}", flush=True)
    import esptestbed
    bed = esptestbed.Bed()
    try:
        for chip, label in CHIPS:
            fx = Fixture(manifest, chip)
            rom_only = chip == bench_fixtures.CHIP_ROM
            for name, before, image, baud, n_dev, mode in scenarios(fx):
                if args.only and not any(o in f"{chip}/{name}" for o in args.only.split(",")):
                    continue
                if mode == ACTIVATION:
                    for activation in ("bus", "socket"):
                        first, running = run_activation(args, fx, bed, harness, activation, workdir)
                        for wall, note in ((first, f"{activation} activation"),
                                           (running, f"{activation}, already running")):
                            results.append(Result(chip, name, "fbuild-deployd default", wall, 0, 0, 0.0, note))
                            print(f"{chip:8} {name:38} default {note:26} {wall:8.3f} s", flush=True)
                    continue
                regions = [(off, fx.data(n)) for off, n in image]
                bound, n_changed = lower_bound(before, regions, baud)
                if mode in (TRUSTED, IDLE):
                    bound = 0.0   # nothing to send, nothing to verify
                configs = ["default"]
                if mode in (TRUSTED, DEPLOY):
                    configs += ["sector"]
                if mode == DEPLOY and n_dev == 1:
                    configs += ["region"]
                    if not rom_only:
                        configs += ["sector+stub", DEFAULT_WITH_IDF]
                for config in configs:
                    wall, wire, begins, note, extra = run_deployd(args, fx, bed, harness, name, before, image,
                                                                  baud, n_dev, mode, config, workdir)
                    if mode == IDLE and not extra["stayed"]:
                        note += ", service had exited"
                    if extra is not None:
                        after_idle = extra
                    results.append(Result(chip, name, f"fbuild-deployd {config}", wall, wire, begins, bound, note))
                    print(f"{chip:8} {name:38} fbuild-deployd {config:11} {wall:8.3f} s  {wire:>10,} B  "
                          f"{begins} begins  bound {bound:.3f} s  ({note})", flush=True)
                if not args.no_esptool_js and mode == DEPLOY:
                    wall, wire, begins, note = run_esptool_js(args, fx, name, before, image, baud, n_dev,
                                                              workdir)
                    results.append(Result(chip, name, "esptool-js 0.7.0", wall, wire, begins, bound, note))
                    print(f"{chip:8} {name:38} esptool-js        {wall:8.3f} s  {wire:>10,} B  "
                          f"{begins} begins  bound {bound:.3f} s", flush=True)
    finally:
        bed.close()
        shutil.rmtree(workdir, ignore_errors=True)

    m = manifest
    header = (
        "# Benchmark results\n\n"
        f"Generated by `bench/run` in {time.monotonic() - started:.0f} s. Simulated ESP32-C3 and "
        "ESP32 boards on a USB-UART bridge, DESIGN.md's reference timing model, 921600 baud unless "
        "the scenario says otherwise. Application: "
        + (f"compiled for rv32imc by {m['compiler']}" if m["compiled"]
           else "pseudo-code (no cross compiler found)")
        + f" ({m['files']['app-base']['size']:,} bytes); bootloader {m['files']['bootloader']['size']:,} "
        f"bytes; data partition {m['files']['data-base']['size']:,} bytes. The ESP32 set: its "
        f"bootloader at {m[bench_fixtures.CHIP_ROM]['offsets']['bootloader']:#x} "
        f"({m['files'][bench_fixtures.CHIP_ROM + '-bootloader']['size']:,} bytes), the same table, "
        "data partition and application code in an ESP32 image header. A bootloader-only change is "
        "one word in the middle of the bootloader (so its checksum and SHA-256 at the end change too).\n\n"
        "Wall time: from starting the client process to its exit (\"no change, trusted\": the median of "
        f"{TRUSTED_REPEATS} trust-skips in a row). Bytes on the wire: the sim's "
        "rx+tx counters. Bound: compressed changed bytes on the wire + erase/program of the "
        "changed sectors + one MD5 round trip over the image at the ROM's rate (0 for a trusted "
        "deploy: nothing needs doing). The ESP32 ROM's bound is the same sum with the same timing "
        "facts (its MD5 rate is 2 MB/s too): it counts only the changed sectors, compressed, "
        "although a compressed write on that ROM spills (programs the rest of its 32 KiB inflate "
        "buffer past the end of the stream), so that a deploy that avoids the spill sends some "
        "bytes uncompressed or more than the changed sectors; that extra cost shows in its "
        "× bound, it is not in the bound.\n\n"
        "Clients: `fbuild-deployd default` is the service with no `Granularity=` or stub "
        "settings in its configuration (whatever the defaults are in this build); `sector`, "
        "`region` and `sector+stub` (`StubDirectory=` at esptool-js's stubs) name theirs. "
        f"\"{IDLE_SCENARIO}\": a trusted deploy, {IDLE_WAIT:.0f} s of real idle with the default "
        "`IdleTimeoutSec=` and `TrustIdleTimeoutSec=`, then the same deploy (timed). "
        f"\"{ACTIVATION_SCENARIO}\": `fbuildctl devices` from process start to exit while the "
        "service is not running (bus activation by a private dbus-daemon, or socket activation), "
        "then the same call to the running service.\n\n" + idle_rss.markdown(idle)
        + after_idle_markdown(after_idle))
    target_rows = targets(results, idle, after_idle)
    versus = fmt_against_previous(against_previous(results, previous))
    tables = fmt_tables(results, "##")
    print()
    print(tables)
    print(fmt_targets(target_rows))
    print(versus)
    with open(args.out, "w") as f:
        f.write(header + "## Targets\n\n" + fmt_targets(target_rows) + "\n")
        if versus:
            f.write("## The default against the previous results\n\n"
                    "Issue 16: the default configuration must do at least as well in every scenario "
                    "as sector granularity with a stub did, and where no stub can be found as the "
                    "sector row on the ROM loader did: this run's default row against those rows of "
                    "the results file this run replaced (a ratio above 1 is slower now).\n\n"
                    + versus + "\n")
        f.write(tables)
        if plot(results, args.plot):
            f.write(f"\n![deploy times]({os.path.basename(args.plot)})\n")
    print(f"wrote {args.out}")
    update_readme(os.path.join(ROOT, "README.md"), fmt_tables(results, "####"))
    update_readme(os.path.join(ROOT, "README.md"), fmt_targets(target_rows), "targets")


def after_idle_markdown(after_idle):
    if not after_idle:
        return ""
    if not after_idle.get("stayed"):
        return (f"After a deploy and {after_idle['waited']:.0f} s idle the service had exited "
                "(no memory to measure).\n\n")
    return (f"Idle memory after a deploy, {after_idle['waited']:.0f} s idle holding trust: "
            f"{idle_rss.describe_smaps(after_idle['rss'])} — from /proc/PID/smaps of the service "
            "in the test bed, without the preload library's mappings.\n\n")


def read_table(path):
    """Results back from results.md's per-chip tables (for --replot); a table
    under no chip heading is the first chip's."""
    results = []
    chip = CHIPS[0][0]
    in_results = False      # other tables (the comparisons, the targets) have other heads
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                title = line.lstrip("#").strip()
                chip = next((c for c, label in CHIPS if label == title), chip)
                continue
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells[0] == "scenario":
                in_results = cells[:3] == ["scenario", "client", "wall s"]
                continue
            if not in_results or len(cells) != 7 or cells[0] == "---" or cells[2].startswith("-"):
                continue
            client, note = cells[1], ""
            if client.endswith(")") and " (" in client:
                client, note = client[:-1].split(" (", 1)
            results.append(Result(chip, cells[0], client, float(cells[2]),
                                  int(cells[3].replace(",", "")), int(cells[4]), float(cells[5]), note))
    return results


def update_readme(path, tables, marker="bench"):
    """The README's copy of the tables (and of the targets) sits between
    markers; the rest is prose."""
    begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return
    a, b = text.find(begin), text.find(end)
    if a < 0 or b < a:
        return
    text = text[:a + len(begin)] + "\n" + tables + text[b:]
    with open(path, "w") as f:
        f.write(text)
    print(f"updated the tables in {path}")


if __name__ == "__main__":
    main()
