//! `ProducerError`: what a send, flush or close can fail with, named after the Java client's
//! exceptions (TimeoutException, RecordTooLargeException, a broker error code, ...). Errors are
//! cheap to clone because one batch failure is reported to every record of the batch. Owns no
//! I/O; `is_retriable` is the single place that decides what the sender retries.

use std::time::Duration;

use crate::error::{error_name, ClientError};

/// Kafka error codes the producer branches on.
pub mod codes {
    pub const CORRUPT_MESSAGE: i16 = 2;
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    pub const LEADER_NOT_AVAILABLE: i16 = 5;
    pub const NOT_LEADER_OR_FOLLOWER: i16 = 6;
    pub const REQUEST_TIMED_OUT: i16 = 7;
    pub const MESSAGE_TOO_LARGE: i16 = 10;
    pub const NETWORK_EXCEPTION: i16 = 13;
    pub const NOT_ENOUGH_REPLICAS: i16 = 19;
    pub const NOT_ENOUGH_REPLICAS_AFTER_APPEND: i16 = 20;
    pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
    pub const DUPLICATE_SEQUENCE_NUMBER: i16 = 46;
    pub const INVALID_PRODUCER_EPOCH: i16 = 47;
    pub const UNKNOWN_PRODUCER_ID: i16 = 59;
    pub const KAFKA_STORAGE_ERROR: i16 = 56;
    pub const FENCED_LEADER_EPOCH: i16 = 74;
    pub const UNKNOWN_LEADER_EPOCH: i16 = 75;
    pub const OFFSET_NOT_AVAILABLE: i16 = 78;
    pub const PRODUCER_FENCED: i16 = 90;
}

/// Why a record was not (or may not have been) written.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ProducerError {
    /// A configuration key or value was refused.
    #[error("invalid producer configuration: {0}")]
    Config(String),
    /// Java's TimeoutException: metadata, buffer memory or delivery did not happen in time.
    #[error("{0}")]
    Timeout(String),
    /// Java's RecordTooLargeException.
    #[error("{0}")]
    RecordTooLarge(String),
    /// The broker refused the batch with this error code.
    #[error("{}", kafka_display(*code, message.as_deref()))]
    Broker { code: i16, message: Option<String> },
    /// The connection failed while the request was in flight (Java's NetworkException).
    #[error("network error talking to {addr}: {detail}")]
    Network { addr: String, detail: String },
    /// The producer was closed before the record could be sent.
    #[error("{0}")]
    Closed(String),
    /// The caller asked for something impossible (partition out of range, ...).
    #[error("{0}")]
    Invalid(String),
}

fn kafka_display(code: i16, message: Option<&str>) -> String {
    match message {
        Some(m) if !m.is_empty() => format!("{m} ({})", error_name(code)),
        _ => error_name(code),
    }
}

impl ProducerError {
    /// The broker error code, if this came from a broker.
    pub fn code(&self) -> Option<i16> {
        match self {
            ProducerError::Broker { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Errors after which the sender retries the batch (Java's RetriableException set).
    pub fn is_retriable(&self) -> bool {
        match self {
            ProducerError::Network { .. } => true,
            ProducerError::Broker { code, .. } => matches!(
                *code,
                codes::CORRUPT_MESSAGE
                    | codes::UNKNOWN_TOPIC_OR_PARTITION
                    | codes::LEADER_NOT_AVAILABLE
                    | codes::NOT_LEADER_OR_FOLLOWER
                    | codes::REQUEST_TIMED_OUT
                    | codes::NETWORK_EXCEPTION
                    | codes::NOT_ENOUGH_REPLICAS
                    | codes::NOT_ENOUGH_REPLICAS_AFTER_APPEND
                    | codes::KAFKA_STORAGE_ERROR
                    | codes::FENCED_LEADER_EPOCH
                    | codes::UNKNOWN_LEADER_EPOCH
                    | codes::OFFSET_NOT_AVAILABLE
            ),
            _ => false,
        }
    }

    /// Errors that mean the cached leader is stale.
    pub fn needs_metadata_refresh(&self) -> bool {
        match self {
            ProducerError::Network { .. } => true,
            ProducerError::Broker { code, .. } => matches!(
                *code,
                codes::UNKNOWN_TOPIC_OR_PARTITION
                    | codes::LEADER_NOT_AVAILABLE
                    | codes::NOT_LEADER_OR_FOLLOWER
                    | codes::KAFKA_STORAGE_ERROR
                    | codes::FENCED_LEADER_EPOCH
                    | codes::UNKNOWN_LEADER_EPOCH
            ),
            _ => false,
        }
    }

    pub(crate) fn timeout(what: String) -> Self {
        ProducerError::Timeout(what)
    }

    pub(crate) fn expired(count: usize, topic: &str, partition: i32, age: Duration) -> Self {
        ProducerError::Timeout(format!(
            "Expiring {count} record(s) for {topic}-{partition}: {} ms has passed since batch creation",
            age.as_millis()
        ))
    }
}

impl From<ClientError> for ProducerError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Kafka { code, message } => ProducerError::Broker { code, message },
            ClientError::Io { addr, source } => ProducerError::Network {
                addr,
                detail: source.to_string(),
            },
            ClientError::Timeout { addr, what, .. } => ProducerError::Network {
                addr,
                detail: format!("timed out waiting for {what}"),
            },
            ClientError::NoBrokerAvailable { servers, last } => ProducerError::Network {
                addr: servers,
                detail: last,
            },
            other => ProducerError::Invalid(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retriable_set_matches_java() {
        for code in [3, 5, 6, 7, 19, 20] {
            let e = ProducerError::Broker {
                code,
                message: None,
            };
            assert!(e.is_retriable(), "{code}");
        }
        for code in [10, 45, 47, 59, 87] {
            let e = ProducerError::Broker {
                code,
                message: None,
            };
            assert!(!e.is_retriable(), "{code}");
        }
        let net = ProducerError::Network {
            addr: "x".into(),
            detail: "reset".into(),
        };
        assert!(net.is_retriable() && net.needs_metadata_refresh());
    }
}
