// SPDX-License-Identifier: LGPL-2.1-or-later
// Conformance: esptool-js (pinned in package.json) flashes fbuild-esp-sim as it would a
// real chip: default reset into download mode, chip detection, its own stub upload, a
// baud-rate change, compressed writes with its own MD5 check. The sim's flash file
// must then hold exactly the images. If esptool-js and the sim disagree, the sim is
// wrong: on failure this prints esptool-js's trace of the exchange.
//
// usage: node test-esptool-js.mjs --chip=esp32|esp32c3|esp32s3 [--console=uart|usb-jtag]
//        [--baud=921600] [--sim-arg=ARG]...  (extra sim arguments, e.g. a --fault to see
//        that the checks can fail)
// env:   FBUILD_ESP_SIM (the sim), FIXTURES_PY (tests/testbed/fixtures.py),
//        PYTHON (default /usr/bin/python3), CONFORMANCE_KEEP=1 keeps the temp dir.

import { execFileSync, spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

import { SimControl, TtySerialPort } from "./web-serial-adapter.mjs";

const CHIP_NAMES = { esp32: "ESP32", esp32c3: "ESP32-C3", esp32s3: "ESP32-S3" };
// What the port reports through getInfo(): esptool-js picks its reset from it.
const PORT_IDS = {
  uart: { usbVendorId: 0x10c4, usbProductId: 0xea60 },       // CP2102 bridge
  "usb-jtag": { usbVendorId: 0x303a, usbProductId: 0x1001 }, // USB-Serial-JTAG
};

function parseArgs(argv) {
  const args = { chip: "esp32", console: "uart", baud: 921600, simArgs: [] };
  for (const a of argv) {
    const m = /^--(chip|console|baud|sim-arg)=(.+)$/.exec(a);
    if (!m) throw new Error(`unknown argument ${a}`);
    if (m[1] === "sim-arg") args.simArgs.push(m[2]);
    else args[m[1]] = m[1] === "baud" ? Number(m[2]) : m[2];
  }
  if (!CHIP_NAMES[args.chip]) throw new Error(`unknown chip ${args.chip}`);
  if (!PORT_IDS[args.console]) throw new Error(`unknown console ${args.console}`);
  return args;
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

/** Start the sim on its own pty; resolve once it printed `ready`. */
async function startSim(dir, chip, consoleKind, extraArgs) {
  const sim = process.env.FBUILD_ESP_SIM;
  if (!sim) throw new Error("FBUILD_ESP_SIM is not set");
  const paths = {
    flash: path.join(dir, "flash.bin"),
    tty: path.join(dir, "tty"),
    control: path.join(dir, "control"),
    log: path.join(dir, "sim-events.jsonl"),
  };
  const args = [`--chip=${chip}`, `--flash=${paths.flash}`, `--pty=${paths.tty}`,
    `--control=${paths.control}`, `--console=${consoleKind}`, "--timing=fast",
    `--log=${paths.log}`, ...extraArgs];
  const proc = spawn(sim, args, { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  proc.stderr.on("data", (d) => { stderr += d; });
  await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`sim not ready after 10 s: ${stderr}`)), 10000);
    proc.stdout.on("data", (d) => {
      out += d;
      if (out.split("\n").includes("ready")) { clearTimeout(timer); resolve(); }
    });
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`sim exited (${code}) before ready: ${stderr}`));
    });
  });
  proc.stdout.resume();
  return { proc, paths, args, stderr: () => stderr };
}

/** Read from a freshly opened port until `regex` matches the text; return the match. */
async function readUntil(port, regex, timeoutMs) {
  const reader = port.readable.getReader();
  const timer = new AbortController();
  const expired = sleep(timeoutMs, null, { signal: timer.signal }).catch(() => null);
  let text = "";
  try {
    for (;;) {
      const result = await Promise.race([reader.read(), expired]);
      if (!result || result.done) break;
      text += Buffer.from(result.value).toString("latin1");
      const m = regex.exec(text);
      if (m) return m;
    }
  } finally {
    timer.abort();
    await reader.cancel();
    reader.releaseLock();
  }
  throw new Error(`${regex} not seen within ${timeoutMs} ms; read ${JSON.stringify(text.slice(-300))}`);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  let esptool;
  try {
    esptool = await import("esptool-js");
  } catch (e) {
    // Fail, never skip: CI runs `npm ci` in tests/conformance first.
    console.error(`esptool-js is not installed (${e.message}); run \`npm ci\` in tests/conformance`);
    process.exit(1);
  }
  const pinned = JSON.parse(fs.readFileSync(new URL("./package.json", import.meta.url))).dependencies["esptool-js"];
  const installed = JSON.parse(fs.readFileSync(new URL("./node_modules/esptool-js/package.json", import.meta.url))).version;
  check(installed === pinned, `installed esptool-js ${installed} is the pinned ${pinned}`);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `esptool-js-${args.chip}-`));
  const python = process.env.PYTHON || "/usr/bin/python3";
  const fixtures = process.env.FIXTURES_PY;
  if (!fixtures) throw new Error("FIXTURES_PY is not set");
  execFileSync(python, [fixtures, "write", args.chip, dir]);
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json")));
  const images = manifest.map((m) => ({ ...m, data: new Uint8Array(fs.readFileSync(m.path)) }));

  const log = [];
  const trace = [];
  let sim, control, port, transport;
  const cleanup = async () => {
    try { if (transport && port && port._open) await transport.disconnect(); } catch { /* best effort */ }
    if (control) { try { await Promise.race([control.command("quit"), sleep(1000)]); } catch { /* gone */ } control.close(); }
    if (sim && sim.proc.exitCode === null) {
      sim.proc.kill("SIGTERM");
      await Promise.race([new Promise((r) => sim.proc.once("exit", r)), sleep(2000)]);
      if (sim.proc.exitCode === null) sim.proc.kill("SIGKILL");
    }
    if (process.env.CONFORMANCE_KEEP) console.log(`# kept ${dir}`);
    else fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once("SIGTERM", () => { cleanup().finally(() => process.exit(143)); });

  try {
    sim = await startSim(dir, args.chip, args.console, args.simArgs);
    control = new SimControl(sim.paths.control);
    await control.connect();
    port = new TtySerialPort(sim.paths.tty, control, PORT_IDS[args.console]);

    transport = new esptool.Transport(port, true);
    // Keep esptool-js's trace (every byte both ways) for the failure report only.
    transport.trace = (msg) => { trace.push(msg); if (trace.length > 4000) trace.splice(0, 1000); };
    const terminal = {
      clean() {},
      writeLine(s) { log.push(s); },
      write(s) { log.push(s); },
    };
    const loader = new esptool.ESPLoader({
      transport, baudrate: args.baud, romBaudrate: 115200, terminal, debugLogging: false,
    });

    // 1. Reset into download mode, sync, detect, upload the stub, change baud.
    const description = await loader.main("default_reset");
    console.log(`# detected ${loader.chip.CHIP_NAME}: ${description}`);
    check(loader.chip.CHIP_NAME === CHIP_NAMES[args.chip],
      `detected ${loader.chip.CHIP_NAME}, expected ${CHIP_NAMES[args.chip]}`);
    check(loader.IS_STUB === true, "esptool-js is talking to its stub");
    check(!log.some((l) => /Continuing at 115200|stopped responding|reset while/.test(l)),
      `baud change to ${args.baud} held (log: ${log.filter((l) => /baud/i.test(l)).join(" | ")})`);
    let stats = await control.stats();
    check(stats.state === "stub", `sim reports state 'stub' (got ${stats.state})`);
    check(stats.baud === args.baud, `sim runs at ${args.baud} baud (got ${stats.baud})`);
    check(stats.chip === args.chip, `sim chip ${stats.chip}`);

    // 2. Compressed writes, each checked by esptool-js's own MD5 comparison.
    await loader.writeFlash({
      fileArray: images.map((i) => ({ data: i.data, address: i.offset })),
      flashMode: "keep", flashFreq: "keep", flashSize: "keep",
      eraseAll: false, compress: true,
      calculateMD5Hash: (img) => crypto.createHash("md5").update(img).digest("hex"),
    });
    check(log.filter((l) => l.includes("Hash of data verified.")).length === images.length,
      "esptool-js verified every image's MD5");
    stats = await control.stats();
    check(stats.flash_begins === images.length,
      `sim counted ${images.length} flash begins (got ${stats.flash_begins})`);
    await loader.after("hard_reset");
    await transport.disconnect();

    // 3. The flash file holds exactly the images, 0xFF elsewhere.
    const flash = fs.readFileSync(sim.paths.flash);
    const expected = Buffer.alloc(flash.length, 0xff);
    for (const i of images) Buffer.from(i.data).copy(expected, i.offset);
    if (!flash.equals(expected)) {
      let first = 0;
      while (flash[first] === expected[first]) first++;
      throw new Error(`flash differs from the images first at 0x${first.toString(16)}: ` +
        `got ${flash.subarray(first, first + 16).toString("hex")}, ` +
        `expected ${expected.subarray(first, first + 16).toString("hex")}`);
    }

    // 4. The written app boots: pulse EN (RTS) with IO0 high (DTR off), as a hard reset
    //    does on the board, and read the application's status line.
    await port.open({ baudRate: 115200 });
    await port.setSignals({ dataTerminalReady: false, requestToSend: true });
    await sleep(100);
    await port.setSignals({ requestToSend: false });
    const app = images.find((i) => i.name === "app");
    const m = await readUntil(port, /app running sha256=([0-9a-f]{64})/, 5000);
    check(m[1] === app.sha256, `app line names the app's SHA-256 (got ${m[1]})`);
    stats = await control.stats();
    check(stats.state === "app", `sim reports state 'app' (got ${stats.state})`);
    await port.close();

    console.log(`ok - esptool-js ${installed} flashed ${args.chip} (${args.console}) at ${args.baud} baud: ` +
      images.map((i) => `${i.name}@0x${i.offset.toString(16)}`).join(" "));
  } catch (e) {
    console.error(`not ok - ${e.stack || e}`);
    console.error("# esptool-js log:\n" + log.slice(-40).map((l) => "#   " + l).join("\n"));
    console.error("# esptool-js trace (last 60 entries):\n" + trace.slice(-60).join("\n"));
    if (sim) {
      console.error(`# sim: ${sim.args.join(" ")} exit=${sim.proc.exitCode}\n# sim stderr: ${sim.stderr().slice(-2000)}`);
      console.error(`# signals sent: ${port ? port.signalLog.join(" ") : ""}`);
    }
    process.exitCode = 1;
  } finally {
    await cleanup();
  }
}

await main();
