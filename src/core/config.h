/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Service settings: built-in defaults < the config file (/etc/fbuild/deployd.conf,
 * INI with a [Service] section) < environment < command line. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "time-util.h"

#define CONFIG_DEFAULT_PATH "/etc/fbuild/deployd.conf"
#define CONFIG_DEFAULT_IDLE_TIMEOUT_USEC (30 * USEC_PER_SEC)
/* Trust lives only in memory: stay long enough for a compile between two deploys. */
#define CONFIG_DEFAULT_TRUST_IDLE_TIMEOUT_USEC (30 * 60 * USEC_PER_SEC)
/* Idle this long (holding trust, so for up to half an hour), then give the kernel
 * back the code pages no other process maps; a redeploy within a short compile
 * does not read them back. */
#define CONFIG_DEFAULT_PAGE_OUT_IDLE_USEC (60 * USEC_PER_SEC)
/* Transfers on USB-UART bridges: what esptool uses by default for writes. */
#define CONFIG_DEFAULT_BRIDGE_BAUD 921600u
#define CONFIG_BAUD_MIN 9600u
#define CONFIG_BAUD_MAX 12000000u
/* Monitors one unprivileged user may hold at once (on all ports together). */
#define CONFIG_DEFAULT_MONITORS_PER_USER 16u
#define CONFIG_MONITORS_PER_USER_MAX 4096u

/* Where the system's esptool keeps its flasher stubs (Debian's package, pip as
 * root), ':'-separated glob patterns; a user's own toolchain is fbuildctl's to
 * find (it passes the stub's fd). */
#define CONFIG_DEFAULT_STUB_SEARCH_PATH \
        "/usr/lib/python3/dist-packages/esptool/targets/stub_flasher:" \
        "/usr/local/lib/python3*/dist-packages/esptool/targets/stub_flasher:" \
        "/usr/local/lib/python3*/site-packages/esptool/targets/stub_flasher:" \
        "/usr/lib/python3*/site-packages/esptool/targets/stub_flasher"

/* Loader=: which loader serves a deploy (the "loader" option's default). */
typedef enum ConfigLoader {
        CONFIG_LOADER_AUTO,             /* the stub when the cost model says it pays */
        CONFIG_LOADER_STUB,             /* the stub whenever one is found */
        CONFIG_LOADER_ROM,              /* never the stub */
} ConfigLoader;

#define CONFIG_ENV_PATH "FBUILD_DEPLOYD_CONFIG"
#define CONFIG_ENV_IDLE_TIMEOUT "FBUILD_DEPLOYD_IDLE_TIMEOUT_SEC"
#define CONFIG_ENV_TRUST_IDLE_TIMEOUT "FBUILD_DEPLOYD_TRUST_IDLE_TIMEOUT_SEC"
#define CONFIG_ENV_LOG_LEVEL "FBUILD_DEPLOYD_LOG_LEVEL"

typedef struct Config {
        usec_t idle_timeout_usec;       /* USEC_INFINITY: never exit when idle */
        usec_t trust_idle_timeout_usec; /* instead, while an attached board is trusted; 0: off */
        usec_t page_out_idle_usec;      /* PageOutIdleSec=: idle this long, then page out; 0: never */
        bool trust;                     /* default for the "trust" option */
        uint32_t bridge_baud;           /* default "baud" on uart-bridge ports; 0: stay at 115200 */
        bool sector_granularity;        /* default "granularity": sector (true) or region */
        unsigned monitors_per_user;     /* MonitorsPerUser=: root is never limited */
        char stub_dir[256];             /* StubDirectory=: esptool JSON stub images; "": none */
        char stub_search[1024];         /* StubSearchPath=: ':'-separated directories (globs); "": none */
        ConfigLoader loader;            /* Loader= */
        int log_level;                  /* LOG_ERR … LOG_DEBUG */
} Config;

void config_init(Config *c);

/* Parses INI text; bad lines are logged (with source:line) and skipped, the
 * settings they name keep their previous value. Returns the number of lines
 * skipped. */
int config_load_string(Config *c, const char *text, const char *source);
/* -ENOENT if the file does not exist (the caller decides whether that matters). */
int config_load_file(Config *c, const char *path);
/* FBUILD_DEPLOYD_IDLE_TIMEOUT_SEC, FBUILD_DEPLOYD_TRUST_IDLE_TIMEOUT_SEC,
 * FBUILD_DEPLOYD_LOG_LEVEL; -EINVAL on a bad value. */
int config_load_environment(Config *c);

/* "30", "30s", "1.5s", "500ms", "2min", "1h 30min", "infinity"; a bare number
 * is seconds; 0 means infinity (never exit). -EINVAL or -ERANGE. */
int config_parse_timeout(const char *s, usec_t *ret);
/* The same spellings, but 0 stays 0 (TrustIdleTimeoutSec=0: no longer stay). */
int config_parse_timespan(const char *s, usec_t *ret);
/* yes/no, true/false, on/off, 1/0 */
int config_parse_boolean(const char *s, bool *ret);
