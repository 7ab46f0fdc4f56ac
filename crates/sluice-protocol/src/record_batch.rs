//! A zero-copy view over Kafka v2 `RecordBatch`es as they travel on the wire and sit on disk.
//!
//! The broker never decodes records on its hot path: it reads the 61-byte batch header,
//! validates it (length, magic, CRC32C, codec, record count), and patches `baseOffset` and
//! `partitionLeaderEpoch` in place — both lie outside the CRC, so the client's checksum stays
//! valid. This module must never panic on any byte sequence.

use thiserror::Error;

/// Size of the fixed v2 batch header (baseOffset .. recordsCount).
pub const HEADER_SIZE: usize = 61;
/// Bytes before `batchLength` counts from (baseOffset + batchLength).
pub const LOG_OVERHEAD: usize = 12;

const BASE_OFFSET: usize = 0;
const BATCH_LENGTH: usize = 8;
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

const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_BIT: i16 = 0x08;
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;

/// Why a batch was refused. Each variant maps to the Kafka error code Kafka returns.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BatchError {
    #[error("record batch truncated: need {need} bytes, have {have}")]
    Truncated { need: usize, have: usize },
    #[error("record batch length {0} is invalid")]
    InvalidLength(i32),
    #[error("unsupported record batch magic {0} (only v2 is supported)")]
    UnsupportedMagic(i8),
    #[error("record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("unknown compression codec {0}")]
    UnknownCodec(i16),
    #[error("record count {count} does not match last offset delta {last_offset_delta}")]
    CountMismatch { count: i32, last_offset_delta: i32 },
}

impl BatchError {
    /// The Kafka error code a Produce response carries for this failure.
    pub fn kafka_code(&self) -> i16 {
        match self {
            // CORRUPT_MESSAGE
            BatchError::Truncated { .. }
            | BatchError::InvalidLength(_)
            | BatchError::CrcMismatch { .. }
            | BatchError::UnknownCodec(_) => 2,
            // INVALID_RECORD
            BatchError::UnsupportedMagic(_) | BatchError::CountMismatch { .. } => 87,
        }
    }
}

/// Compression codec of a batch (attributes bits 0-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Codec {
    pub fn from_attributes(attributes: i16) -> Result<Codec, BatchError> {
        match attributes & COMPRESSION_MASK {
            0 => Ok(Codec::None),
            1 => Ok(Codec::Gzip),
            2 => Ok(Codec::Snappy),
            3 => Ok(Codec::Lz4),
            4 => Ok(Codec::Zstd),
            other => Err(BatchError::UnknownCodec(other)),
        }
    }

    /// Kafka's name for the codec (`compression.type` values).
    pub fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Gzip => "gzip",
            Codec::Snappy => "snappy",
            Codec::Lz4 => "lz4",
            Codec::Zstd => "zstd",
        }
    }
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(x)
}

/// A read-only view of one complete batch. Construct with [`BatchHeader::parse`], which checks
/// that the header and the whole body (`batchLength`) are present.
#[derive(Debug, Clone, Copy)]
pub struct BatchHeader<'a> {
    bytes: &'a [u8],
}

impl<'a> BatchHeader<'a> {
    /// Reads the batch at the start of `buf`. Checks only that the header is present, the
    /// length field is sane and the whole batch is inside `buf`; call [`Self::validate`] for
    /// magic, CRC and the rest.
    pub fn parse(buf: &'a [u8]) -> Result<BatchHeader<'a>, BatchError> {
        if buf.len() < HEADER_SIZE {
            return Err(BatchError::Truncated {
                need: HEADER_SIZE,
                have: buf.len(),
            });
        }
        let batch_length = be_i32(buf, BATCH_LENGTH);
        if batch_length < (HEADER_SIZE - LOG_OVERHEAD) as i32 {
            return Err(BatchError::InvalidLength(batch_length));
        }
        let total = LOG_OVERHEAD + batch_length as usize;
        if buf.len() < total {
            return Err(BatchError::Truncated {
                need: total,
                have: buf.len(),
            });
        }
        Ok(BatchHeader {
            bytes: &buf[..total],
        })
    }

    /// Full magic/CRC/codec/count validation, as the broker does on produce and recovery.
    pub fn validate(&self) -> Result<(), BatchError> {
        if self.magic() != 2 {
            return Err(BatchError::UnsupportedMagic(self.magic()));
        }
        let computed = crc32c::crc32c(&self.bytes[ATTRIBUTES..]);
        if computed != self.crc() {
            return Err(BatchError::CrcMismatch {
                stored: self.crc(),
                computed,
            });
        }
        Codec::from_attributes(self.attributes())?;
        let count = self.records_count();
        let delta = self.last_offset_delta();
        if count < 0 || delta < 0 || (count > 0 && count != delta + 1) {
            return Err(BatchError::CountMismatch {
                count,
                last_offset_delta: delta,
            });
        }
        Ok(())
    }

    /// The whole batch (header and records).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// Total size on the wire: 12 + batchLength.
    pub fn total_size(&self) -> usize {
        self.bytes.len()
    }
    pub fn base_offset(&self) -> i64 {
        be_i64(self.bytes, BASE_OFFSET)
    }
    pub fn last_offset(&self) -> i64 {
        self.base_offset()
            .saturating_add(self.last_offset_delta() as i64)
    }
    pub fn partition_leader_epoch(&self) -> i32 {
        be_i32(self.bytes, PARTITION_LEADER_EPOCH)
    }
    pub fn magic(&self) -> i8 {
        self.bytes[MAGIC] as i8
    }
    pub fn crc(&self) -> u32 {
        be_i32(self.bytes, CRC) as u32
    }
    pub fn attributes(&self) -> i16 {
        be_i16(self.bytes, ATTRIBUTES)
    }
    pub fn codec(&self) -> Result<Codec, BatchError> {
        Codec::from_attributes(self.attributes())
    }
    pub fn is_log_append_time(&self) -> bool {
        self.attributes() & TIMESTAMP_TYPE_BIT != 0
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes() & TRANSACTIONAL_BIT != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes() & CONTROL_BIT != 0
    }
    pub fn last_offset_delta(&self) -> i32 {
        be_i32(self.bytes, LAST_OFFSET_DELTA)
    }
    pub fn base_timestamp(&self) -> i64 {
        be_i64(self.bytes, BASE_TIMESTAMP)
    }
    pub fn max_timestamp(&self) -> i64 {
        be_i64(self.bytes, MAX_TIMESTAMP)
    }
    pub fn producer_id(&self) -> i64 {
        be_i64(self.bytes, PRODUCER_ID)
    }
    pub fn producer_epoch(&self) -> i16 {
        be_i16(self.bytes, PRODUCER_EPOCH)
    }
    pub fn base_sequence(&self) -> i32 {
        be_i32(self.bytes, BASE_SEQUENCE)
    }
    /// Sequence of the last record, wrapping at i32::MAX as Kafka does.
    pub fn last_sequence(&self) -> i32 {
        let base = self.base_sequence();
        if base < 0 {
            return -1;
        }
        let last = base as i64 + self.last_offset_delta() as i64;
        if last > i32::MAX as i64 {
            (last - i32::MAX as i64 - 1) as i32
        } else {
            last as i32
        }
    }
    pub fn records_count(&self) -> i32 {
        be_i32(self.bytes, RECORDS_COUNT)
    }
    /// The records section (possibly compressed).
    pub fn records(&self) -> &'a [u8] {
        &self.bytes[HEADER_SIZE..]
    }
}

/// Iterates the complete batches in a buffer of concatenated batches. Stops at the first
/// incomplete or malformed one; [`BatchIter::error`] then says why (None at a clean end).
pub struct BatchIter<'a> {
    buf: &'a [u8],
    pos: usize,
    error: Option<BatchError>,
}

impl<'a> BatchIter<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        BatchIter {
            buf,
            pos: 0,
            error: None,
        }
    }
    /// Byte position just after the last batch yielded.
    pub fn position(&self) -> usize {
        self.pos
    }
    /// Why iteration stopped early, if it did (a truncated or invalid-length batch).
    pub fn error(&self) -> Option<&BatchError> {
        self.error.as_ref()
    }
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = BatchHeader<'a>;
    fn next(&mut self) -> Option<BatchHeader<'a>> {
        if self.pos >= self.buf.len() || self.error.is_some() {
            return None;
        }
        match BatchHeader::parse(&self.buf[self.pos..]) {
            Ok(h) => {
                self.pos += h.total_size();
                Some(h)
            }
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }
}

/// Overwrites `baseOffset` of the batch starting at `buf[0]` (outside the CRC).
pub fn set_base_offset(buf: &mut [u8], base_offset: i64) {
    if buf.len() >= HEADER_SIZE {
        buf[BASE_OFFSET..BASE_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
    }
}

/// Overwrites `partitionLeaderEpoch` of the batch starting at `buf[0]` (outside the CRC).
pub fn set_partition_leader_epoch(buf: &mut [u8], epoch: i32) {
    if buf.len() >= HEADER_SIZE {
        buf[PARTITION_LEADER_EPOCH..PARTITION_LEADER_EPOCH + 4]
            .copy_from_slice(&epoch.to_be_bytes());
    }
}

/// Switches a batch to LogAppendTime with `now_ms` as its max timestamp and recomputes the CRC
/// (both fields lie inside it). Used only for topics with message.timestamp.type=LogAppendTime.
pub fn set_log_append_time(buf: &mut [u8], now_ms: i64) {
    if buf.len() < HEADER_SIZE {
        return;
    }
    let attrs = be_i16(buf, ATTRIBUTES) | TIMESTAMP_TYPE_BIT;
    buf[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attrs.to_be_bytes());
    buf[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c(&buf[ATTRIBUTES..]);
    buf[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// [`set_log_append_time`] for a batch held in two parts: a copy of its 61-byte header `head`
/// (patched) and the untouched bytes after it, `rest`. The CRC is computed over the patched
/// header followed by `rest`, so the result equals patching the whole batch in place. Lets the
/// broker append a batch straight from the request buffer without copying its body.
pub fn set_log_append_time_split(head: &mut [u8; HEADER_SIZE], rest: &[u8], now_ms: i64) {
    let attrs = be_i16(head, ATTRIBUTES) | TIMESTAMP_TYPE_BIT;
    head[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attrs.to_be_bytes());
    head[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&head[ATTRIBUTES..]), rest);
    head[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Builds a complete, valid, uncompressed v2 batch from already-encoded records. Used by the
/// broker for control batches and by tests; clients encode through `kafka-protocol`.
#[allow(clippy::too_many_arguments)]
pub fn build_batch(
    base_offset: i64,
    attributes: i16,
    last_offset_delta: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    records_count: i32,
    records: &[u8],
) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEADER_SIZE + records.len());
    b.extend_from_slice(&base_offset.to_be_bytes());
    let len = (HEADER_SIZE - LOG_OVERHEAD + records.len()) as i32;
    b.extend_from_slice(&len.to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
    b.push(2); // magic
    b.extend_from_slice(&0u32.to_be_bytes()); // crc placeholder
    b.extend_from_slice(&attributes.to_be_bytes());
    b.extend_from_slice(&last_offset_delta.to_be_bytes());
    b.extend_from_slice(&base_timestamp.to_be_bytes());
    b.extend_from_slice(&max_timestamp.to_be_bytes());
    b.extend_from_slice(&producer_id.to_be_bytes());
    b.extend_from_slice(&producer_epoch.to_be_bytes());
    b.extend_from_slice(&base_sequence.to_be_bytes());
    b.extend_from_slice(&records_count.to_be_bytes());
    b.extend_from_slice(records);
    let crc = crc32c::crc32c(&b[ATTRIBUTES..]);
    b[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(records: &[u8], count: i32) -> Vec<u8> {
        build_batch(0, 0, count - 1, 1000, 2000, 7, 1, 5, count, records)
    }

    #[test]
    fn valid_batch_roundtrips_and_patches_keep_crc() {
        let mut b = sample(b"abc", 3);
        let h = BatchHeader::parse(&b).unwrap();
        h.validate().unwrap();
        assert_eq!(h.records_count(), 3);
        assert_eq!(h.last_sequence(), 7);
        set_base_offset(&mut b, 42);
        set_partition_leader_epoch(&mut b, 9);
        let h = BatchHeader::parse(&b).unwrap();
        h.validate().unwrap();
        assert_eq!(h.base_offset(), 42);
        assert_eq!(h.last_offset(), 44);
        assert_eq!(h.partition_leader_epoch(), 9);
    }

    #[test]
    fn corrupt_crc_is_refused_with_corrupt_message() {
        let mut b = sample(b"abc", 3);
        let last = b.len() - 1;
        b[last] ^= 0xff;
        let err = BatchHeader::parse(&b).unwrap().validate().unwrap_err();
        assert!(matches!(err, BatchError::CrcMismatch { .. }));
        assert_eq!(err.kafka_code(), 2);
    }

    #[test]
    fn wrong_magic_and_count_are_invalid_record() {
        let mut b = sample(b"abc", 3);
        b[MAGIC] = 1;
        let err = BatchHeader::parse(&b).unwrap().validate().unwrap_err();
        assert_eq!(err.kafka_code(), 87);
        let b = build_batch(0, 0, 5, 0, 0, -1, -1, -1, 2, b"x");
        let err = BatchHeader::parse(&b).unwrap().validate().unwrap_err();
        assert!(matches!(err, BatchError::CountMismatch { .. }));
    }

    #[test]
    fn log_append_time_recomputes_crc() {
        let mut b = sample(b"abc", 3);
        set_log_append_time(&mut b, 123456);
        let h = BatchHeader::parse(&b).unwrap();
        h.validate().unwrap();
        assert!(h.is_log_append_time());
        assert_eq!(h.max_timestamp(), 123456);
    }

    #[test]
    fn split_log_append_time_matches_in_place() {
        let mut whole = sample(b"some record bytes", 3);
        let mut head = [0u8; HEADER_SIZE];
        head.copy_from_slice(&whole[..HEADER_SIZE]);
        let rest = whole[HEADER_SIZE..].to_vec();
        set_log_append_time(&mut whole, 987654);
        set_log_append_time_split(&mut head, &rest, 987654);
        assert_eq!(&whole[..HEADER_SIZE], &head[..]);
        let mut joined = head.to_vec();
        joined.extend_from_slice(&rest);
        BatchHeader::parse(&joined).unwrap().validate().unwrap();
    }

    #[test]
    fn iterator_stops_at_torn_tail() {
        let mut all = sample(b"a", 1);
        all.extend(sample(b"bb", 2));
        let full = all.len();
        all.extend(&sample(b"ccc", 3)[..20]);
        let mut it = BatchIter::new(&all);
        assert_eq!(it.by_ref().count(), 2);
        assert_eq!(it.position(), full);
        assert!(matches!(it.error(), Some(BatchError::Truncated { .. })));
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut it = BatchIter::new(&bytes);
            for h in it.by_ref() {
                let _ = h.validate();
                let _ = h.last_sequence();
            }
        }
    }
}
