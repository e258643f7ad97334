/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The monitor's crash decoder: finds the code addresses in ESP-IDF panic lines
 * (Xtensa's "Backtrace: PC:SP …", RISC-V's MEPC and RA registers) and turns
 * them into "function at file:line" with the toolchain's addr2line and the ELF. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crash-lines.h"
#include "ctl-decode.h"
#include "macro.h"
#include "string-util.h"

#define EM_XTENSA_ 94
#define EM_RISCV_ 243

/* Looked for on PATH in this order, per architecture. */
static const char *const xtensa_tools[] = {
        "xtensa-esp32-elf-addr2line", "xtensa-esp32s3-elf-addr2line", "xtensa-esp32s2-elf-addr2line",
        "xtensa-esp-elf-addr2line", NULL,
};
static const char *const riscv_tools[] = {
        "riscv32-esp-elf-addr2line", "riscv64-unknown-elf-addr2line", NULL,
};

struct CtlDecoder {
        char *elf;
        char *tool;             /* the addr2line found, or NULL */
        char *missing;          /* why there is none: what to install */
        bool told;              /* the missing tool was named once already */
};

CtlDecoder *ctl_decoder_free(CtlDecoder *d) {
        if (!d)
                return NULL;
        free(d->elf);
        free(d->tool);
        free(d->missing);
        free(d);
        return NULL;
}

static char *find_on_path(const char *name) {
        const char *path = getenv("PATH") ?: "/usr/bin:/bin";

        while (*path) {
                size_t n = strcspn(path, ":");
                char *candidate;

                if (n > 0 && asprintf(&candidate, "%.*s/%s", (int) n, path, name) >= 0) {
                        if (access(candidate, X_OK) == 0)
                                return candidate;
                        free(candidate);
                }
                path += n;
                if (*path == ':')
                        path++;
        }
        return NULL;
}

/* e_machine of an ELF file: >= 0, or -errno (-ENOEXEC: not an ELF). */
static int elf_machine(const char *path) {
        unsigned char h[20];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = read(fd, h, sizeof(h));
        close(fd);
        if (n < (ssize_t) sizeof(h) || memcmp(h, "\x7f" "ELF", 4) != 0)
                return -ENOEXEC;
        /* EI_DATA: 1 little endian (every ESP chip), 2 big. */
        return h[5] == 2 ? (h[18] << 8 | h[19]) : (h[19] << 8 | h[18]);
}

int ctl_decoder_new(const char *elf, CtlDecoder **ret, char **ret_error) {
        CtlDecoder *d;
        const char *const *tools;
        int machine;

        machine = elf_machine(elf);
        if (machine < 0) {
                if (asprintf(ret_error, "%s: %s", elf,
                             machine == -ENOEXEC ? "not an ELF file" : strerror(-machine)) < 0)
                        *ret_error = NULL;
                return machine;
        }
        d = calloc(1, sizeof(CtlDecoder));
        if (!d)
                return -ENOMEM;
        d->elf = strdup(elf);
        if (!d->elf)
                return -ENOMEM;
        tools = machine == EM_XTENSA_ ? xtensa_tools : machine == EM_RISCV_ ? riscv_tools : NULL;
        for (size_t i = 0; tools && tools[i] && !d->tool; i++)
                d->tool = find_on_path(tools[i]);
        if (!d->tool) {
                const char *what =
                        machine == EM_XTENSA_ ? "ESP-IDF's Xtensa toolchain (xtensa-esp32-elf-addr2line, "
                                                "from idf_tools.py install)" :
                        machine == EM_RISCV_ ? "ESP-IDF's RISC-V toolchain (riscv32-esp-elf-addr2line) or "
                                               "Debian's binutils-riscv64-unknown-elf "
                                               "(riscv64-unknown-elf-addr2line)" :
                        NULL;

                if (what)
                        (void) asprintf(&d->missing, "cannot decode the crash: install %s", what);
                else
                        (void) asprintf(&d->missing, "cannot decode the crash: %s is not for an ESP chip "
                                        "(ELF machine %d)", elf, machine);
        }
        *ret = d;
        return 0;
}

/* Runs TOOL -pfiaC -e ELF ADDR…, its output into *ret. */
static int run_addr2line(CtlDecoder *d, const uint32_t *addrs, size_t n, char **ret) {
        char args[CTL_DECODE_MAX][11];
        const char *argv[6 + CTL_DECODE_MAX] = { d->tool, "-pfiaC", "-e", d->elf };
        size_t argc = 4, size = 0;
        char *out = NULL;
        FILE *f;
        int pipefd[2], status;
        pid_t pid;

        for (size_t i = 0; i < n && i < CTL_DECODE_MAX; i++) {
                snprintf(args[i], sizeof(args[i]), "0x%08" PRIx32, addrs[i]);
                argv[argc++] = args[i];
        }
        argv[argc] = NULL;
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                close(pipefd[0]);
                close(pipefd[1]);
                return -errno;
        }
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR);

                (void) dup2(null, STDIN_FILENO);
                (void) dup2(pipefd[1], STDOUT_FILENO);
                (void) dup2(null, STDERR_FILENO);
                execv(d->tool, (char **) argv);
                _exit(127);
        }
        close(pipefd[1]);
        f = open_memstream(&out, &size);
        if (f) {
                char buf[1024];
                ssize_t k;

                while ((k = read(pipefd[0], buf, sizeof(buf))) > 0 || (k < 0 && errno == EINTR))
                        if (k > 0)
                                fwrite(buf, 1, (size_t) k, f);
                fclose(f);
        }
        close(pipefd[0]);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (!out)
                return -ENOMEM;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                free(out);
                return -EIO;
        }
        *ret = out;
        return 0;
}

int ctl_decoder_line(CtlDecoder *d, const char *line, size_t len, char **ret) {
        uint32_t addrs[CTL_DECODE_MAX];
        _cleanup_free_ char *decoded = NULL;
        char *text = NULL;
        size_t n, size = 0;
        FILE *f;
        int r;

        *ret = NULL;
        n = crash_line_addresses(line, len, addrs, ELEMENTSOF(addrs));
        if (n == 0)
                return 0;
        if (!d->tool) {
                /* Said once, not under every crash line. */
                if (d->told || !d->missing)
                        return 0;
                d->told = true;
                if (asprintf(ret, "fbuildctl: %s\n", d->missing) < 0) {
                        *ret = NULL;
                        return -ENOMEM;
                }
                return 1;
        }
        r = run_addr2line(d, addrs, n, &decoded);
        if (r < 0) {
                if (asprintf(ret, "fbuildctl: %s could not decode the addresses (%s)\n", d->tool,
                             strerror(-r)) < 0)
                        return -ENOMEM;
                return 1;
        }
        /* addr2line -a: "0xADDR: function at file:line" per address (plus
         * "(inlined by)" lines); unknown addresses ("?? ??:0") are left out. */
        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        for (char *save = NULL, *l = strtok_r(decoded, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
                if (!strstr(l, "?? ??:0") && !strstr(l, ": ?? at ??"))
                        fprintf(f, "%s\n", l);
        fclose(f);
        if (!text)
                return -ENOMEM;
        if (size == 0) {
                free(text);
                return 0;
        }
        *ret = text;
        return 1;
}
