# SPDX-License-Identifier: LGPL-2.1-or-later
"""Benchmark fixtures that behave like real builds, for ESP32-C3 (RISC-V):
a ~26 KB bootloader and a partition table (tests/testbed/fixtures.py), a ~1 MB
application compiled for rv32imc with Debian's riscv64-unknown-elf-gcc from one
generated C program (base, a small code edit, a length-preserving constant
change, and a different program), laid out as an ESP application image, and a
512 KB data partition holding files, of which one changes. Each bootloader
also comes rebuilt with one changed word (a bootloader-only change).
Without the cross compiler, a pseudo-code application stands in (say so).

The ESP32 set (ROM loader scenarios) has the ESP32 layout: its own bootloader
at 0x1000, the same table, data partition and application code, the latter
re-wrapped in an ESP32 image header (chip id 0, ESP32 load addresses). Debian
has no Xtensa compiler; the chip only checks the header, and what matters for a
deploy is how the bytes change and compress, which the rv32imc code shows.

usage: build_fixtures.py OUTDIR   → OUTDIR/*.bin and OUTDIR/manifest.json"""

import concurrent.futures
import hashlib
import json
import os
import random
import shutil
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "testbed"))
import fixtures  # noqa: E402

CHIP = "esp32c3"
# The second chip: the ESP32, whose ROM loader spills compressed writes.
CHIP_ROM = "esp32"
# Bumped when the fixture set grows: an older bench/out is completed, not rebuilt.
FIXTURE_VERSION = 2
CC = "riscv64-unknown-elf-gcc"
OBJCOPY = "riscv64-unknown-elf-objcopy"
N_FUNCTIONS = 2500          # ≈ 1 MB of code and constants at -O2
EDIT_FUNCTION = 600         # sorted by name, f600 lies a bit past the middle of .text
DATA_OFFSET = 0x200000
DATA_SIZE = 512 * 1024
APP_PARTITION_SIZE = 0x1F0000

LINKER_SCRIPT = """
ENTRY(app_main)
SECTIONS {
  . = 0x3C000020;
  .flash.rodata : { KEEP(*(.rodata_desc)) *(.rodata .rodata.*) *(.srodata .srodata.*) }
  . = 0x3FC88000;
  .dram0.data : { *(.data .data.*) *(.sdata .sdata.*) }
  .dram0.bss (NOLOAD) : { *(.bss .bss.* .sbss .sbss.* COMMON) }
  . = 0x40380000;
  .iram0.text : { *(.iram1 .iram1.*) }
  . = 0x42000020;
  .flash.text : { *(.text.app_main) *(SORT_BY_NAME(.text.*)) *(.text) }
  /DISCARD/ : { *(.comment) *(.riscv.attributes) *(.note*) }
}
"""


def program(seed, edit=False, constant=False):
    """C source of a firmware-like program: many functions of mixed shape
    calling each other, lookup tables, strings. edit adds a statement to one
    function (code after it moves); constant changes one table entry."""
    rng = random.Random(f"prog-{seed}")
    out = ["typedef unsigned int u32;", "typedef int i32;",
           "volatile u32 sink;", "static u32 state[64];",
           "__attribute__((section(\".iram1\"))) void isr(void) { sink++; }"]
    for i in range(N_FUNCTIONS):
        out.append(f"u32 f{i}(u32 a, u32 b);")
    for t in range(N_FUNCTIONS // 8):
        vals = [rng.getrandbits(32) for _ in range(24)]
        if constant and t == (N_FUNCTIONS // 8) // 2:
            vals[5] ^= 0x00010000
        out.append(f"const u32 table{t}[24] = {{{', '.join(hex(v) for v in vals)}}};")
        out.append(f"const char msg{t}[] = \"module {t}: state %u error %d value 0x%08x\";")
    for i in range(N_FUNCTIONS):
        body = []
        for k in range(rng.randrange(6, 14)):
            kind = rng.randrange(6)
            c = rng.getrandbits(31)
            if kind == 0:
                body.append(f"a = a * {c | 1}u + (b >> {rng.randrange(1, 31)});")
            elif kind == 1:
                body.append(f"for (u32 i = 0; i < (b & 15); i++) a ^= table{rng.randrange(N_FUNCTIONS // 8)}[i % 24] + i;")
            elif kind == 2 and i + 1 < N_FUNCTIONS:
                # Calls stay mostly within a module, as in real firmware.
                body.append(f"if (a & {1 << rng.randrange(31)}u) a += f{rng.randrange(i + 1, min(i + 24, N_FUNCTIONS))}(b, a);")
            elif kind == 3:
                cases = " ".join(f"case {n}: b += {rng.getrandbits(20)}u; break;" for n in range(rng.randrange(3, 8)))
                body.append(f"switch (a & 7) {{ {cases} default: b ^= a; }}")
            elif kind == 4:
                body.append(f"state[{rng.randrange(64)}] += a - b; sink = (u32) msg{rng.randrange(N_FUNCTIONS // 8)}[a & 7];")
            else:
                body.append(f"b = (b << {rng.randrange(1, 31)}) | (a >> {rng.randrange(1, 31)}); a -= {c}u;")
        if edit and i == EDIT_FUNCTION:
            body.append("a += state[3] * 7u; state[4] = a ^ b;")
        out.append(f"u32 f{i}(u32 a, u32 b) {{ {' '.join(body)} return a ^ b; }}")
    out.append("void app_main(void) { u32 x = 1; for (;;) { for (u32 i = 0; i < 4; i++) "
               "x = f0(x, i); sink = x; isr(); } }")
    return "\n".join(out) + "\n"


def compile_app(src, work, name, version):
    c = os.path.join(work, f"{name}.c")
    elf = os.path.join(work, f"{name}.elf")
    ld = os.path.join(work, "app.ld")
    with open(c, "w") as f:
        f.write(src)
    with open(ld, "w") as f:
        f.write(LINKER_SCRIPT)
    subprocess.run([CC, "-march=rv32imc", "-mabi=ilp32", "-O2", "-ffreestanding", "-nostdlib",
                    "-fno-inline", "-ffunction-sections", "-fdata-sections", "-T", ld,
                    "-Wl,--no-relax", "-Wl,--no-warn-rwx-segments", "-o", elf, c], check=True)
    segments = []
    for sec in (".flash.rodata", ".dram0.data", ".iram0.text", ".flash.text"):
        out = os.path.join(work, f"{name}{sec}.bin")
        subprocess.run([OBJCOPY, "-O", "binary", f"--only-section={sec}", elf, out], check=True)
        with open(out, "rb") as f:
            data = f.read()
        addr = {".flash.rodata": 0x3C000020, ".dram0.data": 0x3FC88000,
                ".iram0.text": 0x40380000, ".flash.text": 0x42000020}[sec]
        data += b"\0" * (-len(data) % 4)
        if sec == ".flash.rodata":
            data = fixtures._app_desc("bench-firmware", version) + data
        segments.append((addr, data or b"\0" * 4))
    return fixtures.esp_image(CHIP, segments, entry=0x42000020)


def pseudo_app(seed, edit=False, constant=False):
    """Fallback without the cross compiler: pseudo-code where an edit inserts
    bytes (everything after moves) and a constant change flips 4 bytes."""
    rng = random.Random(f"pseudo-{seed}")
    body = bytearray(fixtures._payload(rng, 1000 * 1024))
    if constant:
        body[400 * 1024:400 * 1024 + 4] = bytes(b ^ 0x55 for b in body[400 * 1024:400 * 1024 + 4])
    if edit:
        body[600 * 1024:600 * 1024] = b"\x13\x05\x10\x00\x93\x05\x20\x00"
        body = body[:1000 * 1024]
    seg = fixtures._app_desc("bench-firmware", f"1.0+{seed}") + bytes(body)
    return fixtures.esp_image(CHIP, [(0x3C000020, seg)], entry=0x42000020)


def parse_image(image):
    """(entry, [(load address, bytes)]) of an ESP image (fixtures.esp_image's layout)."""
    assert image[0] == fixtures.IMAGE_MAGIC
    entry = struct.unpack_from("<I", image, 4)[0]
    segments, pos = [], 24
    for _ in range(image[1]):
        addr, n = struct.unpack_from("<II", image, pos)
        segments.append((addr, image[pos + 8:pos + 8 + n]))
        pos += 8 + n
    return entry, segments


def rewrap(image, chip):
    """The same segments in an image for another chip: its header's chip id and
    that chip's load addresses, in the same order."""
    entry, segments = parse_image(image)
    addrs = fixtures.SEGMENT_ADDRS[chip]
    src = [a for a, _ in segments]
    out = [(addrs[i], data) for i, (_, data) in enumerate(segments)]
    entry = addrs[src.index(entry)] if entry in src else addrs[-1]
    return fixtures.esp_image(chip, out, entry=entry)


def bootloader_changed(chip):
    """The bootloader rebuilt with one changed word (a config option, a bug
    fix): one word in the middle of its IRAM segment differs, and so do the
    image's checksum and appended SHA-256 at its end."""
    entry, segments = parse_image(fixtures.bootloader(chip))
    addr, data = segments[1]
    data = bytearray(data)
    mid = len(data) // 2 & ~3
    data[mid:mid + 4] = bytes(b ^ 0xA5 for b in data[mid:mid + 4])
    segments[1] = (addr, bytes(data))
    return fixtures.esp_image(chip, segments, entry=entry)


def data_partition(changed=False):
    """A 512 KB data partition: a directory block, then files on 4 KiB
    boundaries (as SPIFFS/LittleFS place them), the rest erased (0xFF)."""
    rng = random.Random("data")
    files = [("index.html", 23000), ("app.js", 61000), ("style.css", 9000),
             ("config.json", 1800), ("logo.png", 14000), ("fonts.bin", 120000),
             ("certs.pem", 5200), ("calib.bin", 3000)]
    out = bytearray(b"\xff" * DATA_SIZE)
    pos = 0x1000
    directory = bytearray()
    for name, size in files:
        if name.endswith((".png", ".bin")):
            content = bytearray(rng.getrandbits(8 * size).to_bytes(size, "little"))
        else:
            words = ["wifi", "ssid", "token", "value", "enabled", "true", "false", "mqtt",
                     "interval", "function", "return", "var", "div", "class", "{", "}"]
            text = " ".join(rng.choice(words) for _ in range(size // 4))
            content = bytearray(text.encode()[:size].ljust(size, b" "))
        if changed and name == "config.json":
            content[700:712] = b'"interval":9'
        out[pos:pos + size] = content
        directory += struct.pack("<32sII", name.encode(), pos, size)
        pos = (pos + size + 0xFFF) & ~0xFFF
    out[0:len(directory)] = directory
    return bytes(out)


def partition_table(app_size):
    entries = (fixtures._partition_entry(0x00, 0x00, fixtures.APP_OFFSET, app_size, "factory")
               + fixtures._partition_entry(0x01, 0x82, DATA_OFFSET, DATA_SIZE, "storage"))
    md5_entry = struct.pack("<H", 0xEBEB) + b"\xff" * 14 + hashlib.md5(entries).digest()
    table = entries + md5_entry
    return table + b"\xff" * (0xC00 - len(table))


def build(outdir):
    os.makedirs(outdir, exist_ok=True)
    manifest_path = os.path.join(outdir, "manifest.json")
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
        if manifest.get("version") == FIXTURE_VERSION:
            return manifest
        if all(k in manifest["files"] for k in ("app-base", "app-const", "data-base")):
            # Only the cheap parts are new: keep the compiled applications.
            add_second_chip(outdir, manifest)
            with open(manifest_path, "w") as f:
                json.dump(manifest, f, indent=1)
            return manifest

    compiled = shutil.which(CC) is not None and shutil.which(OBJCOPY) is not None
    work = os.path.join(outdir, "build")
    os.makedirs(work, exist_ok=True)
    apps = {}
    if compiled:
        jobs = {"app-base": (program(1), "base", "1.0.0"),
                "app-edit": (program(1, edit=True), "edit", "1.0.0"),
                "app-const": (program(1, constant=True), "const", "1.0.0"),
                "app-other": (program(2), "other", "2.0.0")}
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            futures = {k: pool.submit(compile_app, src, work, n, v) for k, (src, n, v) in jobs.items()}
            apps = {k: f.result() for k, f in futures.items()}
    else:
        apps["app-base"] = pseudo_app(1)
        apps["app-edit"] = pseudo_app(1, edit=True)
        apps["app-const"] = pseudo_app(1, constant=True)
        apps["app-other"] = pseudo_app(2)

    files = {
        "bootloader": fixtures.bootloader(CHIP),
        "partitions": partition_table(APP_PARTITION_SIZE),
        "data-base": data_partition(),
        "data-changed": data_partition(changed=True),
        **apps,
    }
    manifest = {"version": FIXTURE_VERSION, "chip": CHIP, "compiled": compiled,
                "compiler": (subprocess.run([CC, "--version"], capture_output=True, text=True)
                             .stdout.splitlines()[0] if compiled else None),
                "offsets": {"bootloader": fixtures.BOOTLOADER_OFFSETS[CHIP],
                            "partitions": fixtures.PARTITION_TABLE_OFFSET,
                            "app": fixtures.APP_OFFSET, "data": DATA_OFFSET},
                "files": {}}
    for name, data in files.items():
        path = os.path.join(outdir, f"{name}.bin")
        with open(path, "wb") as f:
            f.write(data)
        manifest["files"][name] = {"path": path, "size": len(data)}
    add_second_chip(outdir, manifest)
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=1)
    return manifest


def add_second_chip(outdir, manifest):
    """The bootloader-only change for the first chip, and the ESP32 set: files
    named esp32-*, its offsets under manifest["esp32"]; the data partition and
    the table are the first chip's."""
    def put(name, data):
        path = os.path.join(outdir, f"{name}.bin")
        with open(path, "wb") as f:
            f.write(data)
        manifest["files"][name] = {"path": path, "size": len(data)}

    def read(name):
        with open(manifest["files"][name]["path"], "rb") as f:
            return f.read()

    put("bootloader-changed", bootloader_changed(CHIP))
    put(f"{CHIP_ROM}-bootloader", fixtures.bootloader(CHIP_ROM))
    put(f"{CHIP_ROM}-bootloader-changed", bootloader_changed(CHIP_ROM))
    for app in ("app-base", "app-const"):
        put(f"{CHIP_ROM}-{app}", rewrap(read(app), CHIP_ROM))
    manifest[CHIP_ROM] = {"offsets": {"bootloader": fixtures.BOOTLOADER_OFFSETS[CHIP_ROM],
                                      "partitions": fixtures.PARTITION_TABLE_OFFSET,
                                      "app": fixtures.APP_OFFSET, "data": DATA_OFFSET}}
    manifest["version"] = FIXTURE_VERSION


if __name__ == "__main__":
    m = build(sys.argv[1])
    for name, f in m["files"].items():
        print(f"{name:14} {f['size']:8d}")
    print("compiled with", m["compiler"] if m["compiled"] else "nothing (pseudo-code application)")
