//! `ConsumerConfig`: the consumer's settings under Kafka's names and with Kafka's defaults,
//! typed, or parsed from Java-style properties with `from_props`. Parsing refuses unknown
//! keys and bad values with a message naming the key, the value and what is accepted; it
//! never touches the network.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::consumer::assignor::assignor_by_name;
use crate::error::{ClientError, Result};

/// `auto.offset.reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    Latest,
    Earliest,
    /// Fail (`NoOffsetForPartition`) when there is no committed offset.
    None,
}

/// `isolation.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsolationLevel {
    ReadUncommitted,
    ReadCommitted,
}

/// `group.protocol`: `classic` (JoinGroup/SyncGroup, client-side assignors) or `consumer`
/// (KIP-848 ConsumerGroupHeartbeat, server-side assignors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupProtocol {
    Classic,
    Consumer,
}

/// Consumer settings (Kafka's ConsumerConfig). `Default` = Kafka's defaults, bootstrap
/// `localhost:9092`, no group.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub bootstrap_servers: String,
    pub group_id: Option<String>,
    pub client_id: String,
    pub group_instance_id: Option<String>,
    pub group_protocol: GroupProtocol,
    /// `group.remote.assignor` (consumer protocol only): the server-side assignor to ask for.
    pub group_remote_assignor: Option<String>,
    /// `partition.assignment.strategy`, in preference order (short names).
    pub partition_assignment_strategy: Vec<String>,
    pub session_timeout: Duration,
    pub heartbeat_interval: Duration,
    pub max_poll_interval: Duration,
    pub max_poll_records: usize,
    pub fetch_min_bytes: i32,
    pub fetch_max_wait: Duration,
    pub fetch_max_bytes: i32,
    pub max_partition_fetch_bytes: i32,
    pub auto_offset_reset: OffsetReset,
    pub enable_auto_commit: bool,
    pub auto_commit_interval: Duration,
    pub isolation_level: IsolationLevel,
    pub request_timeout: Duration,
    pub default_api_timeout: Duration,
    pub retry_backoff: Duration,
    pub check_crcs: bool,
    /// `metadata.max.age.ms`: how often a pattern subscription looks for new topics.
    pub metadata_max_age: Duration,
    /// `exclude.internal.topics`: pattern subscriptions never match internal topics.
    pub exclude_internal_topics: bool,
    /// `key.deserializer` / `value.deserializer` as named in properties (informational: the
    /// typed deserializers are given to `Consumer::with_deserializers`).
    pub key_deserializer: Option<String>,
    pub value_deserializer: Option<String>,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            bootstrap_servers: "localhost:9092".into(),
            group_id: None,
            client_id: "sluice-consumer".into(),
            group_instance_id: None,
            group_protocol: GroupProtocol::Classic,
            group_remote_assignor: None,
            partition_assignment_strategy: vec!["range".into(), "cooperative-sticky".into()],
            session_timeout: Duration::from_millis(45_000),
            heartbeat_interval: Duration::from_millis(3_000),
            max_poll_interval: Duration::from_millis(300_000),
            max_poll_records: 500,
            fetch_min_bytes: 1,
            fetch_max_wait: Duration::from_millis(500),
            fetch_max_bytes: 52_428_800,
            max_partition_fetch_bytes: 1_048_576,
            auto_offset_reset: OffsetReset::Latest,
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_millis(5_000),
            isolation_level: IsolationLevel::ReadUncommitted,
            request_timeout: Duration::from_millis(30_000),
            default_api_timeout: Duration::from_millis(60_000),
            retry_backoff: Duration::from_millis(100),
            check_crcs: true,
            metadata_max_age: Duration::from_millis(300_000),
            exclude_internal_topics: true,
            key_deserializer: None,
            value_deserializer: None,
        }
    }
}

/// Every key `from_props` accepts (tools sharing one properties file between a producer and
/// a consumer keep only these for the consumer).
pub const CONSUMER_KEYS: &[&str] = &[
    "bootstrap.servers",
    "group.id",
    "client.id",
    "group.instance.id",
    "group.protocol",
    "group.remote.assignor",
    "partition.assignment.strategy",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "max.poll.records",
    "fetch.min.bytes",
    "fetch.max.wait.ms",
    "fetch.max.bytes",
    "max.partition.fetch.bytes",
    "auto.offset.reset",
    "enable.auto.commit",
    "auto.commit.interval.ms",
    "isolation.level",
    "request.timeout.ms",
    "default.api.timeout.ms",
    "retry.backoff.ms",
    "check.crcs",
    "metadata.max.age.ms",
    "exclude.internal.topics",
    "key.deserializer",
    "value.deserializer",
];

/// Names accepted by `from_props` for `*.deserializer` (short or Kafka class names).
const DESERIALIZERS: &[&str] = &[
    "ByteArrayDeserializer",
    "BytesDeserializer",
    "ByteBufferDeserializer",
    "StringDeserializer",
    "LongDeserializer",
    "IntegerDeserializer",
    "bytes",
    "string",
    "long",
    "integer",
];

fn invalid(key: &str, value: &str, accepted: &str) -> ClientError {
    ClientError::Invalid(format!(
        "Invalid value {value} for configuration {key}: {accepted}"
    ))
}

fn parse_ms(key: &str, v: &str, min: u64) -> Result<Duration> {
    v.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| *n >= min && *n <= i32::MAX as u64)
        .map(Duration::from_millis)
        .ok_or_else(|| {
            invalid(
                key,
                v,
                &format!("expected milliseconds in [{min}, {}]", i32::MAX),
            )
        })
}

fn parse_i32(key: &str, v: &str, min: i32) -> Result<i32> {
    v.trim()
        .parse::<i32>()
        .ok()
        .filter(|n| *n >= min)
        .ok_or_else(|| invalid(key, v, &format!("expected an integer >= {min}")))
}

fn parse_bool(key: &str, v: &str) -> Result<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(key, v, "Expected value to be either true or false")),
    }
}

fn non_empty(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_string())
}

impl ConsumerConfig {
    /// Kafka defaults with this bootstrap list and group.
    pub fn new(bootstrap: impl Into<String>, group_id: Option<&str>) -> Self {
        ConsumerConfig {
            bootstrap_servers: bootstrap.into(),
            group_id: group_id.map(str::to_string),
            ..Default::default()
        }
    }

    /// Parses Java consumer properties (`bootstrap.servers`, `group.id`, ...). Unknown keys
    /// are refused, naming the key.
    pub fn from_props<'a>(
        props: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<ConsumerConfig> {
        let mut c = ConsumerConfig::default();
        let mut seen_bootstrap = false;
        for (key, v) in props {
            let key = key.trim();
            match key {
                "bootstrap.servers" => {
                    c.bootstrap_servers = v.trim().to_string();
                    seen_bootstrap = true;
                }
                "group.id" => c.group_id = non_empty(v),
                "client.id" => c.client_id = v.trim().to_string(),
                "group.instance.id" => c.group_instance_id = non_empty(v),
                "group.protocol" => {
                    c.group_protocol = match v.trim().to_ascii_lowercase().as_str() {
                        "classic" => GroupProtocol::Classic,
                        "consumer" => GroupProtocol::Consumer,
                        _ => {
                            return Err(invalid(key, v, "String must be one of: classic, consumer"))
                        }
                    }
                }
                "group.remote.assignor" => c.group_remote_assignor = non_empty(v),
                "partition.assignment.strategy" => {
                    let mut names = Vec::new();
                    for n in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                        let a = assignor_by_name(n).ok_or_else(|| {
                            invalid(
                                key,
                                v,
                                &format!("unknown assignor {n} (accepted: range, roundrobin, sticky, cooperative-sticky or their Kafka class names)"),
                            )
                        })?;
                        names.push(a.name().to_string());
                    }
                    if names.is_empty() {
                        return Err(invalid(key, v, "at least one assignor is required"));
                    }
                    c.partition_assignment_strategy = names;
                }
                "session.timeout.ms" => c.session_timeout = parse_ms(key, v, 1)?,
                "heartbeat.interval.ms" => c.heartbeat_interval = parse_ms(key, v, 1)?,
                "max.poll.interval.ms" => c.max_poll_interval = parse_ms(key, v, 1)?,
                "max.poll.records" => c.max_poll_records = parse_i32(key, v, 1)? as usize,
                "fetch.min.bytes" => c.fetch_min_bytes = parse_i32(key, v, 0)?,
                "fetch.max.wait.ms" => c.fetch_max_wait = parse_ms(key, v, 0)?,
                "fetch.max.bytes" => c.fetch_max_bytes = parse_i32(key, v, 0)?,
                "max.partition.fetch.bytes" => c.max_partition_fetch_bytes = parse_i32(key, v, 0)?,
                "auto.offset.reset" => {
                    c.auto_offset_reset = match v.trim() {
                        "latest" => OffsetReset::Latest,
                        "earliest" => OffsetReset::Earliest,
                        "none" => OffsetReset::None,
                        _ => {
                            return Err(invalid(
                                key,
                                v,
                                "String must be one of: latest, earliest, none",
                            ))
                        }
                    }
                }
                "enable.auto.commit" => c.enable_auto_commit = parse_bool(key, v)?,
                "auto.commit.interval.ms" => c.auto_commit_interval = parse_ms(key, v, 0)?,
                "isolation.level" => {
                    c.isolation_level = match v.trim() {
                        "read_uncommitted" => IsolationLevel::ReadUncommitted,
                        "read_committed" => IsolationLevel::ReadCommitted,
                        _ => {
                            return Err(invalid(
                                key,
                                v,
                                "String must be one of: read_committed, read_uncommitted",
                            ))
                        }
                    }
                }
                "request.timeout.ms" => c.request_timeout = parse_ms(key, v, 1)?,
                "default.api.timeout.ms" => c.default_api_timeout = parse_ms(key, v, 1)?,
                "retry.backoff.ms" => c.retry_backoff = parse_ms(key, v, 0)?,
                "check.crcs" => c.check_crcs = parse_bool(key, v)?,
                "metadata.max.age.ms" => c.metadata_max_age = parse_ms(key, v, 1)?,
                "exclude.internal.topics" => c.exclude_internal_topics = parse_bool(key, v)?,
                "key.deserializer" | "value.deserializer" => {
                    let short = v.trim().rsplit('.').next().unwrap_or("");
                    if !DESERIALIZERS.contains(&short) {
                        return Err(invalid(
                            key,
                            v,
                            "expected one of ByteArrayDeserializer, BytesDeserializer, StringDeserializer, LongDeserializer, IntegerDeserializer",
                        ));
                    }
                    let slot = if key == "key.deserializer" {
                        &mut c.key_deserializer
                    } else {
                        &mut c.value_deserializer
                    };
                    *slot = Some(short.to_string());
                }
                other => {
                    return Err(ClientError::Invalid(format!(
                        "Unknown consumer configuration {other} (value {v})"
                    )))
                }
            }
        }
        if !seen_bootstrap {
            return Err(ClientError::Invalid(
                "Missing required configuration bootstrap.servers which has no default value"
                    .into(),
            ));
        }
        c.validate()?;
        Ok(c)
    }

    /// [`ConsumerConfig::from_props`] over an owned map (e.g. a parsed properties file).
    pub fn from_map(props: &BTreeMap<String, String>) -> Result<ConsumerConfig> {
        Self::from_props(props.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// Cross-field checks Kafka makes when a consumer is created.
    pub fn validate(&self) -> Result<()> {
        if self.bootstrap_servers.trim().is_empty() {
            return Err(ClientError::Invalid(
                "bootstrap.servers must list at least one host:port".into(),
            ));
        }
        if self.heartbeat_interval >= self.session_timeout {
            return Err(ClientError::Invalid(format!(
                "heartbeat.interval.ms ({}) must be lower than session.timeout.ms ({})",
                self.heartbeat_interval.as_millis(),
                self.session_timeout.as_millis()
            )));
        }
        let max_poll = self.max_poll_interval.as_millis();
        if max_poll < 1 || max_poll > i32::MAX as u128 {
            return Err(invalid(
                "max.poll.interval.ms",
                &max_poll.to_string(),
                &format!("expected milliseconds in [1, {}]", i32::MAX),
            ));
        }
        if self.max_poll_records == 0 {
            return Err(invalid("max.poll.records", "0", "must be at least 1"));
        }
        if self.group_instance_id.is_some() && self.group_id.is_none() {
            return Err(ClientError::Invalid(
                "group.instance.id is set but group.id is not".into(),
            ));
        }
        for n in &self.partition_assignment_strategy {
            if assignor_by_name(n).is_none() {
                return Err(invalid(
                    "partition.assignment.strategy",
                    n,
                    "unknown assignor",
                ));
            }
        }
        Ok(())
    }

    /// Auto-commit is on only with a group, as in Kafka.
    pub fn auto_commit_active(&self) -> bool {
        self.enable_auto_commit && self.group_id.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas() {
        let c = ConsumerConfig::default();
        assert_eq!(c.session_timeout, Duration::from_millis(45_000));
        assert_eq!(c.heartbeat_interval, Duration::from_millis(3_000));
        assert_eq!(c.max_poll_records, 500);
        assert_eq!(c.max_poll_interval, Duration::from_millis(300_000));
        assert_eq!(c.max_partition_fetch_bytes, 1_048_576);
        assert_eq!(c.fetch_max_bytes, 52_428_800);
        assert_eq!(
            c.partition_assignment_strategy,
            ["range", "cooperative-sticky"]
        );
        assert_eq!(c.auto_offset_reset, OffsetReset::Latest);
        assert!(c.enable_auto_commit && c.check_crcs);
    }

    #[test]
    fn parses_java_names() {
        let c = ConsumerConfig::from_props([
            ("bootstrap.servers", "h:1"),
            ("group.id", "g"),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
            ("max.poll.records", "10"),
            (
                "partition.assignment.strategy",
                "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
            ),
            ("isolation.level", "read_committed"),
            ("group.protocol", "consumer"),
            (
                "key.deserializer",
                "org.apache.kafka.common.serialization.StringDeserializer",
            ),
        ])
        .unwrap();
        assert_eq!(c.group_id.as_deref(), Some("g"));
        assert_eq!(c.auto_offset_reset, OffsetReset::Earliest);
        assert!(!c.enable_auto_commit);
        assert_eq!(c.max_poll_records, 10);
        assert_eq!(c.partition_assignment_strategy, ["cooperative-sticky"]);
        assert_eq!(c.isolation_level, IsolationLevel::ReadCommitted);
        assert_eq!(c.group_protocol, GroupProtocol::Consumer);
        assert_eq!(c.key_deserializer.as_deref(), Some("StringDeserializer"));
    }

    #[test]
    fn max_poll_interval_is_validated() {
        let c = ConsumerConfig::from_props([
            ("bootstrap.servers", "h:1"),
            ("max.poll.interval.ms", "1500"),
        ])
        .unwrap();
        assert_eq!(c.max_poll_interval, Duration::from_millis(1500));
        for bad in ["0", "-1", "abc", "2147483648"] {
            let e = ConsumerConfig::from_props([
                ("bootstrap.servers", "h:1"),
                ("max.poll.interval.ms", bad),
            ])
            .unwrap_err()
            .to_string();
            assert!(e.contains("max.poll.interval.ms") && e.contains(bad), "{e}");
        }
        // Typed settings go through the same bounds when the consumer is created.
        let mut c = ConsumerConfig::new("h:1", Some("g"));
        c.max_poll_interval = Duration::ZERO;
        assert!(c.validate().is_err());
        c.max_poll_interval = Duration::from_millis(i32::MAX as u64 + 1);
        assert!(c.validate().is_err());
        c.max_poll_interval = Duration::from_millis(1);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn refuses_unknown_keys_and_bad_values() {
        let e = ConsumerConfig::from_props([("bootstrap.servers", "h:1"), ("fetch.size", "1")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("fetch.size"), "{e}");
        let e = ConsumerConfig::from_props([
            ("bootstrap.servers", "h:1"),
            ("auto.offset.reset", "smallest"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("auto.offset.reset") && e.contains("smallest"),
            "{e}"
        );
        assert!(ConsumerConfig::from_props([("group.id", "g")]).is_err());
        assert!(ConsumerConfig::from_props([
            ("bootstrap.servers", "h:1"),
            ("partition.assignment.strategy", "uniform"),
        ])
        .is_err());
        assert!(ConsumerConfig::from_props([
            ("bootstrap.servers", "h:1"),
            ("session.timeout.ms", "1000"),
            ("heartbeat.interval.ms", "2000"),
        ])
        .is_err());
    }
}
