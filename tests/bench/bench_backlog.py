#!/usr/bin/env python3
"""Backlog benchmark (prints figures, never fails on speed).

1. Memory: a slow backlog (20 calls/s, the real budget) of events with big
   keys and big traceparent headers, for several worker.max_pending_bytes:
   the worker's peak RSS next to the bound, and events/s (the budget should
   be spent whatever the message size).
2. Budget: a replay of a topic heavy with duplicates (10,000 events over
   2,000 users) without and with worker.coalesce, the latter with the
   default worker.max_run_ahead and with larger ones: calls per event. A
   call covers only the user's events already received, and a partition
   reads at most max_run_ahead offsets past its oldest unfinished event, so
   duplicates further apart than that are called again.

    ZU_BUILD_DIR=build python3 tests/bench/bench_backlog.py [memory|calls]
"""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from zu_kafka import MockKafka, produce  # noqa: E402
from zu_harness import (DLQ_TOPIC, INPUT_TOPIC, RESULT_TOPIC, Sandbox, Worker,  # noqa: E402
                        event, scratch_dir, write_config)
from zu_bench import committed_total, peak_rss_kib  # noqa: E402

PARTS = 8


def call_rate(sb):
    """Calls per second at the sandbox, first call to last."""
    ts = sorted(r["ts_start_us"] for r in sb.requests())
    return (len(ts) - 1) / ((ts[-1] - ts[0]) / 1e6) if len(ts) > 1 else 0.0


def drain(mk, sb, n, cfg_kw, stop_after=None):
    """Runs a worker until n offsets are committed (or stop_after seconds);
    returns (seconds, committed, peak RSS KiB, sandbox calls)."""
    cfg = write_config(scratch_dir(), mk.bootstrap, sb.endpoint,
                       observability={"listen": "", "log_level": "warn"}, **cfg_kw)
    w = Worker(cfg).start()
    t0 = time.time()
    done = 0
    while done < n and (stop_after is None or time.time() - t0 < stop_after):
        if not w.running():
            raise RuntimeError("worker exited: %s" % w.dump())
        time.sleep(0.5)
        done = committed_total(mk, "zu-test", INPUT_TOPIC)
    elapsed = time.time() - t0
    rss = peak_rss_kib(w.proc.pid)
    w.terminate()
    return elapsed, done, rss, len(sb.requests())


def memory():
    """240 events, each with a 300 kB key and a 100 kB traceparent (neither
    is needed for a valid event's result), spread over 8 partitions (the
    mock keeps about 5 MB per partition)."""
    n = 240
    print("memory: %d events with 300 kB keys and 100 kB traceparent headers, 20 calls/s" % n)
    print("%-22s %10s %12s %10s" % ("max_pending_bytes", "calls/s", "peak RSS MiB", "done"))
    for limit in (4 << 20, 16 << 20, 64 << 20):
        with MockKafka(stderr=open(os.devnull, "wb")).start(
                topics={INPUT_TOPIC: PARTS, RESULT_TOPIC: 4, DLQ_TOPIC: 1}) as mk, \
                Sandbox(qps=0).start() as sb:
            msgs = []
            for i in range(n):
                uid = "u%03d" % i
                msgs.append({"key": uid.encode() + b"K" * 300000,
                             "value": event(user_id=uid, event_id="e%d" % i),
                             "headers": [("traceparent", "t" * 100000)],
                             "partition": i % PARTS})
            produce(mk.bootstrap, INPUT_TOPIC, msgs, timeout=600)
            secs, done, rss, _ = drain(mk, sb, n, {"zim": {"rate_limit_qps": 20.0},
                                                   "worker": {"max_pending_bytes": limit}})
            print("%-22s %10.2f %12.1f %10d" % ("%d MiB" % (limit >> 20), call_rate(sb),
                                                rss / 1024.0, done), flush=True)


def calls():
    n, users = 10000, 2000
    print("budget: replay of %d events over %d users (200 calls/s)" % (n, users))
    print("%-10s %14s %8s %10s %16s" % ("coalesce", "max_run_ahead", "calls", "events",
                                         "calls per event"))
    for coalesce, run_ahead in ((False, 512), (True, 512), (True, 2048), (True, 8192)):
        with MockKafka(stderr=open(os.devnull, "wb")).start(
                topics={INPUT_TOPIC: PARTS, RESULT_TOPIC: 4, DLQ_TOPIC: 1}) as mk, \
                Sandbox(qps=0, latency_ms=20).start() as sb:
            msgs = []
            for i in range(n):
                uid = "u%04d" % (i % users)
                msgs.append({"key": uid.encode(), "value": event(user_id=uid, event_id="e%d" % i),
                             "partition": hash(uid) % PARTS})
            produce(mk.bootstrap, INPUT_TOPIC, msgs, timeout=600)
            # 200 calls/s: ten times the default budget, so that the run
            # without shared calls takes under a minute; the backlog is
            # still received far ahead of the calls, as at 20 calls/s.
            secs, done, _, ncalls = drain(mk, sb, n, {"zim": {"rate_limit_qps": 200.0},
                                                      "worker": {"coalesce": coalesce,
                                                                 "max_in_flight": 64,
                                                                 "max_run_ahead": run_ahead}})
            print("%-10s %14d %8d %10d %16.3f" % (coalesce, run_ahead, ncalls, done,
                                                  ncalls / max(done, 1)), flush=True)


if __name__ == "__main__":
    what = sys.argv[1:] or ["memory", "calls"]
    if "memory" in what:
        memory()
    if "calls" in what:
        calls()
