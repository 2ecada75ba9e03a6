/* fuzz_redrive.c - libFuzzer target for --redrive's reading of result
 * records (common/redrive), and the event parser behind it.
 *
 * Any bytes go through redrive_parse() with a fixed configuration. Beyond
 * the sanitizers' findings it aborts when an invariant breaks: a taken
 * record yields a JSON object that event_parse() accepts as input (valid or
 * not, it never crashes) with an event_id; a skipped or unparseable record
 * leaves nothing allocated; the reason of an unparseable one is set.
 *
 * Built by scripts/fuzz.sh (CMake -DFUZZ=ON instruments the libraries too):
 *   scripts/fuzz.sh 60 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/event.h"
#include "common/redrive.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *ad[] = {"account-deleted", "user.deleted"};
    static char *fr[] = {"friend-reset"};
    static char *classes[] = {"retries_exhausted", "rejected"};
    config_t cfg;
    redrive_rec_t rec;
    event_t ev;

    memset(&cfg, 0, sizeof(cfg));
    cfg.app_id = 1234567890;
    cfg.account_deleted.match.v = ad;
    cfg.account_deleted.match.n = 2;
    cfg.friend_reset.match.v = fr;
    cfg.friend_reset.match.n = 1;
    cfg.redrive_error_classes.v = classes;
    cfg.redrive_error_classes.n = 2;

    redrive_verdict_t v = redrive_parse(&cfg, data, size, &rec);
    if (v != REDRIVE_TAKE) {
        if (rec.event_json || rec.src_topic)
            abort();
        if (v == REDRIVE_UNPARSEABLE && !rec.why[0])
            abort();
        return 0;
    }
    json_error_t jerr;
    json_t *j = json_loadb(rec.event_json, rec.event_len, 0, &jerr);
    if (!json_is_object(j))
        abort();
    json_decref(j);
    memset(&ev, 0, sizeof(ev));
    event_parse(&cfg, rec.event_json, rec.event_len, "zim-unfriend-results", 0, 7, &ev);
    if (!ev.event_id)
        abort();
    event_clear(&ev);
    redrive_rec_clear(&rec);
    return 0;
}
