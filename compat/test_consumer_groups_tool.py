"""`sluice consumer-groups` (kafka-consumer-groups.sh) and `console-consumer --group` against
groups formed by real clients: confluent-kafka consumers commit part of a 3-partition topic,
the tool's --describe/--members/--state/--list report them (offsets, lag, live member);
--reset-offsets moves the committed offsets and a fresh confluent-kafka consumer really
starts there; --delete-offsets and --delete remove them; console-consumer --group resumes
from and commits to the group; the bin/ shim runs verbatim. Every wait is bounded."""

from __future__ import annotations

import datetime
import os
import re
import subprocess
import time

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition

from broker import REPO, sluice_bin, wait_for
from helpers import Rec, admin_client, create_topic, produce, unique

GROUP_OVERRIDES = {"group.initial.rebalance.delay.ms": "200"}
PER_PARTITION = 10


def tool(bootstrap: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(sluice_bin()), "consumer-groups", "--bootstrap-server", bootstrap, *args], capture_output=True, text=True, timeout=timeout)


def ok(bootstrap: str, *args: str) -> str:
    r = tool(bootstrap, *args)
    assert r.returncode == 0, f"consumer-groups {' '.join(args)} exited {r.returncode}: {r.stdout}{r.stderr}"
    return r.stdout


def table(out: str, header_start: str) -> list[list[str]]:
    """Rows (whitespace-split) of the table whose header line starts with `header_start`."""
    lines = out.splitlines()
    idx = [i for i, line in enumerate(lines) if line.startswith(header_start)]
    assert idx, f"no table with header {header_start!r} in:\n{out}"
    rows = []
    for line in lines[idx[0] + 1 :]:
        if not line.strip():
            break
        rows.append(line.split())
    return rows


def group_consumer(bootstrap: str, group: str, **extra) -> Consumer:
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": "cg-tool-test",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 500,
    }
    conf.update(extra)
    return Consumer(conf)


def poll_until(c: Consumer, cond, timeout: float, what: str) -> list:
    got = []
    deadline = time.monotonic() + timeout
    while not cond(got):
        assert time.monotonic() < deadline, f"{what}: got {len(got)} records in {timeout}s"
        m = c.poll(0.3)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                continue
            raise AssertionError(f"consumer error: {m.error()}")
        got.append(m)
    return got


def setup_topic(b, name: str) -> tuple[str, int]:
    """A 3-partition topic with PER_PARTITION records per partition; returns (topic, ts of
    the first record of each partition's second half)."""
    topic = unique(name)
    create_topic(admin_client(b.bootstrap), topic, partitions=3)
    base = int(time.time() * 1000) - 600_000
    for p in range(3):
        recs = [Rec(f"k{i}".encode(), f"p{p}-v{i}".encode(), (), base + i * 1000) for i in range(PER_PARTITION)]
        produce(b.bootstrap, topic, recs, partition=p)
    return topic, base + (PER_PARTITION // 2) * 1000


def commit_part(b, topic: str, group: str, counts: dict[int, int]) -> Consumer:
    """A live member of `group` that consumed and committed counts[p] records of each
    partition p; the caller closes it."""
    c = group_consumer(b.bootstrap, group)
    c.subscribe([topic])
    poll_until(c, lambda _: len(c.assignment()) == 3, 30, "assignment of 3 partitions")
    offsets = [TopicPartition(topic, p, n) for p, n in counts.items()]
    c.commit(offsets=offsets, asynchronous=False)
    return c


def committed(b, group: str, topic: str) -> dict[int, int]:
    out = ok(b.bootstrap, "--describe", "--group", group, "--offsets")
    rows = table(out, "GROUP")
    return {int(r[2]): (int(r[3]) if r[3] != "-" else -1) for r in rows if r[1] == topic}


def first_offsets(b, group: str, topic: str) -> dict[int, int]:
    """The offset a fresh confluent-kafka member of `group` starts at, per partition."""
    c = group_consumer(b.bootstrap, group, **{"enable.partition.eof": True})
    c.subscribe([topic])
    try:
        first: dict[int, int] = {}
        eof: set[int] = set()
        deadline = time.monotonic() + 60
        while len(first) + len(eof - set(first)) < 3:
            assert time.monotonic() < deadline, f"fresh consumer saw {first}, eof {eof}"
            m = c.poll(0.3)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    eof.add(m.partition())
                    continue
                raise AssertionError(m.error())
            first.setdefault(m.partition(), m.offset())
        return {p: first.get(p, PER_PARTITION) for p in range(3)}
    finally:
        c.close()


@pytest.fixture(scope="module")
def gb():
    from broker import Broker

    b = Broker(overrides=GROUP_OVERRIDES)
    b.start()
    yield b
    b.stop()
    b.close()


def test_describe_members_state_list_show_live_consumer(gb):
    topic, _ = setup_topic(gb, "cgd")
    group = unique("cg-desc")
    c = commit_part(gb, topic, group, {0: 3, 1: 7})
    try:
        member_id = c.memberid()
        out = ok(gb.bootstrap, "--describe", "--group", group)
        header = next(line for line in out.splitlines() if line.startswith("GROUP"))
        assert header.split() == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"]
        rows = {int(r[2]): r for r in table(out, "GROUP")}
        assert set(rows) == {0, 1, 2}, out
        want_current = {0: "3", 1: "7", 2: "-"}
        for p, r in rows.items():
            assert r[0] == group and r[1] == topic
            assert r[3] == want_current[p], f"partition {p}: {r}"
            assert r[4] == str(PER_PARTITION), f"partition {p}: {r}"
            assert r[5] == (str(PER_PARTITION - int(r[3])) if r[3] != "-" else "-"), f"partition {p}: {r}"
            assert r[6] == member_id and r[7] == "/127.0.0.1" and r[8] == "cg-tool-test", r

        out = ok(gb.bootstrap, "--describe", "--group", group, "--members", "--verbose")
        [m] = table(out, "GROUP")
        assert m[:5] == [group, member_id, "/127.0.0.1", "cg-tool-test", "3"], out
        assert " ".join(m[5:]) == f"{topic}(0,1,2)", out

        out = ok(gb.bootstrap, "--describe", "--group", group, "--state")
        [s] = table(out, "GROUP")
        assert s[0] == group and s[1] == gb.bootstrap and s[2] == "(1)", out
        assert s[3:] == ["range", "Stable", "1"], out

        assert group in ok(gb.bootstrap, "--list").split()
        listed = {r[0]: r[1] for r in table(ok(gb.bootstrap, "--list", "--state"), "GROUP")}
        assert listed[group] == "Stable"
        assert group in [r[0] for r in table(ok(gb.bootstrap, "--list", "--state", "stable"), "GROUP")]
        assert group not in [r[0] for r in table(ok(gb.bootstrap, "--list", "--state", "Empty"), "GROUP")]
        bad = tool(gb.bootstrap, "--list", "--state", "sleepy")
        assert bad.returncode == 1 and "Invalid state list 'sleepy'" in bad.stderr

        # A reset while the member is alive is refused with Kafka's message; nothing moves.
        r = tool(gb.bootstrap, "--reset-offsets", "--group", group, "--all-topics", "--to-earliest", "--execute")
        assert f"Assignments can only be reset if the group '{group}' is inactive, but the current state is Stable." in r.stdout, r.stdout + r.stderr
    finally:
        c.close()
    assert committed(gb, group, topic) == {0: 3, 1: 7}
    # Closed: Empty, offsets remain, no member.
    r = tool(gb.bootstrap, "--describe", "--group", group)
    assert f"Consumer group '{group}' has no active members." in r.stderr
    assert all(row[6:] == ["-", "-", "-"] for row in table(r.stdout, "GROUP"))
    r = tool(gb.bootstrap, "--describe", "--group", "no-such-group-" + group)
    assert r.returncode == 0 and f"Error: Consumer group 'no-such-group-{group}' does not exist." in r.stdout


def test_reset_offsets_move_where_a_fresh_consumer_starts(gb):
    topic, mid_ts = setup_topic(gb, "cgr")
    group = unique("cg-reset")
    commit_part(gb, topic, group, {0: 6, 1: 6, 2: 6}).close()

    # Dry run (the default) prints the plan and changes nothing.
    r = tool(gb.bootstrap, "--reset-offsets", "--group", group, "--topic", topic, "--to-earliest")
    assert r.returncode == 0 and "--execute option is missing" in r.stderr
    assert sorted(table(r.stdout, "GROUP")) == sorted([[group, topic, str(p), "0"] for p in range(3)])
    assert committed(gb, group, topic) == {0: 6, 1: 6, 2: 6}

    ok(gb.bootstrap, "--reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--execute")
    assert committed(gb, group, topic) == {0: 0, 1: 0, 2: 0}
    assert first_offsets(gb, group, topic) == {0: 0, 1: 0, 2: 0}

    # --to-offset on chosen partitions, clamped to the log end.
    out = ok(gb.bootstrap, "--reset-offsets", "--group", group, "--topic", f"{topic}:0,1", "--to-offset", "4", "--execute")
    assert sorted(table(out, "GROUP")) == [[group, topic, "0", "4"], [group, topic, "1", "4"]]
    ok(gb.bootstrap, "--reset-offsets", "--group", group, "--topic", f"{topic}:2", "--to-offset", "999", "--execute")
    assert committed(gb, group, topic) == {0: 4, 1: 4, 2: PER_PARTITION}
    assert first_offsets(gb, group, topic) == {0: 4, 1: 4, 2: PER_PARTITION}

    # --shift-by -N from the committed offsets, clamped at the log start.
    ok(gb.bootstrap, "--reset-offsets", "--group", group, "--all-topics", "--shift-by", "-3", "--execute")
    assert committed(gb, group, topic) == {0: 1, 1: 1, 2: PER_PARTITION - 3}
    ok(gb.bootstrap, "--reset-offsets", "--group", group, "--topic", f"{topic}:0", "--shift-by", "-5", "--execute")
    assert committed(gb, group, topic)[0] == 0
    assert first_offsets(gb, group, topic) == {0: 0, 1: 1, 2: PER_PARTITION - 3}

    # --to-datetime: the first record at or after that time (records are 1 s apart).
    when = datetime.datetime.fromtimestamp(mid_ts / 1000, tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    ok(gb.bootstrap, "--reset-offsets", "--group", group, "--all-topics", "--to-datetime", when, "--execute")
    half = PER_PARTITION // 2
    assert committed(gb, group, topic) == {0: half, 1: half, 2: half}
    assert first_offsets(gb, group, topic) == {0: half, 1: half, 2: half}

    # --by-duration far in the past of every record → earliest; --to-latest → end.
    ok(gb.bootstrap, "--reset-offsets", "--group", group, "--all-topics", "--by-duration", "P30D", "--execute")
    assert committed(gb, group, topic) == {0: 0, 1: 0, 2: 0}
    ok(gb.bootstrap, "--reset-offsets", "--group", group, "--all-topics", "--to-latest", "--execute")
    assert committed(gb, group, topic) == {p: PER_PARTITION for p in range(3)}

    # Bad input: clear errors, nothing changed.
    r = tool(gb.bootstrap, "--reset-offsets", "--group", group, "--all-topics", "--to-datetime", "yesterday", "--execute")
    assert r.returncode == 1 and "'T'" in r.stderr
    r = tool(gb.bootstrap, "--reset-offsets", "--group", group, "--topic", f"{topic}:7", "--to-earliest", "--execute")
    assert r.returncode == 1 and f'The partitions "{topic}-7" do not exist' in r.stderr
    r = tool(gb.bootstrap, "--reset-offsets", "--group", group, "--to-earliest")
    assert r.returncode == 1 and "One of the reset scopes should be defined" in r.stderr
    assert committed(gb, group, topic) == {p: PER_PARTITION for p in range(3)}


def test_delete_offsets_and_delete_group(gb):
    topic, _ = setup_topic(gb, "cgdel")
    group = unique("cg-del")
    commit_part(gb, topic, group, {0: 2, 1: 2, 2: 2}).close()

    out = ok(gb.bootstrap, "--delete-offsets", "--group", group, "--topic", f"{topic}:1")
    assert f"Request succeeded for deleting offsets from group {group}." in out
    assert [topic, "1", "Successful"] in table(out, "TOPIC")
    assert committed(gb, group, topic) == {0: 2, 2: 2}

    out = ok(gb.bootstrap, "--delete", "--group", group)
    assert f"Deletion of requested consumer groups ('{group}') was successful." in out
    assert group not in ok(gb.bootstrap, "--list").split()
    r = tool(gb.bootstrap, "--describe", "--group", group)
    assert f"Consumer group '{group}' does not exist." in r.stdout

    # Deleting a group with a live member fails with Kafka's lines.
    c = commit_part(gb, topic, group, {0: 1})
    try:
        out = ok(gb.bootstrap, "--delete", "--group", group)
        assert "Error: Deletion of some consumer groups failed:" in out
        assert f"* Group '{group}' could not be deleted due to: org.apache.kafka.common.errors.GroupNotEmptyException" in out
        r = tool(gb.bootstrap, "--delete-offsets", "--group", group, "--topic", topic)
        assert "Error: Encountered some partition-level error" in r.stdout, r.stdout
        assert "The consumer group is actively subscribed to the topic" in r.stdout
    finally:
        c.close()


def console(bootstrap: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(sluice_bin()), "console-consumer", "--bootstrap-server", bootstrap, *args], capture_output=True, text=True, timeout=timeout)


def test_console_consumer_group_resumes_and_commits(gb):
    topic = unique("cgc")
    create_topic(admin_client(gb.bootstrap), topic, partitions=1)
    recs = [Rec(None, f"line-{i}".encode(), (), int(time.time() * 1000)) for i in range(20)]
    produce(gb.bootstrap, topic, recs, partition=0)
    group = unique("cg-console")
    c = group_consumer(gb.bootstrap, group)
    c.subscribe([topic])
    got = poll_until(c, lambda g: len(g) >= 4, 30, "confluent consumer")
    c.commit(offsets=[TopicPartition(topic, 0, 4)], asynchronous=False)
    c.close()

    r = console(gb.bootstrap, "--topic", topic, "--group", group, "--max-messages", "5")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"line-{i}" for i in range(4, 9)]
    assert committed(gb, group, topic) == {0: 9}

    r = console(gb.bootstrap, "--topic", topic, "--consumer-property", f"group.id={group}", "--max-messages", "3")
    assert r.stdout.splitlines() == [f"line-{i}" for i in range(9, 12)], r.stderr
    assert committed(gb, group, topic) == {0: 12}

    # A new group: --from-beginning means earliest when nothing is committed; --timeout-ms
    # ends the run, and the final commit covers everything printed.
    fresh = unique("cg-console-new")
    r = console(gb.bootstrap, "--topic", topic, "--group", fresh, "--from-beginning", "--timeout-ms", "3000")
    assert r.stdout.splitlines() == [f"line-{i}" for i in range(20)]
    assert "Processed a total of 20 messages" in r.stderr
    assert committed(gb, fresh, topic) == {0: 20}
    # And a confluent-kafka member continues after the console consumer's commit.
    ok(gb.bootstrap, "--reset-offsets", "--group", fresh, "--topic", topic, "--to-offset", "15", "--execute")
    assert first_offsets_single(gb, fresh, topic) == 15

    r = console(gb.bootstrap, "--topic", topic, "--group", "a", "--consumer-property", "group.id=b", "--max-messages", "1")
    assert r.returncode == 1 and "do not match" in r.stderr


def first_offsets_single(b, group: str, topic: str) -> int:
    c = group_consumer(b.bootstrap, group)
    c.subscribe([topic])
    try:
        return poll_until(c, lambda g: len(g) >= 1, 30, "first record")[0].offset()
    finally:
        c.close()


def test_shim_runs_verbatim(gb):
    topic, _ = setup_topic(gb, "cgs")
    group = unique("cg-shim")
    commit_part(gb, topic, group, {0: 5}).close()
    shim = REPO / "bin" / "kafka-consumer-groups.sh"
    env = {**os.environ, "SLUICE_BIN": str(sluice_bin())}
    r = subprocess.run([str(shim), "--bootstrap-server", gb.bootstrap, "--describe", "--group", group], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    rows = table(r.stdout, "GROUP")
    assert [row[:6] for row in rows] == [[group, topic, "0", "5", str(PER_PARTITION), str(PER_PARTITION - 5)]]
    r = subprocess.run([str(shim), "--bootstrap-server", gb.bootstrap, "--list"], capture_output=True, text=True, timeout=60, env=env)
    assert group in r.stdout.split()
    r = subprocess.run([str(shim), "--bootstrap-server", gb.bootstrap, "--describe"], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 1 and re.search(r"takes one of these options", r.stderr)


def test_console_consumer_rejoins_when_a_second_member_arrives(gb):
    topic = unique("cgrb")
    create_topic(admin_client(gb.bootstrap), topic, partitions=2)
    for p in range(2):
        produce(gb.bootstrap, topic, [Rec(None, f"p{p}-{i}".encode(), (), int(time.time() * 1000)) for i in range(5)], partition=p)
    group = unique("cg-rebalance")
    cc = subprocess.Popen(
        [str(sluice_bin()), "console-consumer", "--bootstrap-server", gb.bootstrap, "--topic", topic, "--group", group, "--from-beginning", "--timeout-ms", "8000",
         "--consumer-property", "heartbeat.interval.ms=300", "--consumer-property", "session.timeout.ms=6000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        # The console consumer owns both partitions first.
        wait_for(lambda: [r[4] for r in table(ok(gb.bootstrap, "--describe", "--group", group, "--members"), "GROUP")] == ["2"], 30, "console consumer owning 2 partitions")
        c = group_consumer(gb.bootstrap, group)
        c.subscribe([topic])
        try:
            deadline = time.monotonic() + 30
            while len(c.assignment()) != 1:
                assert time.monotonic() < deadline, "the second member never got a partition"
                c.poll(0.3)
            members = table(ok(gb.bootstrap, "--describe", "--group", group, "--members"), "GROUP")
            assert sorted(r[4] for r in members) == ["1", "1"], members
        finally:
            c.close()
        out, err = cc.communicate(timeout=60)
    finally:
        if cc.poll() is None:
            cc.kill()
            cc.wait(timeout=10)
    assert cc.returncode == 0, err
    assert sorted(out.splitlines()) == sorted(f"p{p}-{i}" for p in range(2) for i in range(5))
    assert committed(gb, group, topic) == {0: 5, 1: 5}
