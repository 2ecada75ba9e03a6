#!/usr/bin/env python3
"""test_schemas.py - the JSON Schemas in schemas/ and their examples.

Checks that schemas/event.schema.json and schemas/result.schema.json are
valid JSON Schema 2020-12, that every schemas/examples/event-*.json and
result-*.json validates against its schema, that documents the worker must
refuse are refused, and that result documents keep the documented member
order.

Real output too: a short run of the built worker against the mock cluster
and the sandbox (successes of single and shared calls, a rejection,
exhausted retries, an invalid event, then a --redrive result) is validated
against the result schema, member order included.

Needs python3 and the jsonschema module (Debian: python3-jsonschema).
"""
import glob
import json
import os
import sys

try:
    from jsonschema import Draft202012Validator
except ImportError:  # pragma: no cover
    sys.stderr.write("test_schemas.py: needs the jsonschema module (apt install python3-jsonschema)\n")
    sys.exit(1)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zu_harness import (DLQ_TOPIC, INPUT_TOPIC, RESULT_TOPIC, TestRun, Worker,  # noqa: E402
                        cluster, consume_all, event, produce, wait_for, write_config)

SRC = os.environ.get("ZU_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SCHEMAS = os.path.join(SRC, "schemas")
EXAMPLES = os.path.join(SCHEMAS, "examples")

RESULT_ORDER = [
    "schema", "status", "event_id", "event_type", "user_id", "app_id", "delete_type", "code",
    "message", "request_id", "attempts", "error_class", "source", "occurred_at", "received_at",
    "completed_at", "worker",
]
# Members present only in some results, after the others, in this order.
RESULT_OPTIONAL = ["covered_by", "redrive_of"]


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_pairs(path):
    """The top-level member names of a JSON object file, in file order."""
    with open(path, encoding="utf-8") as f:
        return json.load(f, object_pairs_hook=lambda pairs: pairs)


def validator(name):
    schema = load(os.path.join(SCHEMAS, name))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def errors(v, doc):
    return [e.message for e in v.iter_errors(doc)]


def valid(v, doc, where):
    errs = errors(v, doc)
    assert errs == [], "%s: %s" % (where, errs)


def refused(v, doc, where):
    assert errors(v, doc) != [], "accepted: %r" % (where,)


EVENT_V = validator("event.schema.json")
RESULT_V = validator("result.schema.json")


GOOD_RESULT = {
    "schema": "zim-unfriend/result/v1", "status": "success", "event_id": "e-1",
    "event_type": "account-deleted", "user_id": "u1", "app_id": 1, "delete_type": 0, "code": 0,
    "message": "success", "request_id": "r1", "attempts": 1, "error_class": None,
    "source": {"topic": "t", "partition": 0, "offset": 0}, "occurred_at": None,
    "received_at": "2026-11-25T18:00:00.123Z", "completed_at": "2026-11-25T18:00:00.456Z",
    "worker": "h/1",
}


def worker_results():
    """(raw value, parsed) of every result a short real run publishes."""
    with cluster(topics={INPUT_TOPIC: 1, RESULT_TOPIC: 1, DLQ_TOPIC: 1},
                 sandbox_kw={"qps": 0}) as (tmp, mk, sb):
        sb.fault("latency:300", count=1, user="s-1")  # the next ones wait: a shared call
        sb.fault("code:660000002", count=1, user="s-rej")
        sb.fault("code:660000001", count=2, user="s-exh")
        msgs = [{"key": b"s-1", "value": event(user_id="s-1", event_id="s-%d" % i)}
                for i in range(3)]
        msgs += [{"key": b"s-rej", "value": event(user_id="s-rej", event_id="s-rej")},
                 {"key": b"s-exh", "value": event(user_id="s-exh", event_id="s-exh",
                                                  occurred_at="2026-11-25T18:00:00Z")},
                 {"key": b"bad", "value": b"{not json"}]
        produce(mk.bootstrap, INPUT_TOPIC, msgs)
        cfg = write_config(tmp, mk.bootstrap, sb.endpoint, worker={"coalesce": True},
                           retry={"max_attempts": 2, "initial_backoff_ms": 20,
                                  "max_backoff_ms": 40})
        with Worker(cfg).start() as w:
            assert wait_for(lambda: len(consume_all(mk.bootstrap, RESULT_TOPIC)) >= 6,
                            timeout=60), w.dump()
            assert w.terminate() == 0, w.dump()
        with Worker(cfg, args=["--redrive", "--from-beginning", "--until-end", "--group",
                               "zu-schemas-redrive"]).start() as w:
            assert w.wait(timeout=60) == 0, w.dump()
        return [(m["value"], json.loads(m["value"])) for m in consume_all(mk.bootstrap,
                                                                         RESULT_TOPIC)]


def test_examples_present():
    names = {os.path.basename(p) for p in glob.glob(os.path.join(EXAMPLES, "*.json"))}
    for want in ["event-cloudevents.json", "result-success.json",
                 "result-failure-rejected.json", "result-invalid-event.json"]:
        assert want in names, (want, names)
    for n in names:
        assert n.startswith("event-") or n.startswith("result-"), n


def test_event_examples():
    paths = sorted(glob.glob(os.path.join(EXAMPLES, "event-*.json")))
    assert len(paths) >= 3, paths
    for p in paths:
        where = os.path.basename(p)
        valid(EVENT_V, load(p), where)


def test_result_examples():
    paths = sorted(glob.glob(os.path.join(EXAMPLES, "result-*.json")))
    assert len(paths) >= 3, paths
    for p in paths:
        where = os.path.basename(p)
        valid(RESULT_V, load(p), where)
        keys = [k for k, _ in load_pairs(p)]
        assert keys[:len(RESULT_ORDER)] == RESULT_ORDER, (where, keys)
        extra = keys[len(RESULT_ORDER):]
        assert extra == [k for k in RESULT_OPTIONAL if k in extra], (where, extra)


def test_result_samples():
    """Real worker output validates: successes (single and shared calls),
    rejections, exhausted retries and invalid events, from a run of the
    built worker against the mock cluster and the sandbox, and a
    --redrive result."""
    samples = worker_results()
    kinds = {(v["status"], v["error_class"], "covered_by" in v, "redrive_of" in v)
             for _, v in samples}
    for want in [("success", None, False, False), ("success", None, True, False),
                 ("failure", "rejected", False, False),
                 ("failure", "retries_exhausted", False, False),
                 ("failure", "invalid_event", False, False),
                 ("success", None, False, True)]:
        assert want in kinds, (want, kinds)
    for raw, v in samples:
        where = v.get("event_id")
        valid(RESULT_V, v, where)
        keys = [k for k, _ in json.loads(raw, object_pairs_hook=lambda p: p)]
        assert keys[:len(RESULT_ORDER)] == RESULT_ORDER, (where, keys)
        extra = keys[len(RESULT_ORDER):]
        assert extra == [k for k in RESULT_OPTIONAL if k in extra], (where, extra)


def test_events_refused():
    base = {"type": "account-deleted", "user_id": "u1"}
    ce = {"specversion": "1.0", "type": "account-deleted", "id": "c1", "source": "/s",
          "data": {"user_id": "u1"}}
    valid(EVENT_V, base, "plain event")
    valid(EVENT_V, ce, "CloudEvents event")
    bad = [
        {"user_id": "u1"},
        {"type": "account-deleted"},
        {"type": "", "user_id": "u1"},
        {"type": 5, "user_id": "u1"},
        dict(base, user_id="a/b"),
        dict(base, user_id="a b"),
        dict(base, user_id=""),
        dict(base, user_id="x" * 33),
        dict(base, user_id="u1\n"),
        dict(base, user_id="j\u00f6hn"),
        dict(base, user_id=12),
        dict(base, delete_type="TWO-WAY"),
        dict(base, delete_type=2),
        dict(base, delete_type=True),
        dict(base, delete_type=None),
        dict(base, app_id="1"),
        dict(base, app_id=-1),
        dict(base, event_id=""),
        dict(base, event_id="x" * 129),
        dict(base, occurred_at=5),
        dict(base, occurred_at="x" * 65),
        [base],
        "account-deleted",
        dict(ce, specversion="0.3"),
        {k: v for k, v in ce.items() if k != "id"},
        {k: v for k, v in ce.items() if k != "data"},
        dict({k: v for k, v in ce.items() if k != "data"}, data_base64="eyJ9"),
        dict(ce, data="u1"),
        dict(ce, data={}),
        dict(ce, data={"user_id": "a/b"}),
        dict(ce, data={"user_id": "u1", "delete_type": "both"}),
    ]
    for doc in bad:
        where = doc
        refused(EVENT_V, doc, where)
    valid(EVENT_V, dict(base, user_id="!#$%&()+-:;<=.>?@[]^_{}|~"), "every special")
    valid(EVENT_V, dict(base, user_id="x" * 32), "32 characters")


def test_results_refused():
    valid(RESULT_V, GOOD_RESULT, "a good result")
    bad = [
        dict(GOOD_RESULT, schema="zim-unfriend/result/v2"),
        dict(GOOD_RESULT, status="ok"),
        dict(GOOD_RESULT, error_class="rejected"),
        dict(GOOD_RESULT, attempts=0),
        dict(GOOD_RESULT, status="failure"),
        dict(GOOD_RESULT, status="failure", error_class="bogus"),
        dict(GOOD_RESULT, status="failure", error_class="invalid_event"),
        dict(GOOD_RESULT, status="dry_run", code=None, attempts=1),
        dict(GOOD_RESULT, delete_type=2),
        dict(GOOD_RESULT, user_id="a/b"),
        dict(GOOD_RESULT, user_id="u1\n"),
        dict(GOOD_RESULT, request_id=""),
        dict(GOOD_RESULT, received_at="2026-11-25T18:00:00Z"),
        dict(GOOD_RESULT, completed_at="2026-11-25 18:00:00.456Z"),
        dict(GOOD_RESULT, source={"topic": "t", "partition": 0}),
        {k: v for k, v in GOOD_RESULT.items() if k != "occurred_at"},
        {k: v for k, v in GOOD_RESULT.items() if k != "worker"},
    ]
    for doc in bad:
        where = doc
        refused(RESULT_V, doc, where)
    ok = [
        dict(GOOD_RESULT, user_id=None, event_type=None),
        dict(GOOD_RESULT, status="failure", error_class="retries_exhausted", code=None),
        dict(GOOD_RESULT, status="failure", error_class="invalid_event", code=None,
             attempts=0, delete_type=None, request_id=None),
        dict(GOOD_RESULT, status="dry_run", code=None, attempts=0, request_id=None),
    ]
    for doc in ok:
        where = doc
        valid(RESULT_V, doc, where)


if __name__ == "__main__":
    run = TestRun()
    for fn in (test_examples_present, test_event_examples, test_result_examples,
               test_result_samples, test_events_refused, test_results_refused):
        run.case(fn)
    run.finish()
