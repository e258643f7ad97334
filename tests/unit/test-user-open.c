/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Opening files with a caller's credentials, for real: as root, drop to an
 * unprivileged uid (nobody) and its groups, and check that exactly the files
 * that uid could read come back, that non-regular files are refused without
 * blocking, that /proc's magic links are refused, and that nothing leaks; then
 * the same through the opener process (this binary, spawned as the service
 * spawns itself). Skipped (77) unless run as root. */

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
#include <poll.h>
#include <sys/un.h>
#include <sys/wait.h>
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

/* user_open_as_identity() takes the identity for good: in a child, which
 * reports what it got (the content of the file, or the errno) over a pipe. */
typedef struct ChildAnswer {
        int r;
        char content[64];
} ChildAnswer;

static int open_as_user(const char *path, uid_t uid, gid_t gid, const gid_t *gids, size_t n_gids) {
        UserIdentity id = { .uid = uid, .gid = gid, .groups = (gid_t *) gids, .n_groups = n_gids };
        ChildAnswer a = {};
        int pipefd[2], status;
        pid_t pid;

        assert(pipe2(pipefd, O_CLOEXEC) == 0);
        pid = fork();
        assert(pid >= 0);
        if (pid == 0) {
                int fd = user_open_as_identity(&id, path);

                a.r = fd < 0 ? fd : 0;
                if (fd >= 0) {
                        int flags = fcntl(fd, F_GETFL);

                        if (flags < 0 || (flags & O_ACCMODE) != O_RDONLY || (flags & O_NONBLOCK) ||
                            !(fcntl(fd, F_GETFD) & FD_CLOEXEC) ||
                            read(fd, a.content, sizeof(a.content) - 1) < 0)
                                _exit(3);
                }
                _exit(write(pipefd[1], &a, sizeof(a)) == sizeof(a) ? 0 : 2);
        }
        close(pipefd[1]);
        assert(read(pipefd[0], &a, sizeof(a)) == sizeof(a));
        close(pipefd[0]);
        assert(waitpid(pid, &status, 0) == pid);
        assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        return a.r < 0 ? a.r : (strcmp(a.content, "ok") == 0 ? 0 : -EBADMSG);
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
        assert(symlink(path_of("loop"), path_of("loop")) == 0);
        assert(symlink("/proc/self/fd/0", path_of("link-to-proc-fd")) == 0);
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
                if (r != c->expected) {
                        fprintf(stderr, "case %zu (%s as %u): got %d, expected %d\n", i, c->name,
                                (unsigned) c->uid, r, c->expected);
                        abort();
                }
        }
}

static void test_invalid(void) {
        static const gid_t bad_group[] = { (gid_t) -1 };
        UserOpener o = USER_OPENER_INIT;

        assert(open_as_user(NULL, NOBODY, NOGROUP, NULL, 0) == -EINVAL);
        assert(open_as_user("", NOBODY, NOGROUP, NULL, 0) == -EINVAL);
        assert(open_as_user("relative", NOBODY, NOGROUP, NULL, 0) == -EINVAL);
        /* -1 would mean "keep the current id" to the kernel: stay root. */
        assert(open_as_user(path_of("secret"), (uid_t) -1, NOGROUP, NULL, 0) == -EINVAL);
        assert(open_as_user(path_of("secret"), NOBODY, (gid_t) -1, NULL, 0) == -EINVAL);
        assert(open_as_user(path_of("secret"), NOBODY, NOGROUP, bad_group, 1) == -EINVAL);
        assert(open_as_user(path_of("secret"), NOBODY, NOGROUP, NULL, 1) == -EINVAL);

        assert(user_open_spawn("/proc/self/exe", "relative", NOBODY, &o) == -EINVAL);
        assert(user_open_spawn("/proc/self/exe", path_of("public"), (uid_t) -1, &o) == -EINVAL);
        assert(user_open_spawn(NULL, path_of("public"), NOBODY, &o) == -EINVAL);
        assert(o.pid == 0 && o.sock < 0 && o.pidfd < 0);
}

/* ---- through the opener process ----------------------------------------------- */

/* With a pidfd (its poll() says when), else by polling (valgrind has none). */
static void wait_reaped(UserOpener *o) {
        if (o->pidfd >= 0) {
                struct pollfd p = { .fd = o->pidfd, .events = POLLIN };

                assert(poll(&p, 1, 30000) == 1);
                assert(user_opener_reap(o) == 0);
        } else
                for (int i = 0; user_opener_reap(o) == -EAGAIN; i++) {
                        assert(i < 30000);
                        usleep(1000);
                }
        assert(o->pid == 0);
}

/* What the service does on its event loop, here with poll(): spawn, wait for
 * the answer, reap. */
static int spawn_and_wait(const char *path, uid_t uid) {
        UserOpener o = USER_OPENER_INIT;
        struct pollfd p;
        int r;

        r = user_open_spawn("/proc/self/exe", path, uid, &o);
        if (r < 0)
                return r;
        p = (struct pollfd) { .fd = o.sock, .events = POLLIN };
        assert(poll(&p, 1, 30000) == 1);
        r = user_open_receive(&o);
        assert(r != -EAGAIN);

        wait_reaped(&o);
        user_opener_close(&o);
        return r;
}

typedef struct SpawnCase {
        const char *name;     /* path below tmpdir, or absolute */
        uid_t uid;
        int expected;         /* 0: opens, and the file holds "ok" */
} SpawnCase;

static void run_spawn_cases(int held_fd) {
        char held[64], root_public[512];
        const SpawnCase spawn_cases[] = {
                { "public", NOBODY, 0 },
                { "secret", NOBODY, -EACCES },
                { "secret", 0, 0 },
                { "own", NOBODY, 0 },
                /* nobody's login groups do not include TEST_GROUP */
                { "group", NOBODY, -EACCES },
                { "closed/inner", NOBODY, -EACCES },
                { "closed", NOBODY, -EISDIR },
                { "fifo", NOBODY, -ESPIPE },
                { "fifo", 0, -ESPIPE },
                { "socket", NOBODY, -ESPIPE },
                { "/dev/null", NOBODY, -ESPIPE },
                { "missing", NOBODY, -ENOENT },
                { "loop", NOBODY, -ELOOP },
                { "link-to-public", NOBODY, 0 },
                /* magic links: refused whatever is behind them, also for root */
                { "/proc/self/fd/0", NOBODY, -EXDEV },
                { "/proc/self/fd/1", 0, -EXDEV },
                { "/proc/self/fd/3", NOBODY, -EXDEV },
                { "/dev/stdout", NOBODY, -EXDEV },
                { "/dev/fd/2", 0, -EXDEV },
                { "/proc/thread-self/fd/0", NOBODY, -EXDEV },
                { "/proc/self/exe", 0, -EXDEV },
                { root_public, NOBODY, -EXDEV },
                { root_public, 0, -EXDEV },
                { "link-to-proc-fd", NOBODY, -EXDEV },
                /* our fd (not O_CLOEXEC) to the secret file never reaches the opener */
                { held, NOBODY, -ENOENT },
                { held, 0, -ENOENT },
                /* no such user: no groups to open with */
                { "public", (uid_t) 3999999999u, -ESRCH },
        };

        snprintf(held, sizeof(held), "/proc/self/fd/%d", held_fd);
        snprintf(root_public, sizeof(root_public), "/proc/self/root%s", path_of("public"));

        for (size_t i = 0; i < ELEMENTSOF(spawn_cases); i++) {
                const SpawnCase *c = &spawn_cases[i];
                const char *p = c->name[0] == '/' ? c->name : path_of(c->name);
                int r = spawn_and_wait(p, c->uid);

                if ((c->expected == 0 && r < 0) || (c->expected < 0 && r != c->expected)) {
                        fprintf(stderr, "spawn case %zu (%s as %u): got %d, expected %d\n", i, p,
                                (unsigned) c->uid, r, c->expected);
                        abort();
                }
                if (c->expected == 0)
                        expect_content(r, "ok");
        }
}

/* An opener that never answers is killed, and reaped once it is gone. */
static void test_spawn_kill(void) {
        UserOpener o = USER_OPENER_INIT;

        assert(user_open_spawn("/proc/self/exe", path_of("public"), NOBODY, &o) == 0);
        user_opener_kill(&o);
        wait_reaped(&o);
        /* It may or may not have answered before it died; never an fd twice. */
        {
                int r = user_open_receive(&o);

                assert(r == -EIO || r >= 0);
                safe_close(r);
        }
        user_opener_close(&o);
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
                assert(open_as_user(path_of("public"), NOBODY, NOGROUP, NULL, 0) == 0);
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

int main(int argc, char *argv[]) {
        unsigned fds;
        int held;

        /* The opener, spawned by run_spawn_cases() as the service spawns itself. */
        if (argc > 1 && strcmp(argv[1], USER_OPEN_ARGV1) == 0)
                return user_open_main(argc, argv);

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

        /* A descriptor of ours without O_CLOEXEC, as libraries leave them. */
        held = open(path_of("secret"), O_RDONLY);
        assert(held >= 0);
        /* Above anything the opener has (0-2, its reply socket 3). */
        assert(dup2(held, 50) == 50);
        close(held);
        held = 50;
        fds = count_fds();
        run_spawn_cases(held);
        test_spawn_kill();
        assert(count_fds() == fds);
        close(held);

        /* The service itself is still root. */
        assert(geteuid() == 0 && getuid() == 0 && getegid() == 0);
        return 0;
}
