#!/usr/bin/env python3
"""test_schema_registry.py - events framed for Confluent Schema Registry
(events.format = "auto"), with the real worker, zim-mock-kafka, zim-sandbox
and a registry stand-in (zu_registry.py).

- formats: Avro events written by python3-avro's own encoder and JSON Schema
  events, framed (0x00, schema id, payload), get exactly the results their
  plain JSON twins get (status, code, message, type, user, delete_type,
  attempts, error class); each schema is asked for once; framed values that
  cannot be used (unknown id, undecodable Avro, a record without user_id,
  Protobuf) get an invalid_event result and a byte-exact DLQ copy; a
  partition's events keep their order behind a schema lookup.
- outage: while the registry answers 503 the worker publishes no failure
  result, commits nothing past the waiting events, /readyz says "registry
  outage pause" and pause{cause="registry_outage"} is 1; when the registry
  answers again everything succeeds.
- rebalance while held: during a registry outage a second replica joins
  and partitions move while their events wait behind the lookup; when the
  registry answers, every event gets exactly one call and one success
  result, and the first replica lets go of what it held for the partitions
  it gave up (no leak under the sanitizers: it exits 0).
- drain keeps held: events waiting for their schema on a partition being
  drained for a revoke stay held when the schema arrives, and go to the
  partition's next owner: each gets one result, published by the replica
  that owns its partition then (an invalid one's result and DLQ copy were
  produced by the draining replica, and again by the next owner when the
  delivery was not yet acknowledged at the hand-over).
- systemic: a registry that answers 401 (wrong basic_auth_user_info) pauses
  as systemic; the credential reaches the registry as basic auth, and never
  shows in --check-config or the log.

    ZU_BUILD_DIR=build python3 tests/integration/test_schema_registry.py
"""

import collections
import io
import json
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import avro.io
    import avro.schema
except ImportError:  # Debian's python3-avro, seen from a python3 that is not Debian's
    sys.path.append("/usr/lib/python3/dist-packages")
    import avro.io
    import avro.schema

from test_pipeline import GROUP, read_results  # noqa: E402
from zu_harness import (cluster, DLQ_TOPIC, INPUT_TOPIC, SECRET, TestRun, Worker, binary,  # noqa: E402
                        wait_for, write_config)
from zu_kafka import consume_all, produce  # noqa: E402
from zu_registry import Registry  # noqa: E402

AVRO_ID, JSON_ID, PROTO_ID, UNKNOWN_ID = 1, 2, 3, 99
AVRO_SCHEMA = json.dumps({
    "type": "record", "name": "AccountEvent", "namespace": "com.example.accounts",
    "fields": [
        {"name": "type", "type": "string"},
        {"name": "user_id", "type": ["null", "string"], "default": None},
        {"name": "event_id", "type": ["null", "string"], "default": None},
        {"name": "delete_type", "type": ["null", "string", "int"], "default": None},
        {"name": "app_id", "type": ["null", "long"], "default": None},
        {"name": "occurred_at", "type": ["null", "string"], "default": None},
        {"name": "source_system", "type": "string", "default": "crm"},
    ]})
JSON_SCHEMA = json.dumps({"type": "object", "properties": {"type": {"type": "string"}}})
SCHEMAS = {AVRO_ID: (AVRO_SCHEMA, None), JSON_ID: (JSON_SCHEMA, "JSON"),
           PROTO_ID: ('syntax = "proto3"; message E { string type = 1; }', "PROTOBUF")}
PAUSE_OUTAGE = ("schema registry outage: pausing intake; no failure results are published and "
                "offsets stay uncommitted until the registry answers again")
PAUSE_SYSTEMIC = ("schema registry refuses the worker (credentials or set-up wrong): pausing "
                  "intake; no failure results are published and offsets stay uncommitted until "
                  "it answers")
RESUMED = "schema registry answers again: resuming"
_parsed = avro.schema.parse(AVRO_SCHEMA)


def frame(schema_id, payload):
    return b"\x00" + struct.pack(">I", schema_id) + payload


def avro_value(record, schema_id=AVRO_ID):
    """A record encoded by python3-avro, framed."""
    full = {f.name: None for f in _parsed.fields}
    full["source_system"] = "crm"
    full.update(record)
    buf = io.BytesIO()
    avro.io.DatumWriter(_parsed).write(full, avro.io.BinaryEncoder(buf))
    return frame(schema_id, buf.getvalue())


def json_value(record, schema_id=JSON_ID):
    return frame(schema_id, json.dumps(record).encode())


def plain_value(record):
    return json.dumps(record).encode()


def config(tmp, mk, sb, reg, **sections):
    sections.setdefault("events", {})["format"] = "auto"
    sections.setdefault("schema_registry", {})["url"] = reg.url
    return write_config(tmp, mk.bootstrap, sb.endpoint, zim={"rate_limit_qps": 200.0},
                        **sections)


def outcome(v):
    """What must be equal between a framed event's result and its plain twin's."""
    return (v["status"], v["code"], v["message"], v["event_type"], v["delete_type"],
            v["attempts"], v["error_class"], v["user_id"] is not None)


# (record, twin kind) where twins: the same record as plain JSON with another
# user id and event id. None fields are left out of the JSON twins.
RECORDS = [
    {"type": "account-deleted", "user_id": "%s-1", "event_id": "%s-e1"},
    {"type": "friend-reset", "user_id": "%s-2", "event_id": "%s-e2", "delete_type": "one-way",
     "app_id": 1234567890, "occurred_at": "2026-12-01T10:00:00Z"},
    {"type": "account-deleted", "user_id": "%s-3", "event_id": "%s-e3", "delete_type": 1},
    # invalid the same way in every format
    {"type": "account-deleted", "event_id": "%s-e4"},
    {"type": "account-deleted", "user_id": "%s/5", "event_id": "%s-e5"},
    {"type": "account-deleted", "user_id": "%s-6", "event_id": "%s-e6", "app_id": 7},
    {"type": "account-deleted", "user_id": "%s-7", "event_id": "%s-e7", "delete_type": 5},
]


def fill(rec, tag):
    return {k: (v % (tag, tag) if isinstance(v, str) and v.count("%s") == 2 else
                v % tag if isinstance(v, str) and "%s" in v else v) for k, v in rec.items()}


def test_formats():
    with cluster() as (tmp, mk, sb), Registry(SCHEMAS).start() as reg:
        msgs = []
        for i, rec in enumerate(RECORDS):
            p = i % 3
            msgs.append({"value": avro_value(fill(rec, "av")), "key": b"k-av", "partition": p})
            msgs.append({"value": json_value(fill(rec, "js")), "key": b"k-js", "partition": p})
            msgs.append({"value": plain_value(fill(rec, "pl")), "key": b"k-pl", "partition": p})
        # Framed values that cannot be used: (value, message part).
        bad = [
            (frame(UNKNOWN_ID, b"\x02x"), "schema id 99 is not in the schema registry (HTTP 404, "
                                          "error_code 40403)"),
            (avro_value({"type": "account-deleted", "user_id": "bad-1"})[:-3],
             "Avro payload does not decode with schema id 1"),
            (avro_value({"type": "account-deleted", "user_id": "bad-2"}) + b"\x00",
             "Avro payload does not decode with schema id 1: 1 bytes left after the record"),
            (frame(PROTO_ID, b"\x0a\x01x"), "schema id 3 is a Protobuf schema: Protobuf is not "
                                            "supported"),
            (b"\x00\x00\x01", "value contains a NUL byte at offset 0"),  # too short: plain JSON
            # cache_ttl_ms = 0: an unknown id is asked again for every event
            (frame(UNKNOWN_ID, b"\x04yy"), "schema id 99 is not in the schema registry"),
        ]
        for j, (val, _) in enumerate(bad):
            msgs.append({"value": val, "key": b"k-bad-%d" % j, "partition": j % 3})
        # Order behind a lookup: the first event of partition 2 waits for
        # its schema (id 1 is asked by partition 0 too, but this one needs
        # a lookup of its own: id 4, another copy of the Avro schema).
        reg.schemas[4] = (AVRO_SCHEMA, "AVRO")
        order = [avro_value({"type": "account-deleted", "user_id": "ord", "event_id": "ord-0"}, 4),
                 plain_value({"type": "account-deleted", "user_id": "ord", "event_id": "ord-1"}),
                 json_value({"type": "account-deleted", "user_id": "ord", "event_id": "ord-2"}),
                 avro_value({"type": "friend-reset", "user_id": "ord", "event_id": "ord-3"}, 4)]
        msgs += [{"value": v, "key": b"ord", "partition": 2} for v in order]
        produce(mk.bootstrap, INPUT_TOPIC, msgs)
        n = len(msgs)
        cfg = config(tmp, mk, sb, reg, schema_registry={"cache_ttl_ms": 0})
        with Worker(cfg).start() as w:
            assert wait_for(lambda: len(read_results(mk)) >= n, timeout=90), w.dump()
            # The registry's causes join the scheduler's pause{cause}, which stays.
            _, body = w.http("/metrics")
            for cause in ("systemic", "outage", "registry_systemic", "registry_outage"):
                assert 'zim_unfriend_pause{cause="%s"} 0\n' % cause in body, cause
            assert w.http("/readyz") == (200, "ok\n")
            ends = {p: sum(1 for m in msgs if m["partition"] == p) for p in range(3)}
            assert wait_for(lambda: mk.committed(GROUP, INPUT_TOPIC) == ends, timeout=30), \
                mk.committed(GROUP, INPUT_TOPIC)
            assert w.metric("schema_registry_requests_total", 'outcome="schema"') == 4
            assert w.metric("schema_registry_requests_total", 'outcome="unknown_id"') == 2
            assert w.terminate() == 0, w.dump()
        rs = read_results(mk)
        by_eid = {v["event_id"]: v for _, v in rs}
        lines = []
        for i, rec in enumerate(RECORDS):
            twin = by_eid["pl-e%d" % (i + 1)]
            for tag in ("av", "js"):
                v = by_eid["%s-e%d" % (tag, i + 1)]
                assert outcome(v) == outcome(twin), "%s-e%d: %s\n plain: %s" % (tag, i + 1, v, twin)
            lines.append("  %-6s %-8s %-15s %s" % ("e%d" % (i + 1), twin["status"],
                                                   twin["error_class"] or "-",
                                                   (twin["message"] or "")[:60]))
        print("  Avro, JSON Schema and plain JSON twins (every field compared):\n" +
              "\n".join(lines), flush=True)
        # Each schema id was asked once (cached), the unknown one once.
        for sid in (AVRO_ID, JSON_ID, PROTO_ID, 4):
            assert reg.count(sid) == 1, (sid, reg.requests())
        assert reg.count(UNKNOWN_ID) == 2, reg.requests()
        # Invalid framed values: failure result, byte-exact DLQ copy.
        dlq = {m["value"]: m for m in consume_all(mk.bootstrap, DLQ_TOPIC)}
        inputs = {m["value"]: m for m in consume_all(mk.bootstrap, INPUT_TOPIC)}
        for val, why in bad:
            src = inputs[val]
            v = [v for _, v in rs if v["source"]["offset"] == src["offset"] and
                 v["source"]["partition"] == src["partition"]][0]
            assert v["status"] == "failure" and v["error_class"] == "invalid_event", v
            assert why in v["message"], (why, v["message"])
            assert v["attempts"] == 0 and v["code"] is None, v
            d = dlq.get(val)
            assert d is not None and d["key"] == src["key"], "no exact DLQ copy of %r" % val
            hdr = dict(d["headers"])
            assert hdr["error"] == v["message"].encode(), hdr
            assert hdr["source_offset"] == b"%d" % src["offset"], hdr
        # The user "ord": results in offset order, every one a success.
        ord_rs = [v for _, v in rs if v["user_id"] == "ord"]
        assert [v["event_id"] for v in ord_rs] == ["ord-0", "ord-1", "ord-2", "ord-3"], ord_rs
        assert all(v["status"] == "success" for v in ord_rs), ord_rs
        print("  %d events; %d invalid framed values to the DLQ; 'ord' in offset order; "
              "registry asked %d times" % (n, len(bad), len(reg.requests())), flush=True)


def test_outage():
    with cluster() as (tmp, mk, sb), Registry(SCHEMAS).start() as reg:
        reg.set_mode("503")
        msgs = [{"value": avro_value({"type": "account-deleted", "user_id": "out-%d" % i,
                                      "event_id": "out-%d" % i}), "partition": i % 3}
                for i in range(9)]
        produce(mk.bootstrap, INPUT_TOPIC, msgs)
        cfg = config(tmp, mk, sb, reg, retry={"initial_backoff_ms": 50, "max_backoff_ms": 1000})
        with Worker(cfg).start() as w:
            assert wait_for(lambda: [r for r in w.logs() if r.get("msg") == PAUSE_OUTAGE],
                            timeout=30), w.dump()
            assert wait_for(lambda: w.http("/readyz") == (503, "registry outage pause\n"),
                            timeout=10), w.http("/readyz")
            assert w.metric("pause", 'cause="registry_outage"') == 1
            assert w.metric("pause", 'cause="registry_systemic"') == 0
            # Probes meet the outage again and keep the pause; nothing fails.
            assert wait_for(lambda: reg.count(AVRO_ID) >= 3, timeout=20), reg.requests()
            assert read_results(mk) == []
            assert all(o <= 0 for o in mk.committed(GROUP, INPUT_TOPIC).values())
            reg.set_mode("ok")
            assert wait_for(lambda: len(read_results(mk)) >= 9, timeout=30), w.dump()
            assert [r for r in w.logs() if r.get("msg") == RESUMED]
            assert w.http("/readyz") == (200, "ok\n")
            assert w.metric("pause", 'cause="registry_outage"') == 0
            assert w.terminate() == 0, w.dump()
        vals = [v for _, v in read_results(mk)]
        assert sorted(v["event_id"] for v in vals) == sorted("out-%d" % i for i in range(9))
        assert all(v["status"] == "success" for v in vals), vals
        print("  503 for %d requests: paused, no failure, then 9 successes" %
              sum(1 for _ in reg.requests()), flush=True)


def test_rebalance_while_held():
    n = 30
    with cluster(sandbox_kw={"qps": 0}) as (tmp, mk, sb), Registry(SCHEMAS).start() as reg:
        reg.set_mode("503")
        msgs = [{"value": avro_value({"type": "account-deleted", "user_id": "rb-%d" % i,
                                      "event_id": "rb-%d" % i}), "partition": i % 3}
                for i in range(n)]
        produce(mk.bootstrap, INPUT_TOPIC, msgs)
        cfg = config(tmp, mk, sb, reg, retry={"initial_backoff_ms": 50, "max_backoff_ms": 500})
        with Worker(cfg).start() as a:
            assert wait_for(lambda: [r for r in a.logs() if r.get("msg") == PAUSE_OUTAGE],
                            timeout=30), a.dump()
            with Worker(cfg).start() as b:
                # The group moves partitions from A to B, both waiting on the registry.
                assert wait_for(lambda: any(r.get("msg") == "partition assigned"
                                            for r in b.logs()) or None, timeout=60), b.dump()
                assert wait_for(lambda: any(r.get("msg") in ("partition revoked",
                                                             "partition lost")
                                            for r in a.logs()) or None, timeout=30), a.dump()
                assert read_results(mk) == []
                reg.set_mode("ok")
                assert wait_for(lambda: len(read_results(mk)) >= n, timeout=60), \
                    "A:\n%s\nB:\n%s" % (a.dump(), b.dump())
                assert b.terminate() == 0, b.dump()
            assert a.terminate() == 0, a.dump()
        vals = [v for _, v in read_results(mk)]
        calls = collections.Counter(r["user_id"] for r in sb.requests())
    assert sorted(v["event_id"] for v in vals) == sorted("rb-%d" % i for i in range(n)), \
        collections.Counter(v["event_id"] for v in vals).most_common(3)
    assert all(v["status"] == "success" for v in vals), vals
    assert sorted(calls) == sorted("rb-%d" % i for i in range(n)), calls
    assert set(calls.values()) == {1}, calls.most_common(3)
    print("  %d events held through a rebalance: one call and one result each" % n, flush=True)


def test_drain_keeps_held():
    parts = 3
    # Per partition: a valid plain event whose call takes 6 s (the revoke's
    # drain waits for it), then a framed event without user_id (invalid),
    # waiting for its schema behind it.
    with cluster(sandbox_kw={"qps": 0, "latency_ms": 6000}) as (tmp, mk, sb), \
            Registry(SCHEMAS).start() as reg:
        reg.set_mode("hold")
        msgs = []
        for p in range(parts):
            msgs.append({"value": plain_value({"type": "account-deleted", "user_id": "dk-%d" % p,
                                               "event_id": "dk-call-%d" % p}), "partition": p})
            msgs.append({"value": avro_value({"type": "account-deleted",
                                              "event_id": "dk-bad-%d" % p}), "partition": p})
        produce(mk.bootstrap, INPUT_TOPIC, msgs)
        cfg = write_config(tmp, mk.bootstrap, sb.endpoint,
                           zim={"rate_limit_qps": 200.0, "request_timeout_ms": 15000},
                           events={"format": "auto"},
                           schema_registry={"url": reg.url, "request_timeout_ms": 30000})
        with Worker(cfg).start() as a:
            assert wait_for(lambda: any(r.get("msg") == "partition assigned"
                                        for r in a.logs()) or None, timeout=60), a.dump()
            with Worker(cfg).start() as b:
                assert wait_for(lambda: [r for r in a.logs()
                                         if r.get("msg", "").startswith("partition revoking")],
                                timeout=60), a.dump()
                reg.set_mode("ok")  # the schema arrives during the drain
                assert wait_for(lambda: len(read_results(mk)) >= 2 * parts, timeout=90), \
                    "A:\n%s\nB:\n%s" % (a.dump(), b.dump())
                moved = {int(r["partition"]) for r in a.logs()
                         if r.get("msg") == "partition revoked"}
                assert moved, a.dump()
                assert b.terminate() == 0, b.dump()
            assert a.terminate() == 0, a.dump()
        worker_of = {}
        for w in (a, b):
            for r in w.logs():
                if r.get("msg") == "worker started":
                    worker_of[w] = r["worker"]
        vals = [v for _, v in read_results(mk)]
        dlq = consume_all(mk.bootstrap, DLQ_TOPIC)
    got = collections.Counter(v["event_id"] for v in vals)
    assert len(got) == 2 * parts, got
    # The invalid events: once each. A valid one twice only where Guarantee 1
    # allows it: the draining replica's commit on revoke failed (the mock
    # answers "rebalance in progress" when the drain outlasts its rebalance).
    uncommitted = {int(r["partition"]) for r in a.logs()
                   if r.get("msg", "").startswith("commit on revoke failed")}
    for eid, n in got.items():
        p = int(eid.rsplit("-", 1)[1])
        assert n == 1 or (eid.startswith("dk-call-") and n == 2 and p in uncommitted), \
            (got, uncommitted)
    for p in moved:
        bad = [v for v in vals if v["event_id"] == "dk-bad-%d" % p][0]
        assert bad["error_class"] == "invalid_event", bad
        assert bad["worker"] == worker_of[b], \
            "partition %d's held event answered by the draining replica: %s" % (p, bad)
    assert len(dlq) == parts, [m["value"][:40] for m in dlq]
    print("  %d partition(s) moved while their events waited for the schema: the next owner "
          "answered them, one result each; %d valid event(s) repeated after a failed commit "
          "on revoke" % (len(moved), sum(1 for n in got.values() if n > 1)), flush=True)


def test_systemic_and_credentials():
    cred = "zu-reg:reg-TOPSECRET-9"
    with cluster() as (tmp, mk, sb), Registry(SCHEMAS, user_info=cred).start() as reg:
        msgs = [{"value": avro_value({"type": "account-deleted", "user_id": "sys-%d" % i,
                                      "event_id": "sys-%d" % i}), "partition": i % 3}
                for i in range(3)]
        produce(mk.bootstrap, INPUT_TOPIC, msgs)
        wrong = config(tmp, mk, sb, reg, schema_registry={"basic_auth_user_info": "zu-reg:nope"})
        # --check-config masks the credential.
        out = subprocess.run([binary("zim-unfriend-worker"), "-c", wrong, "--check-config"],
                             env=dict(os.environ, ZIM_SERVER_SECRET=SECRET),
                             capture_output=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert b'  basic_auth_user_info = "***";' in out.stdout, out.stdout
        assert b"nope" not in out.stdout and b"nope" not in out.stderr
        with Worker(wrong).start() as w:
            assert wait_for(lambda: w.http("/readyz") == (503, "registry systemic pause\n"),
                            timeout=30), w.dump()
            rec = [r for r in w.logs() if r.get("msg") == PAUSE_SYSTEMIC]
            assert rec and rec[0]["http_status"] == 401 and rec[0]["cause"] == \
                "registry_systemic", rec
            assert w.metric("pause", 'cause="registry_systemic"') == 1
            assert read_results(mk) == []
            assert w.terminate() == 0, w.dump()
        assert b"nope" not in open(w.log_path, "rb").read()
        right = config(tmp, mk, sb, reg, schema_registry={"basic_auth_user_info": cred})
        with Worker(right).start() as w:
            assert wait_for(lambda: len(read_results(mk)) >= 3, timeout=30), w.dump()
            assert w.terminate() == 0, w.dump()
        assert b"TOPSECRET" not in open(w.log_path, "rb").read()
        vals = [v for _, v in read_results(mk)]
        assert all(v["status"] == "success" for v in vals) and len(vals) == 3, vals
        print("  401: systemic pause; right credentials: 3 successes", flush=True)


if __name__ == "__main__":
    run = TestRun()
    run.case(test_formats)
    run.case(test_outage)
    run.case(test_rebalance_while_held)
    run.case(test_drain_keeps_held)
    run.case(test_systemic_and_credentials)
    run.finish()
