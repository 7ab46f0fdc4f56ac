//! The read side of `Log`: Fetch reads (whole batches from the batch containing an offset,
//! bounded by max bytes and the high watermark, KIP-74 min-one), ListOffsets by timestamp and
//! MAX_TIMESTAMP. Reads are positional (pread) on a cloned segment handle: no log lock is held
//! while bytes are read, and nothing here ever writes.

use std::sync::Arc;

use bytes::Bytes;
use sluice_protocol::kafka_protocol::records::RecordBatchDecoder;
use sluice_protocol::record_batch::{BatchHeader, HEADER_SIZE};

use crate::segment::Segment;
use crate::{Log, LogError, ReadInfo};

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
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one: bool,
    ) -> Result<ReadInfo, LogError> {
        let (start, end) = (self.log_start_offset(), self.log_end_offset());
        if offset < start || offset > end {
            return Err(LogError::OffsetOutOfRange {
                tp: self.tp_name.clone(),
                offset,
                log_start_offset: start,
                log_end_offset: end,
            });
        }
        let empty = ReadInfo {
            records: Bytes::new(),
            first_offset: offset,
            log_start_offset: start,
            log_end_offset: end,
        };
        if offset >= end || offset >= max_offset {
            return Ok(empty);
        }
        let interval = self.config().index_interval_bytes;
        let mut seg = self
            .segments_read()
            .range(..=offset)
            .next_back()
            .map(|(_, s)| s.clone())
            .or_else(|| self.segments_read().values().next().cloned());
        while let Some(s) = seg {
            if let Some((records, first_offset)) =
                read_segment(&s, offset, max_bytes, max_offset, min_one, interval)?
            {
                return Ok(ReadInfo {
                    records,
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

/// Reads from one segment; None if it holds no batch containing an offset >= `offset`.
fn read_segment(
    seg: &Segment,
    offset: i64,
    max_bytes: usize,
    max_offset: i64,
    min_one: bool,
    interval: u64,
) -> Result<Option<(Bytes, i64)>, LogError> {
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
    let chunk = (max_bytes as u64)
        .saturating_add(interval)
        .saturating_add(HEADER_SIZE as u64)
        .max(64 * 1024);
    let corrupt = |at: u64| {
        LogError::Corrupt(format!(
            "unparseable batch at position {at} of {}",
            seg.log_path.display()
        ))
    };
    // Phase 1: find the batch containing `offset` (usually within the first read).
    let mut buf = seg.read_at(pos, chunk.min(size - pos) as usize)?;
    let mut off = 0usize;
    let (base, first_size) = loop {
        if pos + off as u64 >= size {
            return Ok(None);
        }
        let Some(hdr) = buf.get(off..).filter(|r| r.len() >= HEADER_SIZE) else {
            pos += off as u64;
            off = 0;
            buf = seg.read_at(pos, chunk.min(size - pos) as usize)?;
            if buf.len() < HEADER_SIZE {
                return Err(corrupt(pos));
            }
            continue;
        };
        let (base, total, last) = raw_header(hdr).ok_or_else(|| corrupt(pos + off as u64))?;
        if last < offset {
            off += total;
            continue;
        }
        break (base, total);
    };
    if base >= max_offset || (first_size > max_bytes && !min_one) {
        return Ok(Some((Bytes::new(), base)));
    }
    // Phase 2: whole batches from here while they fit (headers known from the buffer).
    let mut end = off + first_size;
    while let Some(hdr) = buf.get(end..).filter(|r| r.len() >= HEADER_SIZE) {
        let Some((b, total, _)) = raw_header(hdr) else {
            break;
        };
        if b >= max_offset || end - off + total > max_bytes || (pos + (end + total) as u64) > size {
            break;
        }
        end += total;
    }
    let records = if end <= buf.len() {
        Bytes::from(buf).slice(off..end)
    } else {
        // The first batch is larger than what was read: one more read for exactly it.
        let start = pos + off as u64;
        let v = seg.read_at(start, end - off)?;
        if v.len() < end - off {
            return Err(corrupt(start));
        }
        Bytes::from(v)
    };
    Ok(Some((records, base)))
}
