/* The scheduler's user table: one record per id, growth, removal, and
 * allocation failures that change nothing. */
#include "worker/usertab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/tt.h"

/* The test binary is linked with --wrap=calloc: when fail_calloc_at is N
 * > 0, the code under test's N-th calloc from now fails. */
static int fail_calloc_at;
void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size)
{
    if (fail_calloc_at > 0 && --fail_calloc_at == 0)
        return NULL;
    return __real_calloc(n, size);
}

#define USERS 5000

static void count_one(user_t *u, void *ctx)
{
    (void)u;
    (*(size_t *)ctx)++;
}

static void test_get_grow_remove(void)
{
    char err[256], id[32];
    usertab_t *t = usertab_new(err, sizeof(err));
    user_t *first = NULL;
    int created = 0;
    size_t seen = 0;

    TT_CHECK(t != NULL);
    if (!t)
        return;
    /* Past the first 1024 buckets: the table grows and finds them all. */
    for (int i = 0; i < USERS; i++) {
        snprintf(id, sizeof(id), "user-%d", i);
        user_t *u = usertab_get(t, id, &created);
        TT_CHECK(u != NULL && created == 1);
        if (u) {
            TT_EQ_STR(u->id, id);
            TT_EQ_INT(u->state, USER_READY);
            TT_CHECK(u->head == NULL && u->tail == NULL);
        }
        if (i == 0)
            first = u;
    }
    TT_EQ_INT(usertab_count(t), USERS);
    for (int i = 0; i < USERS; i++) {
        snprintf(id, sizeof(id), "user-%d", i);
        user_t *u = usertab_get(t, id, &created);
        TT_CHECK(u != NULL && created == 0);
        if (u)
            TT_EQ_STR(u->id, id);
    }
    TT_CHECK(usertab_get(t, "user-0", &created) == first);
    TT_EQ_INT(usertab_count(t), USERS);
    usertab_each(t, count_one, &seen);
    TT_EQ_INT(seen, USERS);
    /* Removing every other user leaves the rest findable. */
    for (int i = 0; i < USERS; i += 2) {
        snprintf(id, sizeof(id), "user-%d", i);
        usertab_remove(t, usertab_get(t, id, &created));
    }
    TT_EQ_INT(usertab_count(t), USERS / 2);
    for (int i = 1; i < USERS; i += 2) {
        snprintf(id, sizeof(id), "user-%d", i);
        TT_CHECK(usertab_get(t, id, &created) != NULL && created == 0);
    }
    /* A removed id comes back as a new user. */
    TT_CHECK(usertab_get(t, "user-0", &created) != NULL && created == 1);
    usertab_destroy(t);
    usertab_destroy(NULL);
}

/* Destroying the table frees the jobs still queued (ASan and valgrind
 * would report them otherwise). */
static void test_destroy_frees_queued_jobs(void)
{
    char err[256];
    usertab_t *t = usertab_new(err, sizeof(err));
    int created;

    TT_CHECK(t != NULL);
    if (!t)
        return;
    user_t *u = usertab_get(t, "a", &created);
    TT_CHECK(u != NULL);
    if (u) {
        job_t *j1 = job_new(), *j2 = job_new();
        j1->next = j2;
        u->head = j1;
        u->tail = j2;
    }
    usertab_destroy(t);
}

static void test_out_of_memory(void)
{
    char err[256] = "", id[32];
    usertab_t *t;
    int created = 7;

    fail_calloc_at = 1; /* the table */
    TT_CHECK(usertab_new(err, sizeof(err)) == NULL);
    TT_EQ_STR(err, "user table: out of memory");
    fail_calloc_at = 2; /* its buckets */
    err[0] = '\0';
    TT_CHECK(usertab_new(err, sizeof(err)) == NULL);
    TT_EQ_STR(err, "user table: out of memory");
    t = usertab_new(err, sizeof(err));
    TT_CHECK(t != NULL);
    if (!t)
        return;
    /* A new user with no memory: NULL, nothing added. */
    fail_calloc_at = 1;
    TT_CHECK(usertab_get(t, "x", &created) == NULL);
    TT_EQ_INT(created, 0);
    TT_EQ_INT(usertab_count(t), 0);
    /* A full table that cannot grow refuses a new user but keeps finding
     * the ones it has. */
    for (int i = 0; i < 1024; i++) {
        snprintf(id, sizeof(id), "u%d", i);
        TT_CHECK(usertab_get(t, id, &created) != NULL);
    }
    fail_calloc_at = 1; /* the bigger buckets */
    TT_CHECK(usertab_get(t, "one-more", &created) == NULL);
    TT_EQ_INT(usertab_count(t), 1024);
    TT_CHECK(usertab_get(t, "u1023", &created) != NULL && created == 0);
    TT_CHECK(usertab_get(t, "one-more", &created) != NULL && created == 1);
    usertab_destroy(t);
}

int main(void)
{
    TT_RUN(test_get_grow_remove);
    TT_RUN(test_destroy_frees_queued_jobs);
    TT_RUN(test_out_of_memory);
    TT_DONE();
}
