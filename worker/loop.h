/* loop.h - the worker's wiring around its one event loop (common/evloop).
 *
 * One thread owns the pipeline. Every module's descriptors and timers are
 * on the loop: curl's sockets and timeout (the ZIM client), librdkafka's
 * consumer and producer queues (rd_kafka_queue_io_event_enable into a
 * waker), the observability endpoint's epoll fd, and the signalfd. After
 * anything happened, one turn takes messages (intake), serves delivery
 * reports, starts what the scheduler may start, ends revoke drains and
 * checks the stop; the loop then sleeps until the next descriptor is ready
 * or the next time a module asked for (scheduler, endpoint, publisher
 * retries, revoke and stop deadlines). There is no fixed tick.
 *
 * loop_run() returns the process exit code: 0 after a clean stop (signal,
 * or --until-end reached), 1 after a fatal error (logged); *exit_now is set
 * when the Kafka consumer was left running (its group coordinator did not
 * answer the close, or it never had an assignment: consumer_destroy) and
 * the process must end with _exit.
 * main.c decides to exit; nothing here does. */
#ifndef ZU_LOOP_H
#define ZU_LOOP_H

#include "common/config.h"
#include "common/log.h"
#include "worker/consumer.h"

typedef struct loop_opts {
    const config_t *cfg; /* borrowed */
    log_t *log;          /* borrowed */
    int dry_run;
    int until_end;
    int redrive; /* read kafka.result_topic and process failures again */
    consumer_start_t start;
    int64_t start_ts_ms;
    int signal_fd; /* signalfd of SIGTERM and SIGINT (blocked in every thread) */
} loop_opts_t;

/* Runs the worker until stopped. Returns 0 or 1 (see above). */
int loop_run(const loop_opts_t *opts, int *exit_now);

#endif
