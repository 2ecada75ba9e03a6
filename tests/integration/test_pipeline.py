#!/usr/bin/env python3
"""test_pipeline.py - the real worker end to end: MockKafka + zim-sandbox + kcat.

Cases (each asserts on the sandbox request log AND on the result topic):

- mixed_events: 200 valid events over 3 partitions (both types, per-type
  default delete_type, per-event overrides, CloudEvents structured mode,
  occurred_at, traceparent headers, URL-delimiter user ids): one success
  result each, with every field checked against the input position and the
  sandbox's call; offsets committed to the end after SIGTERM.
- per_user_order: 5 users x 6 events against a slow sandbox: one user's
  calls in offset order and never overlapping; different users overlapping.
- retryable_faults: code 660000001, HTTP 500, non-JSON, dropped connection
  (success after retries), 660000002 (rejected), retries exhausted while
  other users' events complete.
- dry_run: --dry-run prints one "dry_run" line per event, calls nothing,
  produces nothing, commits nothing.

Bad input (garbage, unknown types) lives in test_bad_input.py.

    ZU_BUILD_DIR=build python3 tests/integration/test_pipeline.py
"""

import json
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from zu_harness import (APP_ID, cluster, DLQ_TOPIC, INPUT_TOPIC, RESULT_TOPIC,  # noqa: E402
                        TestRun, Worker, event, results, write_config)
from zu_kafka import consume_all, produce, wait_for  # noqa: E402

GROUP = "zu-test"  # write_config's kafka.group_id
TOPICS = {INPUT_TOPIC: 3, RESULT_TOPIC: 1, DLQ_TOPIC: 1}
RESULT_KEYS = ["schema", "status", "event_id", "event_type", "user_id", "app_id", "delete_type",
               "code", "message", "request_id", "attempts", "error_class", "source",
               "occurred_at", "received_at", "completed_at", "worker"]

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

# ---- helpers (test_bad_input.py imports them) ----


def dumps(doc):
    """A compact JSON value (bytes)."""
    return json.dumps(doc, separators=(",", ":")).encode()


def input_positions(mk):
    """{value bytes: (partition, offset)} of every input message (values must be unique)."""
    pos = {}
    for m in consume_all(mk.bootstrap, INPUT_TOPIC):
        assert m["value"] not in pos, "test bug: input value not unique: %r" % m["value"][:80]
        pos[m["value"]] = (m["partition"], m["offset"])
    return pos


def end_offsets(positions):
    """{partition: end offset} from (partition, offset) pairs."""
    ends = {}
    for p, o in positions:
        ends[p] = max(ends.get(p, 0), o + 1)
    return ends


def read_results(mk):
    """Result messages: [(message, parsed value)]."""
    return results(mk.bootstrap, timeout=60)


def run_worker(cfg, done, timeout=120, args=()):
    """Starts the worker, waits until done() is true, stops it with SIGTERM and
    asserts exit 0. Returns (worker, seconds from start until done)."""
    with Worker(cfg, args=args).start() as w:
        t0 = time.monotonic()
        ok = wait_for(done, timeout=timeout, interval=0.5)
        elapsed = time.monotonic() - t0
        rc = w.terminate()
        assert ok, "not done within %ss; worker log tail:\n%s" % (timeout, w.dump())
        assert rc == 0, "worker exit %s after SIGTERM; log tail:\n%s" % (rc, w.dump())
    os.unlink(w.log_path)  # kept when the case failed
    return w, elapsed


def check_result_common(v, ctx, worker_id):
    """What every result carries, whatever its outcome."""
    assert list(v) == RESULT_KEYS, "%s: members %r" % (ctx, list(v))
    assert v["schema"] == "zim-unfriend/result/v1", ctx
    assert v["app_id"] == APP_ID, ctx
    assert v["worker"] == worker_id, "%s: worker %r, want %r" % (ctx, v["worker"], worker_id)
    for k in ("received_at", "completed_at"):
        assert TIME_RE.match(v[k]), "%s: %s %r" % (ctx, k, v[k])
    assert v["received_at"] <= v["completed_at"], ctx


class StdoutLines:
    """Collects the worker's stdout lines while it runs (for --dry-run)."""

    def __init__(self, w):
        self.lines = []
        w.stdout = ""  # Worker.wait() must not read the pipe too
        self.thread = threading.Thread(target=self._read, args=(w.proc.stdout,), daemon=True)
        self.thread.start()

    def _read(self, f):
        for raw in f:
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def join(self):
        self.thread.join(timeout=30)


# ---- cases ----

# User ids with URL delimiters: every query value must be percent-encoded.
SPECIAL_USERS = ["u+1!~", "a=b&c", "x%y#z", "[a]{b}|c", "(p)<q>?r", "m:n;o@p", "^_$", "A.b-C",
                 "0123456789abcdefghijABCDEFGHIJ+="]


def case1_events():
    """200 valid events: (message dict for produce(), expectation dict)."""
    out = []
    for i in range(200):
        if i % 5 == 0:
            uid = SPECIAL_USERS[(i // 5) % len(SPECIAL_USERS)]
        elif i % 10 == 3:
            uid = "nodef-%d" % i  # no event_id: unique value all the same
        else:
            uid = "user-%02d" % (i % 60)
        type_ = "friend-reset" if i % 2 else "account-deleted"
        override = [("two-way", 0), ("one-way", 1), (0, 0), (1, 1), None, None, None][i % 7]
        dt = override[1] if override else (1 if type_ == "friend-reset" else 0)
        occurred = "2026-11-25T18:%02d:%02d.000Z" % (i // 60, i % 60) if i % 4 == 0 else None
        tp = "00-%032x-%016x-01" % (0xabc000 + i, 0xdef000 + i) if i % 15 == 0 else None
        tp_copied = tp
        if i == 30:  # not W3C and long: not copied (logged once, counted)
            tp, tp_copied = "vendor-" + "x" * 600, None
        elif i == 45:  # control characters: not copied
            tp, tp_copied = "00-\tbad\x7f-01", None
        elif i == 60:  # a later version may append fields: copied
            tp = tp_copied = "01-%032x-%016x-01-future" % (0xabc000 + i, 0xdef000 + i)
        if i % 6 == 5:
            eid = "ce-%03d" % i
            data = {"user_id": uid}
            if override:
                data["delete_type"] = override[0]
            doc = {"specversion": "1.0", "id": eid, "type": type_, "source": "/zu-test",
                   "datacontenttype": "application/json", "data": data}
            if occurred:
                doc["time"] = occurred
        else:
            eid = None if i % 10 == 3 else "e-%03d" % i
            doc = {"type": type_, "user_id": uid}
            if eid:
                doc["event_id"] = eid
            if override:
                doc["delete_type"] = override[0]
            if occurred:
                doc["occurred_at"] = occurred
            if i % 9 == 4:
                doc["app_id"] = APP_ID
        msg = {"value": dumps(doc), "key": uid.encode(),
               "partition": sum(uid.encode()) % 3,
               "headers": [("traceparent", tp)] if tp else []}
        out.append((msg, {"event_id": eid, "user_id": uid, "type": type_, "delete_type": dt,
                          "occurred_at": occurred, "traceparent": tp_copied}))
    # produce() sends runs of equal (headers, partition) in one kcat call.
    out.sort(key=lambda me: (me[0]["partition"], bool(me[0]["headers"])))
    return out


def test_mixed_events():
    evs = case1_events()
    with cluster(sandbox_kw={"qps": 0}) as (tmp, mk, sb):
        produce(mk.bootstrap, INPUT_TOPIC, [m for m, _ in evs])
        pos = input_positions(mk)
        ends = end_offsets(pos.values())
        assert sorted(ends) == [0, 1, 2], ends
        cfg = write_config(tmp, mk.bootstrap, sb.endpoint, zim={"rate_limit_qps": 500.0},
                           events={"friend_reset": {"match": ["friend-reset"],
                                                    "delete_type": "one-way"}})
        w, elapsed = run_worker(cfg, lambda: len(read_results(mk)) >= 200)
        print("case 1: %d results in %.2f s (worker start to last result seen)"
              % (len(read_results(mk)), elapsed), flush=True)
        rs = read_results(mk)
        reqs = sb.requests()
        committed = mk.committed(GROUP, INPUT_TOPIC)

    # The sandbox: exactly one admitted call per event, all answered 0.
    assert len(reqs) == 200, "sandbox saw %d requests" % len(reqs)
    by_rid = {r["request_id"]: r for r in reqs}
    assert len(by_rid) == 200, "request ids not unique"
    for r in reqs:
        assert r["code"] == 0 and r["http_status"] == 200 and r["fault"] is None, r
        assert r["app_id"] == APP_ID, r

    assert len(rs) == 200, "%d results" % len(rs)
    by_eid = {}
    for m, v in rs:
        assert v["event_id"] not in by_eid, "two results for %s" % v["event_id"]
        by_eid[v["event_id"]] = (m, v)
    worker_id = "%s/%d" % (os.uname().nodename, w.proc.pid)
    for msg, exp in evs:
        part, off = pos[msg["value"]]
        eid = exp["event_id"] or "%s/%d/%d" % (INPUT_TOPIC, part, off)
        assert eid in by_eid, "no result for %s" % eid
        m, v = by_eid[eid]
        ctx = "event %s: %s" % (eid, v)
        check_result_common(v, ctx, worker_id)
        assert v["status"] == "success" and v["error_class"] is None, ctx
        assert v["code"] == 0 and v["message"] == "success" and v["attempts"] == 1, ctx
        assert v["event_type"] == exp["type"] and v["user_id"] == exp["user_id"], ctx
        assert v["delete_type"] == exp["delete_type"], ctx
        assert v["occurred_at"] == exp["occurred_at"], ctx
        assert v["source"] == {"topic": INPUT_TOPIC, "partition": part, "offset": off}, ctx
        assert m["key"] == exp["user_id"].encode(), ctx
        want_h = [("event_id", eid.encode()), ("status", b"success")]
        if exp["traceparent"]:
            want_h.append(("traceparent", exp["traceparent"].encode()))
        assert sorted(m["headers"]) == sorted(want_h), "%s headers %r" % (ctx, m["headers"])
        req = by_rid.get(v["request_id"])
        assert req is not None, "%s: request_id unknown to the sandbox" % ctx
        assert req["user_id"] == exp["user_id"], "%s: sandbox saw %r" % (ctx, req)
        assert req["delete_type"] == exp["delete_type"], "%s: sandbox saw %r" % (ctx, req)
        del by_rid[v["request_id"]]
    assert not by_rid, "sandbox calls without a result: %r" % list(by_rid.values())[:3]
    assert committed == ends, "committed %r, partition ends %r" % (committed, ends)
    span = (max(r["ts_end_us"] for r in reqs) - min(r["ts_start_us"] for r in reqs)) / 1e6
    print("case 1: the sandbox answered the 200 calls within %.2f s" % span, flush=True)


def test_per_user_order():
    users = ["ord-%d" % k for k in range(5)]
    msgs = []
    for p in range(3):
        for seq in range(6):
            for k, u in enumerate(users):
                if k % 3 == p:
                    msgs.append({"value": event("account-deleted", u, event_id="%s/%d" % (u, seq)),
                                 "key": u, "partition": p})
    with cluster(sandbox_kw={"qps": 0, "latency_ms": 100}) as (tmp, mk, sb):
        produce(mk.bootstrap, INPUT_TOPIC, msgs)
        pos = input_positions(mk)
        cfg = write_config(tmp, mk.bootstrap, sb.endpoint, zim={"rate_limit_qps": 500.0})
        run_worker(cfg, lambda: len(read_results(mk)) >= 30)
        rs = read_results(mk)
        reqs = sb.requests()

    assert len(rs) == 30 and len(reqs) == 30, "%d results, %d requests" % (len(rs), len(reqs))
    by_rid = {v["request_id"]: v for _, v in rs}
    for _, v in rs:
        assert v["status"] == "success" and v["attempts"] == 1, v
        user, seq = v["event_id"].split("/")
        want = event("account-deleted", user, event_id=v["event_id"])
        assert (v["source"]["partition"], v["source"]["offset"]) == pos[want], v
    for u in users:
        mine = sorted((r for r in reqs if r["user_id"] == u), key=lambda r: r["ts_start_us"])
        assert len(mine) == 6, "%s: %d calls" % (u, len(mine))
        seqs = [int(by_rid[r["request_id"]]["event_id"].split("/")[1]) for r in mine]
        assert seqs == list(range(6)), "%s: calls in event order %r" % (u, seqs)
        offs = [by_rid[r["request_id"]]["source"]["offset"] for r in mine]
        assert offs == sorted(offs), "%s: offsets %r" % (u, offs)
        for a, b in zip(mine, mine[1:]):
            assert a["ts_end_us"] <= b["ts_start_us"], "%s: calls overlap: %r %r" % (u, a, b)
    overlaps = 0
    for i, a in enumerate(reqs):
        for b in reqs[i + 1:]:
            if a["user_id"] != b["user_id"] and max(a["ts_start_us"], b["ts_start_us"]) < min(
                    a["ts_end_us"], b["ts_end_us"]):
                overlaps += 1
    edges = sorted([(r["ts_start_us"], 1) for r in reqs] + [(r["ts_end_us"], -1) for r in reqs])
    level = peak = 0
    for _, d in edges:
        level += d
        peak = max(peak, level)
    span = (max(r["ts_end_us"] for r in reqs) - min(r["ts_start_us"] for r in reqs)) / 1e6
    print("case 2: %d overlapping call pairs of different users, peak %d concurrent calls, "
          "30 calls in %.2f s" % (overlaps, peak, span), flush=True)
    assert overlaps > 0, "different users never ran concurrently"


FAULTS = {  # user: (fault kind, count, expected status, error_class, attempts)
    "r-busy": ("code:660000001", 2, "success", None, 3),
    "r-http": ("http:500", 2, "success", None, 3),
    "r-nonjson": ("nonjson", 1, "success", None, 2),
    "r-drop": ("drop", 1, "success", None, 2),
    "r-rej": ("code:660000002", 1, "failure", "rejected", 1),
    "r-exh": ("http:500", 10, "failure", "retries_exhausted", 3),
}


def test_retryable_faults():
    others = ["ok-%02d" % k for k in range(10)]
    # r-exh first on partition 0, then ten other users behind it.
    msgs = [{"value": event("account-deleted", "r-exh", event_id="r-exh"), "key": "r-exh",
             "partition": 0}]
    msgs += [{"value": event("account-deleted", u, event_id=u), "key": u, "partition": 0}
             for u in others]
    msgs += [{"value": event("friend-reset", u, event_id=u), "key": u, "partition": 1 + k % 2}
             for k, u in enumerate(sorted(FAULTS)) if u != "r-exh"]
    with cluster(sandbox_kw={"qps": 0, "latency_ms": 300}) as (tmp, mk, sb):
        for u, (kind, count, *_rest) in FAULTS.items():
            sb.fault(kind, count=count, user=u)
        produce(mk.bootstrap, INPUT_TOPIC, msgs)
        cfg = write_config(tmp, mk.bootstrap, sb.endpoint, zim={"rate_limit_qps": 500.0},
                           retry={"max_attempts": 3, "initial_backoff_ms": 50,
                                  "max_backoff_ms": 200})
        w, _ = run_worker(cfg, lambda: len(read_results(mk)) >= len(msgs))
        rs = read_results(mk)
        reqs = sb.requests()
        stats = sb.stats()

    worker_id = "%s/%d" % (os.uname().nodename, w.proc.pid)
    assert len(rs) == len(msgs), "%d results" % len(rs)
    by_eid = {v["event_id"]: (m, v) for m, v in rs}
    assert len(by_eid) == len(msgs)
    calls = {}
    for r in sorted(reqs, key=lambda r: r["ts_start_us"]):
        calls.setdefault(r["user_id"], []).append(r)
    for u, (kind, count, status, eclass, attempts) in FAULTS.items():
        m, v = by_eid[u]
        ctx = "%s: %s" % (u, v)
        check_result_common(v, ctx, worker_id)
        mine = calls.get(u, [])
        # r-exh: a last attempt that fails while another user fails too with
        # nobody answered in between is not counted, so timing may add a call.
        if u == "r-exh":
            assert attempts <= len(mine) <= attempts + 2, "%s: %d calls: %r" % (u, len(mine), mine)
        else:
            assert len(mine) == attempts, "%s: %d calls: %r" % (u, len(mine), mine)
        assert v["status"] == status and v["error_class"] == eclass, ctx
        assert v["attempts"] == len(mine), ctx
        assert m["headers"] == [("event_id", u.encode()), ("status", status.encode())], ctx
        assert m["key"] == u.encode(), ctx
        assert v["delete_type"] == 0, ctx  # friend-reset's default two-way here
        assert all(r["delete_type"] == 0 for r in mine), mine
        faulted = mine if u in ("r-exh", "r-rej") else mine[:-1]
        for r in faulted:
            assert r["fault"] == kind, "%s: %r" % (u, r)
            if kind == "drop":
                assert r["http_status"] == 0 and r["code"] is None, r
            elif kind == "nonjson":
                assert r["http_status"] == 200 and r["code"] is None, r
        last = mine[-1]
        if status == "success":
            assert last["fault"] is None and last["code"] == 0, "%s: %r" % (u, last)
            assert v["code"] == 0 and v["request_id"] == last["request_id"], ctx
        elif u == "r-rej":
            assert v["code"] == 660000002 and v["request_id"] == last["request_id"], ctx
            assert last["code"] == 660000002, last
        else:  # exhausted on HTTP 500: never got a ZIM answer
            assert v["code"] is None and v["request_id"] is None, ctx
            assert all(r["http_status"] == 500 for r in mine), mine
            assert "500" in v["message"], ctx
    assert stats["faults_pending"] == 10 - len(calls["r-exh"]), stats  # r-exh's unused ones
    # Not held up: the users queued behind r-exh on its partition were called
    # before its second attempt and answered before its last.
    exh = calls["r-exh"]
    for u in others:
        m, v = by_eid[u]
        assert v["status"] == "success" and v["attempts"] == 1, v
        (r,) = calls[u]
        assert r["request_id"] == v["request_id"], (r, v)
        assert r["ts_start_us"] < exh[1]["ts_start_us"], "%s called after r-exh's retry" % u
        assert r["ts_end_us"] <= exh[2]["ts_start_us"], "%s answered after r-exh gave up" % u
        assert v["completed_at"] <= by_eid["r-exh"][1]["completed_at"], (v, by_eid["r-exh"])
    print("case 4: r-exh attempts started at +0, +%.0f, +%.0f ms; others answered by +%.0f ms"
          % ((exh[1]["ts_start_us"] - exh[0]["ts_start_us"]) / 1e3,
             (exh[2]["ts_start_us"] - exh[0]["ts_start_us"]) / 1e3,
             (max(calls[u][0]["ts_end_us"] for u in others) - exh[0]["ts_start_us"]) / 1e3),
          flush=True)


def test_dry_run():
    good = [(event("account-deleted", "d-1", event_id="d1"), 0, None),
            (event("friend-reset", "d-2", event_id="d2"), 1, None),
            (event("account-deleted", "d-3", event_id="d3", delete_type="one-way"), 1, None)]
    bad = [(b"not json", None, "invalid JSON"),
           (event("account-deleted", "d/4", event_id="d4"), None, "character '/' not allowed")]
    unknown = event("account-created", "d-5", event_id="d5")
    msgs = [{"value": v, "key": b"k%d" % i, "partition": 0}
            for i, (v, _, _) in enumerate(good + bad)]
    msgs.insert(2, {"value": unknown, "key": b"k-unknown", "partition": 0})
    msgs.append({"value": event("account-deleted", "d-6", event_id="d6"), "key": b"k6",
                 "partition": 1})
    good.append((msgs[-1]["value"], 0, None))
    with cluster(sandbox_kw={"qps": 0}) as (tmp, mk, sb):
        produce(mk.bootstrap, INPUT_TOPIC, msgs)
        pos = input_positions(mk)
        cfg = write_config(tmp, mk.bootstrap, sb.endpoint, events={
            "friend_reset": {"match": ["friend-reset"], "delete_type": "one-way"}})
        with Worker(cfg, args=["--dry-run"]).start() as w:
            out = StdoutLines(w)
            ok = wait_for(lambda: len(out.lines) >= len(good) + len(bad), timeout=60)
            # The endpoint works without a scheduler: ready (partitions, no
            # pause), metrics with the dry-run outcome and the lag.
            ready = w.http("/readyz")
            status, metrics = w.http("/metrics")
            rc = w.terminate()
            out.join()
            assert ok, "dry run printed %r; log:\n%s" % (out.lines, w.dump())
            assert rc == 0, "exit %d; log:\n%s" % (rc, w.dump())
        os.unlink(w.log_path)
        reqs = sb.requests()
        stats = sb.stats()
        res_msgs = consume_all(mk.bootstrap, RESULT_TOPIC)
        dlq_msgs = consume_all(mk.bootstrap, DLQ_TOPIC)
        committed = mk.committed(GROUP, INPUT_TOPIC)

    assert ready == (200, "ok\n"), ready
    assert status == 200 and 'zim_unfriend_events_total{outcome="dry_run"} 6' in metrics, metrics
    assert 'zim_unfriend_consumer_lag{topic="%s",partition="0"}' % INPUT_TOPIC in metrics, metrics
    lines = [json.loads(x) for x in out.lines]
    assert len(lines) == len(good) + len(bad), lines
    by_src = {(d["source"]["partition"], d["source"]["offset"]): d for d in lines}
    assert len(by_src) == len(lines), lines
    for value, dt, why in good + bad:
        part, off = pos[value]
        d = by_src.pop((part, off))
        assert d["status"] == "dry_run" and d["attempts"] == 0, d
        assert d["code"] is None and d["request_id"] is None, d
        assert d["source"]["topic"] == INPUT_TOPIC, d
        if why is None:
            assert d["error_class"] is None and d["delete_type"] == dt, d
            assert d["message"] == "dry run: DeleteAllFriends not called", d
        else:
            assert d["error_class"] == "invalid_event" and why in d["message"], d
    assert not by_src, by_src
    assert pos[unknown] not in [(d["source"]["partition"], d["source"]["offset"]) for d in lines]
    assert reqs == [] and stats["requests"] == 0, (reqs, stats)
    assert res_msgs == [] and dlq_msgs == [], (res_msgs, dlq_msgs)
    assert set(committed.values()) == {-1}, committed


def main():
    t = TestRun()
    t.case(test_mixed_events)
    t.case(test_per_user_order)
    t.case(test_retryable_faults)
    t.case(test_dry_run)
    t.finish()


if __name__ == "__main__":
    main()
