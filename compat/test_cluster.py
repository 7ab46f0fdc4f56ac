"""A 3-node cluster of real `sluice server start` processes under real clients, with brokers
killed (`kill -9`) and frozen (SIGSTOP/SIGCONT) while producers and consumers run.

The invariant every test checks: each record whose delivery was acknowledged is read back
exactly once, at the offset the acknowledgement named, and each partition's records are in
the order they were produced (values carry a per-partition sequence number).

One cluster serves the whole module (start/stop is the slow part); the `healthy` fixture
brings every node back (SIGCONT, restart) and waits until Metadata lists all three brokers
before each test. Timeouts are the fast ones of `cluster.FAST_TIMEOUTS` (session 2 s).
"""

from __future__ import annotations

import os
import random
import threading
import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import ConfigResource, NewTopic

import conftest
from broker import wait_for
from cluster import Cluster
from helpers import unique

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def cluster():
    c = Cluster(3)
    c.start()
    conftest.LIVE.extend(c.nodes)
    yield c
    for nd in c.nodes:
        conftest.LIVE.remove(nd)
    c.close()


@pytest.fixture
def healthy(cluster):
    """Every node running and registered before the test (a failed test may leave one down)."""
    for nd in cluster.nodes:
        nd.sigcont()
        if not nd.running():
            nd.proc = None
            nd.restart()
    cluster.wait_registered(60)
    return cluster


# ---- helpers ----------------------------------------------------------------------------


class SeqProducer:
    """A confluent-kafka idempotent acks=all producer in its own thread, writing
    `b"<partition>:<seq>"` to every partition in turn until stopped. Delivery reports are kept
    per partition as (seq, offset); failures as (partition, seq, error)."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, conf: dict | None = None, pause: float = 0.002):
        config = {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 2,
            # A frozen leader must not hold in-flight requests for the default 30 s.
            "request.timeout.ms": 5000,
            "message.timeout.ms": 45000,
            "topic.metadata.refresh.interval.ms": 1000,
        }
        config.update(conf or {})
        self.p = Producer(config)
        self.topic = topic
        self.partitions = partitions
        self.pause = pause
        self.acked: dict[int, list[tuple[int, int]]] = {p: [] for p in range(partitions)}
        self.failed: list[tuple[int, int, str]] = []
        self.sent = {p: 0 for p in range(partitions)}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"produce-{topic}", daemon=True)

    def _cb(self, part: int, seq: int):
        def cb(err, msg):
            if err is None:
                self.acked[part].append((seq, msg.offset()))
            else:
                self.failed.append((part, seq, str(err)))

        return cb

    def _run(self):
        try:
            while not self._stop.is_set():
                for part in range(self.partitions):
                    seq = self.sent[part]
                    try:
                        self.p.produce(self.topic, value=b"%d:%d" % (part, seq), partition=part, on_delivery=self._cb(part, seq))
                        self.sent[part] = seq + 1
                    except BufferError:
                        pass  # queue full (leader gone): poll and retry the same seq
                    self.p.poll(0)
                self.p.poll(self.pause)
        except Exception as exc:  # surfaced by stop()
            self.errors.append(repr(exc))

    def start(self) -> "SeqProducer":
        self._thread.start()
        return self

    def acks(self, part: int) -> int:
        return len(self.acked[part])

    def wait_more_acks(self, part: int, more: int, timeout: float, why: str) -> None:
        target = self.acks(part) + more
        wait_for(lambda: self.acks(part) >= target or self.failed or self.errors, timeout, f"{more} more acks on partition {part} {why}")
        assert not self.failed, f"deliveries failed: {self.failed[:5]}"
        assert not self.errors, f"producer thread failed: {self.errors}"

    def stop(self, timeout: float = 50) -> None:
        self._stop.set()
        self._thread.join(10)
        left = self.p.flush(timeout)
        assert not self.errors, f"producer thread failed: {self.errors}"
        assert left == 0, f"{left} records still undelivered {timeout}s after the producer stopped"
        assert not self.failed, f"{len(self.failed)} deliveries failed; first: {self.failed[:5]}"


def read_partition(bootstrap: str, topic: str, part: int, timeout: float = 30) -> list[tuple[int, bytes]]:
    """(offset, value) of every record of `topic`-`part` from offset 0 to the high watermark."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("verify"), "enable.auto.commit": False, "enable.partition.eof": True, "auto.offset.reset": "error"})
    try:
        _, high = c.get_watermark_offsets(TopicPartition(topic, part), timeout=10)
        c.assign([TopicPartition(topic, part, 0)])
        out: list[tuple[int, bytes]] = []
        deadline = time.monotonic() + timeout
        while (out[-1][0] + 1 if out else 0) < high:
            assert time.monotonic() < deadline, f"{topic}-{part}: read up to offset {out[-1][0] if out else None} of high watermark {high} in {timeout}s"
            for m in c.consume(num_messages=5000, timeout=0.5):
                err = m.error()
                if err is None:
                    out.append((m.offset(), m.value()))
                elif err.code() != KafkaError._PARTITION_EOF:
                    raise KafkaException(err)
        return out
    finally:
        c.close()


def check_exactly_once_in_order(got: list[tuple[int, bytes]], acked: list[tuple[int, int]], part: int) -> None:
    """Every record has this partition's prefix; sequence numbers strictly increase (no
    duplicate, nothing reordered); every acknowledged (seq, offset) is there at that offset."""
    seqs = []
    by_offset = {}
    for off, value in got:
        p, s = value.split(b":")
        assert int(p) == part, f"offset {off} of partition {part} holds {value!r}"
        seqs.append(int(s))
        by_offset[off] = int(s)
    dups = len(seqs) - len(set(seqs))
    assert dups == 0, f"partition {part}: {dups} duplicated records"
    for i in range(1, len(seqs)):
        assert seqs[i] > seqs[i - 1], f"partition {part}: seq {seqs[i]} after {seqs[i - 1]} (offsets {got[i - 1][0]}, {got[i][0]})"
    missing = [(s, o) for s, o in acked if by_offset.get(o) != s]
    assert not missing, f"partition {part}: read {len(got)} records, offsets {got[0][0] if got else None}..{got[-1][0] if got else None}; highest acknowledged offset {max((o for _, o in acked), default=None)}; {len(missing)} of {len(acked)} acknowledged records not read at their offset; first (seq, offset): {missing[:5]}, read there: {[by_offset.get(o) for _, o in missing[:5]]}"


def verify(cluster: Cluster, prod: SeqProducer) -> None:
    cluster.wait_converged(prod.topic, prod.partitions, 3, 30)
    for part in range(prod.partitions):
        got = read_partition(cluster.live_bootstrap(), prod.topic, part)
        check_exactly_once_in_order(got, prod.acked[part], part)


# ---- tests ------------------------------------------------------------------------------


def test_three_brokers_rf3_topic_leaders_spread(healthy):
    c = healthy
    topic = unique("spread")
    c.create_topic(topic, partitions=3, rf=3, config={"min.insync.replicas": "2"})
    md = c.metadata(topic)
    assert sorted(md.brokers) == [1, 2, 3]
    assert {b.port for b in md.brokers.values()} == {nd.port for nd in c.nodes}
    parts = md.topics[topic].partitions
    assert sorted(parts) == [0, 1, 2]
    assert {p.leader for p in parts.values()} == {1, 2, 3}, f"leaders not spread: {[(i, p.leader) for i, p in parts.items()]}"
    for p in parts.values():
        assert sorted(p.replicas) == [1, 2, 3] and sorted(p.isrs) == [1, 2, 3]
        assert p.leader == p.replicas[0], "the first replica is the preferred leader"
    admin = c.admin()
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    cfg = admin.describe_configs([res])[res].result(timeout=15)
    assert cfg["min.insync.replicas"].value == "2"
    # every broker answers Metadata with the same view
    for nd in c.nodes:
        other = c.admin(nd.bootstrap).list_topics(topic=topic, timeout=5).topics[topic].partitions
        assert {i: p.leader for i, p in other.items()} == {i: p.leader for i, p in parts.items()}


def test_idempotent_producer_through_leader_kill9_and_restart(healthy):
    c = healthy
    topic = unique("kill9")
    c.create_topic(topic, partitions=3, rf=3, config={"min.insync.replicas": "2"})
    prod = SeqProducer(c.bootstrap, topic, 3).start()
    try:
        for part in range(3):
            prod.wait_more_acks(part, 300, 20, "before the kill")
        victim = c.leader(topic, 0)
        c.node(victim).kill9()
        c.wait_partition(topic, 0, lambda p: p.leader not in (-1, victim), 20, f"a new leader after node {victim} was killed")
        for part in range(3):
            prod.wait_more_acks(part, 300, 25, f"after node {victim} was killed")
        c.node(victim).restart()
        c.wait_converged(topic, 3, 3, 30)  # the restarted node caught up and rejoined every ISR
        for part in range(3):
            prod.wait_more_acks(part, 300, 20, f"after node {victim} came back")
    finally:
        prod.stop()
    verify(c, prod)


def test_idempotent_producer_through_a_controller_kill9(healthy):
    """The active controller (the Raft leader) is killed: the survivors elect a new one, fence
    the dead broker, move its leaderships, and keep serving controller requests."""
    c = healthy
    topic = unique("ctlkill")
    c.create_topic(topic, partitions=3, rf=3, config={"min.insync.replicas": "2"})
    prod = SeqProducer(c.bootstrap, topic, 3).start()
    try:
        for part in range(3):
            prod.wait_more_acks(part, 300, 20, "before the kill")
        admin = c.admin()  # kept referenced: a collected AdminClient cancels its futures
        victim = admin.describe_cluster(request_timeout=10).result(timeout=15).controller.id
        assert victim in (1, 2, 3)
        led = [p for p, m in c.partitions(topic).items() if m.leader == victim]
        c.node(victim).kill9()
        survivor = next(nd for nd in c.nodes if nd.node_id != victim)

        def new_controller():
            try:
                a = c.admin(survivor.bootstrap)
                ctl = a.describe_cluster(request_timeout=2).result(timeout=3).controller
            except Exception:
                return None
            return ctl.id if ctl is not None and ctl.id not in (-1, victim) else None

        elected = wait_for(new_controller, 20, f"a new controller after node {victim} was killed")
        assert elected != victim
        for part in led:
            c.wait_partition(topic, part, lambda p: p.leader not in (-1, victim), 20, f"a new leader after controller {victim} was killed")
        for part in range(3):
            prod.wait_more_acks(part, 300, 25, f"after controller {victim} was killed")
        # the new controller serves controller requests
        other = unique("afterctl")
        sadmin = c.admin(survivor.bootstrap)
        fs = sadmin.create_topics([NewTopic(other, 2, 2)], request_timeout=15)
        fs[other].result(timeout=20)
        c.wait_isr(other, 2, 2, 30)
        c.node(victim).restart()
        c.wait_converged(topic, 3, 3, 30)
        for part in range(3):
            prod.wait_more_acks(part, 300, 20, f"after node {victim} came back")
    finally:
        prod.stop()
    verify(c, prod)


def test_idempotent_producer_through_sigstop_of_a_random_broker(healthy):
    c = healthy
    topic = unique("sigstop")
    c.create_topic(topic, partitions=3, rf=3, config={"min.insync.replicas": "2"})
    seed = random.randrange(1 << 30)
    victim = int(os.environ.get("SIGSTOP_VICTIM", 0)) or random.Random(seed).choice([1, 2, 3])
    print(f"SIGSTOP victim: node {victim} (seed {seed})")
    prod = SeqProducer(c.bootstrap, topic, 3).start()
    try:
        for part in range(3):
            prod.wait_more_acks(part, 300, 20, "before SIGSTOP")
        led = [p for p, m in c.partitions(topic).items() if m.leader == victim]
        c.node(victim).sigstop()
        # fenced after the session timeout; its partitions get other leaders
        for part in led:
            c.wait_partition(topic, part, lambda p: p.leader not in (-1, victim), 20, f"a new leader while node {victim} is stopped")
        for part in range(3):
            prod.wait_more_acks(part, 300, 25, f"while node {victim} is stopped")
        c.node(victim).sigcont()
        c.wait_registered(30)
        # the resumed node serves its stale image (it still leads its old partitions) until it
        # caught up with the quorum: wait until every node agrees
        c.wait_converged(topic, 3, 3, 40)
        for part in range(3):
            prod.wait_more_acks(part, 300, 20, f"after node {victim} resumed")
    finally:
        c.node(victim).sigcont()
        prod.stop()
    verify(c, prod)


def test_kafka_python_producer_and_consumer_through_leader_kill(healthy):
    from kafka import KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KTP

    c = healthy
    topic = unique("kpy")
    c.create_topic(topic, partitions=1, rf=3, config={"min.insync.replicas": "2"})
    servers = [nd.bootstrap for nd in c.nodes]
    prod = KafkaProducer(
        bootstrap_servers=servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        request_timeout_ms=5000,
        delivery_timeout_ms=45000,
        retry_backoff_ms=100,
        metadata_max_age_ms=1000,
    )
    acked: list[tuple[int, int]] = []
    failed: list = []
    seq = 0

    def send_some(n: int):
        nonlocal seq
        for _ in range(n):
            s = seq
            fut = prod.send(topic, value=b"0:%d" % s, partition=0)
            fut.add_callback(lambda md, s=s: acked.append((s, md.offset)))
            fut.add_errback(lambda exc, s=s: failed.append((s, repr(exc))))
            seq += 1

    def until_acked(n: int, timeout: float, why: str):
        deadline = time.monotonic() + timeout
        while len(acked) < n and not failed:
            assert time.monotonic() < deadline, f"{len(acked)} of {n} records acknowledged {why} in {timeout}s"
            send_some(20)
            prod.flush(timeout=max(0.1, deadline - time.monotonic()))
        assert not failed, f"kafka-python deliveries failed {why}: {failed[:5]}"

    try:
        until_acked(500, 20, "before the kill")
        victim = c.leader(topic, 0)
        send_some(200)  # in flight while the leader dies
        c.node(victim).kill9()
        until_acked(len(acked) + 500, 30, f"after node {victim} was killed")
        assert c.leader(topic, 0) != victim
        c.node(victim).restart()
        c.wait_converged(topic, 1, 3, 30)
        until_acked(len(acked) + 300, 20, f"after node {victim} came back")
        prod.flush(timeout=30)
    finally:
        prod.close(timeout=10)
    assert not failed, f"kafka-python deliveries failed: {failed[:5]}"

    cons = KafkaConsumer(bootstrap_servers=servers, group_id=None, enable_auto_commit=False, consumer_timeout_ms=1000)
    try:
        tp = KTP(topic, 0)
        cons.assign([tp])
        cons.seek_to_beginning(tp)
        end = cons.end_offsets([tp])[tp]
        got: list[tuple[int, bytes]] = []
        deadline = time.monotonic() + 30
        while cons.position(tp) < end:
            assert time.monotonic() < deadline, f"kafka-python read {len(got)} records up to {cons.position(tp)} of {end} in 30 s"
            for records in cons.poll(timeout_ms=500).values():
                got.extend((r.offset, r.value) for r in records)
    finally:
        cons.close()
    assert [o for o, _ in got] == list(range(len(got))), "offsets not contiguous from 0"
    check_exactly_once_in_order(got, acked, 0)


def test_consumer_group_commits_survive_a_coordinator_kill(healthy):
    c = healthy
    topic = unique("grp")
    c.create_topic(topic, partitions=3, rf=3, config={"min.insync.replicas": "2"})
    p = Producer({"bootstrap.servers": c.bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 5})
    per_part = 1000
    for part in range(3):
        for s in range(per_part):
            p.produce(topic, value=b"%d:%d" % (part, s), partition=part)
            if s % 500 == 0:
                p.poll(0)
    assert p.flush(30) == 0

    # __consumer_offsets exists once a coordinator was looked up; then choose a group whose
    # coordinator is not node 1, and give the consumer node 1 only as its bootstrap.
    probe = Consumer({"bootstrap.servers": c.bootstrap, "group.id": unique("probe"), "enable.auto.commit": False})
    try:
        # librdkafka's committed() does not retry NOT_COORDINATOR (a coordinator that has not
        # applied its leadership yet): ask again until it answers.
        wait_for(lambda: probe.committed([TopicPartition(topic, 0)], timeout=10), 30, "a first OffsetFetch")
    finally:
        probe.close()
    c.wait_isr("__consumer_offsets", 50, 3, 60)
    offsets_leaders = {i: m.leader for i, m in c.partitions("__consumer_offsets").items()}
    group = next(g for g in (unique("group") for _ in range(1000)) if offsets_leaders[java_partition(g)] != 1)
    coordinator = offsets_leaders[java_partition(group)]

    cons = Consumer(
        {
            "bootstrap.servers": c.node(1).bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 500,
            "topic.metadata.refresh.interval.ms": 1000,
        }
    )
    seen: dict[int, list[int]] = {0: [], 1: [], 2: []}

    def consume_until(total: int, timeout: float, why: str):
        deadline = time.monotonic() + timeout
        while sum(len(v) for v in seen.values()) < total:
            assert time.monotonic() < deadline, f"consumed {sum(len(v) for v in seen.values())} of {total} records {why} in {timeout}s"
            for m in cons.consume(num_messages=200, timeout=0.5):
                if m.error() is None:
                    part, s = map(int, m.value().split(b":"))
                    assert part == m.partition()
                    seen[part].append(s)
                elif m.error().code() != KafkaError._PARTITION_EOF:
                    raise KafkaException(m.error())

    try:
        cons.subscribe([topic])
        consume_until(1500, 30, "before the kill")
        cons.commit(asynchronous=False)
        before = {tp.partition: tp.offset for tp in cons.committed([TopicPartition(topic, i) for i in range(3)], timeout=10)}
        assert before == {part: len(seqs) if seqs else -1001 for part, seqs in seen.items()}, f"committed {before} after consuming {[len(v) for v in seen.values()]}"
        c.node(coordinator).kill9()
        # the new coordinator loaded the committed offsets from the replicated log
        after = wait_for(
            lambda: {tp.partition: tp.offset for tp in cons.committed([TopicPartition(topic, i) for i in range(3)], timeout=5)},
            30,
            "committed offsets from the new coordinator",
        )
        assert after == before, f"committed offsets changed over the coordinator kill: {before} -> {after}"
        consume_until(3 * per_part, 40, f"after coordinator node {coordinator} was killed")
        wait_for(lambda: cons.commit(asynchronous=False) or True, 30, "a commit to the new coordinator")
        final = {tp.partition: tp.offset for tp in cons.committed([TopicPartition(topic, i) for i in range(3)], timeout=10)}
        assert final == {0: per_part, 1: per_part, 2: per_part}
    finally:
        cons.close()
    for part, seqs in seen.items():
        assert seqs == list(range(per_part)), f"partition {part}: consumed {len(seqs)} records, not 0..{per_part - 1} once in order"
    # the group moved to a live coordinator
    admin = c.admin(c.live_bootstrap())
    desc = admin.describe_consumer_groups([group])[group].result(timeout=15)
    assert desc.coordinator.id != coordinator


def java_partition(group: str, partitions: int = 50) -> int:
    """Kafka's __consumer_offsets partition of a group: abs(String.hashCode) % partitions."""
    h = 0
    for ch in group.encode("utf-16-be").decode("utf-16-be"):
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    return (h & 0x7FFFFFFF) % partitions
