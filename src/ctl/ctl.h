/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fbuildctl's shared state: the parsed command line, the connection to
 * fbuild-deployd and its event loop, and the helpers every verb uses. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus-api.h"
#include "ctl-exit.h"
#include "ctl-port.h"
#include "json.h"
#include "macro.h"


/* Short calls (ListDevices, TrustState…) may wait for an activation. */
#define CTL_SHORT_CALL_USEC (90ULL * 1000000ULL)
/* Verify and DeployRegions reply when the job ends and the contract sets no
 * limit, so the caller picks one: a day stands in for "never". */
#define CTL_LONG_CALL_USEC (24ULL * 3600ULL * 1000000ULL)

/* --json=MODE; auto (bare --json): pretty on a terminal, short otherwise. */
typedef enum CtlJson {
        CTL_JSON_OFF = 0,
        CTL_JSON_AUTO,
        CTL_JSON_SHORT,
        CTL_JSON_PRETTY,
} CtlJson;

/* The version of the --json objects' shape (docs/fbuildctl.md, "JSON output"):
 * raised when a key changes meaning or goes away, not when one is added. */
#define CTL_JSON_SCHEMA 1

/* --eol CR|LF|CRLF; without it, input goes as typed. */
typedef enum CtlEol {
        CTL_EOL_ASIS = 0,
        CTL_EOL_CR,
        CTL_EOL_LF,
        CTL_EOL_CRLF,
} CtlEol;

typedef struct Ctl {
        /* global options */
        const char *address;            /* --address or $FBUILD_ADDRESS: peer-to-peer, no bus daemon */
        const char *host;               /* -H: the system bus of user@host over SSH */
        CtlJson json;
        bool quiet;                     /* -q: no progress */
        bool verbose;                   /* -v: the plan, and what fbuildctl decided */
        bool no_legend;                 /* --no-legend: tables without their header */

        /* job options, forwarded to the service as a{sv} */
        const char *port;               /* --port, or PORT for trust and monitor */
        const char *pio_env;            /* -e: the PlatformIO environment */
        bool force;                     /* --force: deploy even if another process holds the port */
        const char *loader;             /* --loader: auto | stub | rom; NULL: the service's Loader= */
        int trust;                      /* -1: service default, 0: --no-trust */
        uint32_t baud;                  /* 0: unset */
        const char *chip, *before, *after;

        /* monitor options */
        bool monitor;                   /* deploy --monitor */
        bool write;                     /* --write: input goes to the device */
        const char *elf;                /* --elf, or the build's: decodes crashes */
        bool timestamps;                /* --timestamps: each line stamped */
        const char *log_path;           /* --log FILE: what is shown, appended there too */
        CtlEol eol;                     /* --eol: what Enter sends */
        bool raw;                       /* --raw: bytes as they come, both ways */
        bool no_reset;                  /* monitor --no-reset: no reset on start */
        bool bootloader;                /* reset --bootloader */

        /* runtime */
        sd_bus *bus;
        sd_event *event;
        bool peer_to_peer;
        const char *verb;
        bool ask_password;              /* unless --no-ask-password: polkit may ask on the terminal */
        pid_t polkit_agent;             /* pkttyagent, while it runs (ctl-polkit.c) */
} Ctl;

/* ctl-polkit.c: interactive authorization with pkttyagent on the terminal. */
bool ctl_polkit_wanted(const Ctl *c);
int ctl_polkit_agent_open(Ctl *c);
void ctl_polkit_agent_close(Ctl *c);

void ctl_done(Ctl *c);

/* Messages for the user go to stderr, prefixed "fbuildctl: ". */
void ctl_log(const char *format, ...) _printf_(1, 2);

/* Opens the connection the options ask for and attaches it to an event loop:
 * CTL_EXIT_SUCCESS, or an exit code after printing why. */
CtlExit ctl_connect(Ctl *c);
/* A method call on the service's object (no destination peer-to-peer). */
int ctl_new_call(Ctl *c, const char *member, sd_bus_message **ret);
/* A short synchronous call: 0 with *ret_reply, or an exit code > 0 after
 * reporting the error (and, with --json, printing it as JSON). */
CtlExit ctl_call(Ctl *c, sd_bus_message *m, sd_bus_message **ret_reply);

/* Reports a failed call: prints the message (and with --json a JSON object
 * with the error on stdout) and returns the exit code for it. */
CtlExit ctl_report_error(Ctl *c, const char *what, const sd_bus_error *e, int r);
/* A failure found here: the message on stderr and, with --json, the same
 * message in the error object. Returns code. */
CtlExit ctl_fail(Ctl *c, CtlExit code, const char *format, ...) _printf_(3, 4);
/* With --json, prints {"error": {...}, "exit_code": N} for a local failure. */
void ctl_json_error(Ctl *c, const char *name, const char *message, CtlExit code);

/* Adds "schema" and prints v to stdout in the --json mode, and a newline. */
void ctl_json_print(Ctl *c, JsonValue *v);

/* Reads the next complete value of m, whatever its type, as JSON: variants
 * unwrapped, dicts as objects, structs as arrays, byte arrays as hex strings. */
int ctl_message_read_json(sd_bus_message *m, JsonValue **ret);

/* ---- devices (ctl-devices.c) -------------------------------------------------------- */

/* ListDevices: 0 or an exit code after reporting. */
CtlExit ctl_list_devices(Ctl *c, CtlDevice **ret, size_t *ret_n);
/* The port the user named: --port (or PORT), else $FBUILD_PORT, else
 * $ESPPORT (ESP-IDF's), else NULL. */
const char *ctl_port_wanted(const Ctl *c);
/* The port to work on: ctl_port_wanted(), or the one device ListDevices offers whose
 * chip (if the service reports one) fits chip. Prints the candidates when
 * there are none or several. *ret_device is set when the port is listed. */
CtlExit ctl_pick_port(Ctl *c, const char *chip, char **ret_port, JsonValue **ret_device);
/* A verb's positional PORT (NULL: none) as --port: refused if --port names another. */
CtlExit ctl_take_port_argument(Ctl *c, const char *port);

/* ---- monitor (ctl-monitor.c) ------------------------------------------------------- */

/* The console's rate unless --baud says otherwise (ESP-IDF's default). */
#define CTL_MONITOR_BAUD 115200u

typedef struct CtlMonitor CtlMonitor;
CtlMonitor *ctl_monitor_free(CtlMonitor *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(CtlMonitor *, ctl_monitor_free);

/* Monitor(port, baud, {write}): from here on the stream is read on c->event and
 * kept in memory (the tail of it) until ctl_monitor_run(), so that a deploy run
 * on the same loop meanwhile loses none of it. 0 or an exit code after reporting. */
CtlExit ctl_monitor_open(Ctl *c, const char *port, uint32_t baud, bool write, CtlMonitor **ret);
/* Prints what was kept, resets the board if asked (Reset: the output from its
 * boot on), then follows the stream (terminal: raw, Ctrl-] quits, Ctrl-T keys)
 * until the user stops it (0) or it ends: 3 device gone, 5 another reason
 * from the service, 1 closed without one. */
CtlExit ctl_monitor_run(CtlMonitor *m, bool terminal, bool reset);

/* ---- verbs -------------------------------------------------------------------------- */

int verb_devices(Ctl *c, int argc, char **argv);
int verb_deploy(Ctl *c, int argc, char **argv);
int verb_verify(Ctl *c, int argc, char **argv);
int verb_trust(Ctl *c, int argc, char **argv);
int verb_monitor(Ctl *c, int argc, char **argv);
int verb_reset(Ctl *c, int argc, char **argv);

/* Reset(port, bootloader): 0, or an exit code after reporting. */
CtlExit ctl_reset(Ctl *c, const char *port, bool bootloader);
