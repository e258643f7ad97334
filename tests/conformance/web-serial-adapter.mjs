// SPDX-License-Identifier: LGPL-2.1-or-later
// A Web-Serial-shaped port over a Linux tty, so esptool-js runs under Node exactly as
// it runs in a browser. Only the surface esptool-js touches is provided: open/close,
// readable/writable WHATWG streams, setSignals, getInfo. There is deliberately no
// setBaudRate: browsers lack it, so esptool-js must reopen the port to change speed,
// as it does on a real board.
//
// The tty is a pty whose other end is fbuild-esp-sim. A pty has no modem lines, so
// DTR/RTS go to the sim's control socket as `signals D R`, with the same semantics a
// USB serial driver has: opening raises both lines, closing (HUPCL) drops both.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import tty from "node:tty";
import { ReadableStream, WritableStream } from "node:stream/web";

/** One line-in, line-out connection to the sim's control socket. */
export class SimControl {
  constructor(path) {
    this.path = path;
    this.socket = null;
    this.pending = [];   // resolvers waiting for a reply line, in order
    this.buffer = "";
    this.queue = Promise.resolve();
  }

  async connect() {
    await new Promise((resolve, reject) => {
      this.socket = net.createConnection(this.path, resolve);
      this.socket.once("error", reject);
    });
    this.socket.setEncoding("utf8");
    this.socket.on("data", (text) => {
      this.buffer += text;
      let nl;
      while ((nl = this.buffer.indexOf("\n")) >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        const waiter = this.pending.shift();
        if (waiter) waiter.resolve(line);
      }
    });
    this.socket.on("close", () => {
      for (const w of this.pending.splice(0)) w.reject(new Error("sim control socket closed"));
    });
  }

  /** Send a command, resolve with the reply; reject on `err ...`. Serialized. */
  command(line) {
    const run = () => new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.socket.write(line + "\n");
    }).then((reply) => {
      if (!reply.startsWith("ok")) throw new Error(`sim answered '${reply}' to '${line}'`);
      return reply;
    });
    this.queue = this.queue.then(run, run);
    return this.queue;
  }

  async stats() {
    const reply = await this.command("stats");
    return JSON.parse(reply.slice(2).trim());
  }

  close() {
    if (this.socket) this.socket.destroy();
    this.socket = null;
  }
}

/** The Web Serial SerialPort subset esptool-js uses, over a tty path. */
export class TtySerialPort {
  /**
   * @param {string} path tty (or symlink to one)
   * @param {SimControl} control where DTR/RTS changes go
   * @param {{usbVendorId?: number, usbProductId?: number}} info what getInfo() reports
   */
  constructor(path, control, info = {}) {
    this.path = path;
    this.control = control;
    this.info = { ...info };
    this.signals = { dataTerminalReady: false, requestToSend: false };
    this.signalLog = [];     // every state sent to the sim, for the test's report
    this._open = false;
    this._input = null;      // tty.ReadStream (raw mode)
    this._output = null;     // fd for writing
    this._readable = null;
    this._writable = null;
  }

  getInfo() {
    return { ...this.info };
  }

  async open({ baudRate, dataBits = 8, stopBits = 1, parity = "none", flowControl = "none" } = {}) {
    if (this._open) throw new DOMException("The port is already open.", "InvalidStateError");
    if (!Number.isInteger(baudRate) || baudRate <= 0) throw new TypeError("baudRate is required");
    if (dataBits !== 8 || stopBits !== 1 || parity !== "none" || flowControl !== "none") {
      throw new TypeError("only 8N1 without flow control is supported");
    }
    // Separate descriptions for reading and writing: libuv puts each tty handle in
    // non-blocking mode and owns its fd.
    const readFd = fs.openSync(this.path, fs.constants.O_RDWR | fs.constants.O_NOCTTY);
    const writeFd = fs.openSync(this.path, fs.constants.O_RDWR | fs.constants.O_NOCTTY);
    // Speed and raw mode on the line itself (node's setRawMode alone leaves the speed).
    execFileSync("stty", ["-F", this.path, "raw", "-echo", String(baudRate)]);
    this._input = new tty.ReadStream(readFd);
    this._input.setRawMode(true);
    this._input.pause();
    // Writes go through fs.write (libuv's thread pool) on a blocking fd: a
    // tty.WriteStream is synchronous in node and would stall the event loop, and with
    // it the reads esptool-js runs alongside, whenever the other end is slow to read.
    this._output = writeFd;
    this._open = true;
    this.baudRate = baudRate;
    // Opening a tty raises DTR and RTS.
    await this._sendSignals({ dataTerminalReady: true, requestToSend: true });
  }

  get readable() {
    if (!this._open) return null;
    if (!this._readable) this._readable = this._makeReadable();
    return this._readable;
  }

  get writable() {
    if (!this._open) return null;
    if (!this._writable) this._writable = this._makeWritable();
    return this._writable;
  }

  _makeReadable() {
    const input = this._input;
    let onData, onEnd, onError;
    const detach = () => {
      input.off("data", onData);
      input.off("end", onEnd);
      input.off("error", onError);
      // Leave unread bytes in the kernel until the next stream, like Web Serial.
      input.pause();
      this._readable = null;
    };
    return new ReadableStream({
      start(controller) {
        onData = (chunk) => controller.enqueue(new Uint8Array(chunk));
        onEnd = () => { detach(); controller.close(); };
        onError = (err) => { detach(); controller.error(err); };
        input.on("data", onData);
        input.on("end", onEnd);
        input.on("error", onError);
        input.resume();
      },
      cancel() {
        detach();
      },
    });
  }

  _makeWritable() {
    const fd = this._output;
    const forget = () => { this._writable = null; };
    const writeAll = (buf) => new Promise((resolve, reject) => {
      fs.write(fd, buf, (err, n) => {
        if (err) reject(err);
        else if (n < buf.length) writeAll(buf.subarray(n)).then(resolve, reject);
        else resolve();
      });
    });
    return new WritableStream({
      // The stream calls write() one chunk at a time, so bytes stay in order.
      write(chunk) {
        return writeAll(Buffer.from(chunk));
      },
      close() {
        forget();
      },
      abort() {
        forget();
      },
    });
  }

  async setSignals(signals = {}) {
    if (!this._open) throw new DOMException("The port is closed.", "InvalidStateError");
    // Web Serial: members left out keep their current state.
    const next = { ...this.signals };
    for (const key of ["dataTerminalReady", "requestToSend"]) {
      if (signals[key] !== undefined) next[key] = Boolean(signals[key]);
    }
    await this._sendSignals(next);
  }

  async _sendSignals(next) {
    this.signals = next;
    const d = next.dataTerminalReady ? 1 : 0;
    const r = next.requestToSend ? 1 : 0;
    this.signalLog.push(`${d}${r}`);
    await this.control.command(`signals ${d} ${r}`);
  }

  async close() {
    if (!this._open) return;
    if ((this._readable && this._readable.locked) || (this._writable && this._writable.locked)) {
      throw new DOMException("Cannot close a port with locked streams.", "InvalidStateError");
    }
    if (this._readable) await this._readable.cancel();
    if (this._writable) await this._writable.close();
    this._input.destroy();
    fs.closeSync(this._output);
    this._input = this._output = null;
    this._open = false;
    // HUPCL: the driver drops DTR and RTS when the last opener closes.
    await this._sendSignals({ dataTerminalReady: false, requestToSend: false });
  }
}
