#!/usr/bin/env python3
"""Integration test: --redrive processes failures again, and only them.

A first run leaves failures: a user's two events exhaust their retries (busy
answers, small max_attempts), another user's event is rejected. `--redrive --from-beginning
--until-end --group X` then reads the result topic, calls again for exactly
the retries_exhausted events, publishes new results that keep the original
source and carry redrive_of (the failure result's coordinates), logs a
summary and exits 0. rejected results are redriven only when
redrive.error_classes lists them.

    ZU_BUILD_DIR=build python3 tests/integration/test_redrive.py
"""

import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zu_harness import (cluster, DLQ_TOPIC, INPUT_TOPIC, RESULT_TOPIC, TestRun,  # noqa: E402
                        Worker, event, produce, wait_for, write_config)
from zu_kafka import consume_all  # noqa: E402

# A second input topic with a long name: an event there without an
# event_id gets a default one ("<topic>/<partition>/<offset>") longer than an
# event's own may be (128), and keeps it through the redrive.
LONG_TOPIC = "zu-input-" + "l" * 191
TOPICS = {INPUT_TOPIC: 2, LONG_TOPIC: 1, RESULT_TOPIC: 2, DLQ_TOPIC: 1}


def results(bootstrap):
    """(message, parsed value) of the result topic's records, in order per
    partition; the record that is not a result is left out."""
    return [(m, json.loads(m["value"])) for m in consume_all(bootstrap, RESULT_TOPIC)
            if m["value"] != b"not a result"]


def summary(w):
    recs = [r for r in w.logs() if r.get("msg") == "redrive summary"]
    assert len(recs) == 1, w.dump()
    return {k: int(recs[0][k]) for k in ("redriven", "skipped_success", "skipped_other_class",
                                         "unparseable")}


def test_redrive():
    with cluster(topics=TOPICS, sandbox_kw={"qps": 0}) as (tmp, mk, sb):
        cfg = write_config(tmp, mk.bootstrap, sb.endpoint,
                           # Backoff long enough for other users' answers to come
                           # in between: two users failing alone with nobody
                           # answered in between would look like an outage.
                           retry={"max_attempts": 3, "initial_backoff_ms": 400,
                                  "max_backoff_ms": 800},
                           kafka={"input_topics": [INPUT_TOPIC, LONG_TOPIC]})
        # One user's two events exhaust their retries (one user failing
        # alone: never taken for an outage).
        sb.fault("code:660000001", count=6, user="bad-1")
        sb.fault("code:660000002", count=1, user="rej")
        msgs = []
        for i in range(20):
            uid = {3: "bad-1", 8: "bad-1", 12: "rej"}.get(i, "ok-%02d" % i)
            if i == 8:
                continue
            msgs.append({"key": uid.encode(),
                         "value": event(user_id=uid, event_id="r-%02d" % i,
                                        delete_type="two-way")})
        produce(mk.bootstrap, INPUT_TOPIC, msgs)
        # Event 8 has no event_id, on the long-named topic.
        produce(mk.bootstrap, LONG_TOPIC, [{"key": b"bad-1",
                                            "value": event(user_id="bad-1",
                                                           delete_type="one-way")}])
        long_id = LONG_TOPIC + "/0/0"
        # Not a result record: counted as unparseable by the redrive.
        produce(mk.bootstrap, RESULT_TOPIC, [{"key": b"x", "value": b"not a result"}])
        with Worker(cfg).start() as w:
            assert wait_for(lambda: len(results(mk.bootstrap)) >= 20, timeout=60), w.dump()
            assert w.terminate() == 0
        first = results(mk.bootstrap)
        failed = {v["event_id"]: (m, v) for m, v in first if v["status"] == "failure"}
        assert sorted((k, v["error_class"]) for k, (m, v) in failed.items()) == \
            sorted([("r-03", "retries_exhausted"), (long_id, "retries_exhausted"),
                    ("r-12", "rejected")])
        calls_before = len(sb.requests())

        # Redrive the default classes: exactly the two exhausted events. The
        # second call takes 2 s, so the first one's new result (past the end
        # offsets the job noted) is in the topic while the job still reads:
        # it is not the job's, neither counted nor redriven.
        sb.fault("latency:0", count=1, user="bad-1")
        sb.fault("latency:2000", count=1, user="bad-1")
        with Worker(cfg, args=["--redrive", "--from-beginning", "--until-end",
                               "--group", "zu-redrive-1"]).start() as w:
            assert w.wait(timeout=90) == 0, w.dump()
            # 17 successes, or more: the mock cluster keeps the duplicate of a
            # produce request the idempotent producer sends again (Guarantee 1
            # allows it), so a result may stand twice in the topic. The job
            # counts exactly what stands there up to its end offsets.
            oks = sum(1 for _, v in first if v["status"] == "success")
            assert oks >= 17, oks
            assert summary(w) == {"redriven": 2, "skipped_success": oks,
                                  "skipped_other_class": 1, "unparseable": 1}, summary(w)
        calls = sb.requests()[calls_before:]
        assert sorted((r["user_id"], r["delete_type"]) for r in calls) == \
            [("bad-1", 0), ("bad-1", 1)], calls
        now = results(mk.bootstrap)
        old_keys = {(m["partition"], m["offset"]) for m, _ in first}
        new = [(m, v) for m, v in now if (m["partition"], m["offset"]) not in old_keys]
        assert len(new) == 2, new
        for m, v in new:
            fm, fv = failed[v["event_id"]]
            assert v["status"] == "success" and v["code"] == 0, v
            assert v["source"] == fv["source"], (v, fv)
            assert v["redrive_of"] == {"topic": RESULT_TOPIC, "partition": fm["partition"],
                                       "offset": fm["offset"]}, (v, fm)
            assert (v["user_id"], v["event_type"], v["delete_type"]) == \
                (fv["user_id"], fv["event_type"], fv["delete_type"]), (v, fv)
            assert m["key"] == v["user_id"].encode()
        # The redrive job committed on the result topic under its own group only.
        assert mk.committed("zu-redrive-1", RESULT_TOPIC) != {}
        assert all(o == -1 for o in mk.committed("zu-redrive-1", INPUT_TOPIC).values())

        # rejected is redriven only when listed.
        cfg2 = write_config(tmp, mk.bootstrap, sb.endpoint,
                            redrive={"error_classes": ["rejected"]})
        calls_before = len(sb.requests())
        with Worker(cfg2, args=["--redrive", "--from-beginning", "--until-end",
                                "--group", "zu-redrive-2"]).start() as w:
            assert w.wait(timeout=90) == 0, w.dump()
            s = summary(w)
            assert s["redriven"] == 1 and s["skipped_other_class"] == 2, s
        calls = sb.requests()[calls_before:]
        assert [r["user_id"] for r in calls] == ["rej"], calls
        last = [v for _, v in results(mk.bootstrap) if v["event_id"] == "r-12"][-1]
        assert "redrive_of" in last and last["status"] == "success" and \
            last["source"] == failed["r-12"][1]["source"], last
        print("  first run: 2 exhausted (one with a %d-character default event_id), 1 rejected "
              "of 20; redrive: 2 calls, 2 new results with redrive_of; rejected redriven only "
              "when listed" % len(long_id), flush=True)


def test_redrive_needs_until_end():
    with tempfile.TemporaryDirectory(prefix="zu-redrive-") as tmp:
        cfg = write_config(tmp, "127.0.0.1:1", "http://127.0.0.1:1/")
        with Worker(cfg, args=["--redrive"]).start() as w:
            assert w.wait(timeout=30) == 64, w.dump()
        err = open(w.log_path).read()
        assert "--redrive is a job: it needs --until-end" in err, err


if __name__ == "__main__":
    run = TestRun()
    run.case(test_redrive_needs_until_end)
    run.case(test_redrive)
    run.finish()
