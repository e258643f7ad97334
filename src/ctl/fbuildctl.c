/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fbuildctl: the command line client of fbuild-deployd. Parses the command
 * line (options may come before or after the command, as in systemctl),
 * checks each option is one the command takes, and dispatches. The manual
 * page (fbuildctl(1), from docs/fbuildctl.md) holds what --help leaves out. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctl.h"
#include "string-util.h"

#ifndef PROJECT_VERSION
#  error "PROJECT_VERSION must be defined by the build"
#endif

enum {
        ARG_VERSION = 0x100,
        ARG_ADDRESS,
        ARG_JSON,
        ARG_NO_TRUST,
        ARG_BEFORE,
        ARG_AFTER,
        ARG_MONITOR,
        ARG_WRITE,
        ARG_NO_LEGEND,
        ARG_NO_PAGER,
        ARG_FORCE,
        ARG_LOADER,
        ARG_NO_ASK_PASSWORD,
        ARG_ELF,
        ARG_TIMESTAMPS,
        ARG_LOG,
        ARG_EOL,
        ARG_RAW,
        ARG_RESET,
        ARG_NO_RESET,
        ARG_BOOTLOADER,
};

/* Which options a command takes; global ones every command takes. */
enum {
        OPT_PORT     = 1u << 0,
        OPT_NO_TRUST = 1u << 1,
        OPT_BAUD     = 1u << 2,
        OPT_CHIP     = 1u << 3,
        OPT_BEFORE   = 1u << 4,
        OPT_AFTER    = 1u << 5,
        OPT_QUIET    = 1u << 6,
        OPT_MONITOR  = 1u << 7,
        OPT_WRITE    = 1u << 8,
        OPT_ENV      = 1u << 9,
        OPT_FORCE    = 1u << 10,
        OPT_JOB      = OPT_PORT | OPT_NO_TRUST | OPT_BAUD | OPT_CHIP | OPT_BEFORE | OPT_AFTER | OPT_QUIET | OPT_ENV,
        /* Not an option: the command's --baud is the console's (monitor). */
        OPT_CONSOLE  = 1u << 11,
        OPT_ELF      = 1u << 12,
        OPT_TIMESTAMPS = 1u << 13,
        OPT_LOG      = 1u << 14,
        OPT_EOL      = 1u << 15,
        OPT_RAW      = 1u << 16,
        OPT_RESET    = 1u << 17,
        OPT_BOOTLOADER = 1u << 18,
        OPT_LOADER   = 1u << 19,
        /* How the monitor shows and sends: monitor, and deploy --monitor. */
        OPT_SHOW     = OPT_WRITE | OPT_ELF | OPT_TIMESTAMPS | OPT_LOG | OPT_EOL | OPT_RAW,
};

/* Help stays short: the details, the exit status and the JSON schema are in
 * the manual page, which is built from docs/fbuildctl.md. */
static const char global_options_help[] =
        "Global options:\n"
        "      --address=ADDRESS  The service's own socket (default: $FBUILD_ADDRESS,\n"
        "                         else the system bus)\n"
        "  -H, --host=USER@HOST   The system bus of a remote machine, over SSH\n"
        "      --json=MODE        short, pretty or off: one JSON object on stdout\n"
        "      --no-legend        Tables without their header line\n"
        "      --no-pager         Accepted for systemd habits (fbuildctl never pages)\n"
        "      --no-ask-password  Never ask for a password (on a terminal, polkit\n"
        "                         may ask for an administrator's, as with systemctl)\n"
        "  -v, --verbose          Also print the plan: every region, its offset and file\n"
        "  -h, --help             This help; --version: the version\n";

/* Per-command options, each with the bit that lets a command take it. */
static const struct {
        unsigned bit;
        const char *name;
        const char *help;
} job_options[] = {
        { OPT_PORT,     "port",     "  -p, --port=PORT        Device node (default: $FBUILD_PORT, $ESPPORT,\n"
                                    "                         else the only attached board)\n" },
        { OPT_ENV,      "environment", "  -e, --environment=ENV  The PlatformIO environment (.pio/build/ENV)\n" },
        { OPT_NO_TRUST, "no-trust", "      --no-trust         Check the device even if it is trusted to hold the image\n" },
        { OPT_FORCE,    "force",    "      --force            Deploy even if another process has the port open\n" },
        { OPT_LOADER,   "loader",   "      --loader=LOADER    auto (the flasher stub when it pays) | stub | rom\n" },
        { OPT_BAUD,     "baud",     "  -b, --baud=BAUD        Transfer baud rate (default: the service's)\n" },
        { OPT_CHIP,     "chip",     "  -c, --chip=CHIP        The chip the image is for (esp32, esp32s3, esp32c3, …)\n" },
        { OPT_BEFORE,   "before",   "      --before=RESET     default | usb | none | classic | unix-tight\n" },
        { OPT_AFTER,    "after",    "      --after=RESET      default (hard reset into the app) | none\n" },
        { OPT_QUIET,    "quiet",    "  -q, --quiet            No progress output\n" },
        { OPT_MONITOR,  "monitor",  "      --monitor          Then show the device's output from its first boot byte\n" },
        { OPT_WRITE,    "write",    "      --write            Send standard input to the device even when it is not\n"
                                    "                         a terminal\n" },
        { OPT_ELF,      "elf",      "      --elf=FILE         Decode crash backtraces with this ELF (deploy --monitor:\n"
                                    "                         the build's own)\n" },
        { OPT_TIMESTAMPS, "timestamps", "      --timestamps       Each line of output stamped with the time it came\n" },
        { OPT_LOG,      "log",      "      --log=FILE         Append what is shown to FILE too\n" },
        { OPT_EOL,      "eol",      "      --eol=CR|LF|CRLF   What Enter sends (default: as typed)\n" },
        { OPT_RAW,      "raw",      "      --raw              Bytes as they come, both ways: no stamps, decoding or --eol\n" },
        { OPT_RESET,    "no-reset", "      --no-reset         Do not reset the board on start (--reset: do, the default)\n" },
        { OPT_BOOTLOADER, "bootloader", "      --bootloader       Into the ROM's download mode, not the application\n" },
};

static void print_job_options(unsigned mask) {
        if (!(mask & (OPT_JOB | OPT_FORCE | OPT_LOADER | OPT_MONITOR | OPT_SHOW | OPT_RESET | OPT_BOOTLOADER)))
                return;
        printf("Options:\n");
        for (size_t i = 0; i < ELEMENTSOF(job_options); i++) {
                if (!(mask & job_options[i].bit))
                        continue;
                /* deploy keeps its help short: monitor's own lists them. */
                if ((mask & OPT_MONITOR) && (job_options[i].bit & OPT_SHOW & ~OPT_WRITE)) {
                        if (job_options[i].bit == OPT_ELF)
                                fputs("      --elf --timestamps --log --eol --raw: with --monitor, as for monitor\n",
                                      stdout);
                        continue;
                }
                if (job_options[i].bit == OPT_BAUD && (mask & OPT_CONSOLE))
                        fputs("  -b, --baud=BAUD        The console's baud rate (default: 115200)\n", stdout);
                else
                        fputs(job_options[i].help, stdout);
        }
        printf("\n");
}

static const char sources_help[] =
        "SOURCE (default: .): an ESP-IDF project or build directory, a PlatformIO\n"
        "project or .pio/build/ENV, OFFSET=FILE, or esptool's OFFSET FILE.\n";

typedef struct Verb {
        const char *name;
        int min_args, max_args;         /* counting the command itself */
        unsigned options;
        int (*run)(Ctl *c, int argc, char **argv);
        const char *usage;
        const char *summary;
        const char *description;
} Verb;

static const Verb verbs[] = {
        { "devices", 1, 1, 0, verb_devices,
          "devices",
          "List attached serial devices",
          "Lists the serial devices the service sees, the chip last detected on each,\n"
          "whether it is trusted, and who has the port.\n" },
        { "deploy", 1, 1 + 128, OPT_JOB | OPT_FORCE | OPT_LOADER | OPT_MONITOR | OPT_SHOW, verb_deploy,
          "deploy [OPTIONS] [SOURCE...]",
          "Write an image, skipping what the device already holds",
          "Writes only what differs; nothing at all when the device is trusted to\n"
          "hold the image. Ctrl-C cancels.\n" },
        { "verify", 1, 1 + 128, (OPT_JOB & ~OPT_NO_TRUST), verb_verify,
          "verify [OPTIONS] [SOURCE...]",
          "Compare an image with the device",
          "Compares each region with the device's flash (on-chip MD5); exits 7 when\n"
          "any region differs.\n" },
        { "trust", 2, 3, OPT_PORT, verb_trust,
          "trust show|forget [PORT]",
          "Show or forget the image a device is trusted to hold",
          "show: whether the device is trusted to hold an image, and why trust was\n"
          "last lost. forget: drop that trust, so the next deploy checks the device.\n" },
        { "monitor", 1, 2, OPT_PORT | OPT_BAUD | OPT_SHOW | OPT_RESET | OPT_CONSOLE, verb_monitor,
          "monitor [OPTIONS] [PORT]",
          "Show a device's serial output (and type to it)",
          "A serial monitor through the service: a deploy pauses it and it resumes\n"
          "for the new firmware's first boot byte. The board is reset on start. On a\n"
          "terminal, Ctrl-] quits; Ctrl-T Ctrl-R resets, Ctrl-T Ctrl-P resets into the\n"
          "bootloader, Ctrl-T Ctrl-H lists the keys.\n" },
        { "reset", 1, 2, OPT_PORT | OPT_BOOTLOADER, verb_reset,
          "reset [--bootloader] [PORT]",
          "Reset a board into its application (or its bootloader)",
          "Resets the chip as esptool's hard reset does (EN pulsed low), or with\n"
          "--bootloader into the ROM's download mode. Monitors keep listening.\n" },
};

static const Verb *verb_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verbs[i].name, name))
                        return &verbs[i];
        return NULL;
}

static void help_main(void) {
        printf("fbuildctl [OPTIONS] COMMAND …\n\n"
               "Deploy firmware to ESP32-family boards through fbuild-deployd.\n\n"
               "Commands:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                printf("  %-30s %s\n", verbs[i].usage, verbs[i].summary);
        printf("\n%s\nSee 'fbuildctl COMMAND --help', and fbuildctl(1) for the details and the exit status.\n",
               global_options_help);
}

static void help_verb(const Verb *v) {
        printf("fbuildctl %s\n\n%s\n", v->usage, v->description);
        if (v->options & OPT_CHIP)
                printf("%s\n", sources_help);
        print_job_options(v->options);
        printf("%s\nSee fbuildctl(1) for the details and the exit status.\n", global_options_help);
}

static int parse_baud(const char *s, uint32_t *ret) {
        char *end;
        unsigned long v;

        if (!s || *s < '1' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || *end || v > UINT32_MAX)
                return -EINVAL;
        *ret = (uint32_t) v;
        return 0;
}

/* The message goes to stderr, and with --json into the error object too. */
_printf_(2, 3)
static int usage_error(Ctl *c, const char *format, ...) {
        char message[512];
        va_list ap;

        va_start(ap, format);
        (void) vsnprintf(message, sizeof(message), format, ap);
        va_end(ap);
        fprintf(stderr, "fbuildctl: %s\nTry 'fbuildctl %s%s--help'.\n", message, c->verb ? c->verb : "",
                c->verb ? " " : "");
        ctl_json_error(c, NULL, message, CTL_EXIT_INVALID);
        return CTL_EXIT_INVALID;
}

static int parse_json_mode(const char *s, CtlJson *ret) {
        if (!s)
                *ret = CTL_JSON_AUTO;
        else if (streq(s, "short"))
                *ret = CTL_JSON_SHORT;
        else if (streq(s, "pretty"))
                *ret = CTL_JSON_PRETTY;
        else if (streq(s, "off"))
                *ret = CTL_JSON_OFF;
        else
                return -EINVAL;
        return 0;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "help",     no_argument,       NULL, 'h' },
                { "version",  no_argument,       NULL, ARG_VERSION },
                { "address",  required_argument, NULL, ARG_ADDRESS },
                { "host",     required_argument, NULL, 'H' },
                { "json",     optional_argument, NULL, ARG_JSON },
                { "no-legend", no_argument,      NULL, ARG_NO_LEGEND },
                { "no-pager", no_argument,       NULL, ARG_NO_PAGER },
                { "quiet",    no_argument,       NULL, 'q' },
                { "verbose",  no_argument,       NULL, 'v' },
                { "environment", required_argument, NULL, 'e' },
                { "force",    no_argument,       NULL, ARG_FORCE },
                { "loader",   required_argument, NULL, ARG_LOADER },
                { "port",     required_argument, NULL, 'p' },
                { "no-trust", no_argument,       NULL, ARG_NO_TRUST },
                { "baud",     required_argument, NULL, 'b' },
                { "chip",     required_argument, NULL, 'c' },
                { "before",   required_argument, NULL, ARG_BEFORE },
                { "after",    required_argument, NULL, ARG_AFTER },
                { "monitor",  no_argument,       NULL, ARG_MONITOR },
                { "write",    no_argument,       NULL, ARG_WRITE },
                { "no-ask-password", no_argument, NULL, ARG_NO_ASK_PASSWORD },
                { "elf",      required_argument, NULL, ARG_ELF },
                { "timestamps", no_argument,     NULL, ARG_TIMESTAMPS },
                { "log",      required_argument, NULL, ARG_LOG },
                { "eol",      required_argument, NULL, ARG_EOL },
                { "raw",      no_argument,       NULL, ARG_RAW },
                { "reset",    no_argument,       NULL, ARG_RESET },
                { "no-reset", no_argument,       NULL, ARG_NO_RESET },
                { "bootloader", no_argument,     NULL, ARG_BOOTLOADER },
                {}
        };
        _cleanup_(ctl_done) Ctl c = { .trust = -1, .ask_password = true };
        bool help = false;
        unsigned seen = 0;
        const Verb *v;
        int opt;

        /* Errors are ours to word. */
        opterr = 0;
        while ((opt = getopt_long(argc, argv, ":hH:qvp:b:c:e:", options, NULL)) >= 0) {
                switch (opt) {
                case 'h':
                        help = true;
                        break;
                case ARG_VERSION:
                        printf("fbuildctl %s\n", PROJECT_VERSION);
                        return CTL_EXIT_SUCCESS;
                case ARG_ADDRESS:
                        c.address = optarg;
                        break;
                case 'H':
                        c.host = optarg;
                        break;
                case ARG_JSON:
                        if (parse_json_mode(optarg, &c.json) < 0)
                                return usage_error(&c, "Invalid --json mode '%s' (expected short, pretty or off)",
                                                   optarg);
                        break;
                case ARG_NO_LEGEND:
                        c.no_legend = true;
                        break;
                case ARG_NO_PAGER:
                        break;          /* nothing pages; accepted so that habits do not fail */
                case 'v':
                        c.verbose = true;
                        break;
                case 'e':
                        c.pio_env = optarg;
                        seen |= OPT_ENV;
                        break;
                case ARG_FORCE:
                        c.force = true;
                        seen |= OPT_FORCE;
                        break;
                case ARG_LOADER:
                        if (!STR_IN_SET(optarg, "auto", "stub", "rom"))
                                return usage_error(&c, "Invalid --loader '%s' (expected auto, stub or rom)", optarg);
                        c.loader = optarg;
                        seen |= OPT_LOADER;
                        break;
                case 'q':
                        c.quiet = true;
                        seen |= OPT_QUIET;
                        break;
                case 'p':
                        c.port = optarg;
                        seen |= OPT_PORT;
                        break;
                case ARG_NO_TRUST:
                        c.trust = 0;
                        seen |= OPT_NO_TRUST;
                        break;
                case 'b':
                        if (parse_baud(optarg, &c.baud) < 0)
                                return usage_error(&c, "Invalid baud rate '%s'", optarg);
                        seen |= OPT_BAUD;
                        break;
                case 'c':
                        c.chip = optarg;
                        seen |= OPT_CHIP;
                        break;
                case ARG_BEFORE:
                        c.before = optarg;
                        seen |= OPT_BEFORE;
                        break;
                case ARG_AFTER:
                        c.after = optarg;
                        seen |= OPT_AFTER;
                        break;
                case ARG_MONITOR:
                        c.monitor = true;
                        seen |= OPT_MONITOR;
                        break;
                case ARG_WRITE:
                        c.write = true;
                        seen |= OPT_WRITE;
                        break;
                case ARG_NO_ASK_PASSWORD:
                        c.ask_password = false;
                        break;
                case ARG_ELF:
                        c.elf = optarg;
                        seen |= OPT_ELF;
                        break;
                case ARG_TIMESTAMPS:
                        c.timestamps = true;
                        seen |= OPT_TIMESTAMPS;
                        break;
                case ARG_LOG:
                        c.log_path = optarg;
                        seen |= OPT_LOG;
                        break;
                case ARG_EOL:
                        if (strcasecmp(optarg, "CR") == 0)
                                c.eol = CTL_EOL_CR;
                        else if (strcasecmp(optarg, "LF") == 0)
                                c.eol = CTL_EOL_LF;
                        else if (strcasecmp(optarg, "CRLF") == 0)
                                c.eol = CTL_EOL_CRLF;
                        else
                                return usage_error(&c, "Invalid --eol '%s' (expected CR, LF or CRLF)", optarg);
                        seen |= OPT_EOL;
                        break;
                case ARG_RAW:
                        c.raw = true;
                        seen |= OPT_RAW;
                        break;
                case ARG_RESET:
                case ARG_NO_RESET:
                        c.no_reset = opt == ARG_NO_RESET;
                        seen |= OPT_RESET;
                        break;
                case ARG_BOOTLOADER:
                        c.bootloader = true;
                        seen |= OPT_BOOTLOADER;
                        break;
                case ':':
                        return usage_error(&c, "Option '%s' needs an argument", argv[optind - 1]);
                default:
                        if (optopt > 0 && optopt < 0x100)
                                return usage_error(&c, "Unknown option '-%c'", optopt);
                        return usage_error(&c, "Unknown option '%s'", argv[optind - 1]);
                }
        }

        if (optind >= argc) {
                if (help) {
                        help_main();
                        return CTL_EXIT_SUCCESS;
                }
                return usage_error(&c, "Missing command (devices, deploy, verify, trust, monitor, reset)");
        }

        if (streq(argv[optind], "help")) {
                if (optind + 1 >= argc) {
                        help_main();
                        return CTL_EXIT_SUCCESS;
                }
                v = verb_find(argv[optind + 1]);
                if (!v)
                        return usage_error(&c, "Unknown command '%s'", argv[optind + 1]);
                help_verb(v);
                return CTL_EXIT_SUCCESS;
        }

        v = verb_find(argv[optind]);
        if (!v)
                return usage_error(&c, "Unknown command '%s'", argv[optind]);
        c.verb = v->name;
        if (help) {
                help_verb(v);
                return CTL_EXIT_SUCCESS;
        }

        for (size_t i = 0; i < ELEMENTSOF(job_options); i++)
                if (seen & ~v->options & job_options[i].bit)
                        return usage_error(&c, "%s does not take --%s", v->name, job_options[i].name);
        if (c.raw && (seen & (OPT_TIMESTAMPS | OPT_EOL | OPT_ELF)))
                return usage_error(&c, "--raw shows bytes as they come: it excludes --timestamps, --eol and --elf");
        if (c.address && c.host)
                return usage_error(&c, "--address and --host exclude each other");

        argc -= optind;
        argv += optind;
        if (argc < v->min_args || argc > v->max_args)
                return usage_error(&c, "usage: fbuildctl %s", v->usage);
        return v->run(&c, argc, argv);
}
