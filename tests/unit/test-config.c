/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The config file: timespans and booleans as systemd spells them, the INI
 * dialect (sections, comments, bad lines skipped with the old value kept), the
 * file loader and the environment overrides. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "string-util.h"

static const struct {
        const char *s;
        usec_t usec;        /* 0: must fail */
} timespans[] = {
        { "30", 30 * USEC_PER_SEC },
        { "30s", 30 * USEC_PER_SEC },
        { " 30 s ", 30 * USEC_PER_SEC },
        { "30sec", 30 * USEC_PER_SEC },
        { "1.5", 1500 * USEC_PER_MSEC },
        { "1.5s", 1500 * USEC_PER_MSEC },
        { "500ms", 500 * USEC_PER_MSEC },
        { "500msec", 500 * USEC_PER_MSEC },
        { "250us", 250 },
        { "2min", 120 * USEC_PER_SEC },
        { "2m", 120 * USEC_PER_SEC },
        { "1h", 3600 * USEC_PER_SEC },
        { "1h 30min", 5400 * USEC_PER_SEC },
        { "1min30s", 90 * USEC_PER_SEC },
        { ".5", 500 * USEC_PER_MSEC },
        { "infinity", USEC_INFINITY },
        { "0", USEC_INFINITY },
        { "0s", USEC_INFINITY },
        { "", 0 },
        { "   ", 0 },
        { "-1", 0 },
        { "abc", 0 },
        { "10 parsecs", 0 },
        { "5x", 0 },
        { "inf", 0 },
        { "nan", 0 },
        { "0x10", 0 },
        { "1e3", 0 },
        { "99999999999999999999", 0 },
};

static void test_timespans(void) {
        for (size_t i = 0; i < ELEMENTSOF(timespans); i++) {
                usec_t t = 12345;
                int r = config_parse_timeout(timespans[i].s, &t);

                if (timespans[i].usec == 0) {
                        if (r >= 0)
                                fprintf(stderr, "'%s' parsed as %llu\n", timespans[i].s, (unsigned long long) t);
                        assert(r < 0);
                        assert(t == 12345);    /* untouched on failure */
                } else {
                        if (r < 0 || t != timespans[i].usec)
                                fprintf(stderr, "'%s': r=%d t=%llu\n", timespans[i].s, r, (unsigned long long) t);
                        assert(r == 0);
                        assert(t == timespans[i].usec);
                }
        }
}

static void test_booleans(void) {
        static const char *const yes[] = { "yes", "YES", "true", "on", "1", "y", "t" };
        static const char *const no[] = { "no", "False", "off", "0", "n", "f" };
        static const char *const bad[] = { "", "maybe", "2", "yess" };
        bool b;

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                b = false;
                assert(config_parse_boolean(yes[i], &b) == 0 && b);
        }
        for (size_t i = 0; i < ELEMENTSOF(no); i++) {
                b = true;
                assert(config_parse_boolean(no[i], &b) == 0 && !b);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert(config_parse_boolean(bad[i], &b) == -EINVAL);
}

static void test_defaults(void) {
        Config c;

        config_init(&c);
        assert(c.idle_timeout_usec == CONFIG_DEFAULT_IDLE_TIMEOUT_USEC);
        assert(c.trust_idle_timeout_usec == 30 * 60 * USEC_PER_SEC);
        assert(c.trust);
        assert(c.log_level == LOG_INFO);
        assert(c.bridge_baud == 921600);
}

static void test_bridge_baud(void) {
        Config c;

        config_init(&c);
        assert(config_load_string(&c, "[Service]\nBridgeBaud=460800\n", "b1") == 0);
        assert(c.bridge_baud == 460800);
        assert(config_load_string(&c, "[Service]\nBridgeBaud=0\n", "b2") == 0);
        assert(c.bridge_baud == 0);
        /* Out of range or not a number: skipped, the value stays. */
        assert(config_load_string(&c, "[Service]\nBridgeBaud=50\nBridgeBaud=fast\nBridgeBaud=-1\n", "b3") == 3);
        assert(c.bridge_baud == 0);

        assert(c.sector_granularity);   /* the default: sector (issue 16) */
        assert(config_load_string(&c, "[Service]\nGranularity=sector\n", "g1") == 0);
        assert(c.sector_granularity);
        assert(config_load_string(&c, "[Service]\nGranularity=byte\n", "g2") == 1);
        assert(c.sector_granularity);
        assert(config_load_string(&c, "[Service]\nGranularity=region\n", "g3") == 0);
        assert(!c.sector_granularity);

        assert(c.stub_dir[0] == '\0');
        assert(config_load_string(&c, "[Service]\nStubDirectory=/usr/share/esptool/stubs\n", "s1") == 0);
        assert(strcmp(c.stub_dir, "/usr/share/esptool/stubs") == 0);
        assert(config_load_string(&c, "[Service]\nStubDirectory=relative\n", "s2") == 1);
        assert(strcmp(c.stub_dir, "/usr/share/esptool/stubs") == 0);
        assert(config_load_string(&c, "[Service]\nStubDirectory=\n", "s3") == 0);
        assert(c.stub_dir[0] == '\0');
}

static void test_stubs(void) {
        Config c;

        config_init(&c);
        /* the system's esptool by default */
        assert(strstr(c.stub_search, "/usr/lib/python3/dist-packages/esptool/targets/stub_flasher"));
        assert(c.loader == CONFIG_LOADER_AUTO);
        assert(config_load_string(&c, "[Service]\nStubSearchPath=/opt/a:/home/*/b\n", "p1") == 0);
        assert(streq(c.stub_search, "/opt/a:/home/*/b"));
        assert(config_load_string(&c, "[Service]\nStubSearchPath=/opt/a:relative\n", "p2") == 1);
        assert(streq(c.stub_search, "/opt/a:/home/*/b"));
        assert(config_load_string(&c, "[Service]\nStubSearchPath=\n", "p3") == 0);
        assert(streq(c.stub_search, ""));

        assert(config_load_string(&c, "[Service]\nLoader=rom\n", "l1") == 0);
        assert(c.loader == CONFIG_LOADER_ROM);
        assert(config_load_string(&c, "[Service]\nLoader=stub\n", "l2") == 0);
        assert(c.loader == CONFIG_LOADER_STUB);
        assert(config_load_string(&c, "[Service]\nLoader=sometimes\n", "l3") == 1);
        assert(c.loader == CONFIG_LOADER_STUB);
        assert(config_load_string(&c, "[Service]\nLoader=auto\n", "l4") == 0);
        assert(c.loader == CONFIG_LOADER_AUTO);
}

static void test_ini(void) {
        Config c;

        config_init(&c);
        assert(config_load_string(&c,
                                  "# comment\n"
                                  "; another\n"
                                  "\n"
                                  "[Service]\n"
                                  "IdleTimeoutSec = 5s\n"
                                  "  Trust=no  \n"
                                  "LogLevel=debug\n",
                                  "t1") == 0);
        assert(c.idle_timeout_usec == 5 * USEC_PER_SEC);
        assert(!c.trust);
        assert(c.log_level == LOG_DEBUG);

        /* Bad lines are counted and skipped; the values they name stay. */
        config_init(&c);
        assert(config_load_string(&c,
                                  "Trust=no\n"                  /* outside a section */
                                  "[Service]\n"
                                  "IdleTimeoutSec=soon\n"       /* invalid value */
                                  "Trust=perhaps\n"             /* invalid value */
                                  "Colour=blue\n"               /* unknown key */
                                  "no equals sign\n"
                                  "[Other]\n"                   /* unknown section */
                                  "Trust=no\n"
                                  "[Broken\n"                   /* malformed header */
                                  "[Service]\n"
                                  "LogLevel=warning\n",
                                  "t2") == 8);
        assert(c.idle_timeout_usec == CONFIG_DEFAULT_IDLE_TIMEOUT_USEC);
        assert(c.trust);
        assert(c.log_level == LOG_WARNING);

        /* Later settings win; infinity disables idle exit; no trailing newline. */
        config_init(&c);
        assert(config_load_string(&c, "[Service]\nIdleTimeoutSec=1\nIdleTimeoutSec=infinity", "t3") == 0);
        assert(c.idle_timeout_usec == USEC_INFINITY);

        /* CRLF line ends. */
        config_init(&c);
        assert(config_load_string(&c, "[Service]\r\nIdleTimeoutSec=250ms\r\nTrust=off\r\n", "t4") == 0);
        assert(c.idle_timeout_usec == 250 * USEC_PER_MSEC);
        assert(!c.trust);

        config_init(&c);
        assert(config_load_string(&c, "", "empty") == 0);
        assert(c.idle_timeout_usec == CONFIG_DEFAULT_IDLE_TIMEOUT_USEC);
}

static void test_page_out_idle(void) {
        Config c;

        config_init(&c);
        assert(c.page_out_idle_usec == CONFIG_DEFAULT_PAGE_OUT_IDLE_USEC);
        assert(config_load_string(&c, "[Service]\nPageOutIdleSec=5s\n", "po1") == 0);
        assert(c.page_out_idle_usec == 5 * USEC_PER_SEC);
        /* 0 never pages out (it does not mean "at once"). */
        assert(config_load_string(&c, "[Service]\nPageOutIdleSec=0\n", "po2") == 0);
        assert(c.page_out_idle_usec == 0);
        assert(config_load_string(&c, "[Service]\nPageOutIdleSec=soon\n", "po3") == 1);
        assert(c.page_out_idle_usec == 0);
}

static void test_trust_idle_timeout(void) {
        Config c;

        config_init(&c);
        assert(config_load_string(&c, "[Service]\nTrustIdleTimeoutSec=2min\n", "ti1") == 0);
        assert(c.trust_idle_timeout_usec == 120 * USEC_PER_SEC);
        /* 0 turns the longer stay off (it does not mean "never exit" here). */
        assert(config_load_string(&c, "[Service]\nTrustIdleTimeoutSec=0\n", "ti2") == 0);
        assert(c.trust_idle_timeout_usec == 0);
        assert(config_load_string(&c, "[Service]\nTrustIdleTimeoutSec=infinity\n", "ti3") == 0);
        assert(c.trust_idle_timeout_usec == USEC_INFINITY);
        assert(config_load_string(&c, "[Service]\nTrustIdleTimeoutSec=a while\n", "ti4") == 1);
        assert(c.trust_idle_timeout_usec == USEC_INFINITY);
        assert(c.idle_timeout_usec == CONFIG_DEFAULT_IDLE_TIMEOUT_USEC);

        assert(setenv(CONFIG_ENV_TRUST_IDLE_TIMEOUT, "4", 1) == 0);
        assert(config_load_environment(&c) == 0);
        assert(c.trust_idle_timeout_usec == 4 * USEC_PER_SEC);
        assert(setenv(CONFIG_ENV_TRUST_IDLE_TIMEOUT, "0", 1) == 0);
        assert(config_load_environment(&c) == 0);
        assert(c.trust_idle_timeout_usec == 0);
        assert(setenv(CONFIG_ENV_TRUST_IDLE_TIMEOUT, "later", 1) == 0);
        assert(config_load_environment(&c) == -EINVAL);
        assert(c.trust_idle_timeout_usec == 0);
        assert(unsetenv(CONFIG_ENV_TRUST_IDLE_TIMEOUT) == 0);
}

static void test_file_and_environment(void) {
        char path[] = "/tmp/test-config.XXXXXX";
        const char *text = "[Service]\nIdleTimeoutSec=7s\nTrust=false\n";
        Config c;
        int fd;

        config_init(&c);
        assert(config_load_file(&c, "/nonexistent/deployd.conf") == -ENOENT);
        assert(c.idle_timeout_usec == CONFIG_DEFAULT_IDLE_TIMEOUT_USEC);

        fd = mkstemp(path);
        assert(fd >= 0);
        assert(write(fd, text, strlen(text)) == (ssize_t) strlen(text));
        close(fd);

        assert(config_load_file(&c, path) == 0);
        assert(c.idle_timeout_usec == 7 * USEC_PER_SEC);
        assert(!c.trust);

        /* The environment overrides the file. */
        assert(setenv(CONFIG_ENV_IDLE_TIMEOUT, "1.25", 1) == 0);
        assert(setenv(CONFIG_ENV_LOG_LEVEL, "notice", 1) == 0);
        assert(config_load_environment(&c) == 0);
        assert(c.idle_timeout_usec == 1250 * USEC_PER_MSEC);
        assert(c.log_level == LOG_NOTICE);
        assert(!c.trust);

        /* A bad environment value is an error, and changes nothing. */
        assert(setenv(CONFIG_ENV_IDLE_TIMEOUT, "later", 1) == 0);
        assert(config_load_environment(&c) == -EINVAL);
        assert(c.idle_timeout_usec == 1250 * USEC_PER_MSEC);

        assert(unsetenv(CONFIG_ENV_IDLE_TIMEOUT) == 0);
        assert(unsetenv(CONFIG_ENV_LOG_LEVEL) == 0);
        assert(unlink(path) == 0);
}

int main(void) {
        /* The skipped-line warnings are expected; keep the output quiet. */
        log_set_max_level(LOG_ERR);

        test_timespans();
        test_trust_idle_timeout();
        test_page_out_idle();
        test_booleans();
        test_defaults();
        test_bridge_baud();
        test_ini();
        test_stubs();
        test_file_and_environment();
        printf("config: ok\n");
        return 0;
}
