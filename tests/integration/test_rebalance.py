#!/usr/bin/env python3
"""test_rebalance.py - partitions moving between replicas (docs/contract.md, Guarantees
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
  commit_refused the cluster refuses A's commit on revoke: A warns, naming
                 the offsets it could not commit; B starts from the older
                 commit and repeats events, each once and only below those
                 offsets; still no two calls at once for a user, none lost.
  grace_expired  calls slower (6 s) than the revoke grace (shutdown_grace_ms,
                 1 s): A gives the partitions up when the grace expires, says
                 so, and B repeats what was unfinished; nothing is lost and
                 the repeats stay within what A had in flight.
  given_back     B joins and takes partitions from A, then leaves and A gets
                 them back: A fetches them again (a revoked partition was
                 paused for its drain, and librdkafka keeps a partition's
                 pause across unassign) and a backlog produced afterwards is
                 done by A, every event once.
  during_pause   a revoke during a systemic pause (wrong secret) gives the
                 partitions up at once (nothing can finish); no failure
                 result; once the secret is right every event succeeds.

librdkafka's mock coordinator (2.0.2) ends a sync as soon as the leader's
SyncGroup arrives; a follower whose SyncGroup comes later is told
REBALANCE_IN_PROGRESS and rejoins, and the group refuses commits for the
next session.timeout.ms - 1 s. (A real broker gives the late follower its
assignment and takes commits while a rebalance is being prepared.) When that
race meets a handover, A's commit on revoke is refused, and check_run holds
the repeats to the refused offsets, as commit_refused does on purpose.

Env: ZU_BUILD_DIR (binaries). python3 stdlib only.
"""

import collections
import contextlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from zu_harness import (cluster, DLQ_TOPIC, INPUT_TOPIC, RESULT_TOPIC, TestRun,  # noqa: E402
                        Worker, assert_complete, backlog, committed, successes, values,
                        wait_for, write_config)

PARTS = 4
MAX_IN_FLIGHT = 16
OFFSET_COMMIT = 8  # Kafka ApiKey
TOPICS = {INPUT_TOPIC: PARTS, RESULT_TOPIC: 1, DLQ_TOPIC: 1}
REVOKING = "partition revoking: finishing its events in flight"
GAVE_UP = "revoked partitions given up with events unfinished; their next owner repeats them"
COMMIT_REFUSED = "commit on revoke failed; the next owner may repeat events"


def config(tmp, mk, sb, qps, grace_ms=10000):
    return write_config(tmp, mk.bootstrap, sb.endpoint,
                        zim={"rate_limit_qps": qps, "rate_limit_share": "none",
                             "request_timeout_ms": 20000},
                        worker={"max_in_flight": MAX_IN_FLIGHT, "shutdown_grace_ms": grace_ms})


def refused_commits(workers):
    """{partition: offset} that a worker could not commit when it gave
    partitions up (one warning per partition names it)."""
    out = {}
    for w in workers:
        for r in w.logs():
            if r.get("msg") == COMMIT_REFUSED:
                assert r["level"] == "warn" and r.get("error") and r["topic"] == INPUT_TOPIC, r
                part, off = int(r["partition"]), int(r["offset"])
                out[part] = max(out.get(part, -1), off)
    return out


def below_refused(where, refused, event_id):
    part, off = where[event_id]
    return part in refused and off < refused[part]


def check_run(where, ends, mk, sb, workers):
    """Every event answered, nothing lost, offsets committed to the ends; per
    user, calls never overlap and follow offset order.

    Exactly one call and one result per event, unless the cluster refused a
    commit on giving partitions up (the mock coordinator does that when it
    re-balances again at once; see the top of this file). Then the next
    owner starts from an older commit: it repeats events, each once, each
    after the other worker's success, and only below the offsets the warning
    names; offset order then holds within each worker.
    Returns (users, events repeated, refused {partition: offset})."""
    vals, succ = assert_complete(mk, where, ends)
    reqs = sb.requests()
    refused = refused_commits(workers)
    twice = sorted(e for e, k in succ.items() if k != 1)
    if not refused:
        assert not twice, "events with more than one result: %s" % twice[:10]
    by_worker = collections.defaultdict(list)
    for v in vals:
        by_worker[v["event_id"]].append(v["worker"])
    for e in twice:
        ws = by_worker[e]
        assert len(ws) == 2 and ws[0] != ws[1], "event %s: results from %s" % (e, ws)
        assert below_refused(where, refused, e), "event %s at %s repeated; refused commits %s" % (
            e, where[e], refused)
    assert len(reqs) == len(where) + len(twice), "%d calls for %d events, %d repeated" % (
        len(reqs), len(where), len(twice))
    by_rid = {v["request_id"]: v for v in vals}
    calls = collections.defaultdict(list)
    for r in reqs:
        assert r["code"] == 0 and r["request_id"] in by_rid, r
        v = by_rid[r["request_id"]]
        calls[r["user_id"]].append((r["ts_start_us"], r["ts_end_us"], where[v["event_id"]],
                                    v["worker"]))
    for user, cs in calls.items():
        cs.sort()
        for (s0, e0, _, _), (s1, _, _, _) in zip(cs, cs[1:]):
            assert s1 >= e0, "user %s: a call started %.3f s before the previous one ended" % (
                user, (e0 - s1) / 1e6)
        for w in set(c[3] for c in cs) if refused else (None,):
            mine = [c[2] for c in cs if w is None or c[3] == w]
            assert mine == sorted(set(mine)), "user %s: called out of offset order: %s" % (
                user, mine)
    for w in workers:
        msgs = [r.get("msg") for r in w.logs()]
        assert GAVE_UP not in msgs, "a revoke gave up unfinished events:\n%s" % w.dump()
    return len(calls), len(twice), refused


def repeats_note(repeated, refused):
    if not refused:
        return "none repeated"
    return ("the cluster refused a commit on revoke (%s); %d events repeated, all below it" % (
        ", ".join("p%d@%d" % kv for kv in sorted(refused.items())), repeated))


@contextlib.contextmanager
def busy_worker(n, users, prefix):
    """The mock cluster, the sandbox (400 ms answers), a backlog of n events and
    worker A, which has published 30 results when this yields
    (mk, sb, where, ends, cfg, a). A must stop cleanly afterwards."""
    with cluster(topics=TOPICS, sandbox_kw={"qps": 0, "latency_ms": 400}) as (tmp, mk, sb):
        where, ends = backlog(mk.bootstrap, n, users, prefix, PARTS)
        cfg = config(tmp, mk, sb, 20.0)
        with Worker(cfg).start() as a:
            assert wait_for(lambda: len(values(mk.bootstrap)) >= 30 or None, timeout=60), \
                a.dump()
            yield mk, sb, where, ends, cfg, a
            assert a.terminate() == 0, a.dump()


def test_handover():
    n, users = 300, 30  # at 20 calls/s: B joins (~3 s on the mock) well before the end
    with busy_worker(n, users, "h") as (mk, sb, where, ends, cfg, a):
        with Worker(cfg).start() as b:
            got = wait_for(lambda: len(successes(values(mk.bootstrap))) >= n or None,
                           timeout=120)
            assert got, "%d of %d done; A:\n%s\nB:\n%s" % (
                len(successes(values(mk.bootstrap))), n, a.dump(), b.dump())
            taken = [r for r in b.logs() if r.get("msg") == "partition assigned"]
            assert taken, "B got no partition; B:\n%s" % b.dump()
            used, repeated, refused = check_run(where, ends, mk, sb, (a, b))
            revoking = [r for r in a.logs() if r.get("msg") == REVOKING]
            assert revoking, "A did not drain the revoked partitions:\n%s" % a.dump()
            assert b.terminate() == 0, b.dump()
    print("  A handed %d partitions to B with calls in flight; %d users, %d events, "
          "no calls overlapping; %s" % (len(revoking), used, n, repeats_note(repeated, refused)),
          flush=True)


def test_leave():
    n, users = 240, 24
    with cluster(topics=TOPICS, sandbox_kw={"qps": 0, "latency_ms": 400}) as (tmp, mk, sb):
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
            used, repeated, refused = check_run(where, ends, mk, sb, (a, b))
            assert a.terminate() == 0, a.dump()
        assert committed(mk) == ends
        print("  B left in %.2f s with calls in flight; A took over: %d users, %d events, "
              "no calls overlapping; %s" % (took, used, n, repeats_note(repeated, refused)),
              flush=True)


def test_given_back():
    n, users = 80, 16
    with cluster(topics=TOPICS, sandbox_kw={"qps": 0}) as (tmp, mk, sb):
        cfg = config(tmp, mk, sb, 40.0)

        def assigned(w):
            return sum(1 for r in w.logs() if r.get("msg") == "partition assigned")

        with Worker(cfg).start() as a:
            assert wait_for(lambda: assigned(a) >= PARTS or None, timeout=60), a.dump()
            with Worker(cfg).start() as b:
                assert wait_for(lambda: (assigned(b) > 0 and any(
                    r.get("msg") == "partition revoked" for r in a.logs())) or None,
                    timeout=60), "A:\n%s\nB:\n%s" % (a.dump(), b.dump())
                moved = assigned(b)
                assert b.terminate() == 0, b.dump()
            assert wait_for(lambda: assigned(a) >= PARTS + moved or None, timeout=60), a.dump()
            where, ends = backlog(mk.bootstrap, n, users, "g", PARTS)
            got = wait_for(lambda: len(successes(values(mk.bootstrap))) >= n or None,
                           timeout=60)
            assert got, "%d of %d done; A:\n%s" % (len(successes(values(mk.bootstrap))), n,
                                                   a.dump())
            used, repeated, refused = check_run(where, ends, mk, sb, (a, b))
            assert a.terminate() == 0, a.dump()
    print("  %d partitions went to B and came back to A, which then did %d events of %d "
          "users; %s" % (moved, n, used, repeats_note(repeated, refused)), flush=True)


def test_grace_expired():
    n, users = 60, 30
    with cluster(topics=TOPICS, sandbox_kw={"qps": 0}) as (tmp, mk, sb):
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
    # What A had in flight lies at or above the watermark it committed; only a
    # refused commit (the mock re-balancing at once) makes B repeat more.
    refused = refused_commits((a, b))
    repeated = sorted(e for e, k in succ.items() if k > 1)
    in_flight = [e for e in repeated if not below_refused(where, refused, e)]
    assert len(in_flight) <= MAX_IN_FLIGHT, "%d events repeated" % len(in_flight)
    print("  grace expired with 6 s calls in flight: A gave the partitions up; %d events "
          "repeated by B (at most %d in flight), none lost%s" % (
              len(in_flight), MAX_IN_FLIGHT,
              "; %d more below a refused commit" % (len(repeated) - len(in_flight))
              if refused else ""), flush=True)


def test_during_pause():
    n, users, wrong = 36, 12, "wrong-secret-rb"
    # 1.5 s answers: every user's first event (12 < max_in_flight, at 20/s)
    # starts before the first systemic answer, so every partition that has
    # users has calls unfinished, parked, through the pause.
    with cluster(topics=TOPICS, sandbox_kw={"qps": 0, "latency_ms": 1500}) as (tmp, mk, sb):
        where, ends = backlog(mk.bootstrap, n, users, "p", PARTS)
        assert len(set(p for p, _ in where.values())) == PARTS, "a partition without events"
        cfg = config(tmp, mk, sb, 20.0)
        with Worker(cfg, secret=wrong).start() as a:
            assert wait_for(lambda: a.metric("pause", 'cause="systemic"') == 1 or None, timeout=60), a.dump()
            assert wait_for(lambda: len(set(r["user_id"] for r in sb.requests())) == users or None,
                            timeout=30), "not every user's first call started before the pause"
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


def test_commit_refused():
    with busy_worker(200, 20, "c") as (mk, sb, where, ends, cfg, a):
        # From now on the cluster refuses every offset commit (code 12,
        # OFFSET_METADATA_TOO_LARGE: no group state changes with it), the one
        # on revoke included, until A has said so.
        for _ in range(4):  # 1,000 codes (at most 256 per command)
            mk.command("errors %d %s" % (OFFSET_COMMIT, " ".join(["12"] * 250)), check=True)
        with Worker(cfg).start() as b:
            assert wait_for(lambda: refused_commits((a,)) or None, timeout=60), \
                "A never failed a commit on revoke:\nA:\n%s" % a.dump()
            mk.command("clear %d" % OFFSET_COMMIT, check=True)
            got = wait_for(lambda: set(successes(values(mk.bootstrap))) >= set(where) or None,
                           timeout=120)
            assert got, "A:\n%s\nB:\n%s" % (a.dump(), b.dump())
            used, repeated, refused = check_run(where, ends, mk, sb, (a, b))
            assert repeated > 0, "no event repeated after the refused commit %s" % refused
            assert b.terminate() == 0, b.dump()
    print("  commit on revoke refused: A warned with the offsets (%s); B repeated %d events, "
          "each below them, no calls overlapping, none lost" % (
              ", ".join("p%d@%d" % kv for kv in sorted(refused.items())), repeated), flush=True)


def main():
    t = TestRun()
    only = set(sys.argv[1:])
    for fn in (test_handover, test_leave, test_given_back, test_commit_refused,
               test_grace_expired, test_during_pause):
        if not only or fn.__name__ in only:
            t.case(fn)
    t.finish()


if __name__ == "__main__":
    main()
