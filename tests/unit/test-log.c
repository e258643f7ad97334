/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The logger's two sinks without a journal: the fields of a native journal
 * entry (what sd_journal_sendv() would get), and the stderr line, which stays
 * one line whatever a message contains. */

#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static const char *field(const LogJournalEntry *e, const char *name) {
        static char buf[4096];
        size_t n = strlen(name);

        for (size_t i = 0; i < e->n; i++)
                if (e->iov[i].iov_len > n && memcmp(e->iov[i].iov_base, name, n) == 0 &&
                    ((const char *) e->iov[i].iov_base)[n] == '=') {
                        memcpy(buf, (const char *) e->iov[i].iov_base + n + 1, e->iov[i].iov_len - n - 1);
                        buf[e->iov[i].iov_len - n - 1] = '\0';
                        return buf;
                }
        return NULL;
}

static void test_journal_fields(void) {
        LogJournalEntry e;
        uid_t uid = 1000, unknown = (uid_t) -1;

        log_journal_entry_build(&e, LOG_INFO, 0, "bus-deploy.c", 42, "bus_deploy_job_finished",
                                LOG_FIELDS(.port = "/dev/ttyUSB0\n<0>EMERG", .job = ":1.7/3", .caller_uid = &uid,
                                           .outcome = "selective"),
                                "deploy on /dev/ttyUSB0 done: selective.");
        assert(strcmp(field(&e, "MESSAGE"), "deploy on /dev/ttyUSB0 done: selective.") == 0);
        assert(strcmp(field(&e, "PRIORITY"), "6") == 0);
        assert(strcmp(field(&e, "CODE_FILE"), "bus-deploy.c") == 0);
        assert(strcmp(field(&e, "CODE_LINE"), "42") == 0);
        assert(strcmp(field(&e, "CODE_FUNC"), "bus_deploy_job_finished") == 0);
        assert(strcmp(field(&e, "PORT"), "/dev/ttyUSB0\\n<0>EMERG") == 0);
        assert(strcmp(field(&e, "JOB"), ":1.7/3") == 0);
        assert(strcmp(field(&e, "CALLER_UID"), "1000") == 0);
        assert(strcmp(field(&e, "OUTCOME"), "selective") == 0);
        assert(!field(&e, "ERRNO"));
        assert(field(&e, "SYSLOG_IDENTIFIER"));

        /* Only what is known; an errno when there is one; root is a uid too. */
        uid = 0;
        log_journal_entry_build(&e, LOG_NOTICE, -13, NULL, 0, NULL,
                                LOG_FIELDS(.caller_uid = &uid, .outcome = "refused:PermissionDenied"), "no");
        assert(strcmp(field(&e, "PRIORITY"), "5") == 0);
        assert(strcmp(field(&e, "ERRNO"), "13") == 0);
        assert(strcmp(field(&e, "CALLER_UID"), "0") == 0);
        assert(!field(&e, "PORT") && !field(&e, "JOB") && !field(&e, "CODE_FILE"));
        log_journal_entry_build(&e, LOG_INFO, 0, NULL, 0, NULL, LOG_FIELDS(.caller_uid = &unknown), "x");
        assert(!field(&e, "CALLER_UID"));
        log_journal_entry_build(&e, LOG_INFO, 0, NULL, 0, NULL, NULL, "x");
        assert(e.n == 3);       /* MESSAGE, PRIORITY, SYSLOG_IDENTIFIER */
}

static void test_stderr_one_line(void) {
        char buf[512];
        int p[2], saved;
        ssize_t n;

        assert(pipe(p) == 0);
        saved = dup(STDERR_FILENO);
        assert(dup2(p[1], STDERR_FILENO) == STDERR_FILENO);
        /* A caller string that missed ESC(): still one line, no "<0>" at a line start. */
        log_info("Cancel on %s", "/dev/x\n<0>EMERG\r\n");
        log_info("Cancel on %s", ESC("/dev/x\n<0>EMERG"));
        assert(dup2(saved, STDERR_FILENO) == STDERR_FILENO);
        close(saved);
        close(p[1]);
        n = read(p[0], buf, sizeof(buf) - 1);
        assert(n > 0);
        buf[n] = '\0';
        close(p[0]);
        assert(strcmp(buf, "<6>Cancel on /dev/x?<0>EMERG??\n<6>Cancel on /dev/x\\n<0>EMERG\n") == 0);
}

int main(void) {
        log_set_max_level(LOG_DEBUG);
        test_journal_fields();
        test_stderr_one_line();
        return 0;
}
