//! Record-level codec for the log cleaner: splits a v2 batch into its records (decompressing
//! with `kafka_protocol::compression`, any codec) and builds a batch from a subset of them,
//! re-compressed with the original codec. Each record's value and headers are copied byte for
//! byte (duplicate header keys survive), only the timestamp and offset deltas are re-encoded.
//! This is also where Kafka 3.x's delete horizon lives: attribute bit 6 set means the batch's
//! baseTimestamp is the time after which its tombstones may be removed. Never panics on data
//! read from disk or the network: anything malformed is an `Err(String)`.

use bytes::{BufMut, Bytes, BytesMut};
use sluice_protocol::kafka_protocol::compression::{self as cmpr, Compressor, Decompressor};
use sluice_protocol::record_batch::{build_batch, set_partition_leader_epoch, BatchHeader, Codec};

/// Attribute bit 6: the batch's baseTimestamp is its delete horizon (KIP-534).
pub(crate) const DELETE_HORIZON_BIT: i16 = 1 << 6;
const CODEC_MASK: i16 = 0x7;

/// One record of a batch, with the bytes the cleaner does not interpret kept verbatim.
#[derive(Debug, Clone)]
pub(crate) struct RawRecord {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    /// The value is null.
    pub tombstone: bool,
    attributes: u8,
    /// Value length, value and headers, exactly as stored.
    tail: Bytes,
}

/// The delete horizon of a batch, if it carries one.
pub(crate) fn delete_horizon(h: &BatchHeader<'_>) -> Option<i64> {
    (h.attributes() & DELETE_HORIZON_BIT != 0).then(|| h.base_timestamp())
}

fn read_varlong(buf: &[u8], pos: &mut usize) -> Result<i64, String> {
    let mut v: u64 = 0;
    for i in 0..10 {
        let b = *buf.get(*pos).ok_or("truncated varint")?;
        *pos += 1;
        v |= ((b & 0x7f) as u64) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(((v >> 1) as i64) ^ -((v & 1) as i64));
        }
    }
    Err("varint too long".into())
}

fn read_len(buf: &[u8], pos: &mut usize) -> Result<Option<usize>, String> {
    match read_varlong(buf, pos)? {
        -1 => Ok(None),
        n if n < -1 || n > i32::MAX as i64 => Err(format!("bad length {n}")),
        n => Ok(Some(n as usize)),
    }
}

fn write_varlong(v: i64, out: &mut Vec<u8>) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn decompress(codec: Codec, body: &[u8]) -> Result<Bytes, String> {
    let mut b = Bytes::copy_from_slice(body);
    let r = match codec {
        Codec::None => return Ok(b),
        Codec::Gzip => cmpr::Gzip::decompress(&mut b, |d: &mut Bytes| Ok(d.clone())),
        Codec::Snappy => cmpr::Snappy::decompress(&mut b, |d: &mut Bytes| Ok(d.clone())),
        Codec::Lz4 => cmpr::Lz4::decompress(&mut b, |d: &mut Bytes| Ok(d.clone())),
        Codec::Zstd => cmpr::Zstd::decompress(&mut b, |d: &mut Bytes| Ok(d.clone())),
    };
    r.map_err(|e| format!("{} decompression failed: {e}", codec.name()))
}

fn compress(codec: Codec, raw: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(raw.len() / 2 + 64);
    let r = match codec {
        Codec::None => return Ok(raw.to_vec()),
        Codec::Gzip => cmpr::Gzip::compress(&mut out, |b: &mut BytesMut| {
            b.put_slice(raw);
            Ok(())
        }),
        Codec::Snappy => cmpr::Snappy::compress(&mut out, |b: &mut BytesMut| {
            b.put_slice(raw);
            Ok(())
        }),
        Codec::Lz4 => cmpr::Lz4::compress(&mut out, |b: &mut BytesMut| {
            b.put_slice(raw);
            Ok(())
        }),
        Codec::Zstd => cmpr::Zstd::compress(&mut out, |b: &mut BytesMut| {
            b.put_slice(raw);
            Ok(())
        }),
    };
    r.map_err(|e| format!("{} compression failed: {e}", codec.name()))?;
    Ok(out)
}

/// Decodes every record of a (data or control) batch.
pub(crate) fn decode_records(h: &BatchHeader<'_>) -> Result<Vec<RawRecord>, String> {
    let codec = h.codec().map_err(|e| e.to_string())?;
    let raw = decompress(codec, h.records())?;
    let count = h.records_count();
    if count < 0 || count as usize > raw.len() {
        return Err(format!("bad record count {count}"));
    }
    let mut out = Vec::with_capacity(count as usize);
    let mut pos = 0usize;
    for _ in 0..count {
        let len = read_len(&raw, &mut pos)?.ok_or("null record length")?;
        let end = pos.checked_add(len).filter(|e| *e <= raw.len());
        let end = end.ok_or("record longer than its batch")?;
        let rec = raw.slice(pos..end);
        pos = end;
        let mut p = 0usize;
        let attributes = *rec.first().ok_or("empty record")?;
        p += 1;
        let ts_delta = read_varlong(&rec, &mut p)?;
        let off_delta = read_varlong(&rec, &mut p)?;
        let key = match read_len(&rec, &mut p)? {
            None => None,
            Some(n) => {
                let k = rec.get(p..p + n).ok_or("truncated key")?;
                let k = rec.slice_ref(k);
                p += n;
                Some(k)
            }
        };
        let tail_start = p;
        let tombstone = match read_len(&rec, &mut p)? {
            None => true,
            Some(n) => {
                if p + n > rec.len() {
                    return Err("truncated value".into());
                }
                false
            }
        };
        out.push(RawRecord {
            offset: h.base_offset().saturating_add(off_delta),
            timestamp: h.base_timestamp().saturating_add(ts_delta),
            key,
            tombstone,
            attributes,
            tail: rec.slice(tail_start..),
        });
    }
    if pos != raw.len() {
        return Err("trailing bytes after the last record".into());
    }
    Ok(out)
}

/// Header fields of a rebuilt batch that are not taken from the original.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchLayout {
    pub base_offset: i64,
    pub last_offset_delta: i32,
    pub base_sequence: i32,
    pub delete_horizon: Option<i64>,
}

/// Builds a batch holding `records` (a subset of `orig`'s, in order) with `orig`'s producer
/// id/epoch, leader epoch, flags, timestamp type and codec (an empty batch is uncompressed).
pub(crate) fn encode_batch(
    orig: &BatchHeader<'_>,
    layout: BatchLayout,
    records: &[&RawRecord],
) -> Result<Vec<u8>, String> {
    let mut attrs = orig.attributes() & !DELETE_HORIZON_BIT;
    if records.is_empty() {
        attrs &= !CODEC_MASK;
    }
    if layout.delete_horizon.is_some() {
        attrs |= DELETE_HORIZON_BIT;
    }
    let min_ts = records.iter().map(|r| r.timestamp).min();
    let base_ts = layout
        .delete_horizon
        .or(min_ts)
        .unwrap_or(orig.base_timestamp());
    let max_ts = match records.iter().map(|r| r.timestamp).max() {
        Some(t) if !orig.is_log_append_time() => t,
        _ => orig.max_timestamp(),
    };
    let mut raw = Vec::new();
    let mut body = Vec::new();
    for r in records {
        body.clear();
        body.push(r.attributes);
        write_varlong(r.timestamp.wrapping_sub(base_ts), &mut body);
        let delta = r.offset - layout.base_offset;
        if !(0..=i32::MAX as i64).contains(&delta) {
            return Err(format!("offset delta {delta} out of range"));
        }
        write_varlong(delta, &mut body);
        match &r.key {
            Some(k) => {
                write_varlong(k.len() as i64, &mut body);
                body.extend_from_slice(k);
            }
            None => write_varlong(-1, &mut body),
        }
        body.extend_from_slice(&r.tail);
        write_varlong(body.len() as i64, &mut raw);
        raw.extend_from_slice(&body);
    }
    let codec = Codec::from_attributes(attrs).map_err(|e| e.to_string())?;
    let section = compress(codec, &raw)?;
    let mut b = build_batch(
        layout.base_offset,
        attrs,
        layout.last_offset_delta,
        base_ts,
        max_ts,
        orig.producer_id(),
        orig.producer_epoch(),
        layout.base_sequence,
        records.len() as i32,
        &section,
    );
    set_partition_leader_epoch(&mut b, orig.partition_leader_epoch());
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ts_delta: i64, off_delta: i64, key: Option<&[u8]>, value: Option<&[u8]>) -> Vec<u8> {
        let mut r = vec![0u8];
        write_varlong(ts_delta, &mut r);
        write_varlong(off_delta, &mut r);
        for f in [key, value] {
            match f {
                Some(b) => {
                    write_varlong(b.len() as i64, &mut r);
                    r.extend_from_slice(b);
                }
                None => write_varlong(-1, &mut r),
            }
        }
        // two headers with the same key
        write_varlong(2, &mut r);
        for v in [b"1", b"2"] {
            write_varlong(1, &mut r);
            r.push(b'h');
            write_varlong(1, &mut r);
            r.extend_from_slice(v);
        }
        let mut out = Vec::new();
        write_varlong(r.len() as i64, &mut out);
        out.extend(r);
        out
    }

    #[test]
    fn subset_roundtrips_for_every_codec() {
        let mut recs = Vec::new();
        recs.extend(record(0, 0, Some(b"a"), Some(b"v0")));
        recs.extend(record(5, 1, Some(b"b"), None));
        recs.extend(record(9, 2, Some(b"a"), Some(b"v2")));
        for codec in [
            Codec::None,
            Codec::Gzip,
            Codec::Snappy,
            Codec::Lz4,
            Codec::Zstd,
        ] {
            let attrs = codec as i16;
            let section = compress(codec, &recs).unwrap();
            let mut b = build_batch(100, attrs, 2, 1000, 1009, 7, 1, 40, 3, &section);
            set_partition_leader_epoch(&mut b, 4);
            let h = BatchHeader::parse(&b).unwrap();
            h.validate().unwrap();
            let all = decode_records(&h).unwrap();
            assert_eq!(all.len(), 3);
            assert_eq!(all[1].offset, 101);
            assert!(all[1].tombstone);
            let kept = [&all[1], &all[2]];
            let layout = BatchLayout {
                base_offset: 101,
                last_offset_delta: 1,
                base_sequence: 41,
                delete_horizon: Some(5000),
            };
            let nb = encode_batch(&h, layout, &kept).unwrap();
            let nh = BatchHeader::parse(&nb).unwrap();
            nh.validate().unwrap();
            assert_eq!(nh.codec().unwrap(), codec);
            assert_eq!((nh.base_offset(), nh.last_offset()), (101, 102));
            assert_eq!(nh.partition_leader_epoch(), 4);
            assert_eq!(nh.max_timestamp(), 1009);
            assert_eq!(delete_horizon(&nh), Some(5000));
            let back = decode_records(&nh).unwrap();
            assert_eq!(back.len(), 2);
            for (x, y) in back.iter().zip(kept) {
                assert_eq!(
                    (x.offset, x.timestamp, &x.key),
                    (y.offset, y.timestamp, &y.key)
                );
                assert_eq!(x.tail, y.tail);
            }
            // kafka-protocol reads the rebuilt batch too (values and timestamps intact).
            let set = sluice_protocol::kafka_protocol::records::RecordBatchDecoder::decode(
                &mut Bytes::from(nb.clone()),
            )
            .unwrap();
            assert_eq!(set.records[1].value.as_deref(), Some(&b"v2"[..]));
            assert_eq!(set.records[1].timestamp, 1009);
            assert_eq!(set.records[0].offset, 101);
        }
    }

    #[test]
    fn garbage_never_panics() {
        let b = build_batch(0, 0, 0, 0, 0, -1, -1, -1, 1, &[0x80, 0x80, 0x80]);
        let h = BatchHeader::parse(&b).unwrap();
        assert!(decode_records(&h).is_err());
        let b = build_batch(0, 0, 0, 0, 0, -1, -1, -1, 5, &[2, 0, 0]);
        assert!(decode_records(&BatchHeader::parse(&b).unwrap()).is_err());
    }
}
