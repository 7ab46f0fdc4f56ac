//! Broker and topic configuration, by Kafka's names and with Kafka's defaults and validators:
//! `server.properties` parsing ([`properties`]), the typed and validated [`BrokerConfig`]
//! ([`broker`]), the topic-level config table and DescribeConfigs entries ([`topic`]). This
//! crate only parses, validates and reports; it must never do I/O beyond reading the
//! properties file it is given, and never panic on any input text.

pub mod broker;
mod broker_defs;
pub mod def;
pub mod describe;
pub mod listener;
pub mod properties;
pub mod topic;

pub use broker::{validate_dynamic_broker_config, BrokerConfig, ProcessRole, EMBEDDED_DEFAULT};
pub use def::{ConfigDef, ConfigType, Validator, Value};
pub use describe::{describe_broker_config, ConfigEntry, ConfigSource, ConfigSynonym};
pub use listener::{Endpoint, HostPort, QuorumVoter, SecurityProtocol};
pub use topic::{
    describe_topic_config, topic_compaction_config, topic_config_def, topic_config_defs,
    topic_log_config, validate_topic_config, validate_topic_configs, TopicConfigDef,
};

/// Everything that can be wrong with a configuration. Messages follow Kafka's shape and always
/// name the key, the value and what would have been accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A value that does not parse or lies outside the accepted range.
    #[error("Invalid value {value} for configuration {key}: {reason}")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
    },
    /// A topic config name Kafka does not know (the server answers INVALID_CONFIG).
    #[error("Unknown topic config name: {0}")]
    UnknownTopicConfig(String),
    /// A required key without a value.
    #[error("Missing required configuration {key}: {reason}")]
    Missing { key: String, reason: String },
    /// Malformed properties text (e.g. a bad `\uXXXX` escape).
    #[error("{path}:{line}: {reason}")]
    Syntax {
        path: String,
        line: usize,
        reason: String,
    },
    /// The properties file could not be read.
    #[error("Cannot read configuration file {path}: {reason}")]
    Io { path: String, reason: String },
}

impl ConfigError {
    /// Shorthand for [`ConfigError::InvalidValue`].
    pub fn invalid(key: &str, value: &str, reason: impl Into<String>) -> Self {
        ConfigError::InvalidValue {
            key: key.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// True for [`ConfigError::UnknownTopicConfig`].
    pub fn is_unknown_config(&self) -> bool {
        matches!(self, ConfigError::UnknownTopicConfig(_))
    }
}
