"""zu_harness - start zim-sandbox and zim-unfriend-worker for integration tests.

    from zu_harness import TestRun, Worker, cluster, event, results, write_config

    def test_something():
        with cluster(sandbox_kw={"qps": 0}) as (tmp, mk, sb):
            cfg = write_config(tmp, mk.bootstrap, sb.endpoint)
            with Worker(cfg).start() as w:
                ...
            rs = results(mk.bootstrap)

    run = TestRun()
    run.case(test_something)
    run.finish()

cluster() is the one fixture (mock cluster + sandbox); TestRun the one runner.

Everything binds 127.0.0.1 on kernel-chosen ports and is stopped at the end.
The sandbox's and the worker's files go to one scratch directory per process,
removed at exit unless a TestRun case failed (then its path is printed).
Binaries come from $ZU_BUILD_DIR (default ./build). python3 stdlib only.
"""

import atexit
import collections
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

from zu_kafka import MockKafka, consume_all, produce, wait_for  # noqa: F401  (re-exported)

APP_ID = 1234567890
SECRET = "zu-test-secret-Q9x!"
RESULT_TOPIC = "zim-unfriend-results"
DLQ_TOPIC = "zim-unfriend-dlq"
INPUT_TOPIC = "account-events"
GROUP = "zu-test"  # write_config's kafka.group_id


def build_dir():
    return os.environ.get("ZU_BUILD_DIR", "build")


# This process's scratch directory (made on first use) and whether to keep it.
_scratch = {"dir": None, "keep": False}


def scratch_dir():
    """The directory for this process's sandbox and worker files."""
    if _scratch["dir"] is None:
        name = os.path.splitext(os.path.basename(sys.argv[0] or "zu"))[0]
        _scratch["dir"] = tempfile.mkdtemp(prefix="zu-%s-" % name)
        atexit.register(_scratch_cleanup)
    return _scratch["dir"]


def _scratch_cleanup():
    if _scratch["keep"]:
        print("logs of the failed run kept in %s" % _scratch["dir"], file=sys.stderr, flush=True)
    else:
        shutil.rmtree(_scratch["dir"], ignore_errors=True)


def binary(name):
    return os.path.join(build_dir(), name)


class Sandbox:
    """One zim-sandbox process with a request log."""

    def __init__(self, app_id=APP_ID, secret=SECRET, qps=20, latency_ms=0, extra=(), log=True):
        """qps=None leaves --qps out (the sandbox's default); log=False runs
        it without a request log."""
        self.args = ["--app-id", str(app_id), "--secret", secret]
        if qps is not None:
            self.args += ["--qps", str(qps)]
        if latency_ms:
            self.args += ["--latency-ms", str(latency_ms)]
        self.args += list(extra)
        self.dir = tempfile.mkdtemp(prefix="sandbox-", dir=scratch_dir())
        self.log_paths = [os.path.join(self.dir, "requests.jsonl")] if log else []
        self.log_path = self.log_paths[0] if log else None
        self.stderr_path = os.path.join(self.dir, "stderr")
        self.proc = None
        self.endpoint = None
        self.port = 0

    def start(self):
        log = ["--log", self.log_paths[-1]] if self.log_paths else []
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen([binary("zim-sandbox"), "--port", str(self.port)] +
                                         self.args + log, stdout=subprocess.PIPE, stderr=err)
        line = self.proc.stdout.readline().decode().strip()
        if not line.startswith("listening "):
            self.stop()
            raise RuntimeError("zim-sandbox did not start: %r; stderr: %s"
                               % (line, open(self.stderr_path, errors="replace").read()[-2000:]))
        self.endpoint = "http://%s/" % line.split()[1]
        self.port = int(self.endpoint.rstrip("/").rsplit(":", 1)[1])
        return self

    def restart(self):
        """Starts again on the same port after stop() (an outage that ends);
        its requests go to a new log that requests() reads too."""
        self.log_paths.append(os.path.join(self.dir, "requests-%d.jsonl" % len(self.log_paths)))
        return self.start()

    def control(self, path, **params):
        url = self.endpoint + path.lstrip("/")
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.loads(r.read())

    def fault(self, kind, count=1, user=None):
        params = {"kind": kind, "count": count}
        if user is not None:
            params["user"] = user
        return self.control("_sandbox/fault", **params)

    def set_secret(self, value):
        return self.control("_sandbox/secret", value=value)

    def stats(self):
        return self.control("_sandbox/stats")

    def requests(self):
        """Every DeleteAllFriends request logged so far (dicts)."""
        out = []
        for path in self.log_paths:
            try:
                with open(path, "rb") as f:
                    for raw in f:
                        if raw.strip():
                            out.append(json.loads(raw))
            except FileNotFoundError:
                pass
        return out

    def stop(self, sig=signal.SIGTERM):
        """Stops it with sig; returns its exit status ("timeout" when it had
        to be killed, None when it was not running)."""
        if not self.proc:
            return None
        rc = self.proc.poll()
        if rc is None:
            self.proc.send_signal(sig)
            try:
                rc = self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                rc = "timeout"
        if self.proc.stdout:
            self.proc.stdout.close()
        return rc

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def write_config(directory, bootstrap, endpoint, **sections):
    """Writes a worker config for tests; sections override/add keys, e.g.
    write_config(d, b, e, zim={"rate_limit_qps": 5.0}, worker={"max_in_flight": 4}).
    Values: str -> quoted, bool -> true/false, list -> [ ... ], else as is."""
    conf = {
        "kafka": {
            "brokers": bootstrap,
            "group_id": GROUP,
            "input_topics": [INPUT_TOPIC],
            "result_topic": RESULT_TOPIC,
            "dead_letter_topic": DLQ_TOPIC,
            "consumer": ["session.timeout.ms=6000", "heartbeat.interval.ms=500",
                         "socket.connection.setup.timeout.ms=5000"],
        },
        "zim": {"endpoint": endpoint, "app_id": APP_ID, "request_timeout_ms": 3000},
        "retry": {"initial_backoff_ms": 50, "max_backoff_ms": 1000},
        # Shared calls change how many calls a backlog costs; the tests that
        # count calls per event run without them, those of shared calls
        # turn them on (the product's default).
        "worker": {"shutdown_grace_ms": 10000, "coalesce": False},
        "observability": {"listen": "127.0.0.1:0", "log_format": "json", "log_level": "info"},
    }
    for group, keys in sections.items():
        conf.setdefault(group, {}).update(keys)

    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, (list, tuple)):
            return "[ " + ", ".join(val(x) for x in v) + " ]"
        if isinstance(v, dict):
            return "{ " + " ".join("%s = %s;" % (k, val(x)) if not isinstance(x, dict)
                                   else "%s: %s;" % (k, val(x)) for k, x in v.items()) + " }"
        return str(v)

    lines = []
    for group, keys in conf.items():
        lines.append("%s: {" % group)
        for k, v in keys.items():
            lines.append("  %s%s %s;" % (k, ":" if isinstance(v, dict) else " =", val(v)))
        lines.append("};")
    path = os.path.join(directory, "worker-%d.cfg" % int(time.time() * 1e6))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


class Worker:
    """One zim-unfriend-worker process; stderr (JSON log lines) kept in a file
    in log_dir (default: the scratch directory)."""

    def __init__(self, config, args=(), secret=SECRET, env=None, log_dir=None):
        self.argv = [binary("zim-unfriend-worker"), "-c", config] + list(args)
        self.env = dict(os.environ)
        self.env["ZIM_SERVER_SECRET"] = secret
        self.env.update(env or {})
        fd, self.log_path = tempfile.mkstemp(prefix="worker-", suffix=".log",
                                             dir=log_dir or scratch_dir())
        os.close(fd)
        self.proc = None
        self.stdout = None

    def start(self):
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=subprocess.PIPE,
                                     stderr=open(self.log_path, "wb"))
        return self

    def logs(self):
        out = []
        with open(self.log_path, "rb") as f:
            for raw in f:
                try:
                    out.append(json.loads(raw))
                except ValueError:
                    out.append({"raw": raw.decode("utf-8", "replace")})
        return out

    def metrics_port(self):
        """The observability port, from the log line of the endpoint (None if off)."""
        for rec in self.logs():
            if rec.get("msg") == "observability endpoint" and rec.get("port"):
                return int(rec["port"])
        return None

    def http(self, path):
        """(status, body) of GET path on the observability endpoint."""
        port = wait_for(self.metrics_port, timeout=20)
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metric(self, name, labels=None):
        """Value of zim_unfriend_<name>{labels} from /metrics (0.0 when absent)."""
        _, body = self.http("/metrics")
        want = "zim_unfriend_" + name + ("{" + labels + "}" if labels else "")
        for line in body.splitlines():
            if line.startswith(want + " "):
                return float(line.split()[-1])
        return 0.0

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def terminate(self, timeout=30):
        """SIGTERM; returns the exit code."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill9(self):
        if self.running():
            self.proc.kill()
        return self.proc.wait()

    def wait(self, timeout=60):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("worker did not exit within %ss; log: %s" % (timeout, self.log_path))
        if self.stdout is None:
            self.stdout = self.proc.stdout.read().decode("utf-8", "replace")
        return rc

    def dump(self, n=40):
        """The last n log lines, for failure messages."""
        with open(self.log_path, "rb") as f:
            return b"".join(f.readlines()[-n:]).decode("utf-8", "replace")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.running():
            self.kill9()


def parse_metrics(body):
    """{'name{labels}': value} of every sample line of a /metrics body."""
    out = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            key, _, val = line.rpartition(" ")
            out[key] = float(val)
    return out


def event(type_="account-deleted", user_id="u1", **fields):
    """An input event value (bytes)."""
    d = {"type": type_, "user_id": user_id}
    d.update(fields)
    return json.dumps(d).encode()


def results(bootstrap, topic=RESULT_TOPIC, timeout=60):
    """Result messages: list of (message dict, parsed JSON value)."""
    out = []
    for m in consume_all(bootstrap, topic, timeout=timeout):
        out.append((m, json.loads(m["value"])))
    return out


TOPICS = {INPUT_TOPIC: 3, RESULT_TOPIC: 1, DLQ_TOPIC: 1}


@contextlib.contextmanager
def cluster(topics=None, brokers=1, sandbox_kw=None):
    """The one fixture of the integration tests: a mock Kafka cluster with
    `topics` (default: the input topic of 3 partitions, the result and DLQ
    topics) on `brokers` brokers, and a sandbox (Sandbox(**sandbox_kw)).
    Yields (scratch dir, MockKafka, Sandbox); stops both at the end. The
    scratch dir holds the mock's log and is removed with the process's
    scratch directory, so it is kept when a case failed."""
    tmp = tempfile.mkdtemp(prefix="cluster-", dir=scratch_dir())
    with open(os.path.join(tmp, "mock-kafka.log"), "wb") as mlog, \
            MockKafka(stderr=mlog) as mk, Sandbox(**(sandbox_kw or {})) as sb:
        mk.start(brokers=brokers, topics=topics or TOPICS)
        sb.start()
        yield tmp, mk, sb


def wait_results(mk, n, timeout, workers=(), interval=0.5):
    """Waits until the result topic holds >= n messages and returns them as
    results() does; fails at once, with its log, when a worker exits."""
    got = []

    def enough():
        for w in workers:
            if not w.running():
                raise AssertionError("worker exited early (rc=%s):\n%s"
                                     % (w.proc.returncode, w.dump()))
        got[:] = results(mk.bootstrap)
        return len(got) >= n

    if not wait_for(enough, timeout=timeout, interval=interval):
        raise AssertionError("only %d of %d results within %ss" % (len(got), n, timeout))
    return got


def backlog_messages(n, users, prefix, parts=None):
    """n input messages: event_id prefix-NNN, user prefix-uNN round robin over
    `users`, key = user id; with parts, message i goes to partition i % parts
    (an even spread whatever the key hash)."""
    msgs = []
    for i in range(n):
        uid = "%s-u%0*d" % (prefix, 3 if users > 100 else 2, i % users)
        m = {"key": uid.encode(), "value": event(user_id=uid, event_id="%s-%03d" % (prefix, i))}
        if parts:
            m["partition"] = i % parts
        msgs.append(m)
    return msgs


def backlog(bootstrap, n, users, prefix, partitions):
    """Produces backlog_messages(n, users, prefix) to the input topic of
    `partitions` partitions; returns {event_id: (partition, offset)} and the
    partition ends."""
    produce(bootstrap, INPUT_TOPIC, backlog_messages(n, users, prefix))
    where, ends = {}, {p: 0 for p in range(partitions)}
    for m in consume_all(bootstrap, INPUT_TOPIC):
        where[json.loads(m["value"])["event_id"]] = (m["partition"], m["offset"])
        ends[m["partition"]] = max(ends[m["partition"]], m["offset"] + 1)
    assert len(where) == n, "backlog: %d of %d events readable" % (len(where), n)
    return where, ends


def values(bootstrap):
    """The parsed result values on the result topic."""
    return [v for _, v in results(bootstrap)]


def successes(vals):
    """Counter event_id -> number of success results."""
    return collections.Counter(v["event_id"] for v in vals if v["status"] == "success")


def committed(mk):
    """{partition: offset} the test group committed on the input topic (-1 = none)."""
    return mk.committed(GROUP, INPUT_TOPIC)


def wait_committed(mk, ends, timeout=30):
    """Waits until the group's committed offsets equal ends; returns the last seen."""
    last = {}

    def check():
        last.clear()
        last.update(committed(mk))
        return last == ends

    wait_for(check, timeout=timeout, interval=0.5)
    return dict(last)


def assert_complete(mk, where, ends):
    """The end state of an at-least-once run: committed offsets reach the
    partition ends, no failure result, a success result for every event of
    where ({event_id: position}) and for no other. Returns (result values,
    {event_id: count})."""
    final = wait_committed(mk, ends)
    vals = values(mk.bootstrap)
    assert final == ends, "committed %s, partition ends %s" % (final, ends)
    bad = [v for v in vals if v["status"] != "success"]
    assert not bad, "failure results: %s" % bad[:3]
    succ = successes(vals)
    missing = sorted(set(where) - set(succ))
    assert not missing, "events without a success result (lost): %s" % missing[:10]
    assert set(succ) == set(where), "unknown event ids: %s" % sorted(set(succ) - set(where))[:5]
    return vals, succ


class TestRun:
    """Collects named checks and prints the closing 'N passed, N failed' line."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def case(self, fn, *args, on_fail=None):
        """Runs fn(*args); on a failure prints it, then calls on_fail() (to put
        a shared service back in order for the next case)."""
        name = fn.__name__
        t0 = time.time()
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 - report every failure, keep going
            import traceback
            traceback.print_exc()
            print("FAIL %s (%.1fs): %s" % (name, time.time() - t0, e), flush=True)
            self.failed += 1
            _scratch["keep"] = True
            if on_fail:
                try:
                    on_fail()
                except Exception as e2:  # noqa: BLE001
                    print("     (clean-up after it failed too: %s)" % e2, flush=True)
        else:
            print("ok   %s (%.1fs)" % (name, time.time() - t0), flush=True)
            self.passed += 1

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        sys.exit(1 if self.failed or not self.passed else 0)
