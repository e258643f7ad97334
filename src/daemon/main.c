/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fbuild-deployd: deploys firmware to ESP32-family boards for D-Bus clients.
 * Started by socket activation (peer-to-peer on the passed sockets) and/or D-Bus
 * activation (org.fbuild.Deploy1 on the system bus); exits when idle. Wires the
 * core (src/core) to the bus (src/bus): the core's hooks are the bus's. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "bus.h"
#include "config.h"
#include "log.h"
#include "manager.h"
#include "string-util.h"
#include "user-open.h"

#ifndef PROJECT_VERSION
#  error "PROJECT_VERSION must be defined by the build"
#endif

#define MAX_LISTEN_FDS 16

static const char *arg_config = NULL;
static const char *arg_idle_timeout = NULL;
static const char *arg_log_level = NULL;

static void help(void) {
        printf("%s [OPTIONS...]\n\n"
               "Deploys firmware to ESP32-family boards over the org.fbuild.Deploy1 D-Bus API.\n"
               "Serves the system bus when one is reachable and D-Bus peer-to-peer on sockets\n"
               "passed by socket activation; exits when idle.\n\n"
               "  -h --help                 Show this help\n"
               "     --version              Show the version\n"
               "     --config=PATH          Config file (default: $%s, else %s)\n"
               "     --idle-timeout=TIME    Exit after this long idle, e.g. 30s, 500ms,\n"
               "                            infinity (default: config, $%s, 30s)\n"
               "     --log-level=LEVEL      err, warning, notice, info, debug (default: config,\n"
               "                            $%s, info)\n\n"
               "See fbuild-deployd(8) and deployd.conf(5).\n",
               program_invocation_short_name, CONFIG_ENV_PATH, CONFIG_DEFAULT_PATH, CONFIG_ENV_IDLE_TIMEOUT,
               CONFIG_ENV_LOG_LEVEL);
}

/* 0: go on; > 0: done (help, version); < 0: error. */
static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_CONFIG,
                ARG_IDLE_TIMEOUT,
                ARG_LOG_LEVEL,
        };
        static const struct option options[] = {
                { "help",         no_argument,       NULL, 'h' },
                { "version",      no_argument,       NULL, ARG_VERSION },
                { "config",       required_argument, NULL, ARG_CONFIG },
                { "idle-timeout", required_argument, NULL, ARG_IDLE_TIMEOUT },
                { "log-level",    required_argument, NULL, ARG_LOG_LEVEL },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 1;
                case ARG_VERSION:
                        printf("fbuild-deployd %s\n", PROJECT_VERSION);
                        return 1;
                case ARG_CONFIG:
                        arg_config = optarg;
                        break;
                case ARG_IDLE_TIMEOUT:
                        arg_idle_timeout = optarg;
                        break;
                case ARG_LOG_LEVEL:
                        arg_log_level = optarg;
                        break;
                case '?':
                        return -EINVAL;
                default:
                        return -EINVAL;
                }

        if (optind < argc) {
                log_error("%s takes no arguments.", program_invocation_short_name);
                return -EINVAL;
        }
        return 0;
}

/* Defaults < config file < environment < command line. */
static int load_config(Config *c) {
        const char *path = arg_config ?: getenv(CONFIG_ENV_PATH);
        int r;

        config_init(c);

        r = config_load_file(c, path ?: CONFIG_DEFAULT_PATH);
        if (r == -ENOENT && !path)
                log_debug("No %s, using the defaults.", CONFIG_DEFAULT_PATH);
        else if (r < 0)
                /* A file the admin named explicitly must be there. */
                return log_error_errno(r, "Failed to read %s: %m", path ?: CONFIG_DEFAULT_PATH);

        r = config_load_environment(c);
        if (r < 0)
                return r;

        if (arg_idle_timeout) {
                r = config_parse_timeout(arg_idle_timeout, &c->idle_timeout_usec);
                if (r < 0)
                        return log_error_errno(r, "Invalid --idle-timeout=%s.", arg_idle_timeout);
        }
        if (arg_log_level) {
                r = log_level_from_string(arg_log_level);
                if (r < 0)
                        return log_error_errno(r, "Invalid --log-level=%s.", arg_log_level);
                c->log_level = r;
        }
        return 0;
}

static int collect_listen_fds(int *fds, size_t *ret_n) {
        size_t n = 0;
        int r;

        r = sd_listen_fds(true);
        if (r < 0)
                return log_error_errno(r, "Failed to read the passed sockets: %m");
        if (r > MAX_LISTEN_FDS)
                return log_error_errno(E2BIG, "Too many sockets passed (%d, at most %d).", r, MAX_LISTEN_FDS);

        for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + r; fd++) {
                if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0)
                        return log_error_errno(EINVAL, "Passed fd %d is not a listening stream socket.", fd);
                fds[n++] = fd;
        }
        *ret_n = n;
        return 0;
}

/* Serves the listening sockets (takes the fds) and, when reachable, the system
 * bus. -ENOTCONN if there is neither. */
static int serve(BusContext *b, const Config *config, const int *listen_fds, size_t n_listen_fds) {
        int r;

        for (size_t i = 0; i < n_listen_fds; i++) {
                r = bus_context_add_listener(b, listen_fds[i]);
                if (r < 0)
                        return log_error_errno(r, "Failed to serve listening socket %d: %m", listen_fds[i]);
        }

        r = bus_context_connect_system(b);
        if (r < 0) {
                if (n_listen_fds == 0) {
                        log_error_errno(r, "Cannot connect to the system bus (%m) and no listening socket was "
                                        "passed (start via fbuild-deployd.socket or D-Bus activation): "
                                        "nothing to serve.");
                        return -ENOTCONN;
                }
                log_info_errno(r, "No system bus (%m); serving peer-to-peer only.");
        }

        if (config->idle_timeout_usec == USEC_INFINITY)
                log_debug("Serving on %zu socket(s)%s; no idle exit.", n_listen_fds,
                          r >= 0 ? " and the system bus" : "");
        else
                log_debug("Serving on %zu socket(s)%s; idle exit after %llu ms.", n_listen_fds,
                          r >= 0 ? " and the system bus" : "",
                          (unsigned long long) (config->idle_timeout_usec / USEC_PER_MSEC));
        return 0;
}

/* The core and its front end: the jobs stop first, while their callers and the
 * trust table can still be told; then the connections; then the rest. */
static void shut_down(Manager *m, BusContext *b) {
        manager_stop(m);
        manager_set_hooks(m, NULL, NULL);
        bus_context_free(b);
        manager_free(m);
}

int main(int argc, char *argv[]) {
        Manager *m = NULL;
        BusContext *b = NULL;
        int fds[MAX_LISTEN_FDS];
        size_t n_fds = 0;
        sigset_t mask;
        Config config;
        int r;

        /* Spawned by ourselves to open a caller's file as the caller (bus-open.c). */
        if (argc > 1 && streq(argv[1], USER_OPEN_ARGV1))
                return user_open_main(argc, argv);

        r = parse_argv(argc, argv);
        if (r != 0)
                return r > 0 ? EXIT_SUCCESS : EXIT_FAILURE;

        r = load_config(&config);
        if (r < 0)
                return EXIT_FAILURE;
        log_set_max_level(config.log_level);
        /* Under systemd, stderr is the journal: log natively, with fields. */
        (void) log_open();

        r = collect_listen_fds(fds, &n_fds);
        if (r < 0)
                return EXIT_FAILURE;

        /* Before any thread exists, so that workers inherit the mask and the
         * signals reach the event loop's signalfd. SIGPIPE: a client that hangs up
         * is an error code, not a death. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
                log_error_errno(errno, "Failed to block signals: %m");
                return EXIT_FAILURE;
        }
        (void) signal(SIGPIPE, SIG_IGN);
        /* One malloc arena for every thread. Each job's worker would otherwise
         * get an arena of its own, whose free top malloc_trim() leaves resident
         * (it shrinks only the main heap's): about 150 KiB kept for good after
         * a deploy. The workers spend their time waiting on the serial port,
         * not in malloc, so sharing the lock costs nothing measurable. */
        (void) mallopt(M_ARENA_MAX, 1);

        r = manager_new(&config, &m);
        if (r < 0) {
                log_error_errno(r, "Failed to set up the service: %m");
                return EXIT_FAILURE;
        }
        r = bus_context_new(m, &b);
        if (r < 0) {
                log_error_errno(r, "Failed to set up the bus: %m");
                shut_down(m, b);
                return EXIT_FAILURE;
        }
        manager_set_hooks(m, &bus_manager_hooks, b);
        r = serve(b, &config, fds, n_fds);
        if (r < 0) {
                shut_down(m, b);
                return EXIT_FAILURE;
        }

        log_info("fbuild-deployd %s serving.", PROJECT_VERSION);
        (void) sd_notify(false, "READY=1\nSTATUS=Serving");

        r = manager_run(m);
        if (r < 0)
                r = EXIT_FAILURE;

        (void) sd_notify(false, "STOPPING=1\nSTATUS=Exiting");
        log_info("Exiting.");
        shut_down(m, b);
        return r;
}
