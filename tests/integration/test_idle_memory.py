# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the idle service keeps mapped (issue 16, item 4: idle memory stays small):
libcrypto, about 1.5 MiB of RSS once mapped and relocated and never unloaded
(OpenSSL 3 is nodelete), is never mapped into the service: its digests run in
the helper fbuild-deployd-digest, which is gone once the service is idle again.
zlib is loaded for compressed writes, not at start, and unloaded when the
service goes idle: an idle service maps it neither before nor after a deploy.
Under the socket activator.
After PageOutIdleSec= of idle the service pages out its code (MADV_PAGEOUT of its
read-only file mappings): the code of a library only the deploy runs leaves its
resident set, and the calls after that still work (a trust-skip, then a write).
Run: umockdev-wrapper /usr/bin/python3 test_idle_memory.py (env: see harness.py)

No size assertions (those are the benchmark's, bench/idle_rss.py): only which
files the process has mapped, from /proc/PID/maps, and its children, and whether
one file's pages are resident at all."""

import os
import shutil
import time
import unittest

import harness


def mapped_files(pid):
    names = set()
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and parts[5].startswith("/"):
                names.add(parts[5].strip().rsplit("/", 1)[-1])
    return names


def maps(pid, soname_prefix):
    return any(n.startswith(soname_prefix) for n in mapped_files(pid))


def children(pid):
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and harness._ppid(int(p)) == pid]


class LazyLibraries(harness.ServiceTestCase):
    def test_libcrypto_never_and_zlib_only_while_busy(self):
        dev = self.add_board("esp32", "uart")
        svc = self.start_service("socket", idle_timeout=600)
        c = self.client(svc.endpoint)
        self.assertIn(dev.node, [d[0] for d in c.list_devices()])
        self.assertEqual(c.trust_state(dev.node)[0], False)
        pids = svc.service_pids()
        self.assertEqual(len(pids), 1, pids)
        files = mapped_files(pids[0])
        self.assertTrue(any(n.startswith("libsystemd.so") for n in files), files)  # the check sees libraries
        self.assertFalse(maps(pids[0], "libcrypto.so"), sorted(files))
        self.assertFalse(maps(pids[0], "libz.so"), sorted(files))

        img = self.image()
        c.verify(dev.node, img.paths())
        self.assertEqual(svc.service_pids(), pids)
        self.assertFalse(maps(pids[0], "libcrypto.so"), sorted(mapped_files(pids[0])))
        self.assertFalse(maps(pids[0], "libz.so"), sorted(mapped_files(pids[0])))
        # Idle again: the digest helper is stopped and reaped.
        c.run_until(lambda: not children(pids[0]), 30, "the digest helper to stop")

        outcome = c.deploy(dev.node, img.paths())[0]
        self.assertIn(outcome, ("selective", "full"))
        self.assertEqual(svc.service_pids(), pids)
        self.assertFalse(maps(pids[0], "libcrypto.so"), sorted(mapped_files(pids[0])))
        # Idle again (the helper gone is the sign): zlib is unloaded with it.
        c.run_until(lambda: not children(pids[0]), 30, "the digest helper to stop")
        self.assertFalse(maps(pids[0], "libz.so"), sorted(mapped_files(pids[0])))
        # And loaded again for the next write.
        outcome = c.deploy(dev.node, self.image(app_seed=7, tag="again").paths())[0]
        self.assertIn(outcome, ("selective", "full"))
        c.run_until(lambda: not children(pids[0]), 30, "the digest helper to stop")
        self.assertFalse(maps(pids[0], "libz.so"), sorted(mapped_files(pids[0])))


PAGED_OUT = "Idle: paged out code"
LIBSERIALPORT = "libserialport.so.0"


def text_rss_kib(pid, path):
    """Rss of the executable mappings of the file at path."""
    kib, hit = 0, False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if not parts[0].endswith(":"):
                hit = len(parts) > 5 and parts[5] == path and "x" in parts[1]
            elif hit and parts[0] == "Rss:":
                kib += int(parts[1])
    return kib


class PageOut(harness.ServiceTestCase):
    def private_libserialport(self):
        """A copy of libserialport that only this test's service maps (the kernel
        leaves pages that another process maps alone), used by the deploy and
        not by the idle loop: once paged out, nothing reads it back until the
        next job. Written back first: the kernel pages out only clean pages."""
        libdir = os.path.join(self.work, "lib")
        os.makedirs(libdir, exist_ok=True)
        copy = os.path.join(libdir, LIBSERIALPORT)
        shutil.copyfile(os.path.realpath(f"/usr/lib/x86_64-linux-gnu/{LIBSERIALPORT}"), copy)
        fd = os.open(copy, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return libdir, copy

    def start(self, page_out):
        self.dev = self.add_board("esp32", "uart")
        libdir, self.lib = self.private_libserialport()
        self.svc = self.start_service("socket", idle_timeout=600, extra_env={"LD_LIBRARY_PATH": libdir},
                                      extra_config=f"PageOutIdleSec={page_out}\n")

    def call(self, fn):
        """One call on a connection of its own, closed at once: an open peer
        connection keeps the service from going idle."""
        c = harness.Client(self.svc.endpoint)
        try:
            return fn(c)
        finally:
            c.close()

    def service_log(self):
        with open(self.svc.log_path, errors="replace") as f:
            return f.read()

    def wait_for_log(self, text, timeout):
        deadline = time.monotonic() + timeout
        while text not in self.service_log() and time.monotonic() < deadline:
            time.sleep(0.1)
        return text in self.service_log()

    def deploy_one(self, img):
        outcome = self.call(lambda c: c.deploy(self.dev.node, img.paths(), trust=True))[0]
        pids = self.svc.service_pids()
        self.assertEqual(len(pids), 1, pids)
        resident = text_rss_kib(pids[0], self.lib)
        self.assertGreater(resident, 0, f"{self.lib} is not what the service maps")
        return outcome, pids, resident

    def test_idle_service_pages_out_and_keeps_working(self):
        self.start(1)
        img = self.image(app_seed=31)
        outcome, pids, before = self.deploy_one(img)
        self.assertEqual(outcome, "full")
        self.assertTrue(self.wait_for_log(PAGED_OUT, 30), "no page-out after 1 s of idle")
        after = text_rss_kib(pids[0], self.lib)
        self.assertEqual(after, 0, f"libserialport's code resident: {before} KiB before, {after} KiB after")
        # What was paged out is read back: a trust-skip, then a write and its proof.
        self.assertEqual(self.call(lambda c: c.deploy(self.dev.node, img.paths(), trust=True))[0], "trust-skip")
        outcome, again, _ = self.deploy_one(self.image(app_seed=32, tag="other"))
        self.assertIn(outcome, ("selective", "full"))
        self.assertEqual(self.call(lambda c: c.trust_state(self.dev.node))[0], True)
        self.assertEqual(again, pids)

    def test_zero_never_pages_out(self):
        self.start(0)
        outcome, pids, before = self.deploy_one(self.image(app_seed=33))
        self.assertEqual(outcome, "full")
        time.sleep(3)
        self.assertNotIn(PAGED_OUT, self.service_log())
        self.assertEqual(text_rss_kib(pids[0], self.lib), before)


if __name__ == "__main__":
    unittest.main()
