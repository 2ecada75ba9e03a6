#!/usr/bin/env python3
"""test_rate.py - docs/contract.md, Guarantee 3 (rate) with the real worker binary.

Runs zim-unfriend-worker against zim-mock-kafka and zim-sandbox (driven with
kcat) and measures what reached the sandbox:

  single_replica     a 400-event backlog at rate_limit_qps 20 against a
                     sandbox that allows 20 calls/s: no call is ever refused
                     with 660300005, no 1000 ms window holds more than 20
                     requests, and the steady-state rate is >= 19.4 calls/s
                     (the product requirement: >= 98% of the share).
  two_replicas, three_replicas_*
                     2 workers on 4 partitions, 3 on 6 and 3 on 4 share the
                     budget by the slot grid ("partitions"): the sandbox
                     never refuses, no window holds more than 20 requests
                     across them, each spends its partitions' fraction; the
                     combined rate is printed.
  slow_down          the sandbox allows 10 calls/s, the worker is set to 20:
                     the sandbox refuses some calls, the worker retries them
                     to success, counts them in its metrics, and the refusals
                     become rarer as its limiter slows down.

Env: ZU_BUILD_DIR (binaries), ZU_SOURCE_DIR (unused). python3 stdlib only.
"""

import contextlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from zu_harness import (cluster, DLQ_TOPIC, INPUT_TOPIC, RESULT_TOPIC,  # noqa: E402
                        backlog_messages, wait_results,
                        TestRun, Worker, wait_for, write_config)
from zu_kafka import produce  # noqa: E402

RATE_LIMITED = 660300005
WINDOW_US = 1000000
GROUP_CONF = ["session.timeout.ms=6000", "heartbeat.interval.ms=500",
              "socket.connection.setup.timeout.ms=5000"]


def max_in_window(ts_us, window_us=WINDOW_US):
    """The largest number of timestamps in any half-open window of window_us
    (two stamps exactly window_us apart never share a window)."""
    ts = sorted(ts_us)
    best, i = 0, 0
    for j, t in enumerate(ts):
        while t - ts[i] >= window_us:
            i += 1
        best = max(best, j - i + 1)
    return best


def steady_rate(ts_us):
    """Calls/s between the first request after the first second and the last
    request: (n - 1) / span over the requests in that range."""
    ts = sorted(ts_us)
    rest = [t for t in ts if t >= ts[0] + WINDOW_US]
    if len(rest) < 2:
        raise AssertionError("too few requests after the first second: %d" % len(rest))
    return (len(rest) - 1) / ((rest[-1] - rest[0]) / 1e6)


def check_all_success(rs, evs, max_attempts=None):
    """Exactly one success result per produced event, none other."""
    want = {json.loads(m["value"])["event_id"] for m in evs}
    seen = {}
    for msg, r in rs:
        assert r["status"] == "success", "not a success: %r" % (r,)
        assert r["code"] == 0 and r["error_class"] is None, r
        assert msg["key"] == r["user_id"].encode(), (msg["key"], r["user_id"])
        if max_attempts is not None:
            assert r["attempts"] <= max_attempts, r
        seen[r["event_id"]] = seen.get(r["event_id"], 0) + 1
    assert set(seen) == want, "missing %s, unexpected %s" % (sorted(want - set(seen))[:5],
                                                            sorted(set(seen) - want)[:5])
    dup = {k: v for k, v in seen.items() if v != 1}
    assert not dup, "events with several results: %s" % list(dup.items())[:5]


def no_alarms(w):
    """No error-level log line (the worker's own or librdkafka's)."""
    bad = [r for r in w.logs() if r.get("level") == "error" or "raw" in r]
    assert not bad, "error log lines: %s" % bad[:3]


def last_share(w):
    """The latest "rate share" log record of w, or None."""
    recs = [r for r in w.logs() if r.get("msg") == "rate share"]
    return recs[-1] if recs else None


@contextlib.contextmanager
def one_replica(n, prefix, sandbox_qps):
    """The harness's cluster with a sandbox allowing sandbox_qps (150 ms per
    answer), a worker config at 20 calls/s and a backlog of n users' events;
    yields (mk, sb, cfg, the messages produced)."""
    with cluster(sandbox_kw={"qps": sandbox_qps, "latency_ms": 150}) as (tmp, mk, sb):
        cfg = write_config(tmp, mk.bootstrap, sb.endpoint, zim={"rate_limit_qps": 20.0})
        evs = backlog_messages(n, n, prefix)
        produce(mk.bootstrap, INPUT_TOPIC, evs)
        yield mk, sb, cfg, evs


def single_replica():
    n = 400
    with one_replica(n, "r1", sandbox_qps=20) as (mk, sb, cfg, evs):
        with Worker(cfg).start() as w:
            rs = wait_results(mk, n, timeout=120, workers=[w])
            assert w.terminate() == 0, w.dump()
        check_all_success(rs, evs, max_attempts=1)
        reqs = sb.requests()
        stats = sb.stats()
        codes = [r["code"] for r in reqs]
        assert RATE_LIMITED not in codes, "sandbox answered 660300005 %d times" % codes.count(
            RATE_LIMITED)
        assert str(RATE_LIMITED) not in stats["by_code"], stats
        assert codes == [0] * n, "codes other than 0: %s" % sorted(set(codes))
        assert sorted(r["user_id"] for r in reqs) == sorted(m["key"].decode() for m in evs)
        assert stats["requests"] == n and stats["by_code"] == {"0": n}, stats
        ts = [r["ts_start_us"] for r in reqs]
        mw = max_in_window(ts)
        rate = steady_rate(ts)
        print("  single replica: %d calls in %.2f s, max requests in a 1000 ms window %d "
              "(sandbox: %d admitted, %d requests), steady-state rate %.2f calls/s"
              % (n, (max(ts) - min(ts)) / 1e6, mw, stats["max_window_qps"],
                 stats["max_window_requests"], rate), flush=True)
        assert mw <= 20, "max window %d > 20" % mw
        assert stats["max_window_requests"] <= 20, stats
        assert rate >= 19.4, "steady-state rate %.2f calls/s < 19.4" % rate
        no_alarms(w)


GRID_RATE = 1e6 / 51000  # calls/s of the slot grid at 20: floor(20) per 1.02 s


def replicas(k, parts, n, prefix):
    """k workers of one group on `parts` partitions share the budget by the
    slot grid: the sandbox never refuses, no 1000 ms window holds more than
    20 requests across all of them, each spends its partitions' fraction;
    prints the combined rate (the goal: >= 97% of 20 whatever the split)."""
    with cluster(topics={INPUT_TOPIC: parts, RESULT_TOPIC: 1, DLQ_TOPIC: 1},
                 sandbox_kw={"qps": 20, "latency_ms": 150}) as (tmp, mk, sb):
        cfg = write_config(tmp, mk.bootstrap, sb.endpoint,
                           kafka={"consumer": GROUP_CONF},
                           zim={"rate_limit_qps": 20.0, "rate_limit_share": "partitions"})
        ws = [Worker(cfg).start() for _ in range(k)]
        try:
            def settled():
                for w in ws:
                    if not w.running():
                        raise AssertionError("worker exited (rc=%s):\n%s"
                                             % (w.proc.returncode, w.dump()))
                shares = [last_share(w) for w in ws]
                owned = [int(s["owned_partitions"]) for s in shares if s]
                return len(owned) == k and sum(owned) == parts and min(owned) > 0 and \
                    all(s.get("total_partitions") == parts for s in shares)

            assert wait_for(settled, timeout=90, interval=0.5), \
                "no split:\n%s" % "\n---\n".join(w.dump(10) for w in ws)
            owned = {}
            for w in ws:
                s = last_share(w)
                owned[w.proc.pid] = int(s["owned_partitions"])
                want = GRID_RATE * owned[w.proc.pid] / parts
                assert s["by"] == "slot grid" and abs(float(s["qps"]) - want) < 0.01, s
                assert abs(w.metric("qps_share") - want) < 0.01
            evs = backlog_messages(n, n, prefix, parts)
            produce(mk.bootstrap, INPUT_TOPIC, evs)
            rs = wait_results(mk, n, timeout=180, workers=ws)
            for w in ws:  # the split held for the whole run
                assert int(last_share(w)["owned_partitions"]) == owned[w.proc.pid]
            for w in ws:
                assert w.terminate() == 0, w.dump()
        finally:
            for w in ws:
                if w.running():
                    w.kill9()
        check_all_success(rs, evs, max_attempts=1)
        reqs = sb.requests()
        stats = sb.stats()
        codes = [r["code"] for r in reqs]
        assert RATE_LIMITED not in codes, "sandbox answered 660300005 %d times" % codes.count(
            RATE_LIMITED)
        assert stats["requests"] == n and stats["by_code"] == {"0": n}, stats
        ts = [r["ts_start_us"] for r in reqs]
        mw = max_in_window(ts)
        rate = steady_rate(ts)
        per_worker = {}
        for _, r in rs:
            per_worker[r["worker"]] = per_worker.get(r["worker"], 0) + 1
        print("  %d replicas on %d partitions (owning %s): calls per worker %s, max requests "
              "in a 1000 ms window %d (sandbox: %d admitted, %d requests), combined "
              "steady-state rate %.2f calls/s (%.1f%% of 20)"
              % (k, parts, sorted(owned.values()), sorted(per_worker.values()), mw,
                 stats["max_window_qps"], stats["max_window_requests"], rate,
                 rate / 20 * 100), flush=True)
        assert len(per_worker) == k, "results from %s" % per_worker
        assert mw <= 20, "max window %d > 20" % mw
        assert stats["max_window_requests"] <= 20, stats
        for w in ws:
            no_alarms(w)


def two_replicas():
    replicas(2, 4, 400, "r2")


def three_replicas_six_partitions():
    replicas(3, 6, 400, "r3")


def three_replicas_four_partitions():
    replicas(3, 4, 400, "r4")


def slow_down():
    n = 150
    with one_replica(n, "r3", sandbox_qps=10) as (mk, sb, cfg, evs):
        with Worker(cfg).start() as w:
            rs = wait_results(mk, n, timeout=180, workers=[w])
            refused = w.metric("api_calls_total", 'code="%d"' % RATE_LIMITED)
            ok_calls = w.metric("api_calls_total", 'code="0"')
            retries = w.metric("retries_total")
            assert w.terminate() == 0, w.dump()
        check_all_success(rs, evs)
        reqs = sb.requests()
        stats = sb.stats()
        codes = [r["code"] for r in reqs]
        n_refused = codes.count(RATE_LIMITED)
        assert set(codes) <= {0, RATE_LIMITED}, sorted(set(codes))
        assert codes.count(0) == n, codes.count(0)
        assert n_refused > 0, "the sandbox never refused a call"
        assert refused == n_refused, (refused, n_refused)
        assert ok_calls == n and retries == n_refused, (ok_calls, retries)
        assert stats["max_window_qps"] <= 10, stats
        # Every refused call was retried: attempts add up to the calls made.
        assert sum(r["attempts"] for _, r in rs) == len(reqs)
        ts = sorted((r["ts_start_us"], r["code"]) for r in reqs)
        t0, t1 = ts[0][0], ts[-1][0]
        mid = (t0 + t1) / 2
        first = sum(1 for t, c in ts if c == RATE_LIMITED and t < mid)
        second = n_refused - first
        print("  slow-down: %d calls, %d refused (first half %d, second half %d), "
              "%.2f s, admitted max window %d"
              % (len(reqs), n_refused, first, second, (t1 - t0) / 1e6,
                 stats["max_window_qps"]), flush=True)
        assert second < first, "refusals did not fall: %d then %d" % (first, second)
        no_alarms(w)


def main():
    t = TestRun()
    only = set(sys.argv[1:])  # optional case names, for debugging
    for fn in (single_replica, two_replicas, three_replicas_six_partitions,
               three_replicas_four_partitions, slow_down):
        if not only or fn.__name__ in only:
            t.case(fn)
    t.finish()


if __name__ == "__main__":
    main()
