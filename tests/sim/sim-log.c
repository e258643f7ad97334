/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* JSON-lines event log for the simulated chip (see sim-log.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sim-digest.h"
#include "sim-log.h"

int sim_log_open(const char *path, nsec_t epoch, SimLog **ret) {
        SimLog *l;
        FILE *f;

        f = fopen(path, "we");
        if (!f)
                return -errno;
        /* Line buffering: each event reaches the file as it happens. */
        setvbuf(f, NULL, _IOLBF, 0);
        l = calloc(1, sizeof(SimLog));
        if (!l) {
                fclose(f);
                return -ENOMEM;
        }
        l->f = f;
        l->epoch = epoch;
        *ret = l;
        return 0;
}

SimLog *sim_log_free(SimLog *l) {
        if (!l)
                return NULL;
        if (l->f)
                fclose(l->f);
        free(l);
        return NULL;
}

static void log_prefix(SimLog *l, nsec_t t, const char *event) {
        nsec_t rel = t > l->epoch ? t - l->epoch : 0;

        fprintf(l->f, "{\"t\":%" PRIu64 ".%06" PRIu64 ",\"event\":\"%s\"",
                rel / SIM_NSEC_PER_SEC, (rel % SIM_NSEC_PER_SEC) / SIM_NSEC_PER_USEC, event);
}

void sim_log_event(SimLog *l, nsec_t t, const char *event, const char *fields_fmt, ...) {
        va_list ap;

        if (!l)
                return;
        log_prefix(l, t, event);
        if (fields_fmt && *fields_fmt) {
                fputc(',', l->f);
                va_start(ap, fields_fmt);
                vfprintf(l->f, fields_fmt, ap);
                va_end(ap);
        }
        fputs("}\n", l->f);
}

void sim_log_bytes(SimLog *l, nsec_t t, const char *event, const uint8_t *data, size_t n,
                   const char *extra) {
        char hex[2 * 256 + 1];

        if (!l)
                return;
        log_prefix(l, t, event);
        fputs(",\"hex\":\"", l->f);
        for (size_t done = 0; done < n;) {
                size_t k = MIN(n - done, (size_t) 256);

                sim_hex(data + done, k, hex);
                fputs(hex, l->f);
                done += k;
        }
        fputc('"', l->f);
        if (extra && *extra) {
                fputc(',', l->f);
                fputs(extra, l->f);
        }
        fputs("}\n", l->f);
}

size_t sim_json_escape(const char *s, size_t n, char *out, size_t out_size) {
        size_t o = 0;

        if (out_size < 3)
                return 0;
        out[o++] = '"';
        for (size_t i = 0; i < n && o + 8 < out_size; i++) {
                unsigned char c = (unsigned char) s[i];

                if (c == '"' || c == '\\') {
                        out[o++] = '\\';
                        out[o++] = (char) c;
                } else if (c < 0x20 || c >= 0x7f)
                        o += (size_t) snprintf(out + o, out_size - o, "\\u%04x", c);
                else
                        out[o++] = (char) c;
        }
        out[o++] = '"';
        out[o] = 0;
        return o;
}
