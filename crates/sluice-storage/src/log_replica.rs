//! The replication side of `Log` (Kafka's UnifiedLog paths used by the replica fetcher and the
//! partition leader): appending batches exactly as the leader wrote them, the high watermark,
//! truncation (to an offset, or fully to restart at the leader's log start) and the KIP-320
//! divergence check a leader runs on a follower's fetch position. It never rewrites a replicated
//! batch, never lets the high watermark leave [log start, log end], and never fsyncs on the
//! append path.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use sluice_protocol::record_batch::{BatchError, BatchHeader, BatchIter};

use crate::epoch_cache::LeaderEpochCache;
use crate::log::{producer_batch, AppendState};
use crate::producer_state::{self, ProducerStateManager};
use crate::segment::{validate_stored, BatchInfo, Segment};
use crate::{Log, LogError};

/// What [`Log::append_as_follower`] appended (Kafka's LogAppendInfo, follower side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerAppendInfo {
    /// Base offset of the first batch appended; -1 when nothing was.
    pub first_offset: i64,
    /// Last offset of the last batch appended; -1 when nothing was.
    pub last_offset: i64,
    /// Complete batches appended (a truncated trailing batch is not one).
    pub batches: usize,
    /// Records those batches declare (`recordsCount`; compacted batches may hold fewer than
    /// their offset range).
    pub records: u64,
    /// Bytes appended.
    pub bytes: usize,
    /// The log end offset after the append.
    pub log_end_offset: i64,
}

/// Where a follower's log diverged from the leader's (Fetch v12+ `DivergingEpoch`): the
/// follower truncates to at most `end_offset` (after its own epoch lookup) before fetching on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DivergingEpoch {
    pub epoch: i32,
    pub end_offset: i64,
}

impl Log {
    /// Appends one or more v2 batches exactly as the leader wrote them (offsets, leader epochs
    /// and timestamps kept), as a follower does with a fetch response's records.
    ///
    /// Every complete batch is checked first (CRC, magic, codec, record count; compacted
    /// batches may have fewer records than offsets): nothing is written if one fails. Base
    /// offsets must be at or above the log end and strictly increasing; gaps are allowed
    /// (compacted leaders send them). A truncated batch at the end — a fetch response is cut at
    /// its byte limit — is ignored. The leader-epoch cache gets an entry for every new
    /// `partitionLeaderEpoch`; producer state is updated from the batch headers without
    /// checks so that it matches the leader's (an idempotent retry after a failover is still
    /// answered as a duplicate). Segments roll, indexes grow and the flusher is woken as on the
    /// leader path. No fsync.
    pub fn append_as_follower(&self, records: &[u8]) -> Result<FollowerAppendInfo, LogError> {
        self.check_alive()?;
        let config = self.config();
        let max_size = config.segment_bytes.min(i32::MAX as u64);
        let mut batches: Vec<BatchHeader<'_>> = Vec::new();
        let mut it = BatchIter::new(records);
        for h in it.by_ref() {
            validate_stored(&h)?;
            if h.total_size() as u64 > max_size {
                return Err(LogError::RecordBatchTooLarge {
                    size: h.total_size(),
                    segment_bytes: config.segment_bytes,
                });
            }
            if let Some(prev) = batches.last() {
                if h.base_offset() <= prev.last_offset() {
                    return Err(LogError::OffsetsOutOfOrder {
                        tp: self.tp_name.clone(),
                        base_offset: h.base_offset(),
                        previous_last_offset: prev.last_offset(),
                    });
                }
            }
            batches.push(h);
        }
        match it.error() {
            None | Some(BatchError::Truncated { .. }) => {}
            Some(BatchError::InvalidLength(n)) => {
                return Err(LogError::InvalidBatch(BatchError::InvalidLength(*n)))
            }
            Some(e) => return Err(LogError::Corrupt(e.to_string())),
        }
        let mut info = FollowerAppendInfo {
            first_offset: -1,
            last_offset: -1,
            batches: 0,
            records: 0,
            bytes: 0,
            log_end_offset: self.log_end_offset(),
        };
        let Some(first) = batches.first() else {
            return Ok(info);
        };
        let mut st = self.lock_append();
        self.check_alive()?;
        let leo = self.log_end_offset();
        if first.base_offset() < leo {
            return Err(LogError::UnexpectedAppendOffset {
                tp: self.tp_name.clone(),
                first_offset: first.base_offset(),
                log_end_offset: leo,
            });
        }
        info.first_offset = first.base_offset();
        let result = self.write_replicated(&mut st, &batches, &config, &mut info);
        info.log_end_offset = self.log_end_offset();
        drop(st);
        if info.records > 0 || info.batches > 0 {
            let n = info.records.max(info.batches as u64);
            let total = self.unflushed_messages.fetch_add(n, Ordering::Relaxed) + n;
            if total >= config.flush_messages {
                if let Some(sig) = self.flush_signal.get() {
                    sig.notify();
                }
            }
        }
        result.map(|_| info)
    }

    /// Writes validated batches at their own offsets (append lock held). Stops at the first
    /// I/O error; what was written before it stays (and `info` says so).
    fn write_replicated(
        &self,
        st: &mut AppendState,
        batches: &[BatchHeader<'_>],
        config: &crate::LogConfig,
        info: &mut FollowerAppendInfo,
    ) -> Result<(), LogError> {
        let now = crate::log::now_ms();
        for h in batches {
            let (base, last) = (h.base_offset(), h.last_offset());
            let size = h.total_size() as u64;
            let mut active = self.active_segment().ok_or_else(|| self.no_segment())?;
            // A gap can put the batch beyond what the active segment's relative offsets reach,
            // even when that segment is still empty.
            let unreachable = last - active.base_offset > i32::MAX as i64;
            if unreachable
                || active.should_roll(
                    size,
                    last,
                    config.segment_bytes,
                    config.segment_ms,
                    config.segment_index_bytes,
                    now,
                )
            {
                active = self.roll_locked(st, base)?;
            }
            active.append(h.as_bytes(), BatchInfo::of(h), config.index_interval_bytes)?;
            st.producers
                .update(&producer_batch(h), base, last, h.max_timestamp());
            if st.epochs.assign(h.partition_leader_epoch(), base) {
                st.epochs_dirty = true;
            }
            self.leo.store(last + 1, Ordering::Release);
            info.last_offset = last;
            info.batches += 1;
            info.records += h.records_count().max(0) as u64;
            info.bytes += h.total_size();
        }
        Ok(())
    }

    /// The high watermark: every offset below it is committed (replicated to the ISR).
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    /// Raises the high watermark to `hw`, clamped into [log start, log end] (Kafka's
    /// maybeIncrementHighWatermark). Never lowers it — only truncation does. Returns true if
    /// it moved.
    pub fn update_high_watermark(&self, hw: i64) -> bool {
        let _st = self.lock_append();
        let clamped = hw.min(self.log_end_offset()).max(self.log_start_offset());
        self.high_watermark.fetch_max(clamped, Ordering::AcqRel) < clamped
    }

    /// Sets the high watermark to `hw` clamped into [log start, log end], lowering it if need
    /// be (Kafka's updateHighWatermark: a follower adopting the leader's value, a new leader
    /// initialising its own). Returns the value set.
    pub fn set_high_watermark(&self, hw: i64) -> i64 {
        let _st = self.lock_append();
        let clamped = hw.min(self.log_end_offset()).max(self.log_start_offset());
        self.high_watermark.store(clamped, Ordering::Release);
        clamped
    }

    /// KIP-320 (Fetch v12+), on the leader: `Some` when a follower that last fetched a batch
    /// of `last_fetched_epoch` and now fetches from `fetch_offset` has a log that diverged
    /// from this one — the epoch this log has at or below `last_fetched_epoch` is older, or
    /// that epoch ends before `fetch_offset`. The answer is that epoch and its end offset
    /// ((-1, -1) when this log knows no such epoch). `None` when the follower is consistent,
    /// or sent no epoch (`last_fetched_epoch` < 0).
    pub fn diverging_epoch(
        &self,
        last_fetched_epoch: i32,
        fetch_offset: i64,
    ) -> Option<DivergingEpoch> {
        if last_fetched_epoch < 0 {
            return None;
        }
        let (epoch, end_offset) = self
            .end_offset_for_epoch(last_fetched_epoch)
            .unwrap_or((-1, -1));
        (epoch < last_fetched_epoch || end_offset < fetch_offset)
            .then_some(DivergingEpoch { epoch, end_offset })
    }

    /// Removes everything at or after `offset` (follower truncation, Kafka's truncateTo). The
    /// log ends at a batch boundary, so the batch containing `offset` goes too. Below the
    /// first segment this is [`Log::truncate_fully_and_start_at`]. The leader-epoch cache
    /// loses the epochs that start at or after the new end, producer state is rebuilt from the
    /// last snapshot before it, the high watermark and the cleaner checkpoint drop to the new
    /// end if above it. At or beyond the log end only stale epoch entries are dropped.
    pub fn truncate_to(&self, offset: i64) -> Result<(), LogError> {
        self.check_alive()?;
        let mut st = self.lock_append();
        let _f = self.flush_lock.lock().unwrap_or_else(|e| e.into_inner());
        let leo = self.log_end_offset();
        if offset >= leo {
            // A leader may have assigned an epoch start at its LEO without appending.
            if st.epochs.truncate_from_end(leo) {
                st.epochs_dirty = true;
            }
            return Ok(());
        }
        let offset = offset.max(0);
        let first_base = self.segments_read().keys().next().copied();
        if first_base.is_none_or(|b| b > offset) {
            return self.truncate_fully_locked(&mut st, offset);
        }
        self.truncations.fetch_add(1, Ordering::AcqRel);
        let interval = self.config().index_interval_bytes;
        let victims: Vec<_> = {
            let mut map = self.segments_write();
            let keys: Vec<i64> = map.range(offset + 1..).map(|(k, _)| *k).collect();
            keys.iter().filter_map(|k| map.remove(k)).collect()
        };
        for v in &victims {
            v.delete_files();
        }
        let active = self.active_segment().ok_or_else(|| self.no_segment())?;
        active.truncate_to(offset, interval)?;
        let end = active.next_offset();
        self.leo.store(end, Ordering::Release);
        self.recovery_point.fetch_min(end, Ordering::AcqRel);
        self.high_watermark.fetch_min(end, Ordering::AcqRel);
        self.cleaner_checkpoint.fetch_min(end, Ordering::AcqRel);
        if self.log_start_offset() > end {
            self.log_start.store(end, Ordering::Release);
        }
        if st.epochs.truncate_from_end(end) {
            st.epochs_dirty = true;
        }
        producer_state::delete_snapshots(&self.dir, i64::MIN, end);
        st.producers = self.rebuild_producer_state(end)?;
        tracing::info!(tp = %self.tp_name, offset, log_end = end, "truncated log");
        Ok(())
    }

    /// Deletes every segment and starts the log empty at `offset`: log start = log end = high
    /// watermark = recovery point = `offset`; the leader-epoch cache (written at once) and
    /// producer state are cleared. For a follower whose fetch offset is below the leader's log
    /// start (Kafka's truncateFullyAndStartAt).
    pub fn truncate_fully_and_start_at(&self, offset: i64) -> Result<(), LogError> {
        self.check_alive()?;
        let mut st = self.lock_append();
        let _f = self.flush_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.truncate_fully_locked(&mut st, offset.max(0))
    }

    fn truncate_fully_locked(&self, st: &mut AppendState, offset: i64) -> Result<(), LogError> {
        self.truncations.fetch_add(1, Ordering::AcqRel);
        {
            let mut map = self.segments_write();
            // Old files are unlinked before the new segment is created, so a reader holding an
            // old segment keeps its own inode even when the base offset is reused.
            for (_, seg) in std::mem::take(&mut *map) {
                seg.delete_files();
            }
            let seg = Arc::new(Segment::create(&self.dir, offset)?);
            map.insert(offset, seg);
        }
        self.log_start.store(offset, Ordering::Release);
        self.leo.store(offset, Ordering::Release);
        self.recovery_point.store(offset, Ordering::Release);
        self.high_watermark.store(offset, Ordering::Release);
        self.cleaner_checkpoint.store(-1, Ordering::Release);
        self.unflushed_messages.store(0, Ordering::Relaxed);
        st.epochs = LeaderEpochCache::new();
        st.epochs_dirty = false;
        // Written now: stale epochs surviving a crash would make later (older) epochs of the
        // new leader's data be ignored.
        st.epochs.write(&self.dir)?;
        st.producers = ProducerStateManager::new();
        for (_, path) in producer_state::list_snapshots(&self.dir) {
            let _ = std::fs::remove_file(path);
        }
        crate::checkpoint::sync_dir(&self.dir);
        tracing::info!(tp = %self.tp_name, offset, "truncated log fully");
        Ok(())
    }
}
