#!/usr/bin/env python3
"""Integration test: Kafka faults under the real zim-unfriend-worker, injected
through zim-mock-kafka's control channel (see tests/kafka/README.md), with
zim-sandbox as the API and kcat as the test's Kafka client.

docs/contract.md, Guarantee 1 (at-least-once: an input offset is committed only after
its result and every earlier one of its partition is acknowledged), Guarantee
8 (clean stop) and "a fatal librdkafka error exits 1 after a clean flush".

Cases (each: no event lost, every event ends with a success result whose
RequestId is a code-0 call in the sandbox log and whose source is its input
position, committed offsets equal the partition ends at the end, the worker
exits 0 on SIGTERM):

- broker_down_up: 3 brokers, 400-event backlog at 20 calls/s; at 1/3 of the
  results the leader of the result partition goes down for 5 s, then (once
  the held-back results are out) every broker does (the group session may
  then expire: partitions lost and assigned again). At least one success per
  event, no failure result; repeats are at-least-once and their number is
  printed.
- produce_errors: retriable Produce errors (NOT_ENOUGH_REPLICAS,
  REQUEST_TIMED_OUT, NOT_LEADER_FOR_PARTITION, ...) while results are produced:
  the idempotent producer retries; exactly one success per event and exactly
  one API call per event (a Kafka retry never repeats the API call).
- offset_commit_errors: retriable OffsetCommit errors: commits catch up to the
  ends before and after SIGTERM; exactly one success per event.
- fatal_producer_error: an OUT_OF_ORDER_SEQUENCE_NUMBER answer to the head
  request of the idempotent producer is fatal in librdkafka 2.0.2
  (rd_kafka_handle_idempotent_Produce_error): the worker logs "fatal kafka
  error" and exits 1 by itself, without sitting out the grace period; the
  committed offsets are exactly the acknowledged prefix of each partition. A
  second worker then finishes every event.

Fault settings: producer and consumer get socket.connection.setup.timeout.ms=5000
and reconnect.backoff.max.ms=1000; produce_errors runs the producer with one
request in flight, because the mock does not check the sequence numbers of an
idempotent producer (see the comment there).

    ZU_BUILD_DIR=build python3 tests/integration/test_kafka_faults.py

python3 standard library only; prints "ok name"/"FAIL name" per case and the
closing "N passed, N failed".
"""

import collections
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zu_harness import (cluster, DLQ_TOPIC, INPUT_TOPIC, RESULT_TOPIC, TestRun,  # noqa: E402
                        Worker, assert_complete, backlog, committed, successes, values,
                        wait_committed, write_config)
from zu_kafka import KCAT, KafkaError, wait_for  # noqa: E402

TOPICS = {INPUT_TOPIC: 3, RESULT_TOPIC: 1, DLQ_TOPIC: 1}
QPS = 20  # the worker's rate; the sandbox has no limit (these cases count calls,
# and a loaded machine's scheduling jitter is test_rate's business)
# Fault tests: connection attempts to a broker that is down give up in 5 s
# (librdkafka's default is 30 s), and reconnect attempts back off to at most
# 1 s (default 10 s), for the producer as for the consumer.
FAULT_PROPS = ["socket.connection.setup.timeout.ms=5000", "reconnect.backoff.max.ms=1000"]
PRODUCER_PROPS = list(FAULT_PROPS)
# write_config's consumer defaults (group timing that fits the mock) + FAULT_PROPS.
CONSUMER_PROPS = ["session.timeout.ms=6000", "heartbeat.interval.ms=500"] + FAULT_PROPS
DOWN_S = 5.0

# ---- helpers ---------------------------------------------------------------


def kcluster(brokers=1):
    """The harness's cluster, with a sandbox that has no QPS limit."""
    return cluster(topics=TOPICS, brokers=brokers, sandbox_kw={"qps": 0})


def config(tmp, mk, sb, producer=(), **worker):
    return write_config(tmp, mk.bootstrap, sb.endpoint,
                        kafka={"producer": PRODUCER_PROPS + list(producer),
                               "consumer": CONSUMER_PROPS},
                        zim={"rate_limit_qps": float(QPS)},
                        worker=dict({"shutdown_grace_ms": 10000}, **worker))


def published(w):
    """Events whose success result Kafka acknowledged, from the worker's /metrics
    (works while brokers are down, unlike reading the result topic)."""
    try:
        return int(w.metric("events_total", 'outcome="success"'))
    except OSError:
        return 0


def wait_published(w, n, timeout):
    got = wait_for(lambda: published(w) >= n, timeout=timeout, interval=0.2)
    assert got, "only %d of %d results published; log:\n%s" % (published(w), n, w.dump())


def leader(bootstrap, topic, partition):
    """The broker id leading topic/partition (kcat metadata)."""
    r = subprocess.run([KCAT, "-L", "-J", "-b", bootstrap, "-t", topic], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30, check=True)
    md = json.loads(r.stdout)
    for t in md["topics"]:
        if t["topic"] == topic:
            for p in t["partitions"]:
                if p["partition"] == partition:
                    return p["leader"]
    raise KafkaError("no metadata for %s [%d]" % (topic, partition))


def drop_logs(*workers):
    """Removes the workers' log files (kept when a case fails)."""
    for w in workers:
        os.unlink(w.log_path)


def log_records(w, msg):
    return [r for r in w.logs() if r.get("msg") == msg]


def kafka_log_lines(w):
    """librdkafka's own log lines (warnings and errors it reported)."""
    return [r for r in w.logs() if r.get("source") == "librdkafka"]


def check_outcome(mk, sb, where, ends, exactly_once):
    """The common end state: every event has a success result (exactly one when
    exactly_once), none failed, each result matches its input position and a
    code-0 sandbox call, committed offsets equal the ends. Returns (results,
    sandbox requests, success counter)."""
    vals, succ = assert_complete(mk, where, ends)
    reqs = sb.requests()
    if exactly_once:
        rep = sorted(e for e, k in succ.items() if k != 1)
        assert not rep, "events with more than one success result: %s" % rep[:10]
    by_rid = {r["request_id"]: r for r in reqs if r.get("request_id")}
    for v in vals:
        part, off = where[v["event_id"]]
        assert (v["source"]["partition"], v["source"]["offset"]) == (part, off), \
            "result source %s, input at %s/%s" % (v["source"], part, off)
        call = by_rid.get(v["request_id"])
        assert call is not None, "result request_id %r not in the sandbox log" % v["request_id"]
        assert call["code"] == 0 and call["user_id"] == v["user_id"], \
            "sandbox call %s does not match result %s" % (call, v)
    rids = [v["request_id"] for v in vals]
    assert len(set(rids)) == len(rids), "two results carry the same request id"
    return vals, reqs, succ


def run_to_end(w, mk, n, ends, timeout=120):
    """Waits until n results are published and the offsets are committed to the
    ends, then SIGTERM; asserts exit 0."""
    wait_published(w, n, timeout)
    got = wait_committed(mk, ends, timeout=60)
    rc = w.terminate(timeout=60)
    assert rc == 0, "exit code %r after SIGTERM; log:\n%s" % (rc, w.dump())
    return got


# ---- cases -----------------------------------------------------------------


def outage(mk, w, broker):
    """Sets broker ("all" or an id) down for DOWN_S seconds, then up again.
    Returns the results acknowledged while it was down (measured from 0.5 s
    after the down, when acknowledgements already under way have landed)."""
    mk.command("down %s" % broker, check=True)
    time.sleep(0.5)
    at = published(w)
    time.sleep(DOWN_S - 0.5)
    during = published(w) - at
    mk.command("up %s" % broker, check=True)
    return at, during


def test_broker_down_up():
    """3 brokers, a backlog at 20 calls/s: the result partition's leader down
    for 5 s at 1/3 of the results, every broker down for 5 s once the results
    held back by the first outage are out: nothing lost, no failure result;
    repeats (at-least-once) are counted."""
    n, users = 400, 80
    with kcluster(brokers=3) as (tmp, mk, sb):
        where, ends = backlog(mk.bootstrap, n, users, "d", TOPICS[INPUT_TOPIC])
        lead = leader(mk.bootstrap, RESULT_TOPIC, 0)
        cfg = config(tmp, mk, sb)
        with Worker(cfg).start() as w:
            wait_published(w, n // 3, timeout=90)
            at1, during1 = outage(mk, w, lead)
            calls1 = len(sb.requests())
            # The results held back by the outage are out: the second one.
            wait_published(w, calls1, timeout=90)
            c2 = sum(max(o, 0) for o in committed(mk).values())
            at2, during2 = outage(mk, w, "all")
            calls2 = len(sb.requests())
            t_up = time.monotonic()
            wait_published(w, at2 + 1, timeout=60)
            resume_s = time.monotonic() - t_up
            run_to_end(w, mk, n, ends)
            kerr = kafka_log_lines(w)
            refused = log_records(w, "delivery failed; producing again")
            lost = [r for r in w.logs() if r.get("msg") == "partition lost"]
        vals, reqs, succ = check_outcome(mk, sb, where, ends, exactly_once=False)
    dups = {e: k for e, k in succ.items() if k > 1}
    print("  result leader (broker %d) down at %d published, %d calls made by its up; all "
          "down at %d published (%d committed), %d calls by the up; first result %.1f s after "
          "the up" % (lead, at1, calls1, at2, c2, calls2, resume_s), flush=True)
    print("  %d results for %d events: %d events repeated (%d extra results), %d sandbox "
          "calls; %d librdkafka log lines, %d deliveries re-produced, %d partitions lost" % (
              len(vals), n, len(dups), sum(dups.values()) - len(dups), len(reqs), len(kerr),
              len(refused), len(lost)), flush=True)
    # The faults took effect: nothing can be acknowledged without the leader.
    assert during1 == 0 and during2 == 0, \
        "results acknowledged while the leader was down: %d, %d" % (during1, during2)
    assert calls1 < n, "the first outage came after the last call"
    drop_logs(w)


def test_produce_errors():
    """Retriable Produce errors while results go out: the idempotent producer
    retries them; one result and one API call per event."""
    n, users = 120, 30
    rounds = [
        "errors Produce NOT_ENOUGH_REPLICAS NOT_ENOUGH_REPLICAS REQUEST_TIMED_OUT",
        "errors Produce NOT_LEADER_FOR_PARTITION LEADER_NOT_AVAILABLE KAFKA_STORAGE_ERROR",
        "errors Produce REQUEST_TIMED_OUT REQUEST_TIMED_OUT REQUEST_TIMED_OUT "
        "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
    ]
    with kcluster() as (tmp, mk, sb):
        where, ends = backlog(mk.bootstrap, n, users, "p", TOPICS[INPUT_TOPIC])
        # The mock checks no sequence numbers of an idempotent (non-transactional)
        # producer: a request pipelined behind a failed one is appended, and its
        # success implicitly acknowledges the failed one, which is then lost. A
        # real broker refuses it (OUT_OF_ORDER_SEQUENCE_NUMBER, retried). One
        # request in flight keeps the mock faithful.
        cfg = config(tmp, mk, sb, producer=["max.in.flight.requests.per.connection=1"])
        marks = []
        with Worker(cfg).start() as w:
            for i, cmd in enumerate(rounds):
                wait_published(w, (i + 1) * n // (len(rounds) + 1), timeout=90)
                marks.append(published(w))
                mk.command(cmd, check=True)
            run_to_end(w, mk, n, ends)
            refused = log_records(w, "delivery failed; producing again")
            kerr = kafka_log_lines(w)
        vals, reqs, succ = check_outcome(mk, sb, where, ends, exactly_once=True)
        # Kafka retries never repeat the API call.
        assert len(reqs) == n and all(r["code"] == 0 for r in reqs), \
            "sandbox saw %d calls (codes %s) for %d events" % (
                len(reqs), collections.Counter(r["code"] for r in reqs), n)
    print("  error rounds injected at %s published; %d results, %d sandbox calls; %d deliveries "
          "re-produced by the worker, %d librdkafka log lines" % (
              marks, len(vals), len(reqs), len(refused), len(kerr)), flush=True)
    drop_logs(w)


def test_delivery_timeout_reproduced():
    """Results whose delivery times out (message.timeout.ms shorter than an
    outage of every broker) are produced again by the worker: no event is
    lost, every event ends with a success result, offsets commit."""
    n, users = 120, 30
    with kcluster() as (tmp, mk, sb):
        where, ends = backlog(mk.bootstrap, n, users, "t", TOPICS[INPUT_TOPIC])
        cfg = config(tmp, mk, sb, producer=["message.timeout.ms=1500"])
        with Worker(cfg).start() as w:
            wait_published(w, n // 3, timeout=90)
            outage(mk, w, "all")
            run_to_end(w, mk, n, ends, timeout=180)
            again = log_records(w, "delivery failed; producing again")
        vals, reqs, succ = check_outcome(mk, sb, where, ends, exactly_once=False)
        # The outage outlasted the message timeout while results were going out.
        assert again, "no delivery timed out: the case did not test re-producing"
    print("  %d deliveries timed out and were produced again; %d results for %d events" % (
        len(again), len(vals), n), flush=True)
    drop_logs(w)


def test_offset_commit_errors():
    """Retriable OffsetCommit errors: later commits succeed; committed = ends
    before and after SIGTERM."""
    n, users = 120, 30
    rounds = [
        "errors OffsetCommit COORDINATOR_NOT_AVAILABLE REQUEST_TIMED_OUT",
        "errors OffsetCommit REQUEST_TIMED_OUT NOT_COORDINATOR COORDINATOR_LOAD_IN_PROGRESS",
    ]
    with kcluster() as (tmp, mk, sb):
        where, ends = backlog(mk.bootstrap, n, users, "c", TOPICS[INPUT_TOPIC])
        cfg = config(tmp, mk, sb)
        with Worker(cfg).start() as w:
            marks = []
            for i, cmd in enumerate(rounds):
                wait_published(w, (i + 1) * n // (len(rounds) + 1), timeout=90)
                marks.append(committed(mk))
                mk.command(cmd, check=True)
            wait_published(w, n, timeout=90)
            before = wait_committed(mk, ends, timeout=60)
            assert before == ends, "before SIGTERM: committed %s, ends %s; log:\n%s" % (
                before, ends, w.dump())
            rc = w.terminate(timeout=60)
            assert rc == 0, "exit code %r after SIGTERM; log:\n%s" % (rc, w.dump())
            kerr = kafka_log_lines(w)
            lost = [r["ts"] for r in log_records(w, "partition lost")]
            done = collections.defaultdict(list)
            for r in log_records(w, "event done"):
                done[r["event_id"]].append(r["ts"])
        # Exactly once, unless the coordinator's errors outlasted the session
        # (under load it can: "session timed out ... revoking assignment"):
        # then Guarantee 1 allows repeating what was answered but not
        # committed before the loss, once.
        vals, reqs, succ = check_outcome(mk, sb, where, ends, exactly_once=not lost)
    rep = sorted(e for e, k in succ.items() if k > 1)
    for e in rep:
        assert succ[e] == 2 and min(done[e]) < min(lost), (e, done[e], lost)
    commit_warn = [r for r in kerr if "ommit" in r.get("msg", "")]
    print("  committed when errors were injected: %s; %d results, %d sandbox calls; %d "
          "librdkafka commit log lines; %d partitions lost, %d events repeated" % (
              marks, len(vals), len(reqs), len(commit_warn), len(lost), len(rep)), flush=True)
    drop_logs(w)


def test_fatal_producer_error():
    """OUT_OF_ORDER_SEQUENCE_NUMBER on the idempotent producer's head request is
    fatal: exit 1 by itself with "fatal kafka error"; nothing committed beyond
    the acknowledged results. A fresh worker then completes every event."""
    n, users = 120, 30
    with kcluster() as (tmp, mk, sb):
        where, ends = backlog(mk.bootstrap, n, users, "f", TOPICS[INPUT_TOPIC])
        cfg = config(tmp, mk, sb, shutdown_grace_ms=5000)
        with Worker(cfg).start() as w:
            wait_published(w, n // 3, timeout=90)
            at = published(w)
            mk.command("errors Produce OUT_OF_ORDER_SEQUENCE_NUMBER", check=True)
            t0 = time.monotonic()
            rc = w.wait(timeout=60)
            took = time.monotonic() - t0
            fatal = [r for r in w.logs() if r.get("msg") == "fatal kafka error"]
            stopped = log_records(w, "stopped")
            dump = w.dump()
        assert rc == 1, "exit code %r after a fatal producer error; log:\n%s" % (rc, dump)
        assert fatal and fatal[0].get("level") == "error", \
            "no error log line \"fatal kafka error\"; log:\n%s" % dump
        assert stopped and stopped[-1].get("exit_code") == "1", "stopped record: %s" % stopped
        # No result can be delivered any more: the worker does not sit out the
        # grace period re-producing them.
        assert not log_records(w, "shutdown grace expired; unfinished events will be processed "
                                  "again"), "waited for the grace period; log:\n%s" % dump
        print("  fatal error injected at %d published; exit 1 %.1f s later: %s" % (
            at, took, fatal[0].get("error")), flush=True)

        # At-least-once across the fatal stop: every committed offset is covered
        # by acknowledged results of that partition's earlier events.
        c = committed(mk)
        first = values(mk.bootstrap)
        done = collections.defaultdict(set)
        for v in first:
            assert v["status"] == "success", "failure result: %s" % v
            done[v["source"]["partition"]].add(v["source"]["offset"])
        for p, off in c.items():
            gap = sorted(set(range(0, max(off, 0))) - done[p])
            assert not gap, "partition %d committed %d but offsets %s have no result" % (
                p, off, gap[:10])
            # The clean flush: what was acknowledged in offset order is committed.
            prefix = 0
            while prefix in done[p]:
                prefix += 1
            assert max(off, 0) == prefix, \
                "partition %d: committed %d, acknowledged results cover 0..%d" % (
                    p, off, prefix - 1)
        print("  after the fatal stop: %d results, committed %s of %s" % (len(first), c, ends),
              flush=True)

        with Worker(cfg).start() as w2:
            run_to_end(w2, mk, n - len(successes(first)), ends)
        vals, reqs, succ = check_outcome(mk, sb, where, ends, exactly_once=False)
        dups = {e: k for e, k in succ.items() if k > 1}
    print("  after a restart: %d results for %d events (%d repeated), %d sandbox calls" % (
        len(vals), n, len(dups), len(reqs)), flush=True)
    drop_logs(w, w2)


def main():
    t = TestRun()
    t.case(test_broker_down_up)
    t.case(test_produce_errors)
    t.case(test_delivery_timeout_reproduced)
    t.case(test_offset_commit_errors)
    t.case(test_fatal_producer_error)
    t.finish()


if __name__ == "__main__":
    main()
