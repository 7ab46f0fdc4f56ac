//! `ProducerBatch`: one partition's records encoded in place into a v2 RecordBatch buffer as
//! they are appended (no per-record allocation), sealed once — compressed with the configured
//! codec and level, header and CRC written — and stamped with producer id, epoch and base
//! sequence when drained. It never sends anything; the sender owns its lifecycle.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use sluice_protocol::kafka_protocol::compression::{Compressor, Snappy};
use sluice_protocol::kafka_protocol::records::Compression;

use super::config::CompressionLevels;
use super::delivery::{Callback, DeliveryShared, RecordInfo};
use super::error::ProducerError;
use super::record::Header;

/// Size of the v2 batch header (up to and including recordsCount).
pub const HEADER_SIZE: usize = 61;
const LENGTH: usize = 8;
const PARTITION_LEADER_EPOCH: usize = 12;
const MAGIC: usize = 16;
const CRC: usize = 17;
const ATTRIBUTES: usize = 21;
const LAST_OFFSET_DELTA: usize = 23;
const BASE_TIMESTAMP: usize = 27;
const MAX_TIMESTAMP: usize = 35;
const PRODUCER_ID: usize = 43;
const PRODUCER_EPOCH: usize = 51;
const BASE_SEQUENCE: usize = 53;
const RECORDS_COUNT: usize = 57;

fn varint_len(v: i64) -> usize {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    let mut n = 1;
    while z >= 0x80 {
        z >>= 7;
        n += 1;
    }
    n
}

fn put_varint(buf: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        buf.push((z as u8) | 0x80);
        z >>= 7;
    }
    buf.push(z as u8);
}

fn bytes_len(b: Option<&[u8]>) -> usize {
    match b {
        Some(b) => varint_len(b.len() as i64) + b.len(),
        None => 1,
    }
}

fn put_bytes(buf: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        Some(b) => {
            put_varint(buf, b.len() as i64);
            buf.extend_from_slice(b);
        }
        None => put_varint(buf, -1),
    }
}

/// Upper bound of a record's encoded size with its length prefix, for batching and memory.
pub fn estimate_size(key: Option<&[u8]>, value: Option<&[u8]>, headers: &[Header]) -> usize {
    let h: usize = headers
        .iter()
        .map(|h| varint_len(h.key.len() as i64) + h.key.len() + bytes_len(h.value.as_deref()))
        .sum();
    // length(≤5) + attributes(1) + timestampDelta(≤10) + offsetDelta(≤5) + headers count(≤5)
    26 + bytes_len(key) + bytes_len(value) + h
}

/// One batch being filled or in flight.
pub struct ProducerBatch {
    pub topic: Arc<str>,
    pub partition: i32,
    /// HEADER_SIZE reserved bytes, then the encoded records.
    buf: Vec<u8>,
    pub count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    pub created: Instant,
    /// Bytes of buffer.memory this batch holds.
    pub reserved: usize,
    /// Records with a callback (or all records when interceptors are configured).
    pub acks: Vec<(RecordInfo, Option<Callback>)>,
    /// Shared with the `DeliveryFuture`s of this batch's records.
    pub shared: Arc<DeliveryShared>,
    /// The sealed wire form (set on first drain).
    wire: Option<Bytes>,
    /// (producer id, epoch, base sequence) stamped on the wire form.
    pub stamp: Option<(i64, i16, i32)>,
    pub attempts: u32,
    pub retry_at: Option<Instant>,
}

impl ProducerBatch {
    #[cfg(test)]
    pub fn new(topic: Arc<str>, partition: i32, capacity: usize) -> Self {
        Self::with_buffer(topic, partition, Vec::with_capacity(HEADER_SIZE + capacity))
    }

    /// A batch that encodes into `buf` (a recycled buffer; its contents are discarded).
    pub fn with_buffer(topic: Arc<str>, partition: i32, mut buf: Vec<u8>) -> Self {
        buf.clear();
        buf.resize(HEADER_SIZE, 0);
        ProducerBatch {
            topic,
            partition,
            buf,
            count: 0,
            base_timestamp: 0,
            max_timestamp: 0,
            created: Instant::now(),
            reserved: 0,
            acks: Vec::new(),
            shared: Arc::new(DeliveryShared::default()),
            wire: None,
            stamp: None,
            attempts: 0,
            retry_at: None,
        }
    }

    /// Encoded size so far (header included, before compression).
    pub fn size(&self) -> usize {
        self.buf.len()
    }

    pub fn is_sealed(&self) -> bool {
        self.wire.is_some()
    }

    /// Whether `extra` more bytes fit under `limit` (an empty batch always accepts).
    pub fn has_room(&self, extra: usize, limit: usize) -> bool {
        self.wire.is_none() && (self.count == 0 || self.buf.len() + extra <= limit)
    }

    /// Appends one record; returns its index in the batch.
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> u32 {
        if self.count == 0 {
            self.base_timestamp = timestamp;
            self.max_timestamp = timestamp;
        }
        self.max_timestamp = self.max_timestamp.max(timestamp);
        let ts_delta = timestamp.wrapping_sub(self.base_timestamp);
        let offset_delta = self.count as i64;
        let headers_len: usize = headers
            .iter()
            .map(|h| varint_len(h.key.len() as i64) + h.key.len() + bytes_len(h.value.as_deref()))
            .sum();
        let body = 1
            + varint_len(ts_delta)
            + varint_len(offset_delta)
            + bytes_len(key)
            + bytes_len(value)
            + varint_len(headers.len() as i64)
            + headers_len;
        let buf = &mut self.buf;
        buf.reserve(body + 5);
        put_varint(buf, body as i64);
        buf.push(0);
        put_varint(buf, ts_delta);
        put_varint(buf, offset_delta);
        put_bytes(buf, key);
        put_bytes(buf, value);
        put_varint(buf, headers.len() as i64);
        for h in headers {
            put_bytes(buf, Some(h.key.as_bytes()));
            put_bytes(buf, h.value.as_deref());
        }
        self.count += 1;
        (self.count - 1) as u32
    }

    /// Compresses and writes the header (producer id -1) once; later calls are no-ops.
    pub fn seal(
        &mut self,
        compression: Compression,
        levels: &CompressionLevels,
    ) -> Result<(), ProducerError> {
        if self.wire.is_some() {
            return Ok(());
        }
        let records = std::mem::take(&mut self.buf);
        let (mut out, codec) = match compression {
            Compression::None => (records, 0i16),
            c => {
                let mut out = Vec::with_capacity(HEADER_SIZE + records.len() / 2);
                out.resize(HEADER_SIZE, 0);
                let codec = compress_into(c, levels, &records[HEADER_SIZE..], &mut out)?;
                (out, codec)
            }
        };
        let len = (out.len() - 12) as i32;
        out[LENGTH..LENGTH + 4].copy_from_slice(&len.to_be_bytes());
        out[PARTITION_LEADER_EPOCH..PARTITION_LEADER_EPOCH + 4]
            .copy_from_slice(&(-1i32).to_be_bytes());
        out[MAGIC] = 2;
        out[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&codec.to_be_bytes());
        out[LAST_OFFSET_DELTA..LAST_OFFSET_DELTA + 4]
            .copy_from_slice(&(self.count - 1).max(0).to_be_bytes());
        out[BASE_TIMESTAMP..BASE_TIMESTAMP + 8].copy_from_slice(&self.base_timestamp.to_be_bytes());
        out[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&self.max_timestamp.to_be_bytes());
        out[RECORDS_COUNT..RECORDS_COUNT + 4].copy_from_slice(&self.count.to_be_bytes());
        write_stamp(&mut out, -1, -1, -1);
        self.wire = Some(Bytes::from(out));
        Ok(())
    }

    /// Sets producer id, epoch and base sequence (recomputing the CRC). Sealed batches only.
    pub fn set_stamp(&mut self, producer_id: i64, epoch: i16, base_sequence: i32) {
        if self.stamp == Some((producer_id, epoch, base_sequence)) {
            return;
        }
        if let Some(w) = self.wire.take() {
            let mut v = match w.try_into_mut() {
                Ok(m) => m,
                Err(shared) => BytesMut::from(&shared[..]),
            };
            write_stamp(&mut v, producer_id, epoch, base_sequence);
            self.wire = Some(v.freeze());
            self.stamp = Some((producer_id, epoch, base_sequence));
        }
    }

    /// The sealed batch bytes (empty before `seal`).
    pub fn wire(&self) -> Bytes {
        self.wire.clone().unwrap_or_default()
    }

    /// The batch's buffer for reuse by a later batch, unless something (a request being
    /// written) still shares it.
    pub fn into_buffer(mut self) -> Option<Vec<u8>> {
        match self.wire.take() {
            Some(w) => w.try_into_mut().ok().map(Vec::from),
            None => Some(std::mem::take(&mut self.buf)),
        }
    }

    pub fn wire_len(&self) -> usize {
        self.wire.as_ref().map_or(self.buf.len(), |w| w.len())
    }
}

fn write_stamp(out: &mut [u8], producer_id: i64, epoch: i16, base_sequence: i32) {
    out[PRODUCER_ID..PRODUCER_ID + 8].copy_from_slice(&producer_id.to_be_bytes());
    out[PRODUCER_EPOCH..PRODUCER_EPOCH + 2].copy_from_slice(&epoch.to_be_bytes());
    out[BASE_SEQUENCE..BASE_SEQUENCE + 4].copy_from_slice(&base_sequence.to_be_bytes());
    let crc = crc32c::crc32c(&out[ATTRIBUTES..]);
    out[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Compresses `data` onto the end of `out`; returns the attributes codec bits.
fn compress_into(
    c: Compression,
    levels: &CompressionLevels,
    data: &[u8],
    out: &mut Vec<u8>,
) -> Result<i16, ProducerError> {
    let fail =
        |e: &dyn std::fmt::Display| ProducerError::Invalid(format!("compressing batch: {e}"));
    match c {
        Compression::None => {
            out.extend_from_slice(data);
            Ok(0)
        }
        Compression::Gzip => {
            let level = match levels.gzip {
                Some(l) if l > 0 => flate2::Compression::new(l as u32),
                _ => flate2::Compression::default(),
            };
            let mut e = flate2::write::GzEncoder::new(out, level);
            e.write_all(data).map_err(|e| fail(&e))?;
            e.finish().map_err(|e| fail(&e))?;
            Ok(1)
        }
        Compression::Snappy => {
            let mut b = BytesMut::new();
            <Snappy as Compressor<BytesMut>>::compress(&mut b, |tmp: &mut BytesMut| {
                tmp.put_slice(data);
                Ok(())
            })
            .map_err(|e| fail(&e))?;
            out.extend_from_slice(&b);
            Ok(2)
        }
        Compression::Lz4 => {
            let mut e = lz4::EncoderBuilder::new()
                .level(levels.lz4.unwrap_or(9) as u32)
                .block_mode(lz4::BlockMode::Independent)
                .build(out)
                .map_err(|e| fail(&e))?;
            e.write_all(data).map_err(|e| fail(&e))?;
            let (_, r) = e.finish();
            r.map_err(|e| fail(&e))?;
            Ok(3)
        }
        Compression::Zstd => {
            let z = zstd::bulk::compress(data, levels.zstd.unwrap_or(3)).map_err(|e| fail(&e))?;
            out.extend_from_slice(&z);
            Ok(4)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_protocol::kafka_protocol::records::RecordBatchDecoder;
    use sluice_protocol::record_batch::BatchHeader;

    fn sample(c: Compression, levels: CompressionLevels) -> ProducerBatch {
        let mut b = ProducerBatch::new("t".into(), 0, 1024);
        for i in 0..50i64 {
            let k = format!("key-{i}");
            let v = format!("value value value {i}");
            let headers = vec![
                Header {
                    key: "h".into(),
                    value: Some(Bytes::from_static(b"x")),
                },
                Header {
                    key: "n".into(),
                    value: None,
                },
            ];
            let key = (i % 3 != 0).then_some(k.as_bytes());
            let value = (i % 7 != 0).then_some(v.as_bytes());
            assert!(b.size() + estimate_size(key, value, &headers) >= b.size());
            b.append(1_700_000_000_000 + i * 3 - 20, key, value, &headers);
        }
        b.seal(c, &levels).unwrap();
        b
    }

    #[test]
    fn batches_decode_with_every_codec_and_level() {
        let cases = [
            (Compression::None, CompressionLevels::default()),
            (Compression::Gzip, CompressionLevels::default()),
            (
                Compression::Gzip,
                CompressionLevels {
                    gzip: Some(9),
                    ..Default::default()
                },
            ),
            (Compression::Snappy, CompressionLevels::default()),
            (Compression::Lz4, CompressionLevels::default()),
            (
                Compression::Lz4,
                CompressionLevels {
                    lz4: Some(1),
                    ..Default::default()
                },
            ),
            (Compression::Zstd, CompressionLevels::default()),
            (
                Compression::Zstd,
                CompressionLevels {
                    zstd: Some(19),
                    ..Default::default()
                },
            ),
        ];
        for (c, levels) in cases {
            let mut b = sample(c, levels);
            b.set_stamp(42, 3, 100);
            let wire = b.wire();
            let h = BatchHeader::parse(&wire).unwrap();
            h.validate().unwrap();
            assert_eq!(h.records_count(), 50);
            assert_eq!(h.producer_id(), 42);
            assert_eq!(h.producer_epoch(), 3);
            assert_eq!(h.base_sequence(), 100);
            assert_eq!(h.max_timestamp(), 1_700_000_000_000 + 49 * 3 - 20);
            let mut bytes = wire.clone();
            let sets = RecordBatchDecoder::decode_all(&mut bytes).unwrap();
            let recs = &sets[0].records;
            assert_eq!(recs.len(), 50, "{c:?}");
            for (i, r) in recs.iter().enumerate() {
                let i = i as i64;
                assert_eq!(r.offset, i);
                assert_eq!(r.sequence, 100 + i as i32);
                assert_eq!(r.timestamp, 1_700_000_000_000 + i * 3 - 20);
                let key = (i % 3 != 0).then(|| Bytes::from(format!("key-{i}")));
                assert_eq!(r.key, key);
                let value = (i % 7 != 0).then(|| Bytes::from(format!("value value value {i}")));
                assert_eq!(r.value, value);
                assert_eq!(r.headers.len(), 2);
            }
        }
    }

    #[test]
    fn restamping_keeps_the_batch_valid() {
        let mut b = sample(Compression::None, CompressionLevels::default());
        b.set_stamp(1, 0, 0);
        let held = b.wire(); // a request still holds the old bytes
        b.set_stamp(2, 1, 5);
        let h = BatchHeader::parse(&held).unwrap();
        assert_eq!(h.producer_id(), 1);
        let w = b.wire();
        let h = BatchHeader::parse(&w).unwrap();
        h.validate().unwrap();
        assert_eq!(
            (h.producer_id(), h.producer_epoch(), h.base_sequence()),
            (2, 1, 5)
        );
    }

    #[test]
    fn room_is_bounded_but_first_record_always_fits() {
        let mut b = ProducerBatch::new("t".into(), 0, 16);
        assert!(b.has_room(10_000, 100));
        b.append(0, None, Some(&[0u8; 50]), &[]);
        assert!(!b.has_room(60, 100));
        assert!(b.has_room(10, 200));
    }
}
