/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fbuildctl: the command line client of fbuild-deployd. Parses the command
 * line (options may come before or after the command, as in systemctl),
 * checks each option is one the command takes, and dispatches. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

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
        ARG_NO_ASK_PASSWORD,
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
        OPT_JOB      = OPT_PORT | OPT_NO_TRUST | OPT_BAUD | OPT_CHIP | OPT_BEFORE | OPT_AFTER | OPT_QUIET,
        /* Not an option: the command's --baud is the console's (monitor). */
        OPT_CONSOLE  = 1u << 9,
};

static const char exit_codes_help[] =
        "Exit status:\n"
        "  0  done (verify: every region matches; monitor: stopped by you)\n"
        "  1  other failure (service unreachable, unexpected error;\n"
        "     monitor: the service closed it without a reason)\n"
        "  2  invalid usage or input (arguments, sources, options, chip mismatch,\n"
        "     several devices attached and no --port)\n"
        "  3  device not found (no such port, no device attached;\n"
        "     monitor: the device went away for good)\n"
        "  4  permission denied\n"
        "  5  device error (timeout, protocol or flash error, busy;\n"
        "     monitor: ended for another reason the service gave)\n"
        "  6  cancelled (Ctrl-C, or Cancel from another client)\n"
        "  7  verify: some region differs from the device\n";

static const char global_options_help[] =
        "Connection and output:\n"
        "      --address=ADDRESS  Talk to the service's own socket, peer to peer\n"
        "                         (e.g. unix:path=/run/fbuild-deployd/bus)\n"
        "  -H, --host=USER@HOST   Use the system bus of a remote machine over SSH\n"
        "      --json             Print one JSON object on stdout\n"
        "      --no-ask-password  Never ask for a password (on a terminal, polkit\n"
        "                         may ask for an administrator's, as with systemctl)\n"
        "  -h, --help             Show help (fbuildctl COMMAND --help for a command)\n"
        "      --version          Show the version\n";

/* Per-command options, each with the bit that lets a command take it. */
static const struct {
        unsigned bit;
        const char *name;
        const char *help;
} job_options[] = {
        { OPT_PORT,     "port",     "  -p, --port=PORT        Device node (/dev/ttyUSB0); optional with one device attached\n" },
        { OPT_NO_TRUST, "no-trust", "      --no-trust         Check the device even if it is trusted to hold the image\n" },
        { OPT_BAUD,     "baud",     "  -b, --baud=BAUD        Baud rate for the transfer (default: the service's,\n"
                                    "                         921600 on USB-UART bridges)\n" },
        { OPT_CHIP,     "chip",     "  -c, --chip=CHIP        The chip the image is for (esp32, esp32s3, esp32c3, …);\n"
                                    "                         the service refuses another chip\n" },
        { OPT_BEFORE,   "before",   "      --before=RESET     default | usb | none | classic | unix-tight\n" },
        { OPT_AFTER,    "after",    "      --after=RESET      default (hard reset into the app) | none\n" },
        { OPT_QUIET,    "quiet",    "  -q, --quiet            No progress output\n" },
        { OPT_MONITOR,  "monitor",  "      --monitor          Then show the device's serial output from its first\n"
                                    "                         boot byte on (as fbuildctl monitor, at 115200 baud)\n" },
        { OPT_WRITE,    "write",    "      --write            Send standard input to the device even when it is not a\n"
                                    "                         terminal (on a terminal, keys always go to the device)\n" },
};

static void print_job_options(unsigned mask) {
        if (!(mask & OPT_JOB))
                return;
        printf("Options:\n");
        for (size_t i = 0; i < ELEMENTSOF(job_options); i++) {
                if (!(mask & job_options[i].bit))
                        continue;
                if (job_options[i].bit == OPT_BAUD && (mask & OPT_CONSOLE))
                        fputs("  -b, --baud=BAUD        The console's baud rate (default: 115200)\n", stdout);
                else
                        fputs(job_options[i].help, stdout);
        }
        printf("\n");
}

static const char sources_help[] =
        "SOURCE is one of:\n"
        "  an ESP-IDF build directory (or its project, or its flasher_args.json):\n"
        "      regions, chip and reset choices from flasher_args.json\n"
        "  a PlatformIO build: .pio/build/ENV, or a project with one environment:\n"
        "      idedata.json's flash images, else bootloader.bin at the chip's\n"
        "      bootloader offset, partitions.bin at 0x8000, boot_app0.bin at 0xe000,\n"
        "      firmware.bin at 0x10000\n"
        "  OFFSET=FILE, e.g. 0x10000=app.bin\n"
        "Several SOURCEs combine; their regions must not overlap.\n";

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
          "Lists the USB serial devices the service sees: port, kind, VID:PID, serial,\n"
          "chip when known, whether the device is trusted, and who owns the port.\n" },
        { "deploy", 2, 1 + 64, OPT_JOB | OPT_MONITOR | OPT_WRITE, verb_deploy,
          "deploy [OPTIONS] SOURCE...",
          "Write an image, skipping what the device already holds",
          "Deploys the image to the device: the service skips it entirely when the\n"
          "device is trusted to hold it (trust-skip) or already matches (verify-skip),\n"
          "and otherwise writes only the regions that differ. Files are opened by\n"
          "fbuildctl and passed as file descriptors. Progress goes to stderr (a bar on\n"
          "a terminal, plain lines otherwise); the outcome and the written ranges to\n"
          "stdout. Ctrl-C cancels the job; a second Ctrl-C stops waiting for it.\n"
          "With --monitor, a monitor of the port is opened before the deploy starts,\n"
          "so the service pauses it for the job and resumes it before the chip leaves\n"
          "reset: after the outcome comes the device's output, the new firmware's boot\n"
          "from its first byte, and then on as with fbuildctl monitor.\n" },
        { "verify", 2, 1 + 64, OPT_JOB & ~OPT_NO_TRUST, verb_verify,
          "verify [OPTIONS] SOURCE...",
          "Compare an image with the device",
          "Compares each region with the device's flash (on-chip MD5) and prints\n"
          "which match. Exits 7 when any region differs.\n" },
        { "trust", 2, 3, OPT_PORT, verb_trust,
          "trust show|forget [PORT]",
          "Show or forget the image a device is trusted to hold",
          "show: whether the service trusts the device to hold an image, since when,\n"
          "and why trust was last lost. forget: drop that trust, so that the next\n"
          "deploy checks the device. PORT is optional with one device attached.\n" },
        { "monitor", 1, 2, OPT_PORT | OPT_BAUD | OPT_WRITE | OPT_CONSOLE, verb_monitor,
          "monitor [OPTIONS] [PORT]",
          "Show a device's serial output (and type to it)",
          "Attaches a serial monitor through the service, so that a deploy from anywhere\n"
          "pauses it (\"[fbuild-deployd] paused: …\" in the output, a notice on stderr)\n"
          "and resumes it in time for the new firmware's first boot byte, instead of\n"
          "failing with \"port busy\". On a terminal: raw, every key goes to the device\n"
          "(Ctrl-C too), and Ctrl-] quits. Otherwise: the output as it comes, input\n"
          "only with --write; Ctrl-C or SIGTERM stops it. It ends by itself when the\n"
          "device is gone for good (exit 3) or the service ends it (exit 5, or 1 without\n"
          "a reason). PORT (or --port) is optional with one device attached.\n" },
};

static const Verb *verb_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (strcmp(verbs[i].name, name) == 0)
                        return &verbs[i];
        return NULL;
}

static void help_main(void) {
        printf("fbuildctl [OPTIONS] COMMAND …\n\n"
               "Deploy firmware to ESP32-family boards through fbuild-deployd.\n\n"
               "Commands:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                printf("  %-26s %s\n", verbs[i].usage, verbs[i].summary);
        printf("\n");
        print_job_options(OPT_JOB | OPT_MONITOR | OPT_WRITE);
        printf("%s\n%s\nSee fbuildctl COMMAND --help, and docs/fbuildctl.md.\n", global_options_help,
               exit_codes_help);
}

static void help_verb(const Verb *v) {
        printf("fbuildctl %s\n\n%s\n", v->usage, v->description);
        if (v->options & OPT_CHIP)
                printf("%s\n", sources_help);
        print_job_options(v->options);
        printf("%s\n%s", global_options_help, exit_codes_help);
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

_printf_(2, 3)
static int usage_error(Ctl *c, const char *format, ...) {
        va_list ap;

        fputs("fbuildctl: ", stderr);
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fputs("\nTry 'fbuildctl --help'.\n", stderr);
        ctl_json_error(c, NULL, "invalid usage", CTL_EXIT_INVALID);
        return CTL_EXIT_INVALID;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "help",     no_argument,       NULL, 'h' },
                { "version",  no_argument,       NULL, ARG_VERSION },
                { "address",  required_argument, NULL, ARG_ADDRESS },
                { "host",     required_argument, NULL, 'H' },
                { "json",     no_argument,       NULL, ARG_JSON },
                { "quiet",    no_argument,       NULL, 'q' },
                { "port",     required_argument, NULL, 'p' },
                { "no-trust", no_argument,       NULL, ARG_NO_TRUST },
                { "baud",     required_argument, NULL, 'b' },
                { "chip",     required_argument, NULL, 'c' },
                { "before",   required_argument, NULL, ARG_BEFORE },
                { "after",    required_argument, NULL, ARG_AFTER },
                { "monitor",  no_argument,       NULL, ARG_MONITOR },
                { "write",    no_argument,       NULL, ARG_WRITE },
                { "no-ask-password", no_argument, NULL, ARG_NO_ASK_PASSWORD },
                {}
        };
        _cleanup_(ctl_done) Ctl c = { .trust = -1, .ask_password = true };
        bool help = false;
        unsigned seen = 0;
        const Verb *v;
        int opt;

        /* Errors are ours to word. */
        opterr = 0;
        while ((opt = getopt_long(argc, argv, ":hH:qp:b:c:", options, NULL)) >= 0) {
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
                        c.json = true;
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
                return usage_error(&c, "Missing command (devices, deploy, verify, trust, monitor)");
        }

        if (strcmp(argv[optind], "help") == 0) {
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
                if (seen & ~v->options & job_options[i].bit) {
                        fprintf(stderr, "fbuildctl: %s does not take --%s\n", v->name, job_options[i].name);
                        ctl_json_error(&c, NULL, "invalid usage", CTL_EXIT_INVALID);
                        return CTL_EXIT_INVALID;
                }
        if (c.address && c.host)
                return usage_error(&c, "--address and --host exclude each other");

        argc -= optind;
        argv += optind;
        if (argc < v->min_args || argc > v->max_args) {
                fprintf(stderr, "fbuildctl: usage: fbuildctl %s\n", v->usage);
                ctl_json_error(&c, NULL, "invalid usage", CTL_EXIT_INVALID);
                return CTL_EXIT_INVALID;
        }
        return v->run(&c, argc, argv);
}
