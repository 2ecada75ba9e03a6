/* curlev.h - a libcurl multi handle driven by the event loop.
 *
 * The HTTP clients of the worker (the ZIM API, the Schema Registry) share
 * this glue: curl's sockets are watched through CURLMOPT_SOCKETFUNCTION and
 * its timeout through CURLMOPT_TIMERFUNCTION, both on the evloop, and
 * curl_multi_socket_action runs only for what is ready. Each finished
 * transfer is handed to the owner's callback. Single-threaded (the loop's
 * thread). Ownership: the owner adds and removes its easy handles with
 * curlev_multi(); it removes (and frees) them before curlev_destroy(). */
#ifndef ZU_CURLEV_H
#define ZU_CURLEV_H

#include <stddef.h>

#include <curl/curl.h>

#include "common/evloop.h"
#include "common/log.h"

typedef struct curlev curlev_t;

/* A transfer finished with result: the owner reads what it needs and may
 * remove, reuse or free easy, or add other transfers. */
typedef void(curlev_done_cb)(void *ctx, CURL *easy, CURLcode result);

/* name prefixes log lines ("http client", "schema registry"). Calls
 * curl_global_init (undone by curlev_destroy). NULL with errstr. */
curlev_t *curlev_new(evloop_t *el, log_t *log, const char *name, curlev_done_cb *done, void *ctx,
                     char *errstr, size_t errstr_size);
/* Cleans the multi handle up (its sockets leave the loop) and frees. NULL ok. */
void curlev_destroy(curlev_t *cm);
/* The multi handle, for curl_multi_add_handle/remove_handle/setopt. */
CURLM *curlev_multi(const curlev_t *cm);

/* A response body collected up to max bytes; what comes after is dropped
 * and over is set (the body then counts as unusable). Ownership: p is the
 * holder's, freed by curlev_body_free. Zero-initialised with max set. */
typedef struct curlev_body {
    char *p; /* cap + 1 bytes */
    size_t len, cap, max;
    int over;
} curlev_body_t;

/* A CURLOPT_WRITEFUNCTION with a curlev_body_t as CURLOPT_WRITEDATA. Returns
 * 0 (curl's write error) only when memory runs out. */
size_t curlev_body_write(char *ptr, size_t size, size_t nmemb, void *userdata);
/* Empties the body for the next transfer; a buffer over keep bytes is freed. */
void curlev_body_reset(curlev_body_t *b, size_t keep);
void curlev_body_free(curlev_body_t *b);

/* A CURLOPT_SSL_CTX_FUNCTION for OpenSSL builds of libcurl: loads the CA
 * file given as CURLOPT_SSL_CTX_DATA into the TLS context's trust store,
 * next to the system's certificates (CURLOPT_CAINFO would replace them). */
CURLcode curlev_add_ca_file(CURL *easy, void *sslctx, void *path);

#endif
