/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Logging with syslog-style levels: to stderr with a <N> prefix (which
 * journald reads when stderr is a journal stream), or, when stderr is the
 * journal's stream (JOURNAL_STREAM), natively with structured fields. Caller
 * strings go through ESC() (escape.h); a control character that gets here
 * anyway is replaced, so that no message can start a second line. */
#pragma once

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <syslog.h>

#include "escape.h"
#include "macro.h"

/* Structured fields for the journal, where known (NULL: absent). */
typedef struct LogFields {
        const char *port;       /* PORT= (escaped here) */
        const char *job;        /* JOB=: the call that made the job, "<sender>/<cookie>" */
        const uid_t *caller_uid; /* CALLER_UID= (unless (uid_t) -1: unknown) */
        const char *outcome;    /* OUTCOME=: a job's outcome, or why a call was refused */
} LogFields;
#define LOG_FIELDS(...) (&(const LogFields) { __VA_ARGS__ })

/* stderr is the journal's stream: log natively (sd_journal_send) from now on.
 * Returns whether it is. Call once at start. */
int log_open(void);

/* One journal entry as sd_journal_sendv() takes it (built separately, so that
 * a unit test can check the fields without a journal). */
#define LOG_JOURNAL_FIELDS_MAX 12
typedef struct LogJournalEntry {
        struct iovec iov[LOG_JOURNAL_FIELDS_MAX];
        size_t n;
        char message[2048 + 8], priority[16], errno_field[24], code_file[160], code_line[32],
                code_func[96], identifier[48], port[ESCAPE_BUF + 8], job[ESCAPE_BUF + 8], caller_uid[32],
                outcome[ESCAPE_BUF + 8];
} LogJournalEntry;
void log_journal_entry_build(LogJournalEntry *e, int level, int error, const char *file, int line,
                             const char *func, const LogFields *fields, const char *message);

void log_set_max_level(int level);
int log_get_max_level(void);
/* Parses "debug", "info", … or a number; returns the level or -EINVAL. */
int log_level_from_string(const char *s);

/* Logs and returns -ERRNO_ABS(error), so callers can write
 * `return log_error_errno(r, "…: %m")`; %m prints strerror(error). */
int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...) _printf_(6, 7);
int log_fields_internal(int level, int error, const LogFields *fields, const char *file, int line,
                        const char *func, const char *format, ...) _printf_(7, 8);

#define log_full_errno(level, error, ...) \
        log_internal((level), (error), __FILE__, __LINE__, __func__, __VA_ARGS__)
/* With structured fields: log_fields(LOG_INFO, LOG_FIELDS(.port = p, …), "…", …). */
#define log_fields_errno(level, error, fields, ...) \
        log_fields_internal((level), (error), (fields), __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_fields(level, fields, ...) log_fields_errno((level), 0, (fields), __VA_ARGS__)
#define log_full(level, ...) log_full_errno((level), 0, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, (e), __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_INFO, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, (e), __VA_ARGS__)
