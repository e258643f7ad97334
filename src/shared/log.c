/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Minimal leveled logger; thread-safe because each message is one write(2)
 * (or one sd_journal_sendv()). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Our CODE_* fields name the caller of log_*(), not this file. */
#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <systemd/sd-journal.h>

#include "log.h"

static int max_level = LOG_INFO;
/* Set once by log_open() before any thread exists. */
static bool use_journal;

static const char *const level_names[] = {
        [LOG_EMERG] = "emerg",     [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
        [LOG_ERR] = "err",         [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
        [LOG_INFO] = "info",       [LOG_DEBUG] = "debug",
};

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

int log_level_from_string(const char *s) {
        char *end;
        long l;

        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
                if (strcasecmp(s, level_names[i]) == 0)
                        return (int) i;
        if (strcasecmp(s, "error") == 0)
                return LOG_ERR;
        errno = 0;
        l = strtol(s, &end, 10);
        if (errno != 0 || end == s || *end || l < LOG_EMERG || l > LOG_DEBUG)
                return -EINVAL;
        return (int) l;
}

/* A control character in a finished message (a caller string that missed
 * ESC(), strerror() of something odd) must not start a new line. */
static void sanitize(char *msg) {
        for (unsigned char *p = (unsigned char *) msg; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        *p = '?';
}

int log_open(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        /* systemd sets it to stderr's "device:inode" when stderr is the journal;
         * an inherited value that no longer matches means another stderr. */
        use_journal = e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) >= 0 &&
                (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
        return use_journal;
}

static void add_field(LogJournalEntry *e, char *buf, size_t size, const char *fmt, ...) _printf_(4, 5);
static void add_field(LogJournalEntry *e, char *buf, size_t size, const char *fmt, ...) {
        va_list ap;
        int k;

        if (e->n >= LOG_JOURNAL_FIELDS_MAX)
                return;
        va_start(ap, fmt);
        k = vsnprintf(buf, size, fmt, ap);
        va_end(ap);
        if (k < 0)
                return;
        e->iov[e->n++] = (struct iovec) { .iov_base = buf, .iov_len = MIN((size_t) k, size - 1) };
}

void log_journal_entry_build(LogJournalEntry *e, int level, int error, const char *file, int line,
                             const char *func, const LogFields *f, const char *message) {
        e->n = 0;
        add_field(e, e->message, sizeof(e->message), "MESSAGE=%s", message);
        add_field(e, e->priority, sizeof(e->priority), "PRIORITY=%d", level);
        add_field(e, e->identifier, sizeof(e->identifier), "SYSLOG_IDENTIFIER=%s", program_invocation_short_name);
        if (error != 0)
                add_field(e, e->errno_field, sizeof(e->errno_field), "ERRNO=%d", ERRNO_ABS(error));
        if (file)
                add_field(e, e->code_file, sizeof(e->code_file), "CODE_FILE=%s", file);
        if (line > 0)
                add_field(e, e->code_line, sizeof(e->code_line), "CODE_LINE=%d", line);
        if (func)
                add_field(e, e->code_func, sizeof(e->code_func), "CODE_FUNC=%s", func);
        if (!f)
                return;
        if (f->port)
                add_field(e, e->port, sizeof(e->port), "PORT=%s", ESC(f->port));
        if (f->job)
                add_field(e, e->job, sizeof(e->job), "JOB=%s", ESC(f->job));
        if (f->caller_uid && *f->caller_uid != (uid_t) -1)
                add_field(e, e->caller_uid, sizeof(e->caller_uid), "CALLER_UID=%u", (unsigned) *f->caller_uid);
        if (f->outcome)
                add_field(e, e->outcome, sizeof(e->outcome), "OUTCOME=%s", ESC(f->outcome));
}

static _printf_(7, 0) int log_dispatch(int level, int error, const LogFields *fields, const char *file, int line,
                        const char *func, const char *format, va_list ap) {
        char msg[2048];
        int saved_errno = errno, n;

        error = ERRNO_ABS(error);
        if (level > max_level)
                return -error;

        /* Expand %m to the given error rather than whatever errno is now. */
        errno = error;
        n = vsnprintf(msg, sizeof(msg), format, ap);
        if (n < 0)
                msg[0] = '\0';
        sanitize(msg);

        if (use_journal) {
                LogJournalEntry e;

                log_journal_entry_build(&e, level, error, file, line, func, fields, msg);
                if (sd_journal_sendv(e.iov, (int) e.n) >= 0) {
                        errno = saved_errno;
                        return -error;
                }
                /* The journal is gone: stderr still works. */
        }

        {
                char out[sizeof(msg) + 16];

                /* Plain terminals don't need the journal's priority prefix. */
                if (isatty(STDERR_FILENO))
                        n = snprintf(out, sizeof(out), "%s\n", msg);
                else
                        n = snprintf(out, sizeof(out), "<%d>%s\n", level, msg);
                if (n > 0)
                        (void) !write(STDERR_FILENO, out, MIN((size_t) n, sizeof(out) - 1));
        }
        errno = saved_errno;
        return -error;
}

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = log_dispatch(level, error, NULL, file, line, func, format, ap);
        va_end(ap);
        return r;
}

int log_fields_internal(int level, int error, const LogFields *fields, const char *file, int line,
                        const char *func, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = log_dispatch(level, error, fields, file, line, func, format, ap);
        va_end(ap);
        return r;
}
