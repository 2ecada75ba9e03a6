/* bench_http_floor.c - what one DeleteAllFriends call costs the calling
 * process without the worker around it: the floor under the worker's CPU
 * per event. Prints, never fails.
 *
 * Two figures, N calls each, one after another on one kept-alive
 * connection, each with a fresh nonce, timestamp and user, signed with a
 * zim_signer_t as the worker's calls are:
 *
 * - libcurl: one reused easy handle (the cheapest way to drive libcurl: no
 *   multi handle, no event loop), given the request as the worker gives it:
 *   the endpoint parsed once as its URL, each call's path and query as its
 *   request target;
 * - kernel: the same request written by hand on a plain socket and its
 *   answer read until its Content-Length is in (no HTTP library): what the
 *   system calls and the loopback TCP round trip alone cost.
 *
 * The first 100 calls of each (connection set-up, warm-up) are left out:
 * user and system CPU of this process per call (getrusage), and calls/s.
 *
 * Usage: bench_http_floor http://HOST:PORT[/] [N] (default 5000). */
#include <curl/curl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/zim_api.h"
#include "common/zim_url.h"
#include "common/zim_sign.h"

#define WARM_UP 100
#define RAW_BUF 8192

typedef struct floor_run {
    const char *endpoint;
    zim_signer_t *signer;
    int n;
    struct rusage r0;
    double t0;
} floor_run_t;

static size_t sink(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

static double tv_us(struct timeval tv)
{
    return (double)tv.tv_sec * 1e6 + (double)tv.tv_usec;
}

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Call i's signed URL into *url (caller frees). 0 ok, -1 printed. */
static int signed_url(floor_run_t *run, int i, char **url)
{
    char err[256], nonce[ZIM_NONCE_LEN + 1], user[32];

    if (i == WARM_UP) {
        getrusage(RUSAGE_SELF, &run->r0);
        run->t0 = mono_s();
    }
    snprintf(user, sizeof(user), "floor-%d", i);
    if (zim_signer_nonce(run->signer, nonce, err, sizeof(err)) != 0 ||
        zim_url_build(run->signer, run->endpoint, 1, "floor-secret", user, 0, nonce,
                      (int64_t)time(NULL), url, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench_http_floor: %s\n", err);
        return -1;
    }
    return 0;
}

static void report(floor_run_t *run, const char *what)
{
    struct rusage r1;
    double calls = (double)(run->n - WARM_UP), secs;

    getrusage(RUSAGE_SELF, &r1);
    secs = mono_s() - run->t0;
    double user_us = (tv_us(r1.ru_utime) - tv_us(run->r0.ru_utime)) / calls;
    double sys_us = (tv_us(r1.ru_stime) - tv_us(run->r0.ru_stime)) / calls;
    printf("http floor: %s, %d calls: %.0f us CPU per call (user %.0f, system %.0f), "
           "%.0f calls/s\n",
           what, run->n - WARM_UP, user_us + sys_us, user_us, sys_us, calls / secs);
}

static int curl_floor(floor_run_t *run)
{
    CURL *easy = curl_easy_init();
    CURLU *base = curl_url();
    /* The endpoint is http://HOST:PORT[/PATH]: the request target starts at
     * its path (or where the signed URL adds the '/'). */
    const char *path = strchr(run->endpoint + 7, '/');
    size_t target_off = path ? (size_t)(path - run->endpoint) : strlen(run->endpoint);
    int ret = -1;

    if (!easy || !base || curl_url_set(base, CURLUPART_URL, run->endpoint, 0) != CURLUE_OK) {
        fprintf(stderr, "bench_http_floor: libcurl did not start\n");
        goto out;
    }
    curl_easy_setopt(easy, CURLOPT_CURLU, base);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    for (int i = 0; i < run->n; i++) {
        char *url = NULL;
        CURLcode rc;

        if (signed_url(run, i, &url) != 0)
            goto out;
        curl_easy_setopt(easy, CURLOPT_REQUEST_TARGET, url + target_off);
        rc = curl_easy_perform(easy);
        free(url);
        if (rc != CURLE_OK) {
            fprintf(stderr, "bench_http_floor: call %d: %s\n", i, curl_easy_strerror(rc));
            goto out;
        }
    }
    report(run, "libcurl, one reused handle (and the signed URL)");
    ret = 0;
out:
    curl_easy_cleanup(easy);
    curl_url_cleanup(base);
    return ret;
}

/* Host and port of "http://HOST:PORT[/PATH]" into host[size] and port[size];
 * *path is where the endpoint's path starts (its end when it has none: the
 * signed URL then adds the '/'). 0 ok, -1 when the endpoint is not so. */
static int split_endpoint(const char *endpoint, char *host, char *port, size_t size,
                          const char **path)
{
    const char *h, *colon, *end;

    if (strncmp(endpoint, "http://", 7) != 0)
        return -1;
    h = endpoint + 7;
    end = strchr(h, '/');
    if (!end)
        end = h + strlen(h);
    colon = memchr(h, ':', (size_t)(end - h));
    if (!colon || colon == h || (size_t)(colon - h) >= size || end == colon + 1 ||
        (size_t)(end - colon - 1) >= size)
        return -1;
    memcpy(host, h, (size_t)(colon - h));
    host[colon - h] = '\0';
    memcpy(port, colon + 1, (size_t)(end - colon - 1));
    port[end - colon - 1] = '\0';
    *path = end;
    return 0;
}

static int raw_connect(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int fd = -1;

    if (getaddrinfo(host, port, &hints, &ai) != 0)
        return -1;
    fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

/* Reads one whole answer (headers and Content-Length bytes of body). */
static int raw_answer(int fd, char *buf)
{
    size_t have = 0, want = 0;

    for (;;) {
        ssize_t got = read(fd, buf + have, RAW_BUF - 1 - have);
        char *end, *cl;

        if (got <= 0)
            return -1;
        have += (size_t)got;
        buf[have] = '\0';
        if (!want && (end = strstr(buf, "\r\n\r\n"))) {
            cl = strstr(buf, "Content-Length:");
            if (!cl || cl > end)
                return -1;
            want = (size_t)(end + 4 - buf) + strtoul(cl + 15, NULL, 10);
        }
        if (want && have >= want)
            return 0;
        if (have >= RAW_BUF - 1)
            return -1;
    }
}

static int kernel_floor(floor_run_t *run)
{
    char host[64], port[64], req[2048], *buf = malloc(RAW_BUF);
    const char *path;
    int fd = -1, ret = -1;

    if (!buf || split_endpoint(run->endpoint, host, port, sizeof(port), &path) != 0 ||
        (fd = raw_connect(host, port)) < 0) {
        fprintf(stderr, "bench_http_floor: cannot connect to %s\n", run->endpoint);
        goto out;
    }
    for (int i = 0; i < run->n; i++) {
        char *url = NULL;
        int len;

        if (signed_url(run, i, &url) != 0)
            goto out;
        /* The URL starts with the endpoint, so its path starts where the endpoint's does. */
        len = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s:%s\r\nAccept: */*\r\n\r\n",
                       url + (path - run->endpoint), host, port);
        free(url);
        if (len < 0 || (size_t)len >= sizeof(req) || write(fd, req, (size_t)len) != len ||
            raw_answer(fd, buf) != 0) {
            fprintf(stderr, "bench_http_floor: plain socket call %d failed\n", i);
            goto out;
        }
    }
    report(run, "kernel, a plain socket and no HTTP library (and the signed URL)");
    ret = 0;
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return ret;
}

int main(int argc, char **argv)
{
    floor_run_t run = {.n = argc > 2 ? atoi(argv[2]) : 5000};
    char err[256];
    int ret = 1;

    if (argc < 2 || run.n <= WARM_UP) {
        fprintf(stderr, "usage: bench_http_floor http://HOST:PORT[/] [N > %d]\n", WARM_UP);
        return 2;
    }
    run.endpoint = argv[1];
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "bench_http_floor: libcurl did not start\n");
        return 1;
    }
    if (!(run.signer = zim_signer_new(err, sizeof(err)))) {
        fprintf(stderr, "bench_http_floor: %s\n", err);
        goto out;
    }
    if (curl_floor(&run) == 0 && kernel_floor(&run) == 0)
        ret = 0;
out:
    zim_signer_destroy(run.signer);
    curl_global_cleanup();
    return ret;
}
