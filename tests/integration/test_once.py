#!/usr/bin/env python3
"""Integration test of `zim-unfriend-worker --once USER_ID [--delete-type T]`.

One zim-sandbox (no QPS limit, faults queued per case) sits behind a small
recording proxy in this file, so every raw request target the worker sends
is seen: its parameters, percent-encoding, nonce and signature are checked
against docs/contract.md, and the sandbox's request log shows what the API received.
The config names a "broker" that is a listening socket of this file: --once
must never connect to it.

Cases: exact delivery of user ids with every special character, delete
types, rejected, each transient fault retried with a fresh signature, rate
limit, signature expired (clock warning), systemic wrong secret, retries
exhausted, the secret absent from all output even at debug, invalid user ids
(exit 64, nothing sent).

python3 stdlib only; run with ZU_BUILD_DIR=<build dir>.
"""

import hashlib
import http.client
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zu_harness import APP_ID, SECRET, Sandbox, TestRun, binary, write_config  # noqa: E402

WRONG_SECRET = "wrong-secret-Zk7p"
SPECIALS = "!#$%&()+-:;<=.>?@[]^_{}|~"
HEX16 = re.compile(r"^[0-9a-f]{16}$")
ENCODED_VALUE = re.compile(r"^(?:[A-Za-z0-9._~-]|%[0-9A-Fa-f]{2})+$")
RUN_TIMEOUT = 120


class RecordingProxy:
    """HTTP/1.0 front of the sandbox. Records every raw request target,
    forwards it, relays status, content type and body; when the sandbox
    drops the connection it closes the client's without an answer."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.targets = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                with proxy.lock:
                    proxy.targets.append(self.path)
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=30)
                try:
                    conn.request("GET", self.path)
                    resp = conn.getresponse()
                    body = resp.read()
                except (OSError, http.client.HTTPException):
                    self.close_connection = True
                    return
                finally:
                    conn.close()
                self.send_response(resp.status)
                self.send_header("Content-Type", resp.getheader("Content-Type", "text/plain"))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = "http://127.0.0.1:%d/" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def recorded(self):
        with self.lock:
            return list(self.targets)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def parse_target(target):
    """Raw target "/?a=b&..." -> (dict name -> raw value). Fails on repeated names."""
    path, _, query = target.partition("?")
    assert path == "/", "request path %r" % path
    params = {}
    for seg in query.split("&"):
        name, eq, value = seg.partition("=")
        assert eq, "parameter without '=': %r in %r" % (seg, target)
        assert name not in params, "parameter %s twice in %r" % (name, target)
        params[name] = value
    return params


def check_target(target, user_id, delete_type, secret=SECRET):
    """Asserts one request target is a well-formed DeleteAllFriends call for
    user_id, signed with secret; returns (nonce, signature)."""
    raw = parse_target(target)
    for name, value in raw.items():
        assert ENCODED_VALUE.match(value), "%s value not percent-encoded: %r" % (name, value)
    p = {k: urllib.parse.unquote(v, errors="strict") for k, v in raw.items()}
    want = {"Action", "AppId", "SignatureNonce", "Timestamp", "SignatureVersion", "Signature",
            "FromUserId", "DeleteType"}
    assert set(p) == want, "parameters %s" % sorted(p)
    assert p["Action"] == "DeleteAllFriends"
    assert p["AppId"] == str(APP_ID)
    assert p["SignatureVersion"] == "2.0"
    assert HEX16.match(p["SignatureNonce"]), p["SignatureNonce"]
    assert re.match(r"^[1-9][0-9]{9}$", p["Timestamp"]), p["Timestamp"]
    sig = hashlib.md5((p["AppId"] + p["SignatureNonce"] + secret + p["Timestamp"])
                      .encode()).hexdigest()
    assert p["Signature"] == sig, "signature %s, expected %s" % (p["Signature"], sig)
    assert p["FromUserId"] == user_id, "FromUserId %r, expected %r" % (p["FromUserId"], user_id)
    assert p["DeleteType"] == str(delete_type)
    return p["SignatureNonce"], p["Signature"]


class Env:
    """Shared fixtures: sandbox, proxy, never-to-be-contacted broker socket."""

    def __init__(self, sb, proxy, tmp):
        self.sb = sb
        self.proxy = proxy
        self.tmp = tmp
        self.broker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.broker.bind(("127.0.0.1", 0))
        self.broker.listen(16)
        self.broker.setblocking(False)
        self.bootstrap = "127.0.0.1:%d" % self.broker.getsockname()[1]
        self.cfg = self.config()

    def config(self, **sections):
        sections.setdefault("observability", {"listen": "", "log_format": "json"})
        return write_config(self.tmp, self.bootstrap, self.proxy.endpoint, **sections)

    def mark(self):
        """Positions in the sandbox log and the proxy record; resets faults."""
        self.sb.control("_sandbox/reset")
        return len(self.sb.requests()), len(self.proxy.recorded())

    def since(self, mark):
        return self.sb.requests()[mark[0]:], self.proxy.recorded()[mark[1]:]

    def kafka_contacted(self):
        try:
            conn, _ = self.broker.accept()
        except BlockingIOError:
            return False
        conn.close()
        return True


def run_once(env, user_id, *args, secret=SECRET, cfg=None):
    """Runs --once; returns (exit code, stdout, stderr)."""
    argv = [binary("zim-unfriend-worker"), "-c", cfg or env.cfg, "--once", user_id] + list(args)
    e = dict(os.environ)
    e.pop("ZIM_UNFRIEND_CONFIG", None)
    e.pop("KAFKA_BROKERS", None)
    e["ZIM_SERVER_SECRET"] = secret
    p = subprocess.run(argv, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=RUN_TIMEOUT)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def result_of(out, err):
    lines = out.splitlines()
    assert len(lines) == 1, "stdout is not one line: %r; stderr: %s" % (out, err)
    r = json.loads(lines[0])
    assert r["schema"] == "zim-unfriend/result/v1", r
    assert r["app_id"] == APP_ID and r["source"] is None and r["event_type"] is None, r
    assert r["event_id"].startswith("once/"), r
    return r


def log_records(err):
    recs = []
    for line in err.splitlines():
        try:
            recs.append(json.loads(line))
        except ValueError:
            raise AssertionError("stderr line is not a JSON log record: %r" % line)
    return recs


def no_secret(out, err, *secrets):
    for s in secrets:
        assert s not in out, "secret %r on stdout" % s
        assert s not in err, "secret %r on stderr" % s


def expect_success(env, user_id, *args, delete_type=0, attempts=1):
    """Runs --once expecting success after `attempts` calls; returns
    (result, sandbox requests, proxy targets, stderr)."""
    m = env.mark()
    rc, out, err = run_once(env, user_id, *args)
    assert rc == 0, "exit %d; stdout %r; stderr %s" % (rc, out, err)
    r = result_of(out, err)
    assert r["status"] == "success" and r["error_class"] is None, r
    assert r["user_id"] == user_id, r
    assert r["delete_type"] == delete_type and r["code"] == 0 and r["attempts"] == attempts, r
    reqs, targets = env.since(m)
    assert len(reqs) == attempts, "sandbox saw %d requests: %s" % (len(reqs), reqs)
    assert len(targets) == attempts, targets
    for q in reqs:
        assert q["user_id"] == user_id, q
        assert q["delete_type"] == delete_type and q["app_id"] == APP_ID, q
    last = reqs[-1]
    assert last["code"] == 0 and last["fault"] is None and last["http_status"] == 200, last
    assert last["request_id"] == r["request_id"], (last, r)
    sigs = [check_target(t, user_id, delete_type) for t in targets]
    assert len({n for n, _ in sigs}) == attempts, "nonce reused: %s" % sigs
    assert len({s for _, s in sigs}) == attempts, "signature reused: %s" % sigs
    no_secret(out, err, SECRET)
    log_records(err)
    return r, reqs, targets, err


def main():
    t = TestRun()
    tmp = tempfile.mkdtemp(prefix="zu-once-")
    with Sandbox(qps=0).start() as sb, \
            RecordingProxy(urllib.parse.urlsplit(sb.endpoint).port).start() as proxy:
        env = Env(sb, proxy, tmp)

        def once_success_ampersand():
            r, _, _, _ = expect_success(env, "a&b=c")
            print("    request_id %s" % r["request_id"])

        def once_special_characters():
            ids = [SPECIALS,                       # all 25 at once
                   "!#$%&()+-:;<=", ".>?@[]^_{}|~",
                   "%41%2B+%", "u+1", "#frag?x=y&z=1", "%",
                   "Az09" + SPECIALS[:28 - 4] + "zz", "x" * 32]
            assert all(1 <= len(i) <= 32 for i in ids)
            assert set("".join(ids)) >= set(SPECIALS)
            for uid in ids:
                expect_success(env, uid)

        def once_one_way():
            expect_success(env, "one-way-user", "--delete-type", "one-way", delete_type=1)
            expect_success(env, "two-way-user", "--delete-type", "two-way", delete_type=0)

        def once_rejected():
            m = env.mark()
            sb.fault("code:660000002")
            rc, out, err = run_once(env, "rejected-user")
            assert rc == 1, "exit %d; %s" % (rc, err)
            r = result_of(out, err)
            assert r["status"] == "failure" and r["error_class"] == "rejected", r
            assert r["attempts"] == 1 and r["code"] == 660000002, r
            reqs, targets = env.since(m)
            assert len(reqs) == 1 and reqs[0]["fault"] == "code:660000002", reqs
            assert reqs[0]["request_id"] == r["request_id"], (reqs, r)
            check_target(targets[0], "rejected-user", 0)
            no_secret(out, err, SECRET)

        def retry_case(kind, count):
            def case():
                m = env.mark()
                sb.fault(kind, count=count)
                uid = "retry-" + kind.replace(":", "-")
                rc, out, err = run_once(env, uid)
                assert rc == 0, "exit %d; stdout %r; stderr %s" % (rc, out, err)
                r = result_of(out, err)
                assert r["status"] == "success" and r["attempts"] == count + 1, r
                assert r["code"] == 0, r
                reqs, targets = env.since(m)
                assert len(reqs) == count + 1, reqs
                assert [q["fault"] for q in reqs] == [kind] * count + [None], reqs
                assert reqs[-1]["request_id"] == r["request_id"], (reqs, r)
                assert all(q["user_id"] == uid for q in reqs), reqs
                sigs = [check_target(x, uid, 0) for x in targets]
                assert len(targets) == count + 1, targets
                assert len(set(sigs)) == count + 1 and len({n for n, _ in sigs}) == count + 1, \
                    "nonce or signature reused across retries: %s" % sigs
                assert env.sb.stats()["faults_pending"] == 0
                no_secret(out, err, SECRET)
                log_records(err)
            case.__name__ = "retry_%s_x%d" % (re.sub(r"[^a-z0-9]", "_", kind), count)
            return case

        def once_rate_limited():
            m = env.mark()
            sb.fault("code:660300005", count=2)
            rc, out, err = run_once(env, "rate-limited")
            assert rc == 0, "exit %d; %s" % (rc, err)
            r = result_of(out, err)
            assert r["status"] == "success" and r["attempts"] == 3 and r["code"] == 0, r
            reqs, targets = env.since(m)
            assert [q["code"] for q in reqs] == [660300005, 660300005, 0], reqs
            sigs = {check_target(x, "rate-limited", 0) for x in targets}
            assert len(sigs) == 3, sigs
            gaps = [(reqs[i + 1]["ts_start_us"] - reqs[i]["ts_end_us"]) / 1000.0
                    for i in range(2)]
            print("    gaps between attempts: %s ms" % ", ".join("%.0f" % g for g in gaps))

        def once_signature_expired():
            m = env.mark()
            sb.fault("code:100000004")
            rc, out, err = run_once(env, "clock-user")
            assert rc == 0, "exit %d; %s" % (rc, err)
            r = result_of(out, err)
            assert r["status"] == "success" and r["attempts"] == 2, r
            reqs, targets = env.since(m)
            assert [q["code"] for q in reqs] == [100000004, 0], reqs
            assert len({check_target(x, "clock-user", 0) for x in targets}) == 2
            warns = [x for x in log_records(err)
                     if x.get("level") == "warn" and "clock" in json.dumps(x).lower()]
            assert warns, "no warning about the clock in: %s" % err
            print("    warning: %s" % warns[0].get("msg"))

        def once_systemic_wrong_secret():
            m = env.mark()
            rc, out, err = run_once(env, "systemic-user", "--log-level", "debug",
                                    secret=WRONG_SECRET)
            assert rc == 1, "exit %d; %s" % (rc, err)
            r = result_of(out, err)
            # The result format has no systemic class: the API rejected the call,
            # and the log says why it is not this user's fault.
            assert r["status"] == "failure" and r["error_class"] == "rejected", r
            assert r["code"] == 100000005 and r["attempts"] == 1, r
            sys_recs = [x for x in log_records(err) if x.get("level") == "error" and
                        x.get("msg", "").startswith("systemic error:")]
            assert sys_recs and sys_recs[0].get("code") == "100000005", err
            reqs, targets = env.since(m)
            assert len(reqs) == 1 and reqs[0]["code"] == 100000005 and reqs[0]["fault"] is None
            check_target(targets[0], "systemic-user", 0, secret=WRONG_SECRET)
            no_secret(out, err, SECRET, WRONG_SECRET)
            log_records(err)

        def once_retries_exhausted():
            cfg = env.config(retry={"max_attempts": 3, "initial_backoff_ms": 20,
                                    "max_backoff_ms": 200})
            m = env.mark()
            sb.fault("http:500", count=5)
            rc, out, err = run_once(env, "exhausted", cfg=cfg)
            assert rc == 1, "exit %d; %s" % (rc, err)
            r = result_of(out, err)
            assert r["status"] == "failure" and r["error_class"] == "retries_exhausted", r
            assert r["attempts"] == 3 and r["code"] is None and r["request_id"] is None, r
            reqs, targets = env.since(m)
            assert len(reqs) == 3 and all(q["fault"] == "http:500" for q in reqs), reqs
            assert len({check_target(x, "exhausted", 0) for x in targets}) == 3
            assert sb.stats()["faults_pending"] == 2
            no_secret(out, err, SECRET)
            sb.control("_sandbox/reset")

        def once_secret_hidden_at_debug():
            m = env.mark()
            sb.fault("drop")
            sb.fault("code:100000004")
            sb.fault("http:503")
            rc, out, err = run_once(env, "debug-user", "--log-level", "debug")
            assert rc == 0, "exit %d; %s" % (rc, err)
            r = result_of(out, err)
            assert r["attempts"] == 4, r
            recs = log_records(err)
            assert any(x.get("level") == "debug" for x in recs), "no debug lines: %s" % err
            no_secret(out, err, SECRET)
            reqs, targets = env.since(m)
            assert len(reqs) == 4 and len({check_target(x, "debug-user", 0)
                                           for x in targets}) == 4
            print("    %d log lines at debug, none with the secret" % len(recs))

        def once_invalid_user_ids():
            m = env.mark()
            for uid in ["a/b", "x" * 33, "", "a b", "caf\u00e9", "a\\b", "a,b", "a*b", "a'b"]:
                rc, out, err = run_once(env, uid)
                assert rc == 64, "%r: exit %d; %s" % (uid, rc, err)
                assert out == "", "%r: stdout %r" % (uid, out)
                first = err.splitlines()[0] if err else ""
                assert "--once" in first and "user id" in first, "%r: message %r" % (uid, err)
            reqs, targets = env.since(m)
            assert reqs == [] and targets == [], (reqs, targets)

        def once_never_contacts_kafka():
            assert not env.kafka_contacted(), "--once connected to the Kafka bootstrap"

        t.case(once_success_ampersand)
        t.case(once_special_characters)
        t.case(once_one_way)
        t.case(once_rejected)
        for kind, count in [("code:660000001", 1), ("code:1", 1), ("http:500", 1),
                            ("http:503", 2), ("nonjson", 1), ("drop", 1)]:
            t.case(retry_case(kind, count))
        t.case(once_rate_limited)
        t.case(once_signature_expired)
        t.case(once_systemic_wrong_secret)
        t.case(once_retries_exhausted)
        t.case(once_secret_hidden_at_debug)
        t.case(once_invalid_user_ids)
        t.case(once_never_contacts_kafka)
        env.broker.close()
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(sb.dir, ignore_errors=True)
    t.finish()


if __name__ == "__main__":
    main()
