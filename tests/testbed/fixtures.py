# SPDX-License-Identifier: LGPL-2.1-or-later
"""Deterministic, realistic flash images for the end-to-end tests.

Built from the published formats (esptool's firmware-image-format page, ESP-IDF's
partition table) rather than copied from a real build, so every byte is reproducible
from a seed and the tests never need a toolchain or downloaded binaries.
"""

import hashlib
import random
import struct

IMAGE_MAGIC = 0xE9
CHECKSUM_SEED = 0xEF
# The extended header's chip id, per chip (esptool's IMAGE_CHIP_ID).
CHIP_IDS = {"esp32": 0, "esp32c3": 5, "esp32s3": 9}
# Where the ROM looks for the second-stage bootloader.
BOOTLOADER_OFFSETS = {"esp32": 0x1000, "esp32c3": 0x0, "esp32s3": 0x0}
PARTITION_TABLE_OFFSET = 0x8000
APP_OFFSET = 0x10000

# Flash mode DIO, 4 MB, 40 MHz: what an ESP-IDF default build writes into byte 2-3.
FLASH_MODE_DIO = 2
FLASH_SIZE_4MB = 0x2
FLASH_FREQ_40M = 0x0

# Plausible load addresses (first is DROM-ish, then IRAM/DRAM) so a reader that
# sanity-checks segments sees something shaped like a real image.
SEGMENT_ADDRS = {
    "esp32": [0x3F400020, 0x3FFB0000, 0x40080000, 0x400D0020],
    "esp32c3": [0x3C000020, 0x3FC88000, 0x40380000, 0x42000020],
    "esp32s3": [0x3C000020, 0x3FC88000, 0x40374000, 0x42000020],
}
BOOTLOADER_ADDRS = {
    "esp32": [0x3FFF0030, 0x40078000, 0x40080400],
    "esp32c3": [0x3FCD5820, 0x403CC710, 0x403CE710],
    "esp32s3": [0x3FCD5820, 0x403CC710, 0x403CE710],
}

APP_DESC_MAGIC = 0xABCD5432


def _payload(rng, size):
    """Pseudo-random bytes with some structure (runs of zeros, repeated words) so
    compression behaves like it does on real code rather than on noise."""
    out = bytearray()
    while len(out) < size:
        kind = rng.randrange(4)
        n = rng.randrange(16, 512)
        if kind == 0:
            out += bytes(n)
        elif kind == 1:
            word = rng.getrandbits(32).to_bytes(4, "little")
            out += word * (n // 4)
        else:
            out += rng.getrandbits(8 * n).to_bytes(n, "little")
    return bytes(out[:size])


def _app_desc(project, version):
    """esp_app_desc_t, which ESP-IDF puts at the start of the first (DROM) segment."""
    return struct.pack(
        "<II8s32s32s16s16s32s32s80s",
        APP_DESC_MAGIC, 0, bytes(8),
        version.encode(), project.encode(),
        b"12:00:00", b"Jan  1 2025", b"v5.1-fbuild-fixture",
        hashlib.sha256(project.encode() + version.encode()).digest(), bytes(80))


def esp_image(chip, segments, entry, hash_appended=True):
    """An ESP image: 8-byte header, 16-byte extended header, segments, zero padding
    up to one byte short of a multiple of 16, the XOR checksum byte, and optionally
    the SHA-256 of everything before it."""
    out = bytearray(struct.pack(
        "<BBBBI", IMAGE_MAGIC, len(segments), FLASH_MODE_DIO,
        (FLASH_SIZE_4MB << 4) | FLASH_FREQ_40M, entry))
    out += struct.pack(
        "<B3sHBHH4sB", 0xEE, bytes(3), CHIP_IDS[chip], 0, 0, 0xFFFF, bytes(4),
        1 if hash_appended else 0)
    checksum = CHECKSUM_SEED
    for addr, data in segments:
        if len(data) % 4:
            data += bytes(4 - len(data) % 4)
        out += struct.pack("<II", addr, len(data)) + data
        for b in data:
            checksum ^= b
    out += bytes(15 - len(out) % 16)
    out.append(checksum)
    if hash_appended:
        out += hashlib.sha256(out).digest()
    return bytes(out)


def bootloader(chip, size=26 * 1024, seed=1):
    """A second-stage bootloader of about `size` bytes with three segments."""
    rng = random.Random(f"bootloader-{chip}-{seed}")
    addrs = BOOTLOADER_ADDRS[chip]
    # Split the body unevenly, like a real bootloader's DRAM/IRAM split.
    body = size - 24 - 3 * 8 - 48
    sizes = [body // 8 & ~3, body // 2 & ~3]
    sizes.append((body - sum(sizes)) & ~3)
    segments = [(a, _payload(rng, n)) for a, n in zip(addrs, sizes)]
    return esp_image(chip, segments, entry=addrs[2] + 0x98)


def _partition_entry(ptype, subtype, offset, size, label, flags=0):
    return struct.pack("<HBBII16sI", 0x50AA, ptype, subtype, offset, size,
                       label.encode(), flags)


def partition_table(app_size=0x100000):
    """ESP-IDF's "single factory app" table: nvs, phy_init, factory at 0x10000,
    then the MD5 entry (0xEBEB, 14 x 0xFF, MD5 of the entries) and 0xFF fill to the
    table's full 0xC00 bytes, as gen_esp32part.py writes it."""
    entries = b"".join([
        _partition_entry(1, 0x02, 0x9000, 0x6000, "nvs"),
        _partition_entry(1, 0x01, 0xF000, 0x1000, "phy_init"),
        _partition_entry(0, 0x00, APP_OFFSET, app_size, "factory"),
    ])
    md5_entry = struct.pack("<H", 0xEBEB) + b"\xff" * 14 + hashlib.md5(entries).digest()
    table = entries + md5_entry
    return table + b"\xff" * (0xC00 - len(table))


def application(chip, size=200 * 1024, seed=1, project="fbuild-fixture", version="1.0.0"):
    """An application image of about `size` bytes: app descriptor first, four
    segments, checksum, appended SHA-256. A different seed gives a different app of
    the same shape (for redeploy tests)."""
    rng = random.Random(f"app-{chip}-{seed}")
    addrs = SEGMENT_ADDRS[chip]
    body = size - 24 - 4 * 8 - 48
    sizes = [body // 5 & ~3, body // 10 & ~3, body // 4 & ~3]
    sizes.append((body - sum(sizes)) & ~3)
    drom = _app_desc(project, f"{version}+{seed}")
    segments = [(addrs[0], drom + _payload(rng, sizes[0] - len(drom)))]
    segments += [(a, _payload(rng, n)) for a, n in zip(addrs[1:], sizes[1:])]
    return esp_image(chip, segments, entry=addrs[2] + 0x1C)


def image_length(image):
    """Length of an ESP image as a reader derives it from the header alone: what the
    simulated chip must do to name the app's SHA-256."""
    assert image[0] == IMAGE_MAGIC
    count = image[1]
    pos = 24
    for _ in range(count):
        _, seglen = struct.unpack_from("<II", image, pos)
        pos += 8 + seglen
    pos += 16 - pos % 16          # padding plus the checksum byte
    if image[23] == 1:
        pos += 32
    return pos


def flash_set(chip, app_seed=1):
    """The three regions a first deploy writes: [(offset, bytes, name)]."""
    return [
        (BOOTLOADER_OFFSETS[chip], bootloader(chip), "bootloader"),
        (PARTITION_TABLE_OFFSET, partition_table(), "partitions"),
        (APP_OFFSET, application(chip, seed=app_seed), "app"),
    ]


def write_begins(chip, size, stub=False):
    """FLASH_BEGINs plus FLASH_DEFL_BEGINs that writing one region of `size`
    bytes takes: one, except on the ESP32 ROM, whose compressed writes spill
    past their end (reference-traces esp32-rom-defl-spill-probe): there a
    region of 32 KiB or more is a compressed head and an uncompressed tail that
    the head's spill lands in, and a shorter one goes uncompressed."""
    return 2 if chip == "esp32" and not stub and size >= 0x8000 else 1


def _self_check():
    for chip in CHIP_IDS:
        bl = bootloader(chip)
        app = application(chip)
        assert bl == bootloader(chip), "fixtures must be deterministic"
        assert 24 * 1024 < len(bl) < 28 * 1024 and len(bl) % 16 == 0
        assert image_length(bl) == len(bl) and image_length(app) == len(app)
        assert hashlib.sha256(app[:-32]).digest() == app[-32:]
        assert app[24 + 8:24 + 12] == APP_DESC_MAGIC.to_bytes(4, "little")
        assert application(chip, seed=2) != app
    pt = partition_table()
    assert len(pt) == 0xC00 and pt[96:98] == b"\xeb\xeb"
    assert hashlib.md5(pt[:96]).digest() == pt[112:128]


def write_set(chip, directory, app_seed=1):
    """Write a flash set as files plus manifest.json ([{name, offset, path}]), for
    tests in other languages (the esptool-js conformance test)."""
    import json
    import os
    manifest = []
    for offset, data, name in flash_set(chip, app_seed):
        path = os.path.join(directory, f"{name}.bin")
        with open(path, "wb") as f:
            f.write(data)
        manifest.append({"name": name, "offset": offset, "path": path,
                         "sha256": hashlib.sha256(data).hexdigest()})
    with open(os.path.join(directory, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    return manifest


if __name__ == "__main__":
    import sys
    if len(sys.argv) == 4 and sys.argv[1] == "write":
        write_set(sys.argv[2], sys.argv[3])
        sys.exit(0)
    _self_check()
    for chip in CHIP_IDS:
        for off, data, name in flash_set(chip):
            print(f"{chip:8} {name:10} 0x{off:05x} {len(data):7} "
                  f"sha256={hashlib.sha256(data).hexdigest()[:16]}")
