#!/usr/bin/env python3
"""Integration test: crashes (kill -9) and clean stops (SIGTERM) of the real
zim-unfriend-worker against zim-mock-kafka, zim-sandbox and kcat.

docs/contract.md, Guarantee 1 (at-least-once: a crash loses nothing and repeats only
events that were in flight) and 8 (clean stop: finish the calls in flight
within shutdown_grace_ms, publish their results, commit, exit 0).

    ZU_BUILD_DIR=build python3 tests/integration/test_crash.py

python3 standard library only; prints "ok name"/"FAIL name" per case and the
closing "N passed, N failed".
"""

import collections
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zu_harness import (cluster, DLQ_TOPIC, INPUT_TOPIC, RESULT_TOPIC, TestRun,  # noqa: E402
                        Worker, assert_complete, backlog, committed, successes, values,
                        wait_for, write_config)

TOPICS = {INPUT_TOPIC: 3, RESULT_TOPIC: 1, DLQ_TOPIC: 1}
# The worker's auto.commit.interval.ms default (worker/kconf.c).
AUTO_COMMIT_INTERVAL_S = 1.0


# ---- helpers ---------------------------------------------------------------


def failures(vals):
    return [v for v in vals if v["status"] != "success"]


def done_count(bootstrap):
    return len(successes(values(bootstrap)))


def wait_done(bootstrap, n, timeout):
    """Waits until n distinct event_ids have a success result; returns that count."""
    got = wait_for(lambda: done_count(bootstrap) >= n and n, timeout=timeout, interval=0.2)
    return got


def log_msgs(w):
    return [r.get("msg", r.get("raw", "")) for r in w.logs()]


def pid_of(v):
    """The process id part of a result's "worker" field ("host/pid")."""
    return int(v["worker"].rsplit("/", 1)[1])


def sigterm_timed(w, timeout):
    """SIGTERM; returns (exit code, seconds until exit)."""
    t0 = time.monotonic()
    w.proc.send_signal(signal.SIGTERM)
    rc = w.wait(timeout)
    return rc, time.monotonic() - t0


def log_stopped(w):
    """The "stopped" log record's exit_code (None when there is none)."""
    for r in w.logs():
        if r.get("msg") == "stopped":
            return r.get("exit_code")
    return None


# ---- cases -----------------------------------------------------------------


def test_kill9_at_least_once():
    """Two kill -9 in a 300-event backlog: nothing lost; repeats only above the
    offsets committed at the kill, i.e. results published (or calls made) after
    the last commit."""
    n, users, qps, max_in_flight = 300, 60, 20, 64
    with cluster(topics=TOPICS, sandbox_kw={"qps": 0, "latency_ms": 50}) as (tmp, mk, sb):
        where, ends = backlog(mk.bootstrap, n, users, "k", TOPICS[INPUT_TOPIC])
        cfg = write_config(tmp, mk.bootstrap, sb.endpoint,
                           zim={"rate_limit_qps": float(qps)},
                           worker={"max_in_flight": max_in_flight, "shutdown_grace_ms": 10000})
        runs = []  # (pid, kill wall time, committed offsets right after the kill)
        for target in (n // 3, 2 * n // 3):
            with Worker(cfg).start() as w:
                got = wait_done(mk.bootstrap, target, timeout=120)
                assert got, "only %d of %d events done; log:\n%s" % (
                    done_count(mk.bootstrap), target, w.dump())
                w.kill9()
                t_kill = time.time()
                c = committed(mk)
                runs.append((w.proc.pid, t_kill, c))
                print("  kill -9 #%d at %d done: committed %s (ends %s)" % (
                    len(runs), done_count(mk.bootstrap), c, ends), flush=True)
        with Worker(cfg).start() as w:
            assert wait_done(mk.bootstrap, n, timeout=120), \
                "only %d of %d events done after the restarts; log:\n%s" % (
                    done_count(mk.bootstrap), n, w.dump())
            rc = w.terminate(timeout=30)
            assert rc == 0, "exit code %r after SIGTERM; log:\n%s" % (rc, w.dump())
            runs.append((w.proc.pid, None, None))
        vals, succ = assert_complete(mk, where, ends)
        reqs = sb.requests()

    # Which run produced each result.
    run_of_pid = {pid: i for i, (pid, _, _) in enumerate(runs)}
    unknown = [v for v in vals if pid_of(v) not in run_of_pid]
    assert not unknown, "results from unknown workers: %s" % unknown[:2]
    by_run = collections.defaultdict(list)
    for v in vals:
        by_run[run_of_pid[pid_of(v)]].append(v)
        assert v["source"]["offset"] == where[v["event_id"]][1] and \
            v["source"]["partition"] == where[v["event_id"]][0], "source wrong: %s" % v

    # A restarted worker starts at the committed offsets: no result of run k+1
    # lies below what was committed when run k was killed.
    for k in range(2):
        c = runs[k][2]
        below = [v["event_id"] for v in by_run[k + 1]
                 if v["source"]["offset"] < c[v["source"]["partition"]]]
        assert not below, "run %d repeated committed events: %s" % (k + 2, below[:10])
        # Each run published only once per event.
        per = collections.Counter(v["event_id"] for v in by_run[k])
        assert max(per.values() or [1]) == 1, "run %d published an event twice" % (k + 1)

    # Duplicates: every one is explained by a kill - its earlier result was
    # published at or above the offset committed at that kill.
    req_by_rid = {r["request_id"]: r for r in reqs if r.get("request_id")}
    dups = {e: c for e, c in succ.items() if c > 1}
    assert max(succ.values()) <= 3, "an event got more than 1 + kills results"
    per_kill = [0, 0]
    max_age = 0.0
    for e in dups:
        rs = sorted((v for v in vals if v["event_id"] == e), key=lambda v: run_of_pid[pid_of(v)])
        for a, b in zip(rs, rs[1:]):
            k = run_of_pid[pid_of(a)]
            kb = run_of_pid[pid_of(b)]
            assert kb > k, "event %s published twice by one run" % e
            part, off = where[e]
            # The repeat happened because the offset was not committed at kill k
            # (and at no kill between k and the repeating run).
            for j in range(k, kb):
                assert off >= runs[j][2][part], \
                    "event %s (p%d/%d) repeated though committed (%s) at kill %d" % (
                        e, part, off, runs[j][2], j + 1)
            # Counted against kill k, the one that ended the run of the earlier result.
            per_kill[k] += 1
            call = req_by_rid.get(a["request_id"])
            assert call is not None, "result request_id %s not in the sandbox log" % a["request_id"]
            age = runs[k][1] - call["ts_end_us"] / 1e6
            max_age = max(max_age, age)
    # Bound: a kill repeats what was published since the last auto-commit
    # (interval 1 s, at qps calls/s) plus at most max_in_flight calls whose
    # results were still on their way. Allow one more interval for a commit
    # that was itself in flight, plus the calls in flight: 2 * 1 s * qps + 64.
    bound = int(2 * AUTO_COMMIT_INTERVAL_S * qps + max_in_flight)
    print("  duplicates: %d events repeated (%d after kill 1, %d after kill 2), bound %d "
          "per kill; oldest repeated call %.2f s before its kill; %d sandbox calls, %d "
          "results for %d events" % (len(dups), per_kill[0], per_kill[1], bound, max_age,
                                     len(reqs), len(vals), n), flush=True)
    for k in range(2):
        assert per_kill[k] <= bound, "kill %d repeated %d events (bound %d)" % (
            k + 1, per_kill[k], bound)
    # The earlier call of every repeated event happened after the last commit
    # before its kill could have covered it: within two commit intervals.
    assert max_age <= 2 * AUTO_COMMIT_INTERVAL_S + 2, \
        "a repeated event's first call was %.1f s before the kill" % max_age
    # What reached the sandbox: one successful call per result, plus the calls
    # that were in flight at a kill (answered, but their results never made).
    assert all(r.get("code") == 0 for r in reqs), "sandbox answered non-zero codes"
    rids = [v["request_id"] for v in vals]
    assert len(set(rids)) == len(rids) and set(rids) <= set(req_by_rid), \
        "results' request ids are not distinct sandbox calls"
    lost_calls = len(reqs) - len(vals)
    print("  calls in flight at the kills (made, no result): %d" % lost_calls, flush=True)
    assert 0 <= lost_calls <= 2 * max_in_flight, "calls without results: %d" % lost_calls


def test_sigterm_clean_stop_exactly_once():
    """SIGTERM mid-stream: exit 0 within shutdown_grace_ms, everything published
    is committed; after a restart every event has exactly one success result."""
    n, users, grace_ms = 300, 60, 5000
    with cluster(topics=TOPICS, sandbox_kw={"qps": 0, "latency_ms": 100}) as (tmp, mk, sb):
        where, ends = backlog(mk.bootstrap, n, users, "s", TOPICS[INPUT_TOPIC])
        cfg = write_config(tmp, mk.bootstrap, sb.endpoint, zim={"rate_limit_qps": 40.0},
                           worker={"shutdown_grace_ms": grace_ms})
        with Worker(cfg).start() as w:
            assert wait_done(mk.bootstrap, n // 2, timeout=120), \
                "only %d events done; log:\n%s" % (done_count(mk.bootstrap), w.dump())
            in_flight = w.metric("in_flight_calls")
            rc, took = sigterm_timed(w, timeout=60)
            msgs = log_msgs(w)
            stopped = log_stopped(w)
            dump = w.dump()
        print("  SIGTERM -> exit %d in %.2f s (shutdown_grace_ms %d, %d calls in flight at "
              "the signal)" % (rc, took, grace_ms, in_flight), flush=True)
        assert rc == 0, "exit code %d; log:\n%s" % (rc, dump)
        assert took <= grace_ms / 1000.0 + 3.0, "stop took %.2f s" % took
        assert "stopping: finishing calls in flight" in msgs, "no stopping log line"
        assert stopped == "0", "no \"stopped\" log line with exit_code 0: %r" % stopped
        assert "shutdown grace expired; unfinished events will be processed again" not in msgs, \
            "grace expired although the calls take 100 ms"

        # Everything the stopped worker published is committed, and nothing
        # beyond: committed offsets are exactly the published prefix.
        c = committed(mk)
        first = values(mk.bootstrap)
        assert not failures(first), "failure results: %s" % failures(first)[:3]
        published = collections.defaultdict(set)
        for v in first:
            published[v["source"]["partition"]].add(v["source"]["offset"])
        for p, end in ends.items():
            want = set(range(0, c[p])) if c[p] >= 0 else set()
            assert published[p] == want, (
                "partition %d: committed %d but published offsets %s..%s (%d)" % (
                    p, c[p], min(published[p] or [-1]), max(published[p] or [-1]),
                    len(published[p])))
        print("  after the stop: %d results, committed %s of %s" % (len(first), c, ends),
              flush=True)

        with Worker(cfg).start() as w:
            assert wait_done(mk.bootstrap, n, timeout=120), \
                "only %d events done after restart; log:\n%s" % (done_count(mk.bootstrap),
                                                                 w.dump())
            rc = w.terminate(timeout=30)
            assert rc == 0, "exit code %d; log:\n%s" % (rc, w.dump())
        vals, succ = assert_complete(mk, where, ends)
        reqs = sb.requests()
    repeated = sorted(e for e, k in succ.items() if k != 1)
    assert not repeated, "events with more than one result: %s" % repeated[:10]
    # What reached the sandbox: one successful call per event, nothing more.
    assert len(reqs) == n and all(r["code"] == 0 for r in reqs), \
        "sandbox saw %d calls (codes %s) for %d events" % (
            len(reqs), collections.Counter(r["code"] for r in reqs), n)
    rid = {v["request_id"] for v in vals}
    assert rid == {r["request_id"] for r in reqs}, "result request ids differ from the sandbox's"


def test_grace_expiry():
    """Calls that outlast shutdown_grace_ms: SIGTERM exits 0 about the grace
    later, publishes nothing for them, commits nothing; a restart does them."""
    n, grace_ms = 30, 1000
    with cluster(topics=TOPICS, sandbox_kw={"qps": 0}) as (tmp, mk, sb):
        where, ends = backlog(mk.bootstrap, n, n, "g", TOPICS[INPUT_TOPIC])
        sb.fault("latency:5000", count=n)
        cfg = write_config(tmp, mk.bootstrap, sb.endpoint,
                           zim={"rate_limit_qps": 100.0, "request_timeout_ms": 20000},
                           worker={"shutdown_grace_ms": grace_ms})
        with Worker(cfg).start() as w:
            # Every call has reached the sandbox and sleeps in its latency.
            assert wait_for(lambda: sb.stats()["faults_pending"] == 0, timeout=60), \
                "calls did not reach the sandbox; log:\n%s" % w.dump()
            in_flight = w.metric("in_flight_calls")
            rc, took = sigterm_timed(w, timeout=30)
            msgs = log_msgs(w)
            stopped = log_stopped(w)
            dump = w.dump()
        print("  SIGTERM with %d calls of 5 s in flight -> exit %d in %.2f s "
              "(shutdown_grace_ms %d)" % (in_flight, rc, took, grace_ms), flush=True)
        assert in_flight == n, "in flight at the signal: %s" % in_flight
        assert rc == 0, "exit code %d; log:\n%s" % (rc, dump)
        assert took <= grace_ms / 1000.0 + 3.0, "stop took %.2f s" % took
        assert "shutdown grace expired; unfinished events will be processed again" in msgs, \
            "no grace-expired log line; log:\n%s" % dump
        assert stopped == "0", "stopped exit_code %r" % stopped
        assert values(mk.bootstrap) == [], "results published for unfinished calls"
        c = committed(mk)
        assert all(o == -1 for o in c.values()), "offsets committed: %s" % c

        with Worker(cfg).start() as w:
            assert wait_done(mk.bootstrap, n, timeout=60), \
                "only %d events done after restart; log:\n%s" % (done_count(mk.bootstrap),
                                                                 w.dump())
            rc = w.terminate(timeout=30)
            assert rc == 0, "exit code %d; log:\n%s" % (rc, w.dump())
        vals, succ = assert_complete(mk, where, ends)
        reqs = wait_for(lambda: len(sb.requests()) >= 2 * n and sb.requests(), timeout=15) or \
            sb.requests()
    assert max(succ.values()) == 1, "repeated results after the restart"
    # The sandbox did each event twice: the abandoned 5 s call and the new one.
    per_user = collections.Counter(r["user_id"] for r in reqs)
    print("  sandbox calls: %d for %d events" % (len(reqs), n), flush=True)
    assert len(reqs) == 2 * n and set(per_user.values()) == {2}, \
        "sandbox calls per user: %s" % collections.Counter(per_user.values())
    slow = [r for r in reqs if r["fault"] == "latency:5000"]
    assert len(slow) == n, "slow calls: %d" % len(slow)


def main():
    t = TestRun()
    t.case(test_kill9_at_least_once)
    t.case(test_sigterm_clean_stop_exactly_once)
    t.case(test_grace_expiry)
    t.finish()


if __name__ == "__main__":
    main()
