#!/usr/bin/env python3
"""Event-loop benchmark (prints figures, never fails on speed).

Runs the worker binary of $ZU_BUILD_DIR against zim-mock-kafka and an
instant zim-sandbox, with info logging, and prints:

- idle: CPU of the worker over 30 s after it joined, with no events
  (% of one core; its threads' run time to the nanosecond, where the
  process's 10 ms ticks would be 9 ticks give or take one), with the
  heartbeat every 500 ms the other figures use, and with librdkafka's
  default 3 s heartbeat of deploy/worker.cfg.example; almost all of it is
  librdkafka's own timers (the worker's thread does not wake);
- throughput: N unthrottled events: events/s and CPU microseconds per event
  (utime + stime of the worker from /proc), over the whole run (start-up,
  group join and the last commit included) and in steady state (from the
  first reading of the sandbox's call count at or above 10% of N to the
  last one below N, at least half of N later: the fixed costs left out);
- start-up: in the same run, from the worker's first "partition assigned"
  log line to its first "event done" (the first result Kafka acknowledged),
  with the backlog waiting;
- dry run: the same backlog read with --dry-run --until-end (what a user
  runs before a replay): events/s from start to exit;
- http floor: the same number of signed calls through libcurl alone
  (bench_http_floor: one reused handle, no Kafka, no loop) against the same
  instant sandbox: CPU microseconds per call, the floor under the worker's
  CPU per event; and the same requests on a plain socket with no HTTP
  library (the system calls and the loopback round trip alone);
- latency: events produced one by one at low load with
  fetch.wait.max.ms=5 (the mock answers an empty fetch only after it):
  event-to-result p50 / p99 in ms (message timestamps: the input's, set by
  the producer, and the result's, set by the worker's producer).

The configuration uses only keys every version of the worker knows, so the
same script measures an older build (ZU_BUILD_DIR=...) for a before/after.

    ZU_BUILD_DIR=build python3 tests/bench/bench_loop.py [N] [--no-baseline]
        [--repeat K] [--instructions]

The same backlog also goes through tests/bench/baseline_worker.py (a plain
Python worker on Debian's python3-confluent-kafka), measured the same way
(whole run and steady state), and the ratio of the two is printed for
each: the steady state compares the work per event, the whole run also
the start-up (Python's imports, the group join) spread over N.

CPU time on a shared or virtual machine varies from run to run by more
than many changes gain, and in about half the runs librdkafka's idempotent
producer busy-polls for 30-100 ms while the mock broker is slow to answer
(docs/design.md, "Results in bursts"): the worker's steady-state figure is
then up to 10 us higher. --repeat K runs the worker and the baseline K times
in turn and prints the median ratios with their range. --instructions also
counts the worker's instructions per event under valgrind's callgrind (3,000
events): the same count on every run, for before/after comparisons of the
worker's own work (the kernel's is not counted).
"""

import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from zu_kafka import MockKafka, consume_all, produce  # noqa: E402
from zu_harness import (APP_ID, DLQ_TOPIC, INPUT_TOPIC, RESULT_TOPIC, SECRET, Sandbox,  # noqa
                        binary, event, scratch_dir, wait_for)
from zu_bench import committed_total, cpu_s, cpu_s_threads, peak_rss_kib  # noqa: E402

def config(mk, sb, fetch_wait_ms=None, quick_group=True):
    # quick_group: the suite's fast failure detection (a heartbeat every
    # 500 ms); False: librdkafka's defaults, as deploy/worker.cfg.example runs.
    consumer = ['"session.timeout.ms=6000"', '"heartbeat.interval.ms=500"'] if quick_group else []
    if fetch_wait_ms is not None:
        consumer.append('"fetch.wait.max.ms=%d"' % fetch_wait_ms)
    text = """kafka: { brokers = "%s"; group_id = "zu-bench"; input_topics = [ "%s" ];
  result_topic = "%s"; consumer = [ %s ]; };
zim: { endpoint = "%s"; app_id = %d; rate_limit_qps = 100000.0; };
worker: { max_in_flight = 64; };
observability: { log_level = "info"; };
""" % (mk.bootstrap, INPUT_TOPIC, RESULT_TOPIC, ", ".join(consumer), sb.endpoint, APP_ID)
    path = os.path.join(scratch_dir(), "bench-%d.cfg" % int(time.time() * 1e6))
    with open(path, "w") as f:
        f.write(text)
    return path


def start(cfg):
    log = open(os.path.join(scratch_dir(), "worker-%d.log" % int(time.time() * 1e6)), "wb")
    return subprocess.Popen([binary("zim-unfriend-worker"), "-c", cfg],
                            env=dict(os.environ, ZIM_SERVER_SECRET=SECRET),
                            stdout=subprocess.DEVNULL, stderr=log), log.name


def joined(log_path):
    with open(log_path, "rb") as f:
        return b'"rate share"' in f.read()


def stop(proc):
    proc.terminate()
    proc.wait(30)


def cluster():
    return MockKafka(stderr=open(os.devnull, "wb")).start(
        topics={INPUT_TOPIC: 4, RESULT_TOPIC: 4, DLQ_TOPIC: 1})


def idle(quick_group=True):
    with cluster() as mk, Sandbox(qps=0).start() as sb:
        proc, log = start(config(mk, sb, quick_group=quick_group))
        assert wait_for(lambda: joined(log), timeout=60), "did not join"
        time.sleep(2)
        c0, t0 = cpu_s_threads(proc.pid), time.time()
        time.sleep(30)
        c1, t1 = cpu_s_threads(proc.pid), time.time()
        stop(proc)
    print("idle: %.2f%% of a core over %.0f s after the join (%s)" % (
        (c1 - c0) / (t1 - t0) * 100, t1 - t0,
        "heartbeat.interval.ms=500, as in the other figures" if quick_group
        else "the example config: librdkafka's default 3 s heartbeat"), flush=True)


def backlog(mk, n):
    msgs = [{"key": b"u%d" % (i % 5000), "value": event(user_id="u%d" % (i % 5000),
                                                        event_id="e%d" % i)}
            for i in range(n)]
    produce(mk.bootstrap, INPUT_TOPIC, msgs, timeout=600)


def drain(proc, sb, n, done):
    """Samples the process while it works through the backlog, until
    done(); returns (seconds, whole-run CPU us per event, steady-state CPU
    us per event or None, peak RSS KiB). Steady state: from the first
    reading of the sandbox's call count at or above 10% of n to the last
    one below n, at least half of n later (start-up, join and the last
    commit left out). Both workers drain in bursts, so the readings are
    uneven: the widest span is taken."""
    t0 = time.time()
    marks = []  # (calls the sandbox answered, CPU seconds)
    cpu, peak = 0.0, 0
    while not done():
        try:
            cpu, peak = cpu_s(proc.pid), peak_rss_kib(proc.pid)
        except OSError:  # it exited between the check and the reading
            break
        calls = sb.stats()["requests"]
        if calls < n:
            marks.append((calls, cpu))
        time.sleep(0.1)
    secs = time.time() - t0
    lo = next((m for m in marks if m[0] >= n // 10), None)
    hi = marks[-1] if marks and lo and marks[-1][0] - lo[0] >= n // 2 else None
    steady = (hi[1] - lo[1]) / (hi[0] - lo[0]) * 1e6 if lo and hi and hi[0] > lo[0] else None
    return secs, cpu / n * 1e6, steady, peak


def us(x):
    return "%.0f us" % x if x is not None else "n/a"


def throughput(n):
    with cluster() as mk, Sandbox(qps=0).start() as sb:
        backlog(mk, n)
        proc, log = start(config(mk, sb))

        def done():
            assert proc.poll() is None, "worker exited"
            return committed_total(mk, "zu-bench", INPUT_TOPIC) >= n
        secs, whole, steady, peak = drain(proc, sb, n, done)
        whole = cpu_s(proc.pid) / n * 1e6  # the last commit included
        stop(proc)
    print("throughput: %d events in %.1f s (join included): %.0f events/s, %.0f us CPU per "
          "event (the worker's whole run; %s in steady state), peak RSS %.1f MiB"
          % (n, secs, n / secs, whole, us(steady), peak / 1024), flush=True)
    first = first_result_ms(log)
    if first is not None:
        print("start-up: the first result acknowledged %d ms after the first partition was "
              "assigned (the backlog waiting)" % first, flush=True)
    return whole, steady


def first_result_ms(log_path):
    """Milliseconds from the worker's first "partition assigned" log line to
    its first "event done" (logged when Kafka acknowledged the result), or
    None when the log has neither."""
    def ms(ts):  # "2026-12-07T18:00:44.063Z"
        h, m, s = ts[11:23].split(":")
        return ((int(h) * 60 + int(m)) * 60 + float(s)) * 1000
    assigned = done = None
    with open(log_path, "rb") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if assigned is None and rec.get("msg") == "partition assigned":
                assigned = ms(rec["ts"])
            elif assigned is not None and rec.get("msg") == "event done":
                done = ms(rec["ts"])
                break
    if assigned is None or done is None:
        return None
    return (done - assigned) % (24 * 3600 * 1000)  # across midnight


def baseline(n):
    """The same backlog through tests/bench/baseline_worker.py (Debian's
    python3 with python3-confluent-kafka)."""
    py = "/usr/bin/python3"
    if subprocess.run([py, "-c", "import confluent_kafka"], capture_output=True).returncode:
        print("baseline: skipped (python3-confluent-kafka not installed)", flush=True)
        return
    with cluster() as mk, Sandbox(qps=0).start() as sb:
        backlog(mk, n)
        # Its log lines go to a file, as the worker's do.
        log = open(os.path.join(scratch_dir(), "baseline-%d.log" % int(time.time() * 1e6)), "wb")
        proc = subprocess.Popen([py, os.path.join(HERE, "baseline_worker.py"), mk.bootstrap,
                                 sb.endpoint, str(APP_ID), SECRET, str(n)],
                                stdout=subprocess.DEVNULL, stderr=log)
        secs, whole, steady, peak = drain(proc, sb, n, lambda: proc.poll() is not None)
    # It exits when done: its CPU is read up to the last sample before that.
    print("baseline: %d events in %.1f s (join included): %.0f events/s, at least %.0f us CPU "
          "per event (its whole run; %s in steady state), peak RSS %.1f MiB"
          % (n, secs, n / secs, whole, us(steady), peak / 1024), flush=True)
    return whole, steady


def dry_run(n):
    with cluster() as mk, Sandbox(qps=0).start() as sb:
        backlog(mk, n)
        t0 = time.time()
        out = subprocess.run([binary("zim-unfriend-worker"), "-c", config(mk, sb), "--dry-run",
                              "--until-end"], env=dict(os.environ, ZIM_SERVER_SECRET=SECRET),
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=600)
        secs = time.time() - t0
    lines = out.stdout.count(b"\n")
    assert out.returncode == 0 and lines == n, "dry run: exit %d, %d lines" % (out.returncode,
                                                                             lines)
    print("dry run: %d events in %.2f s (start-up included): %.0f events/s"
          % (n, secs, n / secs), flush=True)


def http_floor(n):
    """libcurl alone, then a plain socket, against the same instant sandbox
    (bench_http_floor): the floors under the worker's CPU per event."""
    with Sandbox(qps=0).start() as sb:
        out = subprocess.run([binary("bench_http_floor"), sb.endpoint, str(n)],
                             capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, "bench_http_floor failed: " + out.stderr.strip()
    print(out.stdout.strip(), flush=True)


def latency(n=200):
    with cluster() as mk, Sandbox(qps=0).start() as sb:
        proc, log = start(config(mk, sb, fetch_wait_ms=5))
        assert wait_for(lambda: joined(log), timeout=60), "did not join"
        time.sleep(1)
        for i in range(n):
            produce(mk.bootstrap, INPUT_TOPIC, [{"key": b"l%d" % i,
                                                 "value": event(user_id="l%d" % i,
                                                                event_id="l%d" % i)}])
            time.sleep(0.02)
        assert wait_for(lambda: len(consume_all(mk.bootstrap, RESULT_TOPIC)) >= n, timeout=60)
        stop(proc)
        sent = {json.loads(m["value"])["event_id"]: m["ts"]
                for m in consume_all(mk.bootstrap, INPUT_TOPIC)}
        lat = sorted(m["ts"] - sent[json.loads(m["value"])["event_id"]]
                     for m in consume_all(mk.bootstrap, RESULT_TOPIC))
    print("latency: %d events at low load: event to result p50 %d ms, p99 %d ms, max %d ms"
          % (n, lat[len(lat) // 2], lat[int(len(lat) * 0.99) - 1], lat[-1]), flush=True)


def instructions(n=3000):
    """The worker's instructions per event under callgrind, on the same kind
    of backlog: all its threads with start-up and join (callgrind's total),
    and its main thread (the pipeline) when callgrind_annotate finds main."""
    out = os.path.join(scratch_dir(), "callgrind-%d.out" % int(time.time() * 1e6))
    with cluster() as mk, Sandbox(qps=0).start() as sb:
        backlog(mk, n)
        log = open(os.path.join(scratch_dir(), "worker-cg-%d.log" % int(time.time() * 1e6)), "wb")
        proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                                 binary("zim-unfriend-worker"), "-c", config(mk, sb)],
                                env=dict(os.environ, ZIM_SERVER_SECRET=SECRET),
                                stdout=subprocess.DEVNULL, stderr=log)
        ok = wait_for(lambda: committed_total(mk, "zu-bench", INPUT_TOPIC) >= n, timeout=600)
        proc.terminate()
        proc.wait(300)  # callgrind writes its file as the worker exits
        assert ok, "the worker under callgrind did not finish the backlog"
    with open(out) as f:
        total = next(int(line.split()[1]) for line in f if line.startswith(("summary:", "totals:")))
    ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", out], capture_output=True,
                         text=True).stdout
    main = next((int(line.split()[0].replace(",", "")) for line in ann.splitlines()
                 if "worker/main.c:main" in line), None)
    print("instructions: %d events under callgrind: %.0f k per event, all the worker's threads "
          "(start-up and join included); %s on its main thread" % (
              n, total / n / 1e3, "%.0f k" % (main / n / 1e3) if main else "n/a"), flush=True)


def ratios(worker, base):
    return tuple(b / w if b and w else None for b, w in zip(base, worker))


def fmt_ratio(r):
    return "%.1fx" % r if r else "n/a"


if __name__ == "__main__":
    args = sys.argv[1:]
    repeat = int(args[args.index("--repeat") + 1]) if "--repeat" in args else 1
    nums = [x for i, x in enumerate(args)
            if not x.startswith("--") and (i == 0 or args[i - 1] != "--repeat")]
    n = int(nums[0]) if nums else 8000
    pairs = []
    for _ in range(repeat):
        worker = throughput(n)
        if "--no-baseline" not in args:
            base = baseline(n)
            if base:
                pairs.append(ratios(worker, base))
                print("ratio: the baseline's CPU per event over the worker's: %s over the whole "
                      "run (the baseline's at least), %s in steady state"
                      % tuple(fmt_ratio(r) for r in pairs[-1]), flush=True)
    if len(pairs) > 1:
        def spread(k):
            v = sorted(p[k] for p in pairs if p[k])
            if not v:
                return "n/a"
            return "median %.1fx (%.1fx-%.1fx)" % (statistics.median(v), v[0], v[-1])
        print("ratio over %d pairs: whole run %s, steady state %s, %d of %d steady at 8x or more"
              % (len(pairs), spread(0), spread(1), sum(1 for p in pairs if p[1] and p[1] >= 8),
                 len(pairs)), flush=True)
    if "--instructions" in args:
        instructions()
    dry_run(n)
    http_floor(n)
    latency()
    idle()
    idle(quick_group=False)
