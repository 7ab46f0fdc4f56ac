"""kafka-python (pure-Python client, its own protocol code and version inference) against
the broker: KafkaAdminClient create/delete topics with Kafka's error classes, KafkaProducer
send().get() metadata, and KafkaConsumer assign() + seek_to_beginning() reading the records
back identical and in order. No consumer groups here (group_id=None)."""

from __future__ import annotations

import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

from broker import wait_for
from helpers import unique


@pytest.fixture(scope="module")
def kp_admin(broker):
    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap, client_id="compat-kafka-python", request_timeout_ms=30000)
    yield a
    a.close()


def records(n: int, seed: int):
    import random

    rng = random.Random(seed)
    base = int(time.time() * 1000) - 60_000
    return [(b"kp-key-%d" % i, rng.randbytes(rng.randrange(0, 400)), [("idx", str(i).encode()), ("src", b"kafka-python")], base + i) for i in range(n)]


def produce(bootstrap: str, topic: str, recs, **conf):
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, request_timeout_ms=30000, **conf)
    try:
        futures = [p.send(topic, key=k, value=v, headers=h, partition=0, timestamp_ms=ts) for k, v, h, ts in recs]
        p.flush(timeout=60)
        return [f.get(timeout=30) for f in futures]
    finally:
        p.close(timeout=10)


def read_all(bootstrap: str, topic: str, n: int, timeout: float = 60):
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, auto_offset_reset="none", request_timeout_ms=30000)
    try:
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        c.seek_to_beginning(tp)
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"kafka-python read {len(out)} of {n} records in {timeout}s")
            for _, batch in c.poll(timeout_ms=500, max_records=5000).items():
                out.extend(batch)
        # nothing beyond what was produced
        assert c.end_offsets([tp])[tp] == n
        return out
    finally:
        c.close()


def test_admin_create_list_delete(broker, kp_admin):
    name = unique("kp-admin")
    kp_admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1, topic_configs={"retention.ms": "3600000"})])
    kp_admin.wait_for_topics([name], timeout_ms=30000)
    assert name in kp_admin.list_topics()
    [desc] = kp_admin.describe_topics([name])
    assert desc["error_code"] == 0 and sorted(p["partition_index"] for p in desc["partitions"]) == [0, 1], desc
    assert all(p["leader_id"] == broker.node_id for p in desc["partitions"]), desc

    with pytest.raises(TopicAlreadyExistsError):
        kp_admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])

    kp_admin.delete_topics([name])
    wait_for(lambda: name not in kp_admin.list_topics(), 30, f"{name} to leave the topic list")
    with pytest.raises(UnknownTopicOrPartitionError):
        kp_admin.delete_topics([name])


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_produce_get_metadata_and_read_back(broker, kp_admin, compression):
    topic = unique(f"kp-rt-{compression or 'none'}")
    kp_admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    kp_admin.wait_for_topics([topic], timeout_ms=30000)
    recs = records(3_000, seed=11)
    metas = produce(broker.bootstrap, topic, recs, compression_type=compression)
    assert [(m.topic, m.partition, m.offset) for m in metas] == [(topic, 0, i) for i in range(len(recs))]
    assert [m.timestamp for m in metas] == [ts for *_, ts in recs], "CreateTime must be echoed"

    got = read_all(broker.bootstrap, topic, len(recs))
    assert len(got) == len(recs)
    for i, (g, (k, v, h, ts)) in enumerate(zip(got, recs)):
        assert (g.partition, g.offset) == (0, i), f"record {i}: at {g.partition}/{g.offset}"
        assert g.key == k and g.value == v, f"record {i}: key/value differ"
        assert [tuple(x) for x in g.headers] == h, f"record {i}: headers {g.headers} != {h}"
        assert g.timestamp == ts, f"record {i}: timestamp {g.timestamp} != {ts}"
