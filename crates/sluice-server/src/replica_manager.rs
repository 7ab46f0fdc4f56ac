//! The replica manager: the partitions this node hosts, each a partition log plus its high
//! watermark and a watch that wakes delayed fetches on every append. It validates produced
//! batches (ARCHITECTURE §3) before they reach the log and maps storage errors to Kafka codes.
//! It never decodes records and never waits by polling.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use sluice_config::BrokerConfig;
use sluice_metadata::MetadataImage;
use sluice_protocol::record_batch::{BatchHeader, BatchIter};
use sluice_storage::{AppendInfo, FileRead, Log, LogError, LogManager, TopicPartition};
use tokio::sync::watch;

/// Kafka error codes used here.
pub mod codes {
    pub const NONE: i16 = 0;
    pub const OFFSET_OUT_OF_RANGE: i16 = 1;
    pub const CORRUPT_MESSAGE: i16 = 2;
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    pub const NOT_LEADER_OR_FOLLOWER: i16 = 6;
    pub const MESSAGE_TOO_LARGE: i16 = 10;
    pub const INVALID_TOPIC_EXCEPTION: i16 = 17;
    pub const RECORD_LIST_TOO_LARGE: i16 = 18;
    pub const INVALID_REQUIRED_ACKS: i16 = 21;
    pub const UNSUPPORTED_VERSION: i16 = 35;
    pub const INVALID_REQUEST: i16 = 42;
    pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
    pub const INVALID_PRODUCER_EPOCH: i16 = 47;
    pub const KAFKA_STORAGE_ERROR: i16 = 56;
    pub const UNKNOWN_SERVER_ERROR: i16 = -1;
    pub const INVALID_RECORD: i16 = 87;
    pub const UNKNOWN_TOPIC_ID: i16 = 100;
}

/// A hosted partition: its log, and a watch of its log end offset that delayed fetches wait on.
pub struct Partition {
    pub tp: TopicPartition,
    pub log: Arc<Log>,
    pub leader_epoch: i32,
    leo: watch::Sender<i64>,
}

impl Partition {
    /// Single node: every appended batch is committed at once, so HW = LEO. Replication
    /// replaces this with min LEO over the ISR.
    pub fn high_watermark(&self) -> i64 {
        self.log.log_end_offset()
    }

    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.leo.subscribe()
    }

    /// How many delayed fetches are currently waiting on this partition.
    pub fn waiting_fetches(&self) -> usize {
        self.leo.receiver_count()
    }
}

/// Why a produce to one partition failed, as the Kafka code and message to return.
#[derive(Debug, Clone)]
pub struct ProduceError {
    pub code: i16,
    pub message: String,
}

impl ProduceError {
    fn new(code: i16, message: impl Into<String>) -> Self {
        ProduceError {
            code,
            message: message.into(),
        }
    }
}

pub fn log_error_code(e: &LogError) -> i16 {
    if matches!(e, LogError::Io(_) | LogError::InconsistentLogDir { .. }) {
        tracing::error!(error = %e, "storage error");
    }
    e.kafka_code()
}

pub struct ReplicaManager {
    logs: LogManager,
    node_id: i32,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
}

impl ReplicaManager {
    pub fn new(logs: LogManager, node_id: i32) -> Self {
        ReplicaManager {
            logs,
            node_id,
            partitions: RwLock::new(HashMap::new()),
        }
    }

    pub fn log_manager(&self) -> &LogManager {
        &self.logs
    }

    pub fn get(&self, tp: &TopicPartition) -> Option<Arc<Partition>> {
        read(&self.partitions).get(tp).cloned()
    }

    pub fn get_by_name(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        self.get(&TopicPartition::new(topic, partition))
    }

    /// Creates logs for partitions of the image this node hosts and drops (deletes) logs of
    /// topics that no longer exist. Blocking (file creation/deletion): call off async workers.
    pub fn sync_with_image(
        &self,
        image: &MetadataImage,
        config: &BrokerConfig,
    ) -> Result<(), LogError> {
        let mut wanted: HashMap<TopicPartition, (uuid::Uuid, i32)> = HashMap::new();
        for topic in image.topics.values() {
            for p in &topic.partitions {
                if p.replicas.contains(&self.node_id) {
                    wanted.insert(
                        TopicPartition::new(topic.name.clone(), p.partition),
                        (topic.topic_id, p.leader_epoch),
                    );
                }
            }
        }
        let mut parts = write(&self.partitions);
        let stale: Vec<TopicPartition> = parts
            .keys()
            .filter(|tp| !wanted.contains_key(*tp))
            .cloned()
            .collect();
        for tp in stale {
            parts.remove(&tp);
            self.logs.delete(&tp)?;
            tracing::info!(partition = %tp, "deleted partition log");
        }
        // Logs on disk whose topic is gone (deleted while we were down) go too.
        for (tp, _) in self.logs.partitions() {
            if !wanted.contains_key(&tp) {
                self.logs.delete(&tp)?;
                tracing::info!(partition = %tp, "deleted log of a removed topic");
            }
        }
        // Resolved once per topic: the log settings and compaction settings of its partitions.
        let mut topic_configs = HashMap::new();
        for (tp, (topic_id, leader_epoch)) in wanted {
            let (log_config, compaction) = topic_configs
                .entry(tp.topic.clone())
                .or_insert_with(|| {
                    let overrides = image.topic_config(&tp.topic);
                    let log_config = sluice_config::topic_log_config(config, &overrides)
                        .unwrap_or_else(|_| config.log_config());
                    let compaction = sluice_config::topic_compaction_config(config, &overrides);
                    (log_config, compaction)
                })
                .clone();
            match parts.get(&tp) {
                Some(p) => {
                    p.log.update_config(log_config);
                    p.log.update_compaction_config(compaction);
                }
                None => {
                    let log = self
                        .logs
                        .get_or_create(&tp, *topic_id.as_bytes(), log_config)?;
                    log.update_compaction_config(compaction);
                    let (leo, _) = watch::channel(log.log_end_offset());
                    parts.insert(
                        tp.clone(),
                        Arc::new(Partition {
                            tp,
                            log,
                            leader_epoch,
                            leo,
                        }),
                    );
                }
            }
        }
        Ok(())
    }

    /// Validates and appends the records of one partition of a Produce request.
    /// Kafka requires exactly one v2 batch per partition for produce v3+.
    pub fn append(
        &self,
        partition: &Partition,
        records: &[u8],
        now_ms: i64,
    ) -> Result<AppendInfo, ProduceError> {
        let mut batches = BatchIter::new(records);
        let first = batches.next();
        let extra = batches.next().is_some();
        let header = match (first, batches.error()) {
            (_, Some(e)) => return Err(ProduceError::new(e.kafka_code(), e.to_string())),
            (None, None) => {
                return Err(ProduceError::new(
                    codes::INVALID_RECORD,
                    "Produce request contains no record batch",
                ))
            }
            (Some(h), None) => h,
        };
        if extra || header.total_size() != records.len() {
            return Err(ProduceError::new(
                codes::INVALID_RECORD,
                "Produce requests with version 3 and above are only allowed to contain exactly one record batch",
            ));
        }
        header
            .validate()
            .map_err(|e| ProduceError::new(e.kafka_code(), e.to_string()))?;
        validate_client_batch(&header)?;
        let config = partition.log.config();
        if header.total_size() > config.max_message_bytes.max(0) as usize {
            return Err(ProduceError::new(
                codes::MESSAGE_TOO_LARGE,
                format!(
                    "The batch size {} exceeds max.message.bytes {} of {}",
                    header.total_size(),
                    config.max_message_bytes,
                    partition.tp
                ),
            ));
        }
        // Compacted topics refuse keyless records (decodes only when the topic is compacted).
        partition
            .log
            .validate_compacted_batch(records)
            .map_err(|e| ProduceError::new(e.kafka_code(), e.to_string()))?;
        let mut owned = records.to_vec();
        let info = partition
            .log
            .append_as_leader(&mut owned, partition.leader_epoch, now_ms)
            .map_err(|e| ProduceError::new(log_error_code(&e), e.to_string()))?;
        if !info.duplicate {
            partition.leo.send_replace(info.last_offset + 1);
        }
        Ok(info)
    }

    /// Appends a batch the broker built itself (the group coordinator's
    /// `__consumer_offsets` records) as leader: none of the client-batch rules apply.
    pub fn append_internal(
        &self,
        partition: &Partition,
        batch: &mut [u8],
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let info = partition
            .log
            .append_as_leader(batch, partition.leader_epoch, now_ms)?;
        if !info.duplicate {
            partition.leo.send_replace(info.last_offset + 1);
        }
        Ok(info)
    }

    pub fn read(
        &self,
        partition: &Partition,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<Bytes, LogError> {
        let hw = partition.high_watermark();
        Ok(partition.log.read(offset, max_bytes, hw, min_one)?.records)
    }

    /// Like [`ReplicaManager::read`] but returns the file regions holding the batches, for
    /// zero-copy Fetch responses.
    pub fn read_slices(
        &self,
        partition: &Partition,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<FileRead, LogError> {
        let hw = partition.high_watermark();
        partition.log.read_slices(offset, max_bytes, hw, min_one)
    }
}

/// Checks Kafka applies to batches that come from clients.
fn validate_client_batch(h: &BatchHeader<'_>) -> Result<(), ProduceError> {
    if h.is_control() {
        return Err(ProduceError::new(
            codes::INVALID_RECORD,
            "Clients are not allowed to write control records",
        ));
    }
    if h.records_count() == 0 {
        return Err(ProduceError::new(
            codes::INVALID_RECORD,
            "Record batch contains no records",
        ));
    }
    Ok(())
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    match l.read() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    match l.write() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}
