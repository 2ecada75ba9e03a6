/*
 * main.c - zim-mock-kafka: a standalone librdkafka mock Kafka cluster for tests.
 *
 * Prints the bootstrap list as the first stdout line, then "ready", then reads
 * control commands from stdin (one per line, one reply line each) until EOF,
 * "quit", SIGTERM or SIGINT, and exits 0. See tests/kafka/README.md.
 */
#include "mock_ctl.h"
#include "mock_query.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#define EXIT_USAGE 64
/* Longest control line accepted, newline excluded. */
#define LINE_MAX_LEN 4096
/* Longest reply line ("topics" and "committed" answers may be long). */
#define REPLY_MAX_LEN 65536
/* Most --topic options. */
#define MAX_TOPICS 64

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static void usage(FILE *fp)
{
    fprintf(fp,
            "Usage: zim-mock-kafka [--brokers N] [--topic NAME:PARTITIONS ...] [--debug CTX]\n"
            "       zim-mock-kafka --committed BOOTSTRAPS GROUP TOPIC\n"
            "\n"
            "Runs a librdkafka mock Kafka cluster on 127.0.0.1 (kernel-picked ports).\n"
            "Prints the bootstrap list as the first line on stdout, then \"ready\", then\n"
            "reads commands on stdin, one per line, replying \"ok ...\" or \"error ...\":\n"
            "  topic NAME PARTITIONS          create a topic\n"
            "  down BROKER_ID | up BROKER_ID  stop / resume answering (id 1..N or all)\n"
            "  rtt BROKER_ID MS               delay every response of a broker\n"
            "  errors APIKEY CODE [CODE ...]  fail the next requests of an ApiKey\n"
            "  clear APIKEY                   drop the queued errors of an ApiKey\n"
            "  leader TOPIC PARTITION BROKER_ID   move a partition leader (-1: none)\n"
            "  coordinator GROUP BROKER_ID    move a group's coordinator\n"
            "  topics                         list topics as NAME:PARTITIONS\n"
            "  committed GROUP TOPIC          list committed offsets as PARTITION:OFFSET\n"
            "  bootstrap | help | quit\n"
            "Stops on stdin EOF, quit, SIGTERM or SIGINT (exit 0).\n"
            "\n"
            "  --brokers N        number of brokers, ids 1..N (default 1, max %d)\n"
            "  --topic NAME:P     create topic NAME with P partitions (repeatable)\n"
            "  --debug CTX        librdkafka debug contexts for the cluster log (e.g. mock)\n"
            "  --committed B G T  print the offsets group G committed on topic T of the\n"
            "                     cluster at bootstrap list B, then exit (a client mode)\n"
            "  -h, --help         this help\n",
            MOCK_CTL_MAX_BROKERS);
}

/* Writes one line to stdout and flushes; -1 when stdout is gone. */
static int say(const char *line)
{
    if (fputs(line, stdout) == EOF || fputc('\n', stdout) == EOF || fflush(stdout) == EOF)
        return -1;
    return 0;
}

/* Splits "NAME:PARTITIONS" (the last ':' separates). */
static int parse_topic_arg(char *arg, char **name, int *partitions)
{
    char *colon = strrchr(arg, ':');
    long v;

    if (!colon || colon == arg ||
        mock_ctl_parse_long(colon + 1, 1, MOCK_CTL_MAX_PARTITIONS, &v) == -1)
        return -1;
    *colon = '\0';
    *name = arg;
    *partitions = (int)v;
    return 0;
}

/*
 * Reads stdin lines and applies them until EOF, quit or a signal. Signals are
 * blocked except inside pselect(), so none is lost between check and wait.
 */
static int serve(mock_ctl_t *ctl, const sigset_t *wait_mask)
{
    char *buf = malloc(LINE_MAX_LEN + 1);
    char *reply = malloc(REPLY_MAX_LEN);
    size_t len = 0;
    int discarding = 0, rc = 0;

    if (!buf || !reply) {
        fprintf(stderr, "zim-mock-kafka: out of memory\n");
        rc = 1;
        goto out;
    }
    while (!stop_signal) {
        fd_set rfds;
        ssize_t n;
        char *nl;

        FD_ZERO(&rfds);
        FD_SET(STDIN_FILENO, &rfds);
        if (pselect(STDIN_FILENO + 1, &rfds, NULL, NULL, NULL, wait_mask) == -1) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "zim-mock-kafka: stdin: %s\n", strerror(errno));
            rc = 1;
            goto out;
        }
        n = read(STDIN_FILENO, buf + len, LINE_MAX_LEN - len);
        if (n == -1 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            goto out; /* EOF (or a broken stdin): stop serving */
        len += (size_t)n;

        while ((nl = memchr(buf, '\n', len)) != NULL) {
            size_t line_len = (size_t)(nl - buf);

            *nl = '\0';
            if (discarding) {
                discarding = 0;
                if (say("error line too long") == -1)
                    goto out;
            } else if (memchr(buf, '\0', line_len)) {
                if (say("error NUL byte in line") == -1)
                    goto out;
            } else {
                mock_ctl_next_t next = mock_ctl_exec(ctl, buf, reply, REPLY_MAX_LEN);

                if (reply[0] && say(reply) == -1)
                    goto out;
                if (next == MOCK_CTL_QUIT)
                    goto out;
            }
            memmove(buf, nl + 1, len - line_len - 1);
            len -= line_len + 1;
        }
        if (len == LINE_MAX_LEN) {
            discarding = 1; /* reply once the newline arrives */
            len = 0;
        }
    }
out:
    free(buf);
    free(reply);
    return rc;
}

/* --committed mode: one query, printed on stdout. */
static int run_committed(const char *bootstraps, const char *group, const char *topic)
{
    char *out = malloc(REPLY_MAX_LEN);
    char err[512];
    int rc = 1;

    if (!out) {
        fprintf(stderr, "zim-mock-kafka: out of memory\n");
        return 1;
    }
    if (mock_query_committed(bootstraps, group, topic, out, REPLY_MAX_LEN, err, sizeof(err)) ==
        -1) {
        fprintf(stderr, "zim-mock-kafka: %s\n", err);
    } else if (say(out) == 0) {
        rc = 0;
    }
    free(out);
    return rc;
}

int main(int argc, char **argv)
{
    char *topic_names[MAX_TOPICS];
    int topic_parts[MAX_TOPICS];
    int topic_cnt = 0;
    long brokers = 1;
    const char *debug = NULL;
    mock_ctl_t *ctl = NULL;
    sigset_t block, orig;
    struct sigaction sa;
    char err[512];
    int rc = 1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--brokers") == 0 && i + 1 < argc) {
            if (mock_ctl_parse_long(argv[++i], 1, MOCK_CTL_MAX_BROKERS, &brokers) == -1) {
                fprintf(stderr, "zim-mock-kafka: --brokers %s: must be 1..%d\n", argv[i],
                        MOCK_CTL_MAX_BROKERS);
                return EXIT_USAGE;
            }
        } else if (strcmp(a, "--topic") == 0 && i + 1 < argc) {
            if (topic_cnt == MAX_TOPICS) {
                fprintf(stderr, "zim-mock-kafka: more than %d --topic options\n", MAX_TOPICS);
                return EXIT_USAGE;
            }
            if (parse_topic_arg(argv[++i], &topic_names[topic_cnt], &topic_parts[topic_cnt]) ==
                -1) {
                fprintf(stderr, "zim-mock-kafka: --topic %s: expected NAME:PARTITIONS(1..%d)\n",
                        argv[i], MOCK_CTL_MAX_PARTITIONS);
                return EXIT_USAGE;
            }
            topic_cnt++;
        } else if (strcmp(a, "--debug") == 0 && i + 1 < argc) {
            debug = argv[++i];
        } else if (strcmp(a, "--committed") == 0 && i + 3 < argc && i + 4 == argc) {
            return run_committed(argv[i + 1], argv[i + 2], argv[i + 3]);
        } else {
            fprintf(stderr, "zim-mock-kafka: %s: unknown option or missing value\n", a);
            usage(stderr);
            return EXIT_USAGE;
        }
    }

    /*
     * Block the stop signals before librdkafka starts its threads (they
     * inherit the mask), so they reach this thread only, inside pselect().
     */
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &orig);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigdelset(&orig, SIGTERM);
    sigdelset(&orig, SIGINT);

    ctl = mock_ctl_new((int)brokers, debug, err, sizeof(err));
    if (!ctl) {
        fprintf(stderr, "zim-mock-kafka: %s\n", err);
        goto out;
    }
    for (int i = 0; i < topic_cnt; i++) {
        if (mock_ctl_topic_create(ctl, topic_names[i], topic_parts[i], err, sizeof(err)) == -1) {
            fprintf(stderr, "zim-mock-kafka: --topic: %s\n", err);
            goto out;
        }
    }
    if (say(mock_ctl_bootstraps(ctl)) == -1 || say("ready") == -1) {
        rc = 0; /* nobody is listening: nothing to serve */
        goto out;
    }
    rc = serve(ctl, &orig);
out:
    mock_ctl_destroy(ctl);
    return rc;
}
