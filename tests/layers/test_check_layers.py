#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# tools/check-layers on made-up source trees: a clean stack passes; an upward
# #include, an upward include_directories or dependency in a meson.build,
# sd-bus below the bus, a directory outside the order and a cycle each fail,
# naming the place.
import os
import subprocess
import sys
import tempfile
import unittest

CHECKER = os.environ.get('CHECK_LAYERS') or os.path.join(os.path.dirname(__file__), '..', '..', 'tools',
                                                          'check-layers')

# A clean miniature of the real stack: each layer includes the one below.
CLEAN = {
        'src/shared/macro.h': '#pragma once\n',
        'src/shared/meson.build': "shared_dep = declare_dependency()\n",
        'src/trust/trust-table.h': '#pragma once\n#include "macro.h"\n',
        'src/trust/meson.build': "trust_dep = declare_dependency(dependencies : shared_dep)\n",
        'src/job/job.h': '#pragma once\n#include "trust-table.h"\n',
        'src/job/meson.build': "job_dep = declare_dependency(dependencies : [trust_dep, shared_dep])\n",
        'src/core/manager.h': '#pragma once\n#include "job.h"\n',
        'src/core/manager.c': '#include <systemd/sd-event.h>\n#include "manager.h"\n',
        'src/core/meson.build': "core_dep = declare_dependency(dependencies : [job_dep])\n",
        'src/bus/bus.h': '#pragma once\n#include <systemd/sd-bus.h>\n#include "manager.h"\n',
        'src/bus/meson.build': "bus_dep = declare_dependency(dependencies : [core_dep])\n",
        'src/daemon/main.c': '#include "bus.h"\n#include "manager.h"\n',
        'src/daemon/meson.build': "executable('d', 'main.c', dependencies : [core_dep, bus_dep])\n",
        'src/ctl/ctl.c': '#include <systemd/sd-bus.h>\n#include "macro.h"\n',
}


def run(tree):
        with tempfile.TemporaryDirectory(prefix='check-layers-') as root:
                for path, text in tree.items():
                        os.makedirs(os.path.join(root, os.path.dirname(path)), exist_ok=True)
                        with open(os.path.join(root, path), 'w') as f:
                                f.write(text)
                p = subprocess.run([sys.executable, CHECKER, root], capture_output=True, text=True)
                return p.returncode, p.stdout


def changed(**edits):
        tree = dict(CLEAN)
        for path, text in edits.items():
                tree[path.replace('__', '/').replace('_DOT_', '.')] = text
        return tree


class CheckLayers(unittest.TestCase):
        def test_clean_tree_passes(self):
                rc, out = run(CLEAN)
                self.assertEqual(rc, 0, out)
                self.assertIn('no upward use, no cycle', out)

        def test_upward_include_fails(self):
                rc, out = run(changed(**{'src__job__job_DOT_c': '#include "manager.h"\n'}))
                self.assertEqual(rc, 1)
                self.assertIn('src/job/job.c:1: job uses core, a layer above it', out)

        def test_relative_upward_include_fails(self):
                rc, out = run(changed(**{'src__trust__trust-table_DOT_c': '#include "../bus/bus.h"\n'}))
                self.assertEqual(rc, 1)
                self.assertIn('src/trust/trust-table.c:1: trust uses bus, a layer above it', out)

        def test_meson_include_directories_upward_fails(self):
                rc, out = run(changed(**{'src__bus__meson_DOT_build':
                                         "bus_dep = declare_dependency(dependencies : [core_dep],\n"
                                         "        include_directories : include_directories('../daemon'))\n"}))
                self.assertEqual(rc, 1)
                self.assertIn("src/bus/meson.build: include_directories('../daemon'): bus uses daemon", out)

        def test_meson_dependency_upward_fails(self):
                rc, out = run(changed(**{'src__job__meson_DOT_build':
                                         "job_dep = declare_dependency(dependencies : [trust_dep, core_dep])\n"}))
                self.assertEqual(rc, 1)
                self.assertIn('src/job/meson.build: core_dep: job uses core, a layer above it', out)

        def test_sd_bus_below_the_bus_fails(self):
                rc, out = run(changed(**{'src__core__manager_DOT_c': '#include <systemd/sd-bus.h>\n'}))
                self.assertEqual(rc, 1)
                self.assertIn('src/core/manager.c:1: includes sd-bus.h outside src/bus', out)

        def test_directory_outside_the_order_fails(self):
                rc, out = run(changed(**{'src__extra__x_DOT_c': '#include "macro.h"\n'}))
                self.assertEqual(rc, 1)
                self.assertIn('src/extra: a directory that is not in the layer order', out)

        def test_client_using_the_service_fails(self):
                rc, out = run(changed(**{'src__ctl__ctl_DOT_c': '#include "manager.h"\n'}))
                self.assertEqual(rc, 1)
                self.assertIn('src/ctl/ctl.c:1: ctl uses core, outside what it may use', out)

        def test_cycle_is_named(self):
                # The include cycle this check was written for: the bus reaching
                # into the daemon while the daemon includes the bus.
                rc, out = run(changed(**{'src__bus__bus-deploy_DOT_c': '#include "../daemon/manager-old.h"\n',
                                         'src__daemon__manager-old_DOT_h': '#pragma once\n#include "bus.h"\n'}))
                self.assertEqual(rc, 1)
                self.assertIn('cycle: bus → daemon → bus', out)


if __name__ == '__main__':
        unittest.main()
