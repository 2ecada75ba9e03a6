/* httpd.c - the observability endpoint on libmicrohttpd, external epoll mode.
 *
 * MHD_USE_EPOLL without MHD_USE_INTERNAL_POLLING_THREAD: MHD starts no thread
 * and keeps its listen socket and connections in one epoll set, whose fd
 * (MHD_DAEMON_INFO_EPOLL_FD) is readable whenever MHD has work. That is the
 * fd httpd_fd() returns. MHD's epoll set is edge-triggered and MHD may keep
 * work pending internally (MHD_get_timeout() then returns 0), so the loop
 * must honour httpd_timeout_ms() as well as readability.
 *
 * We create, bind and listen on the socket ourselves and hand it over with
 * MHD_OPTION_LISTEN_SOCKET: bind errors then name the address and errno
 * precisely. MHD closes that socket in MHD_stop_daemon(), but not when
 * MHD_start_daemon() fails (we close it then). MHD's own messages go to a
 * logger of ours and never to stderr; during start-up the first one is kept
 * for the error string. */
#include "common/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <microhttpd.h>

#define HTTPD_MAX_ADDR 80 /* longest listen string accepted */
#define HTTPD_BACKLOG  64
/* Limits against slow or greedy clients: a client address holds at most
 * HTTPD_PER_IP_LIMIT connections, so one scraper gone wrong (or a slowloris)
 * cannot take the slots the liveness probe needs; a connection idle for
 * HTTPD_CONN_TIMEOUT_S is closed; a request's headers must fit in
 * HTTPD_MEMORY_LIMIT (larger ones get 431, and the connection closes). */
#define HTTPD_MAX_CONNECTIONS 128u
#define HTTPD_PER_IP_LIMIT    8u
#define HTTPD_CONN_TIMEOUT_S  3u
#define HTTPD_MEMORY_LIMIT    ((size_t)16 * 1024)
#define HTTPD_DEFAULT_CTYPE   "text/plain; charset=utf-8"

struct httpd {
    struct MHD_Daemon *d;
    httpd_handler_cb *cb;
    void *ctx;
    int port;
    int fd;
    int starting;        /* MHD_start_daemon() is running */
    char start_err[256]; /* MHD's first message during start-up */
};

/* A parsed listen address. */
typedef struct listen_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    int family;
} listen_addr_t;

static int parse_port(const char *s, int *port)
{
    long v = 0;
    const char *p;

    if (!*s || strlen(s) > 5)
        return -1;
    for (p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

/* Parses "host:port" (IPv4 literal, "localhost" or "[v6]"). */
static int parse_listen(const char *addr, listen_addr_t *la, char *errstr, size_t errstr_size)
{
    char host[64];
    const char *colon, *hbeg, *hend;
    size_t hlen;
    int port;

    if (!addr || !*addr) {
        snprintf(errstr, errstr_size, "listen address is empty: expected host:port");
        return -1;
    }
    for (hbeg = addr; *hbeg; hbeg++) {
        unsigned char c = (unsigned char)*hbeg;
        if (c < 0x20 || c == 0x7f || hbeg - addr >= HTTPD_MAX_ADDR) {
            /* Not echoed: the message stays one short line. */
            snprintf(errstr, errstr_size,
                     "listen address: expected host:port (too long or control characters)");
            return -1;
        }
    }
    if (addr[0] == '[') {
        hbeg = addr + 1;
        hend = strchr(hbeg, ']');
        if (!hend || hend[1] != ':') {
            snprintf(errstr, errstr_size, "listen \"%s\": expected [v6-address]:port", addr);
            return -1;
        }
        colon = hend + 1;
    } else {
        hbeg = addr;
        colon = strrchr(addr, ':');
        if (!colon) {
            snprintf(errstr, errstr_size, "listen \"%s\": expected host:port", addr);
            return -1;
        }
        hend = colon;
        if (memchr(hbeg, ':', (size_t)(hend - hbeg))) {
            snprintf(errstr, errstr_size, "listen \"%s\": an IPv6 address needs brackets", addr);
            return -1;
        }
    }
    if (parse_port(colon + 1, &port) != 0) {
        snprintf(errstr, errstr_size, "listen \"%s\": port must be a number 0..65535", addr);
        return -1;
    }
    hlen = (size_t)(hend - hbeg);
    if (hlen == 0 || hlen >= sizeof(host)) {
        snprintf(errstr, errstr_size, "listen \"%s\": bad host", addr);
        return -1;
    }
    memcpy(host, hbeg, hlen);
    host[hlen] = '\0';
    memset(la, 0, sizeof(*la));
    if (addr[0] == '[') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&la->ss;
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1) {
            snprintf(errstr, errstr_size, "listen \"%s\": bad IPv6 address", addr);
            return -1;
        }
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        la->len = sizeof(*a6);
        la->family = AF_INET6;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&la->ss;
        if (strcmp(host, "localhost") == 0) {
            a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        } else if (inet_pton(AF_INET, host, &a4->sin_addr) != 1) {
            snprintf(errstr, errstr_size,
                     "listen \"%s\": host must be an IPv4 address, localhost or [v6]", addr);
            return -1;
        }
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        la->len = sizeof(*a4);
        la->family = AF_INET;
    }
    return 0;
}

int httpd_check_listen(const char *listen, char *errstr, size_t errstr_size)
{
    listen_addr_t la;
    return parse_listen(listen, &la, errstr, errstr_size);
}

/* A bound, listening, non-blocking socket, or -1 with errstr. */
static int open_listener(const char *addr, const listen_addr_t *la, char *errstr,
                         size_t errstr_size)
{
    int fd, on = 1;

    fd = socket(la->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(errstr, errstr_size, "listen \"%s\": socket: %s", addr, strerror(errno));
        return -1;
    }
    /* Best effort: a restart may rebind while old connections sit in
     * TIME_WAIT. (It never allows two listeners on one port on Linux.) */
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (bind(fd, (const struct sockaddr *)&la->ss, la->len) != 0) {
        snprintf(errstr, errstr_size, "listen \"%s\": bind: %s", addr, strerror(errno));
        close(fd);
        return -1;
    }
    if (listen(fd, HTTPD_BACKLOG) != 0) {
        snprintf(errstr, errstr_size, "listen \"%s\": listen: %s", addr, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* MHD's messages: kept (the first one) during start-up, dropped after. */
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    httpd_t *h = cls;
    size_t n;

    if (!h->starting || h->start_err[0])
        return;
    vsnprintf(h->start_err, sizeof(h->start_err), fmt, ap);
    n = strlen(h->start_err);
    while (n > 0 && (h->start_err[n - 1] == '\n' || h->start_err[n - 1] == '\r'))
        h->start_err[--n] = '\0';
}

/* Queues a response. body is malloc'ed (taken over, freed on every path)
 * unless mode is MHD_RESPMEM_PERSISTENT; NULL means empty. */
static enum MHD_Result queue(struct MHD_Connection *conn, unsigned int status, char *body,
                             size_t len, enum MHD_ResponseMemoryMode mode, const char *ctype,
                             int allow_get)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (!body) {
        body = (char *)"";
        len = 0;
        mode = MHD_RESPMEM_PERSISTENT;
    }
    resp = MHD_create_response_from_buffer(len, body, mode);
    if (!resp) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO; /* MHD closes the connection */
    }
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) != MHD_YES ||
        (allow_get &&
         MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") != MHD_YES)) {
        MHD_destroy_response(resp);
        return MHD_NO;
    }
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp); /* the connection holds its own reference */
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    httpd_t *h = cls;
    char *body = NULL;
    size_t len = 0;
    const char *ctype = NULL;
    int status;

    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req_cls;
    /* HEAD is answered as GET; MHD sends the headers only. */
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        static const char msg[] = "method not allowed\n";
        return queue(conn, MHD_HTTP_METHOD_NOT_ALLOWED, (char *)msg, sizeof(msg) - 1,
                     MHD_RESPMEM_PERSISTENT, HTTPD_DEFAULT_CTYPE, 1);
    }
    status = h->cb(h->ctx, url, &body, &len, &ctype);
    if (status < 100 || status > 599) {
        free(body);
        body = NULL;
        len = 0;
        ctype = NULL;
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    return queue(conn, (unsigned int)status, body, len, MHD_RESPMEM_MUST_FREE,
                 ctype ? ctype : HTTPD_DEFAULT_CTYPE, 0);
}

httpd_t *httpd_new(const char *listen, httpd_handler_cb *cb, void *ctx, char *errstr,
                   size_t errstr_size)
{
    httpd_t *h = NULL;
    listen_addr_t la;
    const union MHD_DaemonInfo *info;
    unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    int fd = -1;

    if (!cb) {
        snprintf(errstr, errstr_size, "httpd: no request handler");
        goto fail;
    }
    if (parse_listen(listen, &la, errstr, errstr_size) != 0)
        goto fail;
    h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(errstr, errstr_size, "listen \"%s\": out of memory", listen);
        goto fail;
    }
    h->cb = cb;
    h->ctx = ctx;
    fd = open_listener(listen, &la, errstr, errstr_size);
    if (fd < 0)
        goto fail;
    if (la.family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->starting = 1;
    errno = 0;
    /* The logger goes first so that no start-up message reaches stderr. */
    h->d =
        MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER,
                         mhd_logger, h, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
                         HTTPD_MAX_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                         HTTPD_PER_IP_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT, HTTPD_CONN_TIMEOUT_S,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTPD_MEMORY_LIMIT, MHD_OPTION_END);
    h->starting = 0;
    if (!h->d) {
        snprintf(errstr, errstr_size, "listen \"%s\": cannot start the HTTP server: %s", listen,
                 h->start_err[0] ? h->start_err : (errno ? strerror(errno) : "unknown error"));
        close(fd); /* MHD leaves a given listen socket open when it fails */
        goto fail;
    }
    info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
    h->fd = info ? info->epoll_fd : -1;
    info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? (int)info->port : 0;
    if (h->fd < 0 || h->port <= 0) {
        snprintf(errstr, errstr_size, "listen \"%s\": the HTTP server has no epoll fd or port",
                 listen);
        goto fail;
    }
    return h;
fail:
    httpd_destroy(h);
    return NULL;
}

void httpd_destroy(httpd_t *h)
{
    if (!h)
        return;
    if (h->d)
        MHD_stop_daemon(h->d); /* closes the listen socket and connections */
    free(h);
}

int httpd_port(const httpd_t *h)
{
    return h->port;
}

int httpd_fd(const httpd_t *h)
{
    return h->fd;
}

void httpd_run(httpd_t *h)
{
    (void)MHD_run(h->d);
}

long httpd_timeout_ms(const httpd_t *h)
{
    MHD_UNSIGNED_LONG_LONG t;

    if (MHD_get_timeout(h->d, &t) != MHD_YES)
        return -1;
    return t > (MHD_UNSIGNED_LONG_LONG)LONG_MAX ? LONG_MAX : (long)t;
}
