/* loop.h - the worker's single event loop.
 *
 * One thread owns the pipeline: it polls the consumer, drives the ZIM
 * client's curl multi handle, serves the producer's delivery reports, fires
 * the scheduler's timers and answers the observability endpoint. One wait
 * (curl_multi_poll with extra fds) covers Kafka (queue io-events), HTTP, the
 * endpoint and the wake fd that the signal handler writes to.
 *
 * loop_run() returns the process exit code: 0 after a clean stop (signal,
 * or --until-end reached), 1 after a fatal error (logged). main.c decides to
 * exit; nothing here does. */
#ifndef ZU_LOOP_H
#define ZU_LOOP_H

#include <signal.h>

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
    volatile sig_atomic_t *stop; /* set by the signal handler */
    int wake_fd;                 /* read end of the non-blocking wake pipe */
    int wake_wfd;                /* its write end (given to librdkafka) */
} loop_opts_t;

/* Runs the worker until stopped. Returns 0 or 1 (see above). */
int loop_run(const loop_opts_t *opts);

#endif
