/* httpd.h - the observability endpoint (/metrics, /healthz, /readyz).
 *
 * libmicrohttpd in external-select mode with epoll: it starts no thread of
 * its own. The event loop adds httpd_fd() to its poll set and calls
 * httpd_run() when it is readable (and at least every httpd_timeout_ms()),
 * so the handler runs on the loop thread and reads loop state without locks.
 * GET and HEAD only; other methods get 405. At most 128 connections, 8 per
 * client address; idle connections close after 3 s; headers over 16 KiB get
 * 431. */
#ifndef ZU_HTTPD_H
#define ZU_HTTPD_H

#include <stddef.h>

typedef struct httpd httpd_t;

/* Fills *body (malloc'ed; the server frees it) and *content_type (static
 * string), returns the HTTP status. Unknown paths: return 404. */
typedef int(httpd_handler_cb)(void *ctx, const char *path, char **body, size_t *body_len,
                              const char **content_type);

/* listen is "host:port" (host an IPv4 address, "localhost" or "[v6]";
 * port 0 = kernel-chosen). NULL with errstr on a bad address or bind error. */
httpd_t *httpd_new(const char *listen, httpd_handler_cb *cb, void *ctx, char *errstr,
                   size_t errstr_size);
/* 0 when httpd_new would accept listen's form, else -1 with errstr (no socket
 * is touched: the configuration check uses it). */
int httpd_check_listen(const char *listen, char *errstr, size_t errstr_size);
void httpd_destroy(httpd_t *h);
/* The port actually bound. */
int httpd_port(const httpd_t *h);
/* The fd to poll for readability. */
int httpd_fd(const httpd_t *h);
/* Runs ready connections (never blocks). */
void httpd_run(httpd_t *h);
/* Milliseconds until httpd_run() must run again, -1 = no deadline. */
long httpd_timeout_ms(const httpd_t *h);

#endif
