//! The leader-epoch cache of one partition (Kafka's LeaderEpochFileCache): the start offset of
//! every leader epoch, persisted as `leader-epoch-checkpoint` in Kafka's text format (`0`,
//! count, `epoch startOffset` lines). Answers OffsetForLeaderEpoch. It never reads the log.

use std::fs;
use std::path::Path;

use crate::LogError;

pub(crate) const FILE_NAME: &str = "leader-epoch-checkpoint";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderEpochCache {
    /// (epoch, start offset), both strictly increasing.
    entries: Vec<(i32, i64)>,
}

impl LeaderEpochCache {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn entries(&self) -> &[(i32, i64)] {
        &self.entries
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.0)
    }

    /// Records that `epoch` starts at `start_offset`. Returns true if the cache changed.
    /// Older epochs or offsets that go backwards are ignored (Kafka logs and ignores them).
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 {
            return false;
        }
        match self.entries.last() {
            Some(&(e, _)) if epoch <= e => false,
            Some(&(_, o)) if start_offset < o => false,
            _ => {
                self.entries.push((epoch, start_offset));
                true
            }
        }
    }

    /// OffsetForLeaderEpoch: (the largest epoch <= `epoch`, the start offset of the next epoch,
    /// or `log_end_offset` if `epoch` is the latest). None when `epoch` is beyond the latest.
    pub fn end_offset_for(&self, epoch: i32, log_end_offset: i64) -> Option<(i32, i64)> {
        let latest = self.latest_epoch()?;
        if epoch == latest {
            return Some((epoch, log_end_offset));
        }
        let hi = self.entries.partition_point(|e| e.0 <= epoch);
        let &(_, next_start) = self.entries.get(hi)?;
        match hi.checked_sub(1).and_then(|i| self.entries.get(i)) {
            Some(&(e, _)) => Some((e, next_start)),
            None => Some((epoch, next_start)),
        }
    }

    /// Removes entries starting at or after `offset` (log truncation).
    pub fn truncate_from_end(&mut self, offset: i64) -> bool {
        let keep = self.entries.partition_point(|e| e.1 < offset);
        let changed = keep != self.entries.len();
        self.entries.truncate(keep);
        changed
    }

    /// The log start moved to `offset`: entries wholly before it collapse into one starting there.
    pub fn truncate_from_start(&mut self, offset: i64) -> bool {
        let below = self.entries.partition_point(|e| e.1 < offset);
        if below == 0 {
            return false;
        }
        let last_below = self.entries[below - 1].0;
        self.entries.drain(..below);
        if self.entries.first().is_none_or(|e| e.1 > offset) {
            self.entries.insert(0, (last_below, offset));
        }
        true
    }

    pub fn write(&self, dir: &Path) -> Result<(), LogError> {
        let mut s = format!("0\n{}\n", self.entries.len());
        for (e, o) in &self.entries {
            s.push_str(&format!("{e} {o}\n"));
        }
        crate::checkpoint::atomic_write(&dir.join(FILE_NAME), s.as_bytes())
    }

    /// Reads the checkpoint; a missing or malformed file gives an empty cache (rebuilt from
    /// batches during recovery).
    pub fn read(dir: &Path) -> LeaderEpochCache {
        let Ok(text) = fs::read_to_string(dir.join(FILE_NAME)) else {
            return Self::default();
        };
        let mut lines = text.lines();
        let mut cache = Self::default();
        if lines.next().map(str::trim) != Some("0") {
            return cache;
        }
        let Some(count) = lines.next().and_then(|l| l.trim().parse::<usize>().ok()) else {
            return cache;
        };
        for line in lines {
            let mut p = line.split_whitespace();
            match (
                p.next().and_then(|x| x.parse().ok()),
                p.next().and_then(|x| x.parse().ok()),
            ) {
                (Some(e), Some(o)) => {
                    cache.assign(e, o);
                }
                _ => return Self::default(),
            }
        }
        if cache.entries.len() != count {
            tracing::warn!(dir = %dir.display(), "leader-epoch-checkpoint count mismatch");
        }
        cache
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_offsets_follow_kafka() {
        let mut c = LeaderEpochCache::new();
        assert_eq!(c.end_offset_for(0, 10), None);
        c.assign(1, 0);
        c.assign(3, 10);
        c.assign(2, 5); // older: ignored
        c.assign(5, 20);
        assert_eq!(c.latest_epoch(), Some(5));
        assert_eq!(c.end_offset_for(5, 30), Some((5, 30)));
        assert_eq!(c.end_offset_for(3, 30), Some((3, 20)));
        assert_eq!(c.end_offset_for(4, 30), Some((3, 20)));
        assert_eq!(c.end_offset_for(1, 30), Some((1, 10)));
        assert_eq!(c.end_offset_for(0, 30), Some((0, 0)));
        assert_eq!(c.end_offset_for(6, 30), None);
        c.truncate_from_end(15);
        assert_eq!(c.entries(), &[(1, 0), (3, 10)]);
        c.truncate_from_start(12);
        assert_eq!(c.entries(), &[(3, 12)]);
    }

    #[test]
    fn checkpoint_roundtrip() {
        let d = tempfile::tempdir().unwrap();
        let mut c = LeaderEpochCache::new();
        c.assign(0, 0);
        c.assign(4, 100);
        c.write(d.path()).unwrap();
        assert_eq!(
            fs::read_to_string(d.path().join(FILE_NAME)).unwrap(),
            "0\n2\n0 0\n4 100\n"
        );
        assert_eq!(LeaderEpochCache::read(d.path()), c);
        fs::write(d.path().join(FILE_NAME), "0\n1\nx\n").unwrap();
        assert_eq!(LeaderEpochCache::read(d.path()), LeaderEpochCache::new());
    }
}
