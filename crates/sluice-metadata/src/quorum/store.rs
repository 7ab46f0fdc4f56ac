//! The Raft log and vote on disk.
//!
//! `raft.log` is a sequence of frames `[len u32 BE][crc32c u32 BE][bincode LogFrame]`: entries
//! in index order, optionally preceded by a `Purged` marker (the last purged log id). Appends
//! are fsynced before openraft is told they are durable. Truncation (a new leader overwrote
//! our suffix) cuts the file at the first removed entry; purging (after a snapshot) rewrites the
//! file atomically (`raft.log.tmp` → rename). On open, frames are read until the first torn or
//! corrupt one, and the file is cut there: a crash mid-append loses only the unacknowledged
//! tail. `vote` and `committed` are small files replaced atomically.
//!
//! The metadata log is small (records of admin operations), so every entry after the last
//! purge is also kept in memory. File I/O runs on the caller's task: metadata writes are rare
//! and small; fsync latency is what bounds them.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    Entry, ErrorSubject, ErrorVerb, LogId, LogState, OptionalSend, RaftLogReader, StorageError,
    Vote,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{NodeId, TypeConfig};

const LOG_FILE: &str = "raft.log";
const VOTE_FILE: &str = "vote";
const COMMITTED_FILE: &str = "committed";
/// A frame larger than this is corruption, not data.
const MAX_FRAME: usize = 256 << 20;

#[derive(Serialize, Deserialize)]
enum LogFrame {
    Purged(LogId<NodeId>),
    Entry(Entry<TypeConfig>),
}

struct Inner {
    dir: PathBuf,
    file: File,
    /// Entries after the last purge, by index, with the file position of their frame.
    entries: BTreeMap<u64, (Entry<TypeConfig>, u64)>,
    last_purged: Option<LogId<NodeId>>,
    end: u64,
    vote: Option<Vote<NodeId>>,
    committed: Option<LogId<NodeId>>,
}

/// The Raft log store; clones share the same log (openraft reads through clones).
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
}

fn frame(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 8);
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(bytes).to_be_bytes());
    out.extend_from_slice(bytes);
    out
}

/// Reads frames from `data`; returns the payloads and the length of the valid prefix.
fn read_frames(data: &[u8]) -> (Vec<&[u8]>, usize) {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while data.len() - pos >= 8 {
        let len = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        let crc = u32::from_be_bytes(data[pos + 4..pos + 8].try_into().unwrap());
        if len > MAX_FRAME || data.len() - pos - 8 < len {
            break;
        }
        let body = &data[pos + 8..pos + 8 + len];
        if crc32c::crc32c(body) != crc {
            break;
        }
        out.push(body);
        pos += 8 + len;
    }
    (out, pos)
}

fn encode<T: Serialize>(v: &T) -> io::Result<Vec<u8>> {
    bincode::serialize(v).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn decode<T: DeserializeOwned>(b: &[u8]) -> io::Result<T> {
    bincode::deserialize(b).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Atomically replaces `dir/name` with one CRC frame holding `value`.
pub(super) fn write_small_file<T: Serialize>(dir: &Path, name: &str, value: &T) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(&frame(&encode(value)?))?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))?;
    fsync_dir(dir)
}

/// Reads a file written by `write_small_file`; `None` if absent. A corrupt file is an error:
/// losing a vote could let this node vote twice in a term.
pub(super) fn read_small_file<T: DeserializeOwned>(
    dir: &Path,
    name: &str,
) -> io::Result<Option<T>> {
    let path = dir.join(name);
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let (frames, _) = read_frames(&data);
    match frames.first() {
        Some(body) => decode(body).map(Some),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is corrupt", path.display()),
        )),
    }
}

fn io_err(subject: ErrorSubject<NodeId>, verb: ErrorVerb, e: io::Error) -> StorageError<NodeId> {
    StorageError::from_io_error(subject, verb, e)
}

impl LogStore {
    pub fn open(dir: &Path) -> io::Result<LogStore> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(LOG_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        let mut data = Vec::new();
        file.read_to_end(&mut data)?;
        let (frames, valid) = read_frames(&data);
        let mut entries = BTreeMap::new();
        let mut last_purged = None;
        let mut pos = 0u64;
        let mut cut = valid as u64;
        for body in frames {
            let frame_pos = pos;
            pos += 8 + body.len() as u64;
            match decode::<LogFrame>(body) {
                Ok(LogFrame::Purged(id)) => last_purged = Some(id),
                Ok(LogFrame::Entry(e)) => {
                    entries.insert(e.log_id.index, (e, frame_pos));
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), pos = frame_pos, error = %e, "undecodable metadata log frame; truncating here");
                    cut = frame_pos;
                    break;
                }
            }
        }
        entries.retain(|_, (_, p)| *p < cut);
        if cut < data.len() as u64 {
            tracing::warn!(path = %path.display(), valid = cut, size = data.len(), "metadata log has a torn tail; truncating");
            file.set_len(cut)?;
            file.sync_all()?;
        }
        let vote: Option<Vote<NodeId>> = read_small_file(dir, VOTE_FILE)?;
        // Stored as the `Option` openraft hands to `save_committed`.
        let committed: Option<LogId<NodeId>> =
            read_small_file::<Option<LogId<NodeId>>>(dir, COMMITTED_FILE)?.flatten();
        Ok(LogStore {
            inner: Arc::new(Mutex::new(Inner {
                dir: dir.to_path_buf(),
                file,
                entries,
                last_purged,
                end: cut,
                vote,
                committed,
            })),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Inner {
    fn append_frames(&mut self, entries: Vec<Entry<TypeConfig>>) -> io::Result<()> {
        let mut buf = Vec::new();
        let mut positions = Vec::with_capacity(entries.len());
        for e in &entries {
            positions.push(self.end + buf.len() as u64);
            buf.extend_from_slice(&frame(&encode(&LogFrame::Entry(e.clone()))?));
        }
        self.file.write_all(&buf)?;
        self.file.sync_data()?;
        self.end += buf.len() as u64;
        for (e, p) in entries.into_iter().zip(positions) {
            self.entries.insert(e.log_id.index, (e, p));
        }
        Ok(())
    }

    /// Removes entries with index >= `index` from memory and file.
    fn truncate_from(&mut self, index: u64) -> io::Result<()> {
        let Some((_, pos)) = self.entries.range(index..).next().map(|(_, v)| v.clone()) else {
            return Ok(());
        };
        self.file.set_len(pos)?;
        self.file.sync_all()?;
        self.end = pos;
        self.entries.split_off(&index);
        Ok(())
    }

    /// Drops entries up to and including `upto`; rewrites the file with the rest.
    fn purge_upto(&mut self, upto: LogId<NodeId>) -> io::Result<()> {
        let keep = self.entries.split_off(&(upto.index + 1));
        self.entries.clear();
        self.last_purged = Some(upto);
        let tmp = self.dir.join(format!("{LOG_FILE}.tmp"));
        let mut buf = frame(&encode(&LogFrame::Purged(upto))?);
        let mut rewritten = BTreeMap::new();
        for (i, (e, _)) in keep {
            let pos = buf.len() as u64;
            buf.extend_from_slice(&frame(&encode(&LogFrame::Entry(e.clone()))?));
            rewritten.insert(i, (e, pos));
        }
        let mut f = File::create(&tmp)?;
        f.write_all(&buf)?;
        f.sync_all()?;
        std::fs::rename(&tmp, self.dir.join(LOG_FILE))?;
        fsync_dir(&self.dir)?;
        self.file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(self.dir.join(LOG_FILE))?;
        self.end = buf.len() as u64;
        self.entries = rewritten;
        Ok(())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        let inner = self.lock();
        Ok(inner
            .entries
            .range(range)
            .map(|(_, (e, _))| e.clone())
            .collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let inner = self.lock();
        let last = inner
            .entries
            .values()
            .next_back()
            .map(|(e, _)| e.log_id)
            .or(inner.last_purged);
        Ok(LogState {
            last_purged_log_id: inner.last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        let mut inner = self.lock();
        write_small_file(&inner.dir, VOTE_FILE, vote)
            .map_err(|e| io_err(ErrorSubject::Vote, ErrorVerb::Write, e))?;
        inner.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        Ok(self.lock().vote)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError<NodeId>> {
        let mut inner = self.lock();
        write_small_file(&inner.dir, COMMITTED_FILE, &committed)
            .map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Write, e))?;
        inner.committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        Ok(self.lock().committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<_> = entries.into_iter().collect();
        let result = self.lock().append_frames(entries);
        match result {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(io::Error::new(e.kind(), e.to_string())));
                Err(io_err(ErrorSubject::Logs, ErrorVerb::Write, e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.lock()
            .truncate_from(log_id.index)
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Delete, e))
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.lock()
            .purge_upto(log_id)
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Delete, e))
    }
}
