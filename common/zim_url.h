/* zim_url.h - the signed DeleteAllFriends request URL (docs/contract.md,
 * "The API it calls"). */
#ifndef ZU_ZIM_URL_H
#define ZU_ZIM_URL_H

#include <stddef.h>
#include <stdint.h>

#include "common/zim_sign.h"

/* Checks an endpoint: http:// or https://, a host, no query, fragment,
 * space or control character. *needs_slash is set when it has no path (the
 * URL then adds '/'). 0 ok, -1 with errstr. */
int zim_url_check_endpoint(const char *endpoint, int *needs_slash, char *errstr,
                           size_t errstr_size);

/* The proxy libcurl would find in the environment for endpoint, by its
 * rules: for https, https_proxy then HTTPS_PROXY; for http, http_proxy only
 * (never HTTP_PROXY, which CGI lets a request set); then all_proxy, then
 * ALL_PROXY. An empty variable counts as unset. Returns the variable's
 * value (NULL when none) and its name in *var. */
const char *zim_url_env_proxy(const char *endpoint, const char **var);

/* no_proxy, else NO_PROXY (empty counts as unset), or NULL. */
const char *zim_url_env_noproxy(void);

/* Builds the full request URL with every query value percent-encoded, signed
 * with signer (NULL: the stateless zim_sign_signature, same result).
 * *out is malloc'ed (caller frees). 0 ok, -1 with errstr. */
int zim_url_build(zim_signer_t *signer, const char *endpoint, uint32_t app_id, const char *secret,
                  const char *user_id, int delete_type, const char *nonce, int64_t timestamp,
                  char **out, char *errstr, size_t errstr_size);

#endif
