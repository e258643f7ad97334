# SPDX-License-Identifier: LGPL-2.1-or-later
"""The recipes of docs/recipes.md (issue 15, "Where people already work"), each
run from the file a user copies, against a simulated board: PlatformIO's
upload_command (with $BUILD_DIR expanded as PlatformIO does) and the monitor
command of its extra script; ESP-IDF's idf_ext.py, whose actions are built and
called as idf.py would (Debian has no ESP-IDF: the extension is loaded and its
callbacks invoked with the arguments idf.py passes); VS Code's tasks.json; and
the Python D-Bus client, which deploys with fds, follows progress and cancels.
Run: umockdev-wrapper /usr/bin/python3 test_recipes.py"""

import argparse
import configparser
import importlib.util
import json
import os
import re
import shlex
import subprocess
import unittest
from unittest import mock

import ctlharness
from ctlharness import EXIT_SUCCESS

RECIPES = os.path.join(ctlharness.SOURCE_ROOT, "docs", "recipes")


class Recipes(ctlharness.CtlTestCase):

    def user_env(self):
        """A user's shell: fbuildctl on PATH, $FBUILD_ADDRESS set (as in sim-shell)."""
        env = self.ctl_env()
        env["FBUILD_ADDRESS"] = self.service.endpoint.address
        env["PATH"] = os.path.dirname(ctlharness.FBUILDCTL) + os.pathsep + env.get("PATH", "/usr/bin:/bin")
        return env

    def run_shell(self, command, cwd=None, expect=EXIT_SUCCESS):
        p = subprocess.run(["bash", "-c", command], env=self.user_env(), cwd=cwd, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, expect, f"{command}\n--- stdout\n{p.stdout}\n--- stderr\n{p.stderr}")
        return p

    def test_platformio(self):
        dev = self.add_board("esp32", "uart")
        self.start()
        env_dir, regions = self.pio_project(env="esp32dev", idedata=False)
        ini = configparser.ConfigParser(inline_comment_prefixes=(";",))
        ini.read(os.path.join(RECIPES, "platformio.ini"))
        section = ini["env:esp32dev"]
        self.assertEqual(section["upload_protocol"], "custom")
        # PlatformIO substitutes $BUILD_DIR (the env's build directory) and runs it.
        command = section["upload_command"].replace("$BUILD_DIR", shlex.quote(env_dir))
        p = self.run_shell(command)
        self.assertIn(f"{dev.node}: full", p.stdout)
        self.assertFlashHolds(dev, regions)
        # The documented variant with upload_port.
        with open(os.path.join(ctlharness.SOURCE_ROOT, "docs", "recipes.md")) as f:
            doc = f.read()
        variant = re.search(r"`upload_command = (fbuildctl deploy --port \$UPLOAD_PORT \$BUILD_DIR)`", doc).group(1)
        p = self.run_shell(variant.replace("$UPLOAD_PORT", dev.node).replace("$BUILD_DIR", env_dir))
        self.assertIn(f"{dev.node}: trust-skip", p.stdout)

        # The extra script's monitor command.
        with open(os.path.join(RECIPES, "fbuild_monitor.py")) as f:
            script = f.read()
        self.assertEqual(section["extra_scripts"], "post:fbuild_monitor.py")
        monitor = re.search(r'MONITOR_COMMAND = "([^"]+)"', script).group(1)
        proc = subprocess.Popen(["bash", "-c", monitor], env=self.user_env(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            self.assertIn(f"Monitoring {dev.node}", proc.stderr.readline())
        finally:
            proc.terminate()
            proc.wait(30)

    def load_idf_ext(self):
        spec = importlib.util.spec_from_file_location("idf_ext", os.path.join(RECIPES, "idf_ext.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    def test_esp_idf_extension(self):
        dev = self.add_board("esp32", "uart")
        self.start()
        build, regions = self.idf_project(chip="esp32")
        ext = self.load_idf_ext()
        # The command lines, as idf.py's options make them.
        self.assertEqual(ext.fbuild_command("fbuild-flash", build, fbuildctl="fbuildctl"),
                         ["fbuildctl", "deploy", build])
        self.assertEqual(ext.fbuild_command("fbuild-flash", build, port="/dev/ttyUSB1", fbuildctl="fbuildctl"),
                         ["fbuildctl", "deploy", "--port", "/dev/ttyUSB1", build])
        self.assertEqual(ext.fbuild_command("fbuild-monitor", build, baud=921600, fbuildctl="fbuildctl"),
                         ["fbuildctl", "monitor", "--baud", "921600"])
        actions = ext.action_extensions({}, os.path.dirname(build))["actions"]
        self.assertEqual(set(actions), {"fbuild-flash", "fbuild-monitor"})
        for a in actions.values():
            self.assertTrue(callable(a["callback"]) and a["help"])
        # idf.py calls the callback with its global arguments (build_dir, port).
        args = argparse.Namespace(build_dir=build, port=None)
        with mock.patch.dict(os.environ, self.user_env(), clear=True), \
                mock.patch.dict(os.environ, {"FBUILDCTL": ctlharness.FBUILDCTL}):
            actions["fbuild-flash"]["callback"]("fbuild-flash", None, args)
            self.assertFlashHolds(dev, regions)
            args.port = "/dev/ttyUSB9"
            with self.assertRaises(SystemExit) as e:
                actions["fbuild-flash"]["callback"]("fbuild-flash", None, args)
            self.assertEqual(e.exception.code, ctlharness.EXIT_NO_DEVICE)

    def test_vscode_tasks(self):
        dev = self.add_board("esp32", "uart")
        self.start()
        build, regions = self.idf_project(chip="esp32", app_seed=4)
        with open(os.path.join(RECIPES, "tasks.json")) as f:
            tasks = {t["label"]: t for t in json.load(f)["tasks"]}
        self.assertEqual(set(tasks), {"fbuild: deploy", "fbuild: verify", "fbuild: monitor"})

        def run(label, expect=EXIT_SUCCESS):
            t = tasks[label]
            self.assertEqual(t["type"], "process")
            argv = [t["command"]] + [a.replace("${workspaceFolder}", os.path.dirname(build)) for a in t["args"]]
            return self.run_shell(" ".join(shlex.quote(a) for a in argv), expect=expect)

        p = run("fbuild: deploy")
        self.assertIn(f"{dev.node}: full", p.stdout)
        self.assertFlashHolds(dev, regions)
        p = run("fbuild: verify")
        self.assertIn("all 3 regions match", p.stdout)
        self.assertTrue(tasks["fbuild: monitor"]["isBackground"])
        self.assertEqual(tasks["fbuild: monitor"]["args"], ["monitor"])

    def client(self, *args, timeout=120):
        return subprocess.run(["/usr/bin/python3", os.path.join(RECIPES, "deploy-client.py"), *args],
                              env=self.user_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)

    def test_dbus_client(self):
        dev = self.add_board("esp32", "uart", timing="real")
        self.start()
        img = self.image(chip="esp32", app_seed=11)
        pairs = [f"{off:#x}={path}" for off, path in img.paths()]
        p = self.client(*pairs)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[-1], "outcome full: 3 ranges written")
        phases = [line.split()[1] for line in lines if line.startswith("progress ")]
        for phase in ("connect", "verify", "write", "post-verify"):
            self.assertIn(phase, phases)
        self.assertTrue(img.matches_flash(dev.sim.flash()))

        # Cancel as soon as the write starts: the call fails with Cancelled.
        big = self.image(chip="esp32", app_seed=12, app_size=1024 * 1024)
        p = self.client("--port", dev.node, "--cancel-at", "write",
                        *[f"{off:#x}={path}" for off, path in big.paths()])
        self.assertEqual(p.returncode, 6, p.stdout + p.stderr)
        self.assertIn("cancelling…", p.stdout)
        self.assertIn("error org.fbuild.Deploy1.Error.Cancelled", p.stdout)
        self.assertFalse(big.matches_flash(dev.sim.flash()))
        _, o = self.ctl_json("trust", "show")
        self.assertFalse(o["trusted"])


if __name__ == "__main__":
    unittest.main()
