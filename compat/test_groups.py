"""Consumer groups through real clients: three confluent-kafka consumers in one group split a
6-partition topic so every record is consumed by exactly one member; committed offsets are
resumed by a restarted consumer and survive a broker restart; kafka-python's KafkaConsumer
with a group_id and `kcat -G` consume through the group protocol."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition

from helpers import Rec, admin_client, consume_n, create_topic, poll_ok, produce, records, unique

# A short initial rebalance delay keeps the tests quick; the protocol is unchanged.
GROUP_OVERRIDES = {"group.initial.rebalance.delay.ms": "200"}
KCAT = shutil.which("kcat") or shutil.which("kafkacat")


def group_consumer(bootstrap: str, group: str, extra: dict | None = None) -> Consumer:
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 500,
    }
    conf.update(extra or {})
    return Consumer(conf)








@pytest.mark.parametrize("fresh_broker", [GROUP_OVERRIDES], indirect=True, ids=["short-delay"])
def test_three_consumers_split_partitions_each_record_once(fresh_broker):
    b = fresh_broker.start()
    topic, group = unique("grp6"), unique("g3")
    create_topic(admin_client(b.bootstrap), topic, partitions=6)
    consumers = [group_consumer(b.bootstrap, group) for _ in range(3)]
    try:
        for c in consumers:
            c.subscribe([topic])
        # Wait (bounded) for one generation that gives every member partitions, 6 in all.
        deadline = time.monotonic() + 60
        while True:
            for c in consumers:
                assert poll_ok(c, 0.1) is None, "nothing was produced yet"
            assigned = [{tp.partition for tp in c.assignment()} for c in consumers]
            if all(assigned) and sum(map(len, assigned)) == 6 and set().union(*assigned) == set(range(6)):
                break
            assert time.monotonic() < deadline, f"group never settled: {assigned}"
        sent = {}
        for p in range(6):
            recs = records(50, f"p{p}")
            for r, (_, off) in zip(recs, produce(b.bootstrap, topic, recs, partition=p)):
                sent[(p, off)] = r.value
        seen: dict[tuple[int, int], int] = {}
        deadline = time.monotonic() + 60
        while len(seen) < len(sent):
            assert time.monotonic() < deadline, f"consumed {len(seen)} of {len(sent)}"
            for i, c in enumerate(consumers):
                m = poll_ok(c, 0.2)
                if m is None:
                    continue
                key = (m.partition(), m.offset())
                assert key not in seen, f"record {key} consumed twice (members {seen[key]} and {i})"
                assert m.value() == sent[key]
                assert m.partition() in assigned[i], "record from a partition not assigned to the member"
                seen[key] = i
        assert set(seen.values()) == {0, 1, 2}
    finally:
        for c in consumers:
            c.close()


@pytest.mark.parametrize("fresh_broker", [GROUP_OVERRIDES], indirect=True, ids=["short-delay"])
def test_committed_offsets_resume_and_survive_broker_restart(fresh_broker):
    b = fresh_broker.start()
    topic, group = unique("grpc"), unique("gc")
    create_topic(admin_client(b.bootstrap), topic, partitions=1)
    recs = records(20, "c")
    produce(b.bootstrap, topic, recs, partition=0)

    c = group_consumer(b.bootstrap, group)
    c.subscribe([topic])
    got = consume_n(c, 7)
    assert [m.offset() for m in got] == list(range(7))
    c.commit(message=got[-1], asynchronous=False)
    c.close()

    c = group_consumer(b.bootstrap, group)
    c.subscribe([topic])
    got = consume_n(c, 5)
    assert [m.offset() for m in got] == list(range(7, 12)), "restarted consumer must resume at the committed offset"
    assert got[0].value() == recs[7].value
    c.commit(message=got[-1], asynchronous=False)
    c.close()

    b.stop()
    b.start()
    c = group_consumer(b.bootstrap, group)
    try:
        committed = c.committed([TopicPartition(topic, 0)], timeout=30)
        assert committed[0].offset == 12, f"committed offset after restart: {committed[0]}"
        c.subscribe([topic])
        got = consume_n(c, 8)
        assert [m.offset() for m in got] == list(range(12, 20))
    finally:
        c.close()


@pytest.mark.parametrize("fresh_broker", [GROUP_OVERRIDES], indirect=True, ids=["short-delay"])
def test_kafka_python_group_consumer_and_kcat(fresh_broker):
    from kafka import KafkaConsumer

    b = fresh_broker.start()
    topic = unique("grpk")
    create_topic(admin_client(b.bootstrap), topic, partitions=2)
    sent = set()
    for p in range(2):
        recs = records(15, f"kp{p}")
        for r, (_, off) in zip(recs, produce(b.bootstrap, topic, recs, partition=p)):
            sent.add((p, off, r.value))

    group = unique("gkp")
    kc = KafkaConsumer(topic, bootstrap_servers=b.bootstrap, group_id=group, auto_offset_reset="earliest",
                       enable_auto_commit=False, consumer_timeout_ms=500)
    try:
        got = set()
        deadline = time.monotonic() + 60
        while len(got) < len(sent):
            assert time.monotonic() < deadline, f"kafka-python consumed {len(got)} of {len(sent)}"
            for m in kc:
                got.add((m.partition, m.offset, m.value))
        assert got == sent
        kc.commit()
    finally:
        kc.close()
    c = group_consumer(b.bootstrap, group)
    try:
        committed = c.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=30)
        assert [tp.offset for tp in committed] == [15, 15]
    finally:
        c.close()

    if KCAT is None:
        pytest.skip("kcat is not installed")
    proc = subprocess.run([KCAT, "-b", b.bootstrap, "-G", unique("gkcat"), "-o", "beginning", "-c", "30",
                           "-f", "%p %o %s\\n", "-X", "auto.offset.reset=earliest", topic],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=90)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    lines = proc.stdout.decode().splitlines()
    got = {(int(p), int(o), v.encode()) for p, o, v in (line.split(" ", 2) for line in lines)}
    assert got == sent


@pytest.mark.parametrize("fresh_broker", [GROUP_OVERRIDES], indirect=True, ids=["fast-rebalance"])
def test_admin_lists_describes_and_deletes_groups_and_offsets(fresh_broker):
    from confluent_kafka import ConsumerGroupTopicPartitions
    from confluent_kafka import ConsumerGroupState

    b = fresh_broker.start()
    adm = admin_client(b.bootstrap)
    topic = unique("grp-admin")
    create_topic(adm, topic, partitions=2)
    produce(b.bootstrap, topic, records(20, "a"), partition=None)
    group = unique("grp-admin")
    c = group_consumer(b.bootstrap, group)
    c.subscribe([topic])
    consume_n(c, 20)
    c.commit(asynchronous=False)

    listed = adm.list_consumer_groups(request_timeout=30).result(timeout=35)
    assert group in {g.group_id for g in listed.valid}
    desc = adm.describe_consumer_groups([group], request_timeout=30)[group].result(timeout=35)
    assert desc.state == ConsumerGroupState.STABLE, desc.state
    assert len(desc.members) == 1
    assigned = {(tp.topic, tp.partition) for tp in desc.members[0].assignment.topic_partitions}
    assert assigned == {(topic, 0), (topic, 1)}

    # A group with a member cannot be deleted: NON_EMPTY_GROUP.
    fut = adm.delete_consumer_groups([group], request_timeout=30)[group]
    with pytest.raises(Exception) as exc:
        fut.result(timeout=35)
    assert exc.value.args[0].code() == KafkaError.NON_EMPTY_GROUP, exc.value
    c.close()  # leaves the group → Empty

    # OffsetDelete (confluent-kafka has no API for it; kafka-python's admin sends it) of
    # partition 0 on the now-empty group; partition 1 keeps its offset.
    from kafka import KafkaAdminClient
    from kafka import TopicPartition as KTP

    before = adm.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=30)[group].result(timeout=35)
    before = {(tp.topic, tp.partition): tp.offset for tp in before.topic_partitions}
    assert before.get((topic, 0), -1) >= 0 and before.get((topic, 1), -1) >= 0, before

    kadm = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    try:
        result = kadm.delete_group_offsets(group, [KTP(topic, 0)])
        assert all(err is None or getattr(err, "errno", 0) == 0 for err in (result or {}).values()), result
    finally:
        kadm.close()
    committed = adm.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=30)[group].result(timeout=35)
    offsets = {(tp.topic, tp.partition): tp.offset for tp in committed.topic_partitions}
    assert offsets.get((topic, 0), -1) < 0, offsets
    assert offsets.get((topic, 1), -1) >= 0, offsets

    adm.delete_consumer_groups([group], request_timeout=30)[group].result(timeout=35)
    listed = adm.list_consumer_groups(request_timeout=30).result(timeout=35)
    assert group not in {g.group_id for g in listed.valid}


class Member:
    """A group consumer that commits what it consumed when partitions are taken away (on
    revoke and before close), so that across rebalances every record is consumed exactly once
    by the group. Counts what it got and records every revocation it saw."""

    def __init__(self, name: str, bootstrap: str, group: str, topic: str, extra: dict | None = None):
        self.name, self.topic = name, topic
        self.pos: dict[int, int] = {}
        self.count = 0
        self.revocations: list[set[int]] = []
        self.assignments: list[set[int]] = []
        self.events: list[tuple[str, set[int]]] = []
        self.c = group_consumer(bootstrap, group, extra)
        self.c.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)

    def _commit(self, partitions) -> None:
        offs = [TopicPartition(self.topic, p, self.pos.pop(p)) for p in partitions if p in self.pos]
        if offs:
            self.c.commit(offsets=offs, asynchronous=False)

    def _on_assign(self, _c, parts) -> None:
        self.assignments.append({tp.partition for tp in parts})
        self.events.append(("assign", self.assignments[-1]))

    def _on_revoke(self, _c, parts) -> None:
        revoked = {tp.partition for tp in parts}
        self.revocations.append(revoked)
        self.events.append(("revoke", revoked))
        self._commit(revoked)

    def _on_lost(self, _c, parts) -> None:
        raise AssertionError(f"{self.name} lost partitions {[tp.partition for tp in parts]}")

    def poll(self, seen: dict, sent: dict, timeout: float) -> None:
        m = poll_ok(self.c, timeout)
        if m is None:
            return
        key = (m.partition(), m.offset())
        assert key not in seen, f"record {key} consumed twice ({seen[key]} and {self.name})"
        seen[key] = self.name
        self.pos[m.partition()] = m.offset() + 1
        self.count += 1

    def close(self) -> None:
        self._commit(list(self.pos))
        self.c.close()


def run_membership_changes(bootstrap: str, topic: str, extra: dict | None = None) -> dict[str, "Member"]:
    """A producer thread writes 3,000 keyed records to 6 partitions while members A, B, C of
    one group join one after another and A then B leave. Returns the members once every
    delivered record has been consumed; asserts no record is consumed twice or skipped."""
    import threading

    from confluent_kafka import Producer

    group = unique("gmove")
    total = 3000
    sent: dict[tuple[int, int], bytes] = {}
    errors: list = []
    lock = threading.Lock()

    def producer():
        p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 2})

        def cb(err, msg):
            with lock:
                if err is not None:
                    errors.append(err)
                else:
                    sent[(msg.partition(), msg.offset())] = msg.value()

        for i in range(total):
            p.produce(topic, key=f"k{i % 97}".encode(), value=f"v{i}".encode(), partition=i % 6, on_delivery=cb)
            if i % 25 == 0:
                p.poll(0)
                time.sleep(0.02)  # spread the records over the membership changes
        assert p.flush(60) == 0

    t = threading.Thread(target=producer, daemon=True)
    members = {"A": Member("A", bootstrap, group, topic, extra)}
    active = ["A"]
    seen: dict[tuple[int, int], str] = {}
    # Membership changes happen when the group has consumed this many records.
    plan = [(300, "join", "B"), (900, "join", "C"), (1500, "leave", "A"), (2100, "leave", "B")]
    t.start()
    deadline = time.monotonic() + 150
    try:
        while True:
            assert time.monotonic() < deadline, f"consumed {len(seen)} of {total}; plan left: {plan}"
            for name in list(active):
                members[name].poll(seen, sent, 0.05)
            if plan and len(seen) >= plan[0][0]:
                _, action, name = plan.pop(0)
                if action == "join":
                    members[name] = Member(name, bootstrap, group, topic, extra)
                    active.append(name)
                else:
                    members[name].close()
                    active.remove(name)
            with lock:
                done = not t.is_alive() and len(seen) >= len(sent)
            if done and not plan:
                break
        t.join(5)
        assert not errors, f"produce failed: {errors[:3]}"
        assert len(sent) == total
        assert set(seen) == set(sent), f"missing {sorted(set(sent) - set(seen))[:10]}"
        return members
    finally:
        for name in active:
            members[name].c.close()


@pytest.mark.parametrize("fresh_broker", [GROUP_OVERRIDES], indirect=True, ids=["short-delay"])
def test_members_join_and_leave_mid_run_each_record_once(fresh_broker):
    b = fresh_broker.start()
    topic = unique("gmove")
    create_topic(admin_client(b.bootstrap), topic, partitions=6)
    members = run_membership_changes(b.bootstrap, topic)
    for name, m in members.items():
        assert m.count > 0, f"member {name} never consumed anything"
    # Eager (range) rebalancing revokes everything a member owns at every rebalance.
    assert members["A"].revocations, "A saw no rebalance"
    for name, m in members.items():
        owned: set[int] = set()
        for kind, parts in m.events:
            if kind == "assign":
                owned = parts
            else:
                assert parts == owned, f"eager rebalance of {name} revoked {parts} of {owned}"
                owned = set()


@pytest.mark.parametrize("fresh_broker", [GROUP_OVERRIDES], indirect=True, ids=["short-delay"])
def test_cooperative_sticky_rebalances_incrementally(fresh_broker):
    b = fresh_broker.start()
    topic = unique("gcoop")
    create_topic(admin_client(b.bootstrap), topic, partitions=6)
    members = run_membership_changes(b.bootstrap, topic, {"partition.assignment.strategy": "cooperative-sticky"})
    for name, m in members.items():
        assert m.count > 0, f"member {name} never consumed anything"
    a = members["A"]
    # A owned all six partitions alone; when B joined, A gave up only some of them (an
    # incremental revocation) and kept the rest without a stop-the-world revoke.
    assert a.assignments[0] == set(range(6)), a.assignments
    first_revoke = a.revocations[0]
    assert 0 < len(first_revoke) < 6, f"cooperative rebalance revoked {first_revoke} of A's 6 partitions"
    # Assignments and revocations are increments: a member is never given a partition it
    # already owns, and only ever gives up partitions it owns.
    for name, m in members.items():
        owned: set[int] = set()
        for kind, parts in m.events:
            if kind == "assign":
                assert not (owned & parts), f"{name} was given {owned & parts} twice: {m.events}"
                owned |= parts
            else:
                assert parts <= owned, f"{name} gave up {parts - owned} it did not own: {m.events}"
                owned -= parts
