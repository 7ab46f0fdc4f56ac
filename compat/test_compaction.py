"""Log compaction seen through a real client (confluent-kafka): a topic with
cleanup.policy=compact keeps only the latest value per key at its original offset, drops
tombstones after delete.retention.ms, and refuses keyless records with INVALID_RECORD."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaError, Producer

from helpers import Rec, admin_client, consume, create_topic, produce, unique

FAST_CLEANER = {"log.cleaner.backoff.ms": "100"}
TOPIC_CONFIG = {
    "cleanup.policy": "compact",
    "segment.bytes": "4096",
    "min.cleanable.dirty.ratio": "0.01",
    "delete.retention.ms": "1000",
}


def latest_by_key(recs: list[Rec], offsets: list[int]) -> dict[bytes, tuple[int, bytes | None]]:
    out: dict[bytes, tuple[int, bytes | None]] = {}
    for r, off in zip(recs, offsets):
        out[r.key] = (off, r.value)
    return out


@pytest.mark.parametrize("fresh_broker", [FAST_CLEANER], indirect=True, ids=["fast-cleaner"])
def test_compaction_keeps_latest_value_per_key_at_original_offsets(fresh_broker):
    b = fresh_broker.start()
    topic = unique("compacted")
    create_topic(admin_client(b.bootstrap), topic, config=TOPIC_CONFIG)
    now = int(time.time() * 1000)
    recs = [Rec(f"k{i % 20}".encode(), f"v{i}".encode() * 3, (), now + i) for i in range(3000)]
    offsets = [off for _, off in produce(b.bootstrap, topic, recs, conf={"linger.ms": 0, "batch.num.messages": 50})]
    by_offset = {off: r for r, off in zip(recs, offsets)}
    latest = latest_by_key(recs, offsets)

    # Wait (bounded) for the cleaner: everything outside the active segment ends up compacted.
    deadline = time.monotonic() + 90
    while True:
        got = consume(b.bootstrap, topic, timeout=60)
        if len(got) < 400 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(got) < 400, f"no compaction within 90s: {len(got)} of {len(recs)} records remain"
    assert [g.offset for g in got] == sorted({g.offset for g in got}), "offsets out of order"
    for g in got:  # every surviving record is exactly what was produced at that offset
        assert g.value == by_offset[g.offset].value and g.key == by_offset[g.offset].key
    last_seen = {g.key: (g.offset, g.value) for g in got}
    assert last_seen == latest, "the newest value of every key must survive at its original offset"

    # A tombstone removes its key, once delete.retention.ms has passed and the cleaner ran again.
    produce(b.bootstrap, topic, [Rec(b"k0", None, (), now + 5000)] + [Rec(f"k{i}".encode(), b"x" * 200, (), now + 5000 + i) for i in range(1, 60)], conf={"linger.ms": 0, "batch.num.messages": 10})
    deadline = time.monotonic() + 90
    while True:
        got = consume(b.bootstrap, topic, timeout=60)
        if not any(g.key == b"k0" for g in got) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert not any(g.key == b"k0" for g in got), "tombstoned key k0 still present after delete.retention.ms"


def test_keyless_record_to_compacted_topic_is_invalid_record(broker):
    topic = unique("compacted-nokey")
    create_topic(admin_client(broker.bootstrap), topic, config={"cleanup.policy": "compact"})
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "retries": 0, "message.timeout.ms": 20000})
    errors = []
    p.produce(topic, value=b"no key", partition=0, on_delivery=lambda err, msg: errors.append(err))
    assert p.flush(30) == 0
    assert errors and errors[0] is not None and errors[0].code() == KafkaError.INVALID_RECORD, errors
