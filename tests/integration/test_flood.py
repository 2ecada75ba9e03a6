#!/usr/bin/env python3
"""Integration test: one user's flood.

- Backpressure is per partition (Guarantee 4): a partition flooded with
  2,000 events of one user stops fetching once its unfinished events run
  worker.max_run_ahead ahead; the users of the other partitions keep
  flowing and finish while the flood is still mostly queued.
- Shared calls (Guarantee 2, worker.coalesce): a user's waiting events with
  the same delete_type are answered by one call. A 2,000-event flood
  interleaved with other users costs a handful of calls; every event gets
  its own result, in offset order, the covered ones with covered_by; events
  of different delete types never share a call; a kill -9 in the middle of a
  flood loses nothing.

    ZU_BUILD_DIR=build python3 tests/integration/test_flood.py
"""

import collections
import contextlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zu_harness import (cluster, DLQ_TOPIC, INPUT_TOPIC, RESULT_TOPIC, TestRun,  # noqa: E402
                        Worker, assert_complete, event, produce, successes, values,
                        wait_for, write_config)
from zu_kafka import consume_all  # noqa: E402

PARTS = 4
TOPICS = {INPUT_TOPIC: PARTS, RESULT_TOPIC: 1, DLQ_TOPIC: 1}
FLOOD = 2000


@contextlib.contextmanager
def flood_setup(**worker):
    """The harness's cluster and a worker config; yields (mk, sb, cfg)."""
    with cluster(topics=TOPICS, sandbox_kw={"qps": 0}) as (tmp, mk, sb):
        w = {"max_in_flight": 4}
        w.update(worker)
        qps = w.pop("qps", 20.0)
        cfg = write_config(tmp, mk.bootstrap, sb.endpoint, zim={"rate_limit_qps": qps},
                           worker=w, kafka={"consumer": ["session.timeout.ms=6000",
                                                         "heartbeat.interval.ms=500",
                                                         "fetch.wait.max.ms=50"]})
        yield mk, sb, cfg


def flood_msgs(n, user, prefix, partition, others_every=0, delete_types=None):
    """n events of user to one partition; with others_every, every k-th
    event is another user's instead."""
    msgs = []
    for i in range(n):
        uid = user
        if others_every and i % others_every == others_every - 1:
            uid = "%s-other-%02d" % (prefix, i // others_every % 20)
        fields = {"event_id": "%s-%04d" % (prefix, i)}
        if delete_types:
            fields["delete_type"] = delete_types[i % len(delete_types)]
        msgs.append({"key": uid.encode(), "value": event(user_id=uid, **fields),
                     "partition": partition})
    return msgs


def positions(mk):
    return {__import__("json").loads(m["value"])["event_id"]: (m["partition"], m["offset"])
            for m in consume_all(mk.bootstrap, INPUT_TOPIC)}


def ends_of(where):
    ends = {p: -1 for p in range(PARTS)}  # -1: nothing to commit
    for p, o in where.values():
        ends[p] = max(ends[p], o + 1)
    return ends


def test_other_partitions_flow():
    """2,000 events of one user on partition 0, then 40 users on the others:
    the 40 finish while most of the flood is still to do."""
    with flood_setup(coalesce=False, qps=100.0) as (mk, sb, cfg):
        produce(mk.bootstrap, INPUT_TOPIC, flood_msgs(FLOOD, "flood", "f", 0))
        others = []
        for i in range(40):
            uid = "o-%02d" % i
            others.append({"key": uid.encode(), "value": event(user_id=uid, event_id="o-%02d" % i),
                           "partition": 1 + i % (PARTS - 1)})
        produce(mk.bootstrap, INPUT_TOPIC, others)
        with Worker(cfg).start() as w:
            t0 = time.monotonic()

            def others_done():
                vals = values(mk.bootstrap)
                ids = {v["event_id"] for v in vals}
                return all("o-%02d" % i in ids for i in range(40)) and vals
            vals = wait_for(others_done, timeout=120, interval=0.3)
            t_others = time.monotonic() - t0
            assert vals, w.dump()
            flood_done = sum(1 for v in vals if v["user_id"] == "flood")
            # Structural, not a time limit: the other users did not wait for
            # the flood to drain.
            assert flood_done < FLOOD // 2, "%d flood events done before the others" % flood_done
            assert wait_for(lambda: len(values(mk.bootstrap)) >= FLOOD + 40, timeout=240), \
                w.dump()
            t_all = time.monotonic() - t0
            assert w.terminate() == 0
        where = positions(mk)
        assert_complete(mk, where, ends_of(where))
        print("  40 users of other partitions done after %.1f s, with %d of %d flood events done; "
              "all done after %.1f s" % (t_others, flood_done, FLOOD, t_all), flush=True)


def check_order_and_cover(vals, user):
    """The user's results in offset order; a covered one names an earlier
    event of the user with the same request id. Returns the user's results."""
    mine = [v for v in vals if v["user_id"] == user]
    offs = [v["source"]["offset"] for v in mine]
    assert offs == sorted(offs), "results of %s out of offset order" % user
    by_id = {v["event_id"]: v for v in mine}
    for v in mine:
        if "covered_by" in v:
            head = by_id[v["covered_by"]]
            assert "covered_by" not in head, (v, head)
            assert head["source"]["offset"] < v["source"]["offset"], (v, head)
            assert (head["request_id"], head["code"], head["attempts"], head["delete_type"]) == \
                (v["request_id"], v["code"], v["attempts"], v["delete_type"]), (v, head)
    return mine


def test_shared_calls_flood():
    """A flood of 2,000 events of one user interleaved with 20 other users
    costs a handful of calls; every event gets its own result, in order."""
    with flood_setup(coalesce=True) as (mk, sb, cfg):
        produce(mk.bootstrap, INPUT_TOPIC, flood_msgs(FLOOD, "fl", "c", 0, others_every=100))
        with Worker(cfg).start() as w:
            assert wait_for(lambda: len(values(mk.bootstrap)) >= FLOOD, timeout=180), w.dump()
            coalesced = w.metric("coalesced_events_total")
            assert w.terminate() == 0
        where = positions(mk)
        vals, succ = assert_complete(mk, where, ends_of(where))
        assert all(c == 1 for c in succ.values()), "repeated results"
        mine = check_order_and_cover(vals, "fl")
        calls = collections.Counter(r["user_id"] for r in sb.requests())
        covered = sum(1 for v in mine if "covered_by" in v)
        assert len(mine) == FLOOD - FLOOD // 100
        assert calls["fl"] + covered == len(mine), (calls["fl"], covered, len(mine))
        assert calls["fl"] <= 20, "%d calls for one user's flood" % calls["fl"]
        assert coalesced == sum(1 for v in vals if "covered_by" in v), coalesced
        print("  %d events of one user: %d calls (%.3f per event); %d calls for all %d events"
              % (len(mine), calls["fl"], calls["fl"] / len(mine), sum(calls.values()), FLOOD),
              flush=True)


def test_mixed_delete_types():
    """A user's two-way and one-way events never share a call."""
    pattern = ["two-way", "two-way", "one-way", "one-way", "one-way", "two-way", "one-way"]
    with flood_setup(coalesce=True, max_in_flight=1) as (mk, sb, cfg):
        # The latency makes the later events wait behind the first call.
        sb.fault("latency:500", count=1)
        produce(mk.bootstrap, INPUT_TOPIC, flood_msgs(70, "mx", "m", 0, delete_types=pattern))
        with Worker(cfg).start() as w:
            assert wait_for(lambda: len(values(mk.bootstrap)) >= 70, timeout=90), w.dump()
            assert w.terminate() == 0
        vals = values(mk.bootstrap)
        mine = check_order_and_cover(vals, "mx")
        want = {"two-way": 0, "one-way": 1}
        for v in mine:
            i = int(v["event_id"].split("-")[1])
            assert v["delete_type"] == want[pattern[i % len(pattern)]], v
        # Each call's DeleteType matches the events it answered.
        reqs = sb.requests()
        heads = [v for v in mine if "covered_by" not in v]
        assert len(reqs) == len(heads), (len(reqs), len(heads))
        assert [r["delete_type"] for r in reqs] == [v["delete_type"] for v in heads]
        assert len(heads) < len(mine), "nothing was shared"
        print("  70 events in delete-type runs: %d calls, none across types" % len(heads),
              flush=True)


def test_kill9_mid_flood():
    """kill -9 while a shared-call flood is half done loses nothing."""
    with flood_setup(coalesce=True) as (mk, sb, cfg):
        produce(mk.bootstrap, INPUT_TOPIC, flood_msgs(FLOOD, "kf", "k", 0, others_every=50))
        with Worker(cfg).start() as w:
            assert wait_for(lambda: len(values(mk.bootstrap)) >= FLOOD // 3, timeout=120), w.dump()
            w.kill9()
        first = len(values(mk.bootstrap))
        with Worker(cfg).start() as w:
            assert wait_for(lambda: len(successes(values(mk.bootstrap))) >= FLOOD, timeout=180), \
                w.dump()
            assert w.terminate() == 0
        where = positions(mk)
        vals, succ = assert_complete(mk, where, ends_of(where))
        repeats = sum(c - 1 for c in succ.values())
        print("  kill -9 after %d results: nothing lost, %d events repeated, %d calls in all"
              % (first, repeats, len(sb.requests())), flush=True)


if __name__ == "__main__":
    run = TestRun()
    run.case(test_mixed_delete_types)
    run.case(test_shared_calls_flood)
    run.case(test_other_partitions_flow)
    run.case(test_kill9_mid_flood)
    run.finish()
