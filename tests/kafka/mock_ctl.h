/*
 * mock_ctl.h - a librdkafka mock cluster and its text control commands.
 *
 * mock_ctl_new() starts a mock cluster of N brokers (ids 1..N) listening on
 * kernel-picked 127.0.0.1 ports; mock_ctl_exec() applies one control command
 * line (see tests/kafka/README.md) and writes its one-line reply. The cluster
 * serves clients from librdkafka's own thread; the functions here are called
 * from one thread only.
 */
#ifndef ZU_MOCK_CTL_H
#define ZU_MOCK_CTL_H

#include <stddef.h>

typedef struct mock_ctl mock_ctl_t;

/* Largest broker count accepted. */
#define MOCK_CTL_MAX_BROKERS 32
/* Largest partition count accepted for one topic. */
#define MOCK_CTL_MAX_PARTITIONS 1000

/* What mock_ctl_exec() asks the caller to do next. */
typedef enum { MOCK_CTL_CONTINUE = 0, MOCK_CTL_QUIT = 1 } mock_ctl_next_t;

/*
 * Starts a mock cluster of broker_cnt brokers. debug is a librdkafka "debug"
 * context list for the cluster's log (NULL or "" for none). Returns the handle
 * (free with mock_ctl_destroy()) or NULL with errstr filled.
 */
mock_ctl_t *mock_ctl_new(int broker_cnt, const char *debug, char *errstr, size_t errstr_size);

/* Stops the cluster and frees everything; accepts NULL. */
void mock_ctl_destroy(mock_ctl_t *ctl);

/* The bootstrap list ("127.0.0.1:PORT,..."), owned by ctl. */
const char *mock_ctl_bootstraps(const mock_ctl_t *ctl);

/*
 * Creates topic name with partition_cnt partitions, replicated on
 * min(3, broker count) brokers. Returns 0, or -1 with errstr filled (bad name,
 * bad count, topic exists).
 */
int mock_ctl_topic_create(mock_ctl_t *ctl, const char *name, int partition_cnt, char *errstr,
                          size_t errstr_size);

/*
 * Parses and applies one command line (no newline). Writes the reply line
 * (without newline) to reply: "ok ..." or "error <reason>". An empty or blank
 * line is not a command: reply is set to "" and nothing happens. Returns
 * MOCK_CTL_QUIT after "quit", else MOCK_CTL_CONTINUE.
 */
mock_ctl_next_t mock_ctl_exec(mock_ctl_t *ctl, const char *line, char *reply, size_t reply_size);

/*
 * Parses a whole decimal integer in [min, max] (no sign games, no trailing
 * characters). Returns 0 and sets *out, or -1.
 */
int mock_ctl_parse_long(const char *s, long min, long max, long *out);

#endif /* ZU_MOCK_CTL_H */
