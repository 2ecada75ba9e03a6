#!/usr/bin/env python3
"""Integration test: systemic errors pause, never fail (docs/contract.md, Guarantees 7).

The real zim-unfriend-worker against zim-mock-kafka, zim-sandbox and kcat:
a wrong server secret (ZIM Code 100000005) and HTTP 401/403 answers make the
worker publish no failure results, leave offsets uncommitted, report not
ready, log the cause and probe with capped backoff; once the API accepts
again (secret fixed at run time, fault queue reset, or a restart with the
right secret) every event succeeds exactly once. A probe that gets no ZIM
answer at all (dropped connection, HTTP 503, HTML) does not end the pause.

    ZU_BUILD_DIR=build python3 tests/integration/test_systemic.py

python3 standard library only; prints "ok name"/"FAIL name" per case and the
closing "N passed, N failed".
"""

import collections
import contextlib
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zu_harness import (cluster, DLQ_TOPIC, INPUT_TOPIC, RESULT_TOPIC, TestRun,  # noqa: E402
                        Worker, assert_complete, backlog, committed, successes, values,
                        wait_for, write_config)

TOPICS = {INPUT_TOPIC: 3, RESULT_TOPIC: 1, DLQ_TOPIC: 1}
PAUSE_MSG = ("systemic error: pausing all calls; no failure results are published and "
             "offsets stay uncommitted until the API accepts again")
RESUME_MSG = "API accepts calls again: resuming"
GRACE_EXPIRED = "shutdown grace expired; unfinished events will be processed again"
OBSERVE_S = 5.0      # how long the paused worker is watched
MAX_BACKOFF_MS = 1000
QPS = 20.0
MAX_IN_FLIGHT = 64
WRONG = "wrong-secret-7Zq"  # the worker's secret; the sandbox expects zu_harness.SECRET


# ---- helpers ---------------------------------------------------------------


@contextlib.contextmanager
def backlog_setup(n, users, prefix):
    """The harness's cluster (a sandbox without a QPS limit), a backlog of n
    events of `users` users and a worker config; yields (mk, sb, cfg, where,
    ends)."""
    with cluster(topics=TOPICS, sandbox_kw={"qps": 0}) as (tmp, mk, sb):
        where, ends = backlog(mk.bootstrap, n, users, prefix, TOPICS[INPUT_TOPIC])
        cfg = write_config(tmp, mk.bootstrap, sb.endpoint, zim={"rate_limit_qps": QPS},
                           retry={"initial_backoff_ms": 50, "max_backoff_ms": MAX_BACKOFF_MS},
                           worker={"max_in_flight": MAX_IN_FLIGHT, "shutdown_grace_ms": 3000})
        yield mk, sb, cfg, where, ends


def pause_records(w):
    return [r for r in w.logs() if r.get("msg") == PAUSE_MSG]


def wait_paused(w, timeout=60):
    """Waits for the systemic pause log record; returns it."""
    recs = wait_for(lambda: pause_records(w), timeout=timeout)
    assert recs, "no systemic pause within %ss; log:\n%s" % (timeout, w.dump())
    return recs[0]


def assert_paused(w, mk, sb, answer, t_first):
    """What a systemic pause must look like from outside, watched OBSERVE_S
    seconds from the first API call; returns the sandbox calls seen."""
    left = OBSERVE_S - (time.monotonic() - t_first)
    if left > 0:
        time.sleep(left)
    st, body = w.http("/readyz")
    assert st == 503 and "systemic pause" in body, "/readyz %d %r during the pause" % (st, body)
    st, body = w.http("/healthz")
    assert st == 200, "/healthz %d %r during the pause" % (st, body)
    assert w.metric("pause", 'cause="systemic"') == 1, "zim_unfriend_pause{cause=\"systemic\"} is not 1"
    assert w.metric("ready") == 0, "zim_unfriend_ready is not 0"
    vals = values(mk.bootstrap)
    assert vals == [], "results published during a systemic pause: %s" % vals[:3]
    c = committed(mk)
    assert all(o == -1 for o in c.values()), "offsets committed during the pause: %s" % c
    reqs = sb.requests()
    kinds = collections.Counter(answer(r) for r in reqs)
    assert set(kinds) == {True}, "sandbox answers other than the systemic one: %s" % (
        [r for r in reqs if not answer(r)][:3])
    # The calls: those started before the first systemic answer arrived (the
    # limiter spaces starts 1/QPS apart and the sandbox answers at once: 1,
    # at most a few) then one probe per second (backoff capped at 1 s, and a
    # probe never comes sooner): about 5 in 5 s. Not hundreds.
    print("  paused: %d sandbox calls in %.1f s (max_in_flight %d, qps %g, max_backoff_ms %d)"
          % (len(reqs), time.monotonic() - t_first, MAX_IN_FLIGHT, QPS, MAX_BACKOFF_MS),
          flush=True)
    assert 3 <= len(reqs) <= 15, "%d sandbox calls in ~%.0f s of pause" % (len(reqs), OBSERVE_S)
    return reqs


def assert_resumed(w, mk, sb, where, ends, t_fix):
    """After the fix: every event exactly one success, none failed, ready again,
    offsets committed to the ends."""
    n = len(where)
    t_first = wait_for(lambda: values(mk.bootstrap) and time.monotonic(), timeout=30)
    assert t_first, "no result after the fix; log:\n%s" % w.dump()
    got = wait_for(lambda: len(successes(values(mk.bootstrap))) >= n, timeout=60)
    assert got, "%d of %d events succeeded after the fix; log:\n%s" % (
        len(successes(values(mk.bootstrap))), n, w.dump())
    print("  resumed: first result %.2f s after the fix" % (t_first - t_fix), flush=True)
    # The next probe is due within max_backoff_ms of the fix; allow start-up slack.
    assert t_first - t_fix <= MAX_BACKOFF_MS / 1000.0 + 5.0, "resumed late"
    assert wait_for(lambda: w.metric("pause", 'cause="systemic"') == 0 or None, timeout=10), \
        "the systemic pause stays"
    st, body = w.http("/readyz")
    assert st == 200, "/readyz %d %r after resuming" % (st, body)
    assert any(r.get("msg") == RESUME_MSG for r in w.logs()), "no resume log line"
    vals, succ = assert_complete(mk, where, ends)
    twice = sorted(e for e, k in succ.items() if k != 1)
    assert not twice, "events with more than one result: %s" % twice
    return vals


# ---- cases -----------------------------------------------------------------


def test_wrong_secret_pause_then_fix_at_runtime():
    n = 50
    with backlog_setup(n, 25, "w") as (mk, sb, cfg, where, ends):
        with Worker(cfg, secret=WRONG).start() as w:
            rec = wait_paused(w)
            t_first = time.monotonic()
            assert rec.get("level") == "error", "pause logged at %r" % rec.get("level")
            assert rec.get("code") == 100000005, "pause record names code %r" % rec.get("code")
            assert "signature" in (rec.get("message") or ""), "pause record: %s" % rec
            reqs = assert_paused(w, mk, sb, lambda r: r["code"] == 100000005, t_first)
            assert WRONG not in open(w.log_path, encoding="utf-8", errors="replace").read()
            # Fix it at run time: the sandbox now expects the worker's secret.
            sb.set_secret(WRONG)
            t_fix = time.monotonic()
            vals = assert_resumed(w, mk, sb, where, ends, t_fix)
            rc = w.terminate()
            assert rc == 0, "exit %d; log:\n%s" % (rc, w.dump())
        all_reqs = sb.requests()
    ok = [r for r in all_reqs if r["code"] == 0]
    assert len(ok) == n, "sandbox answered %d calls with 0 for %d events" % (len(ok), n)
    assert {v["request_id"] for v in vals} == {r["request_id"] for r in ok}
    print("  sandbox: %d calls before the fix, %d in all" % (len(reqs), len(all_reqs)),
          flush=True)


def test_wrong_secret_restart_with_right_secret():
    n = 50
    with backlog_setup(n, 25, "r") as (mk, sb, cfg, where, ends):
        with Worker(cfg, secret=WRONG).start() as w:
            wait_paused(w)
            t0 = time.monotonic()
            w.proc.send_signal(signal.SIGTERM)
            rc = w.wait(30)
            took = time.monotonic() - t0
            dump = w.dump()
            msgs = [r.get("msg") for r in w.logs()]
        print("  SIGTERM during the pause -> exit %d in %.2f s (shutdown_grace_ms 3000)" % (
            rc, took), flush=True)
        assert rc == 0, "exit %d; log:\n%s" % (rc, dump)
        # Nothing can finish during the pause: the worker does not sit out the grace.
        assert GRACE_EXPIRED not in msgs, "a paused worker waited for the grace:\n%s" % dump
        assert "stopped" in msgs, "no \"stopped\" log line"
        assert values(mk.bootstrap) == [], "results published by the paused worker"
        c = committed(mk)
        assert all(o == -1 for o in c.values()), "offsets committed: %s" % c
        before = len(sb.requests())
        assert all(r["code"] == 100000005 for r in sb.requests())
        with Worker(cfg).start() as w:
            got = wait_for(lambda: len(successes(values(mk.bootstrap))) >= n, timeout=60)
            assert got, "events not done after restart; log:\n%s" % w.dump()
            rc = w.terminate()
            assert rc == 0, "exit %d; log:\n%s" % (rc, w.dump())
        vals, succ = assert_complete(mk, where, ends)
        reqs = sb.requests()
    assert set(succ.values()) == {1}, \
        "success results per event: %s" % collections.Counter(succ.values())
    ok = [r for r in reqs[before:] if r["code"] == 0]
    assert len(ok) == n == len(reqs) - before, "calls after restart: %d (%d ok)" % (
        len(reqs) - before, len(ok))


def http_case(status):
    n = 30
    with backlog_setup(n, 15, "h%d" % status) as (mk, sb, cfg, where, ends):
        sb.fault("http:%d" % status, count=1000000)
        with Worker(cfg).start() as w:
            rec = wait_paused(w)
            t_first = time.monotonic()
            assert rec.get("level") == "error"
            assert rec.get("http_status") == status and rec.get("code") is None, \
                "pause record does not name HTTP %d: %s" % (status, rec)
            assert str(status) in (rec.get("message") or ""), "pause record: %s" % rec
            assert_paused(w, mk, sb, lambda r: r["http_status"] == status, t_first)
            sb.control("_sandbox/reset")
            t_fix = time.monotonic()
            assert_resumed(w, mk, sb, where, ends, t_fix)
            rc = w.terminate()
            assert rc == 0, "exit %d; log:\n%s" % (rc, w.dump())


def test_no_answer_does_not_end_pause():
    """While paused by a wrong secret, probes that get no ZIM answer (dropped
    connection, HTTP 503 without a Code, an HTML body) keep the pause: no
    resume, no burst of calls, no results, offsets stay; fixed, all succeed."""
    n = 30
    # libcurl re-sends a request once, on a fresh connection, when a reused
    # connection closes without an answer: two drops make zero to two
    # transport errors.
    faults = ["drop", "drop", "http:503", "nonjson"]
    with backlog_setup(n, 15, "n") as (mk, sb, cfg, where, ends):
        with Worker(cfg, secret=WRONG).start() as w:
            wait_paused(w)
            time.sleep(0.5)  # calls started before the first answer are all answered
            for kind in faults:
                sb.fault(kind)
            before = len(sb.requests())

            def probed_past_faults():
                reqs = sb.requests()
                faulted = [r for r in reqs if r["fault"] in faults]
                later = [r for r in reqs[before:] if r["fault"] is None]
                return len(faulted) == len(faults) and later and reqs
            reqs = wait_for(probed_past_faults, timeout=30)
            assert reqs, "probes did not take the faults; log:\n%s" % w.dump()
            msgs = [r.get("msg") for r in w.logs()]
            assert RESUME_MSG not in msgs, "a probe without a ZIM answer ended the pause"
            still = [r for r in w.logs()
                     if r.get("msg") == "still paused: the probe got no answer from ZIM"]
            kinds = sorted("HTTP 503" if "HTTP 503" in r["message"] else
                           "not JSON" if "not JSON" in r["message"] else "transport"
                           for r in still)
            # A drop on a reused connection is re-sent by libcurl itself, so
            # each drop is a transport failure or nothing, depending on which
            # connection the probe took.
            assert [k for k in kinds if k != "transport"] == ["HTTP 503", "not JSON"] and \
                kinds.count("transport") <= 2, "still-paused records: %s" % still
            assert w.metric("pause", 'cause="systemic"') == 1
            assert w.http("/readyz")[0] == 503
            assert values(mk.bootstrap) == [], "results published during the pause"
            assert all(o == -1 for o in committed(mk).values())
            # One probe at a time: after the faults, only systemic answers, no burst.
            after = reqs[before:]
            assert all(r["fault"] in faults or r["code"] == 100000005 for r in after), after
            assert len(after) <= len(faults) + 3, "%d calls after the faults" % len(after)
            print("  %d probes without a ZIM answer (%s): still paused, %d calls in all"
                  % (len(still), ", ".join(kinds), len(reqs)), flush=True)
            sb.set_secret(WRONG)
            assert_resumed(w, mk, sb, where, ends, time.monotonic())
            rc = w.terminate()
            assert rc == 0, "exit %d; log:\n%s" % (rc, w.dump())


def test_http_401_pause_then_reset():
    http_case(401)


def test_http_403_pause_then_reset():
    http_case(403)


def main():
    t = TestRun()
    t.case(test_wrong_secret_pause_then_fix_at_runtime)
    t.case(test_wrong_secret_restart_with_right_secret)
    t.case(test_http_401_pause_then_reset)
    t.case(test_http_403_pause_then_reset)
    t.case(test_no_answer_does_not_end_pause)
    t.finish()


if __name__ == "__main__":
    main()
