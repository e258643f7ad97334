# SPDX-License-Identifier: LGPL-2.1-or-later
# PlatformIO extra script: `pio run -t fbuild-monitor` runs fbuildctl monitor.
Import("env")  # noqa: F821 (provided by PlatformIO's SCons)

MONITOR_COMMAND = "fbuildctl monitor"

env.AddCustomTarget(  # noqa: F821
    name="fbuild-monitor",
    dependencies=None,
    actions=[MONITOR_COMMAND],
    title="fbuild monitor",
    description="Serial monitor through fbuild-deployd",
)
