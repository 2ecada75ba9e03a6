/* evloop.c - epoll, a timer heap, wakers (see evloop.h).
 *
 * The wait is epoll_pwait2() with a microsecond timeout until the earliest
 * timer: no timerfd to re-arm (timerfd_settime costs more than the rest of a
 * turn on a paravirtualised kernel, and the earliest timer moves almost every
 * turn). Kernels before 5.11 lack epoll_pwait2 (ENOSYS), and seccomp
 * filters written before it refuse it (EPERM: older container runtimes'
 * default profiles, older systemd's @system-service): then epoll_wait() with
 * the timeout rounded up to whole milliseconds. */
#include "common/evloop.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"

/* Ready descriptors handled per epoll_wait: more simply wait for the next. */
#define EVLOOP_BATCH 64

typedef struct reg {
    evloop_fd_cb *cb;
    void *ctx;
    int events; /* watched for (EVLOOP_*); 0 not watched */
    /* What the epoll set was last given for this number (EPOLL*; 0 not in
     * it). The kernel drops it when the descriptor is closed, so a number
     * may have been reused since: MOD then fails with ENOENT. */
    uint32_t kevents;
} reg_t;

struct evloop_timer {
    evloop_timer_cb *cb;
    void *ctx;
    int64_t due_us;
    size_t idx; /* position in the heap; SIZE_MAX when not armed */
};

struct evloop_waker {
    evloop_waker_cb *cb;
    void *ctx;
    int rfd, wfd;
    struct evloop_waker *next;
};

struct evloop {
    int epfd;
    int no_pwait2; /* the kernel has no epoll_pwait2: millisecond waits */
    reg_t *regs;   /* indexed by fd */
    size_t nregs;
    evloop_timer_t **heap; /* room for every timer ever made: arming never allocates */
    size_t heap_len, heap_cap;
    size_t ntimers; /* timers made (never lowered: freeing one needs no loop) */
    evloop_waker_t *wakers;
};

/* ---- timer heap ---- */

static void heap_swap(evloop_t *el, size_t a, size_t b)
{
    evloop_timer_t *t = el->heap[a];
    el->heap[a] = el->heap[b];
    el->heap[b] = t;
    el->heap[a]->idx = a;
    el->heap[b]->idx = b;
}

static void heap_up(evloop_t *el, size_t i)
{
    while (i > 0 && el->heap[(i - 1) / 2]->due_us > el->heap[i]->due_us) {
        heap_swap(el, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(evloop_t *el, size_t i)
{
    for (;;) {
        size_t c = 2 * i + 1, m = i;
        if (c < el->heap_len && el->heap[c]->due_us < el->heap[m]->due_us)
            m = c;
        if (c + 1 < el->heap_len && el->heap[c + 1]->due_us < el->heap[m]->due_us)
            m = c + 1;
        if (m == i)
            return;
        heap_swap(el, i, m);
        i = m;
    }
}

static void heap_remove(evloop_t *el, evloop_timer_t *t)
{
    size_t i = t->idx;
    el->heap_len--;
    if (i != el->heap_len) {
        el->heap[i] = el->heap[el->heap_len];
        el->heap[i]->idx = i;
        heap_down(el, i);
        heap_up(el, i);
    }
    t->idx = SIZE_MAX;
}

evloop_timer_t *evloop_timer_new(evloop_t *el, evloop_timer_cb *cb, void *ctx)
{
    if (el->ntimers == el->heap_cap) {
        size_t cap = el->heap_cap ? el->heap_cap * 2 : 16;
        evloop_timer_t **h = realloc(el->heap, cap * sizeof(*h));
        if (!h)
            return NULL;
        el->heap = h;
        el->heap_cap = cap;
    }
    evloop_timer_t *t = calloc(1, sizeof(*t));
    if (t) {
        t->cb = cb;
        t->ctx = ctx;
        t->idx = SIZE_MAX;
        el->ntimers++;
    }
    return t;
}

void evloop_timer_at(evloop_t *el, evloop_timer_t *t, int64_t due_us)
{
    if (t->idx != SIZE_MAX) {
        int64_t was = t->due_us;
        t->due_us = due_us;
        if (due_us < was)
            heap_up(el, t->idx);
        else
            heap_down(el, t->idx);
        return;
    }
    /* Each timer is in the heap at most once, and the heap has room for
     * all of them (evloop_timer_new). */
    t->due_us = due_us;
    t->idx = el->heap_len;
    el->heap[el->heap_len++] = t;
    heap_up(el, t->idx);
}

void evloop_timer_cancel(evloop_t *el, evloop_timer_t *t)
{
    if (t && t->idx != SIZE_MAX)
        heap_remove(el, t);
}

int evloop_timer_armed(const evloop_timer_t *t)
{
    return t->idx != SIZE_MAX;
}

void evloop_timer_free(evloop_t *el, evloop_timer_t *t)
{
    if (!t)
        return;
    evloop_timer_cancel(el, t);
    free(t);
}

/* ---- descriptors ---- */

int evloop_fd_set(evloop_t *el, int fd, int events, evloop_fd_cb *cb, void *ctx, char *errstr,
                  size_t errstr_size)
{
    if (fd < 0) {
        snprintf(errstr, errstr_size, "evloop: bad fd %d", fd);
        return -1;
    }
    if ((size_t)fd >= el->nregs) {
        size_t n = (size_t)fd + 16;
        reg_t *r = realloc(el->regs, n * sizeof(*r));
        if (!r) {
            snprintf(errstr, errstr_size, "evloop: out of memory");
            return -1;
        }
        memset(r + el->nregs, 0, (n - el->nregs) * sizeof(*r));
        el->regs = r;
        el->nregs = n;
    }
    reg_t *r = &el->regs[fd];
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.data.fd = fd;
    ev.events = (events & EVLOOP_READ ? EPOLLIN : 0) | (events & EVLOOP_WRITE ? EPOLLOUT : 0);
    int op = !events ? EPOLL_CTL_DEL : r->kevents ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    int rc = events || r->kevents ? epoll_ctl(el->epfd, op, fd, &ev) : 0;
    /* A number closed and reused since its last registration: the kernel
     * dropped the old one (ENOENT on MOD), or the fd is gone (DEL). */
    if (rc != 0 && op == EPOLL_CTL_MOD && errno == ENOENT)
        rc = epoll_ctl(el->epfd, EPOLL_CTL_ADD, fd, &ev);
    if (rc != 0 && op == EPOLL_CTL_DEL && (errno == EBADF || errno == ENOENT))
        rc = 0;
    if (rc != 0) {
        snprintf(errstr, errstr_size, "evloop: epoll_ctl fd %d: %s", fd, strerror(errno));
        return -1;
    }
    r->events = events;
    r->kevents = ev.events;
    r->cb = events ? cb : NULL;
    r->ctx = events ? ctx : NULL;
    return 0;
}

void evloop_fd_idle(evloop_t *el, int fd)
{
    if (fd < 0 || (size_t)fd >= el->nregs)
        return;
    reg_t *r = &el->regs[fd];
    r->events = 0;
    r->cb = NULL;
    r->ctx = NULL;
}

/* ---- wakers ---- */

static void waker_ready(void *ctx, int fd, int events)
{
    evloop_waker_t *w = ctx;
    char buf[256];
    (void)events;
    /* A short read emptied the pipe: no second read to learn that (a byte
     * written meanwhile wakes the next turn). */
    while (read(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf))
        ;
    w->cb(w->ctx);
}

evloop_waker_t *evloop_waker_new(evloop_t *el, evloop_waker_cb *cb, void *ctx, char *errstr,
                                 size_t errstr_size)
{
    int fds[2];
    evloop_waker_t *w = calloc(1, sizeof(*w));
    if (!w || pipe(fds) != 0) {
        snprintf(errstr, errstr_size, "evloop: waker: %s", w ? strerror(errno) : "out of memory");
        free(w);
        return NULL;
    }
    for (int i = 0; i < 2; i++) {
        (void)fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
        (void)fcntl(fds[i], F_SETFD, FD_CLOEXEC);
    }
    w->cb = cb;
    w->ctx = ctx;
    w->rfd = fds[0];
    w->wfd = fds[1];
    if (evloop_fd_set(el, w->rfd, EVLOOP_READ, waker_ready, w, errstr, errstr_size) != 0) {
        close(w->rfd);
        close(w->wfd);
        free(w);
        return NULL;
    }
    w->next = el->wakers;
    el->wakers = w;
    return w;
}

int evloop_waker_fd(const evloop_waker_t *w)
{
    return w->wfd;
}

void evloop_wake(evloop_waker_t *w)
{
    char c = 1;
    ssize_t n = write(w->wfd, &c, 1); /* a full pipe is awake already */
    (void)n;
}

/* ---- life cycle and the run ---- */

evloop_t *evloop_new(char *errstr, size_t errstr_size)
{
    evloop_t *el = calloc(1, sizeof(*el));
    if (!el) {
        snprintf(errstr, errstr_size, "evloop: out of memory");
        return NULL;
    }
    el->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (el->epfd < 0) {
        snprintf(errstr, errstr_size, "evloop: %s", strerror(errno));
        evloop_destroy(el);
        return NULL;
    }
    return el;
}

void evloop_destroy(evloop_t *el)
{
    if (!el)
        return;
    while (el->wakers) {
        evloop_waker_t *w = el->wakers;
        el->wakers = w->next;
        close(w->rfd);
        close(w->wfd);
        free(w);
    }
    for (size_t i = 0; i < el->heap_len; i++)
        el->heap[i]->idx = SIZE_MAX; /* the owners free them */
    free(el->heap);
    free(el->regs);
    if (el->epfd >= 0)
        close(el->epfd);
    free(el);
}

/* Waits up to wait_us (-1: no limit) for ready descriptors. */
static int wait_fds(evloop_t *el, struct epoll_event *evs, int64_t wait_us)
{
    if (!el->no_pwait2) {
        struct timespec ts, *tsp = NULL;
        if (wait_us >= 0) {
            ts.tv_sec = (time_t)(wait_us / 1000000);
            ts.tv_nsec = (long)(wait_us % 1000000) * 1000;
            tsp = &ts;
        }
        int n = epoll_pwait2(el->epfd, evs, EVLOOP_BATCH, tsp, NULL);
        if (n >= 0 || (errno != ENOSYS && errno != EPERM))
            return n;
        el->no_pwait2 = 1;
    }
    int ms = wait_us < 0                    ? -1
             : wait_us > INT32_MAX * 1000LL ? INT32_MAX
                                            : (int)((wait_us + 999) / 1000);
    return epoll_wait(el->epfd, evs, EVLOOP_BATCH, ms);
}

static int fire_timers(evloop_t *el)
{
    int ran = 0;
    int64_t now = clock_mono_us();
    /* Timers armed by these callbacks for now or earlier wait for the next
     * run: a callback that re-arms itself at once cannot starve the fds. */
    size_t budget = el->heap_len;
    while (budget-- > 0 && el->heap_len && el->heap[0]->due_us <= now) {
        evloop_timer_t *t = el->heap[0];
        heap_remove(el, t);
        t->cb(t->ctx, now);
        ran++;
    }
    return ran;
}

int evloop_run_once(evloop_t *el, int64_t max_wait_us, char *errstr, size_t errstr_size)
{
    struct epoll_event evs[EVLOOP_BATCH];
    int ran = 0;
    int64_t wait_us = max_wait_us;
    if (el->heap_len) {
        int64_t until = el->heap[0]->due_us - clock_mono_us();
        if (until < 0)
            until = 0; /* something is due: look at the fds without waiting */
        if (wait_us < 0 || until < wait_us)
            wait_us = until;
    }
    int n = wait_fds(el, evs, wait_us);
    if (n < 0) {
        if (errno == EINTR)
            return 0;
        snprintf(errstr, errstr_size, "evloop: epoll_wait: %s", strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        int fd = evs[i].data.fd;
        if ((size_t)fd >= el->nregs)
            continue;
        if (!el->regs[fd].cb) {
            /* Unwatched by an earlier callback of this batch, or idle
             * (evloop_fd_idle): out of the set, or it would report again. */
            if (el->regs[fd].kevents)
                epoll_ctl(el->epfd, EPOLL_CTL_DEL, fd, NULL); /* fails only if closed: out */
            el->regs[fd].kevents = 0;
            continue;
        }
        int events = 0;
        if (evs[i].events & (EPOLLHUP | EPOLLERR))
            events = EVLOOP_READ | EVLOOP_WRITE; /* whoever reads or writes learns why */
        if (evs[i].events & EPOLLIN)
            events |= EVLOOP_READ;
        if (evs[i].events & EPOLLOUT)
            events |= EVLOOP_WRITE;
        el->regs[fd].cb(el->regs[fd].ctx, fd, events);
        ran++;
    }
    ran += fire_timers(el);
    return ran;
}
