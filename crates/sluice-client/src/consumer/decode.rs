//! Decoding of fetched v2 RecordBatches into records without copying: keys, values and header
//! values are `Bytes` slices of the fetched buffer (or of the decompressed batch). Checks CRC32C
//! when asked (`check.crcs`), drops a partial trailing batch, skips control batches and, under
//! read_committed, batches of aborted transactions. Reports the offset to fetch next (past the
//! last whole batch, including skipped ones). Untrusted input: never panics, never trusts a
//! length without a bounds check.

use std::collections::HashSet;

use bytes::Bytes;
use sluice_protocol::kafka_protocol::compression::{Decompressor, Gzip, Lz4, Snappy, Zstd};
use sluice_protocol::record_batch::{BatchHeader, Codec, HEADER_SIZE};

use crate::consumer::record::Header;

/// One record as fetched, before deserialization.
#[derive(Debug, Clone)]
pub(crate) struct RawRecord {
    pub offset: i64,
    pub timestamp: i64,
    pub log_append_time: bool,
    pub leader_epoch: i32,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
}

/// The records of one partition's fetched data.
#[derive(Debug, Default)]
pub(crate) struct Decoded {
    pub records: Vec<RawRecord>,
    /// Offset after the last whole batch seen, `None` when no whole batch was present.
    pub next_offset: Option<i64>,
}

/// An aborted transaction as Fetch reports it (read_committed).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
}

/// A bounds-checked cursor over one decompressed records section.
struct Cursor<'a> {
    buf: &'a Bytes,
    pos: usize,
}

impl Cursor<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.buf.get(self.pos).ok_or("record truncated")?;
        self.pos += 1;
        Ok(b)
    }

    fn varlong(&mut self) -> Result<i64, String> {
        let mut raw: u64 = 0;
        let mut shift = 0;
        loop {
            let b = self.byte()?;
            raw |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return Err("varint too long".into());
            }
        }
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    fn varint(&mut self) -> Result<i32, String> {
        i32::try_from(self.varlong()?).map_err(|_| "varint out of range".to_string())
    }

    /// A varint length then that many bytes; -1 = null.
    fn nullable(&mut self) -> Result<Option<Bytes>, String> {
        let len = self.varint()?;
        if len < 0 {
            return Ok(None);
        }
        let end = self
            .pos
            .checked_add(len as usize)
            .filter(|e| *e <= self.buf.len())
            .ok_or("record field longer than the batch")?;
        let out = self.buf.slice(self.pos..end);
        self.pos = end;
        Ok(Some(out))
    }
}

fn decompress(codec: Codec, mut data: Bytes) -> Result<Bytes, String> {
    let keep = |b: &mut Bytes| Ok(b.clone());
    let r = match codec {
        Codec::None => return Ok(data),
        Codec::Gzip => Gzip::decompress(&mut data, keep),
        Codec::Snappy => Snappy::decompress(&mut data, keep),
        Codec::Lz4 => Lz4::decompress(&mut data, keep),
        Codec::Zstd => Zstd::decompress(&mut data, keep),
    };
    r.map_err(|e| format!("decompressing a {} batch: {e}", codec.name()))
}

/// Decodes `data` (a partition's `records` field). Records before `from_offset` are skipped.
/// `aborted` is `Some` under read_committed.
pub(crate) fn decode_fetched(
    data: &Bytes,
    from_offset: i64,
    check_crcs: bool,
    aborted: Option<&[AbortedTxn]>,
) -> Result<Decoded, String> {
    let mut out = Decoded::default();
    let mut aborted: Vec<AbortedTxn> = aborted.map(<[_]>::to_vec).unwrap_or_default();
    aborted.sort_by_key(|a| a.first_offset);
    let mut next_aborted = 0usize;
    let mut active_aborted: HashSet<i64> = HashSet::new();
    let mut pos = 0usize;
    while pos < data.len() {
        let header = match BatchHeader::parse(&data[pos..]) {
            Ok(h) => h,
            // A partial batch at the end of a size-limited fetch.
            Err(_) => break,
        };
        let total = header.total_size();
        let batch_start = pos;
        pos += total;
        if header.magic() != 2 {
            return Err(format!(
                "unsupported record batch magic {} at offset {}",
                header.magic(),
                header.base_offset()
            ));
        }
        let bytes = header.as_bytes();
        if check_crcs {
            let computed = crc32c::crc32c(&bytes[21..]);
            if computed != header.crc() {
                return Err(format!(
                    "record batch at offset {} is corrupt (CRC {:#010x}, computed {computed:#010x})",
                    header.base_offset(),
                    header.crc()
                ));
            }
        }
        let base = header.base_offset();
        let last = header.last_offset();
        out.next_offset = Some(last + 1);
        while next_aborted < aborted.len() && aborted[next_aborted].first_offset <= last {
            active_aborted.insert(aborted[next_aborted].producer_id);
            next_aborted += 1;
        }
        if header.is_control() {
            active_aborted.remove(&header.producer_id());
            continue;
        }
        if header.is_transactional() && active_aborted.contains(&header.producer_id()) {
            continue;
        }
        if last < from_offset {
            continue;
        }
        let codec = header.codec().map_err(|e| e.to_string())?;
        let section = data.slice(batch_start + HEADER_SIZE..batch_start + total);
        let section = decompress(codec, section)?;
        let log_append_time = header.is_log_append_time();
        let base_ts = header.base_timestamp();
        let max_ts = header.max_timestamp();
        let epoch = header.partition_leader_epoch();
        let count = header.records_count().max(0) as usize;
        let mut c = Cursor {
            buf: &section,
            pos: 0,
        };
        out.records.reserve(count.min(section.len()));
        for _ in 0..count {
            let len = c.varint()?;
            if len <= 0 {
                return Err("record length must be positive".into());
            }
            let end = c
                .pos
                .checked_add(len as usize)
                .filter(|e| *e <= section.len())
                .ok_or("record longer than its batch")?;
            c.byte()?; // attributes (unused)
            let ts_delta = c.varlong()?;
            let offset_delta = c.varint()?;
            let key = c.nullable()?;
            let value = c.nullable()?;
            let n_headers = c.varint()?;
            let mut headers = Vec::new();
            for _ in 0..n_headers.max(0) {
                let k = c.nullable()?.ok_or("null header key")?;
                let k = String::from_utf8(k.to_vec()).map_err(|_| "header key is not UTF-8")?;
                headers.push((k, c.nullable()?));
            }
            if c.pos > end {
                return Err("record fields overrun its length".into());
            }
            c.pos = end;
            let offset = base + i64::from(offset_delta);
            if offset < from_offset {
                continue;
            }
            out.records.push(RawRecord {
                offset,
                timestamp: if log_append_time {
                    max_ts
                } else {
                    base_ts.wrapping_add(ts_delta)
                },
                log_append_time,
                leader_epoch: epoch,
                key,
                value,
                headers,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::produce::{encode_batch, ProduceRecord};
    use sluice_protocol::kafka_protocol::records::Compression;
    use sluice_protocol::record_batch::set_base_offset;

    fn batch(base: i64, n: usize, c: Compression) -> Vec<u8> {
        let recs: Vec<ProduceRecord> = (0..n)
            .map(|i| ProduceRecord {
                key: (i % 2 == 0).then(|| Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(format!("v{}", base + i as i64))),
                headers: vec![("h".into(), Some(Bytes::from_static(b"x")))],
                timestamp: Some(1_000 + i as i64),
            })
            .collect();
        let mut b = encode_batch(&recs, c).unwrap().to_vec();
        set_base_offset(&mut b, base);
        b
    }

    #[test]
    fn every_codec_decodes_and_partial_tail_is_dropped() {
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut blob = batch(10, 3, c);
            blob.extend(batch(13, 2, c));
            let tail = batch(15, 2, c);
            blob.extend_from_slice(&tail[..tail.len() - 3]);
            let d = decode_fetched(&Bytes::from(blob), 11, true, None).unwrap();
            let offs: Vec<i64> = d.records.iter().map(|r| r.offset).collect();
            assert_eq!(offs, vec![11, 12, 13, 14], "{c:?}");
            assert_eq!(d.next_offset, Some(15));
            assert_eq!(d.records[0].value.as_deref(), Some(&b"v11"[..]));
            assert_eq!(d.records[1].key.as_deref(), Some(&b"k2"[..]));
            assert_eq!(d.records[0].key, None);
            assert_eq!(d.records[0].timestamp, 1_001);
            assert_eq!(d.records[0].headers[0].0, "h");
        }
    }

    #[test]
    fn corrupt_crc_is_an_error_unless_unchecked() {
        let mut b = batch(0, 2, Compression::None);
        let n = b.len();
        b[n - 1] ^= 0xff;
        let data = Bytes::from(b);
        assert!(decode_fetched(&data, 0, true, None).is_err());
        assert!(decode_fetched(&data, 0, false, None).is_ok());
    }

    #[test]
    fn hostile_bytes_never_panic() {
        for len in 0..200 {
            let mut b = batch(0, 3, Compression::None);
            b.truncate(len.min(b.len()));
            let _ = decode_fetched(&Bytes::from(b.clone()), 0, false, None);
            for i in 61..b.len() {
                let mut x = b.clone();
                x[i] = 0xff;
                let _ = decode_fetched(&Bytes::from(x), 0, false, None);
            }
        }
    }
}
