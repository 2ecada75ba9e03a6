#!/usr/bin/env python3
"""test_replay.py - replaying history (docs/contract.md, "Command line") and the
observability endpoint, with the real worker binary against zim-mock-kafka
and zim-sandbox (driven with kcat).

  from_beginning_until_end  a second worker of the same group with
                            --from-beginning --until-end reprocesses all 50
                            events and exits 0 by itself with the committed
                            offsets at the ends; --until-end alone with
                            nothing new then exits 0 with no new result.
  replica_leaves_mid_replay two replicas replay with --until-end; one is
                            killed: the other replays its partition too
                            (noting its end when it arrives) and exits 0.
  from_end                  --from-end skips what is on the topic and
                            processes what arrives after the assignment.
  until_end_empty           --until-end on an empty topic exits 0.
  until_end_lookup_fails    the cluster refuses the end-offset lookups: the
                            worker warns for each partition, replays up to
                            each partition's end-of-partition event instead,
                            and exits 0 with every event answered once.
  from_timestamp            an RFC 3339 / Unix ms time is accepted (the mock
                            answers ListOffsets by time with -1: it starts at
                            the end, without alarm); a bad time is exit 64.
  from_timestamp_lookup_fails  the cluster refuses the lookup by time: the
                            worker warns and starts at the end (it never
                            seeks to the timestamp as if it were an offset,
                            which would replay the topic from its start).
  metrics_readyz            /metrics has every family with samples and never
                            the secret; /readyz 200 once assigned; /healthz
                            200; /nope 404.

Env: ZU_BUILD_DIR (binaries), ZU_SOURCE_DIR (unused). python3 stdlib only.
"""

import contextlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from zu_harness import (cluster, wait_results, DLQ_TOPIC, INPUT_TOPIC, RESULT_TOPIC, SECRET,  # noqa: E402
                        TestRun, Worker, event, parse_metrics, results, wait_for,
                        write_config)
from zu_kafka import consume_all, produce  # noqa: E402

GROUP = "zu-test"  # write_config's default group
PARTS = 3
TOPICS = {INPUT_TOPIC: PARTS, RESULT_TOPIC: 1, DLQ_TOPIC: 1}


@contextlib.contextmanager
def replay_setup():
    """The harness's cluster and a worker config; yields (mk, sb, config path)."""
    # No QPS limit at the sandbox: these cases count calls per event, and a
    # loaded machine's scheduling jitter is test_rate's business.
    with cluster(topics=TOPICS, sandbox_kw={"qps": 0}) as (tmp, mk, sb):
        yield mk, sb, write_config(tmp, mk.bootstrap, sb.endpoint)


def ends(mk):
    """{partition: end offset} of the input topic (0 for an empty partition)."""
    out = {p: 0 for p in range(PARTS)}
    for m in consume_all(mk.bootstrap, INPUT_TOPIC):
        out[m["partition"]] = max(out[m["partition"]], m["offset"] + 1)
    return out


def wait_positioned(w, timeout=60):
    """Waits until /metrics shows a consumer lag of 0 on every input partition:
    the worker has its assignment and its fetch position is resolved (at the
    end of each partition), so a message produced now is after its start."""
    want = ['zim_unfriend_consumer_lag{topic="%s",partition="%d"}' % (INPUT_TOPIC, p)
            for p in range(PARTS)]

    def positioned():
        if not w.running():
            raise AssertionError("worker exited (rc=%s):\n%s" % (w.proc.returncode, w.dump()))
        m = parse_metrics(w.http("/metrics")[1])
        return all(m.get(k) == 0.0 for k in want)

    assert wait_for(positioned, timeout=timeout, interval=0.2), \
        "lag never 0 on every partition:\n%s" % w.http("/metrics")[1]


def evs(prefix, per_partition, first=0):
    """per_partition events on every input partition, each its own user."""
    out = []
    for p in range(PARTS):
        for i in range(first, first + per_partition):
            uid = "%s-p%d-u%d" % (prefix, p, i)
            out.append({"key": uid.encode(), "partition": p,
                        "value": event(user_id=uid, event_id="%s-%d-%d" % (prefix, p, i))})
    return out


def ids(rs):
    return sorted(r["event_id"] for _, r in rs)


def assert_success(rs):
    for _, r in rs:
        assert r["status"] == "success" and r["code"] == 0 and r["attempts"] == 1, r


def alarms(w, levels=("warn", "error")):
    return [r for r in w.logs() if r.get("level") in levels or "raw" in r]


def from_beginning_until_end():
    with replay_setup() as (mk, sb, cfg):
        # 50 events: 25 users with two events each, keyed by user.
        produced = []
        for i in range(50):
            uid = "rb-u%02d" % (i % 25)
            produced.append({"key": uid.encode(),
                             "value": event(user_id=uid, event_id="rb-%02d" % i)})
        produce(mk.bootstrap, INPUT_TOPIC, produced)
        want = sorted("rb-%02d" % i for i in range(50))
        end = ends(mk)
        assert sum(end.values()) == 50, end

        with Worker(cfg).start() as w:
            first = wait_results(mk, 50, timeout=60, workers=[w])
            assert w.terminate() == 0, w.dump()
            assert not alarms(w, ("error",)), alarms(w, ("error",))
        assert ids(first) == want, ids(first)
        assert_success(first)
        assert mk.committed(GROUP, INPUT_TOPIC) == end, (mk.committed(GROUP, INPUT_TOPIC),
                                                         end)
        assert len(sb.requests()) == 50

        # The replay: same group, from the beginning, until the noted ends.
        t0 = time.monotonic()
        with Worker(cfg, args=["--from-beginning", "--until-end"]).start() as w:
            rc = w.wait(timeout=90)
            assert rc == 0, "replay exit %s:\n%s" % (rc, w.dump())
            replay_s = time.monotonic() - t0
            noted = {int(r["partition"]): int(r["end"]) for r in w.logs()
                     if r.get("msg") == "replay until end offset"}
            assert noted == end, (noted, end)
            assert not alarms(w, ("error",)), alarms(w, ("error",))
        rs = results(mk.bootstrap)
        assert len(rs) == 100, len(rs)
        again = rs[50:]
        assert ids(again) == want, ids(again)
        assert_success(again)
        reqs = sb.requests()
        assert len(reqs) == 100, len(reqs)
        assert sorted(r["user_id"] for r in reqs[50:]) == \
            sorted("rb-u%02d" % (i % 25) for i in range(50))
        assert mk.committed(GROUP, INPUT_TOPIC) == end, (mk.committed(GROUP, INPUT_TOPIC),
                                                         end)

        # Nothing new: --until-end alone starts at the commits and ends at once.
        t0 = time.monotonic()
        with Worker(cfg, args=["--until-end"]).start() as w:
            rc = w.wait(timeout=60)
            assert rc == 0, "until-end exit %s:\n%s" % (rc, w.dump())
            idle_s = time.monotonic() - t0
            assert not alarms(w, ("error",)), alarms(w, ("error",))
        assert len(results(mk.bootstrap)) == 100
        assert len(sb.requests()) == 100
        assert mk.committed(GROUP, INPUT_TOPIC) == end
        print("  replay of 50 events: %.2f s; --until-end with nothing new: %.2f s"
              % (replay_s, idle_s), flush=True)


def replica_leaves_mid_replay():
    """Two replicas replay with --until-end and one is killed (-9) partway: the
    other takes its partition when its session times out, notes that
    partition's end then, replays it too, and only then exits 0 with every
    event answered and the group committed at the ends (a partition given
    back keeps the end it had)."""
    with replay_setup() as (mk, sb, cfg):
        produced = evs("lv", 100)  # 300 events: 30 s at 10 calls/s
        produce(mk.bootstrap, INPUT_TOPIC, produced)
        end = ends(mk)
        group = "zu-replay-leave"
        args = ["--group", group, "--from-beginning", "--until-end"]
        # 10 calls/s: a replica's own partitions (one of three at least, 10 s
        # or more of work) outlast the dead replica's eviction (its session
        # time-out, 6 s, then a rebalance), so its partitions come back to a
        # replica that is still at work (README: a replica already done
        # exits without waiting for them).
        cfg = write_config(os.path.dirname(cfg), mk.bootstrap, sb.endpoint,
                           zim={"rate_limit_qps": 10.0})
        with Worker(cfg, args=args).start() as a, Worker(cfg, args=args).start() as b:
            def holds(w):
                return any(r.get("msg") == "partition assigned" for r in w.logs())
            assert wait_for(lambda: holds(a) and holds(b), timeout=60), a.dump() + b.dump()
            assert wait_for(lambda: len(sb.requests()) >= 40, timeout=60), b.dump()
            b.kill9()
            rc = a.wait(timeout=120)
            assert rc == 0, "replay exit %s:\n%s" % (rc, a.dump())
            noted = {int(r["partition"]) for r in a.logs()
                     if r.get("msg") == "replay until end offset"}
        got = {r["event_id"] for _, r in results(mk.bootstrap)}
        want = {json.loads(m["value"])["event_id"] for m in produced}
        assert got == want, "%d events never answered, e.g. %s" % (
            len(want - got), sorted(want - got)[:3])
        assert mk.committed(group, INPUT_TOPIC) == end, (mk.committed(group, INPUT_TOPIC), end)
        assert noted == set(range(PARTS)), noted
        print("  %d events, a replica killed after %d calls: the other replayed all and "
              "exited 0 (%d calls in all)" % (len(produced), 40, len(sb.requests())), flush=True)


def start_then_new(cfg, mk, args, prefix, per_partition=1, settle_s=0.0):
    """Starts the worker with args; once it is positioned, produces new events
    (prefix, per_partition) and waits for their results, then stops it (exit
    0). Returns (the stopped worker, its logs still readable; the new events)."""
    with Worker(cfg, args=args).start() as w:
        wait_positioned(w)
        new = evs(prefix, per_partition)
        produce(mk.bootstrap, INPUT_TOPIC, new)
        wait_results(mk, len(new), timeout=60, workers=[w])
        time.sleep(settle_s)  # room for any wrongly replayed event to show
        assert w.terminate() == 0, w.dump()
    return w, new


def from_end():
    with replay_setup() as (mk, sb, cfg):
        produce(mk.bootstrap, INPUT_TOPIC, evs("old", 3))
        w, new = start_then_new(cfg, mk, ["--from-end"], "new", per_partition=2)
        assert not alarms(w), "alarming log lines: %s" % alarms(w)
        rs = results(mk.bootstrap)
        assert ids(rs) == sorted("new-%d-%d" % (p, i) for p in range(PARTS)
                                 for i in range(2)), ids(rs)
        assert_success(rs)
        for _, r in rs:  # the new events sit after the three old ones
            assert r["source"]["offset"] in (3, 4), r["source"]
        users = sorted(r["user_id"] for r in sb.requests())
        assert users == sorted("new-p%d-u%d" % (p, i) for p in range(PARTS)
                               for i in range(2)), users
        assert mk.committed(GROUP, INPUT_TOPIC) == {p: 5 for p in range(PARTS)}


def until_end_empty():
    with replay_setup() as (mk, sb, cfg):
        t0 = time.monotonic()
        with Worker(cfg, args=["--until-end"]).start() as w:
            rc = w.wait(timeout=60)
            took = time.monotonic() - t0
            assert rc == 0, "exit %s:\n%s" % (rc, w.dump())
            noted = {int(r["partition"]): int(r["end"]) for r in w.logs()
                     if r.get("msg") == "replay until end offset"}
            assert noted == {p: 0 for p in range(PARTS)}, noted
            assert any(r.get("msg") == "stopping: finishing calls in flight" and
                       r.get("reason") == "reached the end offsets noted at start"
                       for r in w.logs()), w.dump()
            assert not alarms(w, ("error",)), alarms(w, ("error",))
        assert results(mk.bootstrap) == []
        assert sb.requests() == []
        print("  --until-end on an empty topic: exit 0 after %.2f s" % took, flush=True)


def until_end_lookup_fails():
    with replay_setup() as (mk, sb, cfg):
        produced = evs("ul", 2)
        produce(mk.bootstrap, INPUT_TOPIC, produced)
        # Every end-offset lookup fails for good: each is two ListOffsets
        # requests (the low and the high watermark), made in the assignment
        # before fetching starts, so the next 2 x PARTS requests are theirs.
        mk.command("errors ListOffsets " + " ".join(["TOPIC_AUTHORIZATION_FAILED"] * (2 * PARTS)),
                   check=True)
        with Worker(cfg, args=["--from-beginning", "--until-end"]).start() as w:
            rc = w.wait(timeout=60)
            assert rc == 0, "exit %s:\n%s" % (rc, w.dump())
        warned = [r for r in w.logs()
                  if r.get("msg") == "end offset unknown; replay ends at end of partition"]
        assert sorted(int(r["partition"]) for r in warned) == list(range(PARTS)), w.dump()
        for r in warned:
            assert r["level"] == "warn" and "authoriz" in r["error"].lower(), r
        assert not any(r.get("msg") == "replay until end offset" for r in w.logs()), w.dump()
        assert not alarms(w, ("error",)), alarms(w, ("error",))
        rs = results(mk.bootstrap)
        assert ids(rs) == sorted(json.loads(m["value"])["event_id"] for m in produced), ids(rs)
        assert_success(rs)
        assert len(sb.requests()) == len(produced), len(sb.requests())
        assert mk.committed(GROUP, INPUT_TOPIC) == ends(mk), mk.committed(GROUP, INPUT_TOPIC)
        print("  end lookups refused: %d warnings, exit 0" % len(warned), flush=True)


def from_timestamp():
    with replay_setup() as (mk, sb, cfg):
        produce(mk.bootstrap, INPUT_TOPIC, evs("old", 2))
        # A time before every message: real Kafka would replay them all;
        # the mock answers -1 ("no such message"), so the worker starts at
        # the end of each partition.
        w, new = start_then_new(cfg, mk, ["--from-timestamp", "2020-01-01T00:00:00Z"], "ts")
        assert not alarms(w), "alarming log lines: %s" % alarms(w)
        rs = results(mk.bootstrap)
        assert ids(rs) == sorted("ts-%d-0" % p for p in range(PARTS)), ids(rs)
        assert_success(rs)
        assert sorted(r["user_id"] for r in sb.requests()) == \
            sorted("ts-p%d-u0" % p for p in range(PARTS))
        assert mk.committed(GROUP, INPUT_TOPIC) == {p: 3 for p in range(PARTS)}

        # Unix milliseconds and an offset time are accepted too.
        for ts in ("1577836800000", "2020-01-01T01:00:00.250+01:00"):
            with Worker(cfg, args=["--from-timestamp", ts]).start() as w:
                assert wait_for(lambda: any(r.get("msg") == "worker started"
                                            for r in w.logs()) or not w.running(),
                                timeout=30)
                assert w.terminate() == 0, "%s: %s" % (ts, w.dump())

        # Bad times are usage errors, named on stderr.
        for bad in ("yesterday", "2020-02-30T00:00:00Z", "2020-01-01T00:00:00", "",
                    "2020-01-01 00:00:00Zjunk", "-1"):
            with Worker(cfg, args=["--from-timestamp", bad]).start() as w:
                rc = w.wait(timeout=30)
                err = w.dump()
            assert rc == 64, "%r: exit %s: %s" % (bad, rc, err)
            assert "--from-timestamp" in err, "%r: %s" % (bad, err)
        # Two start positions exclude each other.
        with Worker(cfg, args=["--from-end", "--from-timestamp", "1577836800000"]).start() as w:
            assert w.wait(timeout=30) == 64, w.dump()
        assert len(results(mk.bootstrap)) == len(new)


def from_timestamp_lookup_fails():
    with replay_setup() as (mk, sb, cfg):
        produce(mk.bootstrap, INPUT_TOPIC, evs("old", 2))
        # The next ListOffsets request (the worker's lookup by time, made
        # before its partitions are assigned) fails for good: a start-up
        # error naming the partition and the reason, never a silent start
        # at the end (which would skip the events since T and commit them).
        mk.command("errors ListOffsets TOPIC_AUTHORIZATION_FAILED", check=True)
        with Worker(cfg, args=["--from-timestamp", "1577836800000"]).start() as w:
            assert w.wait(timeout=60) == 1, w.dump()
        errs = [r for r in w.logs() if r.get("msg") == "start position not found"]
        assert errs and errs[0]["level"] == "error", w.dump()
        msg = errs[0]["error"]
        assert INPUT_TOPIC in msg and "[" in msg and "authoriz" in msg.lower(), msg
        assert results(mk.bootstrap) == []
        assert sb.requests() == []
        assert mk.committed(GROUP, INPUT_TOPIC) in ({}, {p: -1 for p in range(PARTS)}), \
            mk.committed(GROUP, INPUT_TOPIC)
        print("  lookup refused: exit 1, %s" % msg, flush=True)


def metrics_readyz():
    with replay_setup() as (mk, sb, cfg):
        with Worker(cfg).start() as w:
            status, body = w.http("/readyz")
            if status != 200:  # before the assignment (the group join takes 3 s)
                assert (status, body) == (503, "no partitions assigned\n"), (status, body)
            assert wait_for(lambda: w.http("/readyz") == (200, "ok\n"), timeout=60), \
                w.dump()
            assert any(r.get("msg") == "partition assigned" for r in w.logs())
            assert w.http("/healthz") == (200, "ok\n")
            produced = evs("m", 2)
            produce(mk.bootstrap, INPUT_TOPIC, produced)
            wait_results(mk, len(produced), timeout=60, workers=[w])
            wait_positioned(w)  # lag back to 0 once the commits are stored
            status, text = w.http("/metrics")
            assert status == 200, status
            m = parse_metrics(text)
            want = {
                'zim_unfriend_events_total{outcome="success"}': len(produced),
                'zim_unfriend_api_calls_total{code="0"}': len(produced),
                "zim_unfriend_in_flight_calls": 0,
                "zim_unfriend_qps_share": 1e6 / 51000,  # the slot grid: floor(20) per 1.02 s
                'zim_unfriend_pause{cause="systemic"}': 0,
                'zim_unfriend_pause{cause="outage"}': 0,
                "zim_unfriend_retries_total": 0,
            }
            for p in range(PARTS):
                want['zim_unfriend_consumer_lag{topic="%s",partition="%d"}'
                     % (INPUT_TOPIC, p)] = 0
            for k, v in want.items():
                assert m.get(k) == v, "%s = %s, want %s\n%s" % (k, m.get(k), v, text)
            assert m.get("zim_unfriend_ratelimit_wait_seconds_total", -1) >= 0, text
            for fam in ("events_total", "api_calls_total", "in_flight_calls", "qps_share",
                        "consumer_lag", "pause", "ratelimit_wait_seconds_total",
                        "retries_total"):
                assert "# TYPE zim_unfriend_%s " % fam in text, fam
            assert SECRET not in text
            # No core file can carry the secret (docs/contract.md, Guarantee 9: never in crash output).
            with open("/proc/%d/limits" % w.proc.pid) as f:
                core = [ln.split()[4:6] for ln in f if ln.startswith("Max core file size")]
            assert core == [["0", "0"]], "core limit %s" % core
            for path in ("/readyz", "/healthz", "/nope"):
                assert SECRET not in w.http(path)[1]
            assert w.http("/nope")[0] == 404
            assert w.http("/metrics/x")[0] == 404
            assert w.terminate() == 0, w.dump()
            assert not alarms(w), "alarming log lines: %s" % alarms(w)
        with open(w.log_path, "rb") as f:
            assert SECRET.encode() not in f.read()
        assert len(sb.requests()) == len(produced)


def main():
    t = TestRun()
    only = set(sys.argv[1:])  # optional case names, for debugging
    for fn in (from_beginning_until_end, replica_leaves_mid_replay, from_end, until_end_empty,
               until_end_lookup_fails, from_timestamp, from_timestamp_lookup_fails,
               metrics_readyz):
        if not only or fn.__name__ in only:
            t.case(fn)
    t.finish()


if __name__ == "__main__":
    main()
