/* sandbox_query.h - strict parsing of a request's query string.
 *
 * "a=1&b=x%2By" becomes the pairs (a, 1), (b, x+y). Names and values are
 * percent-decoded; '+' is kept as a literal '+' (this API's clients encode a
 * plus sign as %2B, and FromUserId may contain '+'). Empty segments ("a=1&&b=2",
 * a trailing '&') are skipped; a segment without '=' is a name with an empty
 * value. A name given twice, a malformed escape ("%4", "%zz") or an escape
 * that decodes to NUL is rejected. Not thread-safe per handle; distinct
 * handles may be used from distinct threads. */
#ifndef ZU_SANDBOX_QUERY_H
#define ZU_SANDBOX_QUERY_H

#include <stddef.h>

typedef struct sandbox_query sandbox_query_t;

/* Parses query (the text after '?', without a fragment; NULL or "" means no
 * parameters). On success returns 0 and stores a new handle in *out, owned by
 * the caller (sandbox_query_destroy()). Returns -1 when the client's query is
 * rejected, with a message for the client in errstr ("duplicated parameter
 * AppId"), or -2 when memory runs out. *out is written only on success. */
int sandbox_query_parse(const char *query, sandbox_query_t **out, char *errstr, size_t errstr_size);

/* The decoded value of name, or NULL when absent. The pointer lives as long
 * as q. */
const char *sandbox_query_get(const sandbox_query_t *q, const char *name);

/* Number of parameters. */
size_t sandbox_query_count(const sandbox_query_t *q);

/* Frees q; NULL is fine. */
void sandbox_query_destroy(sandbox_query_t *q);

#endif
