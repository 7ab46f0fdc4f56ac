//! One log segment: the `<base>.log` file plus its in-memory sparse indexes (persisted to
//! `.index`/`.timeindex`). Owns positional writes at the end of the file, positional reads,
//! batch-by-batch scans (recovery, index rebuild, timestamp search) and truncation. It never
//! fsyncs on its own (the log's flush does) and never panics on file content: anything it
//! cannot parse ends a scan with an error the caller decides about.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use sluice_protocol::record_batch::{BatchError, BatchHeader, HEADER_SIZE};

use crate::file_slice::pread_append;
use crate::index::{self, OffsetIndex, TimeIndex, OFFSET_ENTRY, TIME_ENTRY};

const SCAN_CHUNK: usize = 1 << 20;

/// `<20-digit zero-padded offset>.<ext>` in `dir`.
pub(crate) fn file_name(dir: &Path, offset: i64, ext: &str) -> PathBuf {
    dir.join(format!("{offset:020}.{ext}"))
}

/// Mutable state of a segment, guarded by a short-lived lock (never held across I/O of data).
#[derive(Debug)]
pub(crate) struct SegMeta {
    /// Bytes of complete batches in the file; readers never look past it.
    pub size: u64,
    /// Offset after the last batch (== base offset when empty).
    pub next_offset: i64,
    pub index: OffsetIndex,
    pub time: TimeIndex,
    /// Largest batch max-timestamp (-1 when empty) and the last offset of that batch.
    pub max_ts: i64,
    pub offset_of_max_ts: i64,
    /// Max timestamp of the first batch: segment.ms counts from it.
    pub rolling_ts: Option<i64>,
    pub bytes_since_index: u64,
    /// Bytes already fsynced.
    pub flushed_size: u64,
    pub index_dirty: bool,
}

impl SegMeta {
    pub(crate) fn empty(base: i64) -> SegMeta {
        SegMeta {
            size: 0,
            next_offset: base,
            index: OffsetIndex::default(),
            time: TimeIndex::default(),
            max_ts: -1,
            offset_of_max_ts: base,
            rolling_ts: None,
            bytes_since_index: 0,
            flushed_size: 0,
            index_dirty: false,
        }
    }
}

/// What the indexing of one batch needs from its header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchInfo {
    pub last_offset: i64,
    pub max_ts: i64,
    pub size: u64,
}

impl BatchInfo {
    pub fn of(h: &BatchHeader<'_>) -> BatchInfo {
        BatchInfo {
            last_offset: h.last_offset(),
            max_ts: h.max_timestamp(),
            size: h.total_size() as u64,
        }
    }
}

/// How a scan ended.
#[derive(Debug)]
pub(crate) struct ScanEnd {
    /// Position just after the last batch accepted.
    pub pos: u64,
    /// Why the scan stopped before `end`, if it did.
    pub error: Option<String>,
}

pub(crate) struct Segment {
    pub base_offset: i64,
    pub log_path: PathBuf,
    index_path: PathBuf,
    time_path: PathBuf,
    /// Shared so reads can hand out [`crate::FileSlice`]s that outlive the segment (deleted
    /// segments stay readable through an open handle).
    file: Arc<File>,
    pub meta: RwLock<SegMeta>,
}

impl Segment {
    /// Creates a new empty segment (replacing any stale files of the same base offset).
    pub fn create(dir: &Path, base: i64) -> std::io::Result<Segment> {
        let log_path = file_name(dir, base, "log");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&log_path)?;
        let seg = Segment::with_file(dir, base, file);
        index::persist(&seg.index_path, OFFSET_ENTRY, 0, &[])?;
        index::persist(&seg.time_path, TIME_ENTRY, 0, &[])?;
        Ok(seg)
    }

    fn with_file(dir: &Path, base: i64, file: File) -> Segment {
        Segment {
            base_offset: base,
            log_path: file_name(dir, base, "log"),
            index_path: file_name(dir, base, "index"),
            time_path: file_name(dir, base, "timeindex"),
            file: Arc::new(file),
            meta: RwLock::new(SegMeta::empty(base)),
        }
    }

    /// A segment whose file was written by the cleaner (complete, fsynced) and whose
    /// in-memory state was built while writing it.
    pub fn from_cleaned(dir: &Path, base: i64, file: File, mut meta: SegMeta) -> Segment {
        meta.flushed_size = meta.size;
        meta.index_dirty = true;
        meta.index.persisted = 0;
        meta.time.persisted = 0;
        let seg = Segment::with_file(dir, base, file);
        *seg.meta_mut() = meta;
        seg
    }

    /// A read-only view of any file of batches (e.g. a `.swap` file) for [`Segment::scan`].
    pub fn open_for_scan(path: &Path, base: i64) -> std::io::Result<Segment> {
        let file = File::open(path)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Ok(Segment::with_file(dir, base, file))
    }

    fn open_file(dir: &Path, base: i64) -> std::io::Result<Segment> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(file_name(dir, base, "log"))?;
        Ok(Segment::with_file(dir, base, file))
    }

    pub fn meta(&self) -> std::sync::RwLockReadGuard<'_, SegMeta> {
        self.meta.read().unwrap_or_else(|e| e.into_inner())
    }
    pub fn meta_mut(&self) -> std::sync::RwLockWriteGuard<'_, SegMeta> {
        self.meta.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a segment trusting its index files after sanity checks: the last index entry must
    /// point at a batch with the right offset and the tail after it must parse to the end of the
    /// file. Returns None if anything is inconsistent (the caller then recovers the segment).
    pub fn open_trusted(dir: &Path, base: i64) -> std::io::Result<Option<Segment>> {
        let seg = Segment::open_file(dir, base)?;
        let file_len = seg.file.metadata()?.len();
        let Some(buf) = index::read_file(&seg.index_path) else {
            return Ok(None);
        };
        let Some(ix) = OffsetIndex::decode(&buf, file_len) else {
            return Ok(None);
        };
        let (start_pos, start_rel) = ix
            .last()
            .map(|(r, p)| (p as u64, Some(r)))
            .unwrap_or((0, None));
        let mut m = SegMeta::empty(base);
        let mut first = true;
        let mut bad = false;
        let end = seg.scan(start_pos, file_len, |h, _| {
            if first {
                first = false;
                if let Some(r) = start_rel {
                    if h.last_offset() != base + r as i64 {
                        bad = true;
                        return Ok(false);
                    }
                }
            }
            m.next_offset = h.last_offset() + 1;
            if h.max_timestamp() > m.max_ts {
                m.max_ts = h.max_timestamp();
                m.offset_of_max_ts = h.last_offset();
            }
            m.bytes_since_index += h.total_size() as u64;
            Ok(true)
        })?;
        if bad || end.error.is_some() || end.pos != file_len {
            return Ok(None);
        }
        let next_rel = (m.next_offset - base) as u64;
        let time = match index::read_file(&seg.time_path) {
            Some(b) => match TimeIndex::decode(&b, next_rel) {
                Some(t) => t,
                None => return Ok(None),
            },
            None => TimeIndex::default(),
        };
        if let Some((t, r)) = time.last() {
            if t > m.max_ts {
                m.max_ts = t;
                m.offset_of_max_ts = base + r as i64;
            }
        }
        m.size = file_len;
        m.flushed_size = file_len;
        m.index = ix;
        m.time = time;
        m.rolling_ts = seg.first_batch_ts()?;
        *seg.meta_mut() = m;
        Ok(Some(seg))
    }

    /// Opens a segment and rebuilds its indexes by scanning every batch. With `validate`, the
    /// first batch that fails CRC/validation (or is torn) truncates the file there. `on_batch`
    /// sees every accepted batch (for the leader-epoch cache). Returns the segment and whether
    /// it was truncated.
    pub fn recover(
        dir: &Path,
        base: i64,
        interval: u64,
        validate: bool,
        mut on_batch: impl FnMut(&BatchHeader<'_>),
    ) -> std::io::Result<(Segment, bool)> {
        let seg = Segment::open_file(dir, base)?;
        let file_len = seg.file.metadata()?.len();
        let mut m = SegMeta::empty(base);
        let mut expected = base;
        let end = seg.scan(0, file_len, |h, pos| {
            if validate {
                validate_stored(h).map_err(|e| e.to_string())?;
                if h.base_offset() < expected || h.last_offset() - base > u32::MAX as i64 {
                    return Err(format!("offset {} out of order", h.base_offset()));
                }
            }
            expected = h.last_offset() + 1;
            index_batch(&mut m, base, pos, BatchInfo::of(h), interval);
            on_batch(h);
            Ok(true)
        })?;
        let truncated = end.pos < file_len;
        if truncated {
            tracing::warn!(
                segment = %seg.log_path.display(),
                at = end.pos,
                len = file_len,
                reason = end.error.as_deref().unwrap_or("unparseable tail"),
                "truncating corrupt or torn segment tail"
            );
            if validate {
                seg.file.set_len(end.pos)?;
            }
        }
        m.size = end.pos;
        m.flushed_size = if truncated { 0 } else { end.pos };
        m.index_dirty = true;
        *seg.meta_mut() = m;
        seg.persist_indexes()?;
        Ok((seg, truncated))
    }

    fn first_batch_ts(&self) -> std::io::Result<Option<i64>> {
        let buf = self.read_at(0, HEADER_SIZE)?;
        if buf.len() < HEADER_SIZE {
            return Ok(None);
        }
        let mut t = [0u8; 8];
        t.copy_from_slice(buf.get(35..43).unwrap_or(&[0; 8]));
        Ok(Some(i64::from_be_bytes(t)))
    }

    /// Positional read of up to `len` bytes at `pos` (short at end of file). The buffer is
    /// filled by pread without being zeroed first.
    pub fn read_at(&self, pos: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        pread_append(&self.file, pos, len, &mut buf)?;
        Ok(buf)
    }

    /// Reads up to `N` bytes at `pos` into a stack buffer; returns how many were read.
    pub fn read_small<const N: usize>(
        &self,
        pos: u64,
        out: &mut [u8; N],
    ) -> std::io::Result<usize> {
        let mut done = 0;
        while done < N {
            match self.file.read_at(&mut out[done..], pos + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    /// The open log file, for handing out [`crate::FileSlice`]s.
    pub fn file(&self) -> &Arc<File> {
        &self.file
    }

    /// Calls `f` for each complete batch in `[start, end)`, reading in large chunks. `f` returns
    /// Ok(false) to stop, Err to stop with an error at that batch.
    pub fn scan(
        &self,
        start: u64,
        end: u64,
        mut f: impl FnMut(&BatchHeader<'_>, u64) -> Result<bool, String>,
    ) -> std::io::Result<ScanEnd> {
        let mut pos = start;
        while pos < end {
            let want = ((end - pos) as usize).min(SCAN_CHUNK);
            let buf = self.read_at(pos, want)?;
            if buf.is_empty() {
                return Ok(ScanEnd {
                    pos,
                    error: Some("file shorter than expected".into()),
                });
            }
            let mut off = 0usize;
            let mut need_more = None;
            while off < buf.len() {
                let rest = buf.get(off..).unwrap_or(&[]);
                match BatchHeader::parse(rest) {
                    Ok(h) => {
                        let at = pos + off as u64;
                        match f(&h, at) {
                            Ok(true) => off += h.total_size(),
                            Ok(false) => {
                                return Ok(ScanEnd {
                                    pos: at,
                                    error: None,
                                });
                            }
                            Err(e) => {
                                return Ok(ScanEnd {
                                    pos: at,
                                    error: Some(e),
                                })
                            }
                        }
                    }
                    Err(BatchError::Truncated { need, .. }) => {
                        need_more = Some(need);
                        break;
                    }
                    Err(e) => {
                        return Ok(ScanEnd {
                            pos: pos + off as u64,
                            error: Some(e.to_string()),
                        })
                    }
                }
            }
            let at = pos + off as u64;
            match need_more {
                None => pos = at,
                Some(need) => {
                    if off == 0 {
                        // The batch at `at` is bigger than a chunk, or torn at the end.
                        if at + need as u64 > end || need <= buf.len() {
                            return Ok(ScanEnd {
                                pos: at,
                                error: Some(format!("torn batch: need {need} bytes")),
                            });
                        }
                        let big = self.read_at(at, need)?;
                        if big.len() < need {
                            return Ok(ScanEnd {
                                pos: at,
                                error: Some("torn batch".into()),
                            });
                        }
                        match BatchHeader::parse(&big) {
                            Ok(h) => match f(&h, at) {
                                Ok(true) => pos = at + h.total_size() as u64,
                                Ok(false) => {
                                    return Ok(ScanEnd {
                                        pos: at,
                                        error: None,
                                    })
                                }
                                Err(e) => {
                                    return Ok(ScanEnd {
                                        pos: at,
                                        error: Some(e),
                                    })
                                }
                            },
                            Err(e) => {
                                return Ok(ScanEnd {
                                    pos: at,
                                    error: Some(e.to_string()),
                                })
                            }
                        }
                    } else {
                        pos = at;
                    }
                }
            }
        }
        Ok(ScanEnd { pos, error: None })
    }

    /// Writes one batch at the end of the file (one pwrite) and indexes it. Only the log's
    /// append path calls this, under the log's append lock, so the end cannot move underneath.
    pub fn append(&self, batch: &[u8], info: BatchInfo, interval: u64) -> std::io::Result<u64> {
        self.append_parts(batch, &[], info, interval)
    }

    /// [`Segment::append`] for a batch given as two consecutive parts (a patched header and
    /// the rest of the batch): one `pwritev`, no joining copy.
    pub fn append_parts(
        &self,
        head: &[u8],
        rest: &[u8],
        info: BatchInfo,
        interval: u64,
    ) -> std::io::Result<u64> {
        let pos = self.meta().size;
        write_all_at2(&self.file, head, rest, pos)?;
        let mut m = self.meta_mut();
        if m.rolling_ts.is_none() {
            m.rolling_ts = Some(info.max_ts);
        }
        index_batch(&mut m, self.base_offset, pos, info, interval);
        m.size = pos + (head.len() + rest.len()) as u64;
        Ok(pos)
    }

    /// Whether the next batch of `size` bytes with `last_offset` must go to a new segment.
    pub fn should_roll(
        &self,
        size: u64,
        last_offset: i64,
        segment_bytes: u64,
        segment_ms: i64,
        index_bytes: u64,
        now_ms: i64,
    ) -> bool {
        let m = self.meta();
        if m.size == 0 {
            return false;
        }
        let max_size = segment_bytes.min(i32::MAX as u64);
        m.size + size > max_size
            || m.rolling_ts
                .is_some_and(|t| now_ms.saturating_sub(t) > segment_ms)
            || m.index.entries.len() + 1 >= (index_bytes as usize / OFFSET_ENTRY).max(1)
            || m.time.entries.len() + 1 >= (index_bytes as usize / TIME_ENTRY).max(1)
            || last_offset - self.base_offset > i32::MAX as i64
    }

    /// Adds the final time-index entry (Kafka does this when a segment becomes inactive).
    pub fn seal(&self) {
        let mut m = self.meta_mut();
        let (ts, off) = (m.max_ts, m.offset_of_max_ts);
        if ts >= 0 {
            let rel = (off - self.base_offset).clamp(0, u32::MAX as i64) as u32;
            m.time.maybe_push(ts, rel);
            m.index_dirty = true;
        }
    }

    /// Writes the index entries not yet in the files.
    pub fn persist_indexes(&self) -> std::io::Result<Option<(File, File)>> {
        let mut m = self.meta_mut();
        if !m.index_dirty {
            return Ok(None);
        }
        let ib = m.index.encode_from(m.index.persisted);
        let tb = m.time.encode_from(m.time.persisted);
        let fi = index::persist(&self.index_path, OFFSET_ENTRY, m.index.persisted, &ib)?;
        let ft = index::persist(&self.time_path, TIME_ENTRY, m.time.persisted, &tb)?;
        m.index.persisted = m.index.entries.len();
        m.time.persisted = m.time.entries.len();
        m.index_dirty = false;
        Ok(Some((fi, ft)))
    }

    /// fsyncs the log file (and index files) if anything is unflushed.
    pub fn flush(&self) -> std::io::Result<()> {
        let files = self.persist_indexes()?;
        let size = self.meta().size;
        if self.meta().flushed_size < size {
            self.file.sync_data()?;
        }
        if let Some((fi, ft)) = files {
            fi.sync_data()?;
            ft.sync_data()?;
        }
        let mut m = self.meta_mut();
        m.flushed_size = m.flushed_size.max(size);
        Ok(())
    }

    /// Removes every batch with base offset >= `offset`, then rebuilds the in-memory state.
    pub fn truncate_to(&self, offset: i64, interval: u64) -> std::io::Result<()> {
        let size = self.meta().size;
        let start = self
            .meta()
            .index
            .lookup((offset - self.base_offset).clamp(0, u32::MAX as i64) as u32)
            .map(|(_, p)| p as u64)
            .unwrap_or(0);
        let start = if offset <= self.base_offset { 0 } else { start };
        let cut = self.scan(start, size, |h, _| Ok(h.last_offset() < offset))?;
        self.file.set_len(cut.pos)?;
        let base = self.base_offset;
        let mut m = SegMeta::empty(base);
        self.scan(0, cut.pos, |h, pos| {
            if m.rolling_ts.is_none() {
                m.rolling_ts = Some(h.max_timestamp());
            }
            index_batch(&mut m, base, pos, BatchInfo::of(h), interval);
            Ok(true)
        })?;
        m.size = cut.pos;
        m.flushed_size = 0;
        {
            let old = self.meta();
            // Keep already-persisted entries counted only if they survived unchanged.
            m.index.persisted = old.index.persisted.min(
                m.index
                    .entries
                    .iter()
                    .zip(old.index.entries.iter())
                    .take_while(|(a, b)| a == b)
                    .count(),
            );
            m.time.persisted = old.time.persisted.min(
                m.time
                    .entries
                    .iter()
                    .zip(old.time.entries.iter())
                    .take_while(|(a, b)| a == b)
                    .count(),
            );
        }
        m.index_dirty = true;
        *self.meta_mut() = m;
        self.persist_indexes()?;
        Ok(())
    }

    pub fn delete_files(&self) {
        for p in [&self.log_path, &self.index_path, &self.time_path] {
            if let Err(e) = std::fs::remove_file(p) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %p.display(), error = %e, "could not delete segment file");
                }
            }
        }
    }

    pub fn size(&self) -> u64 {
        self.meta().size
    }
    pub fn next_offset(&self) -> i64 {
        self.meta().next_offset
    }
}

/// Validation of a batch read from a segment: as on produce, except that a compacted batch
/// may hold fewer records than its offset range (`count <= lastOffsetDelta + 1`).
pub(crate) fn validate_stored(h: &BatchHeader<'_>) -> Result<(), BatchError> {
    match h.validate() {
        Err(BatchError::CountMismatch {
            count,
            last_offset_delta,
        }) if count >= 0 && last_offset_delta >= 0 && count <= last_offset_delta + 1 => Ok(()),
        r => r,
    }
}

/// Kafka's indexing rule: an offset-index entry (batch last offset → batch position) when more
/// than `interval` bytes were appended since the last entry, with a time-index entry for the
/// max timestamp so far.
pub(crate) fn index_batch(m: &mut SegMeta, base: i64, pos: u64, b: BatchInfo, interval: u64) {
    if b.max_ts > m.max_ts {
        m.max_ts = b.max_ts;
        m.offset_of_max_ts = b.last_offset;
    }
    if m.bytes_since_index > interval {
        let rel = (b.last_offset - base).clamp(0, u32::MAX as i64) as u32;
        m.index.push(rel, pos.min(u32::MAX as u64) as u32);
        let trel = (m.offset_of_max_ts - base).clamp(0, u32::MAX as i64) as u32;
        let ts = m.max_ts;
        m.time.maybe_push(ts, trel);
        m.bytes_since_index = 0;
        m.index_dirty = true;
    }
    m.bytes_since_index += b.size;
    m.next_offset = b.last_offset + 1;
}

/// Writes `a` then `b` at `pos` of `file`: `pwritev` of both, repeated until all is written
/// (short writes, EINTR). Plain `write_all_at` when `b` is empty.
fn write_all_at2(file: &File, mut a: &[u8], mut b: &[u8], mut pos: u64) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    while !a.is_empty() && !b.is_empty() {
        let iov = [
            libc::iovec {
                iov_base: a.as_ptr() as *mut libc::c_void,
                iov_len: a.len(),
            },
            libc::iovec {
                iov_base: b.as_ptr() as *mut libc::c_void,
                iov_len: b.len(),
            },
        ];
        let off = libc::off_t::try_from(pos)
            .map_err(|_| std::io::Error::from_raw_os_error(libc::EOVERFLOW))?;
        // SAFETY: the iovecs point into `a` and `b`, borrowed and alive for the call; the
        // kernel only reads them. The descriptor is open (borrowed from `file`).
        let n = unsafe { libc::pwritev(file.as_raw_fd(), iov.as_ptr(), 2, off) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        let n = n as usize;
        pos += n as u64;
        if n < a.len() {
            a = &a[n..];
        } else {
            b = &b[n - a.len()..];
            a = &[];
        }
    }
    let last = if a.is_empty() { b } else { a };
    file.write_all_at(last, pos)
}
