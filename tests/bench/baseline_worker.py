#!/usr/bin/python3
"""A straightforward Python worker doing zim-unfriend's job, as a baseline
for the benchmarks (not a product; never used by the tests).

Debian's confluent-kafka (librdkafka underneath), a thread pool for the
DeleteAllFriends calls (signed GETs through http.client), a token bucket
for the rate, results produced with acks=all, and offsets committed once a
batch's results are acknowledged. It does the worker's job for each event:
checks the event's fields, writes the whole result event (every field of
docs/contract.md's "Result events") and logs one info line per event (as
the worker does at info), with the logging module to stderr. No per-user
order, no pauses, no retries beyond reconnecting.

    /usr/bin/python3 tests/bench/baseline_worker.py BOOTSTRAP ENDPOINT APP_ID SECRET N
        [--group G] [--rate QPS]

Exits 0 once N events have their results acknowledged and their offsets
committed.
"""

import argparse
import concurrent.futures
import datetime
import hashlib
import http.client
import json
import logging
import os
import threading
import time
import urllib.parse

from confluent_kafka import Consumer, Producer, TopicPartition

INPUT_TOPIC = "account-events"
RESULT_TOPIC = "zim-unfriend-results"


class Bucket:
    """A token bucket: rate tokens per second, at most rate in the bucket."""

    def __init__(self, rate):
        self.rate, self.tokens, self.at = rate, rate, time.monotonic()
        self.lock = threading.Lock()

    def take(self):
        while True:
            with self.lock:
                now = time.monotonic()
                self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
                self.at = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                wait = (1 - self.tokens) / self.rate
            time.sleep(wait)


class Api:
    def __init__(self, endpoint, app_id, secret):
        u = urllib.parse.urlparse(endpoint)
        self.host, self.port, self.path = u.hostname, u.port, u.path or "/"
        self.app_id, self.secret = app_id, secret
        self.local = threading.local()

    def call(self, user_id, delete_type):
        nonce, ts = os.urandom(8).hex(), int(time.time())
        sig = hashlib.md5(("%d%s%s%d" % (self.app_id, nonce, self.secret, ts)).encode()).hexdigest()
        q = urllib.parse.urlencode({"Action": "DeleteAllFriends", "AppId": self.app_id,
                                    "SignatureNonce": nonce, "Timestamp": ts,
                                    "SignatureVersion": "2.0", "Signature": sig,
                                    "FromUserId": user_id, "DeleteType": delete_type})
        for _ in range(3):
            try:
                conn = getattr(self.local, "conn", None)
                if conn is None:
                    conn = self.local.conn = http.client.HTTPConnection(self.host, self.port,
                                                                        timeout=5)
                conn.request("GET", self.path + "?" + q)
                body = json.loads(conn.getresponse().read())
                return body
            except (OSError, ValueError, http.client.HTTPException):
                self.local.conn = None
        return {"Code": None, "Message": "transport", "RequestId": None}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bootstrap")
    ap.add_argument("endpoint")
    ap.add_argument("app_id", type=int)
    ap.add_argument("secret")
    ap.add_argument("n", type=int)
    ap.add_argument("--group", default="zu-baseline")
    ap.add_argument("--rate", type=float, default=100000.0)
    a = ap.parse_args()
    consumer = Consumer({"bootstrap.servers": a.bootstrap, "group.id": a.group,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
    producer = Producer({"bootstrap.servers": a.bootstrap, "acks": "all",
                         "enable.idempotence": True, "linger.ms": 5})
    consumer.subscribe([INPUT_TOPIC])
    api, bucket = Api(a.endpoint, a.app_id, a.secret), Bucket(a.rate)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=64)
    worker = "%s/%d" % (os.uname().nodename, os.getpid())

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log = logging.getLogger("baseline")

    def now_iso():
        return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")

    def handle(msg):
        received = now_iso()
        try:
            ev = json.loads(msg.value())
            if not isinstance(ev, dict):
                raise TypeError("not an object")
            user, etype = ev["user_id"], ev["type"]
            eid = ev.get("event_id", "%s/%d/%d" % (msg.topic(), msg.partition(), msg.offset()))
            if not isinstance(user, str) or not user or len(user) > 32:
                raise ValueError("bad user_id")
            if etype not in ("account-deleted", "friend-reset") or not isinstance(eid, str):
                raise ValueError("bad type or event_id")
            if ev.get("app_id", a.app_id) != a.app_id:
                raise ValueError("app_id is not this worker's")
            dt = 1 if ev.get("delete_type") in ("one-way", 1) else 0
        except (ValueError, KeyError, TypeError) as e:
            return msg, {}, received, {"Code": None, "Message": "invalid: %s" % e,
                                       "RequestId": None}
        bucket.take()
        return (msg, dict(ev, event_id=eid, event_type=etype, delete_type=dt), received,
                api.call(user, dt))

    done = 0
    while done < a.n:
        batch = consumer.consume(500, 0.5)
        batch = [m for m in batch if not m.error()]
        if not batch:
            continue
        for msg, ev, received, ans in pool.map(handle, batch):
            ok = ans.get("Code") == 0
            res = {"schema": "zim-unfriend/result/v1",
                   "status": "success" if ok else "failure",
                   "event_id": ev.get("event_id"), "event_type": ev.get("event_type"),
                   "user_id": ev.get("user_id"), "app_id": a.app_id,
                   "delete_type": ev.get("delete_type"), "code": ans.get("Code"),
                   "message": ans.get("Message"), "request_id": ans.get("RequestId"),
                   "attempts": 1 if ev else 0,
                   "error_class": None if ok else ("rejected" if ev else "invalid_event"),
                   "source": {"topic": msg.topic(), "partition": msg.partition(),
                              "offset": msg.offset()},
                   "occurred_at": ev.get("occurred_at"), "received_at": received,
                   "completed_at": now_iso(), "worker": worker}
            producer.produce(RESULT_TOPIC, json.dumps(res).encode(),
                             key=(ev.get("user_id") or "").encode())
            producer.poll(0)
            log.info(json.dumps({"ts": res["completed_at"], "level": "info", "msg": "event done",
                                 "status": res["status"], "event_id": res["event_id"],
                                 "user_id": res["user_id"], "code": res["code"],
                                 "request_id": res["request_id"], "attempts": res["attempts"],
                                 "topic": msg.topic(), "partition": msg.partition(),
                                 "offset": msg.offset()}))
        producer.flush()
        last = {}
        for m in batch:
            last[(m.topic(), m.partition())] = max(last.get((m.topic(), m.partition()), -1),
                                                   m.offset())
        consumer.commit(offsets=[TopicPartition(t, p, o + 1) for (t, p), o in last.items()],
                        asynchronous=False)
        done += len(batch)
    consumer.close()
    pool.shutdown()


if __name__ == "__main__":
    main()
