/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The config file parser: a small INI dialect in the spirit of systemd's unit
 * files ([Section], Key=Value, # and ; comments), with timespans and booleans
 * spelled the systemd way. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "log.h"
#include "string-util.h"

void config_init(Config *c) {
        *c = (Config) {
                .idle_timeout_usec = CONFIG_DEFAULT_IDLE_TIMEOUT_USEC,
                .trust_idle_timeout_usec = CONFIG_DEFAULT_TRUST_IDLE_TIMEOUT_USEC,
                .page_out_idle_usec = CONFIG_DEFAULT_PAGE_OUT_IDLE_USEC,
                .trust = true,
                .bridge_baud = CONFIG_DEFAULT_BRIDGE_BAUD,
                /* It costs no more than region granularity when nothing changed
                 * (job_verify_by_blocks) and writes far less when something did. */
                .sector_granularity = true,
                .monitors_per_user = CONFIG_DEFAULT_MONITORS_PER_USER,
                .log_level = LOG_INFO,
                .stub_search = CONFIG_DEFAULT_STUB_SEARCH_PATH,
                .loader = CONFIG_LOADER_AUTO,
        };
}

int config_parse_boolean(const char *s, bool *ret) {
        static const char *const yes[] = { "1", "yes", "y", "true", "t", "on" };
        static const char *const no[] = { "0", "no", "n", "false", "f", "off" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (strcasecmp(s, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                if (strcasecmp(s, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        return -EINVAL;
}

static const struct {
        const char *suffix;
        usec_t usec;
} time_units[] = {
        /* Longest first where one is a prefix of another ("ms" before "m"). */
        { "usec", 1 },          { "us", 1 },
        { "msec", USEC_PER_MSEC }, { "ms", USEC_PER_MSEC },
        { "seconds", USEC_PER_SEC }, { "second", USEC_PER_SEC }, { "sec", USEC_PER_SEC }, { "s", USEC_PER_SEC },
        { "minutes", 60 * USEC_PER_SEC }, { "minute", 60 * USEC_PER_SEC }, { "min", 60 * USEC_PER_SEC },
        { "m", 60 * USEC_PER_SEC },
        { "hours", 3600 * USEC_PER_SEC }, { "hour", 3600 * USEC_PER_SEC }, { "hr", 3600 * USEC_PER_SEC },
        { "h", 3600 * USEC_PER_SEC },
};

int config_parse_timespan(const char *s, usec_t *ret) {
        usec_t total = 0;
        const char *p = s;
        bool any = false;

        while (isspace((unsigned char) *p))
                p++;
        if (strcasecmp(p, "infinity") == 0) {
                *ret = USEC_INFINITY;
                return 0;
        }

        while (*p) {
                usec_t unit = USEC_PER_SEC;
                size_t len = 0, n = 0, digits = 0;
                bool dot = false;
                char number[32];
                double value;

                /* Plain decimals only: strtod() alone would take "inf", hex, exponents. */
                for (; isdigit((unsigned char) p[n]) || (p[n] == '.' && !dot); n++) {
                        if (p[n] == '.')
                                dot = true;
                        else
                                digits++;
                }
                if (digits == 0 || n >= sizeof(number))
                        return -EINVAL;
                memcpy(number, p, n);
                number[n] = '\0';
                errno = 0;
                value = strtod(number, NULL);
                if (errno != 0)
                        return -ERANGE;
                p += n;
                while (isspace((unsigned char) *p))
                        p++;
                for (size_t i = 0; i < ELEMENTSOF(time_units); i++) {
                        size_t l = strlen(time_units[i].suffix);

                        if (strncmp(p, time_units[i].suffix, l) == 0 && !isalpha((unsigned char) p[l])) {
                                unit = time_units[i].usec;
                                len = l;
                                break;
                        }
                }
                if (len == 0 && isalpha((unsigned char) *p))
                        return -EINVAL;
                p += len;
                while (isspace((unsigned char) *p))
                        p++;

                if (value * (double) unit >= (double) (USEC_INFINITY - total))
                        return -ERANGE;
                total += (usec_t) (value * (double) unit + 0.5);
                any = true;
        }
        if (!any)
                return -EINVAL;

        *ret = total;
        return 0;
}

int config_parse_timeout(const char *s, usec_t *ret) {
        usec_t t;
        int r;

        r = config_parse_timespan(s, &t);
        if (r < 0)
                return r;
        *ret = t == 0 ? USEC_INFINITY : t;
        return 0;
}

static char *strstrip(char *s) {
        char *e;

        while (isspace((unsigned char) *s))
                s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char) e[-1]))
                *--e = '\0';
        return s;
}

typedef enum ConfigSection {
        CONFIG_SECTION_NONE,
        CONFIG_SECTION_SERVICE,
        CONFIG_SECTION_UNKNOWN,
} ConfigSection;

/* A time span setting (0 stays 0): the value, or a warning and the old value kept. */
static int config_assign_timespan(usec_t *field, const char *key, const char *value, const char *source,
                                  unsigned line) {
        usec_t t;
        int r;

        r = config_parse_timespan(value, &t);
        if (r < 0)
                return log_warning_errno(r, "%s:%u: invalid %s=%s, ignoring.", source, line, key, value);
        *field = t;
        return 0;
}

static int config_assign(Config *c, const char *key, const char *value, const char *source, unsigned line) {
        int r;

        if (streq(key, "IdleTimeoutSec")) {
                usec_t t;

                r = config_parse_timeout(value, &t);
                if (r < 0)
                        return log_warning_errno(r, "%s:%u: invalid IdleTimeoutSec=%s, ignoring.",
                                                 source, line, value);
                c->idle_timeout_usec = t;
        } else if (streq(key, "TrustIdleTimeoutSec")) {
                r = config_assign_timespan(&c->trust_idle_timeout_usec, key, value, source, line);
                if (r < 0)
                        return r;
        } else if (streq(key, "PageOutIdleSec")) {
                r = config_assign_timespan(&c->page_out_idle_usec, key, value, source, line);
                if (r < 0)
                        return r;
        } else if (streq(key, "Trust")) {
                bool b;

                r = config_parse_boolean(value, &b);
                if (r < 0)
                        return log_warning_errno(r, "%s:%u: invalid Trust=%s, ignoring.", source, line, value);
                c->trust = b;
        } else if (streq(key, "StubDirectory")) {
                if (value[0] != '\0' && value[0] != '/')
                        return log_warning_errno(EINVAL, "%s:%u: StubDirectory=%s is not absolute, ignoring.",
                                                 source, line, value);
                if (strlen(value) >= sizeof(c->stub_dir))
                        return log_warning_errno(ENAMETOOLONG, "%s:%u: StubDirectory= too long, ignoring.",
                                                 source, line);
                strcpy(c->stub_dir, value);
        } else if (streq(key, "StubSearchPath")) {
                /* absolute entries only: the service's working directory means nothing */
                _cleanup_free_ char *copy = strdup(value);
                char *saveptr = NULL;

                if (!copy)
                        return -ENOMEM;
                for (char *e = strtok_r(copy, ":", &saveptr); e; e = strtok_r(NULL, ":", &saveptr))
                        if (e[0] != '/')
                                return log_warning_errno(EINVAL, "%s:%u: StubSearchPath= entry %s is not absolute, ignoring.",
                                                         source, line, e);
                if (strlen(value) >= sizeof(c->stub_search))
                        return log_warning_errno(ENAMETOOLONG, "%s:%u: StubSearchPath= too long, ignoring.",
                                                 source, line);
                strcpy(c->stub_search, value);
        } else if (streq(key, "Loader")) {
                if (streq(value, "auto"))
                        c->loader = CONFIG_LOADER_AUTO;
                else if (streq(value, "stub"))
                        c->loader = CONFIG_LOADER_STUB;
                else if (streq(value, "rom"))
                        c->loader = CONFIG_LOADER_ROM;
                else
                        return log_warning_errno(EINVAL, "%s:%u: invalid Loader=%s, ignoring.",
                                                 source, line, value);
        } else if (streq(key, "Granularity")) {
                if (streq(value, "sector"))
                        c->sector_granularity = true;
                else if (streq(value, "region"))
                        c->sector_granularity = false;
                else
                        return log_warning_errno(EINVAL, "%s:%u: invalid Granularity=%s, ignoring.",
                                                 source, line, value);
        } else if (streq(key, "BridgeBaud")) {
                unsigned long u;
                char *end;

                errno = 0;
                u = strtoul(value, &end, 10);
                if (errno != 0 || end == value || *end != '\0' || value[0] == '-' ||
                    (u != 0 && (u < CONFIG_BAUD_MIN || u > CONFIG_BAUD_MAX)))
                        return log_warning_errno(EINVAL, "%s:%u: invalid BridgeBaud=%s, ignoring.",
                                                 source, line, value);
                c->bridge_baud = (uint32_t) u;
        } else if (streq(key, "MonitorsPerUser")) {
                unsigned long u;
                char *end;

                errno = 0;
                u = strtoul(value, &end, 10);
                if (errno != 0 || end == value || *end != '\0' || value[0] == '-' ||
                    u > CONFIG_MONITORS_PER_USER_MAX)
                        return log_warning_errno(EINVAL, "%s:%u: invalid MonitorsPerUser=%s, ignoring.",
                                                 source, line, value);
                c->monitors_per_user = (unsigned) u;
        } else if (streq(key, "LogLevel")) {
                r = log_level_from_string(value);
                if (r < 0)
                        return log_warning_errno(r, "%s:%u: invalid LogLevel=%s, ignoring.", source, line, value);
                c->log_level = r;
        } else
                return log_warning_errno(EINVAL, "%s:%u: unknown setting %s= in [Service], ignoring.",
                                         source, line, key);
        return 0;
}

int config_load_string(Config *c, const char *text, const char *source) {
        ConfigSection section = CONFIG_SECTION_NONE;
        _cleanup_free_ char *copy = NULL;
        unsigned line = 0;
        int skipped = 0;
        char *p, *l;

        copy = strdup(text);
        if (!copy)
                return -ENOMEM;

        for (p = copy; (l = strsep(&p, "\n")); ) {
                char *eq, *key, *value;

                line++;
                l = strstrip(l);
                if (*l == '\0' || *l == '#' || *l == ';')
                        continue;

                if (*l == '[') {
                        size_t n = strlen(l);

                        if (n < 2 || l[n - 1] != ']') {
                                log_warning("%s:%u: malformed section header, ignoring.", source, line);
                                skipped++;
                                continue;
                        }
                        l[n - 1] = '\0';
                        if (streq(l + 1, "Service"))
                                section = CONFIG_SECTION_SERVICE;
                        else {
                                log_warning("%s:%u: unknown section [%s], ignoring its settings.",
                                            source, line, l + 1);
                                section = CONFIG_SECTION_UNKNOWN;
                                skipped++;
                        }
                        continue;
                }

                eq = strchr(l, '=');
                if (!eq) {
                        log_warning("%s:%u: expected Key=Value, ignoring.", source, line);
                        skipped++;
                        continue;
                }
                *eq = '\0';
                key = strstrip(l);
                value = strstrip(eq + 1);

                if (section == CONFIG_SECTION_UNKNOWN) {
                        skipped++;
                        continue;
                }
                if (section == CONFIG_SECTION_NONE) {
                        log_warning("%s:%u: %s= outside of a section, ignoring.", source, line, key);
                        skipped++;
                        continue;
                }
                if (config_assign(c, key, value, source, line) < 0)
                        skipped++;
        }
        return skipped;
}

int config_load_file(Config *c, const char *path) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        f = fopen(path, "re");
        if (!f)
                return -errno;

        /* Read it whole: config files are tiny. */
        {
                FILE *mem = open_memstream(&text, &size);
                char buf[4096];
                size_t n;

                if (!mem) {
                        r = -errno;
                        fclose(f);
                        return r;
                }
                while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
                        fwrite(buf, 1, n, mem);
                r = ferror(f) ? -EIO : 0;
                fclose(f);
                if (fclose(mem) != 0 && r == 0)
                        r = -ENOMEM;
                if (r < 0)
                        return r;
        }
        if (memchr(text, '\0', size))
                return log_warning_errno(EBADMSG, "%s: contains NUL bytes, ignoring the file.", path);

        r = config_load_string(c, text, path);
        return r < 0 ? r : 0;
}

int config_load_environment(Config *c) {
        const char *e;
        int r;

        e = getenv(CONFIG_ENV_IDLE_TIMEOUT);
        if (e) {
                usec_t t;

                r = config_parse_timeout(e, &t);
                if (r < 0)
                        return log_error_errno(r, "Invalid $%s=%s.", CONFIG_ENV_IDLE_TIMEOUT, e);
                c->idle_timeout_usec = t;
        }

        e = getenv(CONFIG_ENV_TRUST_IDLE_TIMEOUT);
        if (e) {
                usec_t t;

                r = config_parse_timespan(e, &t);
                if (r < 0)
                        return log_error_errno(r, "Invalid $%s=%s.", CONFIG_ENV_TRUST_IDLE_TIMEOUT, e);
                c->trust_idle_timeout_usec = t;
        }

        e = getenv(CONFIG_ENV_LOG_LEVEL);
        if (e) {
                r = log_level_from_string(e);
                if (r < 0)
                        return log_error_errno(r, "Invalid $%s=%s.", CONFIG_ENV_LOG_LEVEL, e);
                c->log_level = r;
        }
        return 0;
}
