"""The KIP-848 consumer group protocol (`group.protocol=consumer`) through confluent-kafka /
librdkafka: ConsumerGroupHeartbeat joins, server-side assignment with member epochs and
reconciliation while members join and leave (each record consumed by exactly one member),
commits with member epochs resumed by a new consumer and kept across a broker restart, a live
member kept across a restart, static members coming back to their partitions, regex
subscriptions resolved by the broker (following new topics), a classic group and a consumer
group side by side, and the AdminClient's view of the group (list with group types, describe
through ConsumerGroupDescribe, delete)."""

from __future__ import annotations

import os
import time

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition

from helpers import Rec, admin_client, consume_n, create_topic, poll_ok, produce, records, unique

# A short heartbeat interval keeps reconciliation quick; the protocol is unchanged.
FAST = {"group.consumer.heartbeat.interval.ms": "500", "group.initial.rebalance.delay.ms": "200"}


def new_consumer(bootstrap: str, group: str, extra: dict | None = None) -> Consumer:
    # No session.timeout.ms / heartbeat.interval.ms: the consumer protocol rejects them
    # (the broker's group.consumer.* settings apply).
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "group.protocol": "consumer",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    }
    conf.update(extra or {})
    if os.environ.get("RDKAFKA_DEBUG"):
        conf["debug"] = os.environ["RDKAFKA_DEBUG"]
    return Consumer(conf)


def classic_consumer(bootstrap: str, group: str) -> Consumer:
    return Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 500,
    })






def produce_spread(bootstrap: str, topic: str, partitions: int, per_partition: int, tag: str) -> dict:
    sent = {}
    for p in range(partitions):
        recs = records(per_partition, f"{tag}{p}")
        for r, (_, off) in zip(recs, produce(bootstrap, topic, recs, partition=p)):
            sent[(p, off)] = r.value
    return sent




def wait_assignment(consumers: list[Consumer], partitions: int, sizes: list[int] | None = None,
                    timeout: float = 60, allow_records: bool = False) -> list[set]:
    """Polls until the members' assignments cover every partition exactly once and every
    member has some (with `sizes`: the sorted assignment sizes are exactly these, i.e.
    reconciliation finished with that balance). Nothing may arrive unless `allow_records`."""
    deadline = time.monotonic() + timeout
    while True:
        for c in consumers:
            m = poll_ok(c, 0.1)
            assert allow_records or m is None, "nothing was produced yet"
        assigned = [{tp.partition for tp in c.assignment()} for c in consumers]
        flat = [p for a in assigned for p in a]
        balanced = sizes is None or sorted(map(len, assigned)) == sizes
        if all(assigned) and sorted(flat) == list(range(partitions)) and balanced:
            return assigned
        assert time.monotonic() < deadline, f"group never settled: {assigned}"


@pytest.mark.parametrize("fresh_broker", [FAST], indirect=True, ids=["fast-heartbeat"])
def test_members_split_partitions_and_rebalance_without_duplicates(fresh_broker):
    b = fresh_broker.start()
    topic, group = unique("kip848"), unique("g848")
    create_topic(admin_client(b.bootstrap), topic, partitions=6)
    consumers = [new_consumer(b.bootstrap, group) for _ in range(3)]
    for c in consumers:
        c.subscribe([topic])
    closed: set[int] = set()
    try:
        # The uniform assignor balances 6 partitions over 3 members.
        wait_assignment(consumers, 6, sizes=[2, 2, 2])

        sent = produce_spread(b.bootstrap, topic, 6, 40, "r")
        seen: dict[tuple[int, int], int] = {}
        joined = left = False
        deadline = time.monotonic() + 120
        while len(seen) < len(sent):
            assert time.monotonic() < deadline, f"consumed {len(seen)} of {len(sent)}"
            if not joined and len(seen) >= len(sent) // 4:
                consumers.append(new_consumer(b.bootstrap, group))
                consumers[-1].subscribe([topic])
                joined = True
            if joined and not left and len(seen) >= len(sent) // 2:
                consumers[0].close()  # leaves the group (member epoch -1)
                closed.add(0)
                left = True
            for i, c in enumerate(consumers):
                if i in closed:
                    continue
                m = poll_ok(c, 0.1)
                if m is None:
                    continue
                key = (m.partition(), m.offset())
                assert key not in seen, f"record {key} consumed twice (members {seen[key]} and {i})"
                assert m.value() == sent[key]
                owned = {tp.partition for tp in c.assignment()}
                assert m.partition() in owned, f"member {i} got a record of partition {m.partition()} it does not own {owned}"
                seen[key] = i
                # Commit each record before the next poll, so a partition handed over during
                # a rebalance resumes exactly after it.
                c.commit(message=m, asynchronous=False)
        assert set(seen.values()) >= {1, 2}, "the remaining members consumed"
        assert 3 in set(seen.values()), "the member that joined mid-run got partitions and consumed"
        live = [c for i, c in enumerate(consumers) if i not in closed]
        # After the join and the leave, the 3 members share the 6 partitions evenly again.
        wait_assignment(live, 6, sizes=[2, 2, 2], allow_records=True)
    finally:
        for i, c in enumerate(consumers):
            if i not in closed:
                c.close()


@pytest.mark.parametrize("fresh_broker", [FAST], indirect=True, ids=["fast-heartbeat"])
def test_commit_resume_and_broker_restart_keep_offsets_and_group(fresh_broker):
    b = fresh_broker.start()
    adm = admin_client(b.bootstrap)
    topic, group = unique("kip848c"), unique("g848c")
    create_topic(adm, topic, partitions=1)
    recs = records(20, "c")
    produce(b.bootstrap, topic, recs, partition=0)

    c = new_consumer(b.bootstrap, group)
    c.subscribe([topic])
    got = consume_n(c, 7)
    assert [m.offset() for m in got] == list(range(7))
    c.commit(message=got[-1], asynchronous=False)
    c.close()

    c = new_consumer(b.bootstrap, group)
    c.subscribe([topic])
    got = consume_n(c, 5)
    assert [m.offset() for m in got] == list(range(7, 12)), "a new consumer resumes at the committed offset"
    assert got[0].value() == recs[7].value
    c.commit(message=got[-1], asynchronous=False)
    c.close()

    b.stop()
    b.start()
    adm = admin_client(b.bootstrap)
    listed = adm.list_consumer_groups(request_timeout=30).result(timeout=60)
    mine = [g for g in listed.valid if g.group_id == group]
    assert len(mine) == 1, f"consumer group not listed after restart: {[g.group_id for g in listed.valid]}"
    if hasattr(mine[0], "type"):
        assert "CONSUMER" in str(mine[0].type).upper(), mine[0].type
    c = new_consumer(b.bootstrap, group)
    try:
        committed = c.committed([TopicPartition(topic, 0)], timeout=30)
        assert committed[0].offset == 12, f"committed offset after restart: {committed[0]}"
        c.subscribe([topic])
        got = consume_n(c, 8)
        assert [m.offset() for m in got] == list(range(12, 20))
    finally:
        c.close()


@pytest.mark.parametrize("fresh_broker", [FAST], indirect=True, ids=["fast-heartbeat"])
def test_classic_and_consumer_protocol_groups_side_by_side(fresh_broker):
    b = fresh_broker.start()
    topic = unique("kip848s")
    create_topic(admin_client(b.bootstrap), topic, partitions=3)
    sent = produce_spread(b.bootstrap, topic, 3, 10, "s")
    classic = classic_consumer(b.bootstrap, unique("gclassic"))
    modern = new_consumer(b.bootstrap, unique("gmodern"))
    try:
        classic.subscribe([topic])
        modern.subscribe([topic])
        got = {"classic": {}, "consumer": {}}
        deadline = time.monotonic() + 60
        while any(len(v) < len(sent) for v in got.values()):
            assert time.monotonic() < deadline, f"classic {len(got['classic'])}, consumer {len(got['consumer'])} of {len(sent)}"
            for name, c in (("classic", classic), ("consumer", modern)):
                m = poll_ok(c, 0.1)
                if m is not None:
                    key = (m.partition(), m.offset())
                    assert key not in got[name], f"{name} group consumed {key} twice"
                    got[name][key] = m.value()
        assert got["classic"] == sent
        assert got["consumer"] == sent
    finally:
        classic.close()
        modern.close()


@pytest.mark.parametrize("fresh_broker", [FAST], indirect=True, ids=["fast-heartbeat"])
def test_admin_describes_and_lists_the_consumer_group(fresh_broker):
    from confluent_kafka import ConsumerGroupState

    b = fresh_broker.start()
    adm = admin_client(b.bootstrap)
    topic, group = unique("kip848a"), unique("g848a")
    create_topic(adm, topic, partitions=4)
    consumers = [new_consumer(b.bootstrap, group, {"client.id": f"member-{i}"}) for i in range(2)]
    try:
        for c in consumers:
            c.subscribe([topic])
        wait_assignment(consumers, 4, sizes=[2, 2])
        deadline = time.monotonic() + 60
        while True:
            d = adm.describe_consumer_groups([group], request_timeout=30)[group].result(timeout=60)
            if d.state == ConsumerGroupState.STABLE:
                break
            assert time.monotonic() < deadline, f"group never described as Stable: {d.state}"
            for c in consumers:
                poll_ok(c, 0.2)
        assert d.group_id == group
        assert len(d.members) == 2
        assert sorted(m.client_id for m in d.members) == ["member-0", "member-1"]
        parts = sorted(tp.partition for m in d.members for tp in m.assignment.topic_partitions)
        assert parts == [0, 1, 2, 3]
        assert all(tp.topic == topic for m in d.members for tp in m.assignment.topic_partitions)
        if hasattr(d, "type"):
            assert "CONSUMER" in str(d.type).upper(), d.type
        listed = adm.list_consumer_groups(request_timeout=30).result(timeout=60)
        mine = [g for g in listed.valid if g.group_id == group]
        assert len(mine) == 1 and mine[0].state == ConsumerGroupState.STABLE, mine
    finally:
        for c in consumers:
            c.close()
    # Every member left: the group is Empty and can be deleted.
    deadline = time.monotonic() + 30
    while True:
        d = adm.describe_consumer_groups([group], request_timeout=30)[group].result(timeout=60)
        if d.state == ConsumerGroupState.EMPTY:
            break
        assert time.monotonic() < deadline, f"group not Empty after every member left: {d.state}"
        time.sleep(0.2)
    adm.delete_consumer_groups([group], request_timeout=30)[group].result(timeout=60)
    listed = adm.list_consumer_groups(request_timeout=30).result(timeout=60)
    assert group not in [g.group_id for g in listed.valid]


@pytest.mark.parametrize("fresh_broker", [FAST], indirect=True, ids=["fast-heartbeat"])
def test_live_member_keeps_its_membership_across_a_broker_restart(fresh_broker):
    b = fresh_broker.start()
    adm = admin_client(b.bootstrap)
    topic, group = unique("kip848r"), unique("g848r")
    create_topic(adm, topic, partitions=2)
    first = produce_spread(b.bootstrap, topic, 2, 10, "before")
    c = new_consumer(b.bootstrap, group)
    try:
        c.subscribe([topic])
        seen = {}
        for m in consume_n(c, len(first)):
            seen[(m.partition(), m.offset())] = m.value()
            c.commit(message=m, asynchronous=False)
        assert seen == first
        before = adm.describe_consumer_groups([group], request_timeout=30)[group].result(timeout=60)
        member_ids = {m.member_id for m in before.members}
        assert len(member_ids) == 1

        b.stop()
        b.restart()
        adm = admin_client(b.bootstrap)
        second = produce_spread(b.bootstrap, topic, 2, 10, "after")
        got = {}
        for m in consume_n(c, len(second), timeout=90):
            key = (m.partition(), m.offset())
            assert key not in seen and key not in got, f"{key} consumed again after the restart"
            got[key] = m.value()
            c.commit(message=m, asynchronous=False)
        assert got == second
        after = adm.describe_consumer_groups([group], request_timeout=30)[group].result(timeout=60)
        assert {m.member_id for m in after.members} == member_ids, "the member kept its id across the restart"
        # It continued with its epoch: it was neither fenced nor did it leave and rejoin.
        log = b.out_path.read_text(errors="replace")
        assert f"group={group}" not in log, "the broker fenced or removed the member across the restart"
    finally:
        c.close()


@pytest.mark.parametrize("fresh_broker", [FAST], indirect=True, ids=["fast-heartbeat"])
def test_static_member_gets_its_partitions_back(fresh_broker):
    b = fresh_broker.start()
    topic, group = unique("kip848st"), unique("g848st")
    create_topic(admin_client(b.bootstrap), topic, partitions=4)
    static = {"group.instance.id": "instance-1"}
    s1 = new_consumer(b.bootstrap, group, static)
    other = new_consumer(b.bootstrap, group, {"group.instance.id": "instance-2"})
    s1b = None
    try:
        s1.subscribe([topic])
        other.subscribe([topic])
        before = wait_assignment([s1, other], 4, sizes=[2, 2])[0]
        s1.close()  # a static member leaves temporarily (member epoch -2)
        # For several heartbeat intervals the other member does not take its partitions.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            assert poll_ok(other, 0.1) is None
            owned = {tp.partition for tp in other.assignment()}
            assert not owned & before, f"partitions of the absent static member were reassigned: {owned}"
        s1b = new_consumer(b.bootstrap, group, static)
        s1b.subscribe([topic])
        after = wait_assignment([s1b, other], 4, sizes=[2, 2])[0]
        assert after == before, "the static member comes back to the same partitions"
    finally:
        other.close()
        if s1b is not None:
            s1b.close()


@pytest.mark.parametrize("fresh_broker", [FAST], indirect=True, ids=["fast-heartbeat"])
def test_regex_subscription_is_resolved_by_the_broker_and_follows_new_topics(fresh_broker):
    # librdkafka sends `^...` subscriptions as ConsumerGroupHeartbeat v1 subscribed_topic_regex.
    b = fresh_broker.start()
    adm = admin_client(b.bootstrap)
    prefix = unique("kip848rx")
    create_topic(adm, f"{prefix}-a", partitions=2)
    create_topic(adm, f"other-{prefix}", partitions=2)
    c = new_consumer(b.bootstrap, unique("g848rx"))
    try:
        c.subscribe([f"^{prefix}-.*"])

        def wait_for(expected: set, timeout: float = 60):
            deadline = time.monotonic() + timeout
            while True:
                assert poll_ok(c, 0.2) is None
                got = {(tp.topic, tp.partition) for tp in c.assignment()}
                if got == expected:
                    return
                assert time.monotonic() < deadline, f"assignment {got}, expected {expected}"

        wait_for({(f"{prefix}-a", 0), (f"{prefix}-a", 1)})
        create_topic(adm, f"{prefix}-b", partitions=1)
        wait_for({(f"{prefix}-a", 0), (f"{prefix}-a", 1), (f"{prefix}-b", 0)})
    finally:
        c.close()
