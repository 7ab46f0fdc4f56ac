//! Topic-level configs (Kafka's `LogConfig`): the table of names with type, validator,
//! default and broker synonym; validation of CreateTopics/AlterConfigs values; DescribeConfigs
//! entries for a topic; and the resolved [`LogConfig`] of a topic. An unknown topic config name
//! is always an error ([`ConfigError::UnknownTopicConfig`]), never silently ignored.

use crate::broker::{flush_messages, BrokerConfig};
use crate::broker_defs::{CLEANUP_POLICIES, COMPRESSION_TYPES, LONG_MAX, TIMESTAMP_TYPES};
use crate::def::ConfigType::{Boolean, Double, Int, List, Long, String as Str};
use crate::def::Validator::{
    AtLeast, Between, BetweenF, ListOf, MinusOneOrBetween, None as Any, OneOf,
};
use crate::def::{ConfigDef, ConfigType, Validator, Value};
use crate::describe::{broker_config_synonyms, ConfigEntry, ConfigSource};
use crate::ConfigError;
use sluice_storage::{LogConfig, TimestampType};
use std::collections::BTreeMap;

/// One topic config: its definition and the broker key that supplies its default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopicConfigDef {
    pub def: ConfigDef,
    /// Kafka's `TOPIC_CONFIG_SYNONYMS` entry (the highest-precedence broker key).
    pub broker_synonym: Option<&'static str>,
}

const fn t(
    name: &'static str,
    ty: ConfigType,
    default: &'static str,
    validator: Validator,
    broker_synonym: Option<&'static str>,
) -> TopicConfigDef {
    TopicConfigDef {
        def: ConfigDef::new(name, ty, Some(default), validator),
        broker_synonym,
    }
}

/// Sorted by name.
static TOPIC_DEFS: &[TopicConfigDef] = &[
    t(
        "cleanup.policy",
        List,
        "delete",
        ListOf(CLEANUP_POLICIES),
        Some("log.cleanup.policy"),
    ),
    t(
        "compression.gzip.level",
        Int,
        "-1",
        MinusOneOrBetween(1, 9),
        Some("compression.gzip.level"),
    ),
    t(
        "compression.lz4.level",
        Int,
        "9",
        Between(1, 17),
        Some("compression.lz4.level"),
    ),
    t(
        "compression.type",
        Str,
        "producer",
        OneOf(COMPRESSION_TYPES),
        Some("compression.type"),
    ),
    t(
        "compression.zstd.level",
        Int,
        "3",
        Between(-131072, 22),
        Some("compression.zstd.level"),
    ),
    t(
        "delete.retention.ms",
        Long,
        "86400000",
        AtLeast(0),
        Some("log.cleaner.delete.retention.ms"),
    ),
    t(
        "file.delete.delay.ms",
        Long,
        "60000",
        AtLeast(0),
        Some("log.segment.delete.delay.ms"),
    ),
    t(
        "flush.messages",
        Long,
        LONG_MAX,
        AtLeast(1),
        Some("log.flush.interval.messages"),
    ),
    t(
        "flush.ms",
        Long,
        LONG_MAX,
        AtLeast(0),
        Some("log.flush.interval.ms"),
    ),
    t(
        "follower.replication.throttled.replicas",
        List,
        "",
        Any,
        None,
    ),
    t(
        "index.interval.bytes",
        Int,
        "4096",
        AtLeast(0),
        Some("log.index.interval.bytes"),
    ),
    t("leader.replication.throttled.replicas", List, "", Any, None),
    t(
        "local.retention.bytes",
        Long,
        "-2",
        AtLeast(-2),
        Some("log.local.retention.bytes"),
    ),
    t(
        "local.retention.ms",
        Long,
        "-2",
        AtLeast(-2),
        Some("log.local.retention.ms"),
    ),
    t(
        "max.compaction.lag.ms",
        Long,
        LONG_MAX,
        AtLeast(1),
        Some("log.cleaner.max.compaction.lag.ms"),
    ),
    t(
        "max.message.bytes",
        Int,
        "1048588",
        AtLeast(0),
        Some("message.max.bytes"),
    ),
    t(
        "message.downconversion.enable",
        Boolean,
        "true",
        Any,
        Some("log.message.downconversion.enable"),
    ),
    t(
        "message.timestamp.after.max.ms",
        Long,
        LONG_MAX,
        AtLeast(0),
        Some("log.message.timestamp.after.max.ms"),
    ),
    t(
        "message.timestamp.before.max.ms",
        Long,
        LONG_MAX,
        AtLeast(0),
        Some("log.message.timestamp.before.max.ms"),
    ),
    t(
        "message.timestamp.type",
        Str,
        "CreateTime",
        OneOf(TIMESTAMP_TYPES),
        Some("log.message.timestamp.type"),
    ),
    t(
        "min.cleanable.dirty.ratio",
        Double,
        "0.5",
        BetweenF(0.0, 1.0),
        Some("log.cleaner.min.cleanable.ratio"),
    ),
    t(
        "min.compaction.lag.ms",
        Long,
        "0",
        AtLeast(0),
        Some("log.cleaner.min.compaction.lag.ms"),
    ),
    t(
        "min.insync.replicas",
        Int,
        "1",
        AtLeast(1),
        Some("min.insync.replicas"),
    ),
    t(
        "preallocate",
        Boolean,
        "false",
        Any,
        Some("log.preallocate"),
    ),
    t("remote.log.copy.disable", Boolean, "false", Any, None),
    t("remote.log.delete.on.disable", Boolean, "false", Any, None),
    t("remote.storage.enable", Boolean, "false", Any, None),
    t(
        "retention.bytes",
        Long,
        "-1",
        Any,
        Some("log.retention.bytes"),
    ),
    t(
        "retention.ms",
        Long,
        "604800000",
        AtLeast(-1),
        Some("log.retention.ms"),
    ),
    t(
        "segment.bytes",
        Int,
        "1073741824",
        AtLeast(14),
        Some("log.segment.bytes"),
    ),
    t(
        "segment.index.bytes",
        Int,
        "10485760",
        AtLeast(4),
        Some("log.index.size.max.bytes"),
    ),
    t(
        "segment.jitter.ms",
        Long,
        "0",
        AtLeast(0),
        Some("log.roll.jitter.ms"),
    ),
    t(
        "segment.ms",
        Long,
        "604800000",
        AtLeast(1),
        Some("log.roll.ms"),
    ),
    t(
        "unclean.leader.election.enable",
        Boolean,
        "false",
        Any,
        Some("unclean.leader.election.enable"),
    ),
];

/// Every topic config Kafka defines, sorted by name.
pub fn topic_config_defs() -> &'static [TopicConfigDef] {
    TOPIC_DEFS
}

/// The definition of one topic config.
pub fn topic_config_def(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_DEFS
        .binary_search_by(|d| d.def.name.cmp(name))
        .ok()
        .and_then(|i| TOPIC_DEFS.get(i))
}

fn parse_topic_config(name: &str, value: &str) -> Result<Value, ConfigError> {
    topic_config_def(name)
        .ok_or_else(|| ConfigError::UnknownTopicConfig(name.to_string()))?
        .def
        .parse(value)
}

/// Validates one topic config (CreateTopics / AlterConfigs / IncrementalAlterConfigs).
pub fn validate_topic_config(name: &str, value: &str) -> Result<(), ConfigError> {
    parse_topic_config(name, value).map(|_| ())
}

/// Validates a whole set of topic overrides, including Kafka's cross-config checks.
pub fn validate_topic_configs(overrides: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    let mut parsed = BTreeMap::new();
    for (name, value) in overrides {
        parsed.insert(name.as_str(), parse_topic_config(name, value)?);
    }
    let long = |k: &str| parsed.get(k).and_then(Value::as_i64);
    if let (Some(min), Some(max)) = (long("min.compaction.lag.ms"), long("max.compaction.lag.ms")) {
        if min > max {
            return Err(ConfigError::invalid(
                "min.compaction.lag.ms",
                &min.to_string(),
                format!("conflict: must not exceed max.compaction.lag.ms ({max})"),
            ));
        }
    }
    Ok(())
}

/// The topic config's value inherited from the broker when the topic does not override it.
fn broker_default(broker: &BrokerConfig, tdef: &TopicConfigDef) -> Option<String> {
    let Some(key) = tdef.broker_synonym else {
        return tdef.def.default.map(str::to_string);
    };
    match key {
        "log.retention.ms" => Some(broker.log_retention_ms.to_string()),
        "log.roll.ms" => Some(broker.log_roll_ms.to_string()),
        "log.roll.jitter.ms" => Some(broker.log_roll_jitter_ms.to_string()),
        "log.flush.interval.ms" => Some(broker.log_flush_interval_ms.to_string()),
        _ => broker.value(key),
    }
}

/// DescribeConfigs for a topic: every topic config, sorted by name, with its effective value
/// (override, else broker setting, else default), source and synonyms as Kafka reports them.
/// Overrides are assumed valid (they were validated when stored); an invalid one is shown as
/// given.
pub fn describe_topic_config(
    broker: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
) -> Vec<ConfigEntry> {
    TOPIC_DEFS
        .iter()
        .map(|tdef| {
            let name = tdef.def.name;
            let sensitive = tdef.def.sensitive();
            let topic_value = overrides.get(name).map(|raw| {
                tdef.def
                    .parse(raw)
                    .ok()
                    .and_then(|v| v.to_kafka_string())
                    .unwrap_or_else(|| raw.clone())
            });
            let mut synonyms = Vec::new();
            if let Some(v) = &topic_value {
                let shown = (!sensitive).then(|| v.clone());
                synonyms.push((name.to_string(), shown, ConfigSource::DynamicTopicConfig));
            }
            if let Some(key) = tdef.broker_synonym {
                synonyms.extend(broker_config_synonyms(broker, key, sensitive));
            }
            let source = synonyms
                .first()
                .map(|s| s.2)
                .unwrap_or(ConfigSource::DefaultConfig);
            let value = if sensitive {
                None
            } else {
                topic_value.or_else(|| broker_default(broker, tdef))
            };
            ConfigEntry {
                name: name.to_string(),
                value,
                source,
                read_only: false,
                is_default: source == ConfigSource::DefaultConfig,
                sensitive,
                synonyms,
                config_type: tdef.def.ty,
                documentation: None,
            }
        })
        .collect()
}

/// The [`LogConfig`] of a topic: the broker's defaults with the topic's overrides applied.
pub fn topic_log_config(
    broker: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
) -> Result<LogConfig, ConfigError> {
    let mut log = broker.log_config();
    for (name, raw) in overrides {
        let value = parse_topic_config(name, raw)?;
        let n = value.as_i64().unwrap_or_default();
        let unsigned = || u64::try_from(n).unwrap_or_default();
        match name.as_str() {
            "segment.bytes" => log.segment_bytes = unsigned(),
            "segment.ms" => log.segment_ms = n,
            "segment.index.bytes" => log.segment_index_bytes = unsigned(),
            "index.interval.bytes" => log.index_interval_bytes = unsigned(),
            "retention.ms" => log.retention_ms = n,
            "retention.bytes" => log.retention_bytes = n,
            "flush.messages" => log.flush_messages = flush_messages(n),
            "flush.ms" => log.flush_ms = n,
            "file.delete.delay.ms" => log.file_delete_delay_ms = n,
            "max.message.bytes" => log.max_message_bytes = i32::try_from(n).unwrap_or(i32::MAX),
            "message.timestamp.type" => {
                log.timestamp_type = match value.as_str() {
                    Some("LogAppendTime") => TimestampType::LogAppendTime,
                    _ => TimestampType::CreateTime,
                }
            }
            "cleanup.policy" => {
                let list = value.as_list().unwrap_or_default();
                log.cleanup_delete = list.iter().any(|p| p == "delete");
                log.cleanup_compact = list.iter().any(|p| p == "compact");
            }
            _ => {}
        }
    }
    Ok(log)
}

/// The compaction settings of a topic (`min.cleanable.dirty.ratio`, `min.compaction.lag.ms`,
/// `max.compaction.lag.ms`, `delete.retention.ms`): the topic's override, else the broker's
/// `log.cleaner.*` setting, else Kafka's default.
pub fn topic_compaction_config(
    broker: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
) -> sluice_storage::CompactionConfig {
    let mut out = sluice_storage::CompactionConfig::default();
    for entry in describe_topic_config(broker, overrides) {
        let Some(value) = entry.value else { continue };
        match entry.name.as_str() {
            "min.cleanable.dirty.ratio" => {
                if let Ok(v) = value.parse() {
                    out.min_cleanable_dirty_ratio = v;
                }
            }
            "min.compaction.lag.ms" => {
                if let Ok(v) = value.parse() {
                    out.min_compaction_lag_ms = v;
                }
            }
            "max.compaction.lag.ms" => {
                if let Ok(v) = value.parse() {
                    out.max_compaction_lag_ms = v;
                }
            }
            "delete.retention.ms" => {
                if let Ok(v) = value.parse() {
                    out.delete_retention_ms = v;
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_defaults_parse_and_synonyms_exist() {
        for pair in TOPIC_DEFS.windows(2) {
            assert!(pair[0].def.name < pair[1].def.name, "{}", pair[1].def.name);
        }
        for tdef in TOPIC_DEFS {
            tdef.def.default_value().unwrap();
            if let Some(key) = tdef.broker_synonym {
                let bdef = crate::broker_defs::broker_def(key)
                    .unwrap_or_else(|| panic!("{key} missing from broker table"));
                assert_eq!(bdef.ty, tdef.def.ty, "{key} type differs");
            }
        }
    }
}
