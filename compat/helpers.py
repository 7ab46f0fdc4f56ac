"""Shared helpers for the compat tests: deterministic test records, topic creation and
bounded produce/consume loops on top of confluent-kafka (librdkafka).

Every loop here has a deadline and raises with a message that says what was missing, so a
misbehaving broker fails a test instead of hanging it.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from broker import wait_for


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class Rec:
    key: bytes | None
    value: bytes | None
    headers: tuple  # ((name, bytes | None), ...)
    timestamp: int  # CreateTime, ms


def make_records(n: int, seed: int, base_ts: int | None = None, max_value: int = 300) -> list[Rec]:
    """n records with binary keys/values of varied sizes, null keys and values, empty values,
    null and duplicate header values, and strictly increasing CreateTime timestamps."""
    rng = random.Random(seed)
    if base_ts is None:
        base_ts = int(time.time() * 1000) - 3_600_000
    out = []
    for i in range(n):
        key = None if i % 7 == 3 else b"key-%06d-" % i + rng.randbytes(rng.randrange(0, 8))
        if i % 11 == 5:
            value = None
        elif i % 13 == 6:
            value = b""
        else:
            # half random bytes, half repetitive text: compressible and binary-hostile
            size = rng.randrange(1, max_value)
            value = rng.randbytes(size // 2) + (b"sluice-%d " % i) * (size // 20 + 1)
        headers = (("idx", str(i).encode()), ("dup", b"a"), ("dup", b"b"), ("null", None)) if i % 5 == 0 else (("idx", str(i).encode()),)
        out.append(Rec(key, value, headers, base_ts + i))
    return out


def admin_client(bootstrap: str) -> AdminClient:
    # allow.auto.create.topics=false: looking a topic up must never create it
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 20000, "allow.auto.create.topics": False})


def create_topic(admin: AdminClient, name: str, partitions: int = 1, config: dict | None = None, timeout: float = 30) -> None:
    fs = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})], operation_timeout=timeout, request_timeout=timeout)
    fs[name].result(timeout=timeout + 5)
    wait_topic(admin, name, partitions)


def wait_topic(admin: AdminClient, name: str, partitions: int, timeout: float = 30) -> None:
    """Wait until Metadata shows the topic with `partitions` partitions, each with a leader."""

    def ready():
        md = admin.list_topics(topic=name, timeout=5)
        t = md.topics.get(name)
        return t is not None and t.error is None and len(t.partitions) == partitions and all(p.leader >= 0 for p in t.partitions.values())

    wait_for(ready, timeout, f"topic {name} with {partitions} partitions in Metadata")


def only(futures: dict):
    """The single future of an admin call's result dict. Never pop from that dict: the
    client resolves each future by looking it up there when the response arrives."""
    [f] = futures.values()
    return f


def error_code(exc: BaseException) -> int:
    """The Kafka error code carried by a KafkaException raised from an admin future."""
    assert isinstance(exc, KafkaException), f"expected KafkaException, got {exc!r}"
    return exc.args[0].code()


def produce(bootstrap: str, topic: str, records: list[Rec], partition: int | None = 0, conf: dict | None = None, timeout: float = 120) -> list[tuple[int, int]]:
    """Produce `records` with delivery callbacks; returns (partition, offset) per record in
    produce order. Fails unless every delivery report is a success."""
    config = {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "message.timeout.ms": int(timeout * 1000),
    }
    config.update(conf or {})
    if os.environ.get("COMPAT_RDKAFKA_DEBUG"):  # e.g. "msg,protocol,eos" to see the wire
        config["debug"] = os.environ["COMPAT_RDKAFKA_DEBUG"]
    p = Producer(config)
    results: list = [None] * len(records)

    def on_delivery(i):
        def cb(err, msg):
            results[i] = (err, msg.partition(), msg.offset())

        return cb

    deadline = time.monotonic() + timeout
    for i, r in enumerate(records):
        kwargs = dict(topic=topic, key=r.key, value=r.value, headers=list(r.headers), timestamp=r.timestamp, on_delivery=on_delivery(i))
        if partition is not None:
            kwargs["partition"] = partition
        while True:
            try:
                p.produce(**kwargs)
                break
            except BufferError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"producer queue still full after {timeout}s ({i} of {len(records)} queued)")
                p.poll(0.05)
        p.poll(0)
    remaining = p.flush(max(1.0, deadline - time.monotonic()))
    assert remaining == 0, f"{remaining} of {len(records)} records not delivered within {timeout}s"
    failed = [(i, res) for i, res in enumerate(results) if res is None or res[0] is not None]
    assert not failed, f"{len(failed)} of {len(records)} deliveries failed; first: record {failed[0][0]}: {failed[0][1]}"
    return [(res[1], res[2]) for res in results]


@dataclass(frozen=True)
class Got:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple
    timestamp: int

    def rec(self) -> Rec:
        return Rec(self.key, self.value, self.headers, self.timestamp)


def consumer(bootstrap: str, extra: dict | None = None) -> Consumer:
    # librdkafka insists on a group.id even for assign()-only use; nothing is committed.
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": unique("compat-assign-only"),
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "error",
    }
    conf.update(extra or {})
    return Consumer(conf)


def consume(bootstrap: str, topic: str, partition: int = 0, start: int = 0, expect: int | None = None, timeout: float = 120, extra: dict | None = None) -> list[Got]:
    """Read `topic`/`partition` from offset `start` until end of partition (and at least
    `expect` records when given). Any error for this partition fails the read."""
    c = consumer(bootstrap, extra)
    try:
        c.assign([TopicPartition(topic, partition, start)])
        out: list[Got] = []
        deadline = time.monotonic() + timeout
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError(f"read {len(out)} records of {topic}-{partition} from offset {start} in {timeout}s, expected {expect if expect is not None else 'to reach the end'}")
            for m in c.consume(num_messages=2000, timeout=0.5):
                err = m.error()
                if err is None:
                    out.append(Got(m.partition(), m.offset(), m.key(), m.value(), tuple(m.headers() or ()), m.timestamp()[1]))
                elif err.code() == KafkaError._PARTITION_EOF:
                    if expect is None or len(out) >= expect:
                        return out
                else:
                    raise KafkaException(err)
    finally:
        c.close()


def assert_same(got: list[Got], sent: list[Rec], first_offset: int = 0, partition: int = 0) -> None:
    """Records came back complete, identical and in order, at contiguous offsets."""
    assert len(got) == len(sent), f"read {len(got)} records, produced {len(sent)}"
    for i, (g, s) in enumerate(zip(got, sent)):
        where = f"record {i} (offset {g.offset})"
        assert g.partition == partition, f"{where}: partition {g.partition}, expected {partition}"
        assert g.offset == first_offset + i, f"{where}: offset {g.offset}, expected {first_offset + i} (order or gaps broken)"
        assert g.key == s.key, f"{where}: key {g.key!r:.80} != sent {s.key!r:.80}"
        assert g.value == s.value, f"{where}: value differs ({None if g.value is None else len(g.value)} vs {None if s.value is None else len(s.value)} bytes)"
        assert g.headers == s.headers, f"{where}: headers {g.headers} != sent {s.headers}"
        assert g.timestamp == s.timestamp, f"{where}: timestamp {g.timestamp} != sent CreateTime {s.timestamp}"


def poll_ok(c: Consumer, timeout: float):
    """One poll: the message, or None for nothing / partition EOF; fails on any other error."""
    m = c.poll(timeout)
    if m is None:
        return None
    if m.error():
        if m.error().code() == KafkaError._PARTITION_EOF:
            return None
        raise AssertionError(f"consumer error: {m.error()}")
    return m


def records(n: int, tag: str) -> list[Rec]:
    """n keyed records `k<i>` → `<tag>-<i>` stamped now."""
    now = int(time.time() * 1000)
    return [Rec(f"k{i}".encode(), f"{tag}-{i}".encode(), (), now) for i in range(n)]


def consume_n(c: Consumer, n: int, timeout: float = 60) -> list:
    """Polls until n messages arrived (bounded by `timeout`)."""
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        assert time.monotonic() < deadline, f"consumed {len(out)} of {n} records in {timeout}s"
        m = poll_ok(c, 0.5)
        if m is not None:
            out.append(m)
    return out
