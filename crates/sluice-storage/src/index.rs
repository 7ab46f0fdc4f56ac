//! The sparse `.index` (relative offset u32 BE → position u32 BE) and `.timeindex`
//! (timestamp i64 BE → relative offset u32 BE) of one segment, kept in memory as `Vec`s and
//! written to their files incrementally (only the entries not yet persisted). Loading checks
//! the files' shape and monotonicity and refuses anything inconsistent, so the segment can
//! rebuild them; it never trusts file content enough to panic on it.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

pub(crate) const OFFSET_ENTRY: usize = 8;
pub(crate) const TIME_ENTRY: usize = 12;

/// In-memory offset index plus how many entries are already in the file.
#[derive(Debug, Default)]
pub(crate) struct OffsetIndex {
    pub entries: Vec<(u32, u32)>,
    pub persisted: usize,
}

impl OffsetIndex {
    /// Position to start scanning from to find `rel`: the largest entry with offset <= rel.
    pub fn lookup(&self, rel: u32) -> Option<(u32, u32)> {
        let i = self.entries.partition_point(|e| e.0 <= rel);
        i.checked_sub(1).and_then(|i| self.entries.get(i).copied())
    }
    pub fn last(&self) -> Option<(u32, u32)> {
        self.entries.last().copied()
    }
    pub fn push(&mut self, rel: u32, pos: u32) {
        if self.last().is_none_or(|(r, p)| rel > r && pos > p) {
            self.entries.push((rel, pos));
        }
    }
    pub fn encode_from(&self, from: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.entries.len().saturating_sub(from) * OFFSET_ENTRY);
        for (r, p) in self.entries.iter().skip(from) {
            v.extend_from_slice(&r.to_be_bytes());
            v.extend_from_slice(&p.to_be_bytes());
        }
        v
    }
    /// Parses and checks an index file's bytes against the segment size. None if invalid.
    pub fn decode(buf: &[u8], log_size: u64) -> Option<OffsetIndex> {
        if buf.len() % OFFSET_ENTRY != 0 {
            return None;
        }
        let mut entries = Vec::with_capacity(buf.len() / OFFSET_ENTRY);
        for c in buf.chunks_exact(OFFSET_ENTRY) {
            let r = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
            let p = u32::from_be_bytes([c[4], c[5], c[6], c[7]]);
            if let Some(&(lr, lp)) = entries.last() {
                if r <= lr || p <= lp {
                    return None;
                }
            } else if p == 0 {
                return None; // entries never point at the segment start (preallocated zeros)
            }
            if p as u64 >= log_size {
                return None;
            }
            entries.push((r, p));
        }
        let persisted = entries.len();
        Some(OffsetIndex { entries, persisted })
    }
}

/// In-memory time index plus how many entries are already in the file.
#[derive(Debug, Default)]
pub(crate) struct TimeIndex {
    pub entries: Vec<(i64, u32)>,
    pub persisted: usize,
}

impl TimeIndex {
    /// Largest entry with timestamp < ts (the place from which a scan for ts must start).
    pub fn lookup_before(&self, ts: i64) -> Option<(i64, u32)> {
        let i = self.entries.partition_point(|e| e.0 < ts);
        i.checked_sub(1).and_then(|i| self.entries.get(i).copied())
    }
    pub fn last(&self) -> Option<(i64, u32)> {
        self.entries.last().copied()
    }
    /// Appends if the timestamp grows (Kafka keeps the time index strictly increasing).
    pub fn maybe_push(&mut self, ts: i64, rel: u32) {
        if self.last().is_none_or(|(t, r)| ts > t && rel >= r) {
            self.entries.push((ts, rel));
        }
    }
    pub fn encode_from(&self, from: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.entries.len().saturating_sub(from) * TIME_ENTRY);
        for (t, r) in self.entries.iter().skip(from) {
            v.extend_from_slice(&t.to_be_bytes());
            v.extend_from_slice(&r.to_be_bytes());
        }
        v
    }
    /// Parses and checks a time index file; `next_rel` bounds the relative offsets. None if invalid.
    pub fn decode(buf: &[u8], next_rel: u64) -> Option<TimeIndex> {
        if buf.len() % TIME_ENTRY != 0 {
            return None;
        }
        let mut entries: Vec<(i64, u32)> = Vec::with_capacity(buf.len() / TIME_ENTRY);
        for c in buf.chunks_exact(TIME_ENTRY) {
            let mut t = [0u8; 8];
            t.copy_from_slice(&c[..8]);
            let t = i64::from_be_bytes(t);
            let r = u32::from_be_bytes([c[8], c[9], c[10], c[11]]);
            if let Some(&(lt, lr)) = entries.last() {
                if t <= lt || r < lr {
                    return None;
                }
            }
            if r as u64 >= next_rel.max(1) {
                return None;
            }
            entries.push((t, r));
        }
        let persisted = entries.len();
        Some(TimeIndex { entries, persisted })
    }
}

/// Reads a whole (small) index file; None if missing.
pub(crate) fn read_file(path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

/// Writes the entries not yet persisted at their place in the file (truncating anything after).
pub(crate) fn persist(
    path: &Path,
    entry_size: usize,
    persisted: usize,
    bytes: &[u8],
) -> std::io::Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    let at = (persisted * entry_size) as u64;
    if !bytes.is_empty() {
        f.write_all_at(bytes, at)?;
    }
    f.set_len(at + bytes.len() as u64)?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_index_lookup_and_decode() {
        let mut ix = OffsetIndex::default();
        ix.push(10, 4100);
        ix.push(20, 8300);
        ix.push(15, 9000); // not increasing: ignored
        assert_eq!(ix.lookup(5), None);
        assert_eq!(ix.lookup(10), Some((10, 4100)));
        assert_eq!(ix.lookup(19), Some((10, 4100)));
        assert_eq!(ix.lookup(99), Some((20, 8300)));
        let bytes = ix.encode_from(0);
        let back = OffsetIndex::decode(&bytes, 9000).unwrap();
        assert_eq!(back.entries, ix.entries);
        assert!(OffsetIndex::decode(&bytes, 8000).is_none());
        assert!(OffsetIndex::decode(&bytes[..7], 9000).is_none());
        assert!(OffsetIndex::decode(&[0u8; 16], 9000).is_none());
    }

    #[test]
    fn time_index_lookup_and_decode() {
        let mut ti = TimeIndex::default();
        ti.maybe_push(100, 0);
        ti.maybe_push(90, 3); // not increasing: ignored
        ti.maybe_push(200, 5);
        assert_eq!(ti.lookup_before(100), None);
        assert_eq!(ti.lookup_before(101), Some((100, 0)));
        assert_eq!(ti.lookup_before(1000), Some((200, 5)));
        let bytes = ti.encode_from(0);
        assert_eq!(TimeIndex::decode(&bytes, 6).unwrap().entries, ti.entries);
        assert!(TimeIndex::decode(&bytes, 5).is_none());
    }
}
