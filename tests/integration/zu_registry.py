"""zu_registry - a Schema Registry stand-in for integration tests (python3 stdlib only).

    with Registry({1: (AVRO_SCHEMA, None), 2: (JSON_SCHEMA, "JSON")}).start() as reg:
        cfg = write_config(..., schema_registry={"url": reg.url}, events={"format": "auto"})
        reg.set_mode("503")            # every request answered 503 until set_mode("ok")
        reg.requests()                 # [(path, Authorization header or None)]

It serves GET /schemas/ids/{id} as Confluent Schema Registry does: 200 with
{"schema": "...", "schemaType": ...} (schemaType left out for Avro, as the
registry does), 404 {"error_code": 40403, ...} for an id it does not have.
Modes, switchable at any time: "ok", "503" (every request answered 503),
"401" (every request answered 401), "hold" (requests wait, unanswered, until
the mode changes, then get the new mode's answer). With user_info set, a request without
that HTTP basic authentication is answered 401. Binds 127.0.0.1 on a port
the kernel picks; runs in a thread of the test process.
"""

import base64
import http.server
import json
import re
import threading
import time

_PATH = re.compile(r"^/schemas/ids/([0-9]+)$")


class Registry:
    def __init__(self, schemas, user_info=None):
        """schemas: {id: (schema text, schemaType or None)}."""
        self.schemas = dict(schemas)
        self.user_info = user_info
        self.mode = "ok"
        self._requests = []
        self._lock = threading.Lock()
        self._server = None
        self._thread = None
        self.url = None

    def set_mode(self, mode):
        assert mode in ("ok", "503", "401", "hold"), mode
        with self._lock:
            self.mode = mode

    def requests(self):
        with self._lock:
            return list(self._requests)

    def count(self, schema_id):
        """Requests made for one id."""
        want = "/schemas/ids/%d" % schema_id
        return sum(1 for p, _ in self.requests() if p == want)

    def _answer(self, path, auth):
        with self._lock:
            self._requests.append((path, auth))
        while True:
            with self._lock:
                mode = self.mode
            if mode != "hold":
                break
            time.sleep(0.05)
        if mode == "503":
            return 503, {"error_code": 50003, "message": "Service unavailable"}
        want = None
        if self.user_info:
            want = "Basic " + base64.b64encode(self.user_info.encode()).decode()
        if mode == "401" or (want and auth != want):
            return 401, {"error_code": 401, "message": "Unauthorized"}
        m = _PATH.match(path)
        if not m:
            return 404, {"error_code": 404, "message": "HTTP 404 Not Found"}
        sid = int(m.group(1))
        if sid not in self.schemas:
            return 404, {"error_code": 40403, "message": "Schema %d not found" % sid}
        text, stype = self.schemas[sid]
        body = {"schema": text}
        if stype:
            body["schemaType"] = stype
        return 200, body

    def start(self):
        reg = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 - the http.server interface
                status, body = reg._answer(self.path, self.headers.get("Authorization"))
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = "http://127.0.0.1:%d" % self._server.server_address[1]
        return self

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
