/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The scheduler without a device: trust-skips (which never open the port, so a
 * port that does not exist proves it), per-port FIFO order, trust decided at
 * the job's turn, trust updates after failures, verify never skipping,
 * cancellation of queued jobs, the hash memo, and teardown with jobs pending.
 * Device paths are covered end to end by the integration tests. */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "image.h"
#include "digest.h"
#include "job-scheduler.h"
#include "macro.h"
#include "trust-table.h"

/* Ports that cannot be opened: any attempt to touch them fails the job. */
#define PORT_A "/nonexistent/fbuild-test-ttyA"
#define PORT_B "/nonexistent/fbuild-test-ttyB"
#define PORT_C "/nonexistent/fbuild-test-ttyC"
#define DEV_A "usb:10c4:ea60:A"
#define DEV_B "usb:10c4:ea60:B"
#define DEV_C "usb:10c4:ea60:C"

static char tmpdir[] = "/tmp/test-job-scheduler-XXXXXX";

typedef struct Done {
        const char *tag;
        JobKind kind;
        int error;
        char message[256];
        JobOutcome outcome;
        JobStats stats;
        bool data_loaded;
} Done;

typedef struct Ctx {
        Done done[32];
        size_t n_done;
        unsigned progress;
        TrustTable *trust_after_x1;   /* set trust for DEV_A when "x1" finishes */
        uint8_t trust_hash[IMAGE_SHA256_SIZE];
} Ctx;

static void on_progress(Job *j, JobPhase phase, uint64_t done, uint64_t total, void *userdata) {
        Ctx *c = userdata;

        assert(job_phase_to_string(phase));
        c->progress++;
}

static void on_finished(Job *j, void *userdata) {
        Ctx *c = userdata;
        Done *d;
        const char *m;

        assert(c->n_done < ELEMENTSOF(c->done));
        assert(job_is_finished(j));
        d = &c->done[c->n_done++];
        *d = (Done) {
                .tag = job_get_userdata(j),
                .kind = job_kind(j),
                .error = job_error(j),
                .outcome = job_outcome(j),
                .stats = *job_stats(j),
                .data_loaded = job_image(j)->regions[0].data != NULL,
        };
        m = job_error_message(j);
        if (m)
                snprintf(d->message, sizeof(d->message), "%s", m);
        if (getenv("TEST_VERBOSE"))
                fprintf(stderr, "%s: %s error=%d outcome=%s message=%s\n", d->tag,
                        job_kind_to_string(d->kind), d->error,
                        job_outcome_to_string(d->outcome) ?: "-", m ?: "-");
        if (c->trust_after_x1 && strcmp(d->tag, "x1") == 0)
                assert(trust_table_set(c->trust_after_x1, DEV_A, c->trust_hash) == 1);
        /* Ownership is ours now. */
        job_free(j);
}

static const Done *find_done(Ctx *c, const char *tag, size_t *ret_index) {
        for (size_t i = 0; i < c->n_done; i++)
                if (strcmp(c->done[i].tag, tag) == 0) {
                        if (ret_index)
                                *ret_index = i;
                        return &c->done[i];
                }
        fprintf(stderr, "job %s never finished\n", tag);
        abort();
}

static void run_until_idle(sd_event *e, JobScheduler *s) {
        for (int i = 0; job_scheduler_n_jobs(s) > 0; i++) {
                assert(i < 1000);
                assert(sd_event_run(e, 10 * USEC_PER_SEC) >= 0);
        }
}

static const char *path_of(const char *name) {
        static char buf[4][256];
        static unsigned k;
        char *p = buf[k++ % 4];

        snprintf(p, sizeof(buf[0]), "%s/%s", tmpdir, name);
        return p;
}

static void write_file(const char *name, size_t n, uint8_t seed) {
        _cleanup_free_ uint8_t *b = malloc(n);
        int fd;

        assert(b);
        for (size_t i = 0; i < n; i++)
                b[i] = (uint8_t) (seed * 13 + i);
        fd = open(path_of(name), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert(fd >= 0 && write(fd, b, n) == (ssize_t) n);
        close(fd);
}

/* A bootloader + app image, validated, as the bus layer would submit it. */
static Image *make_image(const char *app) {
        Image *img = image_new();
        int fd;

        assert(img);
        fd = open(path_of("boot.bin"), O_RDONLY | O_CLOEXEC);
        assert(fd >= 0 && image_add_region(img, 0x1000, fd) == 0);
        fd = open(path_of(app), O_RDONLY | O_CLOEXEC);
        assert(fd >= 0 && image_add_region(img, 0x10000, fd) == 0);
        assert(image_validate(img, 4 * 1024 * 1024) == 0);
        return img;
}

static void image_hash_of(const char *app, uint8_t ret[IMAGE_SHA256_SIZE]) {
        _cleanup_(image_freep) Image *img = make_image(app);

        assert(image_load(img) == 0 && image_compute_hash(img) == 0);
        memcpy(ret, img->sha256, IMAGE_SHA256_SIZE);
}

static const JobOptions options_trust = {
        .trust = true,
        .reset_before = ESP_RESET_CLASSIC,
        .reset_after = true,
        .granularity = JOB_GRANULARITY_REGION,
};

static JobOptions options_no_trust(void) {
        JobOptions o = options_trust;

        o.trust = false;
        return o;
}

static Job *submit(JobScheduler *s, JobKind kind, const char *port, const char *dev, const char *app,
                   const JobOptions *o, const char *tag) {
        Job *j = NULL;

        assert(job_scheduler_submit(s, kind, port, dev, make_image(app), o, (void *) tag, &j) == 0);
        assert(j);
        return j;
}

typedef struct Fixture {
        sd_event *event;
        TrustTable *trust;
        JobScheduler *scheduler;
        Ctx ctx;
        uint8_t app1[IMAGE_SHA256_SIZE], app2[IMAGE_SHA256_SIZE];
} Fixture;

/* Like opening one of the /nonexistent ports above (the serial transport is not
 * linked here). */
static int open_no_port(const char *port, uint32_t baud, Transport **ret) {
        return -ENOENT;
}

static void fixture_init(Fixture *f) {
        static const JobSchedulerCallbacks cb = {
                .progress = on_progress,
                .finished = on_finished,
                .open_transport = open_no_port,
        };

        *f = (Fixture) {};
        assert(sd_event_new(&f->event) >= 0);
        f->trust = trust_table_new(NULL, NULL);
        assert(f->trust);
        assert(job_scheduler_new(f->event, f->trust, &cb, &f->ctx, &f->scheduler) == 0);
        image_hash_of("app1.bin", f->app1);
        image_hash_of("app2.bin", f->app2);
}

static void fixture_done(Fixture *f) {
        f->scheduler = job_scheduler_free(f->scheduler);
        f->trust = trust_table_free(f->trust);
        f->event = sd_event_unref(f->event);
}

/* A trusted device with the same image: trust-skip, the port never opened. */
static void test_trust_skip(void) {
        Fixture f;
        const Done *d;
        TrustEntry before, after;

        fixture_init(&f);
        assert(trust_table_set(f.trust, DEV_A, f.app1) == 1);
        before = trust_table_get(f.trust, DEV_A);

        submit(f.scheduler, JOB_KIND_DEPLOY, PORT_A, DEV_A, "app1.bin", &options_trust, "skip");
        assert(job_scheduler_n_jobs(f.scheduler) == 1);
        run_until_idle(f.event, f.scheduler);

        d = find_done(&f.ctx, "skip", NULL);
        assert(d->error == 0);
        assert(d->outcome == JOB_OUTCOME_TRUST_SKIP);
        assert(d->stats.bytes_sent == 0 && d->stats.bytes_received == 0);
        assert(d->stats.flash_begins == 0 && d->stats.chip == NULL);
        after = trust_table_get(f.trust, DEV_A);
        assert(after.trusted && after.since_usec == before.since_usec);
        assert(!job_scheduler_port_flashing(f.scheduler, PORT_A));   /* idle */
        assert(job_scheduler_known_flash_size(f.scheduler, PORT_A) == 0);

        /* Another image on the same device is not skipped: it goes to the
         * port, which fails here. Nothing was written (no FLASH_BEGIN), so the
         * device still holds the trusted image. */
        submit(f.scheduler, JOB_KIND_DEPLOY, PORT_A, DEV_A, "app2.bin", &options_trust, "other");
        run_until_idle(f.event, f.scheduler);
        d = find_done(&f.ctx, "other", NULL);
        assert(d->error < 0);
        assert(strstr(d->message, PORT_A));
        assert(d->stats.flash_begins == 0);
        assert(trust_table_matches(f.trust, DEV_A, f.app1));
        fixture_done(&f);
}

/* One FIFO per port, in submission order; ports independent. */
static void test_fifo_order(void) {
        static const char *const tags[] = { "a1", "a2", "a3", "a4" };
        Fixture f;
        size_t idx[ELEMENTSOF(tags)];

        fixture_init(&f);
        assert(trust_table_set(f.trust, DEV_A, f.app1) == 1);
        assert(trust_table_set(f.trust, DEV_B, f.app2) == 1);

        for (size_t i = 0; i < ELEMENTSOF(tags); i++)
                submit(f.scheduler, JOB_KIND_DEPLOY, PORT_A, DEV_A, "app1.bin", &options_trust, tags[i]);
        submit(f.scheduler, JOB_KIND_DEPLOY, PORT_B, DEV_B, "app2.bin", &options_trust, "b1");
        assert(job_scheduler_n_jobs(f.scheduler) == ELEMENTSOF(tags) + 1);
        run_until_idle(f.event, f.scheduler);

        assert(f.ctx.n_done == ELEMENTSOF(tags) + 1);
        for (size_t i = 0; i < ELEMENTSOF(tags); i++) {
                const Done *d = find_done(&f.ctx, tags[i], &idx[i]);

                assert(d->error == 0 && d->outcome == JOB_OUTCOME_TRUST_SKIP);
                if (i > 0)
                        assert(idx[i] > idx[i - 1]);
        }
        assert(find_done(&f.ctx, "b1", NULL)->outcome == JOB_OUTCOME_TRUST_SKIP);
        fixture_done(&f);
}

/* Trust is checked at the job's turn, not when it was submitted or hashed:
 * what the job ahead did to the device counts. Here the job ahead "makes" the
 * device trusted (in the finished callback, standing in for a real deploy),
 * and the job behind, submitted while the device was untrusted, is skipped. */
static void test_trust_at_turn(void) {
        Fixture f;
        JobOptions no_trust = options_no_trust();
        const Done *x1, *x2;
        size_t i1, i2;

        fixture_init(&f);
        f.ctx.trust_after_x1 = f.trust;
        memcpy(f.ctx.trust_hash, f.app1, IMAGE_SHA256_SIZE);

        submit(f.scheduler, JOB_KIND_DEPLOY, PORT_A, DEV_A, "app1.bin", &no_trust, "x1");
        submit(f.scheduler, JOB_KIND_DEPLOY, PORT_A, DEV_A, "app1.bin", &options_trust, "x2");
        assert(!trust_table_matches(f.trust, DEV_A, f.app1));
        run_until_idle(f.event, f.scheduler);

        x1 = find_done(&f.ctx, "x1", &i1);
        x2 = find_done(&f.ctx, "x2", &i2);
        assert(i1 < i2);
        assert(x1->error < 0 && x1->outcome == _JOB_OUTCOME_INVALID);
        assert(x2->error == 0 && x2->outcome == JOB_OUTCOME_TRUST_SKIP);

        /* Trusted, but the option is off: it goes to the device. */
        submit(f.scheduler, JOB_KIND_DEPLOY, PORT_A, DEV_A, "app1.bin", &no_trust, "x3");
        run_until_idle(f.event, f.scheduler);
        assert(find_done(&f.ctx, "x3", NULL)->error < 0);

        /* Trusted and asked for: skipped. */
        submit(f.scheduler, JOB_KIND_DEPLOY, PORT_A, DEV_A, "app1.bin", &options_trust, "x5");
        run_until_idle(f.event, f.scheduler);
        assert(find_done(&f.ctx, "x5", NULL)->outcome == JOB_OUTCOME_TRUST_SKIP);

        /* Trusted again: skipped again. */
        assert(trust_table_set(f.trust, DEV_A, f.app1) == 0);
        submit(f.scheduler, JOB_KIND_DEPLOY, PORT_A, DEV_A, "app1.bin", &options_trust, "x3b");
        run_until_idle(f.event, f.scheduler);
        assert(find_done(&f.ctx, "x3b", NULL)->outcome == JOB_OUTCOME_TRUST_SKIP);

        /* Without a device id there is no trust to use. */
        submit(f.scheduler, JOB_KIND_DEPLOY, PORT_A, NULL, "app1.bin", &options_trust, "x4");
        run_until_idle(f.event, f.scheduler);
        assert(find_done(&f.ctx, "x4", NULL)->error < 0);
        assert(trust_table_matches(f.trust, DEV_A, f.app1));
        fixture_done(&f);
}

/* A deploy with trust to an idle port whose device is trusted with no image
 * hashes later, during its connect (job_set_hash_first()). Should the device
 * be trusted before its turn all the same, it runs: a skip needs its hash,
 * whatever the trusted one is (all zeros here, what an image not yet hashed
 * holds). */
static void test_hash_later_never_skips(void) {
        static const uint8_t zeros[IMAGE_SHA256_SIZE] = {};
        Fixture f;
        const Done *d;

        fixture_init(&f);
        submit(f.scheduler, JOB_KIND_DEPLOY, PORT_A, DEV_A, "app2.bin", &options_trust, "late");
        assert(trust_table_set(f.trust, DEV_A, zeros) >= 0);
        run_until_idle(f.event, f.scheduler);
        d = find_done(&f.ctx, "late", NULL);
        assert(d->outcome != JOB_OUTCOME_TRUST_SKIP);
        assert(d->error < 0 && d->data_loaded);     /* it went for the port */
        fixture_done(&f);
}

/* Verify always asks the device, and a failed verify leaves trust alone. */
static void test_verify_never_skips(void) {
        Fixture f;
        const Done *d;

        fixture_init(&f);
        assert(trust_table_set(f.trust, DEV_A, f.app1) == 1);
        submit(f.scheduler, JOB_KIND_VERIFY, PORT_A, DEV_A, "app1.bin", &options_trust, "v1");
        run_until_idle(f.event, f.scheduler);
        d = find_done(&f.ctx, "v1", NULL);
        assert(d->kind == JOB_KIND_VERIFY);
        assert(d->error < 0);
        assert(trust_table_matches(f.trust, DEV_A, f.app1));
        fixture_done(&f);
}

/* Queued jobs finish at once with -ECANCELED, without the port, trust untouched. */
static void test_cancel_port(void) {
        Fixture f;

        fixture_init(&f);
        assert(trust_table_set(f.trust, DEV_C, f.app1) == 1);
        submit(f.scheduler, JOB_KIND_DEPLOY, PORT_C, DEV_C, "app1.bin", &options_trust, "c1");
        submit(f.scheduler, JOB_KIND_DEPLOY, PORT_C, DEV_C, "app2.bin", &options_trust, "c2");
        submit(f.scheduler, JOB_KIND_DEPLOY, PORT_B, DEV_B, "app2.bin", &options_trust, "other-port");
        assert(job_scheduler_cancel_port(f.scheduler, PORT_C) == 2);
        assert(job_scheduler_cancel_port(f.scheduler, "/nonexistent/never-used") == 0);
        run_until_idle(f.event, f.scheduler);

        for (size_t i = 0; i < 2; i++) {
                const Done *d = find_done(&f.ctx, i == 0 ? "c1" : "c2", NULL);

                assert(d->error == -ECANCELED);
                assert(strcmp(d->message, "cancelled") == 0);
                assert(d->stats.bytes_sent == 0);
        }
        /* The job on the other port was not cancelled (it fails at its port). */
        assert(find_done(&f.ctx, "other-port", NULL)->error != -ECANCELED);
        assert(trust_table_matches(f.trust, DEV_C, f.app1));
        fixture_done(&f);
}

/* An unchanged image is not read again: the memo gives the hash, and a
 * trust-skip then never loads a byte. */
static void test_memo(void) {
        Fixture f;
        Job *j;

        fixture_init(&f);
        assert(trust_table_set(f.trust, DEV_A, f.app1) == 1);

        j = submit(f.scheduler, JOB_KIND_DEPLOY, PORT_A, DEV_A, "app1.bin", &options_trust, "first");
        run_until_idle(f.event, f.scheduler);
        assert(find_done(&f.ctx, "first", NULL)->data_loaded);

        j = submit(f.scheduler, JOB_KIND_DEPLOY, PORT_A, DEV_A, "app1.bin", &options_trust, "second");
        /* Set by the memo lookup in submit, before the worker started. */
        assert(job_image(j)->hash_valid);
        assert(memcmp(job_image(j)->sha256, f.app1, IMAGE_SHA256_SIZE) == 0);
        run_until_idle(f.event, f.scheduler);
        assert(find_done(&f.ctx, "second", NULL)->outcome == JOB_OUTCOME_TRUST_SKIP);
        assert(!find_done(&f.ctx, "second", NULL)->data_loaded);
        fixture_done(&f);
}

static void test_bad_submissions(void) {
        Fixture f;
        JobOptions bad_granularity = options_trust;
        Job *j = NULL;

        fixture_init(&f);
        bad_granularity.granularity = _JOB_GRANULARITY_MAX;
        assert(job_scheduler_submit(f.scheduler, JOB_KIND_DEPLOY, PORT_A, DEV_A, make_image("app1.bin"),
                                    &bad_granularity, NULL, &j) == -EINVAL);
        assert(!j);
        assert(job_scheduler_submit(f.scheduler, JOB_KIND_DEPLOY, NULL, DEV_A, make_image("app1.bin"),
                                    &options_trust, NULL, &j) == -EINVAL);
        assert(job_scheduler_n_jobs(f.scheduler) == 0);
        fixture_done(&f);
}

/* Freeing the scheduler with jobs in flight cancels and joins them quietly. */
static void test_free_with_pending_jobs(void) {
        JobOptions no_trust = options_no_trust();
        Fixture f;

        fixture_init(&f);
        submit(f.scheduler, JOB_KIND_DEPLOY, PORT_A, DEV_A, "app1.bin", &no_trust, "p1");
        submit(f.scheduler, JOB_KIND_DEPLOY, PORT_A, DEV_A, "app2.bin", &options_trust, "p2");
        submit(f.scheduler, JOB_KIND_VERIFY, PORT_B, DEV_B, "app2.bin", &options_trust, "p3");
        fixture_done(&f);
        assert(f.ctx.n_done == 0);
}

static void job_names(void) {
        assert(strcmp(job_outcome_to_string(JOB_OUTCOME_TRUST_SKIP), "trust-skip") == 0);
        assert(strcmp(job_outcome_to_string(JOB_OUTCOME_VERIFY_SKIP), "verify-skip") == 0);
        assert(strcmp(job_outcome_to_string(JOB_OUTCOME_SELECTIVE), "selective") == 0);
        assert(strcmp(job_outcome_to_string(JOB_OUTCOME_FULL), "full") == 0);
        assert(!job_outcome_to_string(_JOB_OUTCOME_MAX));
        assert(strcmp(job_phase_to_string(JOB_PHASE_POST_VERIFY), "post-verify") == 0);
        assert(strcmp(job_kind_to_string(JOB_KIND_DEPLOY), "deploy") == 0);
        assert(job_granularity_from_string("region") == JOB_GRANULARITY_REGION);
        assert(job_granularity_from_string("sector") == JOB_GRANULARITY_SECTOR);
        assert(job_granularity_from_string("byte") == _JOB_GRANULARITY_INVALID);
        assert(strcmp(job_granularity_to_string(JOB_GRANULARITY_SECTOR), "sector") == 0);
}

static void cleanup_tmpdir(void) {
        char cmd[300];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        (void) !system(cmd);
}

int main(void) {
        struct timespec settle = { .tv_nsec = 30 * 1000 * 1000 };

        /* The helper in the build tree: not beside this test. */
        assert(digest_set_helper(DIGEST_HELPER_PATH) == 0);
        assert(mkdtemp(tmpdir));
        atexit(cleanup_tmpdir);
        write_file("boot.bin", 0x5000, 1);
        write_file("app1.bin", 0x23456, 2);
        write_file("app2.bin", 0x23456, 3);
        /* Past the files' ctime tick, so that their hashes may be memoized. */
        nanosleep(&settle, NULL);

        job_names();
        test_trust_skip();
        test_fifo_order();
        test_trust_at_turn();
        test_hash_later_never_skips();
        test_verify_never_skips();
        test_cancel_port();
        test_memo();
        test_bad_submissions();
        test_free_with_pending_jobs();
        return 0;
}
