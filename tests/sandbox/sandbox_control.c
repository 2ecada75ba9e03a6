/* sandbox_control.c - the /_sandbox/ control endpoints. */
#include "sandbox_control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox_api.h"
#include "sandbox_json.h"
#include "sandbox_query.h"

#define CONTROL_COUNT_MAX 100000000L
#define CONTROL_ERR_MAX   256

/* Sends {"ok":false,"error":msg} with status. */
static enum MHD_Result control_error(struct MHD_Connection *con, unsigned status, const char *msg)
{
    sandbox_buf_t b;
    enum MHD_Result rc = MHD_NO;

    sandbox_buf_init(&b);
    sandbox_buf_puts(&b, "{\"ok\":false,\"error\":");
    sandbox_buf_json_str(&b, msg);
    sandbox_buf_puts(&b, "}\n");
    if (!b.oom)
        rc = sandbox_api_respond(con, status, "application/json", b.data, b.len,
                                 status == MHD_HTTP_METHOD_NOT_ALLOWED);
    sandbox_buf_free(&b);
    return rc;
}

/* Sends the buffer (a JSON object without the newline) with 200. */
static enum MHD_Result control_ok(struct MHD_Connection *con, sandbox_buf_t *b)
{
    sandbox_buf_puts(b, "\n");
    if (b->oom)
        return MHD_NO;
    return sandbox_api_respond(con, MHD_HTTP_OK, "application/json", b->data, b->len, 0);
}

/* Rejects any parameter of q that is not in the NULL-terminated list allowed.
 * 0 all known, -1 with errstr naming the first unknown one. */
static int only_params(const sandbox_query_t *q, const char *const *allowed, char *errstr,
                       size_t errstr_size)
{
    size_t found = 0, i;

    for (i = 0; allowed[i] != NULL; i++) {
        if (sandbox_query_get(q, allowed[i]) != NULL)
            found++;
    }
    if (found == sandbox_query_count(q))
        return 0;
    snprintf(errstr, errstr_size, "unknown parameter (allowed:");
    for (i = 0; allowed[i] != NULL; i++) {
        size_t len = strlen(errstr);
        snprintf(errstr + len, errstr_size - len, " %s", allowed[i]);
    }
    if (strlen(errstr) + 2 <= errstr_size) {
        size_t len = strlen(errstr);
        snprintf(errstr + len, errstr_size - len, ")");
    }
    return -1;
}

/* /_sandbox/fault?kind=K[&count=N][&user=ID] */
static enum MHD_Result control_fault(sandbox_state_t *st, struct MHD_Connection *con,
                                     const sandbox_query_t *q)
{
    static const char *const allowed[] = {"kind", "count", "user", NULL};
    const char *kind = sandbox_query_get(q, "kind"), *count_s = sandbox_query_get(q, "count");
    const char *user = sandbox_query_get(q, "user");
    char err[CONTROL_ERR_MAX], *end;
    sandbox_fault_t f;
    sandbox_buf_t b;
    long count = 1;
    enum MHD_Result rc;

    if (only_params(q, allowed, err, sizeof(err)) != 0)
        return control_error(con, MHD_HTTP_BAD_REQUEST, err);
    if (kind == NULL)
        return control_error(con, MHD_HTTP_BAD_REQUEST, "missing parameter kind");
    if (sandbox_fault_parse(kind, &f, err, sizeof(err)) != 0)
        return control_error(con, MHD_HTTP_BAD_REQUEST, err);
    if (count_s != NULL) {
        errno = 0;
        count = strtol(count_s, &end, 10);
        if (count_s[0] < '0' || count_s[0] > '9' || errno != 0 || *end != '\0' || count < 1 ||
            count > CONTROL_COUNT_MAX)
            return control_error(con, MHD_HTTP_BAD_REQUEST, "count must be an integer 1-100000000");
    }
    if (user != NULL && user[0] == '\0')
        return control_error(con, MHD_HTTP_BAD_REQUEST, "user must not be empty");
    if (sandbox_state_push_fault(st, &f, count, user) != 0)
        return control_error(con, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    sandbox_buf_init(&b);
    sandbox_buf_puts(&b, "{\"ok\":true,\"queued\":{\"kind\":");
    sandbox_buf_json_str(&b, f.label);
    sandbox_buf_printf(&b, ",\"count\":%ld,\"user\":", count);
    sandbox_buf_json_str(&b, user);
    sandbox_buf_printf(&b, "},\"faults_pending\":%ld}", sandbox_state_faults_pending(st));
    rc = control_ok(con, &b);
    sandbox_buf_free(&b);
    return rc;
}

/* /_sandbox/reset[?stats=1] */
static enum MHD_Result control_reset(sandbox_state_t *st, struct MHD_Connection *con,
                                     const sandbox_query_t *q)
{
    static const char *const allowed[] = {"stats", NULL};
    const char *stats = sandbox_query_get(q, "stats");
    char err[CONTROL_ERR_MAX];
    sandbox_buf_t b;
    enum MHD_Result rc;

    if (only_params(q, allowed, err, sizeof(err)) != 0)
        return control_error(con, MHD_HTTP_BAD_REQUEST, err);
    if (stats != NULL && strcmp(stats, "0") != 0 && strcmp(stats, "1") != 0)
        return control_error(con, MHD_HTTP_BAD_REQUEST, "stats must be 0 or 1");
    sandbox_state_reset(st, stats != NULL && strcmp(stats, "1") == 0);
    sandbox_buf_init(&b);
    sandbox_buf_printf(&b, "{\"ok\":true,\"stats_cleared\":%s}",
                       stats != NULL && strcmp(stats, "1") == 0 ? "true" : "false");
    rc = control_ok(con, &b);
    sandbox_buf_free(&b);
    return rc;
}

/* /_sandbox/stats */
static enum MHD_Result control_stats(sandbox_state_t *st, struct MHD_Connection *con,
                                     const sandbox_query_t *q)
{
    static const char *const allowed[] = {NULL};
    char err[CONTROL_ERR_MAX];
    sandbox_buf_t b;
    enum MHD_Result rc;

    if (only_params(q, allowed, err, sizeof(err)) != 0)
        return control_error(con, MHD_HTTP_BAD_REQUEST, "stats takes no parameters");
    sandbox_buf_init(&b);
    sandbox_state_stats_json(st, &b);
    rc = control_ok(con, &b);
    sandbox_buf_free(&b);
    return rc;
}

/* /_sandbox/secret?value=S - the secret is never echoed. */
static enum MHD_Result control_secret(sandbox_state_t *st, struct MHD_Connection *con,
                                      const sandbox_query_t *q)
{
    static const char *const allowed[] = {"value", NULL};
    const char *value = sandbox_query_get(q, "value");
    char err[CONTROL_ERR_MAX];
    sandbox_buf_t b;
    enum MHD_Result rc;

    if (only_params(q, allowed, err, sizeof(err)) != 0)
        return control_error(con, MHD_HTTP_BAD_REQUEST, err);
    if (value == NULL || value[0] == '\0')
        return control_error(con, MHD_HTTP_BAD_REQUEST, "missing parameter value");
    if (sandbox_state_set_secret(st, value) != 0)
        return control_error(con, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    sandbox_buf_init(&b);
    sandbox_buf_puts(&b, "{\"ok\":true}");
    rc = control_ok(con, &b);
    sandbox_buf_free(&b);
    return rc;
}

enum MHD_Result sandbox_control_handle(sandbox_state_t *st, struct MHD_Connection *con,
                                       const char *method, const char *path, const char *query)
{
    const char *name = path + strlen(SANDBOX_CONTROL_PREFIX);
    char err[CONTROL_ERR_MAX];
    sandbox_query_t *q = NULL;
    enum MHD_Result rc;
    int prc;

    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
        return control_error(con, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: use GET");
    prc = sandbox_query_parse(query, &q, err, sizeof(err));
    if (prc != 0)
        return control_error(con, prc == -2 ? MHD_HTTP_INTERNAL_SERVER_ERROR : MHD_HTTP_BAD_REQUEST,
                             err);
    if (strcmp(name, "fault") == 0) {
        rc = control_fault(st, con, q);
    } else if (strcmp(name, "reset") == 0) {
        rc = control_reset(st, con, q);
    } else if (strcmp(name, "stats") == 0) {
        rc = control_stats(st, con, q);
    } else if (strcmp(name, "secret") == 0) {
        rc = control_secret(st, con, q);
    } else {
        snprintf(err, sizeof(err),
                 "unknown control endpoint (use /_sandbox/fault, reset, stats or secret)");
        rc = control_error(con, MHD_HTTP_NOT_FOUND, err);
    }
    sandbox_query_destroy(q);
    return rc;
}
