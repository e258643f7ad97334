/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Opening files with a caller's credentials, for real: as root, drop to an
 * unprivileged uid (nobody) and its groups, and check that exactly the files
 * that uid could read come back, that non-regular files are refused without
 * blocking, and that nothing leaks. Skipped (77) unless run as root. */

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "macro.h"
#include "user-open.h"

#define NOBODY ((uid_t) 65534)
#define NOGROUP ((gid_t) 65534)
#define TEST_GROUP ((gid_t) 54321)   /* a group nobody is not in */

static char tmpdir[] = "/tmp/test-user-open-XXXXXX";

static const char *path_of(const char *name) {
        static char buf[4][256];
        static unsigned k;
        char *p = buf[k++ % 4];

        snprintf(p, sizeof(buf[0]), "%s/%s", tmpdir, name);
        return p;
}

static void make_file(const char *name, mode_t mode, uid_t uid, gid_t gid, const char *content) {
        const char *p = path_of(name);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        assert(fd >= 0);
        assert(write(fd, content, strlen(content)) == (ssize_t) strlen(content));
        assert(fchown(fd, uid, gid) == 0);
        assert(fchmod(fd, mode) == 0);
        close(fd);
}

static unsigned count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        unsigned n = 0;

        assert(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

/* Opens, checks the fd's flags and content, closes. */
static void expect_content(int fd, const char *content) {
        char buf[256] = {};
        int flags;

        assert(fd >= 0);
        flags = fcntl(fd, F_GETFL);
        assert(flags >= 0);
        assert((flags & O_ACCMODE) == O_RDONLY);
        assert(!(flags & O_NONBLOCK));
        assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        assert(read(fd, buf, sizeof(buf) - 1) == (ssize_t) strlen(content));
        assert(strcmp(buf, content) == 0);
        close(fd);
}

typedef struct Case {
        const char *name;     /* path below tmpdir, or absolute */
        uid_t uid;
        gid_t gid;
        const gid_t *gids;
        size_t n_gids;
        int expected;         /* 0: opens, and the file holds "ok" */
} Case;

static const gid_t test_group[] = { TEST_GROUP };

static const Case cases[] = {
        { "secret", NOBODY, NOGROUP, NULL, 0, -EACCES },          /* 0600 root */
        { "secret", 0, 0, NULL, 0, 0 },                           /* root opens directly */
        { "public", NOBODY, NOGROUP, NULL, 0, 0 },                /* 0644 root */
        { "own", NOBODY, NOGROUP, NULL, 0, 0 },                   /* 0600 nobody */
        { "group", NOBODY, NOGROUP, NULL, 0, -EACCES },           /* 0640 root:TEST_GROUP */
        { "group", NOBODY, NOGROUP, test_group, 1, 0 },           /* … with that group */
        { "group", NOBODY, TEST_GROUP, NULL, 0, 0 },              /* … as primary group */
        { "closed/inner", NOBODY, NOGROUP, NULL, 0, -EACCES },    /* public file, 0700 dir */
        { "closed/inner", 0, 0, NULL, 0, 0 },
        { "missing", NOBODY, NOGROUP, NULL, 0, -ENOENT },
        { "public/below", NOBODY, NOGROUP, NULL, 0, -ENOTDIR },
        { "link-to-secret", NOBODY, NOGROUP, NULL, 0, -EACCES },  /* symlinks are followed */
        { "link-to-public", NOBODY, NOGROUP, NULL, 0, 0 },
        { "closed", NOBODY, NOGROUP, NULL, 0, -EISDIR },
        { "closed", 0, 0, NULL, 0, -EISDIR },
        { "fifo", NOBODY, NOGROUP, NULL, 0, -ESPIPE },            /* must not block */
        { "fifo", 0, 0, NULL, 0, -ESPIPE },
        { "socket", NOBODY, NOGROUP, NULL, 0, -ESPIPE },
        { "/dev/null", NOBODY, NOGROUP, NULL, 0, -ESPIPE },
        { "/dev/null", 0, 0, NULL, 0, -ESPIPE },
};

static void setup_tree(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int s;

        assert(mkdtemp(tmpdir));
        assert(chmod(tmpdir, 0755) == 0);

        make_file("secret", 0600, 0, 0, "ok");
        make_file("public", 0644, 0, 0, "ok");
        make_file("own", 0600, NOBODY, NOGROUP, "ok");
        make_file("group", 0640, 0, TEST_GROUP, "ok");
        assert(mkdir(path_of("closed"), 0700) == 0);
        make_file("closed/inner", 0644, 0, 0, "ok");
        assert(symlink(path_of("secret"), path_of("link-to-secret")) == 0);
        assert(symlink(path_of("public"), path_of("link-to-public")) == 0);
        assert(mkfifo(path_of("fifo"), 0666) == 0);

        s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert(s >= 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path_of("socket"));
        assert(bind(s, (struct sockaddr *) &sa, sizeof(sa)) == 0);
        assert(chmod(path_of("socket"), 0666) == 0);
        close(s);
}

static void run_cases(void) {
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const Case *c = &cases[i];
                const char *p = c->name[0] == '/' ? c->name : path_of(c->name);
                int r;

                r = open_as_user(p, c->uid, c->gid, c->gids, c->n_gids);
                if ((c->expected == 0 && r < 0) || (c->expected < 0 && r != c->expected)) {
                        fprintf(stderr, "case %zu (%s as %u): got %d, expected %d\n", i, c->name,
                                (unsigned) c->uid, r, c->expected);
                        abort();
                }
                if (c->expected == 0)
                        expect_content(r, "ok");
        }
}

static void test_invalid(void) {
        static const gid_t bad_group[] = { (gid_t) -1 };

        assert(open_as_user(NULL, NOBODY, NOGROUP, NULL, 0) == -EINVAL);
        assert(open_as_user("", NOBODY, NOGROUP, NULL, 0) == -EINVAL);
        /* -1 would mean "keep the current id" to the kernel: stay root. */
        assert(open_as_user(path_of("secret"), (uid_t) -1, NOGROUP, NULL, 0) == -EINVAL);
        assert(open_as_user(path_of("secret"), NOBODY, (gid_t) -1, NULL, 0) == -EINVAL);
        assert(open_as_user(path_of("secret"), NOBODY, NOGROUP, bad_group, 1) == -EINVAL);
        assert(open_as_user(path_of("secret"), NOBODY, NOGROUP, NULL, 1) == -EINVAL);
}

/* The service forks while job workers run: the child must not depend on them. */
static void *busy_thread(void *p) {
        bool *stop = p;

        while (!__atomic_load_n(stop, __ATOMIC_RELAXED)) {
                void *m = malloc(64);

                free(m);
        }
        return NULL;
}

static void test_with_threads(void) {
        bool stop = false;
        pthread_t t[2];

        for (size_t i = 0; i < ELEMENTSOF(t); i++)
                assert(pthread_create(&t[i], NULL, busy_thread, &stop) == 0);
        for (int i = 0; i < 50; i++) {
                assert(open_as_user(path_of("secret"), NOBODY, NOGROUP, NULL, 0) == -EACCES);
                expect_content(open_as_user(path_of("public"), NOBODY, NOGROUP, NULL, 0), "ok");
        }
        __atomic_store_n(&stop, true, __ATOMIC_RELAXED);
        for (size_t i = 0; i < ELEMENTSOF(t); i++)
                assert(pthread_join(t[i], NULL) == 0);
}

static void cleanup_tmpdir(void) {
        char cmd[300];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        (void) !system(cmd);
}

int main(void) {
        unsigned fds;

        if (geteuid() != 0) {
                fprintf(stderr, "test-user-open: needs root to switch uid, skipping\n");
                return 77;
        }

        setup_tree();
        atexit(cleanup_tmpdir);
        /* A FIFO opened the blocking way would hang here forever. */
        alarm(60);

        fds = count_fds();
        run_cases();
        test_invalid();
        test_with_threads();
        assert(count_fds() == fds);

        /* The service itself is still root. */
        assert(geteuid() == 0 && getuid() == 0 && getegid() == 0);
        return 0;
}
