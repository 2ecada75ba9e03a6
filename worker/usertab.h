/* usertab.h - the scheduler's users: one record per user id with queued
 * work, found by id through a hash table keyed with a random SipHash key
 * (ids arrive from outside; they cannot be chosen to collide).
 *
 * A user record is the scheduler's: it sets state, the queue and the list
 * link; the table sets id, hash and hnext. usertab_get makes a record for a
 * new id and usertab_remove frees it (not its jobs: the caller empties the
 * queue first). usertab_destroy frees every record and every job still
 * queued. Single-threaded. */
#ifndef ZU_USERTAB_H
#define ZU_USERTAB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "worker/job.h"

typedef enum { USER_READY, USER_RUNNING, USER_WAITING, USER_PARKED, USER_HELD } user_state_t;

typedef struct user {
    char *id;               /* owned by the table */
    job_t *head, *tail;     /* FIFO; head is the only job ever started */
    user_state_t state;     /* USER_READY when made */
    uint64_t hash;          /* siphash24 of id under the table's key */
    struct user *hnext;     /* hash chain (the table's) */
    TAILQ_ENTRY(user) link; /* the scheduler's due / ready / held / parked list */
} user_t;

typedef struct usertab usertab_t;

/* An empty table; NULL with errstr when out of memory or no random key.
 * The caller owns it: usertab_destroy(). */
usertab_t *usertab_new(char *errstr, size_t errstr_size);
/* Frees every user and every job still in a user's queue. NULL: no-op. */
void usertab_destroy(usertab_t *t);

/* The user with this id; made (empty queue, USER_READY, *created = 1) when
 * there is none. NULL when out of memory (nothing changed). */
user_t *usertab_get(usertab_t *t, const char *id, int *created);
/* Takes u out of the table and frees it; its queue must be empty. */
void usertab_remove(usertab_t *t, user_t *u);
/* Users in the table. */
size_t usertab_count(const usertab_t *t);
/* Calls fn for every user, in no set order; fn must not add or remove. */
void usertab_each(usertab_t *t, void (*fn)(user_t *u, void *ctx), void *ctx);

#endif
