//! `ProducerConfig`: the Java producer's settings under their Java names and defaults
//! (bootstrap.servers, acks, batch.size, linger.ms, ...), typed, plus parsing of `k=v`
//! properties. Parsing refuses unknown keys and bad values naming the key and value; the
//! idempotence rules (acks=all, retries>0, max.in.flight<=5) are checked as Java checks them.
//! Pure: no I/O.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use sluice_protocol::kafka_protocol::records::Compression;

use super::error::ProducerError;
use super::interceptor::ProducerInterceptor;
use super::partitioner::{Partitioner, RoundRobinPartitioner};

/// Compression levels per codec (`compression.<codec>.level`); `None` = the codec's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompressionLevels {
    pub gzip: Option<i32>,
    pub lz4: Option<i32>,
    pub zstd: Option<i32>,
}

/// Producer settings. `Default` is Kafka 4.0's producer defaults with bootstrap
/// `localhost:9092`. Note `linger.ms` defaults to 5 as in Kafka 4.0 (KIP-1030; 0 before).
#[derive(Clone)]
pub struct ProducerConfig {
    /// `bootstrap.servers`
    pub bootstrap_servers: String,
    /// `client.id`
    pub client_id: String,
    /// `acks`: 0, 1 or -1 (`all`).
    pub acks: i16,
    /// `batch.size` in bytes.
    pub batch_size: usize,
    /// `linger.ms`
    pub linger: Duration,
    /// `buffer.memory` in bytes.
    pub buffer_memory: usize,
    /// `max.block.ms`: how long `send` waits for metadata or buffer space.
    pub max_block: Duration,
    /// `max.in.flight.requests.per.connection`
    pub max_in_flight: usize,
    /// `compression.type`
    pub compression: Compression,
    /// `compression.gzip.level`, `compression.lz4.level`, `compression.zstd.level`
    pub compression_levels: CompressionLevels,
    /// `retries`
    pub retries: i32,
    /// `retry.backoff.ms`
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`
    pub retry_backoff_max: Duration,
    /// `delivery.timeout.ms`
    pub delivery_timeout: Duration,
    /// `request.timeout.ms`
    pub request_timeout: Duration,
    /// `enable.idempotence`
    pub enable_idempotence: bool,
    /// `partitioner.class`: `None` = the built-in partitioner (murmur2 keys, sticky keyless).
    pub partitioner: Option<Arc<dyn Partitioner>>,
    /// `partitioner.ignore.keys`
    pub partitioner_ignore_keys: bool,
    /// `max.request.size` in bytes.
    pub max_request_size: usize,
    /// `metadata.max.age.ms`
    pub metadata_max_age: Duration,
    /// `allow.auto.create.topics`
    pub allow_auto_create_topics: bool,
    /// `interceptor.classes`, as objects.
    pub interceptors: Vec<Arc<dyn ProducerInterceptor>>,
    explicit: Vec<&'static str>,
}

impl fmt::Debug for ProducerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProducerConfig")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("client_id", &self.client_id)
            .field("acks", &self.acks)
            .field("batch_size", &self.batch_size)
            .field("linger", &self.linger)
            .field("compression", &self.compression)
            .field("enable_idempotence", &self.enable_idempotence)
            .field("custom_partitioner", &self.partitioner.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            bootstrap_servers: "localhost:9092".into(),
            client_id: String::new(),
            acks: -1,
            batch_size: 16_384,
            linger: Duration::from_millis(5),
            buffer_memory: 32 * 1024 * 1024,
            max_block: Duration::from_millis(60_000),
            max_in_flight: 5,
            compression: Compression::None,
            compression_levels: CompressionLevels::default(),
            retries: i32::MAX,
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1_000),
            delivery_timeout: Duration::from_millis(120_000),
            request_timeout: Duration::from_millis(30_000),
            enable_idempotence: true,
            partitioner: None,
            partitioner_ignore_keys: false,
            max_request_size: 1_048_576,
            metadata_max_age: Duration::from_millis(300_000),
            allow_auto_create_topics: true,
            interceptors: Vec::new(),
            explicit: Vec::new(),
        }
    }
}

/// Keys Java users keep in their properties files that have no meaning here; accepted and
/// ignored so a Java `producer.properties` works unchanged.
const IGNORED_KEYS: &[&str] = &[
    "key.serializer",
    "value.serializer",
    "send.buffer.bytes",
    "receive.buffer.bytes",
    "connections.max.idle.ms",
    "reconnect.backoff.ms",
    "reconnect.backoff.max.ms",
    "partitioner.adaptive.partitioning.enable",
    "partitioner.availability.timeout.ms",
    "metadata.max.idle.ms",
    "client.dns.lookup",
    "security.protocol",
];

fn bad(key: &str, value: &str, accepted: &str) -> ProducerError {
    ProducerError::Config(format!(
        "invalid value '{value}' for '{key}': expected {accepted}"
    ))
}

fn int<T: std::str::FromStr + PartialOrd + fmt::Display>(
    key: &str,
    value: &str,
    min: T,
    max: T,
) -> Result<T, ProducerError> {
    match value.trim().parse::<T>() {
        Ok(v) if v >= min && v <= max => Ok(v),
        _ => Err(bad(key, value, &format!("an integer in [{min}, {max}]"))),
    }
}

fn ms(key: &str, value: &str) -> Result<Duration, ProducerError> {
    Ok(Duration::from_millis(int::<u64>(
        key,
        value,
        0,
        i64::MAX as u64,
    )?))
}

fn boolean(key: &str, value: &str) -> Result<bool, ProducerError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(key, value, "true or false")),
    }
}

impl ProducerConfig {
    /// Defaults with `bootstrap.servers` set.
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        ProducerConfig {
            bootstrap_servers: bootstrap_servers.into(),
            ..Default::default()
        }
    }

    /// Builds a config from Java-named properties.
    pub fn from_props(props: &BTreeMap<String, String>) -> Result<Self, ProducerError> {
        let mut c = ProducerConfig::default();
        for (k, v) in props {
            c.apply(k, v)?;
        }
        Ok(c)
    }

    /// Sets one Java-named property (builder style).
    pub fn set(mut self, key: &str, value: &str) -> Result<Self, ProducerError> {
        self.apply(key, value)?;
        Ok(self)
    }

    /// Uses a custom partitioner (Java's `partitioner.class`).
    pub fn with_partitioner(mut self, p: Arc<dyn Partitioner>) -> Self {
        self.partitioner = Some(p);
        self
    }

    /// Adds an interceptor (Java's `interceptor.classes`), called in the order added.
    pub fn with_interceptor(mut self, i: Arc<dyn ProducerInterceptor>) -> Self {
        self.interceptors.push(i);
        self
    }

    fn mark(&mut self, key: &'static str) {
        if !self.explicit.contains(&key) {
            self.explicit.push(key);
        }
    }

    fn is_explicit(&self, key: &str) -> bool {
        self.explicit.contains(&key)
    }

    /// Applies one property; the error names the key and the value.
    pub fn apply(&mut self, key: &str, value: &str) -> Result<(), ProducerError> {
        let v = value.trim();
        match key {
            "bootstrap.servers" => {
                if v.is_empty() {
                    return Err(bad(key, value, "a list of host:port"));
                }
                self.bootstrap_servers = v.to_string();
            }
            "client.id" => self.client_id = v.to_string(),
            "acks" => {
                self.acks = match v.to_ascii_lowercase().as_str() {
                    "all" | "-1" => -1,
                    "0" => 0,
                    "1" => 1,
                    _ => return Err(bad(key, value, "one of all, -1, 0, 1")),
                };
                self.mark("acks");
            }
            "batch.size" => self.batch_size = int(key, v, 0, i32::MAX as usize)?,
            "linger.ms" => self.linger = ms(key, v)?,
            "buffer.memory" => self.buffer_memory = int(key, v, 0, i64::MAX as usize)?,
            "max.block.ms" => self.max_block = ms(key, v)?,
            "max.in.flight.requests.per.connection" => {
                self.max_in_flight = int(key, v, 1, i32::MAX as usize)?;
                self.mark("max.in.flight.requests.per.connection");
            }
            "compression.type" => {
                self.compression = crate::produce::parse_compression(v)
                    .ok_or_else(|| bad(key, value, "one of none, gzip, snappy, lz4, zstd"))?
            }
            "compression.gzip.level" => {
                let l: i32 = int(key, v, -1, 9)?;
                if l == 0 {
                    return Err(bad(key, value, "-1 or an integer in [1, 9]"));
                }
                self.compression_levels.gzip = Some(l);
            }
            "compression.lz4.level" => self.compression_levels.lz4 = Some(int(key, v, 1, 17)?),
            "compression.zstd.level" => {
                self.compression_levels.zstd = Some(int(key, v, -131_072, 22)?)
            }
            "retries" => {
                self.retries = int(key, v, 0, i32::MAX)?;
                self.mark("retries");
            }
            "retry.backoff.ms" => self.retry_backoff = ms(key, v)?,
            "retry.backoff.max.ms" => self.retry_backoff_max = ms(key, v)?,
            "delivery.timeout.ms" => {
                self.delivery_timeout = ms(key, v)?;
                self.mark("delivery.timeout.ms");
            }
            "request.timeout.ms" => self.request_timeout = ms(key, v)?,
            "enable.idempotence" => {
                self.enable_idempotence = boolean(key, v)?;
                self.mark("enable.idempotence");
            }
            "partitioner.class" => {
                let short = v.rsplit('.').next().unwrap_or(v);
                self.partitioner =
                    match short {
                        ""
                        | "DefaultPartitioner"
                        | "UniformStickyPartitioner"
                        | "BuiltInPartitioner" => None,
                        "RoundRobinPartitioner" => Some(Arc::new(RoundRobinPartitioner::default())),
                        _ => return Err(bad(
                            key,
                            value,
                            "RoundRobinPartitioner or DefaultPartitioner (custom partitioners are \
                             passed as objects with ProducerConfig::with_partitioner)",
                        )),
                    };
            }
            "partitioner.ignore.keys" => self.partitioner_ignore_keys = boolean(key, v)?,
            "max.request.size" => self.max_request_size = int(key, v, 1, i32::MAX as usize)?,
            "metadata.max.age.ms" => self.metadata_max_age = ms(key, v)?,
            "allow.auto.create.topics" => self.allow_auto_create_topics = boolean(key, v)?,
            "transactional.id" => {
                return Err(ProducerError::Config(
                    "'transactional.id' is not supported: this producer has no transactions yet"
                        .into(),
                ))
            }
            k if IGNORED_KEYS.contains(&k) => {}
            _ => {
                return Err(ProducerError::Config(format!(
                    "unknown producer configuration '{key}'"
                )))
            }
        }
        Ok(())
    }

    /// Checks cross-field rules and settles defaults that depend on others, as Java does:
    /// explicit `enable.idempotence=true` with acks≠all, retries=0 or more than 5 requests in
    /// flight is an error; when idempotence was only defaulted, such settings turn it off.
    pub fn validated(mut self) -> Result<Self, ProducerError> {
        let conflicts = if self.acks != -1 {
            Some("Must set acks to all in order to use the idempotent producer. Otherwise we cannot guarantee idempotence.")
        } else if self.retries == 0 {
            Some("Must set retries to non-zero when using the idempotent producer.")
        } else if self.max_in_flight > 5 {
            Some("Must set max.in.flight.requests.per.connection to at most 5 to use the idempotent producer.")
        } else {
            None
        };
        if self.enable_idempotence {
            if let Some(why) = conflicts {
                if self.is_explicit("enable.idempotence") {
                    return Err(ProducerError::Config(why.to_string()));
                }
                self.enable_idempotence = false;
            }
        }
        let floor = self.linger + self.request_timeout;
        if self.delivery_timeout < floor {
            if self.is_explicit("delivery.timeout.ms") {
                return Err(ProducerError::Config(format!(
                    "delivery.timeout.ms should be equal to or larger than linger.ms + request.timeout.ms ({} ms)",
                    floor.as_millis()
                )));
            }
            self.delivery_timeout = floor;
        }
        if self.retry_backoff_max < self.retry_backoff {
            self.retry_backoff_max = self.retry_backoff;
        }
        if self.bootstrap_servers.trim().is_empty() {
            return Err(ProducerError::Config("bootstrap.servers is empty".into()));
        }
        Ok(self)
    }

    /// Backoff before retry number `attempt` (1-based): retry.backoff.ms doubled each time,
    /// capped at retry.backoff.max.ms (Java adds ±20% jitter; so do we).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let base = self.retry_backoff.as_millis() as f64;
        let exp = base * 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
        let capped = exp.min(self.retry_backoff_max.as_millis() as f64);
        let jitter = 0.8 + 0.4 * rand::random::<f64>();
        Duration::from_millis((capped * jitter) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_kafka_4() {
        let c = ProducerConfig::default().validated().unwrap();
        assert_eq!(c.acks, -1);
        assert_eq!(c.batch_size, 16384);
        assert_eq!(c.linger, Duration::from_millis(5));
        assert_eq!(c.buffer_memory, 33_554_432);
        assert_eq!(c.max_in_flight, 5);
        assert_eq!(c.retries, i32::MAX);
        assert_eq!(c.delivery_timeout, Duration::from_secs(120));
        assert!(c.enable_idempotence);
        assert_eq!(c.max_request_size, 1_048_576);
    }

    #[test]
    fn parses_java_names() {
        let c = ProducerConfig::from_props(&props(&[
            ("bootstrap.servers", "h1:1,h2:2"),
            ("acks", "1"),
            ("linger.ms", "20"),
            ("batch.size", "32768"),
            ("compression.type", "snappy"),
            ("compression.zstd.level", "7"),
            (
                "key.serializer",
                "org.apache.kafka.common.serialization.StringSerializer",
            ),
            (
                "partitioner.class",
                "org.apache.kafka.clients.producer.RoundRobinPartitioner",
            ),
        ]))
        .unwrap()
        .validated()
        .unwrap();
        assert_eq!(c.bootstrap_servers, "h1:1,h2:2");
        assert_eq!(c.acks, 1);
        assert_eq!(c.linger, Duration::from_millis(20));
        assert_eq!(c.batch_size, 32768);
        assert_eq!(c.compression, Compression::Snappy);
        assert_eq!(c.compression_levels.zstd, Some(7));
        assert!(c.partitioner.is_some());
        // acks=1 silently turns off defaulted idempotence, as in Java.
        assert!(!c.enable_idempotence);
        let all = ProducerConfig::default().set("acks", "all").unwrap();
        assert_eq!(all.acks, -1);
    }

    #[test]
    fn errors_name_key_and_value() {
        let e = ProducerConfig::default()
            .set("linger.msx", "1")
            .unwrap_err();
        assert!(e.to_string().contains("'linger.msx'"), "{e}");
        let e = ProducerConfig::default().set("acks", "2").unwrap_err();
        assert!(
            e.to_string().contains("'2'") && e.to_string().contains("'acks'"),
            "{e}"
        );
        let e = ProducerConfig::default()
            .set("compression.type", "brotli")
            .unwrap_err();
        assert!(e.to_string().contains("brotli"), "{e}");
        let e = ProducerConfig::default()
            .set("batch.size", "-1")
            .unwrap_err();
        assert!(e.to_string().contains("batch.size"), "{e}");
    }

    #[test]
    fn explicit_idempotence_conflicts_are_errors() {
        let c = ProducerConfig::default()
            .set("enable.idempotence", "true")
            .unwrap()
            .set("acks", "1")
            .unwrap();
        assert!(c.validated().unwrap_err().to_string().contains("acks"));
        let c = ProducerConfig::default()
            .set("enable.idempotence", "true")
            .unwrap()
            .set("max.in.flight.requests.per.connection", "6")
            .unwrap();
        assert!(c.validated().is_err());
        let c = ProducerConfig::default()
            .set("enable.idempotence", "true")
            .unwrap()
            .set("retries", "0")
            .unwrap();
        assert!(c.validated().is_err());
        let c = ProducerConfig::default()
            .set("delivery.timeout.ms", "1000")
            .unwrap();
        assert!(c.validated().is_err());
    }

    #[test]
    fn backoff_grows_to_the_cap() {
        let c = ProducerConfig::default();
        assert!(c.backoff(1) <= Duration::from_millis(120));
        assert!(c.backoff(10) <= Duration::from_millis(1200));
        assert!(c.backoff(10) >= Duration::from_millis(800));
    }
}
