/* outage.h - recognises "ZIM answers nobody" from the outcomes of calls.
 *
 * The scheduler reports every finished call: an answer that shows ZIM
 * serves requests (success, rejection, rate limit, clock skew) clears the
 * detector; a retryable failure (transport error, time-out, HTTP 5xx/429,
 * a body without Code, a busy code) is noted with the user it was for.
 * An outage is declared when such failures came from OUTAGE_DISTINCT_USERS
 * distinct users with no answer in between, or from at least two distinct
 * users over window_us with no answer in between. (With two distinct
 * failing users the scheduler does not let either use its last attempt.)
 * One user failing alone
 * never makes an outage: that user's event ends in retries_exhausted while
 * other users' calls are answered.
 *
 * Pure: time is a parameter (monotonic microseconds), so tests move the
 * clock by hand. Single-threaded. */
#ifndef ZU_OUTAGE_H
#define ZU_OUTAGE_H

#include <stdint.h>

/* Distinct failing users that make an outage at once. Three: with two, two
 * users' own faults in a quiet backlog would pause the worker; with more, a
 * worker with few users in flight would burn attempts before pausing. */
#define OUTAGE_DISTINCT_USERS 3

typedef struct outage {
    int64_t window_us;
    uint64_t users[OUTAGE_DISTINCT_USERS]; /* distinct failing users since the last answer */
    int nusers;
    int64_t since_us; /* first failure since the last answer; -1 none */
} outage_t;

/* Initialises the detector; window_us is the time rule's length. */
void outage_init(outage_t *o, int64_t window_us);
/* A call was answered: ZIM serves requests. */
void outage_answer(outage_t *o);
/* A call failed retryably for user (any stable id of the user). Returns 1
 * when this failure makes an outage, 0 otherwise. */
int outage_failure(outage_t *o, uint64_t user, int64_t now_us);
/* Distinct users with retryable failures since the last answer (at most
 * OUTAGE_DISTINCT_USERS). */
int outage_users(const outage_t *o);

#endif
