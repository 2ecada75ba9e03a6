/* sandbox_api.h - libmicrohttpd callbacks of zim-sandbox: DeleteAllFriends
 * as the ZIM server API answers it, plus dispatch to the control endpoints
 * under /_sandbox/.
 *
 * Install with MHD_OPTION_URI_LOG_CALLBACK (sandbox_api_uri_cb),
 * MHD_OPTION_NOTIFY_COMPLETED (sandbox_api_completed) and the access handler
 * sandbox_api_handler, each with a sandbox_state_t * as closure. Called from
 * libmicrohttpd's connection threads. */
#ifndef ZU_SANDBOX_API_H
#define ZU_SANDBOX_API_H

#include <stddef.h>
#include <sys/socket.h>
#include <microhttpd.h>

/* Creates the per-request context holding the raw request URI (libmicrohttpd
 * passes handlers the path only, already decoded) and the arrival time.
 * Freed by sandbox_api_completed(). */
void *sandbox_api_uri_cb(void *cls, const char *uri, struct MHD_Connection *con);

/* Frees the per-request context. */
void sandbox_api_completed(void *cls, struct MHD_Connection *con, void **req_cls,
                           enum MHD_RequestTerminationCode toe);

/* Answers one request: /_sandbox/... goes to the control endpoints, any other
 * path is a ZIM API call. */
enum MHD_Result sandbox_api_handler(void *cls, struct MHD_Connection *con, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **req_cls);

/* Queues an answer with the given status, Content-Type and body (copied).
 * With allow_get, adds "Allow: GET" (for 405 answers). */
enum MHD_Result sandbox_api_respond(struct MHD_Connection *con, unsigned status,
                                    const char *content_type, const char *body, size_t len,
                                    int allow_get);

#endif
