//! The read side of `Log`: Fetch reads (whole batches from the batch containing an offset,
//! bounded by max bytes and the high watermark, KIP-74 min-one) — located through the offset
//! index and batch headers and returned as file regions for sendfile (`read_slices`) or as
//! bytes (`read`) — and ListOffsets by timestamp and MAX_TIMESTAMP. Reads are positional
//! (pread) on a cloned segment handle: no log lock is held while bytes are read, and nothing
//! here ever writes.

use std::sync::Arc;

use bytes::Bytes;
use sluice_protocol::kafka_protocol::records::RecordBatchDecoder;
use sluice_protocol::record_batch::{BatchHeader, HEADER_SIZE};

use crate::segment::Segment;
use crate::{FileRead, FileSlice, Log, LogError, ReadInfo};

/// (base offset, total size, last offset) from the first bytes of a batch header.
fn raw_header(b: &[u8]) -> Option<(i64, usize, i64)> {
    let base = i64::from_be_bytes(b.get(0..8)?.try_into().ok()?);
    let len = i32::from_be_bytes(b.get(8..12)?.try_into().ok()?);
    let delta = i32::from_be_bytes(b.get(23..27)?.try_into().ok()?);
    if len < (HEADER_SIZE - 12) as i32 || delta < 0 {
        return None;
    }
    Some((base, 12 + len as usize, base.saturating_add(delta as i64)))
}

impl Log {
    /// Reads whole batches starting at the batch containing `offset`, at most `max_bytes` (but
    /// the first batch whole if `min_one`), never batches with base offset >= `max_offset`.
    /// The bytes of [`Log::read_slices`], read into one buffer.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one: bool,
    ) -> Result<ReadInfo, LogError> {
        let r = self.read_slices(offset, max_bytes, max_offset, min_one)?;
        let records = if r.len == 0 {
            Bytes::new()
        } else {
            Bytes::from(r.to_vec()?)
        };
        Ok(ReadInfo {
            records,
            first_offset: r.first_offset,
            log_start_offset: r.log_start_offset,
            log_end_offset: r.log_end_offset,
        })
    }

    /// Like [`Log::read`] (same batches, same limits) but returns the file regions holding
    /// them instead of their bytes: boundaries are found through the offset index and small
    /// header reads, the records themselves are never read here.
    pub fn read_slices(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one: bool,
    ) -> Result<FileRead, LogError> {
        let (start, end) = (self.log_start_offset(), self.log_end_offset());
        if offset < start || offset > end {
            return Err(LogError::OffsetOutOfRange {
                tp: self.tp_name.clone(),
                offset,
                log_start_offset: start,
                log_end_offset: end,
            });
        }
        let empty = FileRead {
            slices: Vec::new(),
            len: 0,
            first_offset: offset,
            log_start_offset: start,
            log_end_offset: end,
        };
        if offset >= end || offset >= max_offset {
            return Ok(empty);
        }
        let mut seg = self
            .segments_read()
            .range(..=offset)
            .next_back()
            .map(|(_, s)| s.clone())
            .or_else(|| self.segments_read().values().next().cloned());
        while let Some(s) = seg {
            if let Some((slice, first_offset)) =
                locate_in_segment(&s, offset, max_bytes, max_offset, min_one)?
            {
                let len = slice.as_ref().map_or(0, |s| s.len);
                return Ok(FileRead {
                    slices: slice.into_iter().collect(),
                    len,
                    first_offset,
                    log_start_offset: start,
                    log_end_offset: end,
                });
            }
            seg = self
                .segments_read()
                .range(s.base_offset + 1..)
                .next()
                .map(|(_, s)| s.clone());
        }
        Ok(empty)
    }

    /// ListOffsets by timestamp: the first record with timestamp >= `ts` at or after the log
    /// start, as (offset, timestamp); None if there is none.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, LogError> {
        let log_start = self.log_start_offset();
        for seg in self.segment_list() {
            if seg.meta().max_ts < ts {
                continue;
            }
            let (from, size) = {
                let m = seg.meta();
                let rel = m.time.lookup_before(ts).map(|(_, r)| r).unwrap_or(0);
                let pos = m.index.lookup(rel).map(|(_, p)| p as u64).unwrap_or(0);
                (pos, m.size)
            };
            let mut found = None;
            seg.scan(from, size, |h, _| {
                if h.last_offset() < log_start || h.max_timestamp() < ts {
                    return Ok(true);
                }
                found = first_record_at_or_after(h, log_start, |t| t >= ts);
                Ok(found.is_none())
            })?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// ListOffsets MAX_TIMESTAMP: (offset, timestamp) of the first record with the largest
    /// timestamp in the log.
    pub fn max_timestamp_and_offset(&self) -> Option<(i64, i64)> {
        let mut best: Option<(Arc<Segment>, i64, i64)> = None;
        for seg in self.segment_list() {
            let (ts, off) = {
                let m = seg.meta();
                (m.max_ts, m.offset_of_max_ts)
            };
            if ts >= 0 && best.as_ref().is_none_or(|b| ts > b.1) {
                best = Some((seg, ts, off));
            }
        }
        let (seg, ts, off) = best?;
        let log_start = self.log_start_offset();
        let (from, size) = {
            let m = seg.meta();
            let rel = (off - seg.base_offset).clamp(0, u32::MAX as i64) as u32;
            let pos = m.index.lookup(rel).map(|(_, p)| p as u64).unwrap_or(0);
            (pos, m.size)
        };
        let mut found = None;
        let _ = seg.scan(from, size, |h, _| {
            if h.max_timestamp() != ts || h.last_offset() < log_start {
                return Ok(true);
            }
            found = first_record_at_or_after(h, log_start, |t| t == ts);
            Ok(false)
        });
        Some(found.unwrap_or((off, ts)))
    }
}

/// The first record of `h` at or after `min_offset` whose timestamp satisfies `pred`, as
/// (offset, timestamp). LogAppendTime batches stamp every record with the batch max timestamp;
/// if the records cannot be decoded the batch itself answers.
fn first_record_at_or_after(
    h: &BatchHeader<'_>,
    min_offset: i64,
    pred: impl Fn(i64) -> bool,
) -> Option<(i64, i64)> {
    let fallback = Some((h.base_offset().max(min_offset), h.max_timestamp()));
    if h.is_log_append_time() {
        return fallback;
    }
    let mut buf = Bytes::copy_from_slice(h.as_bytes());
    match RecordBatchDecoder::decode(&mut buf) {
        Ok(set) => set
            .records
            .iter()
            .find(|r| r.offset >= min_offset && pred(r.timestamp))
            .map(|r| (r.offset, r.timestamp))
            .or(fallback),
        Err(_) => fallback,
    }
}

/// Bytes of a batch header needed by [`raw_header`].
const RAW_HEADER: usize = 27;

/// Reads batch headers through a small buffer, so walking many small batches costs one
/// pread per few KiB rather than one per batch (large batches cost one small read each).
struct HeaderCursor<'a> {
    seg: &'a Segment,
    buf: [u8; 4096],
    buf_pos: u64,
    buf_len: usize,
}

impl<'a> HeaderCursor<'a> {
    fn new(seg: &'a Segment) -> Self {
        HeaderCursor {
            seg,
            buf: [0; 4096],
            buf_pos: 0,
            buf_len: 0,
        }
    }

    /// (base offset, total size, last offset) of the batch at `pos`; None if the file holds
    /// fewer than a header's bytes there or they do not parse.
    fn header_at(&mut self, pos: u64) -> std::io::Result<Option<(i64, usize, i64)>> {
        let cached =
            pos >= self.buf_pos && pos + RAW_HEADER as u64 <= self.buf_pos + self.buf_len as u64;
        if !cached {
            self.buf_len = self.seg.read_small(pos, &mut self.buf)?;
            self.buf_pos = pos;
        }
        let from = (pos - self.buf_pos) as usize;
        Ok(self.buf.get(from..self.buf_len).and_then(raw_header))
    }
}

/// Locates whole batches in one segment: the region from the batch containing `offset`, or
/// None if the segment holds no batch containing an offset >= `offset`. The region is None
/// (with the first batch's base offset) when limits exclude even the first batch.
fn locate_in_segment(
    seg: &Segment,
    offset: i64,
    max_bytes: usize,
    max_offset: i64,
    min_one: bool,
) -> Result<Option<(Option<FileSlice>, i64)>, LogError> {
    let (mut pos, size) = {
        let m = seg.meta();
        if m.next_offset <= offset {
            return Ok(None);
        }
        let rel = (offset - seg.base_offset).clamp(0, u32::MAX as i64) as u32;
        let pos = if offset <= seg.base_offset {
            0
        } else {
            m.index.lookup(rel).map(|(_, p)| p as u64).unwrap_or(0)
        };
        (pos, m.size)
    };
    let corrupt = |at: u64| {
        LogError::Corrupt(format!(
            "unparseable batch at position {at} of {}",
            seg.log_path.display()
        ))
    };
    let mut cursor = HeaderCursor::new(seg);
    // Phase 1: find the batch containing `offset` (the index points at most a few KiB before).
    let (start, base, first_size) = loop {
        if pos >= size {
            return Ok(None);
        }
        let (base, total, last) = cursor.header_at(pos)?.ok_or_else(|| corrupt(pos))?;
        if pos + total as u64 > size {
            return Err(corrupt(pos));
        }
        if last < offset {
            pos += total as u64;
            continue;
        }
        break (pos, base, total as u64);
    };
    if base >= max_offset || (first_size > max_bytes as u64 && !min_one) {
        return Ok(Some((None, base)));
    }
    let budget_end = start.saturating_add(max_bytes as u64);
    let mut end = start + first_size;
    // Phase 2a: jump to the last indexed batch that certainly fits (every batch before an
    // index entry ends before it and has a smaller offset), checked against its header.
    let jump = {
        let m = seg.meta();
        let e = &m.index.entries;
        let i = e.partition_point(|&(r, p)| {
            (p as u64) <= budget_end && seg.base_offset + (r as i64) < max_offset
        });
        i.checked_sub(1).and_then(|i| e.get(i).copied())
    };
    if let Some((rel, p)) = jump {
        let p = p as u64;
        if p > end && p < size {
            if let Some((_, _, last)) = cursor.header_at(p)? {
                if last == seg.base_offset + rel as i64 {
                    end = p;
                }
            }
        }
    }
    // Phase 2b: whole batches from there while they fit.
    while end < size {
        let Some((b, total, _)) = cursor.header_at(end)? else {
            break;
        };
        let next = end + total as u64;
        if b >= max_offset || next - start > max_bytes as u64 || next > size {
            break;
        }
        end = next;
    }
    let slice = FileSlice {
        file: seg.file().clone(),
        position: start,
        len: (end - start) as usize,
    };
    Ok(Some((Some(slice), base)))
}
