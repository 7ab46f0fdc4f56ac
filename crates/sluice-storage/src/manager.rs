//! `LogManager`: every partition log of this node's `log.dirs`. Owns log-dir formatting
//! (`meta.properties`), loading and recovery at start, the clean-shutdown marker, the
//! per-dir recovery-point / log-start / cleaner-offset / replication-offset checkpoints, partition create/delete,
//! and the background std::threads (flusher with group commit; retention, segment.ms roll and
//! checkpointing; log cleaners for compacted topics). Never runs on a tokio worker and never sleeps without a stop signal.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::checkpoint::{self, MetaProperties};
use crate::log::{now_ms, FlushSignal};
use crate::log_load::OpenOptions;
use crate::{CleanerConfig, Log, LogConfig, LogError, TopicPartition};

pub(crate) const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
pub(crate) const RECOVERY_POINT_FILE: &str = "recovery-point-offset-checkpoint";
pub(crate) const LOG_START_FILE: &str = "log-start-offset-checkpoint";
pub(crate) const CLEANER_FILE: &str = "cleaner-offset-checkpoint";
/// Kafka's per-dir high-watermark checkpoint.
pub(crate) const REPLICATION_OFFSET_FILE: &str = "replication-offset-checkpoint";
const CHECKPOINT_INTERVAL_MS: u64 = 60_000;

struct Inner {
    dirs: Vec<PathBuf>,
    cluster_id: String,
    default_config: LogConfig,
    logs: RwLock<HashMap<TopicPartition, Arc<Log>>>,
    flush_signal: Arc<FlushSignal>,
    stop: AtomicBool,
    stop_lock: Mutex<()>,
    stop_cv: Condvar,
    checkpoint_lock: Mutex<()>,
    cleaner_config: Mutex<CleanerConfig>,
}

/// All partitions of this node's log dirs.
pub struct LogManager {
    inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    shut_down: AtomicBool,
}

fn parse_partition_dir(name: &str) -> Option<TopicPartition> {
    let (topic, p) = name.rsplit_once('-')?;
    let p: i32 = p.parse().ok()?;
    (!topic.is_empty() && p >= 0).then(|| TopicPartition::new(topic, p))
}

fn random_id() -> String {
    checkpoint::topic_id_to_base64(uuid::Uuid::new_v4().as_bytes())
}

impl LogManager {
    /// Opens/creates the log dirs, writes or checks `meta.properties`, then loads (and if
    /// needed recovers) every partition directory found.
    pub fn open(
        dirs: &[PathBuf],
        node_id: i32,
        cluster_id: Option<&str>,
        default_config: LogConfig,
        topic_configs: impl Fn(&str) -> LogConfig,
    ) -> Result<LogManager, LogError> {
        if dirs.is_empty() {
            return Err(LogError::InconsistentLogDir {
                dir: String::new(),
                reason: "log.dirs is empty".into(),
            });
        }
        let mut metas = Vec::new();
        for d in dirs {
            fs::create_dir_all(d)?;
            let m = MetaProperties::read(d)?;
            if let Some(m) = &m {
                if m.node_id != node_id {
                    return Err(LogError::InconsistentLogDir {
                        dir: d.display().to_string(),
                        reason: format!(
                            "meta.properties has node.id={} but this node is node.id={node_id}",
                            m.node_id
                        ),
                    });
                }
            }
            metas.push(m);
        }
        let existing: Vec<&str> = metas
            .iter()
            .flatten()
            .map(|m| m.cluster_id.as_str())
            .collect();
        let cluster = match (cluster_id, existing.first()) {
            (Some(c), _) => c.to_string(),
            (None, Some(c)) => c.to_string(),
            (None, None) => random_id(),
        };
        for (d, m) in dirs.iter().zip(&metas) {
            match m {
                Some(m) if m.cluster_id != cluster => {
                    return Err(LogError::InconsistentLogDir {
                        dir: d.display().to_string(),
                        reason: format!(
                            "meta.properties has cluster.id={} but expected {cluster}",
                            m.cluster_id
                        ),
                    })
                }
                Some(_) => {}
                None => MetaProperties {
                    node_id,
                    cluster_id: cluster.clone(),
                    directory_id: random_id(),
                }
                .write(d)?,
            }
        }

        let inner = Arc::new(Inner {
            dirs: dirs.to_vec(),
            cluster_id: cluster,
            default_config,
            logs: RwLock::new(HashMap::new()),
            flush_signal: Arc::new(FlushSignal::default()),
            stop: AtomicBool::new(false),
            stop_lock: Mutex::new(()),
            stop_cv: Condvar::new(),
            checkpoint_lock: Mutex::new(()),
            cleaner_config: Mutex::new(CleanerConfig::default()),
        });
        let mut logs = HashMap::new();
        for d in dirs {
            let marker = d.join(CLEAN_SHUTDOWN_FILE);
            let clean = marker.exists();
            let rps = checkpoint::read_offset_checkpoint(&d.join(RECOVERY_POINT_FILE))
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "ignoring unreadable recovery point checkpoint");
                    HashMap::new()
                });
            let starts = checkpoint::read_offset_checkpoint(&d.join(LOG_START_FILE))
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "ignoring unreadable log start checkpoint");
                    HashMap::new()
                });
            let cleaned =
                checkpoint::read_offset_checkpoint(&d.join(CLEANER_FILE)).unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "ignoring unreadable cleaner offset checkpoint");
                    HashMap::new()
                });
            let hws = checkpoint::read_offset_checkpoint(&d.join(REPLICATION_OFFSET_FILE))
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "ignoring unreadable replication offset checkpoint");
                    HashMap::new()
                });
            for e in fs::read_dir(d)?.flatten() {
                let path = e.path();
                if !path.is_dir() {
                    continue;
                }
                let Some(name) = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .map(str::to_string)
                else {
                    continue;
                };
                if name.ends_with("-delete") {
                    tracing::info!(dir = %path.display(), "removing partition dir marked for deletion");
                    let _ = fs::remove_dir_all(&path);
                    continue;
                }
                let Some(tp) = parse_partition_dir(&name) else {
                    continue;
                };
                if tp.topic == "__cluster_metadata" || logs.contains_key(&tp) {
                    continue;
                }
                let log = Log::open(
                    path,
                    tp.clone(),
                    topic_configs(&tp.topic),
                    OpenOptions {
                        topic_id: None,
                        recovery_point: rps.get(&tp).copied().unwrap_or(0),
                        log_start_offset: starts.get(&tp).copied(),
                        clean_shutdown: clean,
                        cleaner_checkpoint: cleaned.get(&tp).copied(),
                        high_watermark: hws.get(&tp).copied(),
                    },
                )?;
                let _ = log.flush_signal.set(inner.flush_signal.clone());
                logs.insert(tp, Arc::new(log));
            }
            if clean {
                fs::remove_file(&marker)?;
                checkpoint::sync_dir(d);
            }
        }
        *inner.logs.write().unwrap_or_else(|e| e.into_inner()) = logs;
        let mgr = LogManager {
            inner,
            threads: Mutex::new(Vec::new()),
            shut_down: AtomicBool::new(false),
        };
        mgr.checkpoint()?;
        Ok(mgr)
    }

    pub fn cluster_id(&self) -> String {
        self.inner.cluster_id.clone()
    }

    /// The broker-level defaults the manager was opened with.
    pub fn default_config(&self) -> LogConfig {
        self.inner.default_config.clone()
    }

    pub fn log_dirs(&self) -> &[PathBuf] {
        &self.inner.dirs
    }

    pub fn get(&self, tp: &TopicPartition) -> Option<Arc<Log>> {
        self.inner.logs().get(tp).cloned()
    }

    pub fn partitions(&self) -> Vec<(TopicPartition, Arc<Log>)> {
        let mut v: Vec<_> = self
            .inner
            .logs()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Returns the log, creating it (in the log dir with the fewest partitions) if missing.
    pub fn get_or_create(
        &self,
        tp: &TopicPartition,
        topic_id: [u8; 16],
        config: LogConfig,
    ) -> Result<Arc<Log>, LogError> {
        if let Some(l) = self.get(tp) {
            return Ok(l);
        }
        let mut logs = self.inner.logs.write().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = logs.get(tp) {
            return Ok(l.clone());
        }
        let dir = self
            .inner
            .dirs
            .iter()
            .min_by_key(|d| {
                logs.values()
                    .filter(|l| l.dir.parent() == Some(d.as_path()))
                    .count()
            })
            .cloned()
            .ok_or_else(|| LogError::InconsistentLogDir {
                dir: String::new(),
                reason: "no log dir".into(),
            })?;
        let path = dir.join(tp.to_string());
        let log = Log::open(
            path,
            tp.clone(),
            config,
            OpenOptions {
                topic_id: Some(topic_id),
                recovery_point: 0,
                log_start_offset: None,
                clean_shutdown: true,
                cleaner_checkpoint: None,
                high_watermark: None,
            },
        )?;
        checkpoint::sync_dir(&dir);
        let _ = log.flush_signal.set(self.inner.flush_signal.clone());
        let log = Arc::new(log);
        logs.insert(tp.clone(), log.clone());
        Ok(log)
    }

    /// Deletes a partition: renames its dir to `<topic>-<p>.<id>-delete`, then removes it.
    pub fn delete(&self, tp: &TopicPartition) -> Result<(), LogError> {
        let Some(log) = self
            .inner
            .logs
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(tp)
        else {
            return Ok(());
        };
        log.deleted.store(true, Ordering::Release);
        let _st = log.lock_append(); // wait for an in-flight append
        let _f = log.flush_lock.lock().unwrap_or_else(|e| e.into_inner());
        let target =
            log.dir
                .with_file_name(format!("{}.{}-delete", tp, uuid::Uuid::new_v4().simple()));
        fs::rename(&log.dir, &target)?;
        if let Some(parent) = target.parent() {
            checkpoint::sync_dir(parent);
        }
        fs::remove_dir_all(&target)?;
        Ok(())
    }

    /// Writes the recovery-point, log-start, cleaner-offset and replication-offset (high
    /// watermark) checkpoints of every log dir.
    pub fn checkpoint(&self) -> Result<(), LogError> {
        self.inner.checkpoint()
    }

    /// Sets the `log.cleaner.*` settings used by [`LogManager::start_background`] (call first).
    pub fn set_cleaner_config(&self, config: CleanerConfig) {
        *self
            .inner
            .cleaner_config
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = config;
    }

    /// Starts the flusher, the maintenance (retention, segment.ms roll, checkpoints) and the
    /// log cleaner (`log.cleaner.threads`, if `log.cleaner.enable`) threads.
    pub fn start_background(
        &self,
        retention_check_interval_ms: u64,
        flush_scheduler_interval_ms: u64,
    ) {
        let mut threads = self.threads.lock().unwrap_or_else(|e| e.into_inner());
        if !threads.is_empty() || self.shut_down.load(Ordering::Acquire) {
            return;
        }
        let inner = self.inner.clone();
        let flush_every = Duration::from_millis(flush_scheduler_interval_ms.max(1));
        let spawned = std::thread::Builder::new()
            .name("sluice-log-flusher".into())
            .spawn(move || inner.flusher_loop(flush_every));
        match spawned {
            Ok(h) => threads.push(h),
            Err(e) => tracing::error!(error = %e, "cannot start log flusher thread"),
        }
        let inner = self.inner.clone();
        let retention_every = Duration::from_millis(retention_check_interval_ms.max(1));
        let spawned = std::thread::Builder::new()
            .name("sluice-log-maintenance".into())
            .spawn(move || inner.maintenance_loop(retention_every));
        match spawned {
            Ok(h) => threads.push(h),
            Err(e) => tracing::error!(error = %e, "cannot start log maintenance thread"),
        }
        let cleaner = self
            .inner
            .cleaner_config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let n = if cleaner.enable { cleaner.threads } else { 0 };
        for i in 0..n {
            let inner = self.inner.clone();
            let cfg = cleaner.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("sluice-log-cleaner-{i}"))
                .spawn(move || inner.cleaner_loop(&cfg));
            match spawned {
                Ok(h) => threads.push(h),
                Err(e) => tracing::error!(error = %e, "cannot start log cleaner thread"),
            }
        }
    }

    /// Clean shutdown: stops the threads, flushes every log, writes producer snapshots,
    /// checkpoints and the clean-shutdown marker of every log dir.
    /// Stops the background threads (flusher, retention, cleaner) without flushing or writing
    /// checkpoints: what a crash leaves behind (tests simulate one in-process with it).
    pub fn stop_background(&self) {
        self.inner.stop.store(true, Ordering::Release);
        {
            let _g = self
                .inner
                .stop_lock
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            self.inner.stop_cv.notify_all();
        }
        self.inner.flush_signal.notify();
        for h in self
            .threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            let _ = h.join();
        }
    }

    pub fn shutdown(&self) -> Result<(), LogError> {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.stop_background();
        for (_, log) in self.partitions() {
            log.flush()?;
            log.write_shutdown_snapshot()?;
        }
        self.inner.checkpoint()?;
        for d in &self.inner.dirs {
            checkpoint::atomic_write(&d.join(CLEAN_SHUTDOWN_FILE), b"")?;
        }
        Ok(())
    }
}

impl Drop for LogManager {
    fn drop(&mut self) {
        // Stop threads but write no marker: only an explicit shutdown is clean.
        self.inner.stop.store(true, Ordering::Release);
        self.inner.stop_cv.notify_all();
        self.inner.flush_signal.notify();
        for h in self
            .threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            let _ = h.join();
        }
    }
}

impl Inner {
    fn logs(&self) -> std::sync::RwLockReadGuard<'_, HashMap<TopicPartition, Arc<Log>>> {
        self.logs.read().unwrap_or_else(|e| e.into_inner())
    }

    fn all_logs(&self) -> Vec<Arc<Log>> {
        self.logs().values().cloned().collect()
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    fn checkpoint(&self) -> Result<(), LogError> {
        let _g = self
            .checkpoint_lock
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for d in &self.dirs {
            let mut rps = Vec::new();
            let mut starts = Vec::new();
            let mut cleaned = Vec::new();
            let mut hws = Vec::new();
            for log in self.all_logs() {
                if log.dir.parent() != Some(d.as_path()) {
                    continue;
                }
                rps.push((log.tp.clone(), log.recovery_point()));
                starts.push((log.tp.clone(), log.log_start_offset()));
                hws.push((log.tp.clone(), log.high_watermark()));
                if log.config().cleanup_compact {
                    cleaned.push((log.tp.clone(), log.cleaner_checkpoint()));
                }
            }
            rps.sort();
            starts.sort();
            cleaned.sort();
            hws.sort();
            checkpoint::write_offset_checkpoint(&d.join(CLEANER_FILE), &cleaned)?;
            checkpoint::write_offset_checkpoint(&d.join(REPLICATION_OFFSET_FILE), &hws)?;
            checkpoint::write_offset_checkpoint(&d.join(RECOVERY_POINT_FILE), &rps)?;
            checkpoint::write_offset_checkpoint(&d.join(LOG_START_FILE), &starts)?;
        }
        Ok(())
    }

    /// Group commit: woken by appends that reach flush.messages, or every `every` to check
    /// flush.ms; flushes every log that is due in one pass.
    fn flusher_loop(&self, every: Duration) {
        loop {
            {
                let sig = &self.flush_signal;
                let mut pending = sig.pending.lock().unwrap_or_else(|e| e.into_inner());
                if !*pending && !self.stopping() {
                    pending = sig
                        .cv
                        .wait_timeout(pending, every)
                        .map(|(g, _)| g)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
                *pending = false;
            }
            if self.stopping() {
                return;
            }
            let now = now_ms();
            for log in self.all_logs() {
                let cfg = log.config();
                let unflushed = log.unflushed_messages();
                let since = now.saturating_sub(log.last_flush_ms.load(Ordering::Relaxed));
                let due =
                    unflushed >= cfg.flush_messages || (unflushed > 0 && since >= cfg.flush_ms);
                if due && !log.deleted.load(Ordering::Acquire) {
                    if let Err(e) = log.flush() {
                        tracing::error!(tp = %log.tp, error = %e, "log flush failed");
                    }
                }
            }
        }
    }

    /// Retention, segment.ms roll and periodic checkpoints until stopped.
    fn maintenance_loop(&self, retention_every: Duration) {
        let tick = retention_every.min(Duration::from_millis(CHECKPOINT_INTERVAL_MS));
        let mut last_retention = Instant::now();
        let mut last_checkpoint = Instant::now();
        loop {
            {
                let g = self.stop_lock.lock().unwrap_or_else(|e| e.into_inner());
                if !self.stopping() {
                    let _ = self.stop_cv.wait_timeout(g, tick);
                }
            }
            if self.stopping() {
                return;
            }
            let now = now_ms();
            if last_retention.elapsed() >= retention_every {
                last_retention = Instant::now();
                for log in self.all_logs() {
                    if log.deleted.load(Ordering::Acquire) {
                        continue;
                    }
                    if let Err(e) = log.maybe_roll_for_time(now) {
                        tracing::error!(tp = %log.tp, error = %e, "segment roll failed");
                    }
                    if let Err(e) = log.apply_retention(now) {
                        tracing::error!(tp = %log.tp, error = %e, "retention failed");
                    }
                }
            }
            if last_checkpoint.elapsed() >= Duration::from_millis(CHECKPOINT_INTERVAL_MS)
                || tick < Duration::from_millis(CHECKPOINT_INTERVAL_MS)
            {
                last_checkpoint = Instant::now();
                if let Err(e) = self.checkpoint() {
                    tracing::error!(error = %e, "writing log checkpoints failed");
                }
            }
        }
    }
}

impl Inner {
    /// One log cleaner thread: cleans the dirtiest log that is due (see `Log::compaction_due`),
    /// one pass at a time; backs off `log.cleaner.backoff.ms` when none is, and stops (also
    /// mid-pass, between batches) when the manager stops.
    fn cleaner_loop(&self, cfg: &CleanerConfig) {
        let backoff = Duration::from_millis(cfg.backoff_ms.max(1));
        loop {
            if self.stopping() {
                return;
            }
            let now = now_ms();
            let mut due: Vec<(f64, Arc<Log>)> = self
                .all_logs()
                .into_iter()
                .filter_map(|l| l.compaction_due(now).map(|r| (r, l)))
                .collect();
            due.sort_by(|a, b| b.0.total_cmp(&a.0));
            let mut worked = false;
            for (_, log) in due {
                match log.compact(now, cfg.dedupe_buffer_size, Some(&self.stop)) {
                    Ok(stats) if stats.aborted => continue,
                    Ok(_) => {
                        worked = true;
                        break;
                    }
                    Err(e) => {
                        tracing::error!(tp = %log.tp, error = %e, "log cleaning failed");
                    }
                }
            }
            if !worked {
                let g = self.stop_lock.lock().unwrap_or_else(|e| e.into_inner());
                if !self.stopping() {
                    let _ = self.stop_cv.wait_timeout(g, backoff);
                }
            }
        }
    }
}

#[allow(dead_code)]
fn _assert_send_sync(_: &Path) {
    fn is<T: Send + Sync>() {}
    is::<Log>();
    is::<LogManager>();
}
