//! The partition log: segments, sparse offset and time indexes, recovery, retention, producer
//! state for idempotence, leader-epoch cache and log dirs (Kafka's on-disk layout). This crate
//! knows nothing of networking; it must never serve a torn or corrupt batch and never lose an
//! appended batch that was written before a crash of the process.

use std::fmt;

/// A topic partition, named as Kafka names it (`<topic>-<partition>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// How batch timestamps are set (`message.timestamp.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// Per-log settings, resolved from broker defaults and topic overrides by the server.
/// Field names follow Kafka's topic config names; defaults are Kafka's.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// segment.bytes
    pub segment_bytes: u64,
    /// segment.ms
    pub segment_ms: i64,
    /// segment.index.bytes (max size of one .index/.timeindex file)
    pub segment_index_bytes: u64,
    /// index.interval.bytes
    pub index_interval_bytes: u64,
    /// retention.ms (-1 = unlimited)
    pub retention_ms: i64,
    /// retention.bytes (-1 = unlimited)
    pub retention_bytes: i64,
    /// flush.messages
    pub flush_messages: u64,
    /// flush.ms
    pub flush_ms: i64,
    /// file.delete.delay.ms
    pub file_delete_delay_ms: i64,
    /// max.message.bytes (checked by the server before append)
    pub max_message_bytes: i32,
    /// message.timestamp.type
    pub timestamp_type: TimestampType,
    /// cleanup.policy contains "delete"
    pub cleanup_delete: bool,
    /// cleanup.policy contains "compact"
    pub cleanup_compact: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            segment_index_bytes: 10 * 1024 * 1024,
            index_interval_bytes: 4096,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            flush_messages: u64::MAX,
            flush_ms: i64::MAX,
            file_delete_delay_ms: 60_000,
            max_message_bytes: 1_048_588,
            timestamp_type: TimestampType::CreateTime,
            cleanup_delete: true,
            cleanup_compact: false,
        }
    }
}
