//! Idempotent-producer state of one partition (Kafka's ProducerStateManager): per producer id
//! its epoch and the metadata of its last 5 batches, the epoch/sequence/duplicate checks run
//! before an append, and `<offset>.snapshot` files (a versioned binary format with a CRC32C).
//! It never touches the log itself; the log replays batch headers into it on load.

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::LogError;

/// Batches remembered per producer for duplicate detection (Kafka's NUM_BATCHES_TO_RETAIN).
pub const BATCHES_TO_RETAIN: usize = 5;
const MAGIC: &[u8; 4] = b"SLPS";
const VERSION: u16 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub timestamp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProducerEntry {
    pub epoch: i16,
    pub batches: VecDeque<BatchMetadata>,
}

/// Why a snapshot file was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SnapshotError {
    #[error("snapshot truncated")]
    Truncated,
    #[error("bad snapshot magic or version")]
    BadHeader,
    #[error("snapshot CRC mismatch")]
    Crc,
}

/// What an incoming batch is, as far as producer state cares.
#[derive(Debug, Clone, Copy)]
pub struct ProducerBatch {
    pub producer_id: i64,
    pub epoch: i16,
    pub first_seq: i32,
    pub last_seq: i32,
    pub is_control: bool,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProducerStateManager {
    producers: HashMap<i64, ProducerEntry>,
}

fn in_sequence(last: i32, next: i32) -> bool {
    next as i64 == last as i64 + 1 || (next == 0 && last == i32::MAX)
}

impl ProducerStateManager {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn entry(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    /// producer id → last offset of its last data batch: the batches the cleaner must keep
    /// (at least as an empty header) so producer state survives compaction and a restart.
    pub fn last_batch_offsets(&self) -> HashMap<i64, i64> {
        self.producers
            .iter()
            .filter_map(|(id, e)| e.batches.back().map(|b| (*id, b.last_offset)))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }
    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// Runs Kafka's checks for a client append. Ok(Some((first, last))) means the batch is a
    /// duplicate of one already in the log at those offsets.
    pub fn check(&self, tp: &str, b: &ProducerBatch) -> Result<Option<(i64, i64)>, LogError> {
        if b.producer_id < 0 {
            return Ok(None);
        }
        let Some(e) = self.producers.get(&b.producer_id) else {
            return Ok(None); // unknown producer: any sequence is accepted
        };
        if b.epoch < e.epoch {
            return Err(LogError::InvalidProducerEpoch {
                tp: tp.to_string(),
                producer_id: b.producer_id,
                found: b.epoch,
                current: e.epoch,
            });
        }
        if b.is_control {
            return Ok(None);
        }
        if b.epoch > e.epoch {
            if b.first_seq != 0 {
                return Err(LogError::OutOfOrderSequence {
                    tp: tp.to_string(),
                    producer_id: b.producer_id,
                    found: b.first_seq,
                    expected: 0,
                });
            }
            return Ok(None);
        }
        if let Some(d) = e
            .batches
            .iter()
            .find(|d| d.first_seq == b.first_seq && d.last_seq == b.last_seq)
        {
            return Ok(Some((d.first_offset, d.last_offset)));
        }
        let last = e.batches.back().map(|d| d.last_seq).unwrap_or(-1);
        if !in_sequence(last, b.first_seq) {
            return Err(LogError::OutOfOrderSequence {
                tp: tp.to_string(),
                producer_id: b.producer_id,
                found: b.first_seq,
                expected: last.wrapping_add(1).max(0),
            });
        }
        Ok(None)
    }

    /// Records an appended batch (client append or replay on load; no checks).
    pub fn update(&mut self, b: &ProducerBatch, first_offset: i64, last_offset: i64, ts: i64) {
        if b.producer_id < 0 {
            return;
        }
        let e = self.producers.entry(b.producer_id).or_default();
        if b.epoch != e.epoch {
            e.epoch = b.epoch;
            e.batches.clear();
        }
        if b.is_control || b.first_seq < 0 {
            return;
        }
        e.batches.push_back(BatchMetadata {
            first_seq: b.first_seq,
            last_seq: b.last_seq,
            first_offset,
            last_offset,
            timestamp: ts,
        });
        while e.batches.len() > BATCHES_TO_RETAIN {
            e.batches.pop_front();
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(16 + self.producers.len() * 64);
        v.extend_from_slice(MAGIC);
        v.extend_from_slice(&VERSION.to_be_bytes());
        v.extend_from_slice(&(self.producers.len() as u32).to_be_bytes());
        let mut ids: Vec<_> = self.producers.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let Some(e) = self.producers.get(&id) else {
                continue;
            };
            v.extend_from_slice(&id.to_be_bytes());
            v.extend_from_slice(&e.epoch.to_be_bytes());
            v.push(e.batches.len() as u8);
            for b in &e.batches {
                v.extend_from_slice(&b.first_seq.to_be_bytes());
                v.extend_from_slice(&b.last_seq.to_be_bytes());
                v.extend_from_slice(&b.first_offset.to_be_bytes());
                v.extend_from_slice(&b.last_offset.to_be_bytes());
                v.extend_from_slice(&b.timestamp.to_be_bytes());
            }
        }
        let crc = crc32c::crc32c(&v);
        v.extend_from_slice(&crc.to_be_bytes());
        v
    }

    pub fn decode(buf: &[u8]) -> Result<ProducerStateManager, SnapshotError> {
        let body_len = buf.len().checked_sub(4).ok_or(SnapshotError::Truncated)?;
        let (body, crc) = buf.split_at(body_len);
        let mut r = Reader { buf: body, pos: 0 };
        if r.take(4)? != MAGIC || r.u16()? != VERSION {
            return Err(SnapshotError::BadHeader);
        }
        let stored = u32::from_be_bytes(crc.try_into().map_err(|_| SnapshotError::Truncated)?);
        if crc32c::crc32c(body) != stored {
            return Err(SnapshotError::Crc);
        }
        let n = r.u32()?;
        let mut producers = HashMap::new();
        for _ in 0..n {
            let id = r.i64()?;
            let epoch = r.u16()? as i16;
            let k = r.take(1)?.first().copied().unwrap_or(0);
            let mut batches = VecDeque::new();
            for _ in 0..k {
                batches.push_back(BatchMetadata {
                    first_seq: r.u32()? as i32,
                    last_seq: r.u32()? as i32,
                    first_offset: r.i64()?,
                    last_offset: r.i64()?,
                    timestamp: r.i64()?,
                });
            }
            producers.insert(id, ProducerEntry { epoch, batches });
        }
        Ok(ProducerStateManager { producers })
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        let s = self
            .buf
            .get(self.pos..self.pos + n)
            .ok_or(SnapshotError::Truncated)?;
        self.pos += n;
        Ok(s)
    }
    fn u16(&mut self) -> Result<u16, SnapshotError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, SnapshotError> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn i64(&mut self) -> Result<i64, SnapshotError> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(i64::from_be_bytes(a))
    }
}

/// `(offset, path)` of every `<20-digit offset>.snapshot` file in `dir`, ascending.
pub(crate) fn list_snapshots(dir: &Path) -> Vec<(i64, PathBuf)> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(stem) = name.strip_suffix(".snapshot") {
                if let Ok(off) = stem.parse::<i64>() {
                    out.push((off, e.path()));
                }
            }
        }
    }
    out.sort();
    out
}

/// Writes `<offset>.snapshot` (tmp + rename; fsync only when `sync`, e.g. at shutdown).
pub(crate) fn write_snapshot(
    dir: &Path,
    offset: i64,
    state: &ProducerStateManager,
    sync: bool,
) -> Result<(), LogError> {
    let path = crate::segment::file_name(dir, offset, "snapshot");
    if sync {
        return crate::checkpoint::atomic_write(&path, &state.encode());
    }
    let tmp = path.with_extension("snapshot.tmp");
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&state.encode())?;
    }
    fs::rename(&tmp, &path)?;
    Ok(())
}

/// Loads the newest valid snapshot with offset <= `upto`; invalid ones are deleted.
pub(crate) fn load_latest(dir: &Path, upto: i64) -> Option<(i64, ProducerStateManager)> {
    for (off, path) in list_snapshots(dir).into_iter().rev() {
        if off > upto {
            continue;
        }
        match fs::read(&path).map(|b| ProducerStateManager::decode(&b)) {
            Ok(Ok(s)) => return Some((off, s)),
            Ok(Err(e)) => {
                tracing::warn!(path = %path.display(), error = %e, "deleting invalid producer snapshot");
                let _ = fs::remove_file(&path);
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read producer snapshot")
            }
        }
    }
    None
}

/// Deletes snapshots with offset > `above` (after truncation) or < `below` (after retention),
/// always keeping the newest one below `below` so replay has a starting point.
pub(crate) fn delete_snapshots(dir: &Path, below: i64, above: i64) {
    let snaps = list_snapshots(dir);
    let keep_low = snaps
        .iter()
        .rev()
        .find(|(o, _)| *o <= below)
        .map(|(o, _)| *o);
    for (off, path) in snaps {
        if off > above || (off < below && Some(off) != keep_low) {
            let _ = fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pb(pid: i64, epoch: i16, first: i32, last: i32) -> ProducerBatch {
        ProducerBatch {
            producer_id: pid,
            epoch,
            first_seq: first,
            last_seq: last,
            is_control: false,
        }
    }

    #[test]
    fn sequence_rules() {
        let mut s = ProducerStateManager::new();
        // Unknown producer: any sequence accepted.
        assert!(s.check("t-0", &pb(1, 0, 7, 9)).unwrap().is_none());
        s.update(&pb(1, 0, 7, 9), 0, 2, 0);
        assert!(matches!(
            s.check("t-0", &pb(1, 0, 11, 12)),
            Err(LogError::OutOfOrderSequence { expected: 10, .. })
        ));
        assert_eq!(s.check("t-0", &pb(1, 0, 7, 9)).unwrap(), Some((0, 2)));
        assert!(s.check("t-0", &pb(1, 0, 10, 10)).unwrap().is_none());
        assert!(matches!(
            s.check("t-0", &pb(1, -1, 0, 0)),
            Err(LogError::InvalidProducerEpoch { .. })
        ));
        assert!(matches!(
            s.check("t-0", &pb(1, 1, 3, 3)),
            Err(LogError::OutOfOrderSequence { .. })
        ));
        assert!(s.check("t-0", &pb(1, 1, 0, 3)).unwrap().is_none());
        // Wrap at i32::MAX.
        s.update(&pb(2, 0, i32::MAX - 1, i32::MAX), 10, 11, 0);
        assert!(s.check("t-0", &pb(2, 0, 0, 4)).unwrap().is_none());
        // Only the last 5 batches are remembered.
        for i in 0..7 {
            s.update(&pb(3, 0, i, i), 100 + i as i64, 100 + i as i64, 0);
        }
        assert_eq!(s.check("t-0", &pb(3, 0, 2, 2)).unwrap(), Some((102, 102)));
        assert!(s.check("t-0", &pb(3, 0, 1, 1)).is_err());
    }

    #[test]
    fn snapshot_roundtrip_and_crc() {
        let mut s = ProducerStateManager::new();
        s.update(&pb(1, 3, 0, 4), 0, 4, 99);
        s.update(&pb(9, 0, 5, 5), 5, 5, 100);
        let bytes = s.encode();
        assert_eq!(ProducerStateManager::decode(&bytes).unwrap(), s);
        let mut bad = bytes.clone();
        bad[10] ^= 1;
        assert!(ProducerStateManager::decode(&bad).is_err());
        assert!(ProducerStateManager::decode(&bytes[..bytes.len() - 3]).is_err());
        assert!(ProducerStateManager::decode(&[]).is_err());
        let d = tempfile::tempdir().unwrap();
        write_snapshot(d.path(), 5, &s, true).unwrap();
        write_snapshot(d.path(), 9, &ProducerStateManager::new(), false).unwrap();
        std::fs::write(d.path().join("00000000000000000012.snapshot"), b"junk").unwrap();
        assert_eq!(load_latest(d.path(), 8).unwrap(), (5, s.clone()));
        assert_eq!(load_latest(d.path(), 100).unwrap().0, 9);
        assert_eq!(list_snapshots(d.path()).len(), 2); // junk one deleted
        delete_snapshots(d.path(), 0, 6);
        assert_eq!(list_snapshots(d.path()).len(), 1);
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = ProducerStateManager::decode(&bytes);
        }
    }
}
