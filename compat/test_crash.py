"""Crash tests: what a broker must keep across kill -9 and a torn segment tail.

- 100,000 acknowledged records (acks=all, idempotent) survive `kill -9` + restart, complete,
  identical and in order, and appends continue at the next offset.
- kill -9 in the middle of producing: every acknowledged record is at its acknowledged
  offset after restart, and the log has no gaps.
- A last segment cut in the middle of its last batch (a torn write): after restart the
  broker serves every batch before the cut, drops the torn one, and new appends continue
  right after the last whole batch with contiguous offsets.
Each test runs its own broker (fixture `fresh_broker`) on a temp log.dirs.
"""

from __future__ import annotations

import os
import time

import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import OffsetSpec

from broker import read_batches
from helpers import admin_client, assert_same, consume, create_topic, make_records, produce, unique, wait_topic

pytestmark = [pytest.mark.crash, pytest.mark.timeout(600)]


def list_offset(admin, topic: str, spec) -> int:
    tp = TopicPartition(topic, 0)
    return admin.list_offsets({tp: spec}, request_timeout=30)[tp].result(timeout=35).offset


def test_kill9_keeps_100k_acknowledged_records(fresh_broker):
    b = fresh_broker.start()
    topic = unique("crash-kill9")
    create_topic(admin_client(b.bootstrap), topic)
    n = 100_000
    recs = make_records(n, seed=100, max_value=120)
    delivered = produce(b.bootstrap, topic, recs, conf={"acks": "all", "enable.idempotence": True}, timeout=300)
    assert delivered == [(0, i) for i in range(n)]

    b.kill9()
    b.restart()
    admin = admin_client(b.bootstrap)
    wait_topic(admin, topic, 1)
    assert list_offset(admin, topic, OffsetSpec.latest()) == n, "high watermark after restart"
    got = consume(b.bootstrap, topic, expect=n, timeout=300)
    assert_same(got, recs)

    more = make_records(10, seed=101)
    assert produce(b.bootstrap, topic, more) == [(0, n + i) for i in range(10)], "appends after restart must continue at the next offset"
    assert_same(consume(b.bootstrap, topic, start=n - 5, expect=15, timeout=60), recs[-5:] + more, first_offset=n - 5)


def test_kill9_while_producing_keeps_what_was_acknowledged(fresh_broker):
    b = fresh_broker.start()
    topic = unique("crash-midflight")
    create_topic(admin_client(b.bootstrap), topic)
    recs = make_records(60_000, seed=102, max_value=120)
    acked: dict[int, int] = {}  # record index -> offset

    def cb(i):
        def f(err, msg):
            if err is None:
                acked[i] = msg.offset()

        return f

    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 5, "message.timeout.ms": 20000})
    killed_at = None
    for i, r in enumerate(recs):
        while True:
            try:
                p.produce(topic, key=r.key, value=r.value, headers=list(r.headers), timestamp=r.timestamp, partition=0, on_delivery=cb(i))
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
        if killed_at is None and len(acked) >= 20_000:
            b.kill9()  # records are still being sent
            killed_at = i
    # Enqueueing can outrun the acknowledgements: keep serving delivery reports until 20,000
    # are in, then kill while the rest are still in flight.
    deadline = time.monotonic() + 60
    while killed_at is None and time.monotonic() < deadline:
        p.poll(0.01)
        if len(acked) >= 20_000:
            b.kill9()
            killed_at = len(acked)
    assert killed_at is not None, "never reached 20,000 acknowledgements"
    b.restart()
    p.flush(60)  # in-flight records may now be delivered or fail; only acknowledged ones count

    wait_topic(admin_client(b.bootstrap), topic, 1)
    got = consume(b.bootstrap, topic, expect=len(acked), timeout=300)
    assert [g.offset for g in got] == list(range(len(got))), "log has gaps or is out of order after the crash"
    by_offset = {g.offset: g for g in got}
    missing = [(i, off) for i, off in acked.items() if off not in by_offset]
    assert not missing, f"{len(missing)} acknowledged records lost, e.g. record {missing[0][0]} acked at offset {missing[0][1]}"
    for i, off in acked.items():
        assert by_offset[off].rec() == recs[i], f"record {i} acked at offset {off} differs after restart"
    offsets_of = sorted(acked.items())
    assert [off for _, off in offsets_of] == sorted(off for _, off in offsets_of), "acknowledged offsets not in produce order"


@pytest.mark.parametrize("fresh_broker", [{"log.segment.bytes": str(64 * 1024)}], indirect=True, ids=["segment64k"])
@pytest.mark.parametrize("stop", ["sigterm", "sigkill"])
def test_torn_last_batch_is_dropped_and_appends_continue(fresh_broker, stop):
    b = fresh_broker.start()
    topic = unique("crash-torn")
    create_topic(admin_client(b.bootstrap), topic)
    recs = make_records(6_000, seed=103, max_value=100)
    # several produce rounds, each in multi-record batches
    for lo in range(0, len(recs), 2_000):
        delivered = produce(b.bootstrap, topic, recs[lo : lo + 2_000], conf={"linger.ms": 20, "batch.num.messages": 200})
        assert delivered == [(0, lo + i) for i in range(len(delivered))]

    if stop == "sigterm":
        assert b.stop() == 0, "graceful stop failed"
    else:
        b.kill9()

    segs = sorted(b.partition_dir(topic).glob("*.log"))
    assert len(segs) >= 2, f"log.segment.bytes=65536 should have rolled several segments, found {[s.name for s in segs]}"
    last = segs[-1]
    batches = read_batches(last)
    assert batches, f"{last} holds no whole batch"
    assert int(last.stem) == batches[0]["base_offset"], f"segment {last.name} starts with offset {batches[0]['base_offset']}"
    assert batches[-1]["last_offset"] == len(recs) - 1, "the last batch on disk should hold the last produced record"
    torn = batches[-1]
    cut = torn["position"] + torn["size"] // 2
    os.truncate(last, cut)
    kept = torn["base_offset"]  # records [0, kept) are whole on disk

    b.restart()
    admin = admin_client(b.bootstrap)
    wait_topic(admin, topic, 1)
    assert list_offset(admin, topic, OffsetSpec.earliest()) == 0
    assert list_offset(admin, topic, OffsetSpec.latest()) == kept, f"after cutting batch {torn['base_offset']}..{torn['last_offset']} the log must end at {kept}"
    got = consume(b.bootstrap, topic, expect=kept, timeout=120)
    assert_same(got, recs[:kept])

    more = make_records(500, seed=104, max_value=100)
    # batches stay well under log.segment.bytes (64 KiB)
    assert produce(b.bootstrap, topic, more, conf={"batch.num.messages": 200}) == [(0, kept + i) for i in range(500)], "new appends must continue right after the last whole batch"
    got = consume(b.bootstrap, topic, expect=kept + 500, timeout=120)
    assert_same(got, recs[:kept] + more)

    # and the repaired log survives one more restart unchanged
    b.stop()
    b.restart()
    wait_topic(admin_client(b.bootstrap), topic, 1)
    assert_same(consume(b.bootstrap, topic, expect=kept + 500, timeout=120), recs[:kept] + more)
