"""ElectLeaders (API key 43) from confluent-kafka's AdminClient.elect_leaders (librdkafka's
request versions and response parsing) and `sluice leader-election` against one broker,
where every partition is led by its only (preferred) replica: elections are not needed,
unknown partitions get UNKNOWN_TOPIC_OR_PARTITION. Leadership actually moving back is
covered by the in-process cluster tests (crates/sluice-server/tests/elect_leaders.rs,
crates/sluice-cli/tests/leader_election.rs)."""

from __future__ import annotations

import json
import subprocess

from confluent_kafka import ElectionType, KafkaError, TopicPartition

from broker import sluice_bin
from helpers import create_topic, unique

T = 30


def elect(admin, kind, partitions):
    # No request_timeout/operation_timeout: confluent-kafka 2.16's binding rejects keyword
    # arguments for elect_leaders (TypeError/SystemError inside the C extension).
    return admin.elect_leaders(kind, partitions).result(timeout=T + 5)


def codes(result: dict) -> dict:
    out = {}
    for tp, err in result.items():
        # confluent-kafka 2.16 maps each partition to a KafkaError (or None), not an exception.
        code = 0 if err is None else (err.code() if isinstance(err, KafkaError) else err.args[0].code())
        out[(tp.topic, tp.partition)] = code
    return out


def test_confluent_elect_leaders(admin):
    name = unique("elect")
    create_topic(admin, name, partitions=2)
    got = codes(elect(admin, ElectionType.PREFERRED, [TopicPartition(name, 0), TopicPartition(name, 1), TopicPartition(name, 7)]))
    assert got == {
        (name, 0): KafkaError.ELECTION_NOT_NEEDED,
        (name, 1): KafkaError.ELECTION_NOT_NEEDED,
        (name, 7): KafkaError.UNKNOWN_TOPIC_OR_PART,
    }
    got = codes(elect(admin, ElectionType.UNCLEAN, [TopicPartition(name, 0)]))
    assert got == {(name, 0): KafkaError.ELECTION_NOT_NEEDED}
    # Every partition: all have their preferred leader, so none is reported.
    assert elect(admin, ElectionType.PREFERRED, None) == {}


def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(sluice_bin()), "leader-election", *args], capture_output=True, text=True, timeout=60)


def test_leader_election_tool(admin, broker, tmp_path):
    name = unique("elect-cli")
    create_topic(admin, name, partitions=2)
    p = run_tool("--bootstrap-server", broker.bootstrap, "--election-type", "preferred", "--topic", name, "--partition", "1")
    assert p.returncode == 0, p.stderr
    assert p.stdout == f"Valid replica already elected for partitions {name}-1\n"

    f = tmp_path / "election.json"
    f.write_text(json.dumps({"partitions": [{"topic": name, "partition": 0}, {"topic": name, "partition": 5}]}))
    p = run_tool("--bootstrap-server", broker.bootstrap, "--election-type", "PREFERRED", "--path-to-json-file", str(f))
    assert p.returncode == 1
    assert p.stdout.splitlines() == [
        f"Valid replica already elected for partitions {name}-0",
        f"Error completing leader election (PREFERRED) for partition: {name}-5: "
        f"org.apache.kafka.common.errors.UnknownTopicOrPartitionException: No such partition as {name}-5",
    ]
    assert p.stderr == "1 replica(s) could not be elected\n"

    p = run_tool("--bootstrap-server", broker.bootstrap, "--election-type", "unclean", "--all-topic-partitions")
    assert (p.returncode, p.stdout) == (0, ""), p.stderr

    p = run_tool("--bootstrap-server", broker.bootstrap, "--all-topic-partitions")
    assert p.returncode == 1 and "Missing required option(s): election-type" in p.stderr
