/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fbuild-esp-sim: a simulated ESP32-family chip on a pty. Parses the command
 * line, wires the parts together and runs the single-threaded poll() loop over
 * the serial fd, the control socket and the timers. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "sim-control.h"
#include "sim.h"

#ifndef SIM_VERSION
#define SIM_VERSION "0"
#endif

#define DEFAULT_FLASH_SIZE (4U << 20)
#define DEFAULT_APP_INTERVAL_MSEC 1000U

typedef struct SimArgs {
        const char *chip;
        const char *flash;
        uint32_t flash_size;
        bool flash_size_explicit;
        int fd;
        const char *pty;
        const char *control;
        int control_fd;
        SimConsole console;
        SimBootMode boot;
        SimTimingMode timing;
        const char *log;
        uint64_t seed;
        SimFault *faults;
        size_t n_faults;
        SimRegInit *regs;
        size_t n_regs;
        uint64_t app_interval_msec;
        uint64_t en_capacitor_nf;
} SimArgs;

static const char *const state_table[_SIM_STATE_MAX] = {
        [SIM_STATE_RESET] = "reset",
        [SIM_STATE_DOWNLOAD] = "download",
        [SIM_STATE_APP] = "app",
        [SIM_STATE_HALTED] = "halted",
        [SIM_STATE_CONSOLE] = "console",
        [SIM_STATE_GONE] = "gone",
};

const char *sim_state_to_string(const Sim *s) {
        if (s->state == SIM_STATE_DOWNLOAD && s->loader.stub)
                return "stub";
        return state_table[s->state];
}

static const char *const boot_mode_table[_SIM_BOOT_MAX] = {
        [SIM_BOOT_APP] = "app",
        [SIM_BOOT_DOWNLOAD] = "download",
};

const char *sim_boot_mode_to_string(SimBootMode m) {
        if (m < 0 || m >= _SIM_BOOT_MAX)
                return NULL;
        return boot_mode_table[m];
}

SimBootMode sim_boot_mode_from_string(const char *str) {
        for (size_t i = 0; str && i < ELEMENTSOF(boot_mode_table); i++)
                if (strcmp(str, boot_mode_table[i]) == 0)
                        return (SimBootMode) i;
        return _SIM_BOOT_INVALID;
}

static void help(void) {
        printf("Usage: fbuild-esp-sim --chip=%s --flash=FILE (--fd=N | --pty=PATH) [OPTIONS]\n"
               "\n"
               "A simulated ESP32-family chip behind a serial port: the ROM serial loader\n"
               "and flasher stub, SPI flash kept in a file, a DTR/RTS boot model and\n"
               "DESIGN.md's timing model. Prints \"ready\" on stdout once serving.\n"
               "\n"
               "  --chip=NAME          chip identity: esp32, esp32s3 or esp32c3\n"
               "  --flash=FILE         flash contents; created 0xFF-filled if missing or empty,\n"
               "                       persists across runs and is written through at once\n"
               "  --flash-size=SIZE    flash size: 2MB, 4MB (default), 8MB, 16MB... or bytes;\n"
               "                       without it an existing file's size is used\n"
               "  --fd=N               talk over inherited fd N (a pty master from a test bed)\n"
               "  --pty=PATH           create a pty and symlink its slave to PATH\n"
               "  --control=PATH       listen on a unix stream socket at PATH for commands\n"
               "  --control-fd=N       use inherited connected socket N as a control\n"
               "                       connection; the simulator exits when it closes\n"
               "  --console=uart|usb-jtag\n"
               "                       how DTR/RTS reach the chip: a USB-UART bridge's\n"
               "                       auto-reset circuit (uart, default) or the\n"
               "                       USB-Serial-JTAG reset logic (usb-jtag; ESP32-S3/C3)\n"
               "  --boot=app|download  mode at power-on (default app)\n"
               "  --timing=real|fast   DESIGN.md's timing model (default) or no delays\n"
               "  --log=FILE           JSON-lines event log: boots, commands, every byte\n"
               "                       sent (\"tx\") and received (\"rx\")\n"
               "  --seed=N             seed for the fault injector's PRNG (default 1)\n"
               "  --fault=SPEC         repeatable: drop=RATE, corrupt=RATE, stall=MS@BYTE,\n"
               "                       vanish=BYTE, flip=BYTE (bit 0 of that byte; BYTE counts\n"
               "                       bytes received from the host), block-corrupt=RATE (per\n"
               "                       flash data block: one flipped bit), loss-above=BAUD:RATE\n"
               "                       (bytes lost only while the UART runs faster than BAUD)\n"
               "  --reg=ADDR=VALUE     repeatable: a register's value after every reset, e.g.\n"
               "                       the traced emulator's unprogrammed eFuse (--reg=0x3ff5a010=0)\n"
               "  --app-interval=MS    period of the app's \"app running sha256=...\" line\n"
               "                       (default %u; 0 prints it once)\n"
               "  --en-capacitor=NF    the capacitor on EN (default 1000): how long EN must be\n"
               "                       held low to reset, and when IO0 is latched after it rises\n"
               "  -h --help            show this help\n"
               "     --version         show the version\n"
               "\n"
               "Control commands (one line each, answered \"ok\", \"ok {json}\" or \"err ...\"):\n"
               "  signals DTR RTS, dtr 0|1, rts 0|1, external-write OFFSET HEX, fault SPEC,\n"
               "  vanish, stats, quit, help\n",
               sim_chip_names(), DEFAULT_APP_INTERVAL_MSEC);
}

static int parse_fd(const char *s, int *ret) {
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno != 0 || end == s || *end || v < 0 || v > INT32_MAX)
                return -EINVAL;
        *ret = (int) v;
        return 0;
}

static int parse_u64(const char *s, uint64_t *ret) {
        unsigned long long v;
        char *end;

        errno = 0;
        v = strtoull(s, &end, 0);
        if (errno != 0 || end == s || *end || *s == '-')
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_args(int argc, char *argv[], SimArgs *a) {
        enum {
                ARG_CHIP = 0x100,
                ARG_FLASH,
                ARG_FLASH_SIZE,
                ARG_FD,
                ARG_PTY,
                ARG_CONTROL,
                ARG_CONTROL_FD,
                ARG_CONSOLE,
                ARG_BOOT,
                ARG_TIMING,
                ARG_LOG,
                ARG_SEED,
                ARG_FAULT,
                ARG_REG,
                ARG_APP_INTERVAL,
                ARG_EN_CAPACITOR,
                ARG_VERSION,
        };
        static const struct option options[] = {
                { "chip", required_argument, NULL, ARG_CHIP },
                { "flash", required_argument, NULL, ARG_FLASH },
                { "flash-size", required_argument, NULL, ARG_FLASH_SIZE },
                { "fd", required_argument, NULL, ARG_FD },
                { "pty", required_argument, NULL, ARG_PTY },
                { "control", required_argument, NULL, ARG_CONTROL },
                { "control-fd", required_argument, NULL, ARG_CONTROL_FD },
                { "console", required_argument, NULL, ARG_CONSOLE },
                { "boot", required_argument, NULL, ARG_BOOT },
                { "timing", required_argument, NULL, ARG_TIMING },
                { "log", required_argument, NULL, ARG_LOG },
                { "seed", required_argument, NULL, ARG_SEED },
                { "fault", required_argument, NULL, ARG_FAULT },
                { "reg", required_argument, NULL, ARG_REG },
                { "app-interval", required_argument, NULL, ARG_APP_INTERVAL },
                { "en-capacitor", required_argument, NULL, ARG_EN_CAPACITOR },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {}
        };
        int c, r;

        *a = (SimArgs) {
                .flash_size = DEFAULT_FLASH_SIZE,
                .fd = -1,
                .control_fd = -1,
                .console = SIM_CONSOLE_UART,
                .boot = SIM_BOOT_APP,
                .timing = SIM_TIMING_REAL,
                .seed = 1,
                .app_interval_msec = DEFAULT_APP_INTERVAL_MSEC,
                .en_capacitor_nf = SIM_EN_DEFAULT_CAPACITOR_NF,
        };

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("fbuild-esp-sim %s\n", SIM_VERSION);
                        return 0;
                case ARG_CHIP:
                        a->chip = optarg;
                        break;
                case ARG_FLASH:
                        a->flash = optarg;
                        break;
                case ARG_FLASH_SIZE:
                        r = sim_flash_parse_size(optarg, &a->flash_size);
                        if (r < 0)
                                return log_error_errno(r, "Invalid --flash-size=%s: a power of two from 256KB to 128MB.", optarg);
                        a->flash_size_explicit = true;
                        break;
                case ARG_FD:
                        if (parse_fd(optarg, &a->fd) < 0)
                                return log_error_errno(EINVAL, "Invalid --fd=%s.", optarg);
                        break;
                case ARG_PTY:
                        a->pty = optarg;
                        break;
                case ARG_CONTROL:
                        a->control = optarg;
                        break;
                case ARG_CONTROL_FD:
                        if (parse_fd(optarg, &a->control_fd) < 0)
                                return log_error_errno(EINVAL, "Invalid --control-fd=%s.", optarg);
                        break;
                case ARG_CONSOLE:
                        a->console = sim_console_from_string(optarg);
                        if (a->console < 0)
                                return log_error_errno(EINVAL, "Invalid --console=%s: uart or usb-jtag.", optarg);
                        break;
                case ARG_BOOT:
                        a->boot = sim_boot_mode_from_string(optarg);
                        if (a->boot < 0)
                                return log_error_errno(EINVAL, "Invalid --boot=%s: app or download.", optarg);
                        break;
                case ARG_TIMING:
                        a->timing = sim_timing_mode_from_string(optarg);
                        if (a->timing < 0)
                                return log_error_errno(EINVAL, "Invalid --timing=%s: real or fast.", optarg);
                        break;
                case ARG_LOG:
                        a->log = optarg;
                        break;
                case ARG_SEED:
                        if (parse_u64(optarg, &a->seed) < 0)
                                return log_error_errno(EINVAL, "Invalid --seed=%s.", optarg);
                        break;
                case ARG_FAULT: {
                        SimFault f, *v;

                        if (sim_fault_parse(optarg, &f) < 0)
                                return log_error_errno(EINVAL, "Invalid --fault=%s: drop=RATE, corrupt=RATE, stall=MS@BYTE, vanish=BYTE, flip=BYTE, "
                                                       "block-corrupt=RATE or loss-above=BAUD:RATE.", optarg);
                        v = reallocarray(a->faults, a->n_faults + 1, sizeof(SimFault));
                        if (!v)
                                return -ENOMEM;
                        a->faults = v;
                        a->faults[a->n_faults++] = f;
                        break;
                }
                case ARG_REG: {
                        _cleanup_free_ char *addr = NULL;
                        const char *eq = strchr(optarg, '=');
                        uint64_t a_v, v_v;
                        SimRegInit *v;

                        if (!eq || !(addr = strndup(optarg, (size_t) (eq - optarg))) ||
                            parse_u64(addr, &a_v) < 0 || parse_u64(eq + 1, &v_v) < 0 ||
                            a_v > UINT32_MAX || v_v > UINT32_MAX)
                                return log_error_errno(EINVAL, "Invalid --reg=%s: ADDR=VALUE.", optarg);
                        v = reallocarray(a->regs, a->n_regs + 1, sizeof(SimRegInit));
                        if (!v)
                                return -ENOMEM;
                        a->regs = v;
                        a->regs[a->n_regs++] = (SimRegInit) { .addr = (uint32_t) a_v, .value = (uint32_t) v_v };
                        break;
                }
                case ARG_APP_INTERVAL:
                        if (parse_u64(optarg, &a->app_interval_msec) < 0 || a->app_interval_msec > 86400000)
                                return log_error_errno(EINVAL, "Invalid --app-interval=%s.", optarg);
                        break;
                case ARG_EN_CAPACITOR:
                        if (parse_u64(optarg, &a->en_capacitor_nf) < 0 || a->en_capacitor_nf == 0 ||
                            a->en_capacitor_nf > 1000000)
                                return log_error_errno(EINVAL, "Invalid --en-capacitor=%s.", optarg);
                        break;
                default:
                        return -EINVAL;
                }

        if (optind < argc)
                return log_error_errno(EINVAL, "Unexpected argument: %s", argv[optind]);
        if (!a->chip || !sim_chip_from_name(a->chip))
                return log_error_errno(EINVAL, "--chip=%s is required.", sim_chip_names());
        if (!a->flash)
                return log_error_errno(EINVAL, "--flash=FILE is required.");
        if ((a->fd >= 0) == (a->pty != NULL))
                return log_error_errno(EINVAL, "Exactly one of --fd=N and --pty=PATH is required.");
        if (a->console == SIM_CONSOLE_USB_JTAG && sim_chip_from_name(a->chip)->uartdev_buf_no_reg == 0)
                return log_error_errno(EINVAL, "%s has no USB-Serial-JTAG peripheral.", a->chip);
        return 1;
}

/* ---- loader host callbacks ------------------------------------------------------ */

static nsec_t host_send(void *userdata, const uint8_t *data, size_t n, bool slip, nsec_t at) {
        Sim *s = userdata;

        return slip ? sim_emit_frame(s, data, n, at) : sim_emit(s, data, n, at);
}

static void host_set_baud(void *userdata, uint32_t baud, nsec_t at) {
        sim_serial_set_baud(userdata, baud, at);
}

static void host_soft_reset(void *userdata, nsec_t at) {
        sim_boot_soft_reset(userdata, at);
}

static void host_run_user_code(void *userdata, nsec_t at) {
        sim_boot_run_user_code(userdata, at);
}

static void host_uart_dead(void *userdata) {
        Sim *s = userdata;

        sim_log_event(s->log, sim_now(), "uart-dead", NULL);
}

static void host_flash_md5(void *userdata, uint32_t addr, uint32_t size) {
        Sim *s = userdata;

        sim_log_event(s->log, sim_now(), "md5", "\"offset\":%" PRIu32 ",\"length\":%" PRIu32, addr, size);
}

static void host_flash_erase(void *userdata, uint32_t addr, uint32_t len) {
        Sim *s = userdata;

        sim_log_event(s->log, sim_now(), "erase", "\"offset\":%" PRIu32 ",\"length\":%" PRIu32, addr, len);
}

static void host_command(void *userdata, nsec_t at, uint8_t op, size_t len, bool stub, uint16_t status) {
        Sim *s = userdata;
        nsec_t now = sim_now();

        /* Logged when handled, so the log stays in order; "reply_at" is when
         * the timing model lets the answer start, relative to start. */
        sim_log_event(s->log, now, "command",
                      "\"op\":%u,\"name\":\"%s\",\"len\":%zu,\"loader\":\"%s\",\"status\":\"%04x\","
                      "\"reply_at\":%.6f",
                      op, sim_op_to_string(op), len, stub ? "stub" : "rom", status,
                      at > s->epoch ? (double) (at - s->epoch) / (double) SIM_NSEC_PER_SEC : 0.0);
}

/* ---- setup and loop --------------------------------------------------------------- */

static int setup_signals(void) {
        sigset_t mask;
        int fd;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;
        (void) signal(SIGPIPE, SIG_IGN);
        fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (fd < 0)
                return -errno;
        return fd;
}

static void sim_done(Sim *s) {
        sim_serial_close(s);
        s->control = sim_control_free(s->control);
        sim_loader_done(&s->loader);
        sim_slip_decoder_done(&s->slip);
        sim_uart_done(&s->uart);
        sim_faults_done(&s->faults);
        sim_regs_clear(&s->regs);
        free(s->reg_overrides);
        s->log = sim_log_free(s->log);
        s->flash = sim_flash_free(s->flash);
}

static int run(Sim *s, int signal_fd) {
        struct pollfd *pfds = NULL;
        size_t allocated = 0;
        int r = 0;

        while (!s->quit) {
                nsec_t now = sim_now(), next;
                struct timespec ts, *tsp = NULL;
                size_t n = 0, serial_idx = SIZE_MAX, need;

                sim_serial_check_hup(s, now);
                sim_serial_deliver(s, now);
                sim_serial_flush(s, now);
                sim_boot_run_timers(s, now);
                sim_serial_flush(s, now);

                next = MIN(sim_serial_next_wakeup(s, now), sim_boot_next_timer(s));
                if (next != SIM_NSEC_INFINITY) {
                        nsec_t d = next > now ? next - now : 0;

                        ts.tv_sec = (time_t) (d / SIM_NSEC_PER_SEC);
                        ts.tv_nsec = (long) (d % SIM_NSEC_PER_SEC);
                        tsp = &ts;
                }

                need = 2 + sim_control_n_pollfds(s->control);
                if (need > allocated) {
                        struct pollfd *p = reallocarray(pfds, need, sizeof(struct pollfd));

                        if (!p) {
                                r = -ENOMEM;
                                break;
                        }
                        pfds = p;
                        allocated = need;
                }
                pfds[n++] = (struct pollfd) { .fd = signal_fd, .events = POLLIN };
                /* A hung-up pty master reports POLLHUP forever; it is rechecked
                 * on a timer instead of polled. */
                if (s->serial_fd >= 0 && !s->serial_hup) {
                        serial_idx = n;
                        pfds[n++] = (struct pollfd) {
                                .fd = s->serial_fd,
                                .events = POLLIN | (s->serial_blocked ? POLLOUT : 0),
                        };
                }
                n += sim_control_fill_pollfds(s->control, pfds + n, allocated - n);

                if (ppoll(pfds, n, tsp, NULL) < 0) {
                        if (errno == EINTR)
                                continue;
                        r = log_error_errno(errno, "ppoll() failed: %m");
                        break;
                }
                now = sim_now();

                if (pfds[0].revents & POLLIN) {
                        struct signalfd_siginfo si;

                        if (read(signal_fd, &si, sizeof(si)) > 0)
                                s->quit = true;
                }
                if (serial_idx != SIZE_MAX && s->serial_fd >= 0) {
                        short ev = pfds[serial_idx].revents;

                        if (ev & POLLOUT)
                                s->serial_blocked = false;
                        if (ev & (POLLIN | POLLHUP | POLLERR))
                                (void) sim_serial_read(s, now);
                }
                sim_control_process(s->control, s, pfds + 1 + (serial_idx != SIZE_MAX),
                                    n - 1 - (serial_idx != SIZE_MAX), now);
        }
        free(pfds);
        return r;
}

int main(int argc, char *argv[]) {
        _cleanup_(sim_done) Sim s = { .serial_fd = -EBADF };
        _cleanup_close_ int signal_fd = -EBADF;
        SimArgs args = {};
        nsec_t now;
        int r;

        r = parse_args(argc, argv, &args);
        if (r <= 0) {
                free(args.faults);
                free(args.regs);
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }

        now = sim_now();
        s.epoch = now;
        s.chip = sim_chip_from_name(args.chip);
        s.console = args.console;
        s.timing = args.timing;
        s.poweron_mode = args.boot;
        s.app_interval = args.app_interval_msec * SIM_NSEC_PER_MSEC;
        s.en_capacitor_nf = (uint32_t) args.en_capacitor_nf;
        s.baud = SIM_ROM_BAUD;
        sim_faults_init(&s.faults, args.seed);
        s.faults.baud = SIM_ROM_BAUD;
        for (size_t i = 0; i < args.n_faults; i++)
                (void) sim_faults_add(&s.faults, &args.faults[i]);
        free(args.faults);
        s.reg_overrides = TAKE_PTR(args.regs);
        s.n_reg_overrides = args.n_regs;
        sim_uart_init(&s.uart, sim_timing_byte_time(s.timing, s.console, SIM_ROM_BAUD));

        signal_fd = setup_signals();
        if (signal_fd < 0) {
                log_error_errno(signal_fd, "Failed to set up signal handling: %m");
                return EXIT_FAILURE;
        }

        r = sim_flash_open(args.flash, args.flash_size, args.flash_size_explicit, &s.flash);
        if (r < 0)
                return EXIT_FAILURE;
        if (args.log) {
                r = sim_log_open(args.log, now, &s.log);
                if (r < 0) {
                        log_error_errno(r, "Failed to open log %s: %m", args.log);
                        return EXIT_FAILURE;
                }
        }
        /* Room for the stub's largest frame; the ROM's smaller limit is
         * applied per frame, as its buffer would overflow. */
        r = sim_slip_decoder_init(&s.slip, SIM_LOADER_MAX_FRAME);
        if (r < 0)
                return EXIT_FAILURE;
        r = sim_loader_init(&s.loader, s.chip, s.flash, &s.regs, s.timing, s.console,
                            &(SimLoaderHost) {
                                    .userdata = &s,
                                    .send = host_send,
                                    .set_baud = host_set_baud,
                                    .soft_reset = host_soft_reset,
                                    .run_user_code = host_run_user_code,
                                    .uart_dead = host_uart_dead,
                                    .command = host_command,
                                    .flash_md5 = host_flash_md5,
                                    .flash_erase = host_flash_erase,
                            });
        if (r < 0)
                return EXIT_FAILURE;
        for (size_t i = 0; i < s.faults.n; i++)
                if (s.faults.v[i].kind == SIM_FAULT_ZERO_ERASE)
                        s.loader.rom_zero_erase_nowrite = true;

        r = sim_control_new(&s.control);
        if (r < 0)
                return EXIT_FAILURE;
        if (args.control) {
                r = sim_control_listen(s.control, args.control);
                if (r < 0)
                        return EXIT_FAILURE;
        }
        if (args.control_fd >= 0) {
                r = sim_control_adopt(s.control, args.control_fd);
                if (r < 0)
                        return EXIT_FAILURE;
        }

        if (args.pty) {
                r = sim_serial_open_pty(&s, args.pty);
                if (r < 0)
                        return EXIT_FAILURE;
        } else
                sim_serial_set_fd(&s, args.fd);

        sim_log_event(s.log, now, "start",
                      "\"chip\":\"%s\",\"console\":\"%s\",\"timing\":\"%s\",\"flash_size\":%" PRIu32,
                      s.chip->name, sim_console_to_string(s.console),
                      sim_timing_mode_to_string(s.timing), s.flash->size);
        sim_boot_power_on(&s, now);

        printf("ready\n");
        fflush(stdout);

        r = run(&s, signal_fd);
        sim_log_event(s.log, sim_now(), "exit", NULL);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
