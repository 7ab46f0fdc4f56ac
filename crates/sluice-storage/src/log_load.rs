//! Loading a partition directory into a `Log`: finds segments, cleans leftovers, trusts
//! (after sanity checks) segments below the recovery point or after a clean shutdown, scans and
//! truncates the unflushed tail after a crash, rebuilds indexes, the leader-epoch cache and
//! producer state. It must never serve a torn batch and never drop a complete one before a tear.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use crate::checkpoint;
use crate::epoch_cache::LeaderEpochCache;
use crate::log::{now_ms, AppendState};
use crate::producer_state::{self, ProducerStateManager};
use crate::segment::Segment;
use crate::{CompactionConfig, Log, LogConfig, LogError, TopicPartition};

/// What the manager knows about a partition when it opens it.
pub(crate) struct OpenOptions {
    pub topic_id: Option<[u8; 16]>,
    pub recovery_point: i64,
    pub log_start_offset: Option<i64>,
    pub clean_shutdown: bool,
    pub cleaner_checkpoint: Option<i64>,
    /// From `replication-offset-checkpoint`; clamped into [log start, LEO], missing = log start.
    pub high_watermark: Option<i64>,
}

fn remove_quietly(p: &std::path::Path) {
    let _ = fs::remove_file(p);
}

impl Log {
    pub(crate) fn open(
        dir: PathBuf,
        tp: TopicPartition,
        config: LogConfig,
        opts: OpenOptions,
    ) -> Result<Log, LogError> {
        fs::create_dir_all(&dir)?;
        let topic_id = match (checkpoint::read_partition_metadata(&dir), opts.topic_id) {
            (Some(on_disk), None) => on_disk,
            (on_disk, Some(given)) => {
                if on_disk != Some(given) {
                    checkpoint::write_partition_metadata(&dir, &given)?;
                }
                given
            }
            (None, None) => [0; 16],
        };
        let interval = config.index_interval_bytes;
        crate::cleaner::complete_interrupted_swaps(&dir)?;
        let mut bases = Vec::new();
        for e in fs::read_dir(&dir)?.flatten() {
            let path = e.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.ends_with(".tmp")
                || name.ends_with(".deleted")
                || name.ends_with(".cleaned")
                || name.ends_with(".swap")
            {
                remove_quietly(&path);
            } else if let Some(stem) = name.strip_suffix(".log") {
                if let Ok(b) = stem.parse::<i64>() {
                    bases.push(b);
                }
            }
        }
        bases.sort_unstable();
        // Index files without a log file are leftovers.
        for e in fs::read_dir(&dir)?.flatten() {
            let path = e.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let stem = name
                .strip_suffix(".index")
                .or_else(|| name.strip_suffix(".timeindex"));
            if let Some(b) = stem.and_then(|s| s.parse::<i64>().ok()) {
                if bases.binary_search(&b).is_err() {
                    remove_quietly(&path);
                }
            }
        }

        let recover_from = if opts.clean_shutdown {
            i64::MAX
        } else {
            bases
                .iter()
                .rev()
                .find(|b| **b <= opts.recovery_point)
                .or(bases.first())
                .copied()
                .unwrap_or(i64::MAX)
        };
        let mut epochs = LeaderEpochCache::read(&dir);
        let mut epochs_dirty = false;
        let mut segments = BTreeMap::new();
        let mut truncated_at: Option<usize> = None;
        for (i, &base) in bases.iter().enumerate() {
            if truncated_at.is_some() {
                // A torn segment before this one ends the log: later data was never acknowledged
                // contiguously and is dropped, as Kafka does.
                tracing::warn!(tp = %tp, base, "deleting segment after a truncated one");
                for ext in ["log", "index", "timeindex"] {
                    remove_quietly(&crate::segment::file_name(&dir, base, ext));
                }
                continue;
            }
            let seg = if base < recover_from {
                match Segment::open_trusted(&dir, base)? {
                    Some(s) => s,
                    None => {
                        tracing::info!(tp = %tp, base, "rebuilding indexes of segment");
                        Segment::recover(&dir, base, interval, true, |_| {})?.0
                    }
                }
            } else {
                let mut seen = Vec::new();
                let (s, truncated) = Segment::recover(&dir, base, interval, true, |h| {
                    seen.push((h.partition_leader_epoch(), h.base_offset()))
                })?;
                for (e, o) in seen {
                    epochs_dirty |= epochs.assign(e, o);
                }
                if truncated {
                    truncated_at = Some(i);
                }
                s
            };
            segments.insert(base, Arc::new(seg));
        }
        let first_base = segments.keys().next().copied();
        if first_base.is_none() {
            let base = opts.log_start_offset.unwrap_or(0).max(0);
            segments.insert(base, Arc::new(Segment::create(&dir, base)?));
        }
        let first_base = segments.keys().next().copied().unwrap_or(0);
        let leo = segments
            .values()
            .next_back()
            .map(|s| s.next_offset())
            .unwrap_or(first_base);
        let log_start = opts
            .log_start_offset
            .unwrap_or(first_base)
            .max(first_base)
            .min(leo);
        epochs_dirty |= epochs.truncate_from_end(leo);
        epochs_dirty |= epochs.truncate_from_start(log_start);
        producer_state::delete_snapshots(&dir, first_base, leo);

        let log = Log {
            tp_name: tp.to_string(),
            tp,
            dir,
            topic_id,
            config: RwLock::new(config),
            segments: RwLock::new(segments),
            log_start: AtomicI64::new(log_start),
            leo: AtomicI64::new(leo),
            high_watermark: AtomicI64::new(
                opts.high_watermark
                    .unwrap_or(log_start)
                    .min(leo)
                    .max(log_start),
            ),
            recovery_point: AtomicI64::new(if opts.clean_shutdown {
                leo
            } else {
                opts.recovery_point.min(leo)
            }),
            append: Mutex::new(AppendState {
                producers: ProducerStateManager::new(),
                epochs,
                epochs_dirty,
            }),
            flush_lock: Mutex::new(()),
            unflushed_messages: AtomicU64::new(0),
            last_flush_ms: AtomicI64::new(now_ms()),
            flush_signal: OnceLock::new(),
            deleted: AtomicBool::new(false),
            compaction: RwLock::new(CompactionConfig::default()),
            cleaner_checkpoint: AtomicI64::new(opts.cleaner_checkpoint.unwrap_or(-1)),
            clean_lock: Mutex::new(()),
            truncations: AtomicU64::new(0),
            next_delete_horizon: AtomicI64::new(i64::MAX),
        };
        if topic_id != [0; 16] && checkpoint::read_partition_metadata(&log.dir).is_none() {
            checkpoint::write_partition_metadata(&log.dir, &topic_id)?;
        }
        let producers = log.rebuild_producer_state(leo)?;
        log.lock_append().producers = producers;
        tracing::info!(
            tp = %log.tp_name,
            log_start,
            leo,
            segments = log.num_segments(),
            clean = opts.clean_shutdown,
            "loaded log"
        );
        if !opts.clean_shutdown && log.recovery_point() < leo {
            // Recovered data sits in the page cache; make it durable before acknowledging more.
            log.flush()?;
        }
        Ok(log)
    }
}
