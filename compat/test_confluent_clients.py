"""confluent-kafka Producer and Consumer against the broker: an idempotent acks=all
producer whose every delivery report succeeds at increasing offsets, assign()-based reads
that return the records identical and in order, compression codecs, offset-out-of-range
handling, ListOffsets (earliest/latest/timestamp/max-timestamp), DeleteRecords, and the
MESSAGE_TOO_LARGE error code."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import OffsetSpec

from helpers import only, assert_same, consume, consumer, create_topic, make_records, produce, unique

T = 30


def test_idempotent_acks_all_20k_roundtrip(broker, admin):
    topic = unique("ck-idem")
    create_topic(admin, topic)
    recs = make_records(20_000, seed=1)
    delivered = produce(broker.bootstrap, topic, recs, conf={"acks": "all", "enable.idempotence": True})
    # every callback succeeded (checked in produce) at increasing, contiguous offsets
    assert delivered == [(0, i) for i in range(len(recs))], f"first mismatch: {next((i, d) for i, d in enumerate(delivered) if d != (0, i))}"
    got = consume(broker.bootstrap, topic, start=0, expect=len(recs), timeout=120)
    assert_same(got, recs)


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compression_roundtrip(broker, admin, codec):
    topic = unique(f"ck-{codec}")
    create_topic(admin, topic)
    recs = make_records(5_000, seed=len(codec))
    delivered = produce(broker.bootstrap, topic, recs, conf={"compression.type": codec, "linger.ms": 20})
    assert delivered == [(0, i) for i in range(len(recs))]
    got = consume(broker.bootstrap, topic, expect=len(recs), timeout=120)
    assert_same(got, recs)
    # fetching from the middle of a compressed batch starts at exactly that record
    mid = consume(broker.bootstrap, topic, start=2_345, expect=len(recs) - 2_345, timeout=120)
    assert_same(mid, recs[2_345:], first_offset=2_345)


def test_keyed_records_over_partitions_keep_per_partition_order(broker, admin):
    topic = unique("ck-parts")
    create_topic(admin, topic, partitions=3)
    recs = make_records(3_000, seed=3)
    recs = [r if r.key is not None else r.__class__(b"k%d" % i, r.value, r.headers, r.timestamp) for i, r in enumerate(recs)]
    delivered = produce(broker.bootstrap, topic, recs, partition=None)
    by_part: dict[int, list] = {0: [], 1: [], 2: []}
    for r, (p, off) in zip(recs, delivered):
        by_part[p].append((off, r))
    assert sum(1 for v in by_part.values() if v) > 1, "keys should spread over partitions"
    for p, sent in by_part.items():
        assert [off for off, _ in sent] == list(range(len(sent))), f"partition {p}: offsets not contiguous in produce order"
        got = consume(broker.bootstrap, topic, partition=p, expect=len(sent), timeout=60)
        assert_same(got, [r for _, r in sent], partition=p)


def _drain_until(c, pred, timeout: float, what: str):
    """consume() until pred(msg) is true; returns that message."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        for m in c.consume(num_messages=500, timeout=0.5):
            seen.append(m)
            if pred(m):
                return m
    raise TimeoutError(f"no {what} within {timeout}s; saw {[(m.offset(), m.error()) for m in seen[-5:]]}")


def test_offset_out_of_range_and_auto_offset_reset(broker, admin):
    topic = unique("ck-oor")
    create_topic(admin, topic)
    recs = make_records(100, seed=4)
    produce(broker.bootstrap, topic, recs)
    tp = TopicPartition(topic, 0, 1_000)  # past the end

    c = consumer(broker.bootstrap, {"auto.offset.reset": "error"})
    try:
        c.assign([tp])
        m = _drain_until(c, lambda m: m.error() is not None and m.error().code() != KafkaError._PARTITION_EOF, 30, "offset-out-of-range error")
        assert m.error().code() in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE), m.error()
        assert "out of range" in m.error().str().lower(), m.error()
    finally:
        c.close()

    c = consumer(broker.bootstrap, {"auto.offset.reset": "earliest"})
    try:
        c.assign([tp])
        first = _drain_until(c, lambda m: m.error() is None or m.error().code() != KafkaError._PARTITION_EOF, 30, "first record after reset to earliest")
        assert first.error() is None and first.offset() == 0, (first.offset(), first.error())
    finally:
        c.close()

    c = consumer(broker.bootstrap, {"auto.offset.reset": "latest"})
    try:
        c.assign([tp])
        eof = _drain_until(c, lambda m: m.error() is not None, 30, "end of partition after reset to latest")
        assert eof.error().code() == KafkaError._PARTITION_EOF and eof.offset() == 100, (eof.offset(), eof.error())
        extra = make_records(1, seed=44)
        assert produce(broker.bootstrap, topic, extra) == [(0, 100)]
        m = _drain_until(c, lambda m: m.error() is None, 30, "the record produced after the reset")
        assert m.offset() == 100 and m.value() == extra[0].value
    finally:
        c.close()


def test_list_offsets_and_offsets_for_times(broker, admin):
    topic = unique("ck-times")
    create_topic(admin, topic)
    base = int(time.time() * 1000) - 600_000
    recs = make_records(100, seed=6, base_ts=base)  # record i has CreateTime base + i
    recs = [r.__class__(r.key, r.value, r.headers, base + 10 * i) for i, r in enumerate(recs)]
    produce(broker.bootstrap, topic, recs, conf={"linger.ms": 50})
    tp = TopicPartition(topic, 0)

    def lo(spec):
        return admin.list_offsets({tp: spec}, request_timeout=T)[tp].result(timeout=T + 5)

    assert lo(OffsetSpec.earliest()).offset == 0
    assert lo(OffsetSpec.latest()).offset == 100
    at = lo(OffsetSpec.for_timestamp(base + 55))  # first record with timestamp >= base+55 is #6
    assert (at.offset, at.timestamp) == (6, base + 60), (at.offset, at.timestamp)
    assert lo(OffsetSpec.for_timestamp(base + 10 * 99 + 1)).offset == -1, "no record that late: offset -1"
    mx = lo(OffsetSpec.max_timestamp())
    assert (mx.offset, mx.timestamp) == (99, base + 990), (mx.offset, mx.timestamp)

    c = consumer(broker.bootstrap)
    try:
        res = c.offsets_for_times([TopicPartition(topic, 0, base)], timeout=T)
        assert res[0].error is None and res[0].offset == 0, res[0]
        res = c.offsets_for_times([TopicPartition(topic, 0, base + 501)], timeout=T)
        assert res[0].offset == 51, res[0]
        assert c.get_watermark_offsets(tp, timeout=T, cached=False) == (0, 100)
    finally:
        c.close()


def test_delete_records_moves_log_start(broker, admin):
    topic = unique("ck-delrec")
    create_topic(admin, topic)
    recs = make_records(100, seed=7)
    produce(broker.bootstrap, topic, recs)
    tp = TopicPartition(topic, 0, 50)
    res = admin.delete_records([tp], request_timeout=T, operation_timeout=T)
    [(k, fut)] = res.items()
    assert fut.result(timeout=T + 5).low_watermark == 50
    assert only(admin.list_offsets({TopicPartition(topic, 0): OffsetSpec.earliest()}, request_timeout=T)).result(timeout=T + 5).offset == 50
    got = consume(broker.bootstrap, topic, start=OFFSET_BEGINNING, expect=50, timeout=60)
    assert_same(got, recs[50:], first_offset=50)
    # below the log start offset is now out of range
    c = consumer(broker.bootstrap, {"auto.offset.reset": "error"})
    try:
        c.assign([TopicPartition(topic, 0, 10)])
        m = _drain_until(c, lambda m: m.error() is not None and m.error().code() != KafkaError._PARTITION_EOF, 30, "offset-out-of-range error")
        assert "out of range" in m.error().str().lower(), m.error()
    finally:
        c.close()
    # and deleting past the high watermark is OFFSET_OUT_OF_RANGE
    bad = TopicPartition(topic, 0, 1_000)
    with pytest.raises(KafkaException) as exc:
        only(admin.delete_records([bad], request_timeout=T, operation_timeout=T)).result(timeout=T + 5)
    assert exc.value.args[0].code() == KafkaError.OFFSET_OUT_OF_RANGE


def test_end_offset_assign(broker, admin):
    topic = unique("ck-end")
    create_topic(admin, topic)
    produce(broker.bootstrap, topic, make_records(10, seed=8))
    c = consumer(broker.bootstrap)
    try:
        c.assign([TopicPartition(topic, 0, OFFSET_END)])
        eof = _drain_until(c, lambda m: m.error() is not None, 30, "end of partition")
        assert eof.error().code() == KafkaError._PARTITION_EOF and eof.offset() == 10, (eof.offset(), eof.error())
    finally:
        c.close()


def test_message_too_large_is_rejected(broker, admin):
    topic = unique("ck-big")
    create_topic(admin, topic, config={"max.message.bytes": "100000"})
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "enable.idempotence": False, "message.max.bytes": 5_000_000, "compression.type": "none", "message.timeout.ms": 30000, "retries": 0})
    out = []
    p.produce(topic, value=b"x" * 200_000, partition=0, on_delivery=lambda err, msg: out.append(err))
    assert p.flush(40) == 0
    assert len(out) == 1 and out[0] is not None, f"a 200 kB record on a topic with max.message.bytes=100000 was accepted: {out}"
    assert out[0].code() == KafkaError.MSG_SIZE_TOO_LARGE, out[0]
    # nothing was appended
    c = consumer(broker.bootstrap)
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=T, cached=False) == (0, 0)
    finally:
        c.close()


def test_batch_larger_than_segment_is_record_list_too_large(broker, admin):
    # Kafka rejects a batch that cannot fit in one segment with RECORD_LIST_TOO_LARGE (18),
    # a non-retriable error, after checking max.message.bytes.
    topic = unique("ck-seg")
    create_topic(admin, topic, config={"segment.bytes": "1048576", "max.message.bytes": "3000000"})
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "enable.idempotence": False, "message.max.bytes": 5_000_000, "compression.type": "none", "message.timeout.ms": 30000, "retries": 0})
    out = []
    p.produce(topic, value=b"y" * 1_500_000, partition=0, on_delivery=lambda err, msg: out.append(err))
    assert p.flush(40) == 0
    assert len(out) == 1 and out[0] is not None, "a 1.5 MB batch on a topic with segment.bytes=1048576 was accepted"
    assert out[0].code() == KafkaError.RECORD_LIST_TOO_LARGE, out[0]
