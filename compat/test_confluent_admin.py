"""confluent-kafka AdminClient against the broker: CreateTopics (configs, validate_only,
error codes), Metadata / describe_topics, DescribeConfigs (topic and broker),
IncrementalAlterConfigs and AlterConfigs, CreatePartitions, DeleteTopics, DescribeCluster.
Each test checks the values and the Kafka error codes a client branches on."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

from broker import wait_for
from helpers import admin_client, only, consume, create_topic, error_code, make_records, produce, unique, wait_topic

T = 30  # seconds for any single admin call


def create_error(admin, topic: NewTopic, validate_only: bool = False) -> int | None:
    """Kafka error code of one CreateTopics result, or None on success."""
    try:
        admin.create_topics([topic], operation_timeout=T, request_timeout=T, validate_only=validate_only)[topic.topic].result(timeout=T + 5)
        return None
    except KafkaException as exc:
        return error_code(exc)


def describe_topic_configs(admin, name: str) -> dict:
    return only(admin.describe_configs([ConfigResource(ResourceType.TOPIC, name)], request_timeout=T)).result(timeout=T + 5)


def source(entry) -> ConfigSource:
    return ConfigSource(entry.source) if not isinstance(entry.source, ConfigSource) else entry.source


def topic_names(admin) -> set[str]:
    return set(admin.list_topics(timeout=10).topics)


def test_create_topic_with_configs_and_describe(admin, broker):
    name = unique("adm-create")
    cfg = {"retention.ms": "3600000", "cleanup.policy": "delete", "max.message.bytes": "2000000"}
    assert create_error(admin, NewTopic(name, num_partitions=3, replication_factor=1, config=cfg)) is None
    wait_topic(admin, name, 3)

    md = admin.list_topics(topic=name, timeout=10).topics[name]
    assert md.error is None
    assert sorted(md.partitions) == [0, 1, 2]
    for p in md.partitions.values():
        assert p.leader == broker.node_id and p.replicas == [broker.node_id] and p.isrs == [broker.node_id], p

    desc = admin.describe_topics(TopicCollection([name]), request_timeout=T)[name].result(timeout=T + 5)
    assert desc.name == name and not desc.is_internal
    assert [p.id for p in sorted(desc.partitions, key=lambda p: p.id)] == [0, 1, 2]
    for p in desc.partitions:
        assert p.leader.id == broker.node_id, p
        assert [r.id for r in p.replicas] == [broker.node_id] and [r.id for r in p.isr] == [broker.node_id], p

    configs = describe_topic_configs(admin, name)
    for key, value in cfg.items():
        assert configs[key].value == value, f"{key}={configs[key].value}, created with {value}"
        assert source(configs[key]) == ConfigSource.DYNAMIC_TOPIC_CONFIG, f"{key} source {source(configs[key])}"
    # a topic config nobody set is reported with Kafka's default
    assert configs["segment.bytes"].value == "1073741824" and source(configs["segment.bytes"]) == ConfigSource.DEFAULT_CONFIG
    assert configs["compression.type"].value == "producer"


def test_create_topic_validate_only_creates_nothing(admin):
    name = unique("adm-validate")
    assert create_error(admin, NewTopic(name, num_partitions=2, replication_factor=1), validate_only=True) is None
    assert name not in topic_names(admin)
    with pytest.raises(KafkaException) as exc:
        admin.describe_topics(TopicCollection([name]), request_timeout=T)[name].result(timeout=T + 5)
    assert error_code(exc.value) == KafkaError.UNKNOWN_TOPIC_OR_PART
    # and a validate_only request for a bad topic reports the same error a real create would
    assert create_error(admin, NewTopic(name, num_partitions=1, replication_factor=1, config={"retention.ms": "not-a-number"}), validate_only=True) == KafkaError.INVALID_CONFIG


def test_create_topic_error_codes(admin):
    name = unique("adm-dupe")
    create_topic(admin, name, partitions=1)
    assert create_error(admin, NewTopic(name, num_partitions=1, replication_factor=1)) == KafkaError.TOPIC_ALREADY_EXISTS
    assert create_error(admin, NewTopic(unique("adm-rf"), num_partitions=1, replication_factor=3)) == KafkaError.INVALID_REPLICATION_FACTOR
    assert create_error(admin, NewTopic(unique("adm-badcfg"), num_partitions=1, replication_factor=1, config={"retention.ms": "not-a-number"})) == KafkaError.INVALID_CONFIG
    assert create_error(admin, NewTopic(unique("adm-unknowncfg"), num_partitions=1, replication_factor=1, config={"no.such.config": "1"})) == KafkaError.INVALID_CONFIG
    assert create_error(admin, NewTopic("bad/name", num_partitions=1, replication_factor=1)) == KafkaError.TOPIC_EXCEPTION


def test_describe_unknown_topic_and_configs(admin):
    name = unique("adm-nothere")
    md = admin.list_topics(topic=name, timeout=10).topics.get(name)
    assert md is not None and md.error is not None and md.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, md
    with pytest.raises(KafkaException) as exc:
        describe_topic_configs(admin, name)
    assert error_code(exc.value) == KafkaError.UNKNOWN_TOPIC_OR_PART
    assert name not in topic_names(admin), "describing a topic must not create it"


def test_describe_broker_configs(admin, broker):
    configs = only(admin.describe_configs([ConfigResource(ResourceType.BROKER, str(broker.node_id))], request_timeout=T)).result(timeout=T + 5)
    hours = configs["log.retention.hours"]
    assert hours.value == "170" and source(hours) == ConfigSource.STATIC_BROKER_CONFIG, (hours.value, source(hours))
    assert configs["node.id"].value == str(broker.node_id)
    assert configs["log.dirs"].value == str(broker.log_dir)
    assert configs["num.partitions"].value == "1"
    seg = configs["log.segment.bytes"]
    assert seg.value == "1073741824" and source(seg) == ConfigSource.DEFAULT_CONFIG, (seg.value, source(seg))


def test_topic_config_inherits_static_broker_setting(admin, broker):
    # Kafka: a topic's retention.ms falls back to the broker's log.retention.hours (170 h here)
    name = unique("adm-inherit")
    create_topic(admin, name)
    entry = describe_topic_configs(admin, name)["retention.ms"]
    assert entry.value == str(170 * 3_600_000), entry.value
    # Source: Kafka's ConfigHelper drops synonyms listed before the topic config's own broker
    # key (log.retention.ms), so a value inherited from log.retention.hours is reported as
    # DEFAULT_CONFIG by Kafka too; only the value is checked here.


def test_incremental_alter_configs(admin):
    name = unique("adm-incr")
    create_topic(admin, name, config={"retention.ms": "3600000"})
    res = ConfigResource(
        ResourceType.TOPIC,
        name,
        incremental_configs=[
            ConfigEntry("retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET),
            ConfigEntry("max.message.bytes", "500000", incremental_operation=AlterConfigOpType.SET),
        ],
    )
    admin.incremental_alter_configs([res], request_timeout=T)[res].result(timeout=T + 5)
    configs = describe_topic_configs(admin, name)
    assert configs["retention.ms"].value == "7200000"
    assert configs["max.message.bytes"].value == "500000" and source(configs["max.message.bytes"]) == ConfigSource.DYNAMIC_TOPIC_CONFIG

    res = ConfigResource(ResourceType.TOPIC, name, incremental_configs=[ConfigEntry("max.message.bytes", None, incremental_operation=AlterConfigOpType.DELETE)])
    admin.incremental_alter_configs([res], request_timeout=T)[res].result(timeout=T + 5)
    configs = describe_topic_configs(admin, name)
    assert configs["max.message.bytes"].value == "1048588" and source(configs["max.message.bytes"]) != ConfigSource.DYNAMIC_TOPIC_CONFIG
    assert configs["retention.ms"].value == "7200000", "DELETE of one key must leave the others"

    res = ConfigResource(ResourceType.TOPIC, name, incremental_configs=[ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND)])
    admin.incremental_alter_configs([res], request_timeout=T)[res].result(timeout=T + 5)
    assert describe_topic_configs(admin, name)["cleanup.policy"].value == "delete,compact"

    bad = ConfigResource(ResourceType.TOPIC, name, incremental_configs=[ConfigEntry("retention.ms", "soon", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException) as exc:
        admin.incremental_alter_configs([bad], request_timeout=T)[bad].result(timeout=T + 5)
    assert error_code(exc.value) == KafkaError.INVALID_CONFIG
    assert describe_topic_configs(admin, name)["retention.ms"].value == "7200000", "a rejected alter must change nothing"

    missing = ConfigResource(ResourceType.TOPIC, unique("adm-incr-missing"), incremental_configs=[ConfigEntry("retention.ms", "1", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException) as exc:
        admin.incremental_alter_configs([missing], request_timeout=T)[missing].result(timeout=T + 5)
    assert error_code(exc.value) == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_legacy_alter_configs_replaces_the_set(admin):
    # AlterConfigs (non-incremental) replaces all dynamic configs of the resource
    name = unique("adm-alter")
    create_topic(admin, name, config={"retention.ms": "3600000", "max.message.bytes": "500000"})
    res = ConfigResource(ResourceType.TOPIC, name, set_config={"retention.ms": "5400000"})
    admin.alter_configs([res], request_timeout=T)[res].result(timeout=T + 5)
    configs = describe_topic_configs(admin, name)
    assert configs["retention.ms"].value == "5400000"
    assert configs["max.message.bytes"].value == "1048588", "keys left out of AlterConfigs must revert to the default"


def test_create_partitions(admin, broker):
    name = unique("adm-parts")
    create_topic(admin, name, partitions=2)
    admin.create_partitions([NewPartitions(name, 5)], operation_timeout=T, request_timeout=T)[name].result(timeout=T + 5)
    wait_topic(admin, name, 5)
    # the new partitions take writes and serve them back
    recs = make_records(20, seed=5)
    produce(broker.bootstrap, name, recs, partition=4)
    got = consume(broker.bootstrap, name, partition=4, start=0, expect=20, timeout=60)
    assert [g.value for g in got] == [r.value for r in recs]

    for count in (3, 5):  # fewer, or the same number, of partitions
        with pytest.raises(KafkaException) as exc:
            admin.create_partitions([NewPartitions(name, count)], operation_timeout=T, request_timeout=T)[name].result(timeout=T + 5)
        assert error_code(exc.value) == KafkaError.INVALID_PARTITIONS, count
    missing = unique("adm-parts-missing")
    with pytest.raises(KafkaException) as exc:
        admin.create_partitions([NewPartitions(missing, 3)], operation_timeout=T, request_timeout=T)[missing].result(timeout=T + 5)
    assert error_code(exc.value) == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_delete_topics_and_recreate_empty(admin, broker):
    name = unique("adm-delete")
    create_topic(admin, name, partitions=2)
    produce(broker.bootstrap, name, make_records(50, seed=9), partition=0)
    admin.delete_topics([name], operation_timeout=T, request_timeout=T)[name].result(timeout=T + 5)
    wait_for(lambda: name not in topic_names(admin), 30, f"{name} to leave Metadata")

    with pytest.raises(KafkaException) as exc:
        admin.delete_topics([name], operation_timeout=T, request_timeout=T)[name].result(timeout=T + 5)
    assert error_code(exc.value) == KafkaError.UNKNOWN_TOPIC_OR_PART

    # the name can be used again and the new topic starts empty
    wait_for(lambda: create_error(admin, NewTopic(name, num_partitions=1, replication_factor=1)) is None, 30, f"re-creating {name}")
    wait_topic(admin, name, 1)
    recs = make_records(5, seed=10)
    assert produce(broker.bootstrap, name, recs) == [(0, i) for i in range(5)]
    got = consume(broker.bootstrap, name, expect=5, timeout=60)
    assert [g.value for g in got] == [r.value for r in recs]


def test_describe_cluster(admin, broker):
    desc = admin.describe_cluster(request_timeout=T).result(timeout=T + 5)
    assert [(n.id, n.host, n.port) for n in desc.nodes] == [(broker.node_id, broker.host, broker.port)]
    assert desc.controller is not None and desc.controller.id == broker.node_id
    assert desc.cluster_id, "cluster id must be set"
    # Metadata agrees with DescribeCluster
    md = admin.list_topics(timeout=10)
    assert {b.id: (b.host, b.port) for b in md.brokers.values()} == {broker.node_id: (broker.host, broker.port)}
    assert md.cluster_id == desc.cluster_id


def test_dynamic_broker_configs_apply_to_topics_and_survive_restart(fresh_broker):
    b = fresh_broker.start()
    adm = admin_client(b.bootstrap)
    node = ConfigResource(
        ResourceType.BROKER,
        str(b.node_id),
        incremental_configs=[ConfigEntry("log.retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET)],
    )
    adm.incremental_alter_configs([node], request_timeout=T)[node].result(timeout=T + 5)
    configs = only(adm.describe_configs([ConfigResource(ResourceType.BROKER, str(b.node_id))], request_timeout=T)).result(timeout=T + 5)
    entry = configs["log.retention.ms"]
    assert entry.value == "7200000" and source(entry) == ConfigSource.DYNAMIC_BROKER_CONFIG, (entry.value, source(entry))
    # Topics without an override inherit the dynamic broker value.
    name = unique("adm-dyn")
    create_topic(adm, name)
    assert describe_topic_configs(adm, name)["retention.ms"].value == "7200000"
    # A static-only key cannot be changed at runtime.
    bad = ConfigResource(
        ResourceType.BROKER,
        str(b.node_id),
        incremental_configs=[ConfigEntry("node.id", "9", incremental_operation=AlterConfigOpType.SET)],
    )
    with pytest.raises(KafkaException) as exc:
        adm.incremental_alter_configs([bad], request_timeout=T)[bad].result(timeout=T + 5)
    assert error_code(exc.value) == KafkaError.INVALID_CONFIG
    # Dynamic configs live in the metadata log: they survive a restart.
    assert b.stop() == 0
    b.start()
    adm = admin_client(b.bootstrap)
    assert describe_topic_configs(adm, name)["retention.ms"].value == "7200000"
    node = ConfigResource(
        ResourceType.BROKER,
        str(b.node_id),
        incremental_configs=[ConfigEntry("log.retention.ms", None, incremental_operation=AlterConfigOpType.DELETE)],
    )
    adm.incremental_alter_configs([node], request_timeout=T)[node].result(timeout=T + 5)
    assert describe_topic_configs(adm, name)["retention.ms"].value == str(168 * 3_600_000)
