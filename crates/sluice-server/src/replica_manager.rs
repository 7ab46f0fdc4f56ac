//! The replica manager: the partitions this node hosts, each a partition log plus its high
//! watermark and a watch that wakes delayed fetches on every append. It validates produced
//! batches (ARCHITECTURE §3) before they reach the log and maps storage errors to Kafka codes.
//! It never decodes records and never waits by polling.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

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
    pub const REQUEST_TIMED_OUT: i16 = 7;
    pub const NOT_ENOUGH_REPLICAS: i16 = 19;
    pub const NOT_ENOUGH_REPLICAS_AFTER_APPEND: i16 = 20;
    pub const FENCED_LEADER_EPOCH: i16 = 74;
    pub const UNKNOWN_LEADER_EPOCH: i16 = 76;
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

/// A partition's place in the cluster, from the metadata image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// What the leader knows of one follower (Kafka's replica state).
#[derive(Debug, Clone, Copy)]
pub struct FollowerState {
    /// The follower's log end offset: the offset of its last fetch.
    pub leo: i64,
    /// Last time the follower had everything the leader had (replica.lag.time.max.ms).
    pub last_caught_up: Instant,
    /// The leader's LEO at the follower's previous fetch, and when that fetch came.
    last_fetch_leader_leo: i64,
    last_fetch: Instant,
}

/// A hosted partition: its log, its leader/ISR state, what the leader knows of its followers,
/// and a watch bumped on every LEO or HW change that delayed fetches and acks=all produces
/// wait on.
pub struct Partition {
    pub tp: TopicPartition,
    pub log: Arc<Log>,
    node_id: i32,
    state: RwLock<PartitionState>,
    followers: Mutex<HashMap<i32, FollowerState>>,
    /// An AlterPartition for this partition is in flight (one at a time, as Kafka).
    pub(crate) isr_change_pending: std::sync::atomic::AtomicBool,
    leo: watch::Sender<i64>,
}

impl Partition {
    /// Everything below it is on every ISR member: consumers read up to here, acks=all
    /// completes here.
    pub fn high_watermark(&self) -> i64 {
        self.log.high_watermark()
    }

    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    pub fn state(&self) -> PartitionState {
        read(&self.state).clone()
    }

    pub fn leader_epoch(&self) -> i32 {
        read(&self.state).leader_epoch
    }

    pub fn is_leader(&self) -> bool {
        read(&self.state).leader == self.node_id
    }

    /// Kafka's leadership check for client requests: only the leader answers, and a leader
    /// epoch the client knows (-1 = unknown) must be ours: older is FENCED_LEADER_EPOCH,
    /// newer UNKNOWN_LEADER_EPOCH. Returns the leader epoch on success.
    pub fn check_leader(&self, current_leader_epoch: i32) -> Result<i32, i16> {
        let st = read(&self.state);
        if st.leader != self.node_id {
            return Err(codes::NOT_LEADER_OR_FOLLOWER);
        }
        if current_leader_epoch >= 0 && current_leader_epoch < st.leader_epoch {
            return Err(codes::FENCED_LEADER_EPOCH);
        }
        if current_leader_epoch > st.leader_epoch {
            return Err(codes::UNKNOWN_LEADER_EPOCH);
        }
        Ok(st.leader_epoch)
    }

    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.leo.subscribe()
    }

    /// Wakes delayed fetches and produces.
    pub fn notify(&self) {
        self.leo.send_replace(self.log.log_end_offset());
    }

    /// How many delayed fetches are currently waiting on this partition.
    pub fn waiting_fetches(&self) -> usize {
        self.leo.receiver_count()
    }

    pub fn followers(&self) -> HashMap<i32, FollowerState> {
        lock(&self.followers).clone()
    }

    /// As leader: HW = the smallest LEO over the ISR (the leader's own LEO for itself).
    /// Followers whose LEO is not known yet hold it back. Returns true if it moved.
    pub fn maybe_advance_hw(&self) -> bool {
        let state = read(&self.state);
        if state.leader != self.node_id {
            return false;
        }
        let own = self.log.log_end_offset();
        let followers = lock(&self.followers);
        let mut hw = own;
        for b in &state.isr {
            if *b == self.node_id {
                continue;
            }
            match followers.get(b) {
                Some(f) => hw = hw.min(f.leo),
                None => return false,
            }
        }
        drop(followers);
        drop(state);
        let moved = self.log.update_high_watermark(hw);
        if moved {
            self.notify();
        }
        moved
    }

    /// As leader: records a follower's fetch at `fetch_offset` (its LEO), Kafka's rules for
    /// the caught-up time, then advances the HW. Returns true if the follower is out of the
    /// ISR but now eligible to join it (its LEO reached the HW and the current epoch).
    pub fn record_follower_fetch(&self, replica: i32, fetch_offset: i64) -> bool {
        let now = Instant::now();
        let leader_leo = self.log.log_end_offset();
        {
            let mut followers = lock(&self.followers);
            let f = followers.entry(replica).or_insert(FollowerState {
                leo: -1,
                last_caught_up: now - Duration::from_secs(3600),
                last_fetch_leader_leo: -1,
                last_fetch: now,
            });
            if fetch_offset >= leader_leo {
                f.last_caught_up = now;
            } else if fetch_offset >= f.last_fetch_leader_leo && f.last_fetch_leader_leo >= 0 {
                f.last_caught_up = f.last_caught_up.max(f.last_fetch);
            }
            f.leo = fetch_offset;
            f.last_fetch_leader_leo = leader_leo;
            f.last_fetch = now;
        }
        self.maybe_advance_hw();
        let state = read(&self.state);
        !state.isr.contains(&replica)
            && state.replicas.contains(&replica)
            && fetch_offset >= self.high_watermark()
    }

    /// Waits until the HW passes `offset` (acks=all) or leadership is lost or `deadline`.
    /// Some(true) = committed, Some(false) = no longer leader, None = timed out.
    pub async fn wait_for_hw(&self, offset: i64, deadline: tokio::time::Instant) -> Option<bool> {
        let mut rx = self.subscribe();
        loop {
            if self.high_watermark() > offset {
                return Some(true);
            }
            if !self.is_leader() {
                return Some(false);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Some(false),
                Err(_) => return None,
            }
        }
    }

    /// Takes the state from the image. Returns (was leader, is leader, leader or epoch
    /// changed).
    fn update_state(&self, next: PartitionState) -> (bool, bool, bool) {
        let mut state = write(&self.state);
        let was = state.leader == self.node_id;
        let is = next.leader == self.node_id;
        let changed = state.leader != next.leader || state.leader_epoch != next.leader_epoch;
        if changed && is {
            // A new leadership knows no follower LEO yet (the HW waits for their first
            // fetch) and gives each ISR member a full replica.lag.time.max.ms from now.
            let now = Instant::now();
            let mut followers = lock(&self.followers);
            followers.clear();
            for b in next.isr.iter().filter(|b| **b != self.node_id) {
                followers.insert(
                    *b,
                    FollowerState {
                        leo: -1,
                        last_caught_up: now,
                        last_fetch_leader_leo: -1,
                        last_fetch: now,
                    },
                );
            }
        }
        *state = next;
        (was, is, changed)
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
    /// Returns every hosted partition, its state updated from the image.
    pub fn sync_with_image(
        &self,
        image: &MetadataImage,
        config: &BrokerConfig,
    ) -> Result<Vec<Arc<Partition>>, LogError> {
        let mut wanted: HashMap<TopicPartition, (uuid::Uuid, PartitionState)> = HashMap::new();
        for topic in image.topics.values() {
            for p in &topic.partitions {
                if p.replicas.contains(&self.node_id) {
                    wanted.insert(
                        TopicPartition::new(topic.name.clone(), p.partition),
                        (
                            topic.topic_id,
                            PartitionState {
                                leader: p.leader,
                                leader_epoch: p.leader_epoch,
                                partition_epoch: p.partition_epoch,
                                replicas: p.replicas.clone(),
                                isr: p.isr.clone(),
                            },
                        ),
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
            if let Some(p) = parts.remove(&tp) {
                // Delayed produces (acks=all) and fetches still holding the partition must
                // learn that this node no longer leads it (NOT_LEADER_OR_FOLLOWER now rather
                // than a timeout).
                p.update_state(PartitionState {
                    leader: -1,
                    leader_epoch: -1,
                    partition_epoch: -1,
                    replicas: Vec::new(),
                    isr: Vec::new(),
                });
                p.notify();
            }
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
        let mut changes = Vec::new();
        for (tp, (topic_id, state)) in wanted {
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
            let partition = match parts.get(&tp) {
                Some(p) => {
                    p.log.update_config(log_config);
                    p.log.update_compaction_config(compaction);
                    p.clone()
                }
                None => {
                    let log = self
                        .logs
                        .get_or_create(&tp, *topic_id.as_bytes(), log_config)?;
                    log.update_compaction_config(compaction);
                    let (leo, _) = watch::channel(log.log_end_offset());
                    let p = Arc::new(Partition {
                        tp: tp.clone(),
                        log,
                        node_id: self.node_id,
                        // Never equal to a real state: the first update counts as a change.
                        state: RwLock::new(PartitionState {
                            leader: -2,
                            leader_epoch: -2,
                            partition_epoch: -2,
                            replicas: Vec::new(),
                            isr: Vec::new(),
                        }),
                        followers: Mutex::new(HashMap::new()),
                        isr_change_pending: std::sync::atomic::AtomicBool::new(false),
                        leo,
                    });
                    parts.insert(tp, p.clone());
                    p
                }
            };
            let (_, is_leader, changed) = partition.update_state(state);
            if is_leader {
                // The ISR may have shrunk (HW can move) or we just took over.
                partition.maybe_advance_hw();
                partition.notify();
            } else if changed {
                // Waiters (acks=all, fetches) must see the leadership change.
                partition.notify();
            }
            changes.push(partition);
        }
        Ok(changes)
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
        // Written straight from the request buffer: only the header is copied and patched.
        let epoch = partition.leader_epoch();
        let info = partition
            .log
            .append_as_leader_shared(records, epoch, now_ms)
            .map_err(|e| ProduceError::new(log_error_code(&e), e.to_string()))?;
        if !info.duplicate {
            partition.maybe_advance_hw();
            partition.notify();
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
            .append_as_leader(batch, partition.leader_epoch(), now_ms)?;
        if !info.duplicate {
            partition.maybe_advance_hw();
            partition.notify();
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

    /// What a follower fetch reads: everything up to the log end, not just the HW.
    pub fn read_slices_for_follower(
        &self,
        partition: &Partition,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<FileRead, LogError> {
        let leo = partition.log.log_end_offset();
        partition.log.read_slices(offset, max_bytes, leo, min_one)
    }

    /// Hosted partitions.
    pub fn all(&self) -> Vec<Arc<Partition>> {
        read(&self.partitions).values().cloned().collect()
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
