/* Offset watermarks: out-of-order completions, gaps, generations, the stop
 * cut and replay ends. */
#include "worker/offsets.h"

#include <stdlib.h>

#include "tests/unit/tt.h"

#include "tests/unit/fail_malloc.h"

static void test_in_order(void)
{
    offsets_t *o = offsets_new(1);
    int64_t wm = -7;
    TT_EQ_INT(offsets_assign(o, 0, 3, 1), 0);
    TT_EQ_INT(offsets_watermark(o, 0, 3), -1);
    for (int64_t off = 10; off < 15; off++)
        TT_EQ_INT(offsets_received(o, 0, 3, 1, off, 0), 0);
    TT_EQ_INT(offsets_pending(o, 0, 3), 5);
    TT_EQ_INT(offsets_done(o, 0, 3, 1, 10, 0, &wm), 1);
    TT_EQ_INT(wm, 11);
    TT_EQ_INT(offsets_done(o, 0, 3, 1, 11, 0, &wm), 1);
    TT_EQ_INT(wm, 12);
    TT_EQ_INT(offsets_pending(o, 0, 3), 3);
    offsets_destroy(o);
}

static void test_out_of_order_and_gaps(void)
{
    offsets_t *o = offsets_new(2);
    int64_t wm = -1;
    offsets_assign(o, 1, 0, 5);
    /* Offsets with gaps, as after compaction. */
    int64_t offs[] = {3, 7, 8, 20, 21};
    for (size_t i = 0; i < 5; i++)
        TT_EQ_INT(offsets_received(o, 1, 0, 5, offs[i], 0), 0);
    TT_EQ_INT(offsets_done(o, 1, 0, 5, 8, 0, &wm), 0);
    TT_EQ_INT(offsets_done(o, 1, 0, 5, 21, 0, &wm), 0);
    TT_EQ_INT(offsets_watermark(o, 1, 0), -1);
    TT_EQ_INT(offsets_done(o, 1, 0, 5, 3, 0, &wm), 1);
    TT_EQ_INT(wm, 4); /* 7 is not done: commit 4, not 9 */
    TT_EQ_INT(offsets_done(o, 1, 0, 5, 7, 0, &wm), 1);
    TT_EQ_INT(wm, 9); /* 7 and 8 done */
    TT_EQ_INT(offsets_done(o, 1, 0, 5, 20, 0, &wm), 1);
    TT_EQ_INT(wm, 22); /* 20 and 21 */
    TT_EQ_INT(offsets_pending_total(o), 0);
    /* Done twice or never received: refused. */
    TT_EQ_INT(offsets_done(o, 1, 0, 5, 20, 0, &wm), -1);
    TT_EQ_INT(offsets_done(o, 1, 0, 5, 99, 0, &wm), -1);
    offsets_destroy(o);
}

static void test_refusals(void)
{
    offsets_t *o = offsets_new(1);
    TT_EQ_INT(offsets_received(o, 0, 0, 1, 1, 0), -1); /* not assigned */
    TT_EQ_INT(offsets_assign(o, 1, 0, 1), -1);         /* bad topic index */
    TT_EQ_INT(offsets_assign(o, 0, -1, 1), -1);        /* bad partition */
    offsets_assign(o, 0, 0, 1);
    TT_EQ_INT(offsets_received(o, 0, 0, 2, 1, 0), -1); /* wrong generation */
    TT_EQ_INT(offsets_received(o, 0, 0, 1, 5, 0), 0);
    TT_EQ_INT(offsets_received(o, 0, 0, 1, 5, 0), -1); /* not increasing */
    TT_EQ_INT(offsets_received(o, 0, 0, 1, 4, 0), -1);
    TT_EQ_INT(offsets_received(o, 0, 0, 1, -3, 0), -1);
    offsets_destroy(o);
}

static void test_generations(void)
{
    offsets_t *o = offsets_new(1);
    int64_t wm;
    offsets_assign(o, 0, 2, 1);
    offsets_received(o, 0, 2, 1, 100, 0);
    TT_EQ_INT(offsets_gen(o, 0, 2), 1);
    TT_EQ_INT(offsets_pending_total(o), 1);
    offsets_revoke(o, 0, 2);
    TT_EQ_INT(offsets_pending_total(o), 0); /* a revoked partition holds nothing */
    TT_EQ_INT(offsets_gen(o, 0, 2), 0);
    TT_CHECK(!offsets_is_current(o, 0, 2, 1));
    /* A late completion from the revoked assignment is dropped. */
    TT_EQ_INT(offsets_done(o, 0, 2, 1, 100, 0, &wm), -1);
    offsets_assign(o, 0, 2, 2);
    TT_CHECK(offsets_is_current(o, 0, 2, 2));
    TT_EQ_INT(offsets_done(o, 0, 2, 1, 100, 0, &wm), -1);
    TT_EQ_INT(offsets_pending(o, 0, 2), 0);
    TT_EQ_INT(offsets_received(o, 0, 2, 2, 100, 0), 0); /* redelivered after reassign */
    offsets_received(o, 0, 2, 2, 101, 0);
    offsets_assign(o, 0, 2, 3); /* assigned again while holding 2: they are forgotten */
    TT_EQ_INT(offsets_pending_total(o), 0);
    TT_EQ_INT(offsets_received(o, 0, 2, 3, 100, 0), 0);
    TT_EQ_INT(offsets_done(o, 0, 2, 3, 100, 0, &wm), 1);
    TT_EQ_INT(wm, 101);
    TT_EQ_INT(offsets_pending_total(o), 0);
    offsets_destroy(o);
}

static void test_ring_growth(void)
{
    offsets_t *o = offsets_new(1);
    int64_t wm = 0;
    offsets_assign(o, 0, 0, 1);
    /* Interleave receive and done so the ring wraps and grows. */
    for (int64_t i = 0; i < 1000; i++) {
        TT_EQ_INT(offsets_received(o, 0, 0, 1, 2 * i, 0), 0);
        if (i % 3 == 2) {
            offsets_done(o, 0, 0, 1, 2 * (i - 2), 0, &wm);
            offsets_done(o, 0, 0, 1, 2 * (i - 1), 0, &wm);
        }
    }
    for (int64_t i = 999; i >= 0; i--)
        offsets_done(o, 0, 0, 1, 2 * i, 0, &wm);
    TT_EQ_INT(wm, 1999);
    TT_EQ_INT(offsets_pending(o, 0, 0), 0);
    offsets_destroy(o);
}

/* Partitions 0 (generation 1) and 1 (generation 2) of topic 0, offsets 0..9
 * received on each. */
static offsets_t *two_partitions(void)
{
    offsets_t *o = offsets_new(1);
    offsets_assign(o, 0, 0, 1);
    offsets_assign(o, 0, 1, 2);
    for (int64_t i = 0; i < 10; i++) {
        offsets_received(o, 0, 0, 1, i, 0);
        offsets_received(o, 0, 1, 2, i, 0);
    }
    return o;
}

static void test_stop_cut(void)
{
    offsets_t *o = two_partitions();
    int64_t wm;
    TT_CHECK(offsets_may_start(o, 0, 0, 9)); /* no stop yet */
    offsets_done(o, 0, 0, 1, 0, 0, &wm);
    offsets_touch(o, 0, 0, 4); /* a call for offset 4 started */
    offsets_stop_begin(o);
    TT_CHECK(offsets_may_start(o, 0, 0, 3));
    TT_CHECK(offsets_may_start(o, 0, 0, 4));
    TT_CHECK(!offsets_may_start(o, 0, 0, 5));
    TT_CHECK(!offsets_may_start(o, 0, 1, 0)); /* partition 1: nothing started */
    TT_CHECK(!offsets_stop_drained(o));
    for (int64_t i = 1; i <= 4; i++)
        offsets_done(o, 0, 0, 1, i, 0, &wm);
    TT_CHECK(offsets_stop_drained(o));
    TT_EQ_INT(offsets_watermark(o, 0, 0), 5);
    offsets_destroy(o);
}

/* A revoke drain: one partition finishes what it started, takes nothing new;
 * the others go on; a later stop keeps the drain's cut. */
static void test_revoke_drain(void)
{
    offsets_t *o = two_partitions();
    int64_t wm;
    TT_CHECK(offsets_drained(o, 0, 2)); /* never assigned */
    offsets_done(o, 0, 0, 1, 0, 0, &wm);
    offsets_touch(o, 0, 0, 3); /* calls for offsets 1..3 started */
    offsets_drain_begin(o, 0, 0);
    TT_CHECK(offsets_may_start(o, 0, 0, 3));
    TT_CHECK(!offsets_may_start(o, 0, 0, 4));
    TT_CHECK(offsets_may_start(o, 0, 1, 9));            /* partition 1 is not draining */
    TT_EQ_INT(offsets_received(o, 0, 0, 1, 10, 0), -1); /* nothing new */
    TT_EQ_INT(offsets_pending(o, 0, 0), 9);
    TT_CHECK(!offsets_drained(o, 0, 0));
    offsets_done(o, 0, 0, 1, 3, 0, &wm);
    offsets_done(o, 0, 0, 1, 1, 0, &wm);
    TT_CHECK(!offsets_drained(o, 0, 0));
    offsets_stop_begin(o); /* a stop during the drain keeps its cut */
    TT_CHECK(!offsets_may_start(o, 0, 0, 4));
    offsets_done(o, 0, 0, 1, 2, 0, &wm);
    TT_CHECK(offsets_drained(o, 0, 0));
    TT_EQ_INT(offsets_watermark(o, 0, 0), 4);
    offsets_revoke(o, 0, 0);
    TT_CHECK(offsets_drained(o, 0, 0)); /* given up */
    TT_CHECK(!offsets_is_current(o, 0, 0, 1));
    offsets_assign(o, 0, 0, 3); /* assigned again: a fresh start, no drain */
    TT_EQ_INT(offsets_received(o, 0, 0, 3, 4, 0), 0);
    offsets_destroy(o);
}

static void test_reached_end(void)
{
    offsets_t *o = offsets_new(1);
    int64_t wm;
    TT_CHECK(!offsets_reached_end(o)); /* no end noted */
    offsets_assign(o, 0, 0, 1);
    offsets_assign(o, 0, 1, 2);
    offsets_set_end(o, 0, 0, 3);
    offsets_set_end(o, 0, 1, 0); /* empty partition */
    TT_CHECK(!offsets_reached_end(o));
    offsets_set_eof(o, 0, 1, 0);
    for (int64_t i = 0; i < 3; i++)
        offsets_received(o, 0, 0, 1, i, 0);
    offsets_done(o, 0, 0, 1, 0, 0, &wm);
    offsets_done(o, 0, 0, 1, 2, 0, &wm);
    TT_CHECK(!offsets_reached_end(o));
    offsets_done(o, 0, 0, 1, 1, 0, &wm);
    TT_CHECK(offsets_reached_end(o));
    offsets_destroy(o);
}

/* A replay's end holds for the whole job: a partition revoked and given
 * back (a lost session) keeps it; one whose end could not be read ends at
 * end-of-partition with nothing pending, not after its first event. */
static void test_end_kept_and_unknown(void)
{
    offsets_t *o = offsets_new(1);
    int64_t wm;
    offsets_assign(o, 0, 0, 1);
    TT_EQ_INT(offsets_end(o, 0, 0), -1);
    TT_EQ_INT(offsets_end(o, 0, 9), -1); /* never assigned */
    offsets_set_end(o, 0, 0, 10);
    offsets_revoke(o, 0, 0);
    TT_CHECK(!offsets_reached_end(o)); /* nothing assigned */
    offsets_assign(o, 0, 0, 2);
    TT_EQ_INT(offsets_end(o, 0, 0), 10);
    for (int64_t i = 0; i < 10; i++)
        offsets_received(o, 0, 0, 2, i, 0);
    for (int64_t i = 0; i < 9; i++)
        offsets_done(o, 0, 0, 2, i, 0, &wm);
    TT_CHECK(!offsets_reached_end(o));
    offsets_done(o, 0, 0, 2, 9, 0, &wm);
    TT_CHECK(offsets_reached_end(o));

    offsets_assign(o, 0, 1, 3);
    offsets_set_end(o, 0, 1, OFFSETS_END_AT_EOF);
    offsets_received(o, 0, 1, 3, 0, 0);
    offsets_received(o, 0, 1, 3, 1, 0);
    offsets_done(o, 0, 1, 3, 0, 0, &wm);
    TT_CHECK(!offsets_reached_end(o)); /* before: an end of 0 ended it here */
    offsets_set_eof(o, 0, 1, 2);
    TT_EQ_INT(offsets_end(o, 0, 1), 2); /* where it first ended */
    TT_CHECK(!offsets_reached_end(o));  /* offset 1 is pending */
    /* Live events after that end are not the replay's: they need not
     * finish first. */
    offsets_received(o, 0, 1, 3, 2, 0);
    offsets_received(o, 0, 1, 3, 3, 0);
    offsets_set_eof(o, 0, 1, 4);
    TT_EQ_INT(offsets_end(o, 0, 1), 2);
    offsets_done(o, 0, 1, 3, 1, 0, &wm);
    TT_CHECK(offsets_reached_end(o));
    offsets_destroy(o);
}

static void test_end_already_committed(void)
{
    /* Committed position already at the end: the end-of-partition event
     * alone finishes the partition. */
    offsets_t *o = offsets_new(1);
    offsets_assign(o, 0, 0, 1);
    offsets_set_end(o, 0, 0, 50);
    TT_CHECK(!offsets_reached_end(o));
    offsets_set_eof(o, 0, 0, 49);
    TT_CHECK(!offsets_reached_end(o));
    offsets_set_eof(o, 0, 0, 50);
    TT_CHECK(offsets_reached_end(o));
    offsets_destroy(o);
}

static void test_position(void)
{
    /* The consumer lag's position: unknown, then the end-of-partition
     * position (started at the end), then the oldest pending offset, then
     * the watermark once everything is done. */
    offsets_t *o = offsets_new(1);
    int64_t wm;
    TT_EQ_INT(offsets_position(o, 0, 0), -1); /* never assigned */
    offsets_assign(o, 0, 0, 1);
    TT_EQ_INT(offsets_position(o, 0, 0), -1);
    offsets_set_eof(o, 0, 0, 40);
    TT_EQ_INT(offsets_position(o, 0, 0), 40);
    offsets_received(o, 0, 0, 1, 40, 0);
    offsets_received(o, 0, 0, 1, 42, 0);
    TT_EQ_INT(offsets_position(o, 0, 0), 40);
    offsets_done(o, 0, 0, 1, 42, 0, &wm);
    TT_EQ_INT(offsets_position(o, 0, 0), 40); /* 40 still pending */
    offsets_done(o, 0, 0, 1, 40, 0, &wm);
    TT_EQ_INT(offsets_position(o, 0, 0), 43);
    offsets_set_eof(o, 0, 0, 45); /* e.g. a transaction marker after 42 */
    TT_EQ_INT(offsets_position(o, 0, 0), 45);
    offsets_revoke(o, 0, 0);
    TT_EQ_INT(offsets_position(o, 0, 0), -1);
    TT_EQ_INT(offsets_position(o, 3, 0), -1); /* bad index */
    offsets_destroy(o);
}

/* Bytes held per partition and in all, the lead over the oldest
 * unfinished event, and the backpressure flag, forgotten on reassignment. */
static void test_bytes_and_lead(void)
{
    offsets_t *o = offsets_new(1);
    int64_t wm = -1;
    offsets_assign(o, 0, 0, 1);
    offsets_assign(o, 0, 1, 2);
    TT_EQ_INT(offsets_lead(o, 0, 0), 0);
    offsets_received(o, 0, 0, 1, 10, 100);
    offsets_received(o, 0, 0, 1, 12, 50);
    offsets_received(o, 0, 0, 1, 20, 7);
    offsets_received(o, 0, 1, 2, 5, 1000);
    TT_EQ_INT(offsets_bytes(o, 0, 0), 157);
    TT_EQ_INT(offsets_bytes_total(o), 1157);
    TT_EQ_INT(offsets_lead(o, 0, 0), 11); /* 10..20 */
    TT_EQ_INT(offsets_done(o, 0, 0, 1, 12, 50, &wm), 0);
    TT_EQ_INT(offsets_done(o, 0, 0, 1, 12, 50, &wm), -1); /* done once only */
    TT_EQ_INT(offsets_bytes(o, 0, 0), 107);
    TT_EQ_INT(offsets_lead(o, 0, 0), 11); /* 10 still unfinished */
    TT_EQ_INT(offsets_done(o, 0, 0, 1, 10, 100, &wm), 1);
    TT_EQ_INT(offsets_lead(o, 0, 0), 1);
    TT_EQ_INT(offsets_bytes_total(o), 1007);
    offsets_set_flow_paused(o, 0, 1, 1);
    TT_EQ_INT(offsets_flow_paused(o, 0, 1), 1);
    offsets_revoke(o, 0, 1);
    TT_EQ_INT(offsets_bytes_total(o), 7);
    TT_EQ_INT(offsets_flow_paused(o, 0, 1), 0);
    offsets_assign(o, 0, 0, 3); /* reassigned: nothing held */
    TT_EQ_INT(offsets_bytes_total(o), 0);
    TT_EQ_INT(offsets_bytes(o, 0, 0), 0);
    offsets_destroy(o);
}

/* What a stop or a drain waits for: offsets within the fixed cut of a
 * partition assigned under that generation. */
static void test_needed(void)
{
    offsets_t *o = offsets_new(1);
    TT_EQ_INT(offsets_assign(o, 0, 0, 1), 0);
    TT_EQ_INT(offsets_assign(o, 0, 1, 1), 0);
    for (int64_t off = 0; off < 10; off++) {
        TT_EQ_INT(offsets_received(o, 0, 0, 1, off, 0), 0);
        TT_EQ_INT(offsets_received(o, 0, 1, 1, off, 0), 0);
    }
    offsets_touch(o, 0, 0, 5);
    offsets_touch(o, 0, 1, 3);
    TT_EQ_INT(offsets_needed(o, 0, 0, 1, 2), 0); /* no cut yet */
    offsets_drain_begin(o, 0, 1);
    TT_EQ_INT(offsets_needed(o, 0, 1, 1, 3), 1);
    TT_EQ_INT(offsets_needed(o, 0, 1, 1, 4), 0);
    TT_EQ_INT(offsets_needed(o, 0, 0, 1, 2), 0); /* partition 0 not draining */
    offsets_stop_begin(o);
    TT_EQ_INT(offsets_needed(o, 0, 0, 1, 5), 1);
    TT_EQ_INT(offsets_needed(o, 0, 0, 1, 6), 0);
    TT_EQ_INT(offsets_needed(o, 0, 0, 2, 5), 0); /* another generation */
    offsets_destroy(o);
}

/* An event dropped untracked (memory ran out) holds the partition's commits
 * back at its offset, whatever finishes after it, until the assignment
 * ends; a new assignment starts clean. */
static void test_hold_back(void)
{
    offsets_t *o = offsets_new(1);
    int64_t wm = -1;
    TT_EQ_INT(offsets_assign(o, 0, 0, 1), 0);
    /* The ring's first allocation fails: offset 5 is not tracked. */
    fail_mallocs = 1;
    TT_EQ_INT(offsets_received(o, 0, 0, 1, 5, 0), -2);
    TT_EQ_INT(fail_mallocs, 0);
    for (int64_t off = 6; off < 9; off++)
        TT_EQ_INT(offsets_received(o, 0, 0, 1, off, 0), 0);
    TT_EQ_INT(offsets_received(o, 0, 0, 1, 5, 0), -1); /* not new any more */
    for (int64_t off = 6; off < 9; off++)
        TT_CHECK(offsets_done(o, 0, 0, 1, off, 0, &wm) >= 0);
    TT_EQ_INT(wm, 5); /* not 9: 5 is processed again after a restart */
    TT_EQ_INT(offsets_watermark(o, 0, 0), 5);
    /* Held back by the caller (intake dropped 10 untracked); a stale
     * generation's call changes nothing. */
    offsets_hold_back(o, 0, 0, 2, 1);
    TT_EQ_INT(offsets_watermark(o, 0, 0), 5);
    TT_EQ_INT(offsets_assign(o, 0, 0, 3), 0);
    for (int64_t off = 9; off < 12; off++)
        TT_EQ_INT(offsets_received(o, 0, 0, 3, off, 0), 0);
    offsets_hold_back(o, 0, 0, 3, 10);
    for (int64_t off = 9; off < 12; off++)
        TT_CHECK(offsets_done(o, 0, 0, 3, off, 0, &wm) >= 0);
    TT_EQ_INT(wm, 10);
    TT_EQ_INT(offsets_watermark(o, 0, 0), 10);
    /* A later, lower hold-back lowers it; a higher one does not raise it. */
    offsets_hold_back(o, 0, 0, 3, 12);
    TT_EQ_INT(offsets_watermark(o, 0, 0), 10);
    TT_EQ_INT(offsets_assign(o, 0, 0, 4), 0);
    TT_EQ_INT(offsets_received(o, 0, 0, 4, 12, 0), 0);
    TT_EQ_INT(offsets_done(o, 0, 0, 4, 12, 0, &wm), 1);
    TT_EQ_INT(wm, 13); /* the new assignment starts clean */
    offsets_destroy(o);
}

int main(void)
{
    TT_RUN(test_bytes_and_lead);
    TT_RUN(test_in_order);
    TT_RUN(test_out_of_order_and_gaps);
    TT_RUN(test_refusals);
    TT_RUN(test_generations);
    TT_RUN(test_ring_growth);
    TT_RUN(test_stop_cut);
    TT_RUN(test_revoke_drain);
    TT_RUN(test_reached_end);
    TT_RUN(test_end_already_committed);
    TT_RUN(test_end_kept_and_unknown);
    TT_RUN(test_position);
    offsets_destroy(NULL);
    TT_RUN(test_hold_back);
    TT_RUN(test_needed);
    TT_DONE();
}
