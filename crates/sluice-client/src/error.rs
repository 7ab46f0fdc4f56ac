//! The client's error type and the mapping of Kafka error codes to Kafka's names
//! (`UNKNOWN_TOPIC_OR_PARTITION`, `TOPIC_ALREADY_EXISTS`, ...). Owns no I/O; must never panic
//! on an unknown code (unknown codes render as `UNKNOWN_ERROR_CODE_<n>`).

use std::time::Duration;

use sluice_protocol::kafka_protocol::ResponseError;

/// Result alias used across the client.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// Everything that can go wrong talking to a Kafka-compatible broker.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// TCP connect/read/write failure.
    #[error("connection to {addr} failed: {source}")]
    Io {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// A call did not complete within its timeout.
    #[error("timed out after {}ms waiting for {what} from {addr}", timeout.as_millis())]
    Timeout {
        addr: String,
        what: String,
        timeout: Duration,
    },
    /// The broker answered with a Kafka error code.
    #[error("{}", kafka_display(*code, message.as_deref()))]
    Kafka { code: i16, message: Option<String> },
    /// The broker does not support an API (or no version in common).
    #[error("the broker at {addr} does not support {api} in any version this client speaks")]
    UnsupportedApi { addr: String, api: String },
    /// Bytes from the broker could not be decoded.
    #[error("protocol error from {addr}: {detail}")]
    Protocol { addr: String, detail: String },
    /// None of the bootstrap servers could be reached.
    #[error("could not connect to any of the bootstrap servers {servers}: {last}")]
    NoBrokerAvailable { servers: String, last: String },
    /// Bad input from the caller (unknown partition, empty bootstrap list, ...).
    #[error("{0}")]
    Invalid(String),
    /// The consumer has no position for these partitions and `auto.offset.reset` is `none`
    /// (Kafka's NoOffsetForPartitionException).
    #[error("Undefined offset with no reset policy for partitions: [{}]", partitions.join(", "))]
    NoOffsetForPartition { partitions: Vec<String> },
    /// A consumer call was interrupted by `WakeupHandle::wakeup` (Kafka's WakeupException).
    #[error("the consumer was woken up")]
    Wakeup,
    /// An offset commit of a group member that is no longer part of the group's current
    /// generation (Kafka's CommitFailedException): it left after `max.poll.interval.ms`
    /// without a `poll`, or the coordinator answered UNKNOWN_MEMBER_ID / ILLEGAL_GENERATION.
    /// Not retriable as is: the next `poll` rejoins, and the partitions may have moved.
    /// `code()` is the broker's error code when there was one.
    #[error("{message}")]
    CommitFailed { code: Option<i16>, message: String },
}

impl ClientError {
    /// A Kafka error from a non-zero code, `None` for code 0.
    pub fn from_code(code: i16, message: Option<String>) -> Option<Self> {
        (code != 0).then_some(ClientError::Kafka { code, message })
    }

    /// The Kafka error code, if this is a broker error.
    pub fn code(&self) -> Option<i16> {
        match self {
            ClientError::Kafka { code, .. } => Some(*code),
            ClientError::CommitFailed { code, .. } => *code,
            _ => None,
        }
    }

    /// True for errors after which fresh metadata may help (leader moved, topic appeared).
    pub fn needs_metadata_refresh(&self) -> bool {
        matches!(
            self.code(),
            Some(codes::NOT_LEADER_OR_FOLLOWER)
                | Some(codes::UNKNOWN_TOPIC_OR_PARTITION)
                | Some(codes::LEADER_NOT_AVAILABLE)
                | Some(codes::FENCED_LEADER_EPOCH)
                | Some(codes::UNKNOWN_LEADER_EPOCH)
                | Some(codes::NOT_CONTROLLER)
        ) || matches!(self, ClientError::Io { .. } | ClientError::Timeout { .. })
    }
}

impl ClientError {
    /// Kafka's CommitFailedException for a member that is not (or no longer) in the group's
    /// current generation; `code` is the broker's answer, if the commit got that far.
    pub fn commit_failed(group: &str, code: Option<i16>) -> Self {
        let why = match code {
            Some(c) => format!("the coordinator answered {}", error_name(c)),
            None => "this member is not part of an active group".to_string(),
        };
        ClientError::CommitFailed {
            code,
            message: format!(
                "Commit cannot be completed for group {group}: {why}; the group has likely rebalanced and given the partitions to another member. This happens when poll() is not called within max.poll.interval.ms: raise max.poll.interval.ms or lower max.poll.records. The next poll() rejoins the group."
            ),
        }
    }
}

fn kafka_display(code: i16, message: Option<&str>) -> String {
    match message {
        Some(m) if !m.is_empty() => format!("{m} ({})", error_name(code)),
        _ => error_name(code),
    }
}

/// Kafka error codes the client branches on.
pub mod codes {
    pub const OFFSET_OUT_OF_RANGE: i16 = 1;
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    pub const LEADER_NOT_AVAILABLE: i16 = 5;
    pub const NOT_LEADER_OR_FOLLOWER: i16 = 6;
    pub const NOT_CONTROLLER: i16 = 41;
    pub const TOPIC_ALREADY_EXISTS: i16 = 36;
    pub const UNSUPPORTED_VERSION: i16 = 35;
    pub const INVALID_PARTITIONS: i16 = 37;
    pub const FENCED_LEADER_EPOCH: i16 = 74;
    pub const UNKNOWN_LEADER_EPOCH: i16 = 75;
    pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    pub const NOT_COORDINATOR: i16 = 16;
    pub const ILLEGAL_GENERATION: i16 = 22;
    pub const UNKNOWN_MEMBER_ID: i16 = 25;
    pub const REBALANCE_IN_PROGRESS: i16 = 27;
    pub const NON_EMPTY_GROUP: i16 = 68;
    pub const GROUP_ID_NOT_FOUND: i16 = 69;
    pub const MEMBER_ID_REQUIRED: i16 = 79;
    pub const FENCED_INSTANCE_ID: i16 = 82;
    pub const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;
}

/// Kafka's name for an error code, e.g. 3 → `UNKNOWN_TOPIC_OR_PARTITION`.
pub fn error_name(code: i16) -> String {
    if code == 0 {
        return "NONE".to_string();
    }
    match ResponseError::try_from_code(code) {
        Some(ResponseError::Unknown(_)) | None => format!("UNKNOWN_ERROR_CODE_{code}"),
        Some(e) => {
            // kafka-protocol names variants in CamelCase after Kafka's Errors enum.
            let camel = e.to_string();
            let mut out = String::with_capacity(camel.len() + 8);
            for (i, ch) in camel.chars().enumerate() {
                if ch.is_ascii_uppercase() && i > 0 {
                    out.push('_');
                }
                out.push(ch.to_ascii_uppercase());
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_kafka() {
        assert_eq!(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(error_name(36), "TOPIC_ALREADY_EXISTS");
        assert_eq!(error_name(37), "INVALID_PARTITIONS");
        assert_eq!(error_name(6), "NOT_LEADER_OR_FOLLOWER");
        assert_eq!(error_name(-1), "UNKNOWN_SERVER_ERROR");
        assert_eq!(error_name(9999), "UNKNOWN_ERROR_CODE_9999");
    }

    #[test]
    fn display_prefers_broker_message() {
        let e = ClientError::from_code(36, Some("Topic 'a' already exists.".into())).unwrap();
        assert_eq!(
            e.to_string(),
            "Topic 'a' already exists. (TOPIC_ALREADY_EXISTS)"
        );
        let e = ClientError::from_code(3, None).unwrap();
        assert_eq!(e.to_string(), "UNKNOWN_TOPIC_OR_PARTITION");
    }
}
