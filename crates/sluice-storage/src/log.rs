//! `Log`: one partition's log — the ordered segments, log start / end offsets, the recovery
//! point, producer state and the leader-epoch cache. Owns the leader's append path (under a
//! per-partition mutex, page-cache writes only), rolling, flushing, retention and DeleteRecords.
//! Reads, loading and the replication side (follower append, high watermark, truncation) live in
//! `log_read.rs`, `log_load.rs` and `log_replica.rs`. Never fsyncs on the append path and never
//! holds a lock across a data read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, RwLock};

use sluice_protocol::record_batch::{
    set_base_offset, set_log_append_time_split, set_partition_leader_epoch, BatchHeader,
    HEADER_SIZE,
};

use crate::epoch_cache::LeaderEpochCache;
use crate::producer_state::{self, ProducerBatch, ProducerStateManager};
use crate::segment::{BatchInfo, Segment};
use crate::{AppendInfo, CompactionConfig, LogConfig, LogError, TimestampType, TopicPartition};

/// Wakes the flusher thread (group commit) when a log has `flush.messages` unflushed.
#[derive(Default)]
pub(crate) struct FlushSignal {
    pub pending: Mutex<bool>,
    pub cv: Condvar,
}

impl FlushSignal {
    pub fn notify(&self) {
        *self.pending.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cv.notify_all();
    }
}

pub(crate) struct AppendState {
    pub producers: ProducerStateManager,
    pub epochs: LeaderEpochCache,
    pub epochs_dirty: bool,
}

/// One partition's log. `Send + Sync`; share it behind an `Arc`.
pub struct Log {
    pub(crate) tp: TopicPartition,
    pub(crate) tp_name: String,
    pub(crate) dir: PathBuf,
    pub(crate) topic_id: [u8; 16],
    pub(crate) config: RwLock<LogConfig>,
    pub(crate) segments: RwLock<BTreeMap<i64, Arc<Segment>>>,
    pub(crate) log_start: AtomicI64,
    pub(crate) leo: AtomicI64,
    pub(crate) recovery_point: AtomicI64,
    /// The high watermark: in [log start, LEO]; raised by the replica manager, lowered only by
    /// truncation (see `log_replica.rs`).
    pub(crate) high_watermark: AtomicI64,
    pub(crate) append: Mutex<AppendState>,
    pub(crate) flush_lock: Mutex<()>,
    pub(crate) unflushed_messages: AtomicU64,
    pub(crate) last_flush_ms: AtomicI64,
    pub(crate) flush_signal: OnceLock<Arc<FlushSignal>>,
    pub(crate) deleted: AtomicBool,
    /// Compaction settings (see `cleaner.rs`).
    pub(crate) compaction: RwLock<CompactionConfig>,
    /// The cleaner checkpoint: first dirty offset (-1 = none yet, the log start is used).
    pub(crate) cleaner_checkpoint: AtomicI64,
    /// Held while the cleaner works on this log (one cleaner per log at a time).
    pub(crate) clean_lock: Mutex<()>,
    /// Bumped by every truncation, so a cleaner that read segments before one aborts its swap.
    pub(crate) truncations: AtomicU64,
    /// Earliest delete horizon of a tombstone the cleaner kept (i64::MAX = none known).
    pub(crate) next_delete_horizon: AtomicI64,
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(crate) fn producer_batch(h: &BatchHeader<'_>) -> ProducerBatch {
    ProducerBatch {
        producer_id: h.producer_id(),
        epoch: h.producer_epoch(),
        first_seq: h.base_sequence(),
        last_seq: h.last_sequence(),
        is_control: h.is_control(),
    }
}

impl Log {
    pub fn topic_partition(&self) -> &TopicPartition {
        &self.tp
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn log_start_offset(&self) -> i64 {
        self.log_start.load(Ordering::Acquire)
    }
    pub fn log_end_offset(&self) -> i64 {
        self.leo.load(Ordering::Acquire)
    }
    /// Offset up to which everything is fsynced.
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point.load(Ordering::Acquire)
    }
    pub fn topic_id(&self) -> [u8; 16] {
        self.topic_id
    }
    pub fn config(&self) -> LogConfig {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    pub fn update_config(&self, config: LogConfig) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = config;
    }
    pub fn compaction_config(&self) -> CompactionConfig {
        self.compaction
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    pub fn update_compaction_config(&self, config: CompactionConfig) {
        *self.compaction.write().unwrap_or_else(|e| e.into_inner()) = config;
    }
    pub fn size_bytes(&self) -> u64 {
        self.segment_list().iter().map(|s| s.size()).sum()
    }
    pub fn num_segments(&self) -> usize {
        self.segments_read().len()
    }
    pub fn latest_epoch(&self) -> Option<i32> {
        self.lock_append().epochs.latest_epoch()
    }
    /// OffsetForLeaderEpoch (Kafka semantics; None = UNDEFINED epoch/offset).
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        let st = self.lock_append();
        st.epochs.end_offset_for(epoch, self.log_end_offset())
    }
    /// Messages appended since the last flush.
    pub fn unflushed_messages(&self) -> u64 {
        self.unflushed_messages.load(Ordering::Relaxed)
    }

    pub(crate) fn lock_append(&self) -> MutexGuard<'_, AppendState> {
        self.append.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub(crate) fn segments_read(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, BTreeMap<i64, Arc<Segment>>> {
        self.segments.read().unwrap_or_else(|e| e.into_inner())
    }
    pub(crate) fn segments_write(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, BTreeMap<i64, Arc<Segment>>> {
        self.segments.write().unwrap_or_else(|e| e.into_inner())
    }
    pub(crate) fn segment_list(&self) -> Vec<Arc<Segment>> {
        self.segments_read().values().cloned().collect()
    }
    pub(crate) fn active_segment(&self) -> Option<Arc<Segment>> {
        self.segments_read().values().next_back().cloned()
    }

    pub(crate) fn out_of_range(&self, offset: i64) -> LogError {
        LogError::OffsetOutOfRange {
            tp: self.tp_name.clone(),
            offset,
            log_start_offset: self.log_start_offset(),
            log_end_offset: self.log_end_offset(),
        }
    }

    pub(crate) fn check_alive(&self) -> Result<(), LogError> {
        if self.deleted.load(Ordering::Acquire) {
            return Err(LogError::Deleted(self.tp_name.clone()));
        }
        Ok(())
    }

    /// Appends exactly one already-validated v2 batch as leader: assigns offsets from the log
    /// end, patches the leader epoch (and LogAppendTime if configured), runs the idempotent
    /// producer checks, writes it to the active segment (rolling first if needed). No fsync.
    /// The batch in `batch` is patched in place as written.
    pub fn append_as_leader(
        &self,
        batch: &mut [u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let mut head = [0u8; HEADER_SIZE];
        let info = self.append_leader_parts(batch, &mut head, leader_epoch, now_ms)?;
        if !info.duplicate {
            batch[..HEADER_SIZE].copy_from_slice(&head);
        }
        Ok(info)
    }

    /// [`Log::append_as_leader`] for a batch the caller cannot (or need not) mutate, e.g. a
    /// slice of a Produce request's buffer: the 61-byte header is copied and patched, and the
    /// segment gets the patched header plus the untouched rest of `batch` in one `pwritev`, so
    /// the batch body is never copied in user space.
    pub fn append_as_leader_shared(
        &self,
        batch: &[u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let mut head = [0u8; HEADER_SIZE];
        self.append_leader_parts(batch, &mut head, leader_epoch, now_ms)
    }

    /// Shared body of the leader appends: `head` receives the patched header of `batch`
    /// (valid once the call returns a non-duplicate append).
    fn append_leader_parts(
        &self,
        batch: &[u8],
        head: &mut [u8; HEADER_SIZE],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        self.check_alive()?;
        let (pb, last_delta, count, max_ts) = {
            let h = BatchHeader::parse(batch)?;
            if h.total_size() != batch.len() {
                return Err(LogError::Corrupt(format!(
                    "expected exactly one batch of {} bytes, got {}",
                    h.total_size(),
                    batch.len()
                )));
            }
            (
                producer_batch(&h),
                h.last_offset_delta(),
                h.records_count(),
                h.max_timestamp(),
            )
        };
        // parse() guarantees at least HEADER_SIZE bytes.
        head.copy_from_slice(&batch[..HEADER_SIZE]);
        let rest = &batch[HEADER_SIZE..];
        let config = self.config();
        if batch.len() as u64 > config.segment_bytes.min(i32::MAX as u64) {
            return Err(LogError::RecordBatchTooLarge {
                size: batch.len(),
                segment_bytes: config.segment_bytes,
            });
        }
        let mut st = self.lock_append();
        self.check_alive()?;
        if let Some((first, last)) = st.producers.check(&self.tp_name, &pb)? {
            return Ok(AppendInfo {
                base_offset: first,
                last_offset: last,
                log_append_time: -1,
                log_start_offset: self.log_start_offset(),
                duplicate: true,
            });
        }
        let base = self.log_end_offset();
        set_base_offset(head, base);
        set_partition_leader_epoch(head, leader_epoch);
        let (log_append_time, max_ts) = if config.timestamp_type == TimestampType::LogAppendTime {
            set_log_append_time_split(head, rest, now_ms);
            (now_ms, now_ms)
        } else {
            (-1, max_ts)
        };
        let last = base + last_delta as i64;
        let info = BatchInfo {
            last_offset: last,
            max_ts,
            size: batch.len() as u64,
        };
        let mut active = self.active_segment().ok_or_else(|| self.no_segment())?;
        if active.should_roll(
            batch.len() as u64,
            last,
            config.segment_bytes,
            config.segment_ms,
            config.segment_index_bytes,
            now_ms,
        ) {
            active = self.roll_locked(&st, base)?;
        }
        active.append_parts(&head[..], rest, info, config.index_interval_bytes)?;
        st.producers.update(&pb, base, last, info.max_ts);
        if st.epochs.assign(leader_epoch, base) {
            st.epochs_dirty = true;
        }
        self.leo.store(last + 1, Ordering::Release);
        drop(st);
        let n = self
            .unflushed_messages
            .fetch_add(count.max(1) as u64, Ordering::Relaxed)
            + count.max(1) as u64;
        if n >= config.flush_messages {
            if let Some(sig) = self.flush_signal.get() {
                sig.notify();
            }
        }
        Ok(AppendInfo {
            base_offset: base,
            last_offset: last,
            log_append_time,
            log_start_offset: self.log_start_offset(),
            duplicate: false,
        })
    }

    pub(crate) fn no_segment(&self) -> LogError {
        LogError::Corrupt(format!("{} has no segment", self.tp_name))
    }

    /// Seals the active segment and starts a new one at `new_base` (== LEO). Called with the
    /// append lock held; writes a producer snapshot at the new base (page cache only).
    pub(crate) fn roll_locked(
        &self,
        st: &AppendState,
        new_base: i64,
    ) -> Result<Arc<Segment>, LogError> {
        if let Some(old) = self.active_segment() {
            if old.base_offset == new_base {
                return Ok(old);
            }
            old.seal();
            old.persist_indexes()?;
        }
        let seg = Arc::new(Segment::create(&self.dir, new_base)?);
        self.segments_write().insert(new_base, seg.clone());
        if let Err(e) = producer_state::write_snapshot(&self.dir, new_base, &st.producers, false) {
            tracing::warn!(tp = %self.tp_name, error = %e, "could not write producer snapshot");
        }
        tracing::debug!(tp = %self.tp_name, base = new_base, "rolled segment");
        Ok(seg)
    }

    /// Rolls the active segment if it is older than segment.ms (background roll).
    pub fn maybe_roll_for_time(&self, now_ms: i64) -> Result<bool, LogError> {
        let config = self.config();
        let st = self.lock_append();
        let Some(active) = self.active_segment() else {
            return Ok(false);
        };
        // Kafka: a compacted log also rolls when its active segment is older than
        // max.compaction.lag.ms, so the cleaner can reach those records.
        let roll_ms = if config.cleanup_compact {
            config
                .segment_ms
                .min(self.compaction_config().max_compaction_lag_ms)
        } else {
            config.segment_ms
        };
        let old = {
            let m = active.meta();
            m.size > 0
                && m.rolling_ts
                    .is_some_and(|t| now_ms.saturating_sub(t) > roll_ms)
        };
        if old {
            self.roll_locked(&st, self.log_end_offset())?;
        }
        Ok(old)
    }

    /// fsyncs every segment with unflushed data (and its index files) and the leader-epoch
    /// checkpoint, then advances the recovery point to the LEO seen at the start.
    pub fn flush(&self) -> Result<(), LogError> {
        let _f = self.flush_lock.lock().unwrap_or_else(|e| e.into_inner());
        let target = self.log_end_offset();
        self.unflushed_messages.store(0, Ordering::Relaxed);
        let rp = self.recovery_point();
        for seg in self.segment_list() {
            if seg.next_offset() > rp || seg.meta().index_dirty {
                seg.flush()?;
            }
        }
        let epochs = {
            let mut st = self.lock_append();
            std::mem::take(&mut st.epochs_dirty).then(|| st.epochs.clone())
        };
        if let Some(e) = epochs {
            e.write(&self.dir)?;
        }
        self.recovery_point.fetch_max(target, Ordering::AcqRel);
        self.last_flush_ms.store(now_ms(), Ordering::Relaxed);
        Ok(())
    }

    /// DeleteRecords: raises the log start offset (must be <= LEO) and deletes segments wholly
    /// below it. Returns the new log start offset.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, LogError> {
        self.check_alive()?;
        let st = self.lock_append();
        if offset > self.log_end_offset() || offset < 0 {
            return Err(self.out_of_range(offset));
        }
        if offset <= self.log_start_offset() {
            return Ok(self.log_start_offset());
        }
        self.log_start.store(offset, Ordering::Release);
        self.high_watermark.fetch_max(offset, Ordering::AcqRel);
        drop(st);
        self.delete_old_segments(|_, _| false)?;
        Ok(self.log_start_offset())
    }

    /// Retention: deletes the oldest non-active segments that are past retention.ms (by their
    /// max timestamp) or beyond retention.bytes, and those wholly below the log start offset.
    pub fn apply_retention(&self, now_ms: i64) -> Result<usize, LogError> {
        let config = self.config();
        if !config.cleanup_delete {
            return self.delete_old_segments(|_, _| false);
        }
        let mut excess = if config.retention_bytes >= 0 {
            self.size_bytes() as i64 - config.retention_bytes
        } else {
            0
        };
        self.delete_old_segments(|seg, max_ts| {
            // An empty (wholly compacted) segment has no timestamp left to keep it.
            let by_time = config.retention_ms >= 0
                && ((max_ts >= 0 && max_ts < now_ms.saturating_sub(config.retention_ms))
                    || seg.size() == 0);
            let size = seg.size() as i64;
            let by_size = config.retention_bytes >= 0 && excess >= size;
            if by_time || by_size {
                excess -= size;
                true
            } else {
                false
            }
        })
    }

    /// Deletes, oldest first, non-active segments that are wholly below the log start offset
    /// or for which `pred` holds, stopping at the first that is kept.
    fn delete_old_segments(
        &self,
        mut pred: impl FnMut(&Segment, i64) -> bool,
    ) -> Result<usize, LogError> {
        let mut st = self.lock_append();
        let start = self.log_start_offset();
        // A log start at the LEO makes the whole active segment deletable: roll first.
        if let Some(active) = self.active_segment() {
            let m_next = active.next_offset();
            if active.size() > 0 && m_next <= start {
                self.roll_locked(&st, self.log_end_offset())?;
            }
        }
        let segs = self.segment_list();
        let mut victims = Vec::new();
        for (i, seg) in segs.iter().enumerate() {
            if i + 1 == segs.len() {
                break; // never the active segment
            }
            // Kafka's rule: a segment is below the log start when the *next* segment starts at
            // or below it (a compacted segment may end before the next one starts).
            let next = segs.get(i + 1).map_or(i64::MAX, |s| s.base_offset);
            let max_ts = seg.meta().max_ts;
            if next <= start || pred(seg, max_ts) {
                victims.push(seg.clone());
            } else {
                break;
            }
        }
        if victims.is_empty() {
            if st.epochs.truncate_from_start(start) {
                st.epochs_dirty = true;
            }
            return Ok(0);
        }
        {
            let mut map = self.segments_write();
            for v in &victims {
                map.remove(&v.base_offset);
            }
        }
        for v in &victims {
            v.delete_files();
        }
        let first_base = self.segments_read().keys().next().copied().unwrap_or(start);
        let new_start = start.max(first_base);
        self.log_start.store(new_start, Ordering::Release);
        self.high_watermark.fetch_max(new_start, Ordering::AcqRel);
        if st.epochs.truncate_from_start(new_start) {
            st.epochs_dirty = true;
        }
        producer_state::delete_snapshots(&self.dir, first_base, i64::MAX);
        tracing::info!(tp = %self.tp_name, deleted = victims.len(), log_start = new_start, "deleted old segments");
        Ok(victims.len())
    }

    /// Writes a producer snapshot at the LEO (clean shutdown), fsynced.
    pub(crate) fn write_shutdown_snapshot(&self) -> Result<(), LogError> {
        let st = self.lock_append();
        producer_state::write_snapshot(&self.dir, self.log_end_offset(), &st.producers, true)
    }

    /// Loads the latest snapshot <= `upto` and replays batch headers from it up to `upto`.
    pub(crate) fn rebuild_producer_state(
        &self,
        upto: i64,
    ) -> Result<ProducerStateManager, LogError> {
        let (from, mut state) = producer_state::load_latest(&self.dir, upto)
            .unwrap_or((i64::MIN, ProducerStateManager::new()));
        for seg in self.segment_list() {
            if seg.next_offset() <= from {
                continue;
            }
            let size = seg.size();
            let start = if from > seg.base_offset {
                let rel = (from - seg.base_offset).clamp(0, u32::MAX as i64) as u32;
                seg.meta()
                    .index
                    .lookup(rel)
                    .map(|(_, p)| p as u64)
                    .unwrap_or(0)
            } else {
                0
            };
            seg.scan(start, size, |h, _| {
                if h.base_offset() >= upto {
                    return Ok(false);
                }
                if h.base_offset() >= from {
                    state.update(
                        &producer_batch(h),
                        h.base_offset(),
                        h.last_offset(),
                        h.max_timestamp(),
                    );
                }
                Ok(true)
            })?;
        }
        Ok(state)
    }
}
