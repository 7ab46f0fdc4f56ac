//! The partition log: segments, sparse offset and time indexes, recovery, retention, producer
//! state for idempotence, leader-epoch cache and log dirs (Kafka's on-disk layout). This crate
//! knows nothing of networking; it must never serve a torn or corrupt batch and never lose an
//! appended batch that was written before a crash of the process.

use std::fmt;

mod checkpoint;
mod cleaner;
mod compact_records;
mod epoch_cache;
mod file_slice;
mod index;
mod log;
mod log_load;
mod log_read;
mod log_replica;
mod manager;
pub mod meta;
mod producer_state;
mod segment;

pub use checkpoint::{
    read_offset_checkpoint, topic_id_from_base64, topic_id_to_base64, write_offset_checkpoint,
    MetaProperties,
};
pub use cleaner::{CleanStats, CleanerConfig};
pub use epoch_cache::LeaderEpochCache;
pub use file_slice::{FileRead, FileSlice};
pub use log::Log;
pub use log_replica::{DivergingEpoch, FollowerAppendInfo};
pub use manager::LogManager;
pub use producer_state::{ProducerStateManager, SnapshotError};

/// Where an appended batch landed (or, for a duplicate, where the original landed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The broker time stamped on the batch, -1 unless the topic uses LogAppendTime.
    pub log_append_time: i64,
    pub log_start_offset: i64,
    /// The batch was a retry of one already in the log; nothing was appended.
    pub duplicate: bool,
}

/// The result of [`Log::read`].
#[derive(Debug, Clone)]
pub struct ReadInfo {
    /// Whole batches, concatenated, exactly as stored (possibly empty).
    pub records: bytes::Bytes,
    /// Offset of the first batch returned (the one containing the requested offset), or the
    /// requested offset when nothing was returned.
    pub first_offset: i64,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

/// Everything that can go wrong in the log. Variants map to Kafka error codes via
/// [`LogError::kafka_code`].
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("offset {offset} is out of range [{log_start_offset}, {log_end_offset}] of {tp}")]
    OffsetOutOfRange {
        tp: String,
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    #[error("out of order sequence for producer {producer_id} of {tp}: got {found}, expected {expected}")]
    OutOfOrderSequence {
        tp: String,
        producer_id: i64,
        found: i32,
        expected: i32,
    },
    #[error("producer {producer_id} of {tp} is fenced: epoch {found} is older than {current}")]
    InvalidProducerEpoch {
        tp: String,
        producer_id: i64,
        found: i16,
        current: i16,
    },
    #[error("invalid record batch: {0}")]
    InvalidBatch(#[from] sluice_protocol::record_batch::BatchError),
    #[error("record batch of {size} bytes is larger than segment.bytes {segment_bytes}")]
    RecordBatchTooLarge { size: usize, segment_bytes: u64 },
    #[error("log dir {dir}: {reason}")]
    InconsistentLogDir { dir: String, reason: String },
    #[error("log {0} has been deleted")]
    Deleted(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// A record the log refuses (INVALID_RECORD), e.g. a keyless record for a compacted topic.
    #[error("{0}")]
    InvalidRecord(String),
    /// A follower append whose first batch starts below the log end (Kafka's
    /// UnexpectedAppendOffsetException): the fetcher must truncate or refetch.
    #[error("unexpected offset in append to {tp}: first offset {first_offset} is less than the log end offset {log_end_offset}")]
    UnexpectedAppendOffset {
        tp: String,
        first_offset: i64,
        log_end_offset: i64,
    },
    /// A follower append whose batches do not have increasing offsets (Kafka's
    /// OffsetsOutOfOrderException).
    #[error("out of order offsets in append to {tp}: batch at {base_offset} follows one ending at {previous_last_offset}")]
    OffsetsOutOfOrder {
        tp: String,
        base_offset: i64,
        previous_last_offset: i64,
    },
}

impl LogError {
    /// The Kafka error code a response should carry for this error.
    pub fn kafka_code(&self) -> i16 {
        match self {
            LogError::OffsetOutOfRange { .. } => 1,
            LogError::OutOfOrderSequence { .. } => 45,
            LogError::InvalidProducerEpoch { .. } => 47,
            LogError::InvalidBatch(e) => e.kafka_code(),
            LogError::RecordBatchTooLarge { .. } => 18,
            LogError::Deleted(_) => 3,
            LogError::InconsistentLogDir { .. } | LogError::Io(_) => 56, // KAFKA_STORAGE_ERROR
            LogError::Corrupt(_) => 2,
            LogError::InvalidRecord(_) => 87,
            // Kafka's exceptions for these are not API errors: UNKNOWN_SERVER_ERROR if they
            // ever reach a response (the fetcher handles them; they are never sent).
            LogError::UnexpectedAppendOffset { .. } | LogError::OffsetsOutOfOrder { .. } => -1,
        }
    }
}

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

/// Per-log compaction settings (Kafka topic configs; defaults are Kafka's). Kept apart from
/// [`LogConfig`] so the config crate's struct literal stays valid; the broker sets them with
/// [`Log::update_compaction_config`] when it resolves a topic's configs.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactionConfig {
    /// min.cleanable.dirty.ratio
    pub min_cleanable_dirty_ratio: f64,
    /// min.compaction.lag.ms
    pub min_compaction_lag_ms: i64,
    /// max.compaction.lag.ms
    pub max_compaction_lag_ms: i64,
    /// delete.retention.ms (how long tombstones survive after the cleaner first saw them)
    pub delete_retention_ms: i64,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        CompactionConfig {
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            delete_retention_ms: 86_400_000,
        }
    }
}
