//! Log compaction (Kafka's LogCleaner) of one partition log: which part of the log is
//! cleanable (cleaner checkpoint → first uncleanable offset), the dirty-ratio / max-lag /
//! delete-horizon triggers, the key → latest-offset map over the dirty section, rewriting groups
//! of non-active segments into one `.cleaned` file and swapping it in with Kafka's `.swap`
//! protocol, and completing an interrupted swap on load. It never touches the active segment,
//! never changes an offset, and never lets a reader see a half-written file: the new segment
//! enters the segment map only once complete, and old files are unlinked while open handles
//! keep their data readable. The keyless-record check for compacted topics lives here too.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, TryLockError};

use bytes::Bytes;
use sluice_protocol::record_batch::{BatchHeader, BatchIter};

use crate::checkpoint::sync_dir;
use crate::compact_records::{decode_records, delete_horizon, encode_batch, BatchLayout};
use crate::segment::{file_name, index_batch, BatchInfo, SegMeta, Segment};
use crate::{CompactionConfig, Log, LogError};

/// Kafka's message for a keyless record sent to a compacted topic (INVALID_RECORD).
pub const KEYLESS_MESSAGE: &str = "Compacted topic cannot accept message without key";
/// Bytes charged per offset-map entry on top of the key (hash map slot, offset, Bytes).
const MAP_ENTRY_OVERHEAD: usize = 48;
const WRITE_BUF: usize = 1 << 20;

/// Key → offset of its latest record in the dirty section.
type OffsetMap = HashMap<Bytes, i64>;

/// Broker-level cleaner settings (Kafka's `log.cleaner.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanerConfig {
    /// log.cleaner.enable
    pub enable: bool,
    /// log.cleaner.threads
    pub threads: usize,
    /// log.cleaner.dedupe.buffer.size: memory for the offset map of one pass (bounds the
    /// dirty bytes one pass takes on; the rest is left for the next pass).
    pub dedupe_buffer_size: usize,
    /// log.cleaner.backoff.ms: sleep between passes when no log needs cleaning.
    pub backoff_ms: u64,
}

impl Default for CleanerConfig {
    fn default() -> Self {
        CleanerConfig {
            enable: true,
            threads: 1,
            dedupe_buffer_size: 128 * 1024 * 1024,
            backoff_ms: 15_000,
        }
    }
}

/// What one cleaning pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanStats {
    /// The cleaner checkpoint before the pass and the one written after it: the pass built
    /// its offset map over `[first_dirty, end_offset)` and cleaned everything below `end_offset`.
    pub first_dirty: i64,
    pub end_offset: i64,
    pub segments_rewritten: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub records_removed: u64,
    pub tombstones_removed: u64,
    /// The pass gave up (log truncated, deleted, shutdown, or another cleaner on it); the
    /// checkpoint did not move.
    pub aborted: bool,
}

/// The cleaner's view of a log at one moment.
struct Cleanable {
    first_dirty: i64,
    first_uncleanable: i64,
    clean_bytes: u64,
    dirty_bytes: u64,
    /// Timestamp of the first batch of the first dirty segment.
    first_dirty_ts: Option<i64>,
    /// Non-active segments in offset order.
    segments: Vec<Arc<Segment>>,
}

/// Inputs of the per-batch decision.
struct FilterCtx<'a> {
    map: &'a OffsetMap,
    now_ms: i64,
    delete_retention_ms: i64,
    /// (producer id, last offset) of each producer's last data batch.
    producer_last: HashSet<(i64, i64)>,
    min_horizon: i64,
}

enum Decision {
    Keep,
    Drop,
    Write(Vec<u8>),
}

fn stopping(stop: Option<&AtomicBool>) -> bool {
    stop.is_some_and(|s| s.load(Ordering::Acquire))
}

/// `base + n` with Kafka's sequence wrap-around (i32::MAX is followed by 0).
fn add_sequence(base: i32, n: i64) -> i32 {
    if base < 0 {
        return base;
    }
    ((base as i64 + n) % (i32::MAX as i64 + 1)) as i32
}

/// Kafka's record retention rule for one batch of the cleaned range.
fn filter_batch(h: &BatchHeader<'_>, ctx: &mut FilterCtx<'_>, stats: &mut CleanStats) -> Decision {
    if h.is_control() {
        return Decision::Keep; // transaction markers are never removed (see docs/compaction.md)
    }
    let records = match decode_records(h) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(offset = h.base_offset(), error = %e, "cleaner keeps an undecodable batch");
            return Decision::Keep;
        }
    };
    let horizon = delete_horizon(h);
    let expired = horizon.is_some_and(|t| ctx.now_ms >= t);
    let mut kept = Vec::with_capacity(records.len());
    for r in &records {
        let latest = r
            .key
            .as_ref()
            .is_some_and(|k| ctx.map.get(k).is_none_or(|&o| o <= r.offset));
        if latest && !(r.tombstone && expired) {
            kept.push(r);
        } else {
            stats.records_removed += 1;
            if latest {
                stats.tombstones_removed += 1;
            }
        }
    }
    let new_horizon = kept.iter().any(|r| r.tombstone).then(|| {
        horizon.unwrap_or_else(|| ctx.now_ms.saturating_add(ctx.delete_retention_ms.max(0)))
    });
    if let Some(t) = new_horizon {
        ctx.min_horizon = ctx.min_horizon.min(t);
    }
    if kept.len() == records.len() && new_horizon == horizon {
        return Decision::Keep;
    }
    let producer_last = h.producer_id() >= 0
        && ctx
            .producer_last
            .contains(&(h.producer_id(), h.last_offset()));
    let (first, last) = match (kept.first(), kept.last()) {
        (Some(f), Some(l)) => (f.offset, l.offset),
        _ if producer_last => (h.base_offset(), h.last_offset()),
        _ => return Decision::Drop,
    };
    // A producer's last batch keeps its whole offset and sequence range (as an empty header
    // if nothing is left), so producer state rebuilt after a restart is unchanged.
    let layout = if producer_last || kept.len() == records.len() {
        BatchLayout {
            base_offset: h.base_offset(),
            last_offset_delta: h.last_offset_delta(),
            base_sequence: h.base_sequence(),
            delete_horizon: new_horizon,
        }
    } else {
        BatchLayout {
            base_offset: first,
            last_offset_delta: (last - first).clamp(0, i32::MAX as i64) as i32,
            base_sequence: add_sequence(h.base_sequence(), first - h.base_offset()),
            delete_horizon: new_horizon,
        }
    };
    match encode_batch(h, layout, &kept) {
        Ok(b) => Decision::Write(b),
        Err(e) => {
            tracing::warn!(offset = h.base_offset(), error = %e, "cleaner keeps a batch it cannot rebuild");
            Decision::Keep
        }
    }
}

/// Groups consecutive segments whose merged size, index sizes and offset span stay within a
/// segment's limits (Kafka's `groupSegmentsBySize`).
fn group_segments(segs: &[Arc<Segment>], max_size: u64, max_index: u64) -> Vec<Vec<Arc<Segment>>> {
    let mut groups: Vec<Vec<Arc<Segment>>> = Vec::new();
    let mut iter = segs.iter().peekable();
    while let Some(first) = iter.next() {
        let (mut size, mut ix, mut tx) = {
            let m = first.meta();
            (m.size, m.index.entries.len(), m.time.entries.len())
        };
        let mut g = vec![first.clone()];
        while let Some(next) = iter.peek() {
            let m = next.meta();
            let fits = size + m.size <= max_size
                && ((ix + m.index.entries.len() + 1) * 8) as u64 <= max_index
                && ((tx + m.time.entries.len() + 1) * 12) as u64 <= max_index
                && m.next_offset - 1 - first.base_offset <= i32::MAX as i64;
            if !fits {
                break;
            }
            size += m.size;
            ix += m.index.entries.len();
            tx += m.time.entries.len();
            drop(m);
            if let Some(s) = iter.next() {
                g.push(s.clone());
            }
        }
        groups.push(g);
    }
    groups
}

/// Buffered positional writer of the `.cleaned` file.
struct Out<'a> {
    file: &'a File,
    buf: Vec<u8>,
    pos: u64,
    written: u64,
}

impl Out<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.buf.extend_from_slice(b);
        self.pos += b.len() as u64;
        if self.buf.len() >= WRITE_BUF {
            self.flush()?;
        }
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.write_all_at(&self.buf, self.written)?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

impl Log {
    /// The cleaner checkpoint (first dirty offset), clamped into the log as Kafka does.
    pub fn cleaner_checkpoint(&self) -> i64 {
        let c = self.cleaner_checkpoint.load(Ordering::Acquire);
        if c < self.log_start_offset() || c > self.log_end_offset() {
            self.log_start_offset()
        } else {
            c
        }
    }

    fn cleanable(&self, now_ms: i64, cc: &CompactionConfig) -> Cleanable {
        let mut segments = self.segment_list();
        let active_base = segments.pop().map_or(0, |s| s.base_offset);
        let first_dirty = self.cleaner_checkpoint();
        let is_dirty = |s: &Segment| s.base_offset >= first_dirty || s.next_offset() > first_dirty;
        let mut first_uncleanable = active_base;
        if cc.min_compaction_lag_ms > 0 {
            let limit = now_ms.saturating_sub(cc.min_compaction_lag_ms);
            if let Some(s) = segments
                .iter()
                .find(|s| is_dirty(s) && s.meta().max_ts > limit)
            {
                first_uncleanable = s.base_offset;
            }
        }
        let (mut clean_bytes, mut dirty_bytes, mut first_dirty_ts) = (0, 0, None);
        for s in &segments {
            if !is_dirty(s) {
                clean_bytes += s.size();
            } else if s.base_offset < first_uncleanable {
                dirty_bytes += s.size();
            }
            if is_dirty(s) && first_dirty_ts.is_none() {
                first_dirty_ts = s.meta().rolling_ts;
            }
        }
        Cleanable {
            first_dirty,
            first_uncleanable,
            clean_bytes,
            dirty_bytes,
            first_dirty_ts,
            segments,
        }
    }

    /// The dirty ratio if the log needs cleaning now (Kafka's triggers: dirty ratio >=
    /// min.cleanable.dirty.ratio, a dirty record older than max.compaction.lag.ms, or a kept
    /// tombstone past its delete horizon), None otherwise.
    pub fn compaction_due(&self, now_ms: i64) -> Option<f64> {
        if !self.config().cleanup_compact || self.deleted.load(Ordering::Acquire) {
            return None;
        }
        let cc = self.compaction_config();
        let c = self.cleanable(now_ms, &cc);
        let total = c.clean_bytes + c.dirty_bytes;
        let ratio = if total == 0 {
            0.0
        } else {
            c.dirty_bytes as f64 / total as f64
        };
        let by_ratio = c.dirty_bytes > 0 && ratio >= cc.min_cleanable_dirty_ratio;
        let by_lag = c.dirty_bytes > 0
            && c.first_dirty_ts
                .is_some_and(|t| t >= 0 && now_ms.saturating_sub(t) > cc.max_compaction_lag_ms);
        let by_horizon = now_ms >= self.next_delete_horizon.load(Ordering::Acquire);
        (by_ratio || by_lag || by_horizon).then_some(ratio)
    }

    /// Offset map over the dirty segments: key → latest offset, for non-transactional data
    /// records. Stops at a segment boundary once `max_bytes` is used (at least one segment).
    /// Returns the map and the end of the section it covers.
    fn build_offset_map(
        &self,
        c: &Cleanable,
        max_bytes: usize,
        stop: Option<&AtomicBool>,
    ) -> Result<Option<(OffsetMap, i64)>, LogError> {
        let mut map = OffsetMap::new();
        let mut used = 0usize;
        let mut end = c.first_dirty;
        for (i, seg) in c.segments.iter().enumerate() {
            if seg.base_offset >= c.first_uncleanable {
                break;
            }
            if seg.base_offset < c.first_dirty && seg.next_offset() <= c.first_dirty {
                continue;
            }
            if used >= max_bytes && end > c.first_dirty {
                break;
            }
            let mut stopped = false;
            let size = seg.size();
            let scanned = seg.scan(0, size, |h, _| {
                if stopping(stop) {
                    stopped = true;
                    return Ok(false);
                }
                if h.is_control() || h.is_transactional() {
                    return Ok(true);
                }
                if let Ok(records) = decode_records(h) {
                    for r in records {
                        if let Some(k) = r.key {
                            let len = k.len();
                            if map.insert(k, r.offset).is_none() {
                                used += len + MAP_ENTRY_OVERHEAD;
                            }
                        }
                    }
                }
                Ok(true)
            })?;
            if stopped {
                return Ok(None);
            }
            if let Some(e) = scanned.error {
                return Err(LogError::Corrupt(format!(
                    "{}: {e}",
                    seg.log_path.display()
                )));
            }
            end = c
                .segments
                .get(i + 1)
                .map_or(c.first_uncleanable, |s| s.base_offset)
                .min(c.first_uncleanable);
        }
        Ok(Some((map, end)))
    }

    /// One cleaning pass: builds the offset map over (a bounded part of) the dirty section,
    /// rewrites every non-active segment below its end, merging small ones, and advances the
    /// cleaner checkpoint. Runs on the caller's thread (the cleaner thread, or a test); reads
    /// and appends go on meanwhile. `stop` aborts between batches (shutdown).
    pub fn compact(
        &self,
        now_ms: i64,
        max_map_bytes: usize,
        stop: Option<&AtomicBool>,
    ) -> Result<CleanStats, LogError> {
        let aborted = CleanStats {
            aborted: true,
            ..CleanStats::default()
        };
        let _busy = match self.clean_lock.try_lock() {
            Ok(g) => g,
            Err(TryLockError::WouldBlock) => return Ok(aborted),
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
        };
        self.check_alive()?;
        let config = self.config();
        if !config.cleanup_compact {
            return Ok(CleanStats::default());
        }
        let cc = self.compaction_config();
        let truncations = self.truncations.load(Ordering::Acquire);
        let c = self.cleanable(now_ms, &cc);
        let Some((map, end)) = self.build_offset_map(&c, max_map_bytes, stop)? else {
            return Ok(aborted);
        };
        let mut stats = CleanStats {
            first_dirty: c.first_dirty,
            end_offset: end,
            ..CleanStats::default()
        };
        let producer_last = self
            .lock_append()
            .producers
            .last_batch_offsets()
            .into_iter()
            .collect();
        let mut ctx = FilterCtx {
            map: &map,
            now_ms,
            delete_retention_ms: cc.delete_retention_ms,
            producer_last,
            min_horizon: i64::MAX,
        };
        let to_clean: Vec<_> = c
            .segments
            .iter()
            .filter(|s| s.base_offset < end)
            .cloned()
            .collect();
        let max_size = config.segment_bytes.min(i32::MAX as u64);
        for group in group_segments(&to_clean, max_size, config.segment_index_bytes) {
            if !self.clean_group(&group, &mut ctx, truncations, &mut stats, stop)? {
                stats.aborted = true;
                return Ok(stats);
            }
        }
        self.cleaner_checkpoint.store(end, Ordering::Release);
        self.next_delete_horizon
            .store(ctx.min_horizon, Ordering::Release);
        if stats.segments_rewritten > 0 {
            tracing::info!(
                tp = %self.tp_name,
                end,
                segments = stats.segments_rewritten,
                before = stats.bytes_before,
                after = stats.bytes_after,
                removed = stats.records_removed,
                "compacted log"
            );
        }
        Ok(stats)
    }

    /// Rewrites one group into `<base>.log.cleaned` and swaps it in. Ok(false) = aborted.
    fn clean_group(
        &self,
        group: &[Arc<Segment>],
        ctx: &mut FilterCtx<'_>,
        truncations: u64,
        stats: &mut CleanStats,
        stop: Option<&AtomicBool>,
    ) -> Result<bool, LogError> {
        let Some(base) = group.first().map(|s| s.base_offset) else {
            return Ok(true);
        };
        let interval = self.config().index_interval_bytes;
        let cleaned_path = file_name(&self.dir, base, "log.cleaned");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&cleaned_path)?;
        let discard = || {
            let _ = fs::remove_file(&cleaned_path);
        };
        let mut out = Out {
            file: &file,
            buf: Vec::with_capacity(WRITE_BUF),
            pos: 0,
            written: 0,
        };
        let mut meta = SegMeta::empty(base);
        let mut changed = group.len() > 1;
        let mut bytes_before = 0;
        for seg in group {
            let size = seg.size();
            bytes_before += size;
            let mut failed: Option<std::io::Error> = None;
            let mut stopped = false;
            let scanned = seg.scan(0, size, |h, _| {
                if stopping(stop) {
                    stopped = true;
                    return Ok(false);
                }
                let decision = filter_batch(h, ctx, stats);
                let rebuilt;
                let bytes: &[u8] = match decision {
                    Decision::Keep => h.as_bytes(),
                    Decision::Drop => {
                        changed = true;
                        return Ok(true);
                    }
                    Decision::Write(b) => {
                        changed = true;
                        rebuilt = b;
                        &rebuilt
                    }
                };
                let info = match BatchHeader::parse(bytes) {
                    Ok(nh) => BatchInfo::of(&nh),
                    Err(e) => return Err(e.to_string()),
                };
                if meta.rolling_ts.is_none() {
                    meta.rolling_ts = Some(info.max_ts);
                }
                let pos = out.pos;
                if let Err(e) = out.write(bytes) {
                    failed = Some(e);
                    return Ok(false);
                }
                index_batch(&mut meta, base, pos, info, interval);
                Ok(true)
            });
            let scanned = match scanned {
                Ok(s) => s,
                Err(e) => {
                    discard();
                    return Err(e.into());
                }
            };
            if let Some(e) = failed {
                discard();
                return Err(e.into());
            }
            if stopped {
                discard();
                return Ok(false);
            }
            if scanned.error.is_some() || scanned.pos != size {
                discard();
                return Err(LogError::Corrupt(format!(
                    "cleaner could not read {} at {}: {}",
                    seg.log_path.display(),
                    scanned.pos,
                    scanned.error.unwrap_or_default()
                )));
            }
        }
        if !changed {
            discard();
            return Ok(true);
        }
        if let Err(e) = out.flush().and_then(|_| file.sync_data()) {
            discard();
            return Err(e.into());
        }
        meta.size = out.pos;
        let new_size = meta.size;

        // Swap, under the append lock so no truncation, retention or roll interleaves.
        let st = self.lock_append();
        let unchanged = !self.deleted.load(Ordering::Acquire)
            && self.truncations.load(Ordering::Acquire) == truncations
            && {
                let map = self.segments_read();
                let active = map.keys().next_back().copied();
                group.iter().all(|s| {
                    map.get(&s.base_offset)
                        .is_some_and(|cur| Arc::ptr_eq(cur, s))
                        && Some(s.base_offset) != active
                })
            };
        if !unchanged {
            drop(st);
            discard();
            tracing::info!(tp = %self.tp_name, base, "log changed during cleaning; swap abandoned");
            return Ok(false);
        }
        let swap_path = file_name(&self.dir, base, "log.swap");
        fs::rename(&cleaned_path, &swap_path)?;
        sync_dir(&self.dir);
        for s in group {
            s.delete_files();
        }
        fs::rename(&swap_path, file_name(&self.dir, base, "log"))?;
        let seg = Arc::new(Segment::from_cleaned(&self.dir, base, file, meta));
        seg.seal();
        {
            let mut map = self.segments_write();
            for s in group {
                map.remove(&s.base_offset);
            }
            map.insert(base, seg.clone());
        }
        drop(st);
        if let Some((fi, ft)) = seg.persist_indexes()? {
            fi.sync_data()?;
            ft.sync_data()?;
        }
        sync_dir(&self.dir);
        stats.segments_rewritten += group.len();
        stats.bytes_before += bytes_before;
        stats.bytes_after += new_size;
        Ok(true)
    }

    /// For compacted logs: refuses a produce request's records if any data record has no key
    /// (Kafka: INVALID_RECORD, "Compacted topic cannot accept message without key"). Decodes
    /// nothing unless the log is compacted.
    pub fn validate_compacted_batch(&self, records: &[u8]) -> Result<(), LogError> {
        if !self.config().cleanup_compact {
            return Ok(());
        }
        let mut it = BatchIter::new(records);
        for h in it.by_ref() {
            if h.is_control() {
                continue;
            }
            let recs = decode_records(&h).map_err(LogError::Corrupt)?;
            if recs.iter().any(|r| r.key.is_none()) {
                return Err(LogError::InvalidRecord(KEYLESS_MESSAGE.into()));
            }
        }
        match it.error() {
            Some(e) => Err(LogError::Corrupt(e.to_string())),
            None => Ok(()),
        }
    }
}

/// Completes swaps a crash interrupted (Kafka's rule): a `<base>.log.swap` is a complete,
/// fsynced cleaned segment; the old segments it replaces (every `.log` with a base offset in
/// `[base, swap's next offset)`) are deleted and it is renamed to `<base>.log`; its indexes
/// are rebuilt by the normal load. `.cleaned` files are incomplete and are removed by the caller.
pub(crate) fn complete_interrupted_swaps(dir: &Path) -> Result<(), LogError> {
    let mut swaps = Vec::new();
    let mut logs = Vec::new();
    for e in fs::read_dir(dir)?.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(b) = name
            .strip_suffix(".log.swap")
            .and_then(|s| s.parse::<i64>().ok())
        {
            swaps.push(b);
        } else if let Some(b) = name
            .strip_suffix(".log")
            .and_then(|s| s.parse::<i64>().ok())
        {
            logs.push(b);
        }
    }
    swaps.sort_unstable();
    for base in swaps {
        let path = file_name(dir, base, "log.swap");
        let seg = Segment::open_for_scan(&path, base)?;
        let len = fs::metadata(&path)?.len();
        let mut next = base;
        let end = seg.scan(0, len, |h, _| {
            next = h.last_offset() + 1;
            Ok(true)
        })?;
        drop(seg);
        if end.error.is_some() || end.pos != len {
            tracing::warn!(path = %path.display(), "removing unreadable swap file");
            let _ = fs::remove_file(&path);
            continue;
        }
        for &b in &logs {
            if b == base || (b > base && b < next) {
                for ext in ["log", "index", "timeindex"] {
                    let _ = fs::remove_file(file_name(dir, b, ext));
                }
            }
        }
        fs::rename(&path, file_name(dir, base, "log"))?;
        tracing::info!(dir = %dir.display(), base, next, "completed an interrupted segment swap");
    }
    sync_dir(dir);
    Ok(())
}
