#!/usr/bin/env python3
"""Integration test: faults together, as real incidents bring them.

A backlog runs through, all at once: repeated kill -9 restarts at random
moments, a broker outage (every broker down), a ZIM outage (the sandbox
stopped), and users whose calls need retries (busy answers). The end state:
every event has a success result, no failure result exists, the committed
offsets are at the partition ends, and the repeats stay within the bound of
Guarantee 1: per crash, the calls in flight, plus one commit interval of
work, plus worker.max_run_ahead per partition.

Timings come from a seed printed at the start; ZU_CHAOS_SEED=N replays a run.
Also: a backlog with about 5% of users retrying, then kill -9 twice, holds
each crash's repeats to the same bound (retries do not let the committed
offset fall behind).

    ZU_BUILD_DIR=build python3 tests/integration/test_chaos.py
"""

import collections
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zu_harness import (cluster, DLQ_TOPIC, INPUT_TOPIC, RESULT_TOPIC, TestRun,  # noqa: E402
                        Worker, assert_complete, backlog, successes, values,
                        wait_for, write_config)

PARTS = 3
TOPICS = {INPUT_TOPIC: PARTS, RESULT_TOPIC: 1, DLQ_TOPIC: 1}
QPS = 60.0
MAX_IN_FLIGHT = 16
MAX_RUN_AHEAD = 128
COMMIT_INTERVAL_S = 1.0  # the worker's auto.commit.interval.ms default
# Per crash (Guarantee 1): the calls in flight, one commit interval of work,
# and the run-ahead cap of each partition. All of the last can be at stake at
# once: a broker outage holds every partition's results until the brokers are
# back, and a session lost meanwhile fails the commits of what they then
# acknowledge (seed 339758265: 272 repeats after one crash).
REPEAT_BOUND = MAX_IN_FLIGHT + int(QPS * COMMIT_INTERVAL_S) + 1 + MAX_RUN_AHEAD * PARTS


def config(tmp, mk, sb):
    return write_config(
        tmp, mk.bootstrap, sb.endpoint,
        kafka={"consumer": ["session.timeout.ms=6000", "heartbeat.interval.ms=500",
                            "socket.connection.setup.timeout.ms=5000"],
               "producer": ["socket.connection.setup.timeout.ms=5000"]},
        zim={"rate_limit_qps": QPS, "connect_timeout_ms": 1000, "request_timeout_ms": 2000},
        retry={"max_attempts": 5, "initial_backoff_ms": 50, "max_backoff_ms": 1000},
        worker={"max_in_flight": MAX_IN_FLIGHT, "max_run_ahead": MAX_RUN_AHEAD,
                "shutdown_grace_ms": 5000})


def retrying_users(sb, users, prefix, every=20, times=2):
    """Every `every`-th user is answered busy `times` times (its first event
    needs that many retries)."""
    slow = ["%s-u%02d" % (prefix, u) for u in range(0, users, every)]
    for uid in slow:
        sb.fault("code:660000001", count=times, user=uid)
    return slow


def repeats_by_run(vals):
    """{worker pid: number of events whose success result repeats one from an
    earlier run}."""
    seen, rep = set(), collections.Counter()
    for v in vals:
        if v["status"] != "success":
            continue
        if v["event_id"] in seen:
            rep[v["worker"]] += 1
        seen.add(v["event_id"])
    return rep


def test_chaos():
    seed = int(os.environ.get("ZU_CHAOS_SEED") or random.SystemRandom().randrange(1 << 30))
    rnd = random.Random(seed)
    print("  chaos seed %d (ZU_CHAOS_SEED=%d replays this run)" % (seed, seed), flush=True)
    n, users = 1800, 180
    with cluster(topics=TOPICS, sandbox_kw={"qps": 0, "latency_ms": 20}) as (tmp, mk, sb):
        where, ends = backlog(mk.bootstrap, n, users, "x", PARTS)
        slow = retrying_users(sb, users, "x")
        cfg = config(tmp, mk, sb)
        # The plan: moments (s after the first start) of each fault.
        kills = sorted(rnd.uniform(3, 40) for _ in range(3))
        broker_at, broker_s = rnd.uniform(5, 35), rnd.uniform(3, 6)
        zim_at, zim_s = rnd.uniform(5, 35), rnd.uniform(5, 10)
        print("  plan: kill -9 at %s s; brokers down at %.1f s for %.1f s; ZIM down at %.1f s "
              "for %.1f s; %d of %d users retrying"
              % (["%.1f" % k for k in kills], broker_at, broker_s, zim_at, zim_s, len(slow), users),
              flush=True)
        t0 = time.monotonic()
        events = []

        def at(t, fn, what):
            def run():
                delay = t - (time.monotonic() - t0)
                if delay > 0:
                    time.sleep(delay)
                fn()
                events.append((round(time.monotonic() - t0, 1), what))
            th = threading.Thread(target=run, daemon=True)
            th.start()
            return th

        faults = [
            at(broker_at, lambda: mk.command("down all", check=True), "brokers down"),
            at(broker_at + broker_s, lambda: mk.command("up all", check=True), "brokers up"),
            at(zim_at, sb.stop, "ZIM down"),
            at(zim_at + zim_s, sb.restart, "ZIM up"),
        ]
        runs = 0
        for k in kills:
            with Worker(cfg).start() as w:
                runs += 1
                while time.monotonic() - t0 < k and w.running():
                    time.sleep(0.1)
                assert w.running(), "worker exited: %s" % w.dump()
                w.kill9()
                events.append((round(time.monotonic() - t0, 1), "kill -9 #%d" % runs))
        for th in faults:
            th.join(timeout=60)
        with Worker(cfg).start() as w:
            ok = wait_for(lambda: len(successes(values(mk.bootstrap))) >= n, timeout=150,
                          interval=1.0)
            assert ok, "%d of %d events done; %s" % (
                len(successes(values(mk.bootstrap))), n, w.dump())
            assert w.terminate() == 0, w.dump()
        vals, succ = assert_complete(mk, where, ends)
        rep = repeats_by_run(vals)
        worst = max(rep.values() or [0])
        print("  timeline: %s" % events, flush=True)
        print("  %d events: all succeeded, 0 failures, committed at the ends; repeats per "
              "restart %s (bound %d per crash); %d calls for %d events in %.0f s"
              % (n, sorted(rep.values()), REPEAT_BOUND, len(sb.requests()), n,
                 time.monotonic() - t0), flush=True)
        assert worst <= REPEAT_BOUND, "a crash repeated %d events (bound %d)" % (
            worst, REPEAT_BOUND)


def test_retrying_users_kill9():
    """About 5% of users need two retries; kill -9 twice: each crash repeats
    at most the calls in flight, one commit interval of work and the
    run-ahead cap (the retrying events go first and the partitions do not
    run far ahead of them)."""
    n, users = 1200, 100
    with cluster(topics=TOPICS, sandbox_kw={"qps": 0, "latency_ms": 20}) as (tmp, mk, sb):
        where, ends = backlog(mk.bootstrap, n, users, "r", PARTS)
        slow = retrying_users(sb, users, "r")
        cfg = config(tmp, mk, sb)
        for target in (n // 3, 2 * n // 3):
            with Worker(cfg).start() as w:
                assert wait_for(lambda: len(successes(values(mk.bootstrap))) >= target,
                                timeout=120), w.dump()
                w.kill9()
        with Worker(cfg).start() as w:
            assert wait_for(lambda: len(successes(values(mk.bootstrap))) >= n, timeout=120), \
                w.dump()
            assert w.terminate() == 0
        vals, succ = assert_complete(mk, where, ends)
        rep = repeats_by_run(vals)
        print("  %d events, %d retrying users, 2 kills: repeats per restart %s (bound %d)"
              % (n, len(slow), sorted(rep.values()), REPEAT_BOUND), flush=True)
        assert max(rep.values() or [0]) <= REPEAT_BOUND, rep


if __name__ == "__main__":
    run = TestRun()
    run.case(test_retrying_users_kill9)
    run.case(test_chaos)
    run.finish()
