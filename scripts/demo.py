#!/usr/bin/env python3
"""The zim-unfriend demo: the real worker on an embedded Kafka mock cluster and
the zim-sandbox ZIM server. Produces a few dozen sample events (valid,
invalid, both types, CloudEvents, Avro events framed for Schema Registry, a
retried call), runs the worker until every event has a result, prints the
results as a table, and stops everything."""

import io
import json
import os
import struct
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from zu_kafka import MockKafka, produce  # noqa: E402
from zu_harness import (DLQ_TOPIC, INPUT_TOPIC, RESULT_TOPIC, Sandbox, Worker,  # noqa: E402
                        consume_all, event, results, wait_for, write_config)
from zu_registry import Registry  # noqa: E402

try:
    import avro.io
    import avro.schema
except ImportError:  # Debian's python3-avro, seen from a python3 that is not Debian's
    sys.path.append("/usr/lib/python3/dist-packages")
    import avro.io
    import avro.schema

# The Avro schema the demo's framed events are written with (registry id 1).
AVRO_SCHEMA = json.dumps({
    "type": "record", "name": "AccountEvent", "namespace": "com.example.accounts",
    "fields": [{"name": "type", "type": "string"},
               {"name": "user_id", "type": ["null", "string"], "default": None},
               {"name": "event_id", "type": ["null", "string"], "default": None},
               {"name": "delete_type", "type": ["null", "string", "int"], "default": None}]})


def avro_event(schema_id, **record):
    """A record encoded by python3-avro and framed for Schema Registry:
    0x00, the schema id (4 bytes big-endian), the Avro payload."""
    schema = avro.schema.parse(AVRO_SCHEMA)
    full = {"user_id": None, "event_id": None, "delete_type": None}
    full.update(record)
    buf = io.BytesIO()
    avro.io.DatumWriter(schema).write(full, avro.io.BinaryEncoder(buf))
    return b"\x00" + struct.pack(">I", schema_id) + buf.getvalue()


def sample_events():
    msgs = []
    users = ["alice", "bob", "carol", "dave!", "eve@home", "frank[1]", "grace{x}", "heidi&co"]
    for i, u in enumerate(users):
        msgs.append((u, event("account-deleted", u, event_id="acct-%d" % i,
                              occurred_at="2026-11-25T18:00:00Z")))
    for i, u in enumerate(users[:6]):
        msgs.append((u, event("friend-reset", u, event_id="reset-%d" % i, delete_type="one-way")))
    for i in range(10):
        u = "user%03d" % i
        msgs.append((u, event("account-deleted", u, event_id="bulk-%d" % i)))
    ce = {"specversion": "1.0", "id": "ce-1", "source": "/accounts", "type": "account-deleted",
          "data": {"user_id": "ivan", "delete_type": 1}}
    msgs.append(("ivan", json.dumps(ce).encode()))
    msgs.append(("retry-me", event("account-deleted", "retry-me", event_id="retried")))
    # Invalid events: each gets a failure result and a DLQ copy.
    msgs.append(("bad-1", b"this is not json"))
    msgs.append(("bad-2", b'["an", "array"]'))
    msgs.append(("bad-3", event("account-deleted", "no/slashes", event_id="bad-user")))
    msgs.append(("bad-4", event("account-deleted", "x" * 40, event_id="too-long")))
    msgs.append(("bad-5", json.dumps({"type": "friend-reset", "event_id": "no-user"}).encode()))
    msgs.append(("bad-6", event("account-deleted", "judy", event_id="bad-type", delete_type="sideways")))
    # Avro events framed for Schema Registry (events.format = "auto"); schema
    # id 7 is not in the registry: invalid, with a DLQ copy.
    msgs.append(("mallory", avro_event(1, type="account-deleted", user_id="mallory",
                                       event_id="avro-1")))
    msgs.append(("niaj", avro_event(1, type="friend-reset", user_id="niaj", event_id="avro-2",
                                    delete_type=1)))
    msgs.append(("olivia", avro_event(1, type="account-deleted", user_id="olivia")))
    msgs.append(("bad-7", avro_event(7, type="account-deleted", user_id="peggy",
                                     event_id="avro-unknown-id")))
    # An unknown type is skipped (events.unknown_types = "ignore").
    msgs.append(("kim", event("account-created", "kim", event_id="ignored")))
    return [{"key": k.encode(), "value": v} for k, v in msgs]


def main():
    tmp = tempfile.mkdtemp(prefix="zim-unfriend-demo-")
    msgs = sample_events()
    print("Starting the Kafka mock cluster and zim-sandbox ...", flush=True)
    with MockKafka(stderr=open(os.path.join(tmp, "mock.log"), "wb")).start(
            topics={INPUT_TOPIC: 3, RESULT_TOPIC: 1, DLQ_TOPIC: 1}) as mk, \
            Sandbox(latency_ms=20).start() as sb, \
            Registry({1: (AVRO_SCHEMA, None)}).start() as reg:
        sb.fault("code:660000001", count=2, user="retry-me")
        produce(mk.bootstrap, INPUT_TOPIC, msgs)
        expect = len(msgs) - 1  # the unknown type is ignored
        print("Produced %d events to %s (Kafka at %s, ZIM sandbox at %s, Schema Registry at %s)"
              % (len(msgs), INPUT_TOPIC, mk.bootstrap, sb.endpoint, reg.url), flush=True)
        cfg = write_config(tmp, mk.bootstrap, sb.endpoint, events={"format": "auto"},
                           schema_registry={"url": reg.url})
        print("Running zim-unfriend-worker -c %s" % cfg, flush=True)
        t0 = time.time()
        with Worker(cfg, log_dir=tmp).start() as w:
            got = wait_for(lambda: len(results(mk.bootstrap)) >= expect or None, timeout=60)
            rc = w.terminate()
        if not got:
            print("the worker did not answer every event; its log: %s" % w.log_path)
            return 1
        rows = sorted((r for _, r in results(mk.bootstrap)),
                      key=lambda r: (r["source"]["partition"], r["source"]["offset"]))
        dlq = consume_all(mk.bootstrap, DLQ_TOPIC)
        calls = sb.requests()
        committed = mk.committed("zu-test", INPUT_TOPIC)

    fmt = "%-8s %-20s %-10s %-4s %-5s %-5s %-17s %-14s %s"
    print()
    print(fmt % ("STATUS", "EVENT", "USER", "DEL", "CODE", "TRIES", "REQUEST_ID", "ERROR_CLASS",
                 "MESSAGE"))
    for r in rows:
        dt = {0: "2way", 1: "1way"}.get(r["delete_type"], "-")
        print(fmt % (r["status"], r["event_id"][:20], (r["user_id"] or "-")[:10], dt,
                     r["code"] if r["code"] is not None else "-", r["attempts"],
                     r["request_id"] or "-", r["error_class"] or "-", r["message"][:60]))
    ok = sum(1 for r in rows if r["status"] == "success")
    print()
    print("%d results (%d success, %d failure) in %.1f s; %d DeleteAllFriends calls reached the "
          "sandbox; %d dead-letter copies; worker exit code %d; committed offsets %s"
          % (len(rows), ok, len(rows) - ok, time.time() - t0, len(calls), len(dlq), rc, committed))
    print("Worker log (JSON lines): %s" % w.log_path)
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
