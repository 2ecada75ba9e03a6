#!/usr/bin/env python3
"""Integration test: what Prometheus and Grafana are given is accepted by
Prometheus' own tools and names only metrics the worker exports.

- A real scrape: the worker processes 30 events (two of them retried once,
  one rejected, one invalid) and /metrics is taken while it runs.
  `promtool check metrics` accepts it. The call-duration histogram counted
  every API call; build_info names this version; the process_* metrics
  are the worker's own (its RSS, its fds, its start time).
- deploy/prometheus/alerts.yml passes `promtool check rules`, and
  `promtool test rules` runs alerts_test.yml (a test per alert).
- Every metric that alerts.yml and deploy/grafana/zim-unfriend.json use
  appears in the scrape.

    ZU_BUILD_DIR=build python3 tests/integration/test_monitoring.py
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zu_harness import (cluster, DLQ_TOPIC, INPUT_TOPIC, RESULT_TOPIC, TestRun,  # noqa: E402
                        Worker, event, parse_metrics, values, write_config)
from zu_kafka import produce, wait_for  # noqa: E402

PROMTOOL = shutil.which("promtool")
SCRAPE = {}


def source_dir():
    return os.environ.get("ZU_SOURCE_DIR",
                          os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def promtool(*args, stdin=None):
    assert PROMTOOL, "promtool is not installed (Debian package prometheus; scripts/deps.sh)"
    return subprocess.run([PROMTOOL] + list(args), input=stdin, capture_output=True, timeout=120)


def test_real_scrape():
    with cluster(topics={INPUT_TOPIC: 2, RESULT_TOPIC: 1, DLQ_TOPIC: 1},
                 sandbox_kw={"qps": 0}) as (tmp, mk, sb):
        sb.fault("code:660000001", count=1, user="mon-u03")
        sb.fault("code:660000001", count=1, user="mon-u04")
        sb.fault("code:660000002", count=1, user="mon-u05")
        msgs = [{"key": b"mon-u%02d" % i,
                 "value": event(user_id="mon-u%02d" % i, event_id="mon-%02d" % i)}
                for i in range(29)]
        msgs.append({"key": b"bad", "value": b"{not json"})
        produce(mk.bootstrap, INPUT_TOPIC, msgs)
        cfg = write_config(tmp, mk.bootstrap, sb.endpoint)
        with Worker(cfg).start() as w:
            assert wait_for(lambda: len(values(mk.bootstrap)) >= 30, timeout=90), w.dump()
            # Offsets and metrics settle on the next turns.
            assert wait_for(lambda: w.metric("events_total", 'outcome="success"') == 28,
                            timeout=30), w.dump()
            status, text = w.http("/metrics")
            assert status == 200, status
            pid = w.proc.pid
            with open("/proc/%d/status" % pid) as f:
                rss_kb = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
            fds = len(os.listdir("/proc/%d/fd" % pid))
            assert w.terminate() == 0, w.dump()
    SCRAPE["text"] = text

    r = promtool("check", "metrics", stdin=text.encode())
    assert r.returncode == 0, "promtool check metrics:\n%s%s" % (r.stdout.decode(), r.stderr.decode())
    print("  promtool check metrics: clean (%d lines)" % len(text.splitlines()))

    s = parse_metrics(text)
    calls = sum(v for k, v in s.items() if k.startswith("zim_unfriend_api_calls_total{"))
    observed = sum(v for k, v in s.items()
                   if k.startswith("zim_unfriend_api_call_duration_seconds_count{"))
    assert calls == 31 and observed == calls, (calls, observed)  # 28 + 2 retries + 1 rejected
    inf = sum(v for k, v in s.items()
              if k.startswith("zim_unfriend_api_call_duration_seconds_bucket{")
              and 'le="+Inf"' in k)
    assert inf == observed, (inf, observed)
    assert s['zim_unfriend_api_call_duration_seconds_count{outcome="retry"}'] == 2, s
    assert s['zim_unfriend_api_call_duration_seconds_count{outcome="rejected"}'] == 1, s
    assert s['zim_unfriend_events_total{outcome="invalid_event"}'] == 1, s
    assert s['zim_unfriend_events_total{outcome="rejected"}'] == 1, s

    version = re.search(r"project\(zim-unfriend VERSION ([0-9.]+)",
                        open(os.path.join(source_dir(), "CMakeLists.txt")).read()).group(1)
    build = [k for k in s if k.startswith("zim_unfriend_build_info{")]
    assert len(build) == 1 and 'version="%s"' % version in build[0], build
    assert re.search(r'librdkafka="[0-9]+\.[0-9]+', build[0]), build
    print("  " + build[0])

    rss = s["process_resident_memory_bytes"]
    assert 0.5 < rss / (rss_kb * 1024) < 2, (rss, rss_kb)
    assert abs(s["process_open_fds"] - fds) <= 3, (s["process_open_fds"], fds)
    assert time.time() - 300 < s["process_start_time_seconds"] <= time.time(), s
    assert s["process_cpu_seconds_total"] > 0, s
    print("  process: rss %.1f MiB, %d fds, %.2f s CPU"
          % (rss / 2**20, s["process_open_fds"], s["process_cpu_seconds_total"]))


def test_alert_rules():
    rules = os.path.join(source_dir(), "deploy", "prometheus", "alerts.yml")
    r = promtool("check", "rules", rules)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    tests = os.path.join(source_dir(), "deploy", "prometheus", "alerts_test.yml")
    r = promtool("test", "rules", tests)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    alerts = re.findall(r"^\s+- alert: (\w+)", open(rules).read(), re.M)
    tested = set(re.findall(r"alertname: (\w+)", open(tests).read()))
    assert alerts and set(alerts) == tested, (alerts, tested)
    print("  %d alerts, each with a promtool unit test" % len(alerts))


def test_names_exist():
    assert "text" in SCRAPE, "needs test_real_scrape's scrape"
    exported = set()
    for line in SCRAPE["text"].splitlines():
        m = re.match(r"# TYPE (\w+) (\w+)", line)
        if m:
            exported.add(m.group(1))
            if m.group(2) == "histogram":
                exported.update(m.group(1) + sfx for sfx in ("_bucket", "_sum", "_count"))
    for rel in ("deploy/prometheus/alerts.yml", "deploy/grafana/zim-unfriend.json"):
        text = open(os.path.join(source_dir(), rel)).read()
        if rel.endswith(".json"):
            exprs = [t["expr"] for p in json.loads(text)["panels"] for t in p["targets"]]
            text = "\n".join(exprs)
        used = set(re.findall(r"\b((?:zim_unfriend|process)_[a-z_]+)\b", text))
        missing = sorted(used - exported)
        assert used and not missing, "%s uses metrics the worker does not export: %s" % (rel, missing)
        print("  %s: %d metric names, all exported" % (rel, len(used)))


if __name__ == "__main__":
    run = TestRun()
    run.case(test_real_scrape)
    run.case(test_alert_rules)
    run.case(test_names_exist)
    run.finish()
