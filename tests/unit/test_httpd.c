/* test_httpd.c - the observability endpoint: served on the test's own loop
 * (poll on httpd_fd, httpd_run) while a second thread talks to it with
 * libcurl; listen-address parsing and start-up errors. */
#include "common/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "tests/unit/tt.h"

#define METRICS_BODY  "zim_unfriend_up 1\n"
#define METRICS_CTYPE "text/plain; version=0.0.4; charset=utf-8"

typedef struct server_ctx {
    int calls;
} server_ctx_t;

static char *dup_body(const char *s, size_t *len)
{
    char *b = malloc(strlen(s));
    if (b)
        memcpy(b, s, strlen(s));
    *len = b ? strlen(s) : 0;
    return b;
}

static int handler(void *ctx, const char *path, char **body, size_t *body_len,
                   const char **content_type)
{
    server_ctx_t *sc = ctx;

    sc->calls++;
    if (strcmp(path, "/metrics") == 0) {
        *body = dup_body(METRICS_BODY, body_len);
        *content_type = METRICS_CTYPE;
        return 200;
    }
    if (strcmp(path, "/healthz") == 0) {
        *body = dup_body("ok\n", body_len);
        return 200; /* no content type: the default */
    }
    if (strcmp(path, "/empty") == 0)
        return 204;
    if (strcmp(path, "/bad") == 0) {
        *body = dup_body("never sent", body_len);
        return 42; /* not an HTTP status: 500, body freed */
    }
    *body = dup_body("not found\n", body_len);
    return 404;
}

/* One request's outcome, recorded by the client thread. */
typedef struct reply {
    long status;
    char body[256];
    size_t body_len;
    char ctype[128];
    char allow[64];
    int ok; /* curl performed the transfer */
} reply_t;

typedef struct client {
    int port;
    int done_fd; /* written when the client is finished */
    reply_t metrics, metrics_query, nope, post, put, head, healthz, empty, bad;
} client_t;

static size_t on_body(char *data, size_t size, size_t n, void *userp)
{
    reply_t *r = userp;
    size_t len = size * n, room = sizeof(r->body) - 1 - r->body_len;
    size_t take = len < room ? len : room;

    memcpy(r->body + r->body_len, data, take);
    r->body_len += take;
    r->body[r->body_len] = '\0';
    return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *userp)
{
    reply_t *r = userp;
    size_t len = size * n;
    char line[256];
    size_t l = len < sizeof(line) - 1 ? len : sizeof(line) - 1;

    memcpy(line, data, l);
    line[l] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    if (strncasecmp(line, "Allow: ", 7) == 0)
        snprintf(r->allow, sizeof(r->allow), "%.63s", line + 7);
    return len;
}

static void request(const client_t *c, const char *method, const char *path, reply_t *r)
{
    CURL *e = curl_easy_init();
    char url[128];
    char *ct = NULL;

    memset(r, 0, sizeof(*r));
    if (!e)
        return;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", c->port, path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "a=1");
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
    if (curl_easy_perform(e) == CURLE_OK) {
        r->ok = 1;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
        if (curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
            snprintf(r->ctype, sizeof(r->ctype), "%s", ct);
    }
    curl_easy_cleanup(e);
}

static void *client_main(void *arg)
{
    client_t *c = arg;
    char one = 1;

    request(c, "GET", "/metrics", &c->metrics);
    request(c, "GET", "/metrics?name=x", &c->metrics_query);
    request(c, "GET", "/nope", &c->nope);
    request(c, "POST", "/metrics", &c->post);
    request(c, "PUT", "/metrics", &c->put);
    request(c, "HEAD", "/metrics", &c->head);
    request(c, "GET", "/healthz", &c->healthz);
    request(c, "GET", "/empty", &c->empty);
    request(c, "GET", "/bad", &c->bad);
    if (write(c->done_fd, &one, 1) != 1)
        perror("write");
    return NULL;
}

/* The event loop under test: poll on httpd_fd (and the done pipe), honour
 * httpd_timeout_ms, call httpd_run. */
static void serve_until_done(httpd_t *h, int done_fd)
{
    for (;;) {
        struct pollfd p[2] = {{httpd_fd(h), POLLIN, 0}, {done_fd, POLLIN, 0}};
        long t = httpd_timeout_ms(h);
        int timeout = (t < 0 || t > 1000) ? 1000 : (int)t;

        if (poll(p, 2, timeout) < 0 && errno != EINTR)
            break;
        httpd_run(h);
        if (p[1].revents & POLLIN)
            break;
    }
}

static void test_serve(void)
{
    server_ctx_t sc = {0};
    char err[256] = "";
    httpd_t *h = httpd_new("127.0.0.1:0", handler, &sc, err, sizeof(err));
    client_t c;
    pthread_t th;
    int pipefd[2];

    TT_CHECK(h != NULL);
    if (!h) {
        fprintf(stderr, "httpd_new: %s\n", err);
        return;
    }
    TT_CHECK(httpd_port(h) > 0 && httpd_port(h) <= 65535);
    TT_CHECK(httpd_fd(h) >= 0);
    TT_EQ_INT(httpd_timeout_ms(h), -1); /* no connections, no deadline */
    TT_EQ_INT(pipe(pipefd), 0);
    memset(&c, 0, sizeof(c));
    c.port = httpd_port(h);
    c.done_fd = pipefd[1];
    TT_EQ_INT(pthread_create(&th, NULL, client_main, &c), 0);
    serve_until_done(h, pipefd[0]);
    pthread_join(th, NULL);
    close(pipefd[0]);
    close(pipefd[1]);

    TT_CHECK(c.metrics.ok);
    TT_EQ_INT(c.metrics.status, 200);
    TT_EQ_STR(c.metrics.body, METRICS_BODY);
    TT_EQ_STR(c.metrics.ctype, METRICS_CTYPE);
    TT_EQ_INT(c.metrics_query.status, 200); /* the handler sees the path only */
    TT_EQ_STR(c.metrics_query.body, METRICS_BODY);
    TT_EQ_INT(c.nope.status, 404);
    TT_EQ_STR(c.nope.body, "not found\n");
    TT_EQ_INT(c.post.status, 405);
    TT_EQ_STR(c.post.allow, "GET, HEAD");
    TT_EQ_INT(c.put.status, 405);
    TT_EQ_INT(c.head.status, 200);
    TT_EQ_STR(c.head.body, "");
    TT_EQ_INT(c.healthz.status, 200);
    TT_EQ_STR(c.healthz.body, "ok\n");
    TT_EQ_STR(c.healthz.ctype, "text/plain; charset=utf-8");
    TT_EQ_INT(c.empty.status, 204);
    TT_EQ_STR(c.empty.body, "");
    TT_EQ_INT(c.bad.status, 500);
    TT_EQ_STR(c.bad.body, "");
    /* Every GET/HEAD reached the handler, the refused methods did not. */
    TT_EQ_INT(sc.calls, 7);
    httpd_destroy(h);
    httpd_destroy(NULL);
}

static void check_bad_listen(const char *listen, const char *want)
{
    server_ctx_t sc = {0};
    char err[256] = "";
    httpd_t *h = httpd_new(listen, handler, &sc, err, sizeof(err));

    TT_CHECK(h == NULL);
    TT_CHECK(strstr(err, want) != NULL);
    TT_CHECK(strchr(err, '\n') == NULL);
    if (!strstr(err, want))
        fprintf(stderr, "  listen \"%s\": got \"%s\", want \"%s\"\n", listen ? listen : "(null)",
                err, want);
    httpd_destroy(h);
}

static void test_bad_listen(void)
{
    char err[256] = "";

    check_bad_listen("nope", "\"nope\": expected host:port");
    check_bad_listen("1.2.3.4:99999", "\"1.2.3.4:99999\": port must be");
    check_bad_listen("127.0.0.1:", "\"127.0.0.1:\": port must be");
    check_bad_listen("", "listen address is empty");
    check_bad_listen(NULL, "listen address is empty");
    check_bad_listen("127.0.0.1:123456", "port must be");
    check_bad_listen("127.0.0.1:-1", "port must be");
    check_bad_listen("127.0.0.1:+80", "port must be");
    check_bad_listen("127.0.0.1:80x", "port must be");
    check_bad_listen(":9464", "\":9464\": bad host");
    check_bad_listen("example.com:80", "host must be an IPv4 address, localhost or [v6]");
    check_bad_listen("1.2.3:80", "host must be an IPv4 address");
    check_bad_listen("::1:80", "an IPv6 address needs brackets");
    check_bad_listen("[::1", "expected [v6-address]:port");
    check_bad_listen("[::1]80", "expected [v6-address]:port");
    check_bad_listen("[::1]:", "port must be");
    check_bad_listen("[]:80", "bad host");
    check_bad_listen("[1.2.3.4]:80", "bad IPv6 address");
    check_bad_listen("127.0.0.1\n:80", "control characters");
    check_bad_listen(
        "127.0.0.1:80000000000000000000000000000000000000000000000000000000000000000000000000",
        "too long");
    TT_CHECK(httpd_new("127.0.0.1:0", NULL, NULL, err, sizeof(err)) == NULL);
    TT_EQ_STR(err, "httpd: no request handler");
}

static void test_port_in_use(void)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char listen_s[64], want[128], err[256] = "";
    server_ctx_t sc = {0};
    httpd_t *h;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    TT_EQ_INT(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    TT_EQ_INT(listen(fd, 4), 0);
    TT_EQ_INT(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    snprintf(listen_s, sizeof(listen_s), "127.0.0.1:%d", ntohs(a.sin_port));
    h = httpd_new(listen_s, handler, &sc, err, sizeof(err));
    TT_CHECK(h == NULL);
    snprintf(want, sizeof(want), "listen \"%s\": bind: %s", listen_s, strerror(EADDRINUSE));
    TT_EQ_STR(err, want);
    close(fd);
    /* Freed, the port can be had (the same one, given explicitly). */
    h = httpd_new(listen_s, handler, &sc, err, sizeof(err));
    TT_CHECK(h != NULL);
    if (h)
        TT_EQ_INT(httpd_port(h), ntohs(a.sin_port));
    httpd_destroy(h);
}

static void test_other_hosts(void)
{
    server_ctx_t sc = {0};
    char err[256] = "";
    httpd_t *h = httpd_new("localhost:0", handler, &sc, err, sizeof(err));
    int probe;
    struct sockaddr_in6 a6;

    TT_CHECK(h != NULL);
    if (h)
        TT_CHECK(httpd_port(h) > 0);
    httpd_destroy(h);

    /* IPv6 loopback, where the machine has one. */
    probe = socket(AF_INET6, SOCK_STREAM, 0);
    memset(&a6, 0, sizeof(a6));
    a6.sin6_family = AF_INET6;
    a6.sin6_addr = in6addr_loopback;
    if (probe >= 0 && bind(probe, (struct sockaddr *)&a6, sizeof(a6)) == 0) {
        close(probe);
        h = httpd_new("[::1]:0", handler, &sc, err, sizeof(err));
        TT_CHECK(h != NULL);
        if (h)
            TT_CHECK(httpd_port(h) > 0);
        httpd_destroy(h);
    } else {
        fprintf(stderr, "  (no IPv6 loopback here: [::1] not tried)\n");
        if (probe >= 0)
            close(probe);
    }
}

/* In a child with a tiny fd limit: nofile = lowest free fd + extra. The
 * child sends httpd_new's error string, then whether that fd is closed again
 * (nothing leaked), through a pipe. */
static void start_with_fd_limit(int extra, char *err, size_t size, int *closed)
{
    int p[2], st = 0;
    pid_t pid;
    ssize_t n;

    *closed = 0;
    err[0] = '\0';
    if (pipe(p) != 0)
        return;
    pid = fork();
    if (pid == 0) {
        server_ctx_t sc = {0};
        char e[256] = "";
        int lowest = dup(0);
        struct rlimit rl;
        httpd_t *h;
        char c;

        close(lowest);
        if (lowest < p[1]) /* keep the pipe below the limit */
            _exit(3);
        if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
            _exit(4);
        rl.rlim_cur = (rlim_t)lowest + (rlim_t)extra; /* soft only: valgrind allows that */
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            _exit(4);
        h = httpd_new("127.0.0.1:0", handler, &sc, e, sizeof(e));
        c = (h == NULL && fcntl(lowest, F_GETFD) == -1) ? 'c' : 'o';
        httpd_destroy(h);
        if (write(p[1], e, strlen(e) + 1) < 0 || write(p[1], &c, 1) < 0)
            _exit(5);
        _exit(0);
    }
    close(p[1]);
    n = read(p[0], err, size - 1);
    if (n > 0) {
        size_t l = strnlen(err, (size_t)n);
        err[l] = '\0';
        if ((size_t)n > l + 1)
            *closed = err[l + 1] == 'c';
        else {
            char c;
            *closed = read(p[0], &c, 1) == 1 && c == 'c';
        }
    }
    close(p[0]);
    waitpid(pid, &st, 0);
    TT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_start_failures(void)
{
    char err[256];
    int closed;

    /* No fd at all: socket() fails. */
    start_with_fd_limit(0, err, sizeof(err), &closed);
    TT_CHECK(strstr(err, "listen \"127.0.0.1:0\": socket: ") != NULL);
    TT_CHECK(closed);
    /* One fd: the socket, but not MHD's epoll set. The socket is closed. */
    start_with_fd_limit(1, err, sizeof(err), &closed);
    TT_CHECK(strstr(err, "listen \"127.0.0.1:0\": cannot start the HTTP server: ") != NULL);
    TT_CHECK(closed);
    if (!closed || !strstr(err, "cannot start"))
        fprintf(stderr, "  got \"%s\"\n", err);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    TT_RUN(test_serve);
    TT_RUN(test_bad_listen);
    TT_RUN(test_port_in_use);
    TT_RUN(test_other_hosts);
    TT_RUN(test_start_failures);
    curl_global_cleanup();
    TT_DONE();
}
