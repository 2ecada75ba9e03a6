/* sandbox_control.h - the control endpoints of zim-sandbox, on the API's port:
 *
 *   GET /_sandbox/fault?kind=K[&count=N][&user=ID]  queue a fault (see sandbox_fault.h)
 *   GET /_sandbox/reset[?stats=1]                    clear faults (and counters)
 *   GET /_sandbox/stats                              counters as JSON
 *   GET /_sandbox/secret?value=S                     replace the server secret
 *
 * Answers are JSON: {"ok":true,...} with 200, or {"ok":false,"error":"..."}
 * with 400 (bad parameters), 404 (unknown endpoint) or 405 (not GET). */
#ifndef ZU_SANDBOX_CONTROL_H
#define ZU_SANDBOX_CONTROL_H

#include <microhttpd.h>

#include "sandbox_state.h"

#define SANDBOX_CONTROL_PREFIX "/_sandbox/"

/* Answers the control request for path (raw, starting with the prefix) and
 * the raw query (may be NULL). Called from connection threads. */
enum MHD_Result sandbox_control_handle(sandbox_state_t *st, struct MHD_Connection *con,
                                       const char *method, const char *path, const char *query);

#endif
