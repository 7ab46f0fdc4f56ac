//! Topic-level configs: validation with Kafka's rules, DescribeConfigs entries with Kafka's
//! values, sources and synonym order, and the resolved LogConfig of a topic.

use sluice_config::{
    describe_topic_config, topic_config_def, topic_config_defs, topic_log_config,
    validate_topic_config, validate_topic_configs, BrokerConfig, ConfigEntry, ConfigError,
    ConfigSource, ConfigType,
};
use sluice_storage::TimestampType;
use std::collections::BTreeMap;

fn broker(extra: &[(&str, &str)]) -> BrokerConfig {
    let mut pairs = vec![
        ("process.roles".to_string(), "broker,controller".to_string()),
        ("node.id".to_string(), "1".to_string()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    BrokerConfig::from_pairs(pairs, false).unwrap().0
}

fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn entry<'a>(entries: &'a [ConfigEntry], name: &str) -> &'a ConfigEntry {
    entries
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("{name}"))
}

fn syn(name: &str, value: &str, source: ConfigSource) -> (String, Option<String>, ConfigSource) {
    (name.to_string(), Some(value.to_string()), source)
}

#[test]
fn validation_follows_kafka_rules() {
    for (name, value) in [
        ("cleanup.policy", "compact"),
        ("cleanup.policy", "compact, delete"),
        ("cleanup.policy", "delete"),
        ("compression.type", "zstd"),
        ("compression.type", "uncompressed"),
        ("message.timestamp.type", "LogAppendTime"),
        ("retention.ms", "-1"),
        ("retention.bytes", "-1"),
        ("segment.bytes", "14"),
        ("min.cleanable.dirty.ratio", "0.01"),
        ("min.insync.replicas", "2"),
        ("preallocate", "true"),
        ("compression.gzip.level", "-1"),
        ("local.retention.ms", "-2"),
    ] {
        validate_topic_config(name, value).unwrap_or_else(|e| panic!("{name}={value}: {e}"));
    }
    let cases = [
        (
            "cleanup.policy",
            "archive",
            "String must be one of: compact, delete",
        ),
        (
            "compression.type",
            "brotli",
            "String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer",
        ),
        (
            "message.timestamp.type",
            "createtime",
            "String must be one of: CreateTime, LogAppendTime",
        ),
        ("retention.ms", "-2", "Value must be at least -1"),
        ("segment.bytes", "13", "Value must be at least 14"),
        ("segment.ms", "0", "Value must be at least 1"),
        ("min.insync.replicas", "0", "Value must be at least 1"),
        (
            "min.cleanable.dirty.ratio",
            "1.5",
            "Value must be no more than 1.0",
        ),
        (
            "preallocate",
            "maybe",
            "Expected value to be either true or false",
        ),
        (
            "compression.gzip.level",
            "0",
            "Value must be -1 or between 1 and 9",
        ),
        (
            "max.message.bytes",
            "big",
            "Not a number of type INT (accepted: [0,...])",
        ),
    ];
    for (name, value, reason) in cases {
        let e = validate_topic_config(name, value).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("Invalid value {value} for configuration {name}: {reason}")
        );
        assert!(!e.is_unknown_config());
    }
    let e = validate_topic_config("retention.hours", "1").unwrap_err();
    assert!(e.is_unknown_config());
    assert_eq!(e, ConfigError::UnknownTopicConfig("retention.hours".into()));
    assert_eq!(e.to_string(), "Unknown topic config name: retention.hours");

    assert!(validate_topic_configs(&overrides(&[
        ("min.compaction.lag.ms", "10"),
        ("max.compaction.lag.ms", "5")
    ]))
    .is_err());
    assert!(validate_topic_configs(&overrides(&[
        ("min.compaction.lag.ms", "5"),
        ("max.compaction.lag.ms", "10")
    ]))
    .is_ok());
    assert!(validate_topic_configs(&overrides(&[("x", "1")]))
        .unwrap_err()
        .is_unknown_config());
}

#[test]
fn table_carries_types_and_broker_synonyms() {
    assert!(topic_config_defs().len() >= 30);
    let ret = topic_config_def("retention.ms").unwrap();
    assert_eq!(ret.broker_synonym, Some("log.retention.ms"));
    assert_eq!(ret.def.ty, ConfigType::Long);
    assert_eq!(
        topic_config_def("max.message.bytes")
            .unwrap()
            .broker_synonym,
        Some("message.max.bytes")
    );
    assert_eq!(
        topic_config_def("segment.bytes").unwrap().broker_synonym,
        Some("log.segment.bytes")
    );
    assert_eq!(
        topic_config_def("remote.storage.enable")
            .unwrap()
            .broker_synonym,
        None
    );
    assert!(topic_config_def("retention.hours").is_none());
}

#[test]
fn describe_defaults_as_kafka_prints_them() {
    let entries = describe_topic_config(&broker(&[]), &BTreeMap::new());
    assert_eq!(entries.len(), topic_config_defs().len());
    let check = |name: &str, value: &str, ty: ConfigType| {
        let e = entry(&entries, name);
        assert_eq!(e.value.as_deref(), Some(value), "{name}");
        assert_eq!(e.config_type, ty, "{name}");
        assert_eq!(e.source, ConfigSource::DefaultConfig, "{name}");
        assert!(e.is_default && !e.read_only && !e.sensitive, "{name}");
        assert_eq!(e.documentation, None);
    };
    check("retention.ms", "604800000", ConfigType::Long);
    check("segment.ms", "604800000", ConfigType::Long);
    check("cleanup.policy", "delete", ConfigType::List);
    check("compression.type", "producer", ConfigType::String);
    check("max.message.bytes", "1048588", ConfigType::Int);
    check("segment.bytes", "1073741824", ConfigType::Int);
    check("min.cleanable.dirty.ratio", "0.5", ConfigType::Double);
    check("flush.ms", "9223372036854775807", ConfigType::Long);
    check(
        "unclean.leader.election.enable",
        "false",
        ConfigType::Boolean,
    );
    check("remote.storage.enable", "false", ConfigType::Boolean);
    check("retention.bytes", "-1", ConfigType::Long);
    check("message.timestamp.type", "CreateTime", ConfigType::String);
    check(
        "leader.replication.throttled.replicas",
        "",
        ConfigType::List,
    );

    // Kafka's synonyms: the broker default when the broker key has one...
    assert_eq!(
        entry(&entries, "cleanup.policy").synonyms,
        vec![syn(
            "log.cleanup.policy",
            "delete",
            ConfigSource::DefaultConfig
        )]
    );
    // ...and none when the primary broker key (log.retention.ms) is null, as Kafka reports.
    assert!(entry(&entries, "retention.ms").synonyms.is_empty());
    assert!(entry(&entries, "remote.storage.enable").synonyms.is_empty());
}

#[test]
fn describe_sources_and_synonym_order() {
    let b = broker(&[
        ("log.retention.ms", "1000"),
        ("log.retention.hours", "5"),
        ("log.cleanup.policy", "compact"),
        ("message.max.bytes", "2000"),
    ]);
    let topic = overrides(&[
        ("retention.ms", "42"),
        ("cleanup.policy", "compact, delete"),
    ]);
    let entries = describe_topic_config(&b, &topic);

    let r = entry(&entries, "retention.ms");
    assert_eq!(r.value.as_deref(), Some("42"));
    assert_eq!(r.source, ConfigSource::DynamicTopicConfig);
    assert!(!r.is_default);
    assert_eq!(
        r.synonyms,
        vec![
            syn("retention.ms", "42", ConfigSource::DynamicTopicConfig),
            syn("log.retention.ms", "1000", ConfigSource::StaticBrokerConfig),
            syn("log.retention.hours", "5", ConfigSource::StaticBrokerConfig),
            syn("log.retention.hours", "168", ConfigSource::DefaultConfig),
        ]
    );

    let c = entry(&entries, "cleanup.policy");
    assert_eq!(
        c.value.as_deref(),
        Some("compact,delete"),
        "normalized like Kafka's list"
    );
    assert_eq!(
        c.synonyms,
        vec![
            syn(
                "cleanup.policy",
                "compact,delete",
                ConfigSource::DynamicTopicConfig
            ),
            syn(
                "log.cleanup.policy",
                "compact",
                ConfigSource::StaticBrokerConfig
            ),
            syn("log.cleanup.policy", "delete", ConfigSource::DefaultConfig),
        ]
    );

    let m = entry(&entries, "max.message.bytes");
    assert_eq!(m.value.as_deref(), Some("2000"));
    assert_eq!(m.source, ConfigSource::StaticBrokerConfig);
    assert_eq!(
        m.synonyms,
        vec![
            syn(
                "message.max.bytes",
                "2000",
                ConfigSource::StaticBrokerConfig
            ),
            syn("message.max.bytes", "1048588", ConfigSource::DefaultConfig),
        ]
    );

    // Without a topic override the broker's resolved retention is the value.
    let entries =
        describe_topic_config(&broker(&[("log.retention.minutes", "3")]), &BTreeMap::new());
    assert_eq!(
        entry(&entries, "retention.ms").value.as_deref(),
        Some("180000")
    );
    assert_eq!(ConfigSource::DynamicTopicConfig.id(), 1);
    assert_eq!(ConfigSource::DefaultConfig.id(), 5);
}

#[test]
fn topic_log_config_applies_overrides_to_broker_defaults() {
    let b = broker(&[("log.retention.hours", "1"), ("log.segment.bytes", "2048")]);
    let l = topic_log_config(&b, &BTreeMap::new()).unwrap();
    assert_eq!(l.retention_ms, 3_600_000);
    assert_eq!(l.segment_bytes, 2048);

    let l = topic_log_config(
        &b,
        &overrides(&[
            ("retention.ms", "-1"),
            ("retention.bytes", "100"),
            ("segment.bytes", "1024"),
            ("segment.ms", "60000"),
            ("segment.index.bytes", "4096"),
            ("index.interval.bytes", "10"),
            ("flush.messages", "1"),
            ("flush.ms", "5"),
            ("file.delete.delay.ms", "0"),
            ("max.message.bytes", "512"),
            ("message.timestamp.type", "LogAppendTime"),
            ("cleanup.policy", "compact"),
            ("preallocate", "true"),
        ]),
    )
    .unwrap();
    assert_eq!(l.retention_ms, -1);
    assert_eq!(l.retention_bytes, 100);
    assert_eq!(l.segment_bytes, 1024);
    assert_eq!(l.segment_ms, 60_000);
    assert_eq!(l.segment_index_bytes, 4096);
    assert_eq!(l.index_interval_bytes, 10);
    assert_eq!(l.flush_messages, 1);
    assert_eq!(l.flush_ms, 5);
    assert_eq!(l.file_delete_delay_ms, 0);
    assert_eq!(l.max_message_bytes, 512);
    assert_eq!(l.timestamp_type, TimestampType::LogAppendTime);
    assert!(l.cleanup_compact && !l.cleanup_delete);

    let e = topic_log_config(&b, &overrides(&[("segment.bytes", "1")])).unwrap_err();
    assert!(e.to_string().contains("segment.bytes"));
    assert!(topic_log_config(&b, &overrides(&[("nope", "1")]))
        .unwrap_err()
        .is_unknown_config());
}
