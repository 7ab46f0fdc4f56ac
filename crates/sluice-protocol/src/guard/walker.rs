//! The schema walker: reads a request body the way kafka-protocol will, but only to check that
//! every length and element count fits in the bytes that remain, before the crate (which trusts
//! them and reserves memory up front) ever sees the body. It allocates nothing, never indexes
//! out of bounds, and never panics; it must never accept less than the crate accepts for valid
//! input, so length arithmetic mirrors the crate's (5-byte unsigned varints, `n - 1` compact
//! lengths, i8 marker 1 = present).

use super::schema::{Ty, S};
use super::Problem;

/// Where in the schema a problem was found.
#[derive(Debug)]
pub(crate) struct Violation {
    pub struct_name: &'static str,
    pub field: &'static str,
    pub problem: Problem,
}

/// A bounds-checked reader over a byte slice.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Problem> {
        if n > self.buf.len() {
            return Err(Problem::Truncated {
                needed: n as u64,
                remaining: self.buf.len(),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Problem> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn i8(&mut self) -> Result<i8, Problem> {
        Ok(i8::from_be_bytes(self.array()?))
    }

    pub(crate) fn i16(&mut self) -> Result<i16, Problem> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    pub(crate) fn i32(&mut self) -> Result<i32, Problem> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    /// Unsigned varint exactly as kafka-protocol reads it: at most 5 bytes, excess bits dropped.
    pub(crate) fn uvarint(&mut self) -> Result<u32, Problem> {
        let mut value = 0u32;
        for i in 0..5 {
            let b = u32::from(self.array::<1>()?[0]);
            value |= (b & 0x7f) << (i * 7);
            if b < 0x80 {
                break;
            }
        }
        Ok(value)
    }

    /// Skips a classic (signed) length-prefixed value; -1 is null.
    fn classic_len(&mut self, len: i64) -> Result<(), Problem> {
        match len {
            -1 => Ok(()),
            n if n < -1 => Err(Problem::NegativeLength(n)),
            n => self.checked_skip(n as u64),
        }
    }

    /// Skips a compact (length + 1) value; 0 is null.
    fn compact_len(&mut self, n: u32) -> Result<(), Problem> {
        match n {
            0 => Ok(()),
            n => self.checked_skip(u64::from(n - 1)),
        }
    }

    fn checked_skip(&mut self, len: u64) -> Result<(), Problem> {
        self.check_len(len)?;
        self.take(len as usize).map(|_| ())
    }

    fn check_len(&self, len: u64) -> Result<(), Problem> {
        if len > self.buf.len() as u64 {
            return Err(Problem::LengthExceedsRemaining {
                len,
                remaining: self.buf.len(),
            });
        }
        Ok(())
    }

    /// Checks an element count (known non-negative) against the bytes left: every element
    /// takes at least one byte, except structs that are empty at this version, and those are
    /// bounded the same way so the crate never reserves more slots than there are bytes.
    fn check_count(&self, count: u64) -> Result<usize, Problem> {
        self.check_len(count)?;
        Ok(count as usize)
    }
}

/// Walks a whole request body of `version`. `Ok` means every length the crate will trust fits.
pub(crate) fn walk_body(body: &S, version: i16, buf: &[u8]) -> Result<(), Violation> {
    walk_struct(body, version, &mut Cursor::new(buf))
}

fn walk_struct(s: &S, version: i16, cur: &mut Cursor<'_>) -> Result<(), Violation> {
    for field in s.fields {
        if field.tag.is_none() && field.present_in(version) {
            walk_ty(&field.ty, version, cur).map_err(|e| e.located(s.name, field.name))?;
        }
    }
    if version >= s.flexible {
        walk_tagged_section(s, version, cur)?;
    }
    Ok(())
}

/// The tagged-field section: count, then (tag, size, value) triples. kafka-protocol reads a
/// known tag's value from the main buffer without looking at `size`, so a known value must
/// fill its declared size exactly; unknown values are skipped by size.
fn walk_tagged_section(s: &S, version: i16, cur: &mut Cursor<'_>) -> Result<(), Violation> {
    let at = |problem: Problem| Violation {
        struct_name: s.name,
        field: "<tagged fields>",
        problem,
    };
    let count = cur.uvarint().map_err(at)?;
    for _ in 0..count {
        let tag = cur.uvarint().map_err(at)?;
        let size = cur.uvarint().map_err(at)?;
        cur.check_len(u64::from(size)).map_err(at)?;
        let value = cur.take(size as usize).map_err(at)?;
        let known = s
            .fields
            .iter()
            .find(|f| f.tag == Some(tag) && f.present_in(version));
        if let Some(field) = known {
            let mut inner = Cursor::new(value);
            walk_ty(&field.ty, version, &mut inner).map_err(|e| e.located(s.name, field.name))?;
            if inner.remaining() != 0 {
                return Err(Violation {
                    struct_name: s.name,
                    field: field.name,
                    problem: Problem::TaggedFieldSize {
                        tag,
                        size,
                        used: size as usize - inner.remaining(),
                    },
                });
            }
        }
    }
    Ok(())
}

/// A problem either found directly (no location yet) or already located in a nested struct.
pub(crate) enum WalkError {
    Here(Problem),
    Nested(Violation),
}

impl From<Problem> for WalkError {
    fn from(p: Problem) -> Self {
        WalkError::Here(p)
    }
}

impl From<Violation> for WalkError {
    fn from(v: Violation) -> Self {
        WalkError::Nested(v)
    }
}

impl WalkError {
    fn located(self, struct_name: &'static str, field: &'static str) -> Violation {
        match self {
            WalkError::Here(problem) => Violation {
                struct_name,
                field,
                problem,
            },
            WalkError::Nested(v) => v,
        }
    }
}

fn walk_ty(ty: &Ty, version: i16, cur: &mut Cursor<'_>) -> Result<(), WalkError> {
    match ty {
        Ty::Fixed(n) => {
            cur.take(*n)?;
        }
        Ty::Str => {
            let len = cur.i16()?;
            cur.classic_len(i64::from(len))?;
        }
        Ty::Bytes => {
            let len = cur.i32()?;
            cur.classic_len(i64::from(len))?;
        }
        Ty::CStr | Ty::CBytes => {
            let n = cur.uvarint()?;
            cur.compact_len(n)?;
        }
        Ty::Arr(elem) => {
            let n = cur.i32()?;
            match n {
                -1 => {}
                n if n < -1 => return Err(Problem::NegativeLength(i64::from(n)).into()),
                n => walk_elements(elem, n as u64, version, cur)?,
            }
        }
        Ty::CArr(elem) => {
            let n = cur.uvarint()?;
            if n > 0 {
                walk_elements(elem, u64::from(n - 1), version, cur)?;
            }
        }
        Ty::Struct(s) => walk_struct(s, version, cur)?,
        Ty::OptStruct(s) => {
            if cur.i8()? == 1 {
                walk_struct(s, version, cur)?;
            }
        }
    }
    Ok(())
}

fn walk_elements(
    elem: &Ty,
    count: u64,
    version: i16,
    cur: &mut Cursor<'_>,
) -> Result<(), WalkError> {
    let count = cur.check_count(count)?;
    if let Ty::Fixed(width) = elem {
        let total = (count as u64).saturating_mul(*width as u64);
        cur.check_len(total)?;
        cur.take(total as usize)?;
        return Ok(());
    }
    for _ in 0..count {
        walk_ty(elem, version, cur)?;
    }
    Ok(())
}
