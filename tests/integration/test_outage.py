#!/usr/bin/env python3
"""Integration test: outages pause, never fail (Guarantee 7).

When ZIM answers nobody (connections refused, HTTP 503 for everyone) the
worker publishes no failure result, commits nothing past the unfinished
events, reports not ready with cause "outage", probes with capped backoff
(probes that meet the outage again keep the pause), and resumes by itself on
the first answer: every event then succeeds exactly once. One user whose own
calls keep failing while the others are answered still ends in
retries_exhausted, and only that user.

    ZU_BUILD_DIR=build python3 tests/integration/test_outage.py
"""

import collections
import contextlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zu_harness import (cluster, DLQ_TOPIC, INPUT_TOPIC, RESULT_TOPIC, TestRun,  # noqa: E402
                        Worker, assert_complete, backlog, committed, event, produce, successes,
                        values, wait_for, write_config)

TOPICS = {INPUT_TOPIC: 3, RESULT_TOPIC: 1, DLQ_TOPIC: 1}
OUTAGE_MSG = ("outage: ZIM answers nobody; pausing all calls; no failure results are published "
              "and offsets stay uncommitted until ZIM answers again")


@contextlib.contextmanager
def backlog_setup(n, users, prefix, qps=20.0, max_in_flight=16, max_attempts=4):
    """The harness's cluster, a backlog of n events and a worker config with a
    small max_attempts: without the pause, an outage would exhaust them."""
    with cluster(topics=TOPICS, sandbox_kw={"qps": 0}) as (tmp, mk, sb):
        where, ends = backlog(mk.bootstrap, n, users, prefix, TOPICS[INPUT_TOPIC])
        cfg = write_config(tmp, mk.bootstrap, sb.endpoint,
                           zim={"rate_limit_qps": qps, "connect_timeout_ms": 1000,
                                "request_timeout_ms": 2000},
                           retry={"max_attempts": max_attempts, "initial_backoff_ms": 50,
                                  "max_backoff_ms": 1000},
                           worker={"max_in_flight": max_in_flight})
        yield mk, sb, cfg, where, ends


def records(w, msg):
    return [r for r in w.logs() if r.get("msg") == msg]


def done(mk):
    return len(successes(values(mk.bootstrap)))


def wait_done(w, mk, n, timeout):
    """Waits until n events have a success result on the result topic; on a
    time-out says what the topic holds against what the worker logged as
    published (a result acknowledged but never read back was seen once)."""
    if wait_for(lambda: done(mk) >= n, timeout=timeout):
        return
    vals = values(mk.bootstrap)
    logged = {r.get("event_id") for r in w.logs() if r.get("msg") == "event done"}
    seen = {v["event_id"] for v in vals}
    raise AssertionError(
        "%d of %d events have a success result after %d s: %d results on the topic (%s); "
        "the worker logged %d as published; published but not on the topic: %s; log: %s"
        % (done(mk), n, timeout, len(vals), dict(collections.Counter(v["status"] for v in vals)),
           len(logged), sorted(logged - seen)[:10], w.dump()[-3000:]))


def assert_outage_state(w, mk, where):
    """What an outage pause looks like from outside."""
    st, body = w.http("/readyz")
    assert (st, body) == (503, "outage pause\n"), "/readyz %d %r" % (st, body)
    assert w.http("/healthz")[0] == 200
    assert w.metric("pause", 'cause="outage"') == 1, w.dump()
    assert w.metric("pause", 'cause="systemic"') == 0
    vals = values(mk.bootstrap)
    bad = [v for v in vals if v["status"] != "success"]
    assert not bad, "failure results during the outage: %s" % bad[:3]


def test_sandbox_down_mid_backlog():
    """ZIM unreachable (connections refused) for 35 s in the middle of a
    backlog at 20 calls/s: no failure, every event once, probes meet the
    outage again and keep the pause."""
    n = 150
    with backlog_setup(n, 50, "down") as (mk, sb, cfg, where, ends):
        with Worker(cfg).start() as w:
            assert wait_for(lambda: done(mk) >= 30, timeout=60), w.dump()
            sb.stop()
            t_down = time.monotonic()
            assert wait_for(lambda: records(w, OUTAGE_MSG), timeout=30), w.dump()
            before = done(mk)
            time.sleep(20)
            assert_outage_state(w, mk, where)
            c = committed(mk)
            assert sum(max(o, 0) for o in c.values()) <= before, (c, before)
            while time.monotonic() - t_down < 35:
                time.sleep(0.5)
            still = records(w, "still paused: the probe got no answer from ZIM")
            assert still, "no probe met the outage; log:\n%s" % w.dump()
            sb.restart()
            t_up = time.monotonic()
            assert wait_for(lambda: records(w, "API accepts calls again: resuming"), timeout=30), \
                w.dump()
            resumed_s = time.monotonic() - t_up
            wait_done(w, mk, n, 120)
            assert w.http("/readyz") == (200, "ok\n")
            assert w.metric("pause", 'cause="outage"') == 0
            assert w.metric("retries_exhausted_total") == 0
            assert w.terminate() == 0, w.dump()
        vals, succ = assert_complete(mk, where, ends)
        repeats = sum(c - 1 for c in succ.values())
        assert repeats == 0, "%d events got more than one result" % repeats
        print("  outage of 35 s after %d of %d events: %d probes met it, resumed %.1f s after "
              "ZIM came back, 0 failures, 0 repeats" % (before, n, len(still), resumed_s),
              flush=True)


def test_http_503_for_everyone():
    """Every call answered HTTP 503 for a while: a pause with cause outage, then
    resume when the answers come back; nobody fails."""
    n = 60
    with backlog_setup(n, 30, "h503", max_in_flight=8) as (mk, sb, cfg, where, ends):
        # 503 for everyone until two probes have met it (however many users
        # the first fetches bring), then the answers come back.
        sb.fault("http:503", count=1000000)
        with Worker(cfg).start() as w:
            rec = wait_for(lambda: records(w, OUTAGE_MSG), timeout=60)
            assert rec, w.dump()
            assert rec[0].get("http_status") == 503 and rec[0].get("cause") == "outage", rec[0]
            assert_outage_state(w, mk, where)
            assert wait_for(lambda: len(records(w, "still paused: the probe got no answer from ZIM"))
                            >= 2, timeout=60), w.dump()
            sb.control("_sandbox/reset")
            wait_done(w, mk, n, 120)
            assert records(w, "API accepts calls again: resuming")
            assert w.terminate() == 0, w.dump()
        vals, succ = assert_complete(mk, where, ends)
        codes = collections.Counter(r.get("http_status", 200) for r in sb.requests())
        print("  %d events, sandbox answers %s: 0 failures" % (n, dict(codes)), flush=True)


def test_one_user_fails_alone():
    """One user's calls keep failing (busy) while everybody else is answered:
    that user's event ends in retries_exhausted after max_attempts calls, no
    pause, and nobody else fails."""
    with backlog_setup(0, 1, "x", max_attempts=3) as (mk, sb, cfg, _, _):
        sb.fault("code:660000001", count=1000, user="lonely")
        msgs = []
        for i in range(60):
            uid = "lonely" if i == 5 else "ok-%02d" % i
            msgs.append({"key": uid.encode(), "value": event(user_id=uid, event_id="o-%02d" % i)})
        produce(mk.bootstrap, INPUT_TOPIC, msgs)
        with Worker(cfg).start() as w:
            assert wait_for(lambda: len(values(mk.bootstrap)) >= 60, timeout=90), w.dump()
            assert not records(w, OUTAGE_MSG), "paused for one user's faults"
            assert w.metric("retries_exhausted_total") == 1
        vals = values(mk.bootstrap)
        bad = [v for v in vals if v["status"] != "success"]
        assert [(v["user_id"], v["error_class"], v["attempts"], v["code"]) for v in bad] == \
            [("lonely", "retries_exhausted", 3, 660000001)], bad
        assert len(successes(vals)) == 59
        print("  lonely: retries_exhausted after 3 calls; 59 others succeeded", flush=True)


if __name__ == "__main__":
    run = TestRun()
    run.case(test_one_user_fails_alone)
    run.case(test_http_503_for_everyone)
    run.case(test_sandbox_down_mid_backlog)
    run.finish()
