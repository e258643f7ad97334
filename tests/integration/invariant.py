# SPDX-License-Identifier: LGPL-2.1-or-later
"""The trust invariant, checked from outside the service: after any sequence of
operations and faults,
  - a `trust-skip` happens only if the simulated flash equals the image;
  - a deploy that reports success (any outcome) leaves the flash equal to the
    whole image, every region, whatever was written (the ESP32 ROM's
    compressed writes program flash past their end: a write may damage what it
    did not send);
  - a successful deploy changes no byte outside the image except in the
    sectors of the ranges it reports written (the erase granularity);
  - TrustState never claims an image hash whose image is not what the flash holds.
Wrap every deploy in a fault test with Invariant.deploy(); it records each
violation (for the soak) or, strict, fails at once (for the tests)."""

import hashlib
import struct

SECTOR = 0x1000

from busfixture import CallError


def image_sha256(image):
    """The service's image hash: SHA-256 over (offset u64 LE, length u64 LE, bytes)
    of each region, in offset order."""
    h = hashlib.sha256()
    for off, _, data, _ in sorted(image.regions, key=lambda r: r[0]):
        h.update(struct.pack("<QQ", off, len(data)))
        h.update(data)
    return h.digest()


class InvariantViolation(AssertionError):
    pass


class Invariant:
    def __init__(self, strict=True):
        self.strict = strict
        self.violations = []
        self.images = {}        # image hash → harness.Image, for TrustState checks
        self.checks = 0

    def _violation(self, what):
        self.violations.append(what)
        if self.strict:
            raise InvariantViolation(what)

    def expect(self, image):
        """Makes image known to the trust checks, for a deploy made elsewhere
        (another client, a process that is killed)."""
        self.images[image_sha256(image)] = image

    def deploy(self, client, dev, image, **opts):
        """DeployRegions on dev's port; returns (outcome, written, stats) or raises the
        CallError. Either way, checks the invariant against dev's simulated flash."""
        self.expect(image)
        before = dev.sim.flash()
        try:
            outcome, written, stats = client.deploy(dev.node, image.paths(), **opts)
        except CallError:
            self.check_trust(client, dev)
            raise
        self.checks += 1
        flash = dev.sim.flash()
        if outcome == "trust-skip" and not image.matches_flash(flash):
            self._violation(f"{dev.node}: trust-skip but the flash differs in "
                            f"{image.mismatches(flash)}")
        elif not image.matches_flash(flash):
            self._violation(f"{dev.node}: {outcome} reported, but the flash differs in "
                            f"{image.mismatches(flash)}")
        else:
            stray = self.outside_changes(image, written, before, flash)
            if stray:
                self._violation(f"{dev.node}: {outcome} changed bytes outside the image and "
                                f"the written sectors: {stray}")
        self.check_trust(client, dev)
        return outcome, written, stats

    @staticmethod
    def outside_changes(image, written, before, after):
        """Ranges [(start, end)] that changed between before and after although
        they lie outside the image and outside every written range's sectors."""
        allowed = [(off, off + len(d)) for off, _, d, _ in image.regions]
        allowed += [(off // SECTOR * SECTOR, -(-(off + size) // SECTOR) * SECTOR) for off, size in written]
        allowed.sort()
        changed, pos = [], 0
        for start, end in allowed + [(len(after), len(after))]:
            if pos < start and before[pos:start] != after[pos:start]:
                first = next(i for i in range(pos, start) if before[i] != after[i])
                last = next(i for i in range(start - 1, pos - 1, -1) if before[i] != after[i])
                changed.append((hex(first), hex(last + 1)))
            pos = max(pos, end)
        return changed

    def check_trust(self, client, dev):
        """If the service trusts dev, the trusted image must be on its flash. Returns
        (trusted, hash, why)."""
        try:
            trusted, h, _, why = client.trust_state(dev.node)
        except CallError as e:
            # The port may be gone (unplugged): then nothing can be trusted there.
            if e.name.endswith("NoSuchDevice"):
                return False, b"", "gone"
            raise
        self.checks += 1
        if trusted:
            image = self.images.get(bytes(h))
            if image is None:
                self._violation(f"{dev.node}: trusted for an image never deployed ({bytes(h).hex()})")
            elif not image.matches_flash(dev.sim.flash()):
                self._violation(f"{dev.node}: trusted for an image the flash does not hold "
                                f"(differs in {image.mismatches(dev.sim.flash())})")
        return trusted, bytes(h), why
