#!/usr/bin/env python3
"""test_bad_input.py - the real worker against garbage on the input topic.

Cases (MockKafka + zim-sandbox + kcat; helpers from test_pipeline.py):

- garbage: not JSON, a JSON array, a string, a number, null, user_id 42,
  user_id with '/', a 33-character user_id, invalid UTF-8, 1 MB of random
  bytes, an empty value, a NULL value (tombstone), a foreign app_id,
  delete_type "sideways", an unknown type (ignored), with valid events after
  all of it. Each bad event gets one failure result (invalid_event,
  attempts 0, no code, no request id, a message that explains) and a
  byte-exact DLQ copy with the documented headers; the unknown type gets
  nothing but its offset is committed; the valid events succeed; nothing
  invalid reaches the sandbox.
- unknown_types_fail: with events.unknown_types = "fail" an unknown type
  gets a failure result (invalid_event) and a DLQ copy.
- dlq_copy_too_large: a DLQ copy larger than the producer may send is given
  up with an error line; the failure result and the commit still happen.

    ZU_BUILD_DIR=build python3 tests/integration/test_bad_input.py
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from test_pipeline import (GROUP, check_result_common, dumps,  # noqa: E402
                           end_offsets, input_positions, read_results, run_worker)
from zu_harness import (APP_ID, cluster, DLQ_TOPIC, INPUT_TOPIC, TestRun, Worker, event,  # noqa: E402
                        wait_for, write_config)
from zu_kafka import consume_all, produce  # noqa: E402

AD = "account-deleted"


def garbage():
    """(message, expectation) pairs; expectation None = a valid event,
    "ignored" = an unknown type, else (user_id, event_type, message part)."""
    big = b"\xff" + os.urandom((1 << 20) - 1)  # 1 MB, invalid UTF-8 at offset 0
    p0 = [
        ({"value": b"{not json"}, (None, None, "invalid JSON")),
        # An empty key is not a missing one: the result and DLQ copy keep it empty.
        ({"value": b"{empty key", "key": b""}, (None, None, "invalid JSON")),
        ({"value": b'["account-deleted","g-arr"]', "key": b"k-array"},
         (None, None, "value is an array, not a JSON object")),
        ({"value": b'"account-deleted"', "key": b"k-string"},
         (None, None, "value is a string, not a JSON object")),
        ({"value": b"42", "key": b"k-number"},
         (None, None, "value is a number, not a JSON object")),
        ({"value": b"null", "key": b"k-null"}, (None, None, "value is null, not a JSON object")),
        ({"value": dumps({"type": AD, "user_id": 42}), "key": b"k-int"},
         (None, AD, "user_id: must be a string, not a number")),
        ({"value": event(AD, "g-ok-0", event_id="g-ok-0"), "key": b"g-ok-0"}, None),
    ]
    p1 = [
        ({"value": big, "key": b"\xff\xfe-binary-key"},
         (None, None, "value is not valid UTF-8: byte 0xFF at offset 0")),
        ({"value": b"", "key": b"k-empty"}, (None, None, "empty value")),
        ({"value": None, "key": b"k-tombstone"}, (None, None, "empty value")),
        ({"value": b'{"type":"account-deleted","user_id":"g-utf\xc3\x28"}', "key": b"k-utf8"},
         (None, None, "value is not valid UTF-8: byte 0xC3 at offset")),
        ({"value": event(AD, "g-ok-1", event_id="g-ok-1"), "key": b"g-ok-1"}, None),
    ]
    p2 = [
        ({"value": event(AD, "g/slash"), "key": b"g/slash"},
         (None, AD, "user_id: character '/' not allowed")),
        ({"value": event(AD, "g" * 33), "key": b"k-33"}, (None, AD, "user_id: 33 characters")),
        ({"value": event(AD, "g-app", app_id=1, event_id="e-g-app"), "key": b"k-app"},
         ("g-app", AD, "app_id 1 does not match configured %d" % APP_ID)),
        ({"value": event("friend-reset", "g-dt", delete_type="sideways"), "key": b"k-dt"},
         ("g-dt", "friend-reset", 'delete_type: must be "two-way", "one-way", 0 or 1')),
        ({"value": event("account-created", "g-unknown"), "key": b"g-unknown"}, "ignored"),
        ({"value": event(AD, "g-ok-2", event_id="g-ok-2"), "key": b"g-ok-2"}, None),
        ({"value": event("friend-reset", "g-ok-3", event_id="g-ok-3"), "key": b"g-ok-3"}, None),
    ]
    out = []
    for p, lst in enumerate([p0, p1, p2]):
        for m, exp in lst:
            m["partition"] = p
            out.append((m, exp))
    return out


def check_invalid(m, v, dlq, msg, exp, part, off, worker_id):
    """One invalid event's result (m, v) and DLQ copy dlq."""
    uid, etype, why = exp
    ctx = "p%d/o%d %r: %s" % (part, off, (msg["value"] or b"")[:40], v)
    eid = v["event_id"]
    check_result_common(v, ctx, worker_id)
    assert v["status"] == "failure" and v["error_class"] == "invalid_event", ctx
    assert v["code"] is None and v["request_id"] is None and v["attempts"] == 0, ctx
    assert v["delete_type"] is None, ctx
    assert why in v["message"], "%s: message should say %r" % (ctx, why)
    assert v["user_id"] == uid and v["event_type"] == etype, ctx
    assert v["source"] == {"topic": INPUT_TOPIC, "partition": part, "offset": off}, ctx
    assert m["key"] == (uid.encode() if uid else msg.get("key")), "%s: key %r" % (ctx, m["key"])
    assert m["headers"] == [("event_id", eid.encode()), ("status", b"failure")], ctx
    assert dlq is not None, "%s: no DLQ copy" % ctx
    assert dlq["value"] == msg["value"], "%s: DLQ value %r" % (ctx, (dlq["value"] or b"")[:80])
    assert dlq["key"] == msg.get("key"), "%s: DLQ key %r" % (ctx, dlq["key"])
    want = [("error_class", b"invalid_event"), ("error", v["message"].encode()),
            ("source_topic", INPUT_TOPIC.encode()), ("source_partition", b"%d" % part),
            ("source_offset", b"%d" % off)]
    assert dlq["headers"] == want, "%s: DLQ headers %r" % (ctx, dlq["headers"])


def test_garbage():
    evs = garbage()
    with cluster(sandbox_kw={"qps": 0}) as (tmp, mk, sb):
        produce(mk.bootstrap, INPUT_TOPIC, [m for m, _ in evs])
        pos = input_positions(mk)
        ends = end_offsets(pos.values())
        n_results = sum(1 for _, e in evs if e != "ignored")
        cfg = write_config(tmp, mk.bootstrap, sb.endpoint, zim={"rate_limit_qps": 500.0})
        w, _ = run_worker(cfg, lambda: len(read_results(mk)) >= n_results)
        rs = read_results(mk)
        dlq = consume_all(mk.bootstrap, DLQ_TOPIC)
        reqs = sb.requests()
        committed = mk.committed(GROUP, INPUT_TOPIC)

    worker_id = "%s/%d" % (os.uname().nodename, w.proc.pid)
    assert len(rs) == n_results, "%d results, want %d" % (len(rs), n_results)
    by_src = {}
    for m, v in rs:
        key = (v["source"]["partition"], v["source"]["offset"])
        assert key not in by_src, "two results for %r" % (key,)
        by_src[key] = (m, v)
    dlq_by_src = {}
    for d in dlq:
        h = dict(d["headers"])
        dlq_by_src[(int(h["source_partition"]), int(h["source_offset"]))] = d
    n_bad = sum(1 for _, e in evs if e not in (None, "ignored"))
    assert len(dlq) == n_bad == len(dlq_by_src), "%d DLQ messages, want %d" % (len(dlq), n_bad)
    valid_users = []
    for msg, exp in evs:
        part, off = pos[msg["value"]]
        if exp == "ignored":
            assert (part, off) not in by_src and (part, off) not in dlq_by_src, (part, off)
            continue
        m, v = by_src[(part, off)]
        if exp is None:
            assert v["status"] == "success" and v["attempts"] == 1, v
            assert v["event_id"] == v["user_id"] and m["key"] == v["user_id"].encode(), v
            valid_users.append(v["user_id"])
            continue
        want_eid = "e-g-app" if exp[0] == "g-app" else "%s/%d/%d" % (INPUT_TOPIC, part, off)
        assert v["event_id"] == want_eid, v
        check_invalid(m, v, dlq_by_src.get((part, off)), msg, exp, part, off, worker_id)
    # Nothing invalid (nor the ignored type) reached the sandbox.
    assert sorted(r["user_id"] for r in reqs) == sorted(valid_users), reqs
    assert all(r["code"] == 0 for r in reqs), reqs
    rids = {v["request_id"] for _, v in rs if v["status"] == "success"}
    assert rids == {r["request_id"] for r in reqs}, (rids, reqs)
    # Every offset is committed, the ignored one (mid partition 2) included.
    assert committed == ends, "committed %r, ends %r" % (committed, ends)


def test_unknown_types_fail():
    unknown = event("account-created", "g-unknown", event_id="e-unknown")
    msgs = [{"value": unknown, "key": b"g-unknown", "partition": 0},
            {"value": event(AD, "g-after", event_id="e-after"), "key": b"g-after",
             "partition": 0}]
    with cluster(sandbox_kw={"qps": 0}) as (tmp, mk, sb):
        produce(mk.bootstrap, INPUT_TOPIC, msgs)
        pos = input_positions(mk)
        cfg = write_config(tmp, mk.bootstrap, sb.endpoint, events={"unknown_types": "fail"})
        w, _ = run_worker(cfg, lambda: len(read_results(mk)) >= 2)
        rs = read_results(mk)
        dlq = consume_all(mk.bootstrap, DLQ_TOPIC)
        reqs = sb.requests()
        committed = mk.committed(GROUP, INPUT_TOPIC)

    worker_id = "%s/%d" % (os.uname().nodename, w.proc.pid)
    by_eid = {v["event_id"]: (m, v) for m, v in rs}
    assert sorted(by_eid) == ["e-after", "e-unknown"], rs
    m, v = by_eid["e-unknown"]
    check_invalid(m, v, dlq[0] if len(dlq) == 1 else None, msgs[0],
                  ("g-unknown", "account-created", 'type "account-created" is in neither'),
                  0, pos[unknown][1], worker_id)
    assert by_eid["e-after"][1]["status"] == "success", by_eid["e-after"]
    assert [r["user_id"] for r in reqs] == ["g-after"], reqs
    assert committed == {0: 2, 1: -1, 2: -1}, committed


def test_too_large():
    """Messages the cluster refuses as too large (over the producer's
    message.max.bytes) are sent once more reduced, without what was copied
    from the input, then given up with an error line; the partition never
    stalls, the offsets are committed.
    - a 300 kB invalid value: its DLQ copy goes without its key, is refused
      again (the value is the event itself) and is given up; its result goes;
    - a small invalid value with a 300 kB key: the result (keyed by the raw
      key: no user id) goes without the key and says so in its message; the
      DLQ copy goes without the key, with a note header."""
    big = b"\xff" + b"x" * 300000  # invalid UTF-8, 300 kB
    big_key = b"K" * 300000
    msgs = [{"value": big, "key": b"k-big", "partition": 0},
            {"value": b"not json", "key": big_key, "partition": 0},
            {"value": event(AD, "g-after-big", event_id="e-after-big"), "key": b"g-after-big",
             "partition": 0}]
    with cluster(sandbox_kw={"qps": 0}) as (tmp, mk, sb):
        produce(mk.bootstrap, INPUT_TOPIC, msgs)
        cfg = write_config(tmp, mk.bootstrap, sb.endpoint,
                           kafka={"producer": ["message.max.bytes=200000"]})
        with Worker(cfg).start() as w:
            ok = wait_for(lambda: len(read_results(mk)) >= 3 and
                          mk.committed(GROUP, INPUT_TOPIC).get(0) == 3, timeout=60)
            rc = w.terminate()
            logs = w.logs()
        rs = read_results(mk)
        dlq = consume_all(mk.bootstrap, DLQ_TOPIC)
        committed = mk.committed(GROUP, INPUT_TOPIC)
    assert ok and rc == 0, "not done (rc %s): %s %s" % (rc, rs, committed)
    by_eid = {v["event_id"]: (m, v) for m, v in rs}
    assert by_eid["e-after-big"][1]["status"] == "success", by_eid
    big_res = by_eid["account-events/0/0"][1]
    assert big_res["error_class"] == "invalid_event", big_res
    m, v = by_eid["account-events/0/1"]
    assert v["error_class"] == "invalid_event" and v["user_id"] is None, v
    assert "[result reduced: the cluster refused it as too large" in v["message"], v
    assert not m.get("key"), "the reduced result still has the key (%d bytes)" % len(m["key"])
    assert [(d["value"], d.get("key")) for d in dlq] == [(b"not json", None)], \
        [(len(d["value"] or b""), len(d.get("key") or b"")) for d in dlq]
    assert ("note", b"key not copied: the cluster refused the copy as too large") in \
        dlq[0]["headers"], dlq[0]["headers"]
    reduced = [r for r in logs if r.get("msg") == "message refused as too large; sending it reduced"]
    given_up = [r for r in logs
                if r.get("msg") == "message refused as too large; given up, not retried"]
    assert len(reduced) == 3 and all(r["level"] == "warn" for r in reduced), reduced
    assert len(given_up) == 1 and given_up[0]["level"] == "error", given_up
    assert given_up[0]["bytes"] == len(big), given_up
    assert committed[0] == 3, committed


def main():
    t = TestRun()
    t.case(test_garbage)
    t.case(test_unknown_types_fail)
    t.case(test_too_large)
    t.finish()


if __name__ == "__main__":
    main()
