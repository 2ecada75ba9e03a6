/* test_schemareg.c - how the registry client reads an answer: schemas of
 * each type, unknown ids, outages and set-up errors. */
#include <string.h>

#include <curl/curl.h>

#include "common/schemareg.h"
#include "tests/unit/tt.h"

static schemareg_answer_t classify(int cc, long status, const char *body, frame_schema_t *fs,
                                   char *why, size_t why_size)
{
    schemareg_answer_t a = SCHEMAREG_ANSWER_SCHEMA;
    TT_EQ_INT(
        schemareg_classify(cc, status, body, body ? strlen(body) : 0, 0, &a, fs, why, why_size), 0);
    return a;
}

static void test_answers(void)
{
    frame_schema_t fs;
    char why[200];
    const char *avro =
        "{\"schema\":\"{\\\"type\\\":\\\"record\\\",\\\"name\\\":\\\"E\\\","
        "\\\"fields\\\":[{\\\"name\\\":\\\"type\\\",\\\"type\\\":\\\"string\\\"}]}\"}";

    TT_EQ_INT(classify(CURLE_OK, 200, avro, &fs, why, sizeof(why)), SCHEMAREG_ANSWER_SCHEMA);
    TT_EQ_INT(fs.kind, FRAME_SCHEMA_AVRO);
    frame_schema_clear(&fs);
    TT_EQ_INT(classify(CURLE_OK, 200, "{\"schemaType\":\"JSON\",\"schema\":\"{}\"}", &fs, why,
                       sizeof(why)),
              SCHEMAREG_ANSWER_SCHEMA);
    TT_EQ_INT(fs.kind, FRAME_SCHEMA_JSON);
    frame_schema_clear(&fs);
    TT_EQ_INT(classify(CURLE_OK, 200, "{\"schemaType\":\"PROTOBUF\",\"schema\":\"syntax\"}", &fs,
                       why, sizeof(why)),
              SCHEMAREG_ANSWER_SCHEMA);
    TT_EQ_INT(fs.kind, FRAME_SCHEMA_UNUSABLE);
    TT_CHECK(strstr(fs.why, "Protobuf is not supported") != NULL);
    frame_schema_clear(&fs);
    /* An Avro schema libavro refuses: an answer, unusable for good. */
    TT_EQ_INT(classify(CURLE_OK, 200, "{\"schema\":\"{\\\"type\\\":\\\"nope\\\"}\"}", &fs, why,
                       sizeof(why)),
              SCHEMAREG_ANSWER_SCHEMA);
    TT_EQ_INT(fs.kind, FRAME_SCHEMA_UNUSABLE);
    frame_schema_clear(&fs);
    /* The registry's 404 for an unknown id. */
    TT_EQ_INT(classify(CURLE_OK, 404, "{\"error_code\":40403,\"message\":\"Schema 9 not found\"}",
                       &fs, why, sizeof(why)),
              SCHEMAREG_ANSWER_UNKNOWN_ID);
    TT_EQ_STR(fs.why, "is not in the schema registry (HTTP 404, error_code 40403)");
    frame_schema_clear(&fs);
}

static void test_failures(void)
{
    frame_schema_t fs;
    char why[200];

    TT_EQ_INT(classify(CURLE_COULDNT_CONNECT, 0, NULL, &fs, why, sizeof(why)),
              SCHEMAREG_ANSWER_OUTAGE);
    TT_EQ_INT(classify(CURLE_OPERATION_TIMEDOUT, 0, NULL, &fs, why, sizeof(why)),
              SCHEMAREG_ANSWER_OUTAGE);
    TT_EQ_INT(classify(CURLE_OK, 503, "busy", &fs, why, sizeof(why)), SCHEMAREG_ANSWER_OUTAGE);
    TT_EQ_STR(why, "HTTP 503");
    TT_EQ_INT(classify(CURLE_OK, 429, "", &fs, why, sizeof(why)), SCHEMAREG_ANSWER_OUTAGE);
    TT_EQ_INT(classify(CURLE_OK, 408, "", &fs, why, sizeof(why)), SCHEMAREG_ANSWER_OUTAGE);
    /* Set-up wrong: credentials, trust, the URL. */
    TT_EQ_INT(classify(CURLE_OK, 401, "{\"error_code\":401}", &fs, why, sizeof(why)),
              SCHEMAREG_ANSWER_SYSTEMIC);
    TT_EQ_STR(why, "HTTP 401: check basic_auth_user_info");
    TT_EQ_INT(classify(CURLE_OK, 403, "", &fs, why, sizeof(why)), SCHEMAREG_ANSWER_SYSTEMIC);
    TT_EQ_INT(classify(CURLE_PEER_FAILED_VERIFICATION, 0, NULL, &fs, why, sizeof(why)),
              SCHEMAREG_ANSWER_SYSTEMIC);
    TT_EQ_INT(classify(CURLE_OK, 404, "<html>Not Found</html>", &fs, why, sizeof(why)),
              SCHEMAREG_ANSWER_SYSTEMIC);
    TT_EQ_STR(why, "HTTP 404 without the registry's error_code 40403: check schema_registry.url");
    TT_EQ_INT(classify(CURLE_OK, 200, "<html>", &fs, why, sizeof(why)), SCHEMAREG_ANSWER_SYSTEMIC);
    TT_EQ_STR(why, "HTTP 200 without a schema (not JSON): check schema_registry.url");
    TT_EQ_INT(classify(CURLE_OK, 200, "{\"schema\":7}", &fs, why, sizeof(why)),
              SCHEMAREG_ANSWER_SYSTEMIC);
    TT_EQ_INT(classify(CURLE_OK, 302, "", &fs, why, sizeof(why)), SCHEMAREG_ANSWER_SYSTEMIC);
    /* An answer past the cap is an unusable schema, not a pause. */
    schemareg_answer_t a;
    TT_EQ_INT(schemareg_classify(CURLE_OK, 200, "{", 1, 1, &a, &fs, why, sizeof(why)), 0);
    TT_EQ_INT(a, SCHEMAREG_ANSWER_SCHEMA);
    TT_EQ_INT(fs.kind, FRAME_SCHEMA_UNUSABLE);
    frame_schema_clear(&fs);
    TT_EQ_STR(schemareg_pause_name(SCHEMAREG_PAUSE_OUTAGE), "registry_outage");
    TT_EQ_STR(schemareg_pause_name(SCHEMAREG_PAUSE_SYSTEMIC), "registry_systemic");
}

int main(void)
{
    TT_RUN(test_answers);
    TT_RUN(test_failures);
    TT_DONE();
}
