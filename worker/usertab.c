/* usertab.c - the scheduler's users by id (see usertab.h). */
#include "worker/usertab.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/siphash.h"

#define USERTAB_FIRST_BUCKETS 1024

struct usertab {
    user_t **buckets;
    size_t nbuckets, nusers;
    unsigned char key[SIPHASH_KEY_LEN];
};

usertab_t *usertab_new(char *errstr, size_t errstr_size)
{
    usertab_t *t = calloc(1, sizeof(*t));

    if (!t || !(t->buckets = calloc(USERTAB_FIRST_BUCKETS, sizeof(*t->buckets)))) {
        snprintf(errstr, errstr_size, "user table: out of memory");
        goto fail;
    }
    t->nbuckets = USERTAB_FIRST_BUCKETS;
    if (siphash_random_key(t->key) != 0) {
        snprintf(errstr, errstr_size, "user table: no random key: %s", strerror(errno));
        goto fail;
    }
    return t;
fail:
    usertab_destroy(t);
    return NULL;
}

void usertab_destroy(usertab_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; t->buckets && i < t->nbuckets; i++) {
        user_t *u = t->buckets[i], *un;
        for (; u; u = un) {
            job_t *j = u->head, *jn;
            un = u->hnext;
            for (; j; j = jn) {
                jn = j->next;
                job_free(j);
            }
            free(u->id);
            free(u);
        }
    }
    free(t->buckets);
    free(t);
}

static user_t **slot(usertab_t *t, const char *id, uint64_t h)
{
    user_t **pp = &t->buckets[h & (t->nbuckets - 1)];
    while (*pp && ((*pp)->hash != h || strcmp((*pp)->id, id) != 0))
        pp = &(*pp)->hnext;
    return pp;
}

/* Doubles the buckets. 0 ok, -1 no memory (the table is as it was). */
static int rehash(usertab_t *t)
{
    size_t n = t->nbuckets * 2;
    user_t **b = calloc(n, sizeof(*b));
    if (!b)
        return -1;
    for (size_t i = 0; i < t->nbuckets; i++) {
        user_t *u = t->buckets[i], *next;
        for (; u; u = next) {
            size_t k = u->hash & (n - 1);
            next = u->hnext;
            u->hnext = b[k];
            b[k] = u;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
    return 0;
}

user_t *usertab_get(usertab_t *t, const char *id, int *created)
{
    uint64_t h;
    user_t **pp, *u;

    *created = 0;
    h = siphash24(t->key, id, strlen(id));
    pp = slot(t, id, h);
    if (*pp)
        return *pp;
    if (t->nusers >= t->nbuckets) {
        if (rehash(t) != 0)
            return NULL;
        pp = slot(t, id, h);
    }
    u = calloc(1, sizeof(*u));
    if (!u || !(u->id = strdup(id))) {
        free(u);
        return NULL;
    }
    u->hash = h;
    u->state = USER_READY;
    *pp = u;
    t->nusers++;
    *created = 1;
    return u;
}

void usertab_remove(usertab_t *t, user_t *u)
{
    user_t **pp = slot(t, u->id, u->hash);
    if (*pp == u)
        *pp = u->hnext;
    t->nusers--;
    free(u->id);
    free(u);
}

size_t usertab_count(const usertab_t *t)
{
    return t->nusers;
}

void usertab_each(usertab_t *t, void (*fn)(user_t *u, void *ctx), void *ctx)
{
    for (size_t b = 0; b < t->nbuckets; b++)
        for (user_t *u = t->buckets[b]; u; u = u->hnext)
            fn(u, ctx);
}
