//! The group coordinator's storage: `__consumer_offsets` on this node's replica manager.
//! `ReplicaGroupLog` implements `sluice_group::GroupLog` by encoding a batch of
//! `GroupRecord`s into one uncompressed v2 RecordBatch and appending it as leader;
//! `load_partition_records` reads a partition back (log start → HW) for
//! `GroupCoordinator::load_partition`. Creating the topic and deciding which partitions to
//! load live in `broker.rs`; this file never decides group state.

use std::sync::Weak;

use sluice_group::{BoxFuture, GroupLog, GroupLogError, GroupRecord};
use sluice_protocol::encode::{encode_new_batch, NewRecord};
use sluice_protocol::kafka_protocol::records::{Compression, RecordBatchDecoder};
use sluice_storage::LogError;

use crate::broker::Broker;
use crate::handlers::now_ms;
use crate::replica_manager::{codes, Partition};

/// Kafka's internal topic of group metadata and committed offsets.
pub const CONSUMER_OFFSETS: &str = "__consumer_offsets";

/// Bytes read per chunk while loading a partition.
const LOAD_CHUNK_BYTES: usize = 1 << 20;

/// `GroupLog` over the broker's `__consumer_offsets` partitions.
pub struct ReplicaGroupLog {
    broker: Weak<Broker>,
}

impl ReplicaGroupLog {
    pub fn new(broker: Weak<Broker>) -> Self {
        ReplicaGroupLog { broker }
    }
}

impl GroupLog for ReplicaGroupLog {
    fn append(
        &self,
        partition: i32,
        records: Vec<GroupRecord>,
    ) -> BoxFuture<'_, Result<(), GroupLogError>> {
        Box::pin(async move {
            let broker = self.broker.upgrade().ok_or(GroupLogError::NotLeader)?;
            if records.is_empty() {
                return Ok(());
            }
            let image = broker.image();
            let leader = image
                .topic(CONSUMER_OFFSETS)
                .and_then(|t| t.partitions.get(partition as usize))
                .map(|p| p.leader);
            match leader {
                None => return Err(GroupLogError::Unavailable),
                Some(l) if l != broker.node_id => return Err(GroupLogError::NotLeader),
                Some(_) => {}
            }
            let p = broker
                .replicas
                .get_by_name(CONSUMER_OFFSETS, partition)
                .ok_or(GroupLogError::NotLeader)?;
            let mut batch = encode_batch(&records)?;
            let max = p.log.config().max_message_bytes.max(0) as usize;
            if batch.len() > max {
                return Err(GroupLogError::TooLarge);
            }
            // One pwrite into the page cache, as produce does on the caller; then, as Kafka's
            // coordinator (acks=all), wait until the ISR has it.
            let info = broker
                .replicas
                .append_internal(&p, &mut batch, now_ms())
                .map_err(|e| match e {
                    LogError::Deleted(_) => GroupLogError::NotLeader,
                    other => match other.kafka_code() {
                        codes::MESSAGE_TOO_LARGE | codes::RECORD_LIST_TOO_LARGE => {
                            GroupLogError::TooLarge
                        }
                        codes::NOT_LEADER_OR_FOLLOWER | codes::KAFKA_STORAGE_ERROR => {
                            GroupLogError::NotLeader
                        }
                        _ => GroupLogError::Other(other.to_string()),
                    },
                })?;
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
            match p.wait_for_hw(info.last_offset, deadline).await {
                Some(true) => Ok(()),
                Some(false) => Err(GroupLogError::NotLeader),
                None => Err(GroupLogError::Unavailable),
            }
        })
    }
}

/// One uncompressed v2 batch: key = `encode_key()`, value = `encode_value()` (null for
/// tombstones), no producer id.
pub fn encode_batch(records: &[GroupRecord]) -> Result<Vec<u8>, GroupLogError> {
    let now = now_ms();
    let recs: Vec<NewRecord> = records
        .iter()
        .map(|r| NewRecord {
            key: Some(r.encode_key()),
            value: r.encode_value(),
            headers: Vec::new(),
            timestamp: now,
        })
        .collect();
    encode_new_batch(&recs, Compression::None)
        .map(|b| b.to_vec())
        .map_err(|e| GroupLogError::Other(format!("__consumer_offsets: {e}")))
}

/// Reads a `__consumer_offsets` partition from log start to its end and decodes its records.
/// Undecodable records are skipped with a warning (Kafka logs and skips unknown keys).
/// Blocking (file reads): call off the async workers.
pub fn load_partition_records(p: &Partition) -> Result<Vec<GroupRecord>, LogError> {
    // A new leader's log is the truth: load all of it (its HW catches up once followers
    // fetch), as Kafka's coordinator loads up to the log end.
    let hw = p.log.log_end_offset();
    let mut offset = p.log.log_start_offset();
    let mut out = Vec::new();
    while offset < hw {
        let read = p.log.read(offset, LOAD_CHUNK_BYTES, hw, true)?;
        if read.records.is_empty() {
            break;
        }
        let mut buf = read.records.clone();
        let mut next = offset;
        while !buf.is_empty() {
            let set = match RecordBatchDecoder::decode(&mut buf) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(partition = %p.tp, offset = next, error = %e,
                        "undecodable batch in __consumer_offsets; stopping load here");
                    return Ok(out);
                }
            };
            for r in set.records {
                next = next.max(r.offset + 1);
                if r.control {
                    continue;
                }
                let Some(key) = r.key else { continue };
                match GroupRecord::decode(&key, r.value.as_deref()) {
                    Ok(rec) => out.push(rec),
                    Err(e) => {
                        tracing::warn!(partition = %p.tp, offset = r.offset, error = %e,
                            "skipping undecodable __consumer_offsets record")
                    }
                }
            }
        }
        if next <= offset {
            break;
        }
        offset = next;
    }
    Ok(out)
}
