//! [`BrokerConfig`]: a node's `server.properties` (or the embedded default) plus
//! `--override`s, validated against Kafka's broker keys and resolved into typed fields with
//! Kafka's defaults and precedence rules. It refuses invalid values with an error naming key,
//! value and accepted range, and warns (never fails) on keys it does not know.

use crate::broker_defs::{broker_def, ACCEPTED_EXTRA, ACCEPTED_PREFIXES, BROKER_DEFS};
use crate::def::Value;
use crate::listener::{
    parse_host_ports, parse_listeners, parse_protocol_map, parse_quorum_voters, Endpoint, HostPort,
    QuorumVoter, SecurityProtocol,
};
use crate::{properties, ConfigError};
use sluice_storage::{LogConfig, TimestampType};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The configuration used when `sluice server start` is given no file: one node that is both
/// broker and controller, listening on 127.0.0.1:9092, data in `./sluice-data`.
pub const EMBEDDED_DEFAULT: &str = "\
# Sluice embedded default: a single node, broker and controller in one process.
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:9092
log.dirs=./sluice-data
";

/// `log.dirs` when a file sets neither `log.dirs` nor `log.dir` (Kafka's KRaft sample value).
pub const DEFAULT_FILE_LOG_DIR: &str = "/tmp/kraft-combined-logs";

/// `process.roles` entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProcessRole {
    Broker,
    Controller,
}

/// A validated broker configuration. Typed fields hold effective values (set or default);
/// [`BrokerConfig::raw`] keeps every key as it was given.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerConfig {
    raw: BTreeMap<String, String>,
    /// Keys from the file and `--override`s only (before dynamic configs were layered on).
    static_raw: BTreeMap<String, String>,
    /// Dynamic configs for this broker (DYNAMIC_BROKER_CONFIG), from the metadata log.
    dynamic_broker: BTreeMap<String, String>,
    /// Cluster-wide dynamic defaults (DYNAMIC_DEFAULT_BROKER_CONFIG), from the metadata log.
    dynamic_default: BTreeMap<String, String>,
    /// Built from the embedded default (affects the `log.dirs` fallback).
    embedded: bool,
    /// The file it came from (`None` for the embedded default).
    pub path: Option<PathBuf>,
    /// `node.id` (or its alias `broker.id`).
    pub node_id: i32,
    pub process_roles: Vec<ProcessRole>,
    pub listener_security_protocol_map: BTreeMap<String, SecurityProtocol>,
    pub listeners: Vec<Endpoint>,
    /// `advertised.listeners`, or `listeners` minus the controller listeners when unset.
    pub advertised_listeners: Vec<Endpoint>,
    pub inter_broker_listener_name: String,
    pub controller_listener_names: Vec<String>,
    pub controller_quorum_voters: Vec<QuorumVoter>,
    pub controller_quorum_bootstrap_servers: Vec<HostPort>,
    pub log_dirs: Vec<PathBuf>,
    /// `metadata.log.dir`, or the first log dir.
    pub metadata_log_dir: PathBuf,
    pub broker_rack: Option<String>,
    pub num_partitions: i32,
    pub default_replication_factor: i32,
    pub min_insync_replicas: i32,
    pub auto_create_topics_enable: bool,
    pub delete_topic_enable: bool,
    pub unclean_leader_election_enable: bool,
    pub auto_leader_rebalance_enable: bool,
    pub log_segment_bytes: i32,
    /// `log.roll.ms`, else `log.roll.hours` in ms.
    pub log_roll_ms: i64,
    /// `log.roll.jitter.ms`, else `log.roll.jitter.hours` in ms.
    pub log_roll_jitter_ms: i64,
    /// `log.retention.ms` > `log.retention.minutes` > `log.retention.hours`; negative = -1.
    pub log_retention_ms: i64,
    pub log_retention_bytes: i64,
    pub log_retention_check_interval_ms: i64,
    pub log_index_interval_bytes: i32,
    pub log_index_size_max_bytes: i32,
    pub log_flush_interval_messages: i64,
    /// `log.flush.interval.ms`, else `log.flush.scheduler.interval.ms`.
    pub log_flush_interval_ms: i64,
    pub log_flush_scheduler_interval_ms: i64,
    pub log_segment_delete_delay_ms: i64,
    pub log_cleanup_policy: Vec<String>,
    pub log_message_timestamp_type: TimestampType,
    pub compression_type: String,
    pub message_max_bytes: i32,
    pub socket_request_max_bytes: i32,
    pub socket_send_buffer_bytes: i32,
    pub socket_receive_buffer_bytes: i32,
    pub num_network_threads: i32,
    pub num_io_threads: i32,
    pub queued_max_requests: i32,
    pub replica_lag_time_max_ms: i64,
    pub broker_session_timeout_ms: i32,
    pub broker_heartbeat_interval_ms: i32,
    pub offsets_topic_num_partitions: i32,
    pub offsets_topic_replication_factor: i16,
    pub transaction_state_log_num_partitions: i32,
    pub transaction_state_log_replication_factor: i16,
    pub transaction_state_log_min_isr: i32,
    pub group_initial_rebalance_delay_ms: i32,
}

impl BrokerConfig {
    /// Loads `path` (or the embedded default when `None`), applies `overrides` last, and
    /// validates. Returns the config and one warning per unknown key.
    pub fn load(
        path: Option<&Path>,
        overrides: &[(String, String)],
    ) -> Result<(BrokerConfig, Vec<String>), ConfigError> {
        let (text, shown) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| ConfigError::Io {
                    path: p.display().to_string(),
                    reason: e.to_string(),
                })?;
                (text, p.display().to_string())
            }
            None => (
                EMBEDDED_DEFAULT.to_string(),
                "<embedded default>".to_string(),
            ),
        };
        let mut pairs = properties::parse(&text).map_err(|e| ConfigError::Syntax {
            path: shown,
            line: e.line,
            reason: e.reason,
        })?;
        pairs.extend(overrides.iter().cloned());
        let (mut config, warnings) = Self::from_pairs(pairs, path.is_none())?;
        config.path = path.map(Path::to_path_buf);
        Ok((config, warnings))
    }

    /// Builds a config from key/value pairs (later pairs win). `embedded` selects the
    /// `./sluice-data` fallback for `log.dirs` instead of Kafka's file default.
    pub fn from_pairs(
        pairs: impl IntoIterator<Item = (String, String)>,
        embedded: bool,
    ) -> Result<(BrokerConfig, Vec<String>), ConfigError> {
        let raw: BTreeMap<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.trim().to_string(), v))
            .collect();
        let mut warnings = Vec::new();
        for (key, value) in &raw {
            match broker_def(key) {
                Some(def) => {
                    def.parse(value)?;
                }
                None if ACCEPTED_EXTRA.contains(&key.as_str())
                    || ACCEPTED_PREFIXES.iter().any(|p| key.starts_with(p)) => {}
                None => warnings.push(format!(
                    "Unknown configuration '{key}' in server.properties is ignored"
                )),
            }
        }
        let mut config = Resolver { raw: &raw }.resolve(embedded)?;
        config.embedded = embedded;
        Ok((config, warnings))
    }

    /// Every key as given in the file and overrides (including unknown ones).
    pub fn raw(&self) -> &BTreeMap<String, String> {
        &self.raw
    }

    /// The value a key was given in the file or an override, if it was.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.raw.get(key).map(String::as_str)
    }

    /// The effective value of a known broker key as Kafka prints it: the given value
    /// (normalized) or the default; `None` for null or unknown keys.
    pub fn value(&self, key: &str) -> Option<String> {
        self.typed(key).and_then(|v| v.to_kafka_string())
    }

    /// The effective typed value of a known broker key.
    pub fn typed(&self, key: &str) -> Option<Value> {
        let def = broker_def(key)?;
        match self.raw.get(key) {
            Some(v) => def.parse(v).ok(),
            None => def.default_value().ok(),
        }
    }

    /// Effective INT/SHORT/LONG value of a known key (e.g. `replica.fetch.max.bytes`).
    pub fn get_i64(&self, key: &str) -> Option<i64> {
        self.typed(key).and_then(|v| v.as_i64())
    }

    /// Effective BOOLEAN value of a known key.
    pub fn get_bool(&self, key: &str) -> Option<bool> {
        self.typed(key).and_then(|v| v.as_bool())
    }

    pub fn is_broker(&self) -> bool {
        self.process_roles.contains(&ProcessRole::Broker)
    }

    pub fn is_controller(&self) -> bool {
        self.process_roles.contains(&ProcessRole::Controller)
    }

    /// Broker-level defaults for every partition log (topic overrides apply on top; see
    /// [`crate::topic_log_config`]).
    pub fn log_config(&self) -> LogConfig {
        let cleanup = |p: &str| self.log_cleanup_policy.iter().any(|c| c == p);
        LogConfig {
            segment_bytes: self.log_segment_bytes.max(0) as u64,
            segment_ms: self.log_roll_ms,
            segment_index_bytes: self.log_index_size_max_bytes.max(0) as u64,
            index_interval_bytes: self.log_index_interval_bytes.max(0) as u64,
            retention_ms: self.log_retention_ms,
            retention_bytes: self.log_retention_bytes,
            flush_messages: flush_messages(self.log_flush_interval_messages),
            flush_ms: self.log_flush_interval_ms,
            file_delete_delay_ms: self.log_segment_delete_delay_ms,
            max_message_bytes: self.message_max_bytes,
            timestamp_type: self.log_message_timestamp_type,
            cleanup_delete: cleanup("delete"),
            cleanup_compact: cleanup("compact"),
        }
    }

    /// Keys that were set in the file or an override (DescribeConfigs STATIC_BROKER_CONFIG).
    pub(crate) fn static_value(&self, key: &str) -> Option<&str> {
        self.static_raw.get(key).map(String::as_str)
    }

    /// This broker's dynamic value of `key` (DYNAMIC_BROKER_CONFIG), if set.
    pub(crate) fn dynamic_broker_value(&self, key: &str) -> Option<&str> {
        self.dynamic_broker.get(key).map(String::as_str)
    }

    /// The cluster-wide dynamic default of `key` (DYNAMIC_DEFAULT_BROKER_CONFIG), if set.
    pub(crate) fn dynamic_default_value(&self, key: &str) -> Option<&str> {
        self.dynamic_default.get(key).map(String::as_str)
    }

    /// The log cleaner's settings (`log.cleaner.enable`, `log.cleaner.threads`,
    /// `log.cleaner.dedupe.buffer.size`, `log.cleaner.backoff.ms`).
    pub fn cleaner_config(&self) -> sluice_storage::CleanerConfig {
        let mut c = sluice_storage::CleanerConfig::default();
        if let Some(v) = self.get_bool("log.cleaner.enable") {
            c.enable = v;
        }
        if let Some(v) = self.get_i64("log.cleaner.threads") {
            c.threads = v.clamp(1, 64) as usize;
        }
        if let Some(v) = self.get_i64("log.cleaner.dedupe.buffer.size") {
            c.dedupe_buffer_size = v.max(1 << 20) as usize;
        }
        if let Some(v) = self.get_i64("log.cleaner.backoff.ms") {
            c.backoff_ms = v.max(0) as u64;
        }
        c
    }

    /// The cluster-wide dynamic defaults currently applied.
    pub fn dynamic_defaults(&self) -> &BTreeMap<String, String> {
        &self.dynamic_default
    }

    /// The effective config once dynamic broker configs are layered over the static ones
    /// (Kafka's precedence: per-broker dynamic > cluster-wide dynamic default > static >
    /// default). Static-only settings such as listeners are unaffected because only
    /// dynamically updatable keys are ever stored (see [`validate_dynamic_broker_config`]).
    pub fn with_dynamic(
        &self,
        cluster_default: &BTreeMap<String, String>,
        per_broker: &BTreeMap<String, String>,
    ) -> Result<BrokerConfig, ConfigError> {
        let pairs = self
            .static_raw
            .iter()
            .chain(cluster_default.iter())
            .chain(per_broker.iter())
            .map(|(k, v)| (k.clone(), v.clone()));
        let (mut config, _) = Self::from_pairs(pairs, self.embedded)?;
        config.path = self.path.clone();
        config.static_raw = self.static_raw.clone();
        config.dynamic_default = cluster_default.clone();
        config.dynamic_broker = per_broker.clone();
        Ok(config)
    }
}

/// Reads effective typed values out of the raw map during [`BrokerConfig::from_pairs`].
struct Resolver<'a> {
    raw: &'a BTreeMap<String, String>,
}

impl Resolver<'_> {
    fn value(&self, key: &str) -> Result<Value, ConfigError> {
        let def = broker_def(key).ok_or_else(|| ConfigError::Missing {
            key: key.to_string(),
            reason: "not a known broker configuration".into(),
        })?;
        match self.raw.get(key) {
            Some(v) => def.parse(v),
            None => def.default_value(),
        }
    }

    fn is_set(&self, key: &str) -> bool {
        self.raw.contains_key(key)
    }

    fn i64(&self, key: &str) -> Result<i64, ConfigError> {
        self.opt_i64(key)?.ok_or_else(|| ConfigError::Missing {
            key: key.to_string(),
            reason: "it has no default value".into(),
        })
    }

    fn opt_i64(&self, key: &str) -> Result<Option<i64>, ConfigError> {
        Ok(self.value(key)?.as_i64())
    }

    fn i32(&self, key: &str) -> Result<i32, ConfigError> {
        let n = self.i64(key)?;
        i32::try_from(n).map_err(|_| ConfigError::invalid(key, &n.to_string(), "out of range"))
    }

    fn i16(&self, key: &str) -> Result<i16, ConfigError> {
        let n = self.i64(key)?;
        i16::try_from(n).map_err(|_| ConfigError::invalid(key, &n.to_string(), "out of range"))
    }

    fn bool(&self, key: &str) -> Result<bool, ConfigError> {
        Ok(self.value(key)?.as_bool().unwrap_or(false))
    }

    fn opt_string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        Ok(match self.value(key)? {
            Value::Str(s) if !s.is_empty() => Some(s),
            _ => None,
        })
    }

    fn string(&self, key: &str) -> Result<String, ConfigError> {
        Ok(self.opt_string(key)?.unwrap_or_default())
    }

    fn list(&self, key: &str) -> Result<Vec<String>, ConfigError> {
        Ok(match self.value(key)? {
            Value::List(l) => l,
            _ => Vec::new(),
        })
    }

    /// Kafka's `ms` > `minutes` > `hours` precedence (ms fallback chains).
    fn millis(&self, ms: &str, minutes: Option<&str>, hours: &str) -> Result<i64, ConfigError> {
        if let Some(v) = self.opt_i64(ms)? {
            return Ok(v);
        }
        if let Some(min) = minutes {
            if let Some(v) = self.opt_i64(min)? {
                return Ok(v.saturating_mul(60_000));
            }
        }
        Ok(self.i64(hours)?.saturating_mul(3_600_000))
    }

    /// Kafka's `KafkaConfig` requirements between the replica fetch timeouts.
    fn check_replica_fetch_timeouts(&self) -> Result<(), ConfigError> {
        let wait = self.i64("replica.fetch.wait.max.ms")?;
        let socket = self.i64("replica.socket.timeout.ms")?;
        let lag = self.i64("replica.lag.time.max.ms")?;
        if wait > socket {
            return Err(ConfigError::invalid(
                "replica.socket.timeout.ms",
                &socket.to_string(),
                "replica.socket.timeout.ms should always be at least replica.fetch.wait.max.ms to prevent unnecessary socket timeouts",
            ));
        }
        if wait > lag {
            return Err(ConfigError::invalid(
                "replica.fetch.wait.max.ms",
                &wait.to_string(),
                "replica.fetch.wait.max.ms should always be less than or equal to replica.lag.time.max.ms to prevent frequent changes in ISR",
            ));
        }
        Ok(())
    }

    fn resolve(&self, embedded: bool) -> Result<BrokerConfig, ConfigError> {
        let node_id = self.node_id()?;
        self.check_replica_fetch_timeouts()?;
        let process_roles = self.process_roles()?;
        let map_key = "listener.security.protocol.map";
        let mut protocol_map = parse_protocol_map(map_key, &self.string(map_key)?)?;
        let controller_listener_names: Vec<String> = self
            .string("controller.listener.names")?
            .split(',')
            .map(|s| s.trim().to_ascii_uppercase())
            .filter(|s| !s.is_empty())
            .collect();
        if !self.is_set(map_key) {
            // Kafka maps controller listener names to PLAINTEXT when the map is not set.
            for name in &controller_listener_names {
                protocol_map
                    .entry(name.clone())
                    .or_insert(SecurityProtocol::Plaintext);
            }
        }
        let listeners = parse_listeners("listeners", &self.string("listeners")?, &protocol_map)?;
        let advertised_listeners = match self.opt_string("advertised.listeners")? {
            Some(adv) => {
                let parsed = parse_listeners("advertised.listeners", &adv, &protocol_map)?;
                if parsed.iter().any(|e| e.host == "0.0.0.0") {
                    return Err(ConfigError::invalid(
                        "advertised.listeners",
                        &adv,
                        "cannot use the nonroutable meta-address 0.0.0.0; use a routable IP address or host name",
                    ));
                }
                parsed
            }
            None => listeners.clone(),
        }
        .into_iter()
        .filter(|e| !controller_listener_names.contains(&e.listener_name))
        .collect::<Vec<_>>();
        let inter_broker_listener_name =
            self.inter_broker_listener_name(&advertised_listeners, &process_roles)?;

        let log_dirs_value = match (self.opt_string("log.dirs")?, self.is_set("log.dir")) {
            (Some(dirs), _) => dirs,
            (None, true) => self.string("log.dir")?,
            (None, false) if embedded => "./sluice-data".to_string(),
            (None, false) => DEFAULT_FILE_LOG_DIR.to_string(),
        };
        let log_dirs: Vec<PathBuf> = log_dirs_value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .collect();
        let first_dir = log_dirs.first().cloned().ok_or_else(|| {
            ConfigError::invalid(
                "log.dirs",
                &log_dirs_value,
                "at least one log directory is required",
            )
        })?;
        let metadata_log_dir = self
            .opt_string("metadata.log.dir")?
            .map(PathBuf::from)
            .unwrap_or(first_dir);

        let log_retention_ms = self
            .millis(
                "log.retention.ms",
                Some("log.retention.minutes"),
                "log.retention.hours",
            )?
            .max(-1);
        let log_flush_scheduler_interval_ms = self.i64("log.flush.scheduler.interval.ms")?;
        let log_message_timestamp_type = match self.string("log.message.timestamp.type")?.as_str() {
            "LogAppendTime" => TimestampType::LogAppendTime,
            _ => TimestampType::CreateTime,
        };
        let voters_key = "controller.quorum.voters";
        let bootstrap_key = "controller.quorum.bootstrap.servers";
        Ok(BrokerConfig {
            raw: self.raw.clone(),
            static_raw: self.raw.clone(),
            dynamic_broker: BTreeMap::new(),
            dynamic_default: BTreeMap::new(),
            embedded: false,
            path: None,
            node_id,
            process_roles,
            listener_security_protocol_map: protocol_map,
            listeners,
            advertised_listeners,
            inter_broker_listener_name,
            controller_listener_names,
            controller_quorum_voters: parse_quorum_voters(
                voters_key,
                &self.list(voters_key)?.join(","),
            )?,
            controller_quorum_bootstrap_servers: parse_host_ports(
                bootstrap_key,
                &self.list(bootstrap_key)?.join(","),
            )?,
            log_dirs,
            metadata_log_dir,
            broker_rack: self.opt_string("broker.rack")?,
            num_partitions: self.i32("num.partitions")?,
            default_replication_factor: self.i32("default.replication.factor")?,
            min_insync_replicas: self.i32("min.insync.replicas")?,
            auto_create_topics_enable: self.bool("auto.create.topics.enable")?,
            delete_topic_enable: self.bool("delete.topic.enable")?,
            unclean_leader_election_enable: self.bool("unclean.leader.election.enable")?,
            auto_leader_rebalance_enable: self.bool("auto.leader.rebalance.enable")?,
            log_segment_bytes: self.i32("log.segment.bytes")?,
            log_roll_ms: self.millis("log.roll.ms", None, "log.roll.hours")?,
            log_roll_jitter_ms: self.millis("log.roll.jitter.ms", None, "log.roll.jitter.hours")?,
            log_retention_ms,
            log_retention_bytes: self.i64("log.retention.bytes")?,
            log_retention_check_interval_ms: self.i64("log.retention.check.interval.ms")?,
            log_index_interval_bytes: self.i32("log.index.interval.bytes")?,
            log_index_size_max_bytes: self.i32("log.index.size.max.bytes")?,
            log_flush_interval_messages: self.i64("log.flush.interval.messages")?,
            log_flush_interval_ms: self
                .opt_i64("log.flush.interval.ms")?
                .unwrap_or(log_flush_scheduler_interval_ms),
            log_flush_scheduler_interval_ms,
            log_segment_delete_delay_ms: self.i64("log.segment.delete.delay.ms")?,
            log_cleanup_policy: self.list("log.cleanup.policy")?,
            log_message_timestamp_type,
            compression_type: self.string("compression.type")?,
            message_max_bytes: self.i32("message.max.bytes")?,
            socket_request_max_bytes: self.i32("socket.request.max.bytes")?,
            socket_send_buffer_bytes: self.i32("socket.send.buffer.bytes")?,
            socket_receive_buffer_bytes: self.i32("socket.receive.buffer.bytes")?,
            num_network_threads: self.i32("num.network.threads")?,
            num_io_threads: self.i32("num.io.threads")?,
            queued_max_requests: self.i32("queued.max.requests")?,
            replica_lag_time_max_ms: self.i64("replica.lag.time.max.ms")?,
            broker_session_timeout_ms: self.i32("broker.session.timeout.ms")?,
            broker_heartbeat_interval_ms: self.i32("broker.heartbeat.interval.ms")?,
            offsets_topic_num_partitions: self.i32("offsets.topic.num.partitions")?,
            offsets_topic_replication_factor: self.i16("offsets.topic.replication.factor")?,
            transaction_state_log_num_partitions: self
                .i32("transaction.state.log.num.partitions")?,
            transaction_state_log_replication_factor: self
                .i16("transaction.state.log.replication.factor")?,
            transaction_state_log_min_isr: self.i32("transaction.state.log.min.isr")?,
            group_initial_rebalance_delay_ms: self.i32("group.initial.rebalance.delay.ms")?,
        })
    }

    /// `node.id`, with `broker.id` as its alias; both set means they must agree.
    fn node_id(&self) -> Result<i32, ConfigError> {
        let node = self
            .is_set("node.id")
            .then(|| self.i32("node.id"))
            .transpose()?;
        let broker = self
            .is_set("broker.id")
            .then(|| self.i32("broker.id"))
            .transpose()?;
        let id = match (node, broker) {
            (Some(n), Some(b)) if n != b => {
                return Err(ConfigError::invalid(
                    "broker.id",
                    &b.to_string(),
                    format!("must equal node.id ({n}) when both are set"),
                ))
            }
            (Some(n), _) | (None, Some(n)) => n,
            (None, None) => {
                return Err(ConfigError::Missing {
                    key: "node.id".into(),
                    reason: "every node needs a non-negative id (node.id, or its alias broker.id)"
                        .into(),
                })
            }
        };
        if id < 0 {
            let key = if node.is_some() {
                "node.id"
            } else {
                "broker.id"
            };
            return Err(ConfigError::invalid(
                key,
                &id.to_string(),
                "Value must be at least 0",
            ));
        }
        Ok(id)
    }

    fn process_roles(&self) -> Result<Vec<ProcessRole>, ConfigError> {
        let mut roles = Vec::new();
        for r in self.list("process.roles")? {
            let role = if r == "broker" {
                ProcessRole::Broker
            } else {
                ProcessRole::Controller
            };
            if roles.contains(&role) {
                let value = self.raw.get("process.roles").cloned().unwrap_or_default();
                return Err(ConfigError::invalid(
                    "process.roles",
                    &value,
                    format!("duplicate role {r}"),
                ));
            }
            roles.push(role);
        }
        if roles.is_empty() {
            return Err(ConfigError::Missing {
                key: "process.roles".into(),
                reason: "set it to broker, controller or broker,controller".into(),
            });
        }
        roles.sort();
        Ok(roles)
    }

    fn inter_broker_listener_name(
        &self,
        advertised: &[Endpoint],
        roles: &[ProcessRole],
    ) -> Result<String, ConfigError> {
        let name = match self.opt_string("inter.broker.listener.name")? {
            Some(n) if self.is_set("security.inter.broker.protocol") => {
                return Err(ConfigError::invalid(
                    "inter.broker.listener.name",
                    &n,
                    "only one of inter.broker.listener.name and security.inter.broker.protocol may be set",
                ))
            }
            Some(n) => n.to_ascii_uppercase(),
            None => self.string("security.inter.broker.protocol")?,
        };
        if roles.contains(&ProcessRole::Broker)
            && !advertised.is_empty()
            && !advertised.iter().any(|e| e.listener_name == name)
        {
            let names: Vec<&str> = advertised
                .iter()
                .map(|e| e.listener_name.as_str())
                .collect();
            return Err(ConfigError::invalid(
                "inter.broker.listener.name",
                &name,
                format!(
                    "must be one of the advertised listener names: {}",
                    names.join(", ")
                ),
            ));
        }
        Ok(name)
    }
}

/// `flush.messages` for the log: Kafka's `Long.MAX_VALUE` ("never") becomes `u64::MAX`.
pub(crate) fn flush_messages(n: i64) -> u64 {
    if n == i64::MAX {
        u64::MAX
    } else {
        n.max(1) as u64
    }
}

/// Every broker key Kafka defines that Sluice knows, sorted by name.
/// Checks that `key` may be changed at runtime (`kafka-configs --alter --entity-type brokers`)
/// and that `value` is valid for it. Kafka refuses static-only keys the same way.
pub fn validate_dynamic_broker_config(key: &str, value: &str) -> Result<(), ConfigError> {
    match broker_def(key) {
        Some(def) if def.dynamic => def.parse(value).map(|_| ()),
        _ => Err(ConfigError::invalid(
            key,
            value,
            format!("Cannot update these configs dynamically: Set({key})"),
        )),
    }
}

pub(crate) fn known_keys() -> impl Iterator<Item = &'static str> {
    BROKER_DEFS.iter().map(|d| d.name)
}
