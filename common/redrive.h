/* redrive.h - takes a failure result apart for --redrive.
 *
 * A record of the result topic is redriven when it is a result
 * ("schema": "zim-unfriend/result/v1") with "status": "failure" and an
 * error_class among the configured ones (redrive.error_classes). Its
 * event_type, user_id, event_id, delete_type and occurred_at become a plain
 * JSON event again (event_json), to be validated by event_parse() like any
 * input event; its "source" is kept for the new result. An event_id that is
 * the default one of that source (the event had none) is left out: parsed
 * with the source's topic, partition and offset, the event gets the same
 * default again, which may be longer than an event's own event_id may be.
 *
 * Pure and thread-safe. Ownership: the strings in redrive_rec_t are
 * malloc'ed and owned by it; redrive_rec_clear() frees them. */
#ifndef ZU_REDRIVE_H
#define ZU_REDRIVE_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"

typedef enum {
    REDRIVE_TAKE = 0,     /* process again */
    REDRIVE_SKIP_SUCCESS, /* a success (or dry-run) result */
    REDRIVE_SKIP_CLASS,   /* a failure of a class not configured */
    REDRIVE_UNPARSEABLE,  /* not a result record */
} redrive_verdict_t;

typedef struct redrive_rec {
    char *event_json; /* the event to process again (REDRIVE_TAKE) */
    size_t event_len;
    char *src_topic; /* the original source; NULL when the result had none */
    int32_t src_partition;
    int64_t src_offset;
    char why[128]; /* REDRIVE_UNPARSEABLE: the reason */
} redrive_rec_t;

/* Judges one record value (any bytes). With REDRIVE_TAKE, rec is filled.
 * Allocation failure is REDRIVE_UNPARSEABLE with why saying so. */
redrive_verdict_t redrive_parse(const config_t *cfg, const void *value, size_t len,
                                redrive_rec_t *rec);

/* Frees the strings and zeroes rec. NULL ok. */
void redrive_rec_clear(redrive_rec_t *rec);

#endif
