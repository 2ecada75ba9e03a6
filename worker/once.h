/* once.h - `--once USER_ID`: one DeleteAllFriends call, no Kafka.
 *
 * Runs the same scheduler as the worker (rate limiter, retries with
 * backoff), except that a systemic answer ends the call as a failure with
 * error_class "rejected" instead of pausing. Prints the result JSON (the
 * result-event format, source fields null) on stdout. It runs on the same
 * event core as the worker (common/evloop); signal_fd is the signalfd of
 * SIGTERM/SIGINT. */
#ifndef ZU_ONCE_H
#define ZU_ONCE_H

#include "common/config.h"
#include "common/log.h"

/* Returns the exit code: 0 success, 1 otherwise (also when stopped by a
 * signal first). */
int once_run(const config_t *cfg, log_t *log, const char *user_id, int delete_type, int signal_fd);

#endif
