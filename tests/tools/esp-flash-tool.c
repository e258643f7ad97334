/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* esp-flash-tool: a small command line front end to the loader and flash layers,
 * used by the end-to-end tests and the demo. Its options and its JSON-lines
 * output on stdout are a contract (see --help); diagnostics go to stderr. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "digest.h"
#include "esp-loader.h"
#include "fd-util.h"
#include "flash-stub.h"
#include "flash-write.h"
#include "log.h"
#include "macro.h"
#include "transport-serial.h"

#define DEFAULT_BAUD 115200u                 /* the ROM's own rate */
#define DEFAULT_CONNECT_ATTEMPTS 7u          /* esptool's default */

typedef enum Command {
        COMMAND_INFO,
        COMMAND_VERIFY,
        COMMAND_WRITE,
} Command;

typedef enum After {
        AFTER_DEFAULT,                       /* write: hard reset; others: stay */
        AFTER_HARD_RESET,
        AFTER_NO_RESET,
} After;

typedef struct Region {
        uint32_t offset;
        const char *path;
        uint8_t *data;
        size_t size;
} Region;

typedef struct Options {
        const char *port;
        EspResetStrategy reset;
        uint32_t baud;
        unsigned connect_attempts;
        After after;
        uint32_t flash_size;
        const char *stub_path;
        bool progress;
        Command command;
        Region *regions;
        size_t n_regions;
} Options;

/* The transport, for the signal handler: writing to its eventfd is
 * async-signal-safe and makes every blocking call return -ECANCELED. */
static Transport *volatile interrupt_target;

static void on_signal(int sig) {
        Transport *t = interrupt_target;

        if (t)
                transport_interrupt(t);
}

static void help(void) {
        printf("Usage: esp-flash-tool --port=PATH [OPTIONS] COMMAND [ARGS]\n"
               "\n"
               "Flash ESP32-family chips over the ESP serial bootloader protocol.\n"
               "\n"
               "Commands:\n"
               "  info                     Connect, detect the chip and its flash, print them\n"
               "  verify OFFSET=FILE...    Compare each file with the flash at OFFSET (on-chip MD5)\n"
               "  write OFFSET=FILE...     Write each file compressed at OFFSET, check it by MD5,\n"
               "                           then hard reset the chip into its application\n"
               "  OFFSET is decimal or 0x-prefixed hexadecimal.\n"
               "\n"
               "Options:\n"
               "  -p --port=PATH           Serial port (/dev/ttyUSB0); required\n"
               "  -r --reset=MODE          How to enter download mode: classic (DTR/RTS one line\n"
               "                           after the other), unix-tight (both lines at once),\n"
               "                           usb-jtag (USB-Serial-JTAG peripheral), none (already\n"
               "                           in download mode). Default: unix-tight\n"
               "  -b --baud=N              Switch to N baud after connecting (default: stay at\n"
               "                           115200)\n"
               "  -c --connect-attempts=N  Reset-and-sync attempts before giving up (default: 7)\n"
               "  -a --after=MODE          hard-reset (RTS pulse into the application) or no-reset\n"
               "                           (stay in the loader). Default: hard-reset after write,\n"
               "                           no-reset after info and verify\n"
               "     --flash-size=BYTES    Use this flash size instead of the detected one\n"
               "     --stub=FILE           Upload and run this flasher stub (esptool JSON format)\n"
               "     --progress            Report write progress on stderr\n"
               "  -v --verbose             Debug messages on stderr\n"
               "  -h --help                Show this help\n"
               "\n"
               "Output: JSON lines on stdout. After connecting, one line describing the chip:\n"
               "  {\"chip\":\"esp32\",\"flash_size\":4194304,\"flash_id\":\"0x1640c8\",\"usb_jtag\":false,\"stub\":false}\n"
               "then one line per region:\n"
               "  verify: {\"offset\":65536,\"size\":N,\"matched\":true,\"md5\":\"<device MD5>\"}\n"
               "  write:  {\"offset\":65536,\"size\":N,\"written\":true,\"wire_bytes\":N,\"md5\":\"<MD5>\"}\n"
               "and last {\"result\":\"ok\"}, or {\"result\":\"error\",\"errno\":N,\"error\":\"...\"}\n"
               "with exit status 1. Diagnostics go to stderr.\n");
}

/* ---- output ------------------------------------------------------------------ */

static void json_string(FILE *f, const char *s) {
        fputc('"', f);
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;

                if (c == '"' || c == '\\')
                        fprintf(f, "\\%c", c);
                else if (c < 0x20)
                        fprintf(f, "\\u%04x", c);
                else
                        fputc(c, f);
        }
        fputc('"', f);
}

static void hex16(const uint8_t d[16], char out[33]) {
        for (size_t i = 0; i < 16; i++)
                sprintf(out + 2 * i, "%02x", d[i]);
}

static void emit_error(int r, const char *what) {
        char msg[512];

        snprintf(msg, sizeof(msg), "%s: %s", what, strerror(ERRNO_ABS(r)));
        printf("{\"result\":\"error\",\"errno\":%d,\"error\":", ERRNO_ABS(r));
        json_string(stdout, msg);
        printf("}\n");
        fflush(stdout);
}

/* ---- arguments --------------------------------------------------------------- */

static int parse_u32(const char *s, uint32_t *ret) {
        unsigned long long v;
        char *end;
        int base = 10;

        if (!s || !*s || *s == '-' || *s == '+')
                return -EINVAL;
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
                base = 16;
                s += 2;
                if (!*s)
                        return -EINVAL;
        }
        errno = 0;
        v = strtoull(s, &end, base);
        if (errno != 0 || *end || v > UINT32_MAX)
                return -EINVAL;
        *ret = (uint32_t) v;
        return 0;
}

static int parse_region(const char *arg, Region *ret) {
        _cleanup_free_ char *copy = strdup(arg);
        char *eq;
        uint32_t offset;
        int r;

        if (!copy)
                return -ENOMEM;
        eq = strchr(copy, '=');
        if (!eq || eq == copy || !eq[1])
                return -EINVAL;
        *eq = 0;
        r = parse_u32(copy, &offset);
        if (r < 0)
                return r;
        *ret = (Region) {
                .offset = offset,
                .path = arg + (eq - copy) + 1,
        };
        return 0;
}

/* Reads a whole regular file (an image region). */
static int read_file(const char *path, uint8_t **ret_data, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        char *data = NULL;
        size_t size = 0;
        int r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        r = fd_read_regular(fd, UINT32_MAX, &data, &size);
        if (r < 0)
                return r == -EISDIR || r == -ESPIPE ? -EINVAL : r;

        *ret_data = (uint8_t *) data;
        *ret_size = size;
        return 0;
}

static void options_done(Options *o) {
        for (size_t i = 0; i < o->n_regions; i++)
                free(o->regions[i].data);
        free(o->regions);
}

enum {
        ARG_FLASH_SIZE = 0x100,
        ARG_STUB,
        ARG_PROGRESS,
};

/* Returns 1 to run, 0 for --help, or a negative errno (message already logged). */
static int parse_argv(int argc, char *argv[], Options *o) {
        static const struct option long_options[] = {
                { "port", required_argument, NULL, 'p' },
                { "reset", required_argument, NULL, 'r' },
                { "baud", required_argument, NULL, 'b' },
                { "connect-attempts", required_argument, NULL, 'c' },
                { "after", required_argument, NULL, 'a' },
                { "flash-size", required_argument, NULL, ARG_FLASH_SIZE },
                { "stub", required_argument, NULL, ARG_STUB },
                { "progress", no_argument, NULL, ARG_PROGRESS },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        uint32_t v;
        int c, r;

        while ((c = getopt_long(argc, argv, "p:r:b:c:a:vh", long_options, NULL)) >= 0) {
                switch (c) {
                case 'p':
                        o->port = optarg;
                        break;
                case 'r':
                        o->reset = esp_reset_strategy_from_string(optarg);
                        if (o->reset < 0)
                                return log_error_errno(EINVAL, "Unknown reset mode '%s'.", optarg);
                        break;
                case 'b':
                        if (parse_u32(optarg, &o->baud) < 0 || o->baud == 0)
                                return log_error_errno(EINVAL, "Invalid baud rate '%s'.", optarg);
                        break;
                case 'c':
                        if (parse_u32(optarg, &v) < 0 || v == 0)
                                return log_error_errno(EINVAL, "Invalid attempt count '%s'.", optarg);
                        o->connect_attempts = v;
                        break;
                case 'a':
                        if (strcmp(optarg, "hard-reset") == 0)
                                o->after = AFTER_HARD_RESET;
                        else if (strcmp(optarg, "no-reset") == 0)
                                o->after = AFTER_NO_RESET;
                        else
                                return log_error_errno(EINVAL, "Unknown --after mode '%s'.", optarg);
                        break;
                case ARG_FLASH_SIZE:
                        if (parse_u32(optarg, &o->flash_size) < 0 || o->flash_size == 0)
                                return log_error_errno(EINVAL, "Invalid flash size '%s'.", optarg);
                        break;
                case ARG_STUB:
                        o->stub_path = optarg;
                        break;
                case ARG_PROGRESS:
                        o->progress = true;
                        break;
                case 'v':
                        log_set_max_level(LOG_DEBUG);
                        break;
                case 'h':
                        help();
                        return 0;
                default:
                        return -EINVAL;
                }
        }

        if (!o->port)
                return log_error_errno(EINVAL, "--port=PATH is required (see --help).");
        if (optind >= argc)
                return log_error_errno(EINVAL, "No command given (info, verify or write).");

        if (strcmp(argv[optind], "info") == 0)
                o->command = COMMAND_INFO;
        else if (strcmp(argv[optind], "verify") == 0)
                o->command = COMMAND_VERIFY;
        else if (strcmp(argv[optind], "write") == 0)
                o->command = COMMAND_WRITE;
        else
                return log_error_errno(EINVAL, "Unknown command '%s'.", argv[optind]);
        optind++;

        if (o->command == COMMAND_INFO) {
                if (optind < argc)
                        return log_error_errno(EINVAL, "info takes no arguments.");
                return 1;
        }
        if (optind >= argc)
                return log_error_errno(EINVAL, "%s needs at least one OFFSET=FILE.",
                                       argv[optind - 1]);

        o->regions = calloc((size_t) (argc - optind), sizeof(Region));
        if (!o->regions)
                return log_error_errno(ENOMEM, "Out of memory.");
        for (; optind < argc; optind++) {
                Region *g = &o->regions[o->n_regions];

                r = parse_region(argv[optind], g);
                if (r < 0)
                        return log_error_errno(r, "Invalid region '%s' (want OFFSET=FILE).",
                                               argv[optind]);
                o->n_regions++;

                r = read_file(g->path, &g->data, &g->size);
                if (r < 0)
                        return log_error_errno(r, "Cannot read %s: %m", g->path);
                if (g->size == 0)
                        return log_error_errno(EINVAL, "%s is empty.", g->path);
                if ((uint64_t) g->offset + g->size > UINT32_MAX)
                        return log_error_errno(EINVAL, "%s does not fit below 4 GiB at 0x%x.",
                                               g->path, g->offset);
        }
        return 1;
}

/* ---- flasher stub (esptool's JSON) ---------------------------------------------- */

static int run_stub_file(EspLoader *l, const char *path) {
        _cleanup_(flash_stub_freep) FlashStub *stub = NULL;
        _cleanup_free_ uint8_t *json = NULL;
        size_t size;
        int r;

        r = read_file(path, &json, &size);
        if (r < 0)
                return log_error_errno(r, "Cannot read %s: %m", path);
        r = flash_stub_parse((const char *) json, size, &stub);
        if (r < 0)
                return log_error_errno(r, "%s is not an esptool stub (entry, text, text_start).", path);

        r = esp_loader_run_stub(l, &stub->image);
        if (r < 0)
                return log_error_errno(r, "Failed to start the flasher stub: %m");
        return 0;
}

/* ---- commands ---------------------------------------------------------------- */

static int on_progress(uint64_t done, uint64_t total, void *userdata) {
        const Region *g = userdata;

        log_info("0x%08" PRIx32 ": %" PRIu64 "/%" PRIu64 " bytes", g->offset, done, total);
        return 0;
}

static void print_info(EspLoader *l) {
        const EspChipInfo *chip = esp_loader_chip(l);

        printf("{\"chip\":");
        json_string(stdout, chip->name);
        printf(",\"flash_size\":%" PRIu32 ",\"flash_id\":\"0x%06" PRIx32 "\",\"usb_jtag\":%s,\"stub\":%s}\n",
               esp_loader_flash_size(l), esp_loader_flash_id(l),
               esp_loader_uses_usb_jtag(l) ? "true" : "false",
               esp_loader_is_stub(l) ? "true" : "false");
        fflush(stdout);
}

static int check_regions_fit(const Options *o, uint32_t flash_size) {
        for (size_t i = 0; i < o->n_regions; i++) {
                const Region *g = &o->regions[i];

                if ((uint64_t) g->offset + g->size > flash_size)
                        return log_error_errno(EFBIG, "%s (%zu bytes at 0x%x) does not fit in %" PRIu32
                                               " bytes of flash.", g->path, g->size, g->offset,
                                               flash_size);
        }
        return 0;
}

static int do_verify(EspLoader *l, const Options *o) {
        for (size_t i = 0; i < o->n_regions; i++) {
                const Region *g = &o->regions[i];
                uint8_t md5[16];
                char hex[33];
                bool match;
                int r;

                r = flash_verify_region(l, g->offset, g->data, g->size, &match, md5);
                if (r < 0)
                        return log_error_errno(r, "Failed to verify %s at 0x%x: %m", g->path,
                                               g->offset);
                hex16(md5, hex);
                printf("{\"offset\":%" PRIu32 ",\"size\":%zu,\"matched\":%s,\"md5\":\"%s\"}\n",
                       g->offset, g->size, match ? "true" : "false", hex);
                fflush(stdout);
        }
        return 0;
}

static int do_write(EspLoader *l, const Options *o) {
        for (size_t i = 0; i < o->n_regions; i++) {
                Region *g = &o->regions[i];
                uint64_t wire = 0;
                uint8_t md5[16];
                char hex[33];
                int r;

                r = flash_write_region(l, g->offset, g->data, g->size,
                                       o->progress ? on_progress : NULL, g, &wire);
                if (r < 0)
                        return log_error_errno(r, "Failed to write %s at 0x%x: %m", g->path,
                                               g->offset);
                /* the write ended with the chip's MD5 equal to this one */
                r = flash_md5(g->data, g->size, md5);
                if (r < 0)
                        return r;
                hex16(md5, hex);
                printf("{\"offset\":%" PRIu32 ",\"size\":%zu,\"written\":true,\"wire_bytes\":%" PRIu64
                       ",\"md5\":\"%s\"}\n",
                       g->offset, g->size, wire, hex);
                fflush(stdout);
        }
        return 0;
}

static int run(const Options *o, const char **ret_what) {
        _cleanup_(transport_freep) Transport *t = NULL;
        _cleanup_(esp_loader_freep) EspLoader *l = NULL;
        bool reset_after;
        int r;

        *ret_what = "Failed to open the port";
        r = transport_serial_open(o->port, DEFAULT_BAUD, &t);
        if (r < 0)
                return log_error_errno(r, "Failed to open %s: %m", o->port);
        interrupt_target = t;

        r = esp_loader_new(t, &l);
        if (r < 0)
                goto finish;

        *ret_what = "Failed to connect";
        r = esp_loader_connect(l, o->reset, o->connect_attempts);
        if (r < 0) {
                log_error_errno(r, "Failed to connect to the chip on %s: %m", o->port);
                goto finish;
        }

        if (o->stub_path) {
                *ret_what = "Failed to start the flasher stub";
                r = run_stub_file(l, o->stub_path);
                if (r < 0)
                        goto finish;
        }

        *ret_what = "Failed to attach the flash";
        r = esp_loader_attach_flash(l, o->flash_size);
        if (r < 0) {
                log_error_errno(r, "Failed to attach the SPI flash: %m");
                goto finish;
        }

        if (o->baud != 0 && o->baud != DEFAULT_BAUD) {
                *ret_what = "Failed to change the baud rate";
                r = esp_loader_change_baud(l, o->baud);
                if (r < 0) {
                        log_error_errno(r, "Failed to change to %u baud: %m", o->baud);
                        goto finish;
                }
        }

        print_info(l);

        *ret_what = "Region does not fit in flash";
        r = check_regions_fit(o, esp_loader_flash_size(l));
        if (r < 0)
                goto finish;

        switch (o->command) {
        case COMMAND_VERIFY:
                *ret_what = "Failed to verify";
                r = do_verify(l, o);
                break;
        case COMMAND_WRITE:
                *ret_what = "Failed to write";
                r = do_write(l, o);
                break;
        default:
                r = 0;
        }
        if (r < 0)
                goto finish;

        reset_after = o->after == AFTER_HARD_RESET ||
                      (o->after == AFTER_DEFAULT && o->command == COMMAND_WRITE);
        if (reset_after) {
                *ret_what = "Failed to reset the chip";
                r = esp_loader_hard_reset(l);
                if (r < 0)
                        log_error_errno(r, "Failed to reset the chip: %m");
        }

finish:
        if (l) {
                const EspLoaderStats *s = esp_loader_stats(l);
                log_debug("%" PRIu64 " commands, %" PRIu64 " retries, %" PRIu64
                          " flash begins, %" PRIu64 " bytes sent, %" PRIu64 " received.",
                          s->commands, s->retries, s->flash_begins, t->bytes_sent, t->bytes_received);
        }
        interrupt_target = NULL;
        return r;
}

int main(int argc, char *argv[]) {
        Options o = {
                .reset = ESP_RESET_UNIX_TIGHT,
                .connect_attempts = DEFAULT_CONNECT_ATTEMPTS,
        };
        struct sigaction sa = { .sa_handler = on_signal };
        const char *what = "Failed";
        int r;

        /* Built beside the service, not beside this tool. */
        r = digest_set_helper(DIGEST_HELPER_PATH);
        if (r < 0)
                return EXIT_FAILURE;
        r = parse_argv(argc, argv, &o);
        if (r <= 0) {
                if (r < 0)
                        emit_error(r, "Invalid arguments");
                options_done(&o);
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }

        sigemptyset(&sa.sa_mask);
        (void) sigaction(SIGINT, &sa, NULL);
        (void) sigaction(SIGTERM, &sa, NULL);

        r = run(&o, &what);
        if (r < 0)
                emit_error(r, what);
        else {
                printf("{\"result\":\"ok\"}\n");
                fflush(stdout);
        }

        options_done(&o);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
