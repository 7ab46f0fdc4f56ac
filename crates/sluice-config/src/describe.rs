//! DescribeConfigs entries: [`ConfigEntry`] with Kafka's config sources, synonyms and types,
//! and [`describe_broker_config`]. Synonyms follow Kafka's `ConfigHelper.configSynonyms`:
//! for one setting's broker keys (highest precedence first) the statically set ones, then the
//! defaults, dropping any leading entries before the key being described. Sensitive values are
//! never reported.

use crate::broker::{known_keys, BrokerConfig};
use crate::broker_defs::{broker_def, broker_synonyms};
use crate::def::ConfigType;

/// Kafka's DescribeConfigs config sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i8)]
pub enum ConfigSource {
    DynamicTopicConfig = 1,
    DynamicBrokerConfig = 2,
    DynamicDefaultBrokerConfig = 3,
    StaticBrokerConfig = 4,
    DefaultConfig = 5,
    DynamicBrokerLoggerConfig = 6,
}

impl ConfigSource {
    /// The wire id.
    pub fn id(self) -> i8 {
        self as i8
    }

    /// Kafka's name as `kafka-configs --describe` prints it.
    pub fn kafka_name(self) -> &'static str {
        match self {
            ConfigSource::DynamicTopicConfig => "DYNAMIC_TOPIC_CONFIG",
            ConfigSource::DynamicBrokerConfig => "DYNAMIC_BROKER_CONFIG",
            ConfigSource::DynamicDefaultBrokerConfig => "DYNAMIC_DEFAULT_BROKER_CONFIG",
            ConfigSource::StaticBrokerConfig => "STATIC_BROKER_CONFIG",
            ConfigSource::DefaultConfig => "DEFAULT_CONFIG",
            ConfigSource::DynamicBrokerLoggerConfig => "DYNAMIC_BROKER_LOGGER_CONFIG",
        }
    }
}

/// `(name, value, source)`; the value is `None` for sensitive or null values.
pub type ConfigSynonym = (String, Option<String>, ConfigSource);

/// One DescribeConfigs result entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigEntry {
    pub name: String,
    /// As Kafka prints it; `None` for null or sensitive values.
    pub value: Option<String>,
    pub source: ConfigSource,
    pub read_only: bool,
    /// `source == DefaultConfig` (the v0 `is_default` flag).
    pub is_default: bool,
    pub sensitive: bool,
    /// Highest precedence first; the first one (if any) decided `source`.
    pub synonyms: Vec<ConfigSynonym>,
    pub config_type: ConfigType,
    pub documentation: Option<String>,
}

/// Kafka's `configSynonyms(name, brokerSynonyms(name))`: dynamic per-broker keys, dynamic
/// cluster defaults, set keys (STATIC_BROKER_CONFIG), then keys with defaults (DEFAULT_CONFIG), in precedence order within
/// each group, with entries before the first one named `name` dropped.
pub(crate) fn broker_config_synonyms(
    broker: &BrokerConfig,
    name: &str,
    sensitive: bool,
) -> Vec<ConfigSynonym> {
    let keys = broker_synonyms(name);
    let mut all: Vec<ConfigSynonym> = Vec::new();
    for key in keys {
        if let Some(v) = broker.dynamic_broker_value(key) {
            let value = (!sensitive).then(|| v.to_string());
            all.push((key.to_string(), value, ConfigSource::DynamicBrokerConfig));
        }
    }
    for key in keys {
        if let Some(v) = broker.dynamic_default_value(key) {
            let value = (!sensitive).then(|| v.to_string());
            all.push((
                key.to_string(),
                value,
                ConfigSource::DynamicDefaultBrokerConfig,
            ));
        }
    }
    for key in keys {
        if let Some(v) = broker.static_value(key) {
            let value = (!sensitive).then(|| v.to_string());
            all.push((key.to_string(), value, ConfigSource::StaticBrokerConfig));
        }
    }
    for key in keys {
        if let Some(default) = broker_def(key).and_then(|d| d.default) {
            let value = (!sensitive).then(|| default.to_string());
            all.push((key.to_string(), value, ConfigSource::DefaultConfig));
        }
    }
    let first = all.iter().position(|s| s.0 == name).unwrap_or(all.len());
    all.split_off(first)
}

/// DescribeConfigs for this broker (resource name = its node id): every broker key Sluice
/// knows, sorted by name, with its effective value, source and synonyms.
pub fn describe_broker_config(broker: &BrokerConfig) -> Vec<ConfigEntry> {
    known_keys()
        .filter_map(|name| {
            let def = broker_def(name)?;
            let sensitive = def.sensitive();
            let synonyms = broker_config_synonyms(broker, name, sensitive);
            let source = synonyms
                .first()
                .map(|s| s.2)
                .unwrap_or(ConfigSource::DefaultConfig);
            let value = if sensitive { None } else { broker.value(name) };
            Some(ConfigEntry {
                name: name.to_string(),
                value,
                source,
                read_only: !def.dynamic,
                is_default: source == ConfigSource::DefaultConfig,
                sensitive,
                synonyms,
                config_type: def.ty,
                documentation: None,
            })
        })
        .collect()
}
