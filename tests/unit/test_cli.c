/* Command line: options, conflicts, --from-timestamp parsing, how the
 * --from-* modes set start offsets, and the consumer's rate-share total. */
#include "worker/cli.h"

#include "tests/unit/tt.h"

static int parse(cli_t *cli, char *err, size_t n, const char *a1, const char *a2, const char *a3,
                 const char *a4)
{
    char *argv[6] = {"zim-unfriend-worker", (char *)a1, (char *)a2, (char *)a3, (char *)a4, NULL};
    int argc = 1;
    while (argc < 5 && argv[argc])
        argc++;
    err[0] = '\0';
    return cli_parse(cli, argc, argv, NULL, err, n);
}

static void test_share_total(void)
{
    TT_EQ_INT(consumer_share_total(0, 12, 0, 4), 12);  /* first assignment, all known */
    TT_EQ_INT(consumer_share_total(12, 16, 0, 4), 16); /* a topic grew */
    /* Topic b (6 of 12) unknown at a rebalance: keep 12, never 6 (double spend). */
    TT_EQ_INT(consumer_share_total(12, 6, 1, 3), 12);
    TT_EQ_INT(consumer_share_total(12, 14, 1, 3), 14); /* what is known grew past it */
    /* Nothing known yet: at least what this replica owns. */
    TT_EQ_INT(consumer_share_total(0, 0, 2, 3), 3);
    TT_EQ_INT(consumer_share_total(0, 6, 1, 2), 6);
    TT_EQ_INT(consumer_share_total(5, 4, 0, 6), 6); /* stale metadata below assigned */
}

static void test_times(void)
{
    int64_t ms = 0;
    /* date -u -d 2026-11-25T18:00:00Z +%s -> 1795629600 */
    TT_EQ_INT(cli_parse_time("2026-11-25T18:00:00Z", &ms), 0);
    TT_EQ_INT(ms, 1795629600000LL);
    TT_EQ_INT(cli_parse_time("2026-11-25T18:00:00.123Z", &ms), 0);
    TT_EQ_INT(ms, 1795629600123LL);
    TT_EQ_INT(cli_parse_time("2026-11-25T18:00:00.1Z", &ms), 0);
    TT_EQ_INT(ms, 1795629600100LL);
    TT_EQ_INT(cli_parse_time("2026-11-25T18:00:00.123456789Z", &ms), 0);
    TT_EQ_INT(ms, 1795629600123LL);
    TT_EQ_INT(cli_parse_time("2026-11-25T19:30:00+01:30", &ms), 0);
    TT_EQ_INT(ms, 1795629600000LL);
    TT_EQ_INT(cli_parse_time("2026-11-25T16:00:00-02:00", &ms), 0);
    TT_EQ_INT(ms, 1795629600000LL);
    TT_EQ_INT(cli_parse_time("1795629600123", &ms), 0);
    TT_EQ_INT(ms, 1795629600123LL);
    TT_EQ_INT(cli_parse_time("0", &ms), 0);
    TT_EQ_INT(ms, 0);
    const char *bad[] = {"",
                         "yesterday",
                         "2026-11-25",
                         "2026-11-25T18:00:00",
                         "2026-11-25T18:00:00X",
                         "2026-13-01T00:00:00Z",
                         "2026-02-30T00:00:00Z",
                         "2026-11-25T24:00:00Z",
                         "2026-11-25T18:00:00.Z",
                         "2026-11-25T18:00:00+0100",
                         "-5",
                         "12345678901234567",
                         "2026-11-25T18:00:00Zjunk"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ms = 42;
        TT_EQ_INT(cli_parse_time(bad[i], &ms), -1);
        TT_EQ_INT(ms, 42); /* untouched on error */
    }
}

static void test_options(void)
{
    cli_t cli;
    char err[256];
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "w.cfg", NULL, NULL), 0);
    TT_EQ_STR(cli.config_path, "w.cfg");
    TT_EQ_INT(cli.start, CONSUMER_START_COMMITTED);
    TT_EQ_INT(cli.delete_type, -1);
    TT_EQ_INT(
        parse(&cli, err, sizeof(err), "--config=x.cfg", "--from-beginning", "--until-end", NULL),
        0);
    TT_EQ_INT(cli.start, CONSUMER_START_BEGINNING);
    TT_EQ_INT(cli.until_end, 1);
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "--from-timestamp", "1000"), 0);
    TT_EQ_INT(cli.start, CONSUMER_START_TIMESTAMP);
    TT_EQ_INT(cli.start_ts_ms, 1000);
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "--once", "a&b=c"), 0);
    TT_EQ_STR(cli.once_user, "a&b=c");
    TT_EQ_INT(parse(&cli, err, sizeof(err), "--once", "u1", "--delete-type", "one-way"), -1);
    TT_EQ_STR(err, "no configuration: use -c FILE or ZIM_UNFRIEND_CONFIG");
    char *argv[] = {"w", "--once", "u1", "--delete-type", "one-way", NULL};
    TT_EQ_INT(cli_parse(&cli, 5, argv, "/etc/zim.cfg", err, sizeof(err)), 0);
    TT_EQ_STR(cli.config_path, "/etc/zim.cfg");
    TT_EQ_INT(cli.delete_type, 1);
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "--log-level", "debug"), 0);
    TT_EQ_STR(cli.log_level, "debug");
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-h", NULL, NULL, NULL), 0);
    TT_EQ_INT(cli.help, 1);
    TT_EQ_INT(parse(&cli, err, sizeof(err), "--version", NULL, NULL, NULL), 0);
    TT_EQ_INT(cli.version, 1);
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "--dry-run", "--check-config"), -1);
}

static void test_usage_errors(void)
{
    cli_t cli;
    char err[256];
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "--from-end", "--from-beginning"), -1);
    TT_CHECK(strstr(err, "exclude each other") != NULL);
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "--from-timestamp", "soon"), -1);
    TT_CHECK(strstr(err, "--from-timestamp: \"soon\"") != NULL);
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "--delete-type", "one-way"), -1);
    TT_EQ_STR(err, "--delete-type goes with --once");
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "--delete-type", "sideways"), -1);
    TT_CHECK(strstr(err, "sideways") != NULL);
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "--log-level", "loud"), -1);
    TT_CHECK(strstr(err, "--log-level") != NULL);
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "--bogus", NULL), -1);
    TT_EQ_STR(err, "--bogus: unknown option");
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", NULL, NULL, NULL), -1);
    TT_EQ_STR(err, "-c: missing argument");
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "extra", NULL), -1);
    TT_EQ_STR(err, "extra: unexpected argument");
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "--once", "u"), 0);
    TT_EQ_INT(parse(&cli, err, sizeof(err), "--once", "u", "--dry-run", "-cx"), -1);
    TT_CHECK(strstr(err, "--once") != NULL);
    TT_EQ_INT(parse(&cli, err, sizeof(err), "-c", "x", "--check-config", "--until-end"), -1);
}

static void test_apply_start(void)
{
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(3);
    rd_kafka_topic_partition_list_add(parts, "a", 0)->offset = RD_KAFKA_OFFSET_INVALID;
    rd_kafka_topic_partition_list_add(parts, "a", 1)->offset = RD_KAFKA_OFFSET_INVALID;
    rd_kafka_topic_partition_list_add(parts, "b", 0)->offset = RD_KAFKA_OFFSET_INVALID;

    consumer_apply_start(parts, CONSUMER_START_COMMITTED, NULL);
    TT_EQ_INT(parts->elems[0].offset, RD_KAFKA_OFFSET_INVALID);
    consumer_apply_start(parts, CONSUMER_START_BEGINNING, NULL);
    for (int i = 0; i < 3; i++)
        TT_EQ_INT(parts->elems[i].offset, RD_KAFKA_OFFSET_BEGINNING);
    consumer_apply_start(parts, CONSUMER_START_END, NULL);
    for (int i = 0; i < 3; i++)
        TT_EQ_INT(parts->elems[i].offset, RD_KAFKA_OFFSET_END);

    /* offsets_for_times answers: found, none that late (-1), an error, and
     * a partition missing from the answer. */
    rd_kafka_topic_partition_list_t *times = rd_kafka_topic_partition_list_new(3);
    rd_kafka_topic_partition_list_add(times, "a", 0)->offset = 42;
    rd_kafka_topic_partition_list_add(times, "a", 1)->offset = -1;
    consumer_apply_start(parts, CONSUMER_START_TIMESTAMP, times);
    TT_EQ_INT(parts->elems[0].offset, 42);
    TT_EQ_INT(parts->elems[1].offset, RD_KAFKA_OFFSET_END);
    TT_EQ_INT(parts->elems[2].offset, RD_KAFKA_OFFSET_END);
    times->elems[0].err = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
    consumer_apply_start(parts, CONSUMER_START_TIMESTAMP, times);
    TT_EQ_INT(parts->elems[0].offset, RD_KAFKA_OFFSET_END);
    consumer_apply_start(parts, CONSUMER_START_TIMESTAMP, NULL);
    TT_EQ_INT(parts->elems[0].offset, RD_KAFKA_OFFSET_END);
    rd_kafka_topic_partition_list_destroy(times);
    rd_kafka_topic_partition_list_destroy(parts);
}

int main(void)
{
    TT_RUN(test_share_total);
    TT_RUN(test_times);
    TT_RUN(test_options);
    TT_RUN(test_usage_errors);
    TT_RUN(test_apply_start);
    TT_DONE();
}
