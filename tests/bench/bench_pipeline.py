#!/usr/bin/env python3
"""Pipeline benchmark (prints figures, never fails on speed).

Runs the real worker on zim-mock-kafka against zim-sandbox with the rate
limit lifted, for backlogs of increasing size, and prints events/s, worker
CPU microseconds per event and the worker's peak RSS. A flat RSS across
backlog sizes shows that memory does not grow with the backlog.

    ZU_BUILD_DIR=build python3 tests/bench/bench_pipeline.py [N ...]
"""

import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from zu_kafka import MockKafka, produce  # noqa: E402
from zu_harness import (DLQ_TOPIC, INPUT_TOPIC, RESULT_TOPIC, Sandbox, Worker,  # noqa: E402
                        event, scratch_dir, write_config)
from zu_bench import committed_total, peak_rss_kib  # noqa: E402


def run(n):
    with MockKafka(stderr=open(os.devnull, "wb")).start(
            topics={INPUT_TOPIC: 4, RESULT_TOPIC: 4, DLQ_TOPIC: 1}) as mk, \
            Sandbox(qps=0).start() as sb:
        msgs = [{"key": b"u%d" % i, "value": event(user_id="u%d" % (i % 5000), event_id="e%d" % i)}
                for i in range(n)]
        produce(mk.bootstrap, INPUT_TOPIC, msgs, timeout=600)
        cfg = write_config(scratch_dir(), mk.bootstrap, sb.endpoint,
                           zim={"rate_limit_qps": 100000.0},
                           observability={"listen": "", "log_level": "warn"})
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        w = Worker(cfg).start()
        t0 = time.time()
        while committed_total(mk, "zu-test", INPUT_TOPIC) < n:
            if not w.running():
                raise RuntimeError("worker exited: %s" % w.dump())
            time.sleep(0.5)
        elapsed = time.time() - t0
        rss_kib = peak_rss_kib(w.proc.pid)
        w.terminate()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # Only the worker was reaped between the two readings.
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return elapsed, cpu, rss_kib


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [2000, 10000, 30000]
    print("%8s %10s %12s %14s %12s" % ("events", "seconds", "events/s", "cpu us/event",
                                       "peak RSS MiB"))
    for n in sizes:
        elapsed, cpu, rss = run(n)
        print("%8d %10.2f %12.0f %14.1f %12.1f" % (n, elapsed, n / elapsed, cpu * 1e6 / n,
                                                    rss / 1024.0), flush=True)
    print("(seconds include the group join, about 3 s on the mock; CPU and RSS are the "
          "worker's own)")


if __name__ == "__main__":
    main()
