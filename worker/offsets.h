/* offsets.h - per-partition commit watermarks for at-least-once delivery.
 *
 * For every assigned input partition the tracker keeps a FIFO of the
 * offsets received, in order, each with a done flag. An offset becomes done
 * when its event is fully handled (its result, and DLQ copy if any,
 * acknowledged by Kafka, or it was ignored). The watermark - the offset to
 * commit - is one past the last offset of the longest done prefix: offsets
 * have gaps (compaction, transactions), so it is never offset+1 arithmetic
 * on the newest message.
 *
 * Each assignment of a partition gets a generation; completions carrying an
 * older generation (from before a revoke) are dropped.
 *
 * A stop cut supports the clean stop: offsets_stop_begin() fixes, for each
 * partition, the highest offset already started or done; the worker then
 * finishes exactly the events up to the cut, so that nothing it published
 * lies beyond the committed watermark.
 *
 * A revoke drain does the same for one partition: offsets_drain_begin()
 * fixes its cut, no new offset is received for it, and once
 * offsets_drained() the partition can be given up with nothing it started
 * left unfinished (so the next owner repeats nothing and never calls for a
 * user while this worker still does).
 *
 * Single-threaded; one writer: the consumer owns it (intake reaches it
 * through the consumer). */
#ifndef ZU_OFFSETS_H
#define ZU_OFFSETS_H

#include <stddef.h>
#include <stdint.h>

typedef struct offsets offsets_t;

/* topic_cnt input topics, addressed by index. NULL on allocation failure. */
offsets_t *offsets_new(size_t topic_cnt);
void offsets_destroy(offsets_t *o);

/* Starts tracking (tidx, partition) under generation gen, forgetting any
 * earlier state of it. 0 ok, -1 on allocation failure or bad index. */
int offsets_assign(offsets_t *o, size_t tidx, int32_t partition, uint64_t gen);
/* Stops tracking; later completions for it are dropped. */
void offsets_revoke(offsets_t *o, size_t tidx, int32_t partition);
/* 1 when the partition is assigned under generation gen. */
int offsets_is_current(const offsets_t *o, size_t tidx, int32_t partition, uint64_t gen);

/* Records a received offset (strictly increasing per partition) whose
 * event holds bytes until it is done. 0 ok, -1 when not current or not
 * increasing, -2 when allocation failed (the offset is then held back). */
int offsets_received(offsets_t *o, size_t tidx, int32_t partition, uint64_t gen, int64_t offset,
                     size_t bytes);
/* An event of the assignment was dropped without being tracked (memory ran
 * out): nothing at or past its offset is committed while the assignment
 * lasts (watermarks stop there), so it is processed again after a restart
 * even when later offsets finish. No-op when gen is not current. */
void offsets_hold_back(offsets_t *o, size_t tidx, int32_t partition, uint64_t gen, int64_t offset);

/* Marks a received offset done and releases the bytes it held. Returns 1
 * when the watermark advanced (*watermark is then the offset to store), 0
 * when it did not, -1 when the generation is stale or the offset was never
 * received or is done already. */
int offsets_done(offsets_t *o, size_t tidx, int32_t partition, uint64_t gen, int64_t offset,
                 size_t bytes, int64_t *watermark);

/* The offset to commit for the partition, -1 when nothing is done yet. */
int64_t offsets_watermark(const offsets_t *o, size_t tidx, int32_t partition);
/* Received but not yet done offsets: of one partition / of all. */
size_t offsets_pending(const offsets_t *o, size_t tidx, int32_t partition);
size_t offsets_pending_total(const offsets_t *o);
/* Bytes held for received, unfinished events: of one partition / of all. */
size_t offsets_bytes(const offsets_t *o, size_t tidx, int32_t partition);
size_t offsets_bytes_total(const offsets_t *o);
/* How far the partition runs ahead of its oldest unfinished event: offsets
 * from it to the newest received, inclusive; 0 when nothing is pending. */
int64_t offsets_lead(const offsets_t *o, size_t tidx, int32_t partition);
/* Backpressure state of a partition (kept here so that it is forgotten with
 * the assignment). */
void offsets_set_flow_paused(offsets_t *o, size_t tidx, int32_t partition, int paused);
int offsets_flow_paused(const offsets_t *o, size_t tidx, int32_t partition);

/* The generation the partition is assigned under; 0 when not assigned. */
uint64_t offsets_gen(const offsets_t *o, size_t tidx, int32_t partition);

/* Notes that work on this offset began (a call is about to start, or a
 * result is about to be published): the clean stop must finish it. */
void offsets_touch(offsets_t *o, size_t tidx, int32_t partition, int64_t offset);
/* Clean stop: fixes each assigned partition's cut at its highest touched or
 * done offset. Offsets beyond the cut are not started any more. */
void offsets_stop_begin(offsets_t *o);
/* 1 when the offset may still be started: no stop, or offset <= cut. */
int offsets_may_start(const offsets_t *o, size_t tidx, int32_t partition, int64_t offset);
/* 1 when a stop or drain cut is fixed for the partition (assigned under gen)
 * and the offset lies within it: the stop or drain waits for it. */
int offsets_needed(const offsets_t *o, size_t tidx, int32_t partition, uint64_t gen,
                   int64_t offset);
/* 1 when every offset up to each cut is done. */
int offsets_stop_drained(const offsets_t *o);
/* Revoke drain of one partition: fixes its cut at its highest touched or
 * done offset, like the stop cut; it receives no new offset. */
void offsets_drain_begin(offsets_t *o, size_t tidx, int32_t partition);
/* 1 when every offset up to the partition's cut is done (or it is not assigned). */
int offsets_drained(const offsets_t *o, size_t tidx, int32_t partition);

/* Replay end (--until-end): the partition is finished once its watermark or
 * its consumed position reaches end. OFFSETS_END_AT_EOF (the end offset
 * could not be read) becomes the position of the first end-of-partition
 * event. An end holds for the whole job: a revoke and a later assignment
 * keep it. */
#define OFFSETS_END_AT_EOF INT64_MAX
void offsets_set_end(offsets_t *o, size_t tidx, int32_t partition, int64_t end);
/* The partition's replay end; -1 when none was set. */
int64_t offsets_end(const offsets_t *o, size_t tidx, int32_t partition);
/* Notes the consumer reached end-of-partition at position. */
void offsets_set_eof(offsets_t *o, size_t tidx, int32_t partition, int64_t position);
/* 1 when at least one assigned partition has an end and every such
 * partition has nothing pending and a watermark (or an end-of-partition
 * position) >= its end. */
int offsets_reached_end(const offsets_t *o);

/* Where the worker stands on the partition, for the consumer lag: the
 * oldest pending offset, else the higher of the watermark and the last
 * end-of-partition position; -1 when none is known (or not assigned). */
int64_t offsets_position(const offsets_t *o, size_t tidx, int32_t partition);

#endif
