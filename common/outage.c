/* outage.c - "ZIM answers nobody" detector (see outage.h). */
#include "common/outage.h"

void outage_init(outage_t *o, int64_t window_us)
{
    o->window_us = window_us;
    outage_answer(o);
}

void outage_answer(outage_t *o)
{
    o->nusers = 0;
    o->since_us = -1;
}

int outage_failure(outage_t *o, uint64_t user, int64_t now_us)
{
    int known = 0;
    if (o->since_us < 0)
        o->since_us = now_us;
    for (int i = 0; i < o->nusers; i++)
        known |= o->users[i] == user;
    if (!known && o->nusers < OUTAGE_DISTINCT_USERS)
        o->users[o->nusers++] = user;
    if (o->nusers >= OUTAGE_DISTINCT_USERS)
        return 1;
    return o->nusers >= 2 && now_us - o->since_us >= o->window_us;
}

int outage_users(const outage_t *o)
{
    return o->nusers;
}
