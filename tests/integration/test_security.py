#!/usr/bin/env python3
"""Integration test: secrets stay secret, and the API is called over
verified TLS (Guarantee 9).

- The secret given in ZIM_SERVER_SECRET is gone from /proc/PID/environ.
- The process is not dumpable: run as an unprivileged user, its /proc files
  belong to root.
- A server_secret_file readable by others, or by a group other than the
  worker's own, is warned about, naming the file (0440 of the worker's own
  group, as Kubernetes' fsGroup makes it, is not).
- zim.endpoint over plain http to a host that is not loopback is a
  configuration error (78).
- The observability endpoint under slow clients: 100 connections from one
  address that never finish their request leave /healthz answering for
  another address; the server keeps at most 8 of them, closes the rest at
  once and the kept ones when they have idled 3 s; a request whose headers
  exceed 16 KiB is refused.
- TLS: a server whose certificate is signed by a private CA is refused
  (systemic: not trusted) until zim.ca_file names that CA; TLS below 1.2 is
  refused.

    ZU_BUILD_DIR=build python3 tests/integration/test_security.py
"""

import http.server
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)  # ssl.TLSVersion.TLSv1_1, on purpose

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zu_harness import (SECRET, TestRun, Worker, binary, scratch_dir, wait_for,  # noqa: E402
                        write_config)


def idle_worker_config(tmp, **sections):
    """A config whose brokers answer nothing: the worker runs and waits."""
    return write_config(tmp, "127.0.0.1:1", "http://127.0.0.1:1/", **sections)


def test_secret_env_removed():
    with tempfile.TemporaryDirectory(prefix="zu-sec-") as tmp:
        cfg = idle_worker_config(tmp)
        with Worker(cfg).start() as w:
            assert wait_for(lambda: any(r.get("msg") == "worker started" for r in w.logs()),
                            timeout=20), w.dump()
            with open("/proc/%d/environ" % w.proc.pid, "rb") as f:
                env = f.read()
            assert SECRET.encode() not in env, "the secret is readable in /proc/PID/environ"
            # /proc shows the block the process started with: the name stays
            # there, its value is wiped (zero bytes); environ no longer has it.
            at = env.find(b"ZIM_SERVER_SECRET=")
            if at >= 0:
                rest = env[at + len(b"ZIM_SERVER_SECRET="):]
                assert rest[:len(SECRET)] == b"\0" * len(SECRET), rest[:len(SECRET)]
            w.terminate()


def test_not_dumpable():
    """Run as nobody: a dumpable process owns its /proc/PID files; one that
    is not dumpable leaves them to root."""
    d = tempfile.mkdtemp(prefix="zu-sec-nobody-", dir="/tmp")
    os.chmod(d, 0o755)
    cfg = idle_worker_config(d)
    os.chmod(cfg, 0o644)
    proc = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                             binary("zim-unfriend-worker"), "-c", cfg],
                            env=dict(os.environ, ZIM_SERVER_SECRET=SECRET),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(1.0)
        assert proc.poll() is None, proc.stderr.read().decode()
        st = os.stat("/proc/%d/environ" % proc.pid)
        assert st.st_uid == 0, "/proc/PID/environ owned by uid %d: dumpable" % st.st_uid
    finally:
        proc.terminate()
        proc.wait(10)
        subprocess.run(["rm", "-rf", d])


def test_secret_file_mode_warned():
    with tempfile.TemporaryDirectory(prefix="zu-sec-") as tmp:
        path = os.path.join(tmp, "secret")
        with open(path, "w") as f:
            f.write(SECRET + "\n")
        os.chmod(path, 0o644)
        cfg = idle_worker_config(tmp, zim={"endpoint": "http://127.0.0.1:1/", "app_id": 1,
                                           "server_secret_file": path})
        with Worker(cfg, env={"ZIM_SERVER_SECRET": ""}).start() as w:
            rec = wait_for(lambda: [r for r in w.logs() if "readable by others or by another group"
                                    in r.get("msg", "")], timeout=20)
            assert rec and rec[0]["file"] == path and rec[0]["mode"] == "0644", w.dump()
            w.terminate()
        # 0640 of another group: warned; 0640 of the worker's own group (how
        # Kubernetes' fsGroup lets a non-root worker in) and 0600: not.
        os.chmod(path, 0o640)
        os.chown(path, -1, 65534)
        with Worker(cfg, env={"ZIM_SERVER_SECRET": ""}).start() as w:
            rec = wait_for(lambda: [r for r in w.logs() if "readable by others or by another group"
                                    in r.get("msg", "")], timeout=20)
            assert rec and rec[0]["mode"] == "0640", w.dump()
            w.terminate()
        for gid, mode in ((os.getegid(), 0o640), (os.getegid(), 0o600)):
            os.chown(path, -1, gid)
            os.chmod(path, mode)
            with Worker(cfg, env={"ZIM_SERVER_SECRET": ""}).start() as w:
                assert wait_for(lambda: any(r.get("msg") == "worker started" for r in w.logs()),
                                timeout=20), w.dump()
                assert not [r for r in w.logs() if "readable by" in r.get("msg", "")], oct(mode)
                w.terminate()


def test_plain_http_refused():
    with tempfile.TemporaryDirectory(prefix="zu-sec-") as tmp:
        cfg = write_config(tmp, "127.0.0.1:1", "http://zim-api.zego.im/")
        r = subprocess.run([binary("zim-unfriend-worker"), "-c", cfg, "--check-config"],
                           env=dict(os.environ, ZIM_SERVER_SECRET=SECRET), capture_output=True)
        assert r.returncode == 78, r
        assert b"zim.endpoint" in r.stderr and b"must use https://" in r.stderr, r.stderr


# ---- TLS -------------------------------------------------------------------


def slow_connection(port, source):
    """A connection from source that starts a request and never ends it."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source, 0))
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: zu\r\nX-Slow: ")
    except OSError:
        pass  # closed already: counted as closed below
    return s


def closed_by_server(s, timeout):
    """True when the server ends the connection within timeout seconds."""
    s.settimeout(timeout)
    try:
        return s.recv(4096) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def healthz_from(port, source):
    """True when /healthz, asked from the source address, answers 200."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10,
                                      source_address=(source, 0)) as c:
            c.sendall(b"GET /healthz HTTP/1.1\r\nHost: zu\r\nConnection: close\r\n\r\n")
            return c.recv(4096).startswith(b"HTTP/1.1 200")
    except (ConnectionResetError, BrokenPipeError):
        return False


def test_metrics_slow_clients():
    with tempfile.TemporaryDirectory(prefix="zu-sec-") as tmp:
        cfg = idle_worker_config(tmp)
        with Worker(cfg).start() as w:
            port = wait_for(w.metrics_port, timeout=20)
            assert port, w.dump()
            held = [slow_connection(port, "127.0.0.2") for _ in range(100)]
            try:
                # Every slot of that address is taken: the probe comes from
                # another one (as the kubelet's does) and is answered.
                status, body = w.http("/healthz")
                assert status == 200, (status, body)
                # Beyond the per-address limit the server closes at once;
                # the ones it kept are closed when they have idled 3 s.
                t0 = time.monotonic()
                refused = sum(1 for s in held[8:] if closed_by_server(s, 2))
                assert refused == 92, "%d of 92 connections over the limit closed" % refused
                idle = sum(1 for s in held[:8] if closed_by_server(s, 10))
                assert idle == 8, "%d of 8 idle connections closed" % idle
                print("  92 over the per-address limit closed, 8 idle ones closed after %.1f s"
                      % (time.monotonic() - t0))
                # The address has its slots back. The server frees a closed
                # connection's slot on its next turn after the close, so a
                # connection made the instant the close was seen may still be
                # refused (reset): the next ones are served.
                assert wait_for(lambda: healthz_from(port, "127.0.0.2"), timeout=10), \
                    "no slot back"
                # Headers beyond 16 KiB: refused, nothing served.
                with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
                    c.sendall(b"GET /healthz HTTP/1.1\r\nHost: zu\r\nX-Big: " + b"a" * 32768
                              + b"\r\nConnection: close\r\n\r\n")
                    reply = b""
                    try:
                        while True:
                            chunk = c.recv(4096)
                            if not chunk:
                                break
                            reply += chunk
                    except ConnectionResetError:
                        pass
                    assert not reply.startswith(b"HTTP/1.1 200"), reply[:80]
                    print("  32 KiB of headers: %s" % (reply.split(b"\r\n")[0] or b"closed").decode())
                assert w.running(), w.dump()
            finally:
                for s in held:
                    s.close()
            assert w.terminate() == 0, w.dump()


def make_pki(d):
    """A private CA and a server certificate for 127.0.0.1 signed by it."""
    def run(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=zu-test-ca")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr",
        "-subj", "/CN=127.0.0.1")
    with open(os.path.join(d, "ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "srv.pem", "-days", "2", "-extfile", "ext")


class _Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server interface
        body = json.dumps({"Code": 0, "Message": "success", "RequestId": "tls-1"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def tls_server(d, max_version=None):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(d, "srv.pem"), os.path.join(d, "srv.key"))
    if max_version:  # an old server, to show the worker refuses it
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.maximum_version = max_version
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def once(cfg):
    return subprocess.run([binary("zim-unfriend-worker"), "-c", cfg, "--once", "u1"],
                          env=dict(os.environ, ZIM_SERVER_SECRET=SECRET), capture_output=True,
                          timeout=60)


def test_tls_ca_file():
    d = tempfile.mkdtemp(prefix="zu-tls-", dir=scratch_dir())
    make_pki(d)
    srv = tls_server(d)
    try:
        ep = "https://127.0.0.1:%d/" % srv.server_address[1]
        r = once(write_config(d, "127.0.0.1:1", ep, retry={"max_attempts": 1}))
        assert r.returncode == 1, r
        out = json.loads(r.stdout)
        assert out["status"] == "failure" and out["code"] is None, out
        r = once(write_config(d, "127.0.0.1:1", ep,
                              zim={"endpoint": ep, "app_id": 1234567890,
                                   "ca_file": os.path.join(d, "ca.pem")}))
        assert r.returncode == 0, r
        assert json.loads(r.stdout)["request_id"] == "tls-1", r.stdout
    finally:
        srv.shutdown()


def test_tls_below_1_2_refused():
    d = tempfile.mkdtemp(prefix="zu-tls-", dir=scratch_dir())
    make_pki(d)
    try:
        srv = tls_server(d, max_version=ssl.TLSVersion.TLSv1_1)
    except (ssl.SSLError, ValueError) as e:  # the local OpenSSL has no TLS 1.1 at all
        print("  TLS 1.1 server not available here (%s): nothing below 1.2 can be offered" % e)
        return
    try:
        ep = "https://127.0.0.1:%d/" % srv.server_address[1]
        r = once(write_config(d, "127.0.0.1:1", ep, retry={"max_attempts": 1},
                              zim={"endpoint": ep, "app_id": 1234567890,
                                   "ca_file": os.path.join(d, "ca.pem")}))
        assert r.returncode == 1, r
        assert json.loads(r.stdout)["code"] is None, r.stdout
    finally:
        srv.shutdown()


if __name__ == "__main__":
    run = TestRun()
    run.case(test_plain_http_refused)
    run.case(test_secret_env_removed)
    run.case(test_not_dumpable)
    run.case(test_secret_file_mode_warned)
    run.case(test_metrics_slow_clients)
    run.case(test_tls_ca_file)
    run.case(test_tls_below_1_2_refused)
    run.finish()
