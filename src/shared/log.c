/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Minimal leveled logger; thread-safe because each message is one write(2). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"

static int max_level = LOG_INFO;

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

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...) {
        char msg[2048], fmt[1024];
        int saved_errno = errno, n;
        va_list ap;

        (void) file;
        (void) line;
        (void) func;
        error = ERRNO_ABS(error);
        if (level > max_level)
                return -error;

        /* Expand %m to the given error rather than whatever errno is now. */
        errno = error;
        snprintf(fmt, sizeof(fmt), "<%d>%s\n", level, format);
        va_start(ap, format);
        n = vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (n < 0)
                n = 0;
        if ((size_t) n >= sizeof(msg)) {
                n = sizeof(msg) - 1;
                msg[n - 1] = '\n';
        }
        /* Plain terminals don't need the journal's priority prefix. */
        if (isatty(STDERR_FILENO)) {
                const char *p = strchr(msg, '>');
                size_t skip = p ? (size_t) (p - msg + 1) : 0;
                (void) !write(STDERR_FILENO, msg + skip, n - skip);
        } else
                (void) !write(STDERR_FILENO, msg, n);
        errno = saved_errno;
        return -error;
}
