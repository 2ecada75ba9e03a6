#!/usr/bin/env python3
"""Integration test of tests/kafka (zim-mock-kafka) and tests/integration/zu_kafka.py.

Proves, with kcat as the real Kafka client, what the worker's integration tests
rely on: produce with keys and headers, 1 MB binary values, consume back byte
for byte, consumer groups with committed offsets, fault commands, clean stops.

Binary: $ZU_MOCK_KAFKA, else $ZU_BUILD_DIR/zim-mock-kafka (default ./build).
Exit 0 when every test passed, 1 otherwise; the last line is "N passed, M failed".
"""

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zu_kafka as zk  # noqa: E402
from zu_harness import TestRun  # noqa: E402

MB = 1024 * 1024


class Check(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Check(what)


def eq(got, want, what):
    if got != want:
        raise Check("%s: got %r, want %r" % (what, got, want))


def kcat(args, stdin=None, timeout=60, ok=True):
    """Runs kcat; returns the CompletedProcess (stdout/stderr bytes)."""
    r = subprocess.run(["kcat"] + args, input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    if ok and r.returncode != 0:
        raise Check("kcat %s: rc=%d: %s" % (" ".join(args[:6]), r.returncode,
                                            r.stderr.decode("utf-8", "replace")[-400:]))
    return r


class start:
    """with start(...) as mk: a started MockKafka that must exit 0 at the end
    (under ASan or valgrind a leak or memory error makes that fail)."""

    def __init__(self, **kw):
        self.mk = zk.MockKafka().start(**kw)

    def __enter__(self):
        return self.mk

    def __exit__(self, exc_type, *rest):
        rc = self.mk.stop()
        if exc_type is None and rc is not None:
            eq(rc, 0, "zim-mock-kafka exit status")


# ---------------------------------------------------------------------------


def test_start_and_commands():
    with start(brokers=2, topics={"a": 3}) as mk:
        boots = mk.bootstrap.split(",")
        eq(len(boots), 2, "bootstrap entries")
        check(all(b.startswith("127.0.0.1:") for b in boots), "loopback bootstraps")
        eq(mk.command("bootstrap"), "ok " + mk.bootstrap, "bootstrap command")
        eq(mk.topics(), {"a": 3}, "topics at start")
        eq(mk.command("topic b 2"), "ok topic b 2", "topic create")
        check(mk.command("topic b 2").startswith("error topic b:"), "duplicate topic refused")
        check(mk.command("topic bad/name 1").startswith("error"), "bad topic name refused")
        check(mk.command("topic c 0").startswith("error usage"), "0 partitions refused")
        eq(mk.topics(), {"a": 3, "b": 2}, "topics after create")
        eq(mk.command("down 2"), "ok down 2", "down")
        eq(mk.command("up 2"), "ok up 2", "up")
        check(mk.command("down 3").startswith("error usage"), "unknown broker refused")
        eq(mk.command("rtt 1 50"), "ok rtt 1 50", "rtt")
        eq(mk.command("rtt all 0"), "ok rtt all 0", "rtt all")
        eq(mk.command("errors 0 6 7"), "ok errors 0 2", "errors numeric")
        eq(mk.command("errors Fetch NOT_LEADER_FOR_PARTITION"), "ok errors 1 1", "errors by name")
        check(mk.command("errors 0 notacode").startswith("error"), "bad error code refused")
        check(mk.command("errors Bogus 1").startswith("error usage"), "bad ApiKey refused")
        eq(mk.command("clear 0"), "ok clear 0", "clear")
        eq(mk.command("clear Fetch"), "ok clear 1", "clear by name")
        eq(mk.command("leader a 2 2"), "ok leader a 2 2", "leader")
        check(mk.command("leader a 3 1").startswith("error"), "leader: partition out of range")
        check(mk.command("leader nosuch 0 1").startswith("error"), "leader: unknown topic")
        check("nosuch" not in mk.topics(), "leader did not create the unknown topic")
        eq(mk.command("coordinator grp 2"), "ok coordinator grp 2", "coordinator")
        eq(mk.committed("grp", "a"), {0: -1, 1: -1, 2: -1}, "nothing committed yet")
        check(mk.command("committed grp nosuch").startswith("error"), "committed: unknown topic")
        check(mk.command("frobnicate").startswith("error unknown command"), "unknown command")
        check(mk.command("help").startswith("ok commands:"), "help")
        # A line over 4096 bytes is refused as a whole; the channel stays usable.
        eq(mk.command("x" * 5000), "error line too long", "long line")
        eq(mk.command("topic after_long 1"), "ok topic after_long 1", "usable after long line")
        eq(mk.command("quit"), "ok bye", "quit reply")
        eq(mk.proc.wait(timeout=15), 0, "exit status after quit")


def test_kcat_keys_headers_format():
    with start(topics={"t": 2}) as mk:
        b = mk.bootstrap
        lines = b"".join(b"user-%d:{\"n\":%d}\n" % (i, i) for i in range(10))
        kcat(["-P", "-b", b, "-t", "t", "-K:", "-H", "event_id=e-1", "-H", "trace=a,b=c"],
             stdin=lines)
        out = kcat(["-C", "-b", b, "-t", "t", "-e", "-o", "beginning", "-q",
                    "-f", "%p\\t%o\\t%k\\t%h\\t%s\\n"]).stdout.decode()
        rows = [r.split("\t") for r in out.splitlines()]
        eq(len(rows), 10, "messages read with -f")
        seen = {}
        for part, off, key, hdrs, val in rows:
            eq(hdrs, "event_id=e-1,trace=a,b=c", "headers of %s" % key)
            eq(val, '{"n":%s}' % key.split("-")[1], "value of %s" % key)
            seen.setdefault(int(part), []).append(int(off))
        for part, offs in seen.items():
            eq(offs, list(range(len(offs))), "offsets of partition %d" % part)
        # -J: the same through the JSON envelope, headers kept in order.
        msgs = zk.consume_all(b, "t")
        eq(sorted(m["key"] for m in msgs), sorted(b"user-%d" % i for i in range(10)), "keys")
        eq(msgs[0]["headers"], [("event_id", b"e-1"), ("trace", b"a,b=c")], "-J headers")
        # One key always lands on one partition (the partitioner hashes it).
        again = b"".join(b"user-3:{\"again\":%d}\n" % i for i in range(3))
        kcat(["-P", "-b", b, "-t", "t", "-K:"], stdin=again)
        parts = {m["partition"] for m in zk.consume_all(b, "t") if m["key"] == b"user-3"}
        eq(len(parts), 1, "partitions used by one key")


def test_binary_1mb_file():
    with start(topics={"bin": 1}) as mk, tempfile.TemporaryDirectory() as tmp:
        b = mk.bootstrap
        value = os.urandom(MB)
        path = os.path.join(tmp, "garbage")
        with open(path, "wb") as f:
            f.write(value)
        # librdkafka's default message.max.bytes (1000000) refuses 1 MB locally.
        r = kcat(["-P", "-b", b, "-t", "bin", path], ok=False)
        check(r.returncode != 0 and b"too large" in r.stderr, "1 MB refused by default")
        kcat(["-P", "-b", b, "-t", "bin", "-X", "message.max.bytes=%d" % (2 * MB), "-k", "k",
              path])
        # %S gives the exact payload length; -J gives the exact bytes.
        out = kcat(["-C", "-b", b, "-t", "bin", "-e", "-o", "beginning", "-q",
                    "-f", "%p %o %K %S\\n"]).stdout.decode()
        eq(out, "0 0 1 %d\n" % MB, "-f lengths")
        msgs = zk.consume_all(b, "bin")
        eq(len(msgs), 1, "one message")
        eq(msgs[0]["key"], b"k", "key")
        check(msgs[0]["value"] == value, "1 MB value identical byte for byte")


def test_zu_kafka_roundtrip():
    with start(topics={"rt": 3}) as mk:
        b = mk.bootstrap
        allbytes = bytes(range(256))
        sent = [
            {"key": b"k1", "value": b'{"type":"account-deleted","user_id":"k1"}', "partition": 0},
            {"key": None, "value": allbytes, "partition": 0},
            {"key": b"\xff\xfe\x01binkey", "value": allbytes * 3, "partition": 0},
            {"key": b"", "value": b"empty key", "partition": 0},
            {"key": b"nullval", "value": None, "partition": 0},
            {"key": b"emptyval", "value": b"", "partition": 0},
            {"key": b"h", "value": b"with headers", "partition": 0,
             "headers": [("traceparent", "00-abc-def-01"), ("dup", b"1"), ("dup", b"2,3=4"),
                         ("nul", None), ("bin", b"\xc3\x28\xff")]},
            {"key": b"k\0nul", "value": b"\xed\xa0\x80 invalid utf-8 \x80\0", "partition": 0},
            {"key": b"p2", "value": os.urandom(MB), "partition": 2},
        ]
        sent += [{"key": b"u%d" % i, "value": os.urandom(50)} for i in range(40)]
        zk.produce(b, "rt", sent)
        got = zk.consume_all(b, "rt")
        eq(len(got), len(sent), "messages back")
        p0 = [m for m in got if m["partition"] == 0 and m["offset"] < 8]
        for i, (g, s) in enumerate(zip(p0, sent[:8])):
            eq(g["offset"], i, "offset %d" % i)
            eq(g["key"], s["key"], "key %d" % i)
            eq(g["value"], s["value"], "value %d" % i)
            want_h = [(n, zk._b(v)) for n, v in s.get("headers", [])]
            eq(g["headers"], want_h, "headers %d" % i)
        big = [m for m in got if m["partition"] == 2 and m["key"] == b"p2"]
        eq(len(big), 1, "1 MB message on partition 2")
        check(big[0]["value"] == sent[8]["value"], "1 MB value exact")
        rest = {m["key"]: m["value"] for m in got if m["key"] and m["key"].startswith(b"u")}
        eq(rest, {s["key"]: s["value"] for s in sent[9:]}, "partitioner-placed messages")
        eq(len(zk.consume_all(b, "rt", partition=1)),
           len([m for m in got if m["partition"] == 1]), "consume_all(partition=1)")
        for bad in ({"key": None, "value": b""}, {"key": None, "value": None},
                    {"key": b"k", "value": b"x", "headers": [("n", b"a\0b")]},
                    {"key": b"k", "value": b"x", "headers": [("a=b", "v")]}):
            try:
                zk.produce(b, "rt", [bad])
                raise Check("produce accepted %r" % (bad,))
            except ValueError:
                pass


def test_auto_create():
    with start(brokers=2) as mk:
        b = mk.bootstrap
        # Producing to an unknown topic creates it with 4 partitions.
        zk.produce(b, "auto", [{"key": b"k", "value": b"v"}])
        eq(mk.topics(), {"auto": 4}, "auto-created by produce")
        # consume_all looks first and does not create.
        eq(zk.consume_all(b, "absent"), [], "consume_all of an unknown topic")
        check("absent" not in mk.topics(), "consume_all did not create")
        # Any client metadata request naming a topic creates it (kcat -C here).
        kcat(["-C", "-b", b, "-t", "named", "-e", "-q"])
        eq(mk.topics().get("named"), 4, "auto-created by a consumer's metadata request")


def test_consumer_group_commits():
    with start(topics={"g": 3}) as mk:
        b = mk.bootstrap
        zk.produce(b, "g", [{"key": b"u%d" % i, "value": b"v%d" % i} for i in range(30)])
        ends = {}
        for m in zk.consume_all(b, "g"):
            ends[m["partition"]] = m["offset"] + 1
        eq(sum(ends.values()), 30, "messages on the topic")
        first = zk.consume_group(b, "grp", "g")
        eq(sorted(m["value"] for m in first), sorted(b"v%d" % i for i in range(30)),
           "first member read everything")
        want = {p: ends.get(p, -1) for p in range(3)}
        eq(mk.committed("grp", "g"), want, "committed (control channel)")
        eq(zk.committed_offsets(b, "grp", "g"), want, "committed_offsets()")
        zk.produce(b, "g", [{"key": b"w%d" % i, "value": b"w%d" % i} for i in range(6)])
        second = zk.consume_group(b, "grp", "g")
        eq(sorted(m["value"] for m in second), sorted(b"w%d" % i for i in range(6)),
           "second member starts at the committed offsets")
        eq(sum(v for v in mk.committed("grp", "g").values() if v > 0), 36, "committed sum")
        eq(mk.committed("other", "g"), {0: -1, 1: -1, 2: -1}, "other group has no commits")


def test_faults():
    with start(brokers=3, topics={"f": 2}) as mk:
        b = mk.bootstrap
        eq(mk.command("errors Produce NOT_LEADER_FOR_PARTITION REQUEST_TIMED_OUT"),
           "ok errors 0 2", "push retriable errors")
        zk.produce(b, "f", [{"key": b"a", "value": b"retried", "partition": 0}])
        eq(mk.command("errors Produce TOPIC_AUTHORIZATION_FAILED"), "ok errors 0 1",
           "push a fatal error")
        try:
            zk.produce(b, "f", [{"key": b"a", "value": b"refused", "partition": 0}])
            raise Check("produce succeeded against an injected fatal error")
        except zk.KafkaError:
            pass
        eq([m["value"] for m in zk.consume_all(b, "f")], [b"retried"], "after injected errors")

        eq(mk.command("down all"), "ok down all", "all brokers down")
        result = {}

        def produce_while_down():
            try:
                zk.produce(b, "f", [{"key": b"b", "value": b"waited", "partition": 1}],
                           conf=["-X", "socket.connection.setup.timeout.ms=5000",
                                 "-X", "message.timeout.ms=60000", "-m", "60", "-E"], timeout=90)
                result["ok"] = True
            except zk.KafkaError as e:
                result["err"] = str(e)

        th = threading.Thread(target=produce_while_down)
        th.start()
        time.sleep(1.5)
        check(th.is_alive(), "produce is blocked while every broker is down")
        eq(mk.command("up all"), "ok up all", "brokers up")
        th.join(120)
        eq(result, {"ok": True}, "produce completed after up")
        eq(mk.command("leader f 0 3"), "ok leader f 0 3", "move leader")
        zk.produce(b, "f", [{"key": b"c", "value": b"new leader", "partition": 0}])
        eq(sorted(m["value"] for m in zk.consume_all(b, "f")),
           [b"new leader", b"retried", b"waited"], "all delivered")


def test_partition_log_cap():
    # The mock keeps about 5 MB per partition: older message sets are dropped.
    with start(topics={"cap": 1}) as mk:
        b = mk.bootstrap
        vals = [os.urandom(MB) for _ in range(7)]
        zk.produce(b, "cap", [{"key": b"k%d" % i, "value": v} for i, v in enumerate(vals)])
        got = zk.consume_all(b, "cap")
        offs = [m["offset"] for m in got]
        check(0 < len(got) < 7, "some old 1 MB messages dropped (kept %d)" % len(got))
        eq(offs, list(range(7 - len(got), 7)), "the newest are kept")
        check(all(m["value"] == vals[m["offset"]] for m in got), "kept values exact")


def test_stops_and_usage():
    binary = zk.mock_binary()
    for sig in (signal.SIGTERM, signal.SIGINT):
        mk = zk.MockKafka().start(topics={"s": 1})
        zk.produce(mk.bootstrap, "s", [{"key": b"k", "value": b"v"}])
        mk.proc.send_signal(sig)
        eq(mk.proc.wait(timeout=15), 0, "exit status on %s" % sig.name)
        mk.stop()
    mk = zk.MockKafka().start()
    eq(mk.stop(), 0, "exit status on stdin EOF")
    r = subprocess.run([binary, "-h"], stdout=subprocess.PIPE, timeout=10)
    check(r.returncode == 0 and b"Usage:" in r.stdout, "-h")
    for argv in (["--brokers", "0"], ["--brokers", "x"], ["--topic", "t"], ["--topic", "t:0"],
                 ["--bogus"], ["--brokers"]):
        r = subprocess.run([binary] + argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=10)
        eq(r.returncode, 64, "usage error exit for %s" % argv)
        eq(r.stdout, b"", "no bootstrap printed for %s" % argv)
    r = subprocess.run([binary, "--topic", "bad/name:1"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
    eq(r.returncode, 1, "bad --topic name exit")
    check(b"bad/name" in r.stderr, "error names the topic")


TESTS = [
    test_start_and_commands,
    test_kcat_keys_headers_format,
    test_binary_1mb_file,
    test_zu_kafka_roundtrip,
    test_auto_create,
    test_consumer_group_commits,
    test_faults,
    test_partition_log_cap,
    test_stops_and_usage,
]


def main():
    if not os.access(zk.mock_binary(), os.X_OK):
        print("missing %s (build it, or set ZU_BUILD_DIR / ZU_MOCK_KAFKA)" % zk.mock_binary())
        print("0 passed, 1 failed")
        return 1
    run = TestRun()
    for t in TESTS:
        run.case(t)
    run.finish()


if __name__ == "__main__":
    sys.exit(main())
