//! The persistence boundary. Every change Kafka writes to `__consumer_offsets` (offset
//! commits and deletions, group metadata after a rebalance or when a group empties, group
//! tombstones) is handed to a `GroupLog` as a batch of `GroupRecord`s for one partition, and
//! is acknowledged or applied only after `append` succeeds. One writer task per owned
//! partition appends in the order changes were decided, so the log and memory agree; each
//! batch carries a completion that applies the change in that same order. The writer never
//! holds coordinator locks across the append.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::codes;
use crate::records::GroupRecord;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why an append to `__consumer_offsets` failed, in the terms Kafka's coordinator maps to
/// client errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupLogError {
    /// NOT_LEADER_OR_FOLLOWER / KAFKA_STORAGE_ERROR: this node no longer leads the partition.
    #[error("not the leader of the __consumer_offsets partition")]
    NotLeader,
    /// UNKNOWN_TOPIC_OR_PARTITION / NOT_ENOUGH_REPLICAS(_AFTER_APPEND): transiently unavailable.
    #[error("__consumer_offsets partition unavailable")]
    Unavailable,
    /// The append (or its replication) did not finish within `offsets.commit.timeout.ms`.
    #[error("append timed out")]
    Timeout,
    /// MESSAGE_TOO_LARGE / RECORD_LIST_TOO_LARGE.
    #[error("record batch too large")]
    TooLarge,
    #[error("{0}")]
    Other(String),
}

impl GroupLogError {
    /// Kafka's mapping for group metadata writes (GroupMetadataManager.storeGroup).
    pub fn group_error_code(&self) -> i16 {
        match self {
            GroupLogError::NotLeader => codes::NOT_COORDINATOR,
            GroupLogError::Unavailable => codes::COORDINATOR_NOT_AVAILABLE,
            GroupLogError::Timeout => codes::REBALANCE_IN_PROGRESS,
            GroupLogError::TooLarge | GroupLogError::Other(_) => codes::UNKNOWN_SERVER_ERROR,
        }
    }

    /// Kafka's mapping for offset commit writes (GroupMetadataManager.storeOffsets).
    pub fn offset_error_code(&self) -> i16 {
        match self {
            GroupLogError::NotLeader => codes::NOT_COORDINATOR,
            GroupLogError::Unavailable => codes::COORDINATOR_NOT_AVAILABLE,
            GroupLogError::Timeout => codes::REQUEST_TIMED_OUT,
            GroupLogError::TooLarge => codes::INVALID_COMMIT_OFFSET_SIZE,
            GroupLogError::Other(_) => codes::UNKNOWN_SERVER_ERROR,
        }
    }
}

/// Where the coordinator's records go: the `__consumer_offsets` partition leader's log.
/// `append` resolves once the batch is durable as Kafka requires (acks=all into the
/// partition); the coordinator bounds it with `offsets.commit.timeout.ms` and drops the
/// future on timeout, so implementations must tolerate cancellation.
pub trait GroupLog: Send + Sync + 'static {
    fn append(
        &self,
        partition: i32,
        records: Vec<GroupRecord>,
    ) -> BoxFuture<'_, Result<(), GroupLogError>>;
}

pub(crate) type Completion = Box<dyn FnOnce(Result<(), GroupLogError>) + Send>;

pub(crate) struct WriteOp {
    pub(crate) records: Vec<GroupRecord>,
    pub(crate) done: Completion,
}

/// Starts the writer of one partition; dropping the returned sender stops it after the
/// queued writes finish.
pub(crate) fn spawn_writer(
    partition: i32,
    log: Arc<dyn GroupLog>,
    capacity: usize,
    timeout: Duration,
) -> mpsc::Sender<WriteOp> {
    let (tx, mut rx) = mpsc::channel::<WriteOp>(capacity.max(1));
    tokio::spawn(async move {
        while let Some(op) = rx.recv().await {
            let result =
                match tokio::time::timeout(timeout, log.append(partition, op.records)).await {
                    Ok(r) => r,
                    Err(_) => Err(GroupLogError::Timeout),
                };
            if let Err(e) = &result {
                tracing::warn!(partition, error = %e, "__consumer_offsets append failed");
            }
            (op.done)(result);
        }
    });
    tx
}
