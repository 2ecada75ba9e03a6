/* test_zim_target.c - what goes on the wire as a ZIM call's request line:
 * the endpoint's path and the signed query, exactly as libcurl would send
 * the whole URL, whether the client hands libcurl the request target (the
 * usual case) or the whole URL (an endpoint whose path libcurl rewrites:
 * dot segments, bytes >= 0x80);
 * several calls on one kept connection and handle; and through a proxy
 * from the environment, always a CONNECT tunnel. A raw loopback server and
 * proxy of this file record every request line. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/evloop.h"
#include "common/zim_api.h"
#include "tests/unit/tt.h"

#define MAX_SEEN 8

/* A loopback listener run by one thread: a server answering every request
 * with success, or a CONNECT proxy in front of one. */
typedef struct {
    int lfd;
    unsigned port;
    unsigned upstream; /* proxy: the port it may tunnel to; 0 = server */
    int seen;
    char line[MAX_SEEN][512]; /* request lines (proxy: CONNECT lines) */
    pthread_t th;
} peer_t;

/* Reads one request head into buf[size] (NUL-terminated). 1 read, 0 closed. */
static int read_head(int fd, char *buf, size_t size)
{
    size_t len = 0;

    while (len < size - 1) {
        ssize_t n = read(fd, buf + len, 1); /* byte by byte: nothing past the head */
        if (n <= 0)
            return 0;
        len += (size_t)n;
        buf[len] = '\0';
        if (len >= 4 && memcmp(buf + len - 4, "\r\n\r\n", 4) == 0)
            return 1;
    }
    return 0;
}

static void note_line(peer_t *p, const char *head)
{
    if (p->seen < MAX_SEEN)
        snprintf(p->line[p->seen], sizeof(p->line[0]), "%.*s", (int)strcspn(head, "\r"), head);
    p->seen++;
}

static int write_all(int fd, const char *b, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Copies bytes both ways until either side closes. */
static void relay(int a, int b)
{
    char buf[4096];

    for (;;) {
        struct pollfd fds[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
        if (poll(fds, 2, 10000) <= 0)
            return;
        for (int i = 0; i < 2; i++) {
            if (!fds[i].revents)
                continue;
            ssize_t n = read(fds[i].fd, buf, sizeof(buf));
            if (n <= 0 || write_all(fds[1 - i].fd, buf, (size_t)n) != 0)
                return;
        }
    }
}

static int dial(unsigned port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static void serve_conn(peer_t *p, int c)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             "Content-Length: 47\r\n\r\n"
                             "{\"Code\":0,\"Message\":\"success\",\"RequestId\":\"r1\"}";
    char head[4096], want[64];
    int up;

    while (read_head(c, head, sizeof(head))) {
        note_line(p, head);
        if (!p->upstream) {
            if (write_all(c, ok, sizeof(ok) - 1) != 0)
                return;
            continue;
        }
        /* proxy: only a CONNECT to the one upstream is served */
        snprintf(want, sizeof(want), "CONNECT 127.0.0.1:%u ", p->upstream);
        if (strncmp(head, want, strlen(want)) != 0 || (up = dial(p->upstream)) < 0) {
            static const char no[] = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
            (void)write_all(c, no, sizeof(no) - 1);
            return;
        }
        static const char est[] = "HTTP/1.1 200 Connection established\r\n\r\n";
        if (write_all(c, est, sizeof(est) - 1) == 0)
            relay(c, up);
        close(up);
        return;
    }
}

static void *peer_run(void *arg)
{
    peer_t *p = arg;
    int c;

    while ((c = accept(p->lfd, NULL, NULL)) >= 0) {
        serve_conn(p, c);
        close(c);
    }
    return NULL;
}

static int peer_start(peer_t *p, unsigned upstream)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);

    memset(p, 0, sizeof(*p));
    p->upstream = upstream;
    p->lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(p->lfd, 16) != 0 || getsockname(p->lfd, (struct sockaddr *)&a, &alen) != 0 ||
        pthread_create(&p->th, NULL, peer_run, p) != 0) {
        TT_CHECK(!"peer did not start");
        if (p->lfd >= 0)
            close(p->lfd);
        return -1;
    }
    p->port = ntohs(a.sin_port);
    return 0;
}

static void peer_stop(peer_t *p)
{
    shutdown(p->lfd, SHUT_RDWR); /* ends the accept */
    pthread_join(p->th, NULL);
    close(p->lfd);
}

/* ---- the client ----------------------------------------------------------------------- */

typedef struct {
    int done;
    zim_api_result_t res[MAX_SEEN];
} collect_t;

static void on_done(void *opaque, const zim_api_result_t *res, void *cb_ctx)
{
    collect_t *c = cb_ctx;

    (void)opaque;
    if (c->done < MAX_SEEN)
        c->res[c->done] = *res;
    c->done++;
}

/* Calls users[0..n) one after another on one client of endpoint; col gets
 * the results. */
static void calls(const char *endpoint, const char *const *users, int n, collect_t *col)
{
    zim_api_opts_t o = {.endpoint = endpoint,
                        .app_id = 7,
                        .secret = "k",
                        .connect_timeout_ms = 2000,
                        .request_timeout_ms = 5000};
    char err[256] = "";
    evloop_t *el = evloop_new(err, sizeof(err));
    zim_api_t *api = el ? zim_api_new(&o, on_done, col, NULL, el, err, sizeof(err)) : NULL;

    memset(col, 0, sizeof(*col));
    TT_CHECK(api != NULL);
    for (int i = 0; api && i < n; i++) {
        time_t end = time(NULL) + 30; /* hang guard, not a timing check */
        TT_EQ_INT(zim_api_start(api, users[i], 0, clock_mono_us(), NULL, err, sizeof(err)), 0);
        while (zim_api_in_flight(api) > 0 && time(NULL) < end)
            TT_CHECK(evloop_run_once(el, 100000, err, sizeof(err)) >= 0);
    }
    if (!api)
        fprintf(stderr, "%s\n", err);
    zim_api_destroy(api);
    evloop_destroy(el);
}

/* "GET <target> HTTP/1.1" where target starts with path, then "?Action=". */
static int line_is(const char *line, const char *path, const char *user)
{
    char head[128], tail[128];

    snprintf(head, sizeof(head), "GET %s?Action=DeleteAllFriends&AppId=7&", path);
    snprintf(tail, sizeof(tail), "&FromUserId=%s&DeleteType=0 HTTP/1.1", user);
    return strncmp(line, head, strlen(head)) == 0 && strlen(line) > strlen(tail) &&
           strcmp(line + strlen(line) - strlen(tail), tail) == 0;
}

static void test_request_line(void)
{
    static const struct {
        const char *path; /* appended to http://127.0.0.1:PORT */
        const char *sent; /* the path on the wire */
    } cases[] = {
        {"", "/"},
        {"/", "/"},
        {"/v2/x", "/v2/x"},
        {"/v2/x/", "/v2/x/"},
        {"/a%2Fb", "/a%2Fb"},
        {"/a/../b/./c", "/b/c"},    /* libcurl removes dot segments: the whole URL is set */
        {"/\xc3\xbc/", "/%c3%bc/"}, /* and percent-encodes bytes >= 0x80: the same */
    };
    static const char *const users[] = {"u1", "a%26b", "u3"};
    const char *const sent_users[] = {"u1", "a%2526b", "u3"};
    peer_t s;
    collect_t col;
    char ep[128];

    if (peer_start(&s, 0) != 0)
        return;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int before = s.seen;
        snprintf(ep, sizeof(ep), "http://127.0.0.1:%u%s", s.port, cases[i].path);
        calls(ep, users, 3, &col); /* one handle and connection: the target changes per call */
        TT_EQ_INT(col.done, 3);
        TT_EQ_INT(s.seen, before + 3);
        for (int k = 0; k < 3 && before + k < MAX_SEEN; k++) {
            TT_EQ_INT(col.res[k].outcome, ZIM_SUCCESS);
            if (!line_is(s.line[before + k], cases[i].sent, sent_users[k]))
                fprintf(stderr, "endpoint %s: sent \"%s\"\n", ep, s.line[before + k]);
            TT_CHECK(line_is(s.line[before + k], cases[i].sent, sent_users[k]));
        }
        s.seen = 0;
    }
    peer_stop(&s);
}

/* A server s and a tunnelling proxy px in front of it, whose URL goes to
 * proxy. 0 ok, -1 (neither running). */
static int peers_start(peer_t *s, peer_t *px, char *proxy, size_t size)
{
    if (peer_start(s, 0) != 0)
        return -1;
    if (peer_start(px, s->port) != 0) {
        peer_stop(s);
        return -1;
    }
    snprintf(proxy, size, "http://127.0.0.1:%u", px->port);
    return 0;
}

/* http_proxy from the environment: the call goes through a CONNECT tunnel
 * (a proxy that only tunnels answers anything else 403), and the request
 * line inside it is the same origin-form line as without a proxy. */
static void test_proxy_tunnel(void)
{
    static const char *const users[] = {"u1", "u2"};
    peer_t s, px;
    collect_t col;
    char ep[128], proxy[128], want[64];

    if (peers_start(&s, &px, proxy, sizeof(proxy)) != 0)
        return;
    setenv("http_proxy", proxy, 1);
    snprintf(ep, sizeof(ep), "http://127.0.0.1:%u/v2", s.port);
    calls(ep, users, 2, &col);
    unsetenv("http_proxy");
    TT_EQ_INT(col.done, 2);
    TT_EQ_INT(col.res[0].outcome, ZIM_SUCCESS);
    TT_EQ_INT(col.res[1].outcome, ZIM_SUCCESS);
    TT_EQ_INT(px.seen, 1); /* one tunnel, kept for both calls */
    snprintf(want, sizeof(want), "CONNECT 127.0.0.1:%u HTTP/1.1", s.port);
    TT_EQ_STR(px.line[0], want);
    TT_EQ_INT(s.seen, 2);
    TT_CHECK(line_is(s.line[0], "/v2", "u1"));
    TT_CHECK(line_is(s.line[1], "/v2", "u2"));
    peer_stop(&px);
    peer_stop(&s);
}

static void unset_proxies(void)
{
    static const char *proxies[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                                    "all_proxy",  "ALL_PROXY",  "no_proxy",    "NO_PROXY"};
    for (size_t i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
        unsetenv(proxies[i]);
}

/* The proxy variables, read once when the client is made, by libcurl's
 * rules: no_proxy wins, HTTP_PROXY is never read, an empty value is unset,
 * all_proxy is the fallback. */
static void test_proxy_env(void)
{
    static const char *const users[] = {"u1"};
    static const struct {
        const char *vars[3][2];
        int tunnel;
    } cases[] = {
        {{{"http_proxy", "P"}, {"no_proxy", "127.0.0.1"}}, 0},
        {{{"http_proxy", "P"}, {"NO_PROXY", "localhost,127.0.0.1"}}, 0},
        {{{"HTTP_PROXY", "P"}}, 0},
        {{{"https_proxy", "P"}, {"HTTPS_PROXY", "P"}}, 0}, /* not for http:// */
        {{{"all_proxy", "P"}}, 1},
        {{{"ALL_PROXY", "P"}}, 1},
        {{{"http_proxy", ""}, {"all_proxy", "P"}}, 1},
        {{{"http_proxy", "P"}, {"no_proxy", ""}}, 1},
    };
    peer_t s, px;
    collect_t col;
    char ep[128], proxy[128];

    if (peers_start(&s, &px, proxy, sizeof(proxy)) != 0)
        return;
    snprintf(ep, sizeof(ep), "http://127.0.0.1:%u/v2", s.port);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int v = 0; v < 3 && cases[i].vars[v][0]; v++)
            setenv(cases[i].vars[v][0],
                   strcmp(cases[i].vars[v][1], "P") == 0 ? proxy : cases[i].vars[v][1], 1);
        px.seen = s.seen = 0;
        calls(ep, users, 1, &col);
        unset_proxies();
        TT_EQ_INT(col.done, 1);
        TT_EQ_INT(col.res[0].outcome, ZIM_SUCCESS);
        TT_EQ_INT(s.seen, 1);
        if (px.seen != cases[i].tunnel)
            fprintf(stderr, "case %zu: %d tunnels\n", i, px.seen);
        TT_EQ_INT(px.seen, cases[i].tunnel);
    }
    peer_stop(&px);
    peer_stop(&s);
}

int main(void)
{
    unset_proxies();
    TT_RUN(test_request_line);
    TT_RUN(test_proxy_tunnel);
    TT_RUN(test_proxy_env);
    TT_DONE();
}
