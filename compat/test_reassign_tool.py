"""`sluice reassign-partitions` (kafka-reassign-partitions.sh) against three real `sluice`
processes: --generate proposes an assignment over a broker list, --execute starts it (printing
the rollback JSON), --verify reports completion, --list/--cancel report nothing active, and
the data produced before the move is read back in full from the new replicas. Bad input gets
Kafka's messages and exit code 1.

The cluster here is a small harness on top of `broker.Broker`: three processes, each broker
+ controller, one Raft quorum, started in parallel (a node serves clients only once the quorum
has a leader).
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from broker import REPO, Broker, free_port, sluice_bin, wait_for
from conftest import LIVE
from helpers import admin_client, unique

TOOL = [str(sluice_bin()), "reassign-partitions"]


class ThreeNodes:
    """Three `sluice server start` processes forming one cluster on 127.0.0.1."""

    def __init__(self, n: int = 3):
        self.brokers = [Broker(node_id=i + 1) for i in range(n)]
        cports = [free_port() for _ in range(n)]
        voters = ",".join(f"{i + 1}@127.0.0.1:{p}" for i, p in enumerate(cports))
        for b, cport in zip(self.brokers, cports):
            b.overrides = {
                "process.roles": "broker,controller",
                "listeners": f"PLAINTEXT://127.0.0.1:{b.port},CONTROLLER://127.0.0.1:{cport}",
                "controller.listener.names": "CONTROLLER",
                "controller.quorum.voters": voters,
                "broker.heartbeat.interval.ms": "200",
                "broker.session.timeout.ms": "3000",
                "replica.fetch.wait.max.ms": "100",
                "offsets.topic.replication.factor": "3",
                "group.initial.rebalance.delay.ms": "0",
            }

    def start(self) -> "ThreeNodes":
        LIVE.extend(self.brokers)
        with ThreadPoolExecutor(len(self.brokers)) as pool:
            for f in [pool.submit(b.start) for b in self.brokers]:
                f.result()
        return self

    @property
    def bootstrap(self) -> str:
        return ",".join(b.bootstrap for b in self.brokers)

    def close(self) -> None:
        for b in self.brokers:
            b.close()
            LIVE.remove(b)


@pytest.fixture(scope="module")
def cluster():
    c = ThreeNodes()
    try:
        yield c.start()
    finally:
        c.close()


def tool(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run(TOOL + list(args), capture_output=True, text=True, timeout=60)
    if ok:
        assert p.returncode == 0, f"{args} exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
    return p


def replicas_of(admin, topic: str) -> dict[int, list[int]]:
    md = admin.list_topics(topic, timeout=10)
    t = md.topics[topic]
    assert t.error is None, t.error
    return {p: list(t.partitions[p].replicas) for p in t.partitions}


def produce(bootstrap: str, topic: str, partitions: int, n: int) -> dict[int, list[bytes]]:
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    sent: dict[int, list[bytes]] = {i: [] for i in range(partitions)}
    for i in range(n):
        part = i % partitions
        value = b"v-%d" % i
        p.produce(topic, value=value, partition=part)
        sent[part].append(value)
    assert p.flush(30) == 0, "every record acknowledged"
    return sent


def consume_all(bootstrap: str, topic: str, partition: int, expected: int) -> list[bytes]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("g"), "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, partition, 0)])
        out: list[bytes] = []
        errors: list[str] = []

        def done():
            for msg in c.consume(1000, 0.5):
                if msg.error() is None:
                    out.append(msg.value())
                else:
                    errors.append(str(msg.error()))
            assert len(errors) < 100, errors[-5:]
            return len(out) >= expected

        try:
            wait_for(done, 60, f"{expected} records from {topic}-{partition}", interval=0.01)
        except TimeoutError as e:
            raise TimeoutError(f"{e}: got {len(out)}, errors {errors[-5:]}") from None
        return out
    finally:
        c.close()


def test_generate_execute_verify_moves_every_replica_with_its_data(cluster, tmp_path):
    admin = admin_client(cluster.bootstrap)
    topic = unique("moving")
    fs = admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=2)])
    fs[topic].result(30)
    wait_for(lambda: len(replicas_of(admin, topic)) == 3, 30, "topic metadata")
    sent = produce(cluster.bootstrap, topic, 3, 600)

    # --generate over brokers 2,3: Kafka's two JSON documents, RF kept, only 2 and 3 used.
    topics_file = tmp_path / "topics.json"
    topics_file.write_text(json.dumps({"topics": [{"topic": topic}], "version": 1}))
    out = tool("--bootstrap-server", cluster.bootstrap, "--generate",
               "--topics-to-move-json-file", str(topics_file), "--broker-list", "2,3").stdout
    lines = out.splitlines()
    assert lines[0] == "Current partition replica assignment", out
    current = json.loads(lines[1])
    assert lines[2] == "" and lines[3] == "Proposed partition reassignment configuration", out
    proposed = json.loads(lines[4])
    assert current["version"] == 1 and proposed["version"] == 1
    before = replicas_of(admin, topic)
    assert {p["partition"]: p["replicas"] for p in current["partitions"]} == before
    for p in proposed["partitions"]:
        assert p["topic"] == topic and sorted(p["replicas"]) == [2, 3], out
        assert p["log_dirs"] == ["any", "any"]
    assert sorted(p["partition"] for p in proposed["partitions"]) == [0, 1, 2]

    # --execute: rollback JSON, then the success line.
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(proposed))
    out = tool("--bootstrap-server", cluster.bootstrap, "--execute",
               "--reassignment-json-file", str(plan), "--throttle", "1000000").stdout
    lines = out.splitlines()
    assert lines[0] == "Current partition replica assignment" and lines[1] == "", out
    assert json.loads(lines[2]) == current
    assert "Save this to use as the --reassignment-json-file option during rollback" in out
    assert "throttle was NOT applied" in out
    assert lines[-1] == f"Successfully started partition reassignments for {topic}-0,{topic}-1,{topic}-2", out

    # --verify until every partition reports completion (bounded).
    def verified():
        o = tool("--bootstrap-server", cluster.bootstrap, "--verify", "--reassignment-json-file", str(plan)).stdout
        assert o.splitlines()[0] == "Status of partition reassignment:", o
        return o if all(f"Reassignment of partition {topic}-{p} is completed." in o for p in range(3)) else None

    out = wait_for(verified, 90, "reassignment to complete", interval=0.2)
    for p in range(3):
        assert f"Reassignment of partition {topic}-{p} is still in progress." not in out
    assert replicas_of(admin, topic) == {p["partition"]: p["replicas"] for p in proposed["partitions"]}
    assert tool("--bootstrap-server", cluster.bootstrap, "--list").stdout.strip() == "No partition reassignments found."
    out = tool("--bootstrap-server", cluster.bootstrap, "--cancel", "--reassignment-json-file", str(plan)).stdout
    assert out.splitlines()[0] == "None of the specified partition reassignments are active.", out

    # Broker 1 hosts nothing of the topic any more: its directories are gone.
    b1 = cluster.brokers[0]
    wait_for(lambda: not any(b1.partition_dir(topic, p).exists() for p in range(3)), 30,
             "broker 1 to delete its replicas")
    # Every record is readable from the new replicas (leaders are among 2 and 3).
    for p in range(3):
        assert consume_all(cluster.bootstrap, topic, p, len(sent[p])) == sent[p]

    # Rolling back with the saved JSON moves the partitions back.
    rollback = tmp_path / "rollback.json"
    rollback.write_text(json.dumps(current))
    tool("--bootstrap-server", cluster.bootstrap, "--execute", "--reassignment-json-file", str(rollback))
    wait_for(lambda: replicas_of(admin, topic) == before, 90, "rollback to complete")


def test_bad_input_gets_kafkas_errors(cluster, tmp_path):
    admin = admin_client(cluster.bootstrap)
    topic = unique("bad")
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(30)
    plan = tmp_path / "plan.json"

    plan.write_text(json.dumps({"version": 1, "partitions": [{"topic": topic, "partition": 0, "replicas": [9]}]}))
    p = tool("--bootstrap-server", cluster.bootstrap, "--execute", "--reassignment-json-file", str(plan), ok=False)
    assert p.returncode == 1 and "Unknown broker id 9" in p.stderr, p

    plan.write_text(json.dumps({"version": 1, "partitions": [{"topic": topic, "partition": 5, "replicas": [1]}]}))
    p = tool("--bootstrap-server", cluster.bootstrap, "--execute", "--reassignment-json-file", str(plan), ok=False)
    assert p.returncode == 1 and f"Unable to find partition: {topic}-5" in p.stderr, p

    p = tool("--bootstrap-server", cluster.bootstrap, "--verify", ok=False)
    assert p.returncode == 1 and 'Missing required argument "[reassignment-json-file]"' in p.stderr, p
    p = tool("--bootstrap-server", cluster.bootstrap, "--list", "--verify", ok=False)
    assert p.returncode == 1 and "exactly one action" in p.stderr, p
    p = tool("--bootstrap-server", cluster.bootstrap, "--list", "--throttle", "5", ok=False)
    assert p.returncode == 1 and "can't be used with action" in p.stderr, p


def test_cluster_tool_unregisters_a_stopped_broker(cluster):
    """kafka-cluster.sh: cluster-id, then unregister a broker that was stopped (runs last: it
    takes broker 3 out of the module's cluster)."""
    cluster_tool = [str(REPO / "bin" / "kafka-cluster.sh")]
    p = subprocess.run(cluster_tool + ["cluster-id", "--bootstrap-server", cluster.bootstrap],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.startswith("Cluster ID: "), p
    gone = cluster.brokers[2]
    assert gone.stop() == 0
    alive = ",".join(b.bootstrap for b in cluster.brokers[:2])
    admin = admin_client(alive)

    def unregistered():
        p = subprocess.run(cluster_tool + ["unregister", "--bootstrap-server", alive, "--id", "3"],
                           capture_output=True, text=True, timeout=60)
        return p if p.returncode == 0 else None

    p = wait_for(unregistered, 60, "unregister to succeed")
    assert p.stdout.strip() == "Broker 3 is no longer registered.", p
    wait_for(lambda: sorted(b.id for b in admin.list_topics(timeout=10).brokers.values()) == [1, 2], 30,
             "two brokers listed")
    p = subprocess.run(cluster_tool + ["unregister", "--bootstrap-server", alive, "--id", "3"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "Broker ID 3 is not currently registered" in p.stderr, p


def test_shim_runs_the_tool():
    p = subprocess.run([str(REPO / "bin" / "kafka-reassign-partitions.sh"), "--help"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "--reassignment-json-file" in p.stdout, p
