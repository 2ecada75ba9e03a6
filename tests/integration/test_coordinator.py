#!/usr/bin/env python3
"""Integration test: a group coordinator that accepts requests and never
answers them (zim-mock-kafka's `rtt`: every reply of that broker held back),
with the real worker. librdkafka's synchronous commit and close wait for it
without a limit; the worker bounds both (docs/design.md, "Clean stop").

- silent_during_revoke: a second replica joins while the first works through
  a backlog; as the first drains its revoked partition the coordinator goes
  silent. The first worker's loop stays responsive (/healthz answers again
  within a few seconds: the commit on revoke waits at most 2 s, then is
  logged as failed), and both stop with exit 0 once it answers again.
- stop_with_silent_coordinator: SIGTERM while the coordinator is silent: the
  worker exits 0 within 30 s (the Kubernetes and systemd stop grace), after
  logging that its close did not finish.
- stop_before_first_assignment: the coordinator refuses every SyncGroup, so
  the worker joins the group but never gets an assignment; SIGTERM: it
  exits 0 (librdkafka 2.0.2 aborts when a cooperative-sticky member that
  never had an assignment is destroyed; the worker leaves that handle to
  the process's end).

The group coordinator is broker 2; every partition leader is broker 1, so
fetches and produces go on.

    ZU_BUILD_DIR=build python3 tests/integration/test_coordinator.py
"""

import os
import signal
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zu_harness import (GROUP, TOPICS, TestRun, Worker, cluster, event, produce,  # noqa: E402
                        wait_for, write_config)
from zu_harness import INPUT_TOPIC  # noqa: E402

SILENT_MS = 60000  # longer than anything the worker may wait


def setup(mk):
    mk.command("coordinator %s 2" % GROUP)
    for t, n in TOPICS.items():
        for p in range(n):
            mk.command("leader %s %d 1" % (t, p))


def evs(first, n):
    return [{"key": "u%d" % i, "value": event(user_id="u%d" % i)} for i in range(first, first + n)]


def healthz(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def test_silent_during_revoke():
    with cluster(brokers=2, sandbox_kw={"qps": 0, "latency_ms": 1000}) as (tmp, mk, sb):
        setup(mk)
        cfg = write_config(tmp, mk.bootstrap, sb.endpoint, worker={"coalesce": False})
        a = Worker(cfg).start()
        b = None
        stop = threading.Event()
        try:
            assert wait_for(lambda: a.http("/readyz")[0] == 200, timeout=60), a.dump()
            produce(mk.bootstrap, INPUT_TOPIC, evs(0, 30))

            def feed():  # calls keep the revoked partition's drain busy
                i = 100
                while not stop.is_set():
                    produce(mk.bootstrap, INPUT_TOPIC, evs(i, 6))
                    i += 6
                    time.sleep(0.3)

            threading.Thread(target=feed, daemon=True).start()
            time.sleep(2)
            b = Worker(cfg).start()
            assert wait_for(lambda: any(r.get("msg", "").startswith("partition revoking")
                                        for r in a.logs()), timeout=60, interval=0.05), a.dump()
            mk.command("rtt 2 %d" % SILENT_MS)
            port = a.metrics_port()
            t0, worst, run = time.monotonic(), 0, 0
            while time.monotonic() - t0 < 15:  # the loop must keep turning
                s = time.monotonic()
                run = 0 if healthz(port) else run + 1
                worst = max(worst, run)
                time.sleep(max(0.0, 1 - (time.monotonic() - s)))
            stop.set()
            mk.command("rtt 2 0")
            failed = [r for r in a.logs()
                      if r.get("msg") == "commit on revoke failed; the next owner may repeat events"]
            assert failed and all("Timed out" in r.get("error", "") for r in failed), a.dump()
            # A frozen loop misses every probe (15 in a row); a bounded commit
            # holds it for 2 s.
            assert worst <= 5, "/healthz unanswered %d times in a row:\n%s" % (worst, a.dump())
            assert b.terminate() == 0, b.dump()
            assert a.terminate() == 0, a.dump()
            print("  coordinator silent mid-drain: /healthz missed at most %d probe(s) in a row; "
                  "%d commit(s) on revoke timed out" % (worst, len(failed)), flush=True)
        finally:
            stop.set()
            for w in (a, b):
                if w and w.running():
                    w.kill9()


def test_stop_with_silent_coordinator():
    with cluster(brokers=2, sandbox_kw={"qps": 0, "latency_ms": 500}) as (tmp, mk, sb):
        setup(mk)
        cfg = write_config(tmp, mk.bootstrap, sb.endpoint,
                           worker={"shutdown_grace_ms": 15000, "coalesce": False})
        with Worker(cfg).start() as w:
            assert wait_for(lambda: w.http("/readyz")[0] == 200, timeout=60), w.dump()
            produce(mk.bootstrap, INPUT_TOPIC, evs(0, 30))
            time.sleep(3)
            produce(mk.bootstrap, INPUT_TOPIC, evs(30, 10))
            time.sleep(0.3)
            mk.command("rtt 2 %d" % SILENT_MS)
            t0 = time.monotonic()
            w.proc.send_signal(signal.SIGTERM)
            rc = w.wait(timeout=30)
            took = time.monotonic() - t0
            assert rc == 0, w.dump()
            assert [r for r in w.logs() if r.get("msg", "").startswith(
                "consumer close did not finish")], w.dump()
            mk.command("rtt 2 0")
        print("  SIGTERM with the coordinator silent: exit 0 after %.1f s" % took, flush=True)


def test_stop_before_first_assignment():
    with cluster(brokers=2, sandbox_kw={"qps": 0}) as (tmp, mk, sb):
        setup(mk)
        for _ in range(4):  # 27: REBALANCE_IN_PROGRESS, 240 refusals in all
            mk.command("errors SyncGroup " + " ".join(["27"] * 60), check=True)
        cfg = write_config(tmp, mk.bootstrap, sb.endpoint)
        with Worker(cfg).start() as w:
            assert wait_for(lambda: any(r.get("msg") == "worker started" for r in w.logs()),
                            timeout=60), w.dump()
            time.sleep(4)  # joins, and is refused its assignment again and again
            assert not [r for r in w.logs() if r.get("msg") == "rate share"], w.dump()
            w.proc.send_signal(signal.SIGTERM)
            rc = w.wait(timeout=30)
            assert rc == 0, "exit %d\n%s" % (rc, w.dump())
            assert "Assertion" not in w.dump(), w.dump()
            assert [r for r in w.logs()
                    if r.get("msg") == "consumer closed before its first assignment"], w.dump()
        print("  SIGTERM before any assignment: exit 0", flush=True)


def main():
    t = TestRun()
    t.case(test_silent_during_revoke)
    t.case(test_stop_with_silent_coordinator)
    t.case(test_stop_before_first_assignment)
    t.finish()


if __name__ == "__main__":
    main()
