// SPDX-License-Identifier: LGPL-2.1-or-later
// The esptool-js client of the benchmark: what a web flasher does on every deploy.
// Connects to a running fbuild-esp-sim (its pty and control socket), resets into
// download mode, uploads esptool-js's own stub, raises the baud rate, writes every
// image compressed with its MD5 check, and hard-resets. Reuses the conformance
// test's Web-Serial adapter and its installed esptool-js 0.7.0.
//
// usage: node esptool-js-flash.mjs --tty=PATH --control=PATH --baud=N OFFSET=FILE...
// prints one JSON line: {"ok": true, "ms": wall time inside Node from connect to reset}

import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const conformance = path.join(here, "..", "tests", "conformance");
const { SimControl, TtySerialPort } = await import(path.join(conformance, "web-serial-adapter.mjs"));
const esptool = await import(path.join(conformance, "node_modules", "esptool-js", "lib", "index.js"));

const args = { baud: 921600, images: [] };
for (const a of process.argv.slice(2)) {
  const m = /^--(tty|control|baud)=(.+)$/.exec(a);
  if (m) args[m[1]] = m[1] === "baud" ? Number(m[2]) : m[2];
  else {
    const [off, file] = a.split("=");
    args.images.push({ address: Number(off), data: new Uint8Array(fs.readFileSync(file)) });
  }
}

const control = new SimControl(args.control);
await control.connect();
const port = new TtySerialPort(args.tty, control, { usbVendorId: 0x10c4, usbProductId: 0xea60 });
const transport = new esptool.Transport(port, false);
const log = [];
const terminal = { clean() {}, writeLine(s) { log.push(s); }, write(s) { log.push(s); } };
const loader = new esptool.ESPLoader({ transport, baudrate: args.baud, romBaudrate: 115200, terminal });

const started = performance.now();
let ok = false;
try {
  await loader.main("default_reset");
  await loader.writeFlash({
    fileArray: args.images, flashMode: "keep", flashFreq: "keep", flashSize: "keep",
    eraseAll: false, compress: true,
    calculateMD5Hash: (img) => crypto.createHash("md5").update(img).digest("hex"),
  });
  ok = log.filter((l) => l.includes("Hash of data verified.")).length === args.images.length;
  await loader.after("hard_reset");
} catch (e) {
  log.push(String(e && e.stack || e));
} finally {
  try { await transport.disconnect(); } catch { /* already closed */ }
  control.close();
}
const ms = performance.now() - started;
console.log(JSON.stringify({ ok, ms, log: ok ? undefined : log.slice(-10) }));
process.exit(ok ? 0 : 1);
