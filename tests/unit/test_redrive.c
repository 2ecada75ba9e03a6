/* test_redrive.c - failure results taken apart for --redrive. */
#include <stdlib.h>
#include <string.h>

#include "common/event.h"
#include "common/redrive.h"
#include "tests/unit/config_fixture.h"

static redrive_verdict_t judge(const config_t *cfg, const char *json, redrive_rec_t *rec)
{
    return redrive_parse(cfg, json, json ? strlen(json) : 0, rec);
}

#define RESULT_HEAD "{\"schema\":\"zim-unfriend/result/v1\","

static void test_verdicts(void)
{
    config_t cfg;
    redrive_rec_t rec;
    if (load_ok(mini("", "", ""), &cfg, __LINE__) != 0)
        return;
    TT_EQ_INT(judge(&cfg,
                    RESULT_HEAD "\"status\":\"failure\",\"event_id\":\"e-1\",\"event_type\":"
                                "\"account-deleted\",\"user_id\":\"u&1\",\"delete_type\":1,"
                                "\"error_class\":\"retries_exhausted\",\"occurred_at\":null,"
                                "\"source\":{\"topic\":\"account-events\",\"partition\":3,"
                                "\"offset\":42}}",
                    &rec),
              REDRIVE_TAKE);
    TT_EQ_STR(rec.event_json, "{\"type\":\"account-deleted\",\"user_id\":\"u&1\",\"event_id\":"
                              "\"e-1\",\"delete_type\":1}");
    TT_EQ_STR(rec.src_topic, "account-events");
    TT_EQ_INT(rec.src_partition, 3);
    TT_EQ_INT(rec.src_offset, 42);
    redrive_rec_clear(&rec);
    TT_CHECK(rec.event_json == NULL);

    /* An event that had no event_id: its default (here longer than an
     * event_id may be, from a 200-character topic) is left out, and the
     * event parsed from its source gets it again. */
    char topic[201], longres[1024], want[300];
    memset(topic, 't', 200);
    topic[200] = '\0';
    snprintf(want, sizeof(want), "%s/7/123456789", topic);
    snprintf(longres, sizeof(longres),
             RESULT_HEAD "\"status\":\"failure\",\"event_id\":\"%s\",\"event_type\":"
                         "\"account-deleted\",\"user_id\":\"u\",\"delete_type\":0,"
                         "\"error_class\":\"retries_exhausted\",\"source\":{\"topic\":\"%s\","
                         "\"partition\":7,\"offset\":123456789}}",
             want, topic);
    TT_EQ_INT(judge(&cfg, longres, &rec), REDRIVE_TAKE);
    TT_EQ_STR(rec.event_json, "{\"type\":\"account-deleted\",\"user_id\":\"u\",\"delete_type\":0}");
    event_t ev;
    TT_EQ_INT(event_parse(&cfg, rec.event_json, rec.event_len, rec.src_topic, rec.src_partition,
                          rec.src_offset, &ev),
              EVENT_OK);
    TT_EQ_STR(ev.event_id, want);
    event_clear(&ev);
    redrive_rec_clear(&rec);
    /* The same id with another source is the event's own: kept. */
    snprintf(longres, sizeof(longres),
             RESULT_HEAD "\"status\":\"failure\",\"event_id\":\"in/1/2\",\"event_type\":"
                         "\"account-deleted\",\"user_id\":\"u\",\"error_class\":"
                         "\"retries_exhausted\",\"source\":{\"topic\":\"in\",\"partition\":1,"
                         "\"offset\":3}}");
    TT_EQ_INT(judge(&cfg, longres, &rec), REDRIVE_TAKE);
    TT_CHECK(strstr(rec.event_json, "\"event_id\":\"in/1/2\"") != NULL);
    redrive_rec_clear(&rec);

    /* No source (a result of --once): taken, source stays unknown. */
    TT_EQ_INT(judge(&cfg,
                    RESULT_HEAD "\"status\":\"failure\",\"user_id\":\"u\",\"error_class\":"
                                "\"retries_exhausted\",\"source\":null}",
                    &rec),
              REDRIVE_TAKE);
    TT_CHECK(rec.src_topic == NULL);
    redrive_rec_clear(&rec);

    TT_EQ_INT(judge(&cfg, RESULT_HEAD "\"status\":\"success\",\"error_class\":null}", &rec),
              REDRIVE_SKIP_SUCCESS);
    TT_EQ_INT(judge(&cfg, RESULT_HEAD "\"status\":\"failure\",\"error_class\":\"rejected\"}", &rec),
              REDRIVE_SKIP_CLASS);
    TT_EQ_INT(judge(&cfg, RESULT_HEAD "\"status\":\"failure\",\"error_class\":null}", &rec),
              REDRIVE_SKIP_CLASS);
    TT_EQ_INT(judge(&cfg, "{\"schema\":\"other\",\"status\":\"failure\"}", &rec),
              REDRIVE_UNPARSEABLE);
    TT_EQ_INT(judge(&cfg, "not json", &rec), REDRIVE_UNPARSEABLE);
    TT_EQ_STR(rec.why, "not a result record");
    TT_EQ_INT(judge(&cfg, "[1,2]", &rec), REDRIVE_UNPARSEABLE);
    TT_EQ_INT(judge(&cfg, NULL, &rec), REDRIVE_UNPARSEABLE);
    TT_EQ_INT(judge(&cfg, RESULT_HEAD "\"status\":7}", &rec), REDRIVE_UNPARSEABLE);
    config_free(&cfg);
}

/* redrive.error_classes decides which failures are taken. */
static void test_classes(void)
{
    config_t cfg;
    redrive_rec_t rec;
    if (load_ok(
            mini("", "", "redrive: { error_classes = [ \"rejected\", \"invalid_event\" ]; };\n"),
            &cfg, __LINE__) != 0)
        return;
    TT_EQ_INT(judge(&cfg, RESULT_HEAD "\"status\":\"failure\",\"error_class\":\"rejected\"}", &rec),
              REDRIVE_TAKE);
    redrive_rec_clear(&rec);
    TT_EQ_INT(judge(&cfg,
                    RESULT_HEAD "\"status\":\"failure\",\"error_class\":\"retries_exhausted\"}",
                    &rec),
              REDRIVE_SKIP_CLASS);
    /* --check-config shows the list. */
    char *printed = print_to_string(&cfg);
    TT_CHECK(strstr(printed, "error_classes = [ \"rejected\", \"invalid_event\" ]") != NULL);
    free(printed);
    config_free(&cfg);
    /* An unknown class, or none, is a configuration error. */
    EXPECT_ERR(mini("", "", "redrive: { error_classes = [ \"systemic\" ]; };\n"),
               ":3: redrive.error_classes: \"systemic\" is not an error class "
               "(\"retries_exhausted\", \"rejected\", \"invalid_event\")");
    EXPECT_ERR(mini("", "", "redrive: { error_classes = [ ]; };\n"),
               ":3: redrive.error_classes: must not be empty");
}

int main(void)
{
    if (fixture_open("/tmp/zu-test-redrive-XXXXXX") == -1)
        return 1;
    TT_RUN(test_verdicts);
    TT_RUN(test_classes);
    redrive_rec_clear(NULL);
    fixture_close();
    TT_DONE();
}
