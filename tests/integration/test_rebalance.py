#!/usr/bin/env python3
"""test_rebalance.py - partitions moving between replicas (SPEC.md Guarantees
1 and 2 across a rebalance), with the real worker binary against
zim-mock-kafka and zim-sandbox (driven with kcat).

  handover       worker A works through a backlog with calls in flight
                 (400 ms sandbox latency); worker B joins the group and
                 takes some partitions. A finishes the events it started on
                 them, publishes and commits, and only then gives them up:
                 no user ever has two calls at once (across both workers),
                 each user's calls follow offset order, and every event is
                 called and answered exactly once.
  leave          B leaves (SIGTERM) while it has calls in flight: A takes its
                 partitions back with the same guarantees.
  grace_expired  calls slower (6 s) than the revoke grace (shutdown_grace_ms,
                 1 s): A gives the partitions up when the grace expires, says
                 so, and B repeats what was unfinished; nothing is lost and
                 the repeats stay within what A had in flight.
  during_pause   a revoke during a systemic pause (wrong secret) gives the
                 partitions up at once (nothing can finish); no failure
                 result; once the secret is right every event succeeds.

Env: ZU_BUILD_DIR (binaries). python3 stdlib only.
"""

import collections
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from zu_harness import (DLQ_TOPIC, INPUT_TOPIC, RESULT_TOPIC, Sandbox, TestRun,  # noqa: E402
                        Worker, assert_complete, backlog, committed, successes, values,
                        wait_for, write_config)
from zu_kafka import MockKafka  # noqa: E402

PARTS = 4
MAX_IN_FLIGHT = 16
TOPICS = {INPUT_TOPIC: PARTS, RESULT_TOPIC: 1, DLQ_TOPIC: 1}
REVOKING = "partition revoking: finishing its events in flight"
GAVE_UP = "revoked partitions given up with events unfinished; their next owner repeats them"


def config(tmp, mk, sb, qps, grace_ms=10000):
    return write_config(tmp, mk.bootstrap, sb.endpoint,
                        zim={"rate_limit_qps": qps, "rate_limit_share": "none",
                             "request_timeout_ms": 20000},
                        worker={"max_in_flight": MAX_IN_FLIGHT, "shutdown_grace_ms": grace_ms})


def check_run(where, ends, mk, sb, workers):
    """Every event exactly one call and one success result; per user, calls
    never overlap and follow offset order; offsets committed to the ends."""
    vals, succ = assert_complete(mk, where, ends)
    reqs = sb.requests()
    twice = sorted(e for e, k in succ.items() if k != 1)
    assert not twice, "events with more than one result: %s" % twice[:10]
    assert len(reqs) == len(where), "%d calls for %d events" % (len(reqs), len(where))
    by_rid = {v["request_id"]: v for v in vals}
    calls = collections.defaultdict(list)
    for r in reqs:
        assert r["code"] == 0 and r["request_id"] in by_rid, r
        v = by_rid[r["request_id"]]
        calls[r["user_id"]].append((r["ts_start_us"], r["ts_end_us"], where[v["event_id"]]))
    for user, cs in calls.items():
        cs.sort()
        for (s0, e0, pos0), (s1, e1, pos1) in zip(cs, cs[1:]):
            assert s1 >= e0, "user %s: a call started %.3f s before the previous one ended" % (
                user, (e0 - s1) / 1e6)
            assert pos1 > pos0, "user %s: event at %s called after %s" % (user, pos1, pos0)
    for w in workers:
        msgs = [r.get("msg") for r in w.logs()]
        assert GAVE_UP not in msgs, "a revoke gave up unfinished events:\n%s" % w.dump()
    return len(calls)


def test_handover():
    n, users = 300, 30  # at 20 calls/s: B joins (~3 s on the mock) well before the end
    with tempfile.TemporaryDirectory(prefix="zu-rebalance-") as tmp, \
            MockKafka().start(topics=TOPICS) as mk, Sandbox(qps=0, latency_ms=400).start() as sb:
        where, ends = backlog(mk.bootstrap, n, users, "h", PARTS)
        cfg = config(tmp, mk, sb, 20.0)
        with Worker(cfg).start() as a:
            assert wait_for(lambda: len(values(mk.bootstrap)) >= 30 or None, timeout=60), \
                a.dump()
            with Worker(cfg).start() as b:
                got = wait_for(lambda: len(successes(values(mk.bootstrap))) >= n or None,
                               timeout=120)
                assert got, "%d of %d done; A:\n%s\nB:\n%s" % (
                    len(successes(values(mk.bootstrap))), n, a.dump(), b.dump())
                taken = [r for r in b.logs() if r.get("msg") == "partition assigned"]
                assert taken, "B got no partition; B:\n%s" % b.dump()
                used = check_run(where, ends, mk, sb, (a, b))
                revoking = [r for r in a.logs() if r.get("msg") == REVOKING]
                assert revoking, "A did not drain the revoked partitions:\n%s" % a.dump()
                assert b.terminate() == 0, b.dump()
            assert a.terminate() == 0, a.dump()
        print("  A handed %d partitions to B with calls in flight; %d users, %d calls, "
              "none overlapping, none repeated" % (len(revoking), used, n), flush=True)


def test_leave():
    n, users = 240, 24
    with tempfile.TemporaryDirectory(prefix="zu-rebalance-") as tmp, \
            MockKafka().start(topics=TOPICS) as mk, Sandbox(qps=0, latency_ms=400).start() as sb:
        cfg = config(tmp, mk, sb, 40.0)
        with Worker(cfg).start() as a, Worker(cfg).start() as b:
            # Both members hold partitions before the backlog arrives.
            assert wait_for(lambda: (any(r.get("msg") == "partition assigned" for r in a.logs())
                                     and any(r.get("msg") == "partition assigned"
                                             for r in b.logs())) or None, timeout=60), \
                "A:\n%s\nB:\n%s" % (a.dump(), b.dump())
            where, ends = backlog(mk.bootstrap, n, users, "l", PARTS)
            assert wait_for(lambda: len(values(mk.bootstrap)) >= 40 or None, timeout=60)
            t0 = time.monotonic()
            assert b.terminate() == 0, b.dump()
            took = time.monotonic() - t0
            got = wait_for(lambda: len(successes(values(mk.bootstrap))) >= n or None,
                           timeout=120)
            assert got, "%d of %d done; A:\n%s" % (len(successes(values(mk.bootstrap))), n,
                                                   a.dump())
            used = check_run(where, ends, mk, sb, (a, b))
            assert a.terminate() == 0, a.dump()
        assert committed(mk) == ends
        print("  B left in %.2f s with calls in flight; A took over: %d users, %d calls, "
              "none overlapping, none repeated" % (took, used, n), flush=True)


def test_grace_expired():
    n, users = 60, 30
    with tempfile.TemporaryDirectory(prefix="zu-rebalance-") as tmp, \
            MockKafka().start(topics=TOPICS) as mk, Sandbox(qps=0).start() as sb:
        where, ends = backlog(mk.bootstrap, n, users, "g", PARTS)
        cfg = config(tmp, mk, sb, 20.0, grace_ms=1000)
        with Worker(cfg).start() as a:
            assert wait_for(lambda: len(values(mk.bootstrap)) >= 10 or None, timeout=60), \
                a.dump()
            sb.fault("latency:6000", count=100000)  # every later call outlasts the grace
            with Worker(cfg).start() as b:
                assert wait_for(lambda: any(r.get("msg") == GAVE_UP for r in a.logs()) or None,
                                timeout=60), "A never gave up:\n%s" % a.dump()
                got = wait_for(lambda: set(successes(values(mk.bootstrap))) >= set(where) or None,
                               timeout=120)
                assert got, "A:\n%s\nB:\n%s" % (a.dump(), b.dump())
                vals, succ = assert_complete(mk, where, ends)
                assert b.terminate() == 0, b.dump()
            assert a.terminate() == 0, a.dump()
    rec = [r for r in a.logs() if r.get("msg") == GAVE_UP][0]
    assert rec["level"] == "warn" and rec.get("reason") == "revoke grace expired", rec
    repeated = sorted(e for e, k in succ.items() if k > 1)
    assert len(repeated) <= MAX_IN_FLIGHT, "%d events repeated" % len(repeated)
    print("  grace expired with 6 s calls in flight: A gave the partitions up; %d events "
          "repeated by B (at most %d in flight), none lost" % (len(repeated), MAX_IN_FLIGHT),
          flush=True)


def test_during_pause():
    n, users, wrong = 40, 20, "wrong-secret-rb"
    # 500 ms answers: about 10 calls start (on every partition) before the first
    # systemic answer; they stay unfinished, parked, through the pause.
    with tempfile.TemporaryDirectory(prefix="zu-rebalance-") as tmp, \
            MockKafka().start(topics=TOPICS) as mk, Sandbox(qps=0, latency_ms=500).start() as sb:
        where, ends = backlog(mk.bootstrap, n, users, "p", PARTS)
        cfg = config(tmp, mk, sb, 20.0)
        with Worker(cfg, secret=wrong).start() as a:
            assert wait_for(lambda: a.metric("systemic_pause") == 1 or None, timeout=60), a.dump()
            t0 = time.monotonic()
            with Worker(cfg, secret=wrong).start() as b:
                recs = wait_for(lambda: [r for r in a.logs() if r.get("msg") == GAVE_UP],
                                timeout=60)
                assert recs and recs[0].get("reason") == "systemic pause", a.dump()
                took = time.monotonic() - t0
                assert wait_for(lambda: any(r.get("msg") == "partition assigned"
                                            for r in b.logs()) or None, timeout=60), b.dump()
                assert values(mk.bootstrap) == [], "results during the pause"
                sb.set_secret(wrong)
                got = wait_for(lambda: set(successes(values(mk.bootstrap))) >= set(where) or None,
                               timeout=120)
                assert got, "A:\n%s\nB:\n%s" % (a.dump(), b.dump())
                assert_complete(mk, where, ends)
                assert b.terminate() == 0, b.dump()
            assert a.terminate() == 0, a.dump()
    print("  revoke during a systemic pause: given up at once (%.1f s after B started, "
          "grace 10 s); all %d events succeeded after the fix" % (took, n), flush=True)


def main():
    t = TestRun()
    only = set(sys.argv[1:])
    for fn in (test_handover, test_leave, test_grace_expired, test_during_pause):
        if not only or fn.__name__ in only:
            t.case(fn)
    t.finish()


if __name__ == "__main__":
    main()
