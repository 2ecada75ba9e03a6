"""zu_kafka - drive zim-mock-kafka and kcat from integration tests (python3 stdlib only).

    from zu_kafka import MockKafka, produce, consume_all, committed_offsets

    with MockKafka().start(brokers=1, topics={"account-events": 3}) as mk:
        produce(mk.bootstrap, "account-events",
                [{"key": b"u1", "value": b'{"type":"account-deleted","user_id":"u1"}'}])
        msgs = consume_all(mk.bootstrap, "account-events")
        mk.command("down 1")            # -> "ok down 1"

Messages are dicts: value (bytes or None), key (bytes or None), headers (list
of (name, value) pairs, str or bytes), partition (int or None = partitioner).
Consumed messages add topic, partition, offset and come back with value, key
and header values as exact bytes (None for NULL).

kcat is the Kafka client. Keys and values go through a file and may hold any
bytes. Limits of kcat: headers are given on its command line, so header names
and values cannot contain NUL bytes and names cannot contain "=" (ValueError);
kcat drops empty records, so an empty or NULL value needs a key (ValueError);
produce() batches consecutive messages that share headers and partition.
"""

import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time

KCAT = os.environ.get("ZU_KCAT", "kcat")

# Client properties every kcat call here uses: 1 MB values need a larger
# message.max.bytes than librdkafka's 1000000 default; the mock accepts them.
MESSAGE_MAX_BYTES = 16 * 1024 * 1024
COMMON_CONF = ["-X", "message.max.bytes=%d" % MESSAGE_MAX_BYTES]

# Group settings that fit the mock (see tests/kafka/README.md).
GROUP_CONF = [
    "-X", "session.timeout.ms=6000",
    "-X", "heartbeat.interval.ms=500",
    "-X", "socket.connection.setup.timeout.ms=5000",
]


class KafkaError(Exception):
    """A kcat or zim-mock-kafka call failed."""


def mock_binary():
    """Path of zim-mock-kafka: $ZU_MOCK_KAFKA, else $ZU_BUILD_DIR (default ./build)."""
    if os.environ.get("ZU_MOCK_KAFKA"):
        return os.environ["ZU_MOCK_KAFKA"]
    return os.path.join(os.environ.get("ZU_BUILD_DIR", "build"), "zim-mock-kafka")


def _b(x):
    """str -> UTF-8 bytes; bytes unchanged; None stays None."""
    if x is None or isinstance(x, bytes):
        return x
    if isinstance(x, (bytearray, memoryview)):
        return bytes(x)
    return str(x).encode("utf-8")


class MockKafka:
    """One zim-mock-kafka process: start(), command(), stop(); also a context manager."""

    def __init__(self, binary=None, stderr=None):
        """binary: path of zim-mock-kafka (default mock_binary()); stderr: where the
        tool's log goes (a file object, subprocess.DEVNULL, or None to inherit)."""
        self.binary = binary or mock_binary()
        self.stderr = stderr
        self.proc = None
        self.bootstrap = None
        self._lines = queue.Queue()
        self._reader = None
        self._lock = threading.Lock()

    def start(self, brokers=1, topics=None, debug=None, timeout=30):
        """Starts the cluster with `brokers` brokers and `topics` ({name: partitions});
        waits for "ready" and returns self, with .bootstrap set."""
        if self.proc is not None:
            raise KafkaError("mock already started")
        argv = [self.binary, "--brokers", str(brokers)]
        for name, parts in (topics or {}).items():
            argv += ["--topic", "%s:%d" % (name, parts)]
        if debug:
            argv += ["--debug", debug]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr)
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        try:
            self.bootstrap = self._next_line(timeout)
            ready = self._next_line(timeout)
        except KafkaError:
            self.stop()
            raise
        if ready != "ready" or not self.bootstrap.startswith("127.0.0.1:"):
            self.stop()
            raise KafkaError("unexpected start-up output %r %r" % (self.bootstrap, ready))
        return self

    def _read_stdout(self):
        for raw in self.proc.stdout:
            self._lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self._lines.put(None)  # EOF

    def _next_line(self, timeout):
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise KafkaError("zim-mock-kafka: no output within %ss" % timeout) from None
        if line is None:
            raise KafkaError("zim-mock-kafka exited (rc=%s)" % self.proc.wait())
        return line

    def command(self, line, timeout=30, check=False):
        """Sends one control command; returns its reply line ("ok ..." / "error ...").
        With check=True an "error" reply raises KafkaError."""
        if "\n" in line or not line.strip():
            raise ValueError("one non-blank line expected")
        with self._lock:
            try:
                self.proc.stdin.write(line.encode("utf-8") + b"\n")
                self.proc.stdin.flush()
            except (BrokenPipeError, AttributeError, ValueError):
                raise KafkaError("zim-mock-kafka is not running") from None
            reply = self._next_line(timeout)
        if check and not reply.startswith("ok"):
            raise KafkaError("%s: %s" % (line, reply))
        return reply

    def topics(self):
        """{topic: partition count} of every topic on the cluster."""
        words = self.command("topics", check=True).split()[1:]
        return {w.rsplit(":", 1)[0]: int(w.rsplit(":", 1)[1]) for w in words}

    def committed(self, group, topic):
        """{partition: offset} committed by group on topic; -1 = nothing committed."""
        return _parse_offsets(self.command("committed %s %s" % (group, topic), check=True)[3:])

    def stop(self, timeout=15):
        """Closes stdin (the tool exits 0 on EOF), kills it if it does not; returns rc."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        if self._reader:
            self._reader.join(timeout=5)
        proc.stdout.close()
        return rc

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _parse_offsets(text):
    out = {}
    for w in text.split():
        p, o = w.split(":")
        out[int(p)] = int(o)
    return out


def _run(argv, timeout, stdin_data=None):
    try:
        r = subprocess.run(argv, input=stdin_data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        raise KafkaError("%s: timed out after %ss" % (argv[0], timeout)) from None
    if r.returncode != 0:
        raise KafkaError("%s failed (rc=%d): %s" % (" ".join(map(str, argv[:4])), r.returncode,
                                                    r.stderr.decode("utf-8", "replace").strip()))
    return r


def _argv_safe(what, data):
    if b"\0" in data:
        raise ValueError("%s cannot contain NUL bytes (kcat takes it on its command line)" % what)
    return data


def _delimiter(chunks):
    """A random byte string found in none of chunks (no NUL: kcat keeps it in a C string;
    no backslash: kcat decodes \\xHH escapes in place, so a decoded "\\" followed by a
    decoded "x" would be read as another escape)."""
    while True:
        d = bytes(b % 255 + 1 for b in os.urandom(12))
        if b"\\" not in d and all(d not in c for c in chunks):
            return d


def _kcat_escape(d):
    return "".join("\\x%02x" % c for c in d)


def produce(bootstrap, topic, messages, timeout=60, conf=()):
    """Produces messages (dicts, see the module doc) to topic, in order, and waits
    until Kafka acknowledged them all. conf: extra kcat arguments (e.g. ["-X", "acks=1"]).

    Consecutive messages with the same headers, partition and NULL-ness of the
    value go to Kafka in one `kcat -P -l -D DELIM [-K KDELIM] FILE` call, with
    delimiters chosen absent from the data. kcat drops an empty record, so a
    message with an empty or NULL value needs a key (ValueError otherwise)."""
    norm = []
    for m in messages:
        headers = []
        for name, value in m.get("headers") or []:
            name = _b(name)
            if b"=" in name or not name:
                raise ValueError("header name %r: must be non-empty, without '='" % name)
            headers.append((_argv_safe("header name", name),
                            None if value is None else _argv_safe("header value", _b(value))))
        key, value = _b(m.get("key")), _b(m.get("value"))
        if not value and key is None:
            raise ValueError("kcat cannot produce an empty or NULL value without a key")
        norm.append({"value": value, "key": key, "headers": tuple(headers),
                     "partition": m.get("partition")})
    groups = []
    for m in norm:
        sig = (m["headers"], m["partition"], m["value"] is None)
        if groups and groups[-1][0] == sig:
            groups[-1][1].append(m)
        else:
            groups.append((sig, [m]))
    tmp = tempfile.mkdtemp(prefix="zu_kafka_")
    try:
        for (headers, partition, null_values), batch in groups:
            _produce_batch(bootstrap, topic, headers, partition, null_values, batch,
                           os.path.join(tmp, "batch"), timeout, conf)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _produce_batch(bootstrap, topic, headers, partition, null_values, batch, path, timeout,
                   conf):
    argv = [KCAT, "-P", "-b", bootstrap, "-t", topic] + COMMON_CONF + list(conf)
    if partition is not None:
        argv += ["-p", str(partition)]
    for name, value in headers:
        argv += ["-H", name + b"=" + value if value is not None else name]
    if null_values:
        argv.append("-Z")  # an empty value (after the key) is sent as NULL
    keyed = any(m["key"] is not None for m in batch)
    chunks = [m["key"] or b"" for m in batch] + [m["value"] or b"" for m in batch]
    kdelim = _delimiter(chunks)
    mdelim = _delimiter(chunks + [kdelim])
    records = []
    for m in batch:
        records.append((m["key"] + kdelim if m["key"] is not None else b"") + (m["value"] or b""))
    data = mdelim.join(records)
    # kcat's split must give back exactly these records: no delimiter may be
    # formed across a boundary (random delimiters make this practically certain).
    if data.split(mdelim) != records or any(
            (r.split(kdelim, 1)[0] if kdelim in r else None) != m["key"]
            for r, m in zip(records, batch)):
        raise KafkaError("could not find safe delimiters")
    with open(path, "wb") as f:
        f.write(data)
    argv += ["-l", "-D", _kcat_escape(mdelim)]
    if keyed:
        argv += ["-K", _kcat_escape(kdelim)]
    _run(argv + [path], timeout)


def _topic_exists(bootstrap, topic, timeout):
    r = _run([KCAT, "-L", "-J", "-b", bootstrap], timeout)
    md = json.loads(r.stdout)
    return any(t.get("topic") == topic for t in md.get("topics", []))


def _unescape(s):
    """kcat -J strings: JSON-escaped, other bytes raw; back to exact bytes."""
    return None if s is None else s.encode("utf-8", "surrogateescape")


def _parse_envelopes(out):
    msgs = []
    for line in out.split(b"\n"):
        if not line.strip():
            continue
        env = json.loads(line.decode("utf-8", "surrogateescape"))
        hdrs = env.get("headers") or []
        msgs.append({
            "topic": env["topic"],
            "partition": env["partition"],
            "offset": env["offset"],
            "ts": env.get("ts"),  # the message timestamp (ms), when kcat gives one
            "key": _unescape(env.get("key")),
            "value": _unescape(env.get("payload")),
            "headers": [(hdrs[i], _unescape(hdrs[i + 1])) for i in range(0, len(hdrs), 2)],
        })
    return msgs


def consume_all(bootstrap, topic, timeout=60, partition=None, conf=()):
    """Reads every message of topic (or of one partition) from the beginning to
    the current end of each partition, without joining a group or committing.
    Returns dicts {topic, partition, offset, key, value, headers} sorted by
    (partition, offset); [] when the topic does not exist (it is not created)."""
    if not _topic_exists(bootstrap, topic, timeout):
        return []
    argv = [KCAT, "-C", "-q", "-e", "-J", "-o", "beginning", "-b", bootstrap, "-t", topic]
    # A short fetch wait: the mock holds an empty fetch for the whole wait.
    argv += COMMON_CONF + ["-X", "fetch.wait.max.ms=10"] + list(conf)
    if partition is not None:
        argv += ["-p", str(partition)]
    msgs = _parse_envelopes(_run(argv, timeout).stdout)
    msgs.sort(key=lambda m: (m["partition"], m["offset"]))
    return msgs


def consume_group(bootstrap, group, topics, timeout=60, conf=()):
    """Joins group as a kcat -G member, reads until the end of every assigned
    partition, commits (auto-commit, and on close) and leaves. Returns the
    messages read, sorted by (topic, partition, offset). Members of one group
    must all use the same partition.assignment.strategy on the mock."""
    if isinstance(topics, str):
        topics = [topics]
    # No -o: kcat would seek every assigned partition there, ignoring commits.
    argv = [KCAT, "-q", "-e", "-J", "-b", bootstrap, "-G", group]
    argv += COMMON_CONF + GROUP_CONF + ["-X", "auto.offset.reset=earliest"]
    argv += list(conf) + list(topics)
    msgs = _parse_envelopes(_run(argv, timeout).stdout)
    msgs.sort(key=lambda m: (m["topic"], m["partition"], m["offset"]))
    return msgs


def committed_offsets(bootstrap, group, topic, timeout=30):
    """{partition: offset} committed by group on topic (-1 = none). kcat cannot ask
    this without joining the group, so it runs `zim-mock-kafka --committed`, a
    plain OffsetFetch client that works against any cluster."""
    r = _run([mock_binary(), "--committed", bootstrap, group, topic], timeout)
    return _parse_offsets(r.stdout.decode("utf-8"))


def wait_for(predicate, timeout=30, interval=0.2):
    """Polls predicate() until it returns a true value (returned) or timeout (None)."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)
