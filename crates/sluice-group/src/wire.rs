//! Bounds-checked readers and writers for Kafka's message primitives (int16/32/64, strings,
//! bytes, arrays, and the flexible-version compact forms with tagged fields). Used by the
//! `__consumer_offsets` record codec and the consumer-protocol subscription parser. Input is
//! hostile: every length is checked against the bytes that remain; nothing here may panic.

use bytes::{BufMut, Bytes, BytesMut};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated: needed {needed} bytes, {remaining} remain")]
    Truncated { needed: usize, remaining: usize },
    #[error("invalid length {0}")]
    InvalidLength(i64),
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    #[error("null where a value is required")]
    UnexpectedNull,
    #[error("unsupported version {0}")]
    UnsupportedVersion(i16),
    #[error("varint is too long")]
    VarintTooLong,
}

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::Truncated {
                needed: n,
                remaining: self.buf.len(),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn i16(&mut self) -> Result<i16, DecodeError> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    pub(crate) fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    pub(crate) fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    pub(crate) fn uvarint(&mut self) -> Result<u32, DecodeError> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let b = self.array::<1>()?[0];
            value |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::VarintTooLong)
    }

    fn utf8(bytes: &[u8]) -> Result<String, DecodeError> {
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| DecodeError::InvalidUtf8)
    }

    /// Classic `string` / nullable `string`: int16 length, -1 for null.
    pub(crate) fn nullable_string(&mut self) -> Result<Option<String>, DecodeError> {
        let len = self.i16()?;
        if len == -1 {
            return Ok(None);
        }
        if len < 0 {
            return Err(DecodeError::InvalidLength(len.into()));
        }
        Self::utf8(self.take(len as usize)?).map(Some)
    }

    pub(crate) fn string(&mut self) -> Result<String, DecodeError> {
        self.nullable_string()?.ok_or(DecodeError::UnexpectedNull)
    }

    /// Classic `bytes`: int32 length, -1 for null.
    pub(crate) fn nullable_bytes(&mut self) -> Result<Option<Bytes>, DecodeError> {
        let len = self.i32()?;
        if len == -1 {
            return Ok(None);
        }
        if len < 0 {
            return Err(DecodeError::InvalidLength(len.into()));
        }
        Ok(Some(Bytes::copy_from_slice(self.take(len as usize)?)))
    }

    /// Classic array length: int32, -1 for null. The count is checked against the bytes
    /// left, assuming each element takes at least `min_element_size` bytes.
    pub(crate) fn array_len(
        &mut self,
        min_element_size: usize,
    ) -> Result<Option<usize>, DecodeError> {
        let len = self.i32()?;
        if len == -1 {
            return Ok(None);
        }
        self.check_count(i64::from(len), min_element_size).map(Some)
    }

    fn check_count(&self, len: i64, min_element_size: usize) -> Result<usize, DecodeError> {
        if len < 0 {
            return Err(DecodeError::InvalidLength(len));
        }
        let len = len as usize;
        if len.saturating_mul(min_element_size.max(1)) > self.buf.len() {
            return Err(DecodeError::InvalidLength(len as i64));
        }
        Ok(len)
    }

    /// Compact length (unsigned varint N+1, 0 for null).
    fn compact_len(&mut self) -> Result<Option<usize>, DecodeError> {
        match self.uvarint()? {
            0 => Ok(None),
            n => Ok(Some((n - 1) as usize)),
        }
    }

    pub(crate) fn compact_nullable_string(&mut self) -> Result<Option<String>, DecodeError> {
        match self.compact_len()? {
            None => Ok(None),
            Some(n) => Self::utf8(self.take(n)?).map(Some),
        }
    }

    pub(crate) fn compact_string(&mut self) -> Result<String, DecodeError> {
        self.compact_nullable_string()?
            .ok_or(DecodeError::UnexpectedNull)
    }

    pub(crate) fn compact_nullable_bytes(&mut self) -> Result<Option<Bytes>, DecodeError> {
        match self.compact_len()? {
            None => Ok(None),
            Some(n) => Ok(Some(Bytes::copy_from_slice(self.take(n)?))),
        }
    }

    pub(crate) fn compact_array_len(
        &mut self,
        min_element_size: usize,
    ) -> Result<Option<usize>, DecodeError> {
        match self.compact_len()? {
            None => Ok(None),
            Some(n) => self.check_count(n as i64, min_element_size).map(Some),
        }
    }

    /// Skips a tagged-field section (count, then tag/size/bytes per field).
    pub(crate) fn skip_tagged_fields(&mut self) -> Result<(), DecodeError> {
        let count = self.uvarint()?;
        self.check_count(i64::from(count), 2)?;
        for _ in 0..count {
            self.uvarint()?;
            let size = self.uvarint()? as usize;
            self.take(size)?;
        }
        Ok(())
    }
}

pub(crate) fn put_string(buf: &mut BytesMut, s: &str) {
    // Kafka strings are at most i16::MAX bytes; callers bound their inputs (group ids,
    // topic names, metadata are all validated far below this), so clamp defensively.
    let bytes = &s.as_bytes()[..s.len().min(i16::MAX as usize)];
    buf.put_i16(bytes.len() as i16);
    buf.put_slice(bytes);
}

pub(crate) fn put_nullable_string(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_string(buf, s),
        None => buf.put_i16(-1),
    }
}

pub(crate) fn put_bytes(buf: &mut BytesMut, b: &[u8]) {
    buf.put_i32(b.len().min(i32::MAX as usize) as i32);
    buf.put_slice(b);
}

impl Reader<'_> {
    pub(crate) fn i8(&mut self) -> Result<i8, DecodeError> {
        Ok(self.array::<1>()?[0] as i8)
    }

    pub(crate) fn uuid(&mut self) -> Result<uuid::Uuid, DecodeError> {
        Ok(uuid::Uuid::from_bytes(self.array::<16>()?))
    }
}

pub(crate) fn put_uvarint(buf: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

pub(crate) fn put_compact_string(buf: &mut BytesMut, s: &str) {
    let bytes = &s.as_bytes()[..s.len().min(i16::MAX as usize)];
    put_uvarint(buf, bytes.len() as u32 + 1);
    buf.put_slice(bytes);
}

pub(crate) fn put_compact_nullable_string(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_compact_string(buf, s),
        None => put_uvarint(buf, 0),
    }
}

pub(crate) fn put_compact_array_len(buf: &mut BytesMut, len: usize) {
    put_uvarint(buf, len.min(u32::MAX as usize - 1) as u32 + 1);
}
