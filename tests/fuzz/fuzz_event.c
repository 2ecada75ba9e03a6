/* fuzz_event.c - libFuzzer target for the input event parser and the result
 * formatter.
 *
 * Any bytes go through event_parse() with a fixed configuration, then the
 * parsed fields (and the raw input, as a message string) through
 * result_to_json(). Beyond the sanitizers' findings it aborts when an
 * invariant breaks: event_id set, ev->error one line of valid UTF-8 and set
 * exactly when the event is not OK, a valid event has a type, a valid user
 * id and a delete type of 0 or 1, and the result is parseable JSON that
 * gives back the raw input (its request_id) when that is valid UTF-8.
 *
 * Built by scripts/fuzz.sh (CMake -DFUZZ=ON instruments the libraries too):
 *   scripts/fuzz.sh 60 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/event.h"
#include "common/result.h"
#include "common/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 when s is valid UTF-8 with no control characters. */
static int fuzz_clean(const char *s)
{
    size_t i = 0, len = strlen(s);
    uint32_t cp;

    while (i < len) {
        size_t n = utf8_next((const unsigned char *)s + i, len - i, &cp);
        if (n == 0 || cp < 0x20 || cp == 0x7F)
            return 0;
        i += n;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char ad0[] = "account-deleted", ad1[] = "user.deleted", fr0[] = "friend-reset";
    char *ad[] = {ad0, ad1}, *fr[] = {fr0};
    config_t cfg;
    event_t ev;
    event_status_t st;
    result_t r;
    char *json, *raw;
    json_t *back;

    memset(&cfg, 0, sizeof(cfg));
    cfg.app_id = 1234567890;
    cfg.account_deleted.match.v = ad;
    cfg.account_deleted.match.n = 2;
    cfg.friend_reset.match.v = fr;
    cfg.friend_reset.match.n = 1;
    cfg.friend_reset.delete_type = 1;

    st = event_parse(&cfg, data, size, "account-events", 3, 42, &ev);
    if (!ev.event_id || memchr(ev.error, '\0', sizeof(ev.error)) == NULL || !fuzz_clean(ev.error))
        abort();
    if ((st == EVENT_OK) != (ev.error[0] == '\0'))
        abort();
    if (st == EVENT_OK &&
        (!ev.type || !ev.user_id || !event_user_id_valid(ev.user_id, strlen(ev.user_id)) ||
         (ev.delete_type != 0 && ev.delete_type != 1)))
        abort();

    /* the raw bytes up to the first NUL, as an arbitrary (maybe not UTF-8) string */
    raw = malloc(size + 1);
    if (!raw)
        abort();
    memcpy(raw, data, size);
    raw[size] = '\0';

    memset(&r, 0, sizeof(r));
    r.status = st == EVENT_OK ? "dry_run" : "failure";
    r.event_id = ev.event_id;
    r.event_type = ev.type;
    r.user_id = ev.user_id;
    r.app_id = cfg.app_id;
    r.delete_type = ev.delete_type;
    r.has_code = size & 1;
    r.code = (int64_t)size - 7;
    r.message = st == EVENT_OK ? raw : ev.error;
    r.request_id = raw;
    r.error_class = st == EVENT_OK ? NULL : "invalid_event";
    r.occurred_at = ev.occurred_at;
    r.topic = "account-events";
    r.partition = 3;
    r.offset = 42;
    r.received_at_ms = size >= 8 ? (int64_t)(((uint64_t)data[0] << 56) | ((uint64_t)data[1] << 48) |
                                             ((uint64_t)data[2] << 40) | ((uint64_t)data[3] << 32) |
                                             ((uint64_t)data[4] << 24) | ((uint64_t)data[5] << 16) |
                                             ((uint64_t)data[6] << 8) | (uint64_t)data[7])
                                 : (int64_t)size;
    r.completed_at_ms = r.received_at_ms / -3;
    r.worker = "fuzz/1";
    json = result_to_json(&r);
    if (!json)
        abort();
    back = json_loads(json, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(back) || json_object_size(back) != 17)
        abort();
    /* The raw bytes come back as written when they are UTF-8 (else with
     * U+FFFD in place of each bad byte, so never longer than 3x). */
    {
        const char *rid = json_string_value(json_object_get(back, "request_id"));
        size_t len = strlen(raw), i = 0, n = 1;
        uint32_t cp;
        while (i < len && (n = utf8_next((const unsigned char *)raw + i, len - i, &cp)) != 0)
            i += n;
        if (len && (!rid || (i == len && strcmp(rid, raw) != 0) || strlen(rid) > 3 * len))
            abort();
    }
    json_decref(back);
    free(json);
    free(raw);
    event_clear(&ev);
    return 0;
}
