# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the idle service keeps mapped (issue 16, item 4: idle memory stays small):
libcrypto, about 1.5 MiB of RSS once mapped and relocated and never unloaded
(OpenSSL 3 is nodelete), is never mapped into the service: its digests run in
the helper fbuild-deployd-digest, which is gone once the service is idle again.
zlib is loaded for compressed writes, not at start, and unloaded when the
service goes idle: an idle service maps it neither before nor after a deploy.
Under the socket activator.
Run: umockdev-wrapper /usr/bin/python3 test_idle_memory.py (env: see harness.py)

No size assertions (those are the benchmark's, bench/idle_rss.py): only which
files the process has mapped, from /proc/PID/maps, and its children."""

import os
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


if __name__ == "__main__":
    unittest.main()
