# SPDX-License-Identifier: LGPL-2.1-or-later
"""Where `meson install` puts the files (issue 14, item 1), read from a fresh
`meson setup` of the source with `meson introspect --installed` (no build):
the D-Bus, polkit and systemd files go where those daemons read them, from
their pkg-config files, whatever the prefix; the meson options override;
-Dpolkit_group=NAME installs the group rule, and without it only the example
does. And -Dtests=auto configures on a machine without the test tools.
"""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

SOURCE_ROOT = os.environ["FBUILD_SOURCE_ROOT"]


def pkg_var(pkg, var):
    return subprocess.run(["pkg-config", f"--variable={var}", pkg], check=True,
                          capture_output=True, text=True).stdout.strip()


class Layout(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fbuild-layout-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.n = 0

    def installed(self, *options, env=None):
        """{destination: source} for a fresh setup with these options."""
        self.n += 1
        build = os.path.join(self.tmp, f"b{self.n}")
        p = subprocess.run(["meson", "setup", build, SOURCE_ROOT, *options], env=env,
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        out = subprocess.run(["meson", "introspect", build, "--installed"], check=True,
                             capture_output=True, text=True).stdout
        return {dst: src for src, dst in json.loads(out).items()}

    def test_where_the_daemons_read_whatever_the_prefix(self):
        files = self.installed("--prefix=/usr/local", "-Dtests=disabled")
        expect = [
                os.path.join(pkg_var("dbus-1", "datadir"), "dbus-1/system.d/org.fbuild.Deploy1.conf"),
                os.path.join(pkg_var("dbus-1", "system_bus_services_dir"), "org.fbuild.Deploy1.service"),
                os.path.join(pkg_var("polkit-gobject-1", "policydir"), "org.fbuild.deploy1.policy"),
                os.path.join(pkg_var("systemd", "systemdsystemunitdir"), "fbuild-deployd.service"),
                os.path.join(pkg_var("systemd", "systemdsystemunitdir"), "fbuild-deployd.socket"),
                "/usr/local/libexec/fbuild-deployd",
                # Beside the service, where it looks for it (src/flash/digest.h).
                "/usr/local/libexec/fbuild-deployd-digest",
                "/usr/local/bin/fbuildctl",
        ]
        for path in expect:
            self.assertIn(path, files, f"{path} not installed; installed: {sorted(files)}")
        for path in files:
            self.assertFalse(path.startswith("/usr/local/share/dbus-1")
                             or path.startswith("/usr/local/share/polkit-1"),
                             f"{path}: neither dbus-daemon nor polkitd reads there")
        # Exec= follows the prefix.
        with open(files[os.path.join(pkg_var("systemd", "systemdsystemunitdir"),
                                     "fbuild-deployd.service")]) as f:
            self.assertIn("ExecStart=/usr/local/libexec/fbuild-deployd\n", f.read())

    def test_options_override(self):
        files = self.installed("-Dtests=disabled", "-Ddbuspolicydir=/opt/p",
                               "-Ddbussystemservicedir=/opt/s", "-Dsystemdsystemunitdir=/opt/u",
                               "-Dpolkitpolicydir=/opt/a", "-Dpolkitrulesdir=/opt/r",
                               "-Dpolkit_group=plugdev")
        for path in ["/opt/p/org.fbuild.Deploy1.conf", "/opt/s/org.fbuild.Deploy1.service",
                     "/opt/u/fbuild-deployd.service", "/opt/u/fbuild-deployd.socket",
                     "/opt/a/org.fbuild.deploy1.policy", "/opt/r/50-fbuild-deployd.rules"]:
            self.assertIn(path, files)

    def test_group_rule_only_when_asked(self):
        rules = os.path.join(pkg_var("polkit-gobject-1", "datadir"),
                             "polkit-1/rules.d/50-fbuild-deployd.rules")
        files = self.installed("--prefix=/usr", "-Dtests=disabled")
        self.assertNotIn(rules, files)
        example = [p for p in files if p.endswith("/doc/fbuild-deployd/50-fbuild-deployd.rules.example")]
        self.assertEqual(len(example), 1, sorted(files))
        with open(files[example[0]]) as f:
            self.assertIn('subject.isInGroup("dialout")', f.read())

        files = self.installed("--prefix=/usr", "-Dtests=disabled", "-Dpolkit_group=fbuild-users")
        self.assertIn(rules, files)
        with open(files[rules]) as f:
            self.assertIn('subject.isInGroup("fbuild-users")', f.read())

    def test_tests_auto_without_test_tools(self):
        # A PATH with only what the build itself needs (the compiler, pkg-config,
        # ninja, meson): the test tools are missing, so auto leaves the tests out
        # and the setup succeeds; enabled must fail instead.
        bindir = os.path.join(self.tmp, "bin")
        os.mkdir(bindir)
        for tool in ["cc", "gcc", "pkg-config", "ninja", "meson", "ld", "as", "ar", "x86_64-linux-gnu-gcc"]:
            real = shutil.which(tool)
            if real:
                os.symlink(real, os.path.join(bindir, tool))
        env = dict(os.environ, PATH=bindir)
        build = os.path.join(self.tmp, "auto")
        p = subprocess.run(["meson", "setup", build, SOURCE_ROOT, "--prefix=/usr"], env=env,
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertRegex(p.stdout, r"\btests\s*:\s*NO\b")
        targets = subprocess.run(["meson", "introspect", build, "--targets"], check=True,
                                 capture_output=True, text=True).stdout
        names = {t["name"] for t in json.loads(targets)}
        self.assertIn("fbuild-deployd", names)
        self.assertNotIn("fbuild-esp-sim", names)
        p = subprocess.run(["meson", "setup", os.path.join(self.tmp, "enabled"), SOURCE_ROOT,
                            "-Dtests=enabled"], env=env, capture_output=True, text=True)
        self.assertNotEqual(p.returncode, 0, "tests=enabled without umockdev-wrapper configured")


if __name__ == "__main__":
    unittest.main()
