/* test_curlev.c - libcurl multi on the event loop: set-up errors, and one
 * transfer to a local socket that answers and one that refuses, each ending
 * in the done callback with its result. */
#include "common/curlev.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "tests/unit/tt.h"

/* The test binary is linked with --wrap=epoll_ctl: the next fail_adds
 * EPOLL_CTL_ADDs fail with ENOMEM. */
static int fail_adds;
int __real_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int __wrap_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int __wrap_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    if (op == EPOLL_CTL_ADD && fail_adds > 0) {
        fail_adds--;
        errno = ENOMEM;
        return -1;
    }
    return __real_epoll_ctl(epfd, op, fd, ev);
}

typedef struct done {
    int calls;
    CURLcode result;
    CURL *easy;
} done_t;

static void on_done(void *ctx, CURL *easy, CURLcode result)
{
    done_t *d = ctx;
    d->calls++;
    d->result = result;
    d->easy = easy;
}

static void test_setup_errors(void)
{
    char err[128] = "";
    done_t d = {0};
    TT_CHECK(curlev_new(NULL, NULL, "client", on_done, &d, err, sizeof(err)) == NULL);
    TT_CHECK(strstr(err, "client: no event loop") != NULL);
    evloop_t *el = evloop_new(err, sizeof(err));
    TT_CHECK(curlev_new(el, NULL, "client", NULL, &d, err, sizeof(err)) == NULL);
    curlev_destroy(NULL);
    evloop_destroy(el);
}

/* A one-shot HTTP server: accepts one connection, reads, answers 200. */
static void *serve_once(void *arg)
{
    int ls = *(int *)arg, c = accept(ls, NULL, NULL);
    char buf[2048];
    static const char reply[] =
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    if (c >= 0) {
        (void)read(c, buf, sizeof(buf));
        (void)write(c, reply, sizeof(reply) - 1);
        close(c);
    }
    return NULL;
}

static int listener(int *port)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(s, 4) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) != 0)
        return -1;
    *port = ntohs(a.sin_port);
    return s;
}

static size_t sink(char *p, size_t size, size_t n, void *u)
{
    (void)p;
    (void)u;
    return size * n;
}

/* Runs one GET of url to its end; returns the done record. */
static done_t fetch(const char *url)
{
    char err[128];
    done_t d = {0, CURLE_OK, NULL};
    evloop_t *el = evloop_new(err, sizeof(err));
    curlev_t *cm = curlev_new(el, NULL, "client", on_done, &d, err, sizeof(err));
    CURL *e = curl_easy_init();
    TT_CHECK(el && cm && e);
    if (!el || !cm || !e)
        return d;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
    TT_CHECK(curl_multi_add_handle(curlev_multi(cm), e) == CURLM_OK);
    int64_t end = clock_mono_us() + 5000000;
    while (d.calls == 0 && clock_mono_us() < end)
        TT_CHECK(evloop_run_once(el, 100000, err, sizeof(err)) >= 0);
    TT_CHECK(d.easy == e);
    curl_multi_remove_handle(curlev_multi(cm), e);
    curl_easy_cleanup(e);
    curlev_destroy(cm);
    evloop_destroy(el);
    return d;
}

static void test_transfers(void)
{
    char url[64];
    int port = 0, ls = listener(&port);
    pthread_t t;
    TT_CHECK(ls >= 0);
    TT_EQ_INT(pthread_create(&t, NULL, serve_once, &ls), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", port);
    done_t d = fetch(url);
    TT_EQ_INT(d.calls, 1);
    TT_EQ_INT(d.result, CURLE_OK);
    pthread_join(t, NULL);
    close(ls); /* nobody listens there now: refused */
    d = fetch(url);
    TT_EQ_INT(d.calls, 1);
    TT_EQ_INT(d.result, CURLE_COULDNT_CONNECT);
}

/* A transfer whose socket the loop cannot watch (epoll_ctl fails) ends
 * alone with CURLE_OUT_OF_MEMORY, once; the next transfer on the same multi
 * handle works (a socket callback returning -1 kills the handle for good). */
static void test_unwatched_socket(void)
{
    char err[128], url[64];
    done_t d = {0, CURLE_OK, NULL};
    /* Round 0's connection lands in a listener nobody serves (it would be
     * the first the server thread accepts). */
    int port0 = 0, ls0 = listener(&port0), port = 0, ls = listener(&port);
    pthread_t t;
    evloop_t *el = evloop_new(err, sizeof(err));
    curlev_t *cm = curlev_new(el, NULL, "client", on_done, &d, err, sizeof(err));
    TT_CHECK(ls0 >= 0 && ls >= 0 && el && cm);
    if (ls0 < 0 || ls < 0 || !el || !cm)
        return;
    for (int round = 0; round < 2; round++) {
        CURL *e = curl_easy_init();
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", round == 0 ? port0 : port);
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
        if (round == 1)
            TT_EQ_INT(pthread_create(&t, NULL, serve_once, &ls), 0);
        fail_adds = round == 0;
        memset(&d, 0, sizeof(d));
        TT_CHECK(curl_multi_add_handle(curlev_multi(cm), e) == CURLM_OK);
        int64_t end = clock_mono_us() + 5000000;
        while (d.calls == 0 && clock_mono_us() < end)
            TT_CHECK(evloop_run_once(el, 100000, err, sizeof(err)) >= 0);
        for (int i = 0; i < 5; i++) /* no second report for it */
            TT_CHECK(evloop_run_once(el, 10000, err, sizeof(err)) >= 0);
        TT_EQ_INT(d.calls, 1);
        TT_CHECK(d.easy == e);
        TT_EQ_INT(d.result, round == 0 ? CURLE_OUT_OF_MEMORY : CURLE_OK);
        curl_multi_remove_handle(curlev_multi(cm), e);
        curl_easy_cleanup(e);
        if (round == 1)
            pthread_join(t, NULL);
    }
    close(ls0);
    close(ls);
    curlev_destroy(cm);
    evloop_destroy(el);
}

/* The capped body: grows as needed up to max, drops what comes after and
 * says so; reset keeps a small buffer and frees a large one. */
static void test_body(void)
{
    curlev_body_t b = {NULL, 0, 0, 3000, 0};
    char chunk[1000];
    memset(chunk, 'x', sizeof(chunk));
    TT_EQ_INT(curlev_body_write(chunk, 1, 700, &b), 700);
    TT_EQ_INT(curlev_body_write(chunk, 2, 500, &b), 1000);
    TT_EQ_INT(b.len, 1700);
    TT_CHECK(b.cap >= 1700 && b.cap <= 3000 && !b.over);
    TT_EQ_INT(curlev_body_write(chunk, 1, 1000, &b), 1000);
    TT_EQ_INT(b.len, 2700);
    TT_EQ_INT(b.cap, 3000);                               /* growth stops at max */
    TT_EQ_INT(curlev_body_write(chunk, 1, 301, &b), 301); /* past max: dropped */
    TT_CHECK(b.over);
    TT_EQ_INT(b.len, 2700);
    TT_EQ_INT(curlev_body_write(chunk, 1, 1, &b), 1); /* and everything after it */
    TT_EQ_INT(b.len, 2700);
    curlev_body_reset(&b, 4096); /* small enough: kept */
    TT_CHECK(b.p != NULL && b.len == 0 && !b.over && b.cap == 3000);
    curlev_body_reset(&b, 1024); /* too large to keep */
    TT_CHECK(b.p == NULL && b.cap == 0);
    TT_EQ_INT(curlev_body_write(chunk, 1, 10, &b), 10);
    curlev_body_free(&b);
    TT_CHECK(b.p == NULL && b.len == 0);
}

int main(void)
{
    TT_RUN(test_setup_errors);
    TT_RUN(test_body);
    TT_RUN(test_transfers);
    TT_RUN(test_unwatched_socket);
    TT_DONE();
}
