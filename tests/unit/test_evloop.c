/* test_evloop.c - the event core: timers in order, re-armed and cancelled;
 * descriptors ready for reading and writing, and idle ones kept in the
 * epoll set; wakers written from another thread; an idle loop sleeps (no
 * busy loop). Linked with --wrap=epoll_ctl to count the operations. */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/evloop.h"
#include "tt.h"

/* epoll_ctl operations so far, by op (EPOLL_CTL_ADD, _DEL, _MOD). */
static int ctl_ops[4];

int __real_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int __wrap_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int __wrap_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    if (op >= 0 && op < 4)
        ctl_ops[op]++;
    return __real_epoll_ctl(epfd, op, fd, ev);
}

static int ctl_total(void)
{
    return ctl_ops[EPOLL_CTL_ADD] + ctl_ops[EPOLL_CTL_DEL] + ctl_ops[EPOLL_CTL_MOD];
}

typedef struct rec {
    int order[64];
    int n;
} rec_t;

typedef struct tctx {
    rec_t *r;
    int id;
} tctx_t;

static void on_timer(void *ctx, int64_t now_us)
{
    tctx_t *t = ctx;
    (void)now_us;
    if (t->r->n < 64)
        t->r->order[t->r->n++] = t->id;
}

/* Runs the loop until want callbacks ran (2 s guard against a hang). */
static int run_until(evloop_t *el, rec_t *r, int want)
{
    char err[128];
    int64_t end = clock_mono_us() + 2000000;
    while (r->n < want && clock_mono_us() < end)
        if (evloop_run_once(el, 100000, err, sizeof(err)) < 0)
            return -1;
    return r->n;
}

static void test_timers(void)
{
    char err[128];
    evloop_t *el = evloop_new(err, sizeof(err));
    rec_t r = {{0}, 0};
    tctx_t c[5];
    evloop_timer_t *t[5];
    int64_t now = clock_mono_us();
    for (int i = 0; i < 5; i++) {
        c[i] = (tctx_t){&r, i};
        t[i] = evloop_timer_new(el, on_timer, &c[i]);
    }
    evloop_timer_at(el, t[0], now + 30000);
    evloop_timer_at(el, t[1], now + 10000);
    evloop_timer_at(el, t[2], now + 20000);
    evloop_timer_at(el, t[3], now + 5000);
    evloop_timer_at(el, t[4], now + 1000);
    evloop_timer_cancel(el, t[3]);          /* never fires */
    evloop_timer_at(el, t[4], now + 40000); /* moved later */
    evloop_timer_at(el, t[0], now + 15000); /* moved earlier */
    TT_CHECK(evloop_timer_armed(t[4]));
    TT_CHECK(!evloop_timer_armed(t[3]));
    TT_EQ_INT(run_until(el, &r, 4), 4);
    TT_EQ_INT(r.order[0], 1);
    TT_EQ_INT(r.order[1], 0);
    TT_EQ_INT(r.order[2], 2);
    TT_EQ_INT(r.order[3], 4);
    TT_CHECK(!evloop_timer_armed(t[4])); /* fired: disarmed */
    /* Not before its time: 50 ms ahead is not run by a 0-wait turn. */
    evloop_timer_at(el, t[3], clock_mono_us() + 50000);
    TT_CHECK(evloop_run_once(el, 0, err, sizeof(err)) == 0);
    TT_EQ_INT(r.n, 4);
    int64_t t0 = clock_mono_us();
    TT_EQ_INT(run_until(el, &r, 5), 5);
    TT_CHECK(clock_mono_us() - t0 >= 40000); /* it waited: correctness, not speed */
    TT_EQ_INT(r.order[4], 3);
    /* A timer in the past fires on the next run. */
    evloop_timer_at(el, t[2], 0);
    TT_EQ_INT(run_until(el, &r, 6), 6);
    TT_EQ_INT(r.order[5], 2);
    for (int i = 0; i < 5; i++)
        evloop_timer_free(el, t[i]);
    evloop_timer_free(el, NULL);
    evloop_destroy(el);
}

/* More timers than the heap's first size, all armed: none fires while it is
 * armed (arming never allocates, so never falls back to firing at once),
 * and all fire in due order. */
static void test_many_timers(void)
{
    char err[128];
    evloop_t *el = evloop_new(err, sizeof(err));
    rec_t r = {{0}, 0};
    enum { N = 40 };
    tctx_t c[N];
    evloop_timer_t *t[N];
    int64_t now = clock_mono_us();
    for (int i = 0; i < N; i++) {
        c[i] = (tctx_t){&r, i};
        t[i] = evloop_timer_new(el, on_timer, &c[i]);
        TT_CHECK(t[i] != NULL);
    }
    for (int i = 0; i < N; i++)
        evloop_timer_at(el, t[i], now + 5000 + (N - i) * 200);
    TT_EQ_INT(r.n, 0);
    TT_EQ_INT(run_until(el, &r, N), N);
    for (int i = 0; i < N; i++)
        TT_EQ_INT(r.order[i], N - 1 - i);
    for (int i = 0; i < N; i++)
        evloop_timer_free(el, t[i]);
    evloop_destroy(el);
}

typedef struct fdctx {
    int reads, writes, last_fd;
} fdctx_t;

static void on_fd(void *ctx, int fd, int events)
{
    fdctx_t *f = ctx;
    char buf[64];
    f->last_fd = fd;
    if (events & EVLOOP_READ) {
        f->reads++;
        while (read(fd, buf, sizeof(buf)) > 0)
            ;
    }
    if (events & EVLOOP_WRITE)
        f->writes++;
}

static void test_fds(void)
{
    char err[128];
    int p[2];
    evloop_t *el = evloop_new(err, sizeof(err));
    fdctx_t f = {0, 0, -1};
    TT_EQ_INT(pipe2(p, O_NONBLOCK), 0);
    TT_EQ_INT(evloop_fd_set(el, p[0], EVLOOP_READ, on_fd, &f, err, sizeof(err)), 0);
    TT_EQ_INT(evloop_run_once(el, 20000, err, sizeof(err)), 0); /* nothing ready */
    TT_EQ_INT(write(p[1], "x", 1), 1);
    TT_EQ_INT(evloop_run_once(el, 1000000, err, sizeof(err)), 1);
    TT_EQ_INT(f.reads, 1);
    TT_EQ_INT(f.last_fd, p[0]);
    /* A writable pipe end. */
    TT_EQ_INT(evloop_fd_set(el, p[1], EVLOOP_WRITE, on_fd, &f, err, sizeof(err)), 0);
    TT_EQ_INT(evloop_run_once(el, 1000000, err, sizeof(err)), 1);
    TT_EQ_INT(f.writes, 1);
    /* Unwatched: no more callbacks. */
    TT_EQ_INT(evloop_fd_set(el, p[1], 0, NULL, NULL, err, sizeof(err)), 0);
    TT_EQ_INT(evloop_run_once(el, 0, err, sizeof(err)), 0);
    /* A closed number reused: re-registering it works (the kernel dropped it). */
    close(p[1]);
    TT_EQ_INT(evloop_run_once(el, 100000, err, sizeof(err)), 1); /* hang-up: reported read */
    TT_EQ_INT(f.reads, 2);
    close(p[0]);
    int q[2];
    TT_EQ_INT(pipe2(q, O_NONBLOCK), 0);
    TT_EQ_INT(evloop_fd_set(el, q[0], EVLOOP_READ, on_fd, &f, err, sizeof(err)), 0);
    TT_EQ_INT(write(q[1], "y", 1), 1);
    TT_EQ_INT(evloop_run_once(el, 1000000, err, sizeof(err)), 1);
    TT_EQ_INT(f.reads, 3);
    TT_EQ_INT(evloop_fd_set(el, -1, EVLOOP_READ, on_fd, &f, err, sizeof(err)), -1);
    TT_CHECK(strstr(err, "bad fd") != NULL);
    TT_EQ_INT(evloop_fd_set(el, 1000000, EVLOOP_READ, on_fd, &f, err, sizeof(err)), -1);
    TT_CHECK(strstr(err, "epoll_ctl") != NULL);
    close(q[0]);
    close(q[1]);
    evloop_destroy(el);
}

/* An idle descriptor (evloop_fd_idle) stays in the epoll set: watching it
 * again is one MOD, no DEL and ADD. While idle it runs no callback, and one
 * event takes it out of the set. Closed while idle, its number is taken up
 * by the next registration (MOD fails, ADD). */
static void test_fd_idle(void)
{
    char err[128];
    int p[2], q[2];
    evloop_t *el = evloop_new(err, sizeof(err));
    fdctx_t f = {0, 0, -1};
    TT_EQ_INT(pipe2(p, O_NONBLOCK), 0);
    TT_EQ_INT(evloop_fd_set(el, p[0], EVLOOP_READ, on_fd, &f, err, sizeof(err)), 0);
    memset(ctl_ops, 0, sizeof(ctl_ops));
    evloop_fd_idle(el, p[0]);
    TT_EQ_INT(ctl_total(), 0);
    TT_EQ_INT(evloop_fd_set(el, p[0], EVLOOP_READ, on_fd, &f, err, sizeof(err)), 0);
    TT_EQ_INT(ctl_ops[EPOLL_CTL_MOD], 1);
    TT_EQ_INT(ctl_total(), 1);
    TT_EQ_INT(write(p[1], "x", 1), 1);
    TT_EQ_INT(evloop_run_once(el, 1000000, err, sizeof(err)), 1);
    TT_EQ_INT(f.reads, 1);

    /* Idle and ready: no callback, and out of the set. */
    evloop_fd_idle(el, p[0]);
    TT_EQ_INT(write(p[1], "x", 1), 1);
    memset(ctl_ops, 0, sizeof(ctl_ops));
    TT_EQ_INT(evloop_run_once(el, 1000000, err, sizeof(err)), 0);
    TT_EQ_INT(ctl_ops[EPOLL_CTL_DEL], 1);
    TT_EQ_INT(evloop_run_once(el, 0, err, sizeof(err)), 0);
    TT_EQ_INT(ctl_ops[EPOLL_CTL_DEL], 1); /* not reported again */
    TT_EQ_INT(f.reads, 1);
    /* Watched again after that: ADD; the byte waiting is reported. */
    TT_EQ_INT(evloop_fd_set(el, p[0], EVLOOP_READ, on_fd, &f, err, sizeof(err)), 0);
    TT_EQ_INT(ctl_ops[EPOLL_CTL_ADD], 1);
    TT_EQ_INT(evloop_run_once(el, 1000000, err, sizeof(err)), 1);
    TT_EQ_INT(f.reads, 2);

    /* Closed while idle, its number reused: watched through the new file. */
    evloop_fd_idle(el, p[0]);
    int num = p[0];
    close(p[0]);
    close(p[1]);
    TT_EQ_INT(pipe2(q, O_NONBLOCK), 0);
    TT_EQ_INT(q[0], num);
    memset(ctl_ops, 0, sizeof(ctl_ops));
    TT_EQ_INT(evloop_fd_set(el, q[0], EVLOOP_READ, on_fd, &f, err, sizeof(err)), 0);
    TT_EQ_INT(ctl_ops[EPOLL_CTL_MOD], 1);
    TT_EQ_INT(ctl_ops[EPOLL_CTL_ADD], 1);
    TT_EQ_INT(write(q[1], "y", 1), 1);
    TT_EQ_INT(evloop_run_once(el, 1000000, err, sizeof(err)), 1);
    TT_EQ_INT(f.reads, 3);
    /* Unwatched for good from idle: DEL. */
    evloop_fd_idle(el, q[0]);
    memset(ctl_ops, 0, sizeof(ctl_ops));
    TT_EQ_INT(evloop_fd_set(el, q[0], 0, NULL, NULL, err, sizeof(err)), 0);
    TT_EQ_INT(ctl_ops[EPOLL_CTL_DEL], 1);
    evloop_fd_idle(el, -1); /* out of range: ignored */
    evloop_fd_idle(el, 1000000);
    close(q[0]);
    close(q[1]);
    evloop_destroy(el);
}

typedef struct wctx {
    int woken;
} wctx_t;

static void on_waker(void *ctx)
{
    ((wctx_t *)ctx)->woken++;
}

static void *writer(void *arg)
{
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    for (int i = 0; i < 1000; i++) /* more than a pipe holds: never blocks */
        evloop_wake(arg);
    return NULL;
}

static void test_waker_from_thread(void)
{
    char err[128];
    evloop_t *el = evloop_new(err, sizeof(err));
    wctx_t w = {0};
    evloop_waker_t *wk = evloop_waker_new(el, on_waker, &w, err, sizeof(err));
    TT_CHECK(wk != NULL);
    TT_CHECK(evloop_waker_fd(wk) >= 0);
    pthread_t th;
    pthread_create(&th, NULL, writer, wk);
    /* Blocks until the other thread writes: no timer, no tick. */
    TT_CHECK(evloop_run_once(el, 5000000, err, sizeof(err)) >= 1);
    TT_CHECK(w.woken >= 1);
    pthread_join(th, NULL);
    while (evloop_run_once(el, 0, err, sizeof(err)) > 0)
        ;
    int after = w.woken;
    TT_EQ_INT(evloop_run_once(el, 0, err, sizeof(err)), 0); /* drained */
    TT_EQ_INT(w.woken, after);
    evloop_destroy(el); /* frees the waker */
}

/* Idle: a run with nothing due sleeps for the whole wait, using no CPU. */
static void test_idle_sleeps(void)
{
    char err[128];
    evloop_t *el = evloop_new(err, sizeof(err));
    int runs = 0;
    int64_t end = clock_mono_us() + 200000;
    while (clock_mono_us() < end) {
        TT_EQ_INT(evloop_run_once(el, 100000, err, sizeof(err)), 0);
        runs++;
    }
    TT_CHECK(runs <= 3); /* two 100 ms sleeps (plus rounding), not a spin */
    evloop_destroy(el);
    evloop_destroy(NULL);
}

#ifdef __NR_epoll_pwait2
static void set_flag_timer(void *ctx, int64_t now_us)
{
    (void)now_us;
    *(int *)ctx = 1;
}

static void set_flag_fd(void *ctx, int fd, int events)
{
    char c;
    (void)events;
    if (read(fd, &c, 1) == 1)
        *(int *)ctx = 1;
}

/* In a child: a seccomp filter answers epoll_pwait2 with -err (as a kernel
 * before 5.11 does with ENOSYS, or a container runtime's older profile with
 * EPERM); the loop must fall back to epoll_wait and still wake for a timer
 * and for a readable fd. Exit status 0 when it does. */
static int child_without_pwait2(int err)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_epoll_pwait2, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof(f) / sizeof(f[0])), f};
    char e[128];
    int fired = 0, p[2];

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0)
        return 10;
    /* The filter answers, unless something below already lacks the call
     * (valgrind answers ENOSYS itself: then that is the path tested). */
    if (syscall(__NR_epoll_pwait2, -1, NULL, 0, NULL, NULL, 0) != -1 ||
        (errno != err && errno != ENOSYS))
        return 11; /* the filter is not in force */
    evloop_t *el = evloop_new(e, sizeof(e));
    if (!el || pipe(p) != 0)
        return 12;
    evloop_timer_t *t = evloop_timer_new(el, set_flag_timer, &fired);
    int64_t t0 = clock_mono_us();
    evloop_timer_at(el, t, t0 + 20000);
    while (!fired && clock_mono_us() - t0 < 2000000)
        if (evloop_run_once(el, 1000000, e, sizeof(e)) < 0)
            return 13;
    if (!fired)
        return 14;
    int seen = 0;
    if (evloop_fd_set(el, p[0], EVLOOP_READ, set_flag_fd, &seen, e, sizeof(e)) != 0 ||
        write(p[1], "x", 1) != 1)
        return 15;
    if (evloop_run_once(el, 1000000, e, sizeof(e)) != 1 || !seen)
        return 16;
    evloop_timer_free(el, t);
    evloop_destroy(el);
    return 0;
}

static void test_no_pwait2(void)
{
    static const int errs[] = {ENOSYS, EPERM};

    for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
        int st = 0;
        pid_t pid = fork();
        if (pid == 0)
            _exit(child_without_pwait2(errs[i]));
        TT_CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
        TT_CHECK(WIFEXITED(st));
        TT_EQ_INT(WEXITSTATUS(st), 0);
    }
}
#endif

int main(void)
{
    TT_RUN(test_timers);
    TT_RUN(test_many_timers);
    TT_RUN(test_fds);
    TT_RUN(test_fd_idle);
    TT_RUN(test_waker_from_thread);
    TT_RUN(test_idle_sleeps);
#ifdef __NR_epoll_pwait2
    TT_RUN(test_no_pwait2);
#endif
    TT_DONE();
}
