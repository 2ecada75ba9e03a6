/* redrive.c - failure results back into events (see redrive.h). */
#include "common/redrive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/event.h"
#include "common/result.h"

void redrive_rec_clear(redrive_rec_t *rec)
{
    if (!rec)
        return;
    free(rec->event_json);
    free(rec->src_topic);
    memset(rec, 0, sizeof(*rec));
}

static int class_listed(const config_t *cfg, const char *cls)
{
    for (size_t i = 0; cls && i < cfg->redrive_error_classes.n; i++)
        if (strcmp(cfg->redrive_error_classes.v[i], cls) == 0)
            return 1;
    return 0;
}

/* Copies key from the result into the event when it is a string (or, for
 * delete_type, an integer). */
static int copy_field(json_t *ev, json_t *res, const char *from, const char *to)
{
    json_t *v = json_object_get(res, from);
    if (!v || (!json_is_string(v) && !json_is_integer(v)))
        return 0;
    return json_object_set(ev, to, v);
}

static void source_of(json_t *res, redrive_rec_t *rec)
{
    json_t *src = json_object_get(res, "source");
    json_t *t = json_object_get(src, "topic"), *p = json_object_get(src, "partition"),
           *o = json_object_get(src, "offset");
    if (!json_is_string(t) || !json_is_integer(p) || !json_is_integer(o))
        return;
    rec->src_topic = strdup(json_string_value(t));
    rec->src_partition = (int32_t)json_integer_value(p);
    rec->src_offset = (int64_t)json_integer_value(o);
}

/* 1 when the result's event_id is the default its event got from its
 * source (the event had none): the event is taken without one, and gets
 * the same default again from the same source (see redrive.h). */
static int is_default_id(json_t *res, const redrive_rec_t *rec)
{
    const char *id = json_string_value(json_object_get(res, "event_id"));
    char buf[EVENT_DEFAULT_ID_SIZE];
    return id && rec->src_topic &&
           strcmp(id, event_default_id(buf, sizeof(buf), rec->src_topic, rec->src_partition,
                                       rec->src_offset)) == 0;
}

redrive_verdict_t redrive_parse(const config_t *cfg, const void *value, size_t len,
                                redrive_rec_t *rec)
{
    json_error_t jerr;
    json_t *res = NULL, *ev = NULL;
    redrive_verdict_t v = REDRIVE_UNPARSEABLE;
    memset(rec, 0, sizeof(*rec));
    snprintf(rec->why, sizeof(rec->why), "not a result record");
    if (!value || len == 0)
        goto out;
    res = json_loadb(value, len, JSON_REJECT_DUPLICATES, &jerr);
    const char *schema = json_string_value(json_object_get(res, "schema"));
    const char *status = json_string_value(json_object_get(res, "status"));
    if (!json_is_object(res) || !schema || strcmp(schema, RESULT_SCHEMA) != 0 || !status)
        goto out;
    if (strcmp(status, "failure") != 0) {
        v = REDRIVE_SKIP_SUCCESS;
        goto out;
    }
    if (!class_listed(cfg, json_string_value(json_object_get(res, "error_class")))) {
        v = REDRIVE_SKIP_CLASS;
        goto out;
    }
    source_of(res, rec);
    if (!(ev = json_object()) || copy_field(ev, res, "event_type", "type") == -1 ||
        copy_field(ev, res, "user_id", "user_id") == -1 ||
        (!is_default_id(res, rec) && copy_field(ev, res, "event_id", "event_id") == -1) ||
        copy_field(ev, res, "delete_type", "delete_type") == -1 ||
        copy_field(ev, res, "occurred_at", "occurred_at") == -1 ||
        !(rec->event_json = json_dumps(ev, JSON_COMPACT))) {
        redrive_rec_clear(rec);
        snprintf(rec->why, sizeof(rec->why), "out of memory");
        goto out;
    }
    rec->event_len = strlen(rec->event_json);
    rec->why[0] = '\0';
    v = REDRIVE_TAKE;
out:
    json_decref(ev);
    json_decref(res);
    return v;
}
