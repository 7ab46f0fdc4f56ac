//! Test support: a deterministic PRNG and a schema-driven generator of valid request bodies
//! (non-empty arrays and strings, known and unknown tagged fields), plus the mutator the
//! bounded in-suite fuzz run uses. Bodies generated here are only trusted after kafka-protocol
//! has decoded them and consumed every byte, so a wrong table row fails the tests instead of
//! hiding behind the generator.

use super::schema::{Msg, Ty, S};

/// xorshift64*: small, deterministic, good enough to pick shapes and bytes.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(super) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A tag no covered request defines, used to exercise unknown-tag skipping.
const UNKNOWN_TAG: u32 = 7777;

fn put_uvarint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A valid body of `msg` at `version`. `populated` gives every array 1-3 elements and every
/// string/bytes field content; otherwise arrays are empty and strings short or empty.
pub(super) fn gen_body(msg: &Msg, version: i16, rng: &mut Rng, populated: bool) -> Vec<u8> {
    let mut out = Vec::new();
    gen_struct(msg.body, version, rng, populated, &mut out);
    out
}

fn gen_struct(s: &S, version: i16, rng: &mut Rng, populated: bool, out: &mut Vec<u8>) {
    for field in s.fields {
        if field.tag.is_none() && field.present_in(version) {
            gen_ty(&field.ty, version, rng, populated, out);
        }
    }
    if version < s.flexible {
        return;
    }
    let mut tagged: Vec<(u32, Vec<u8>)> = Vec::new();
    for field in s.fields {
        if let Some(tag) = field.tag {
            if field.present_in(version) && (populated || rng.below(2) == 0) {
                let mut value = Vec::new();
                gen_ty(&field.ty, version, rng, true, &mut value);
                tagged.push((tag, value));
            }
        }
    }
    if populated || rng.below(4) == 0 {
        let len = rng.below(4);
        tagged.push((UNKNOWN_TAG, (0..len).map(|_| rng.next() as u8).collect()));
    }
    put_uvarint(out, tagged.len() as u32);
    for (tag, value) in tagged {
        put_uvarint(out, tag);
        put_uvarint(out, value.len() as u32);
        out.extend_from_slice(&value);
    }
}

fn gen_ty(ty: &Ty, version: i16, rng: &mut Rng, populated: bool, out: &mut Vec<u8>) {
    match ty {
        Ty::Fixed(n) => out.extend((0..*n).map(|_| rng.next() as u8)),
        Ty::Str | Ty::CStr => {
            let len = if populated {
                1 + rng.below(8)
            } else {
                rng.below(2)
            };
            let text: Vec<u8> = (0..len).map(|_| b'a' + rng.below(26) as u8).collect();
            put_len(ty, len, out);
            out.extend_from_slice(&text);
        }
        Ty::Bytes | Ty::CBytes => {
            let len = if populated { 1 + rng.below(8) } else { 0 };
            put_len(ty, len, out);
            out.extend((0..len).map(|_| rng.next() as u8));
        }
        Ty::Arr(elem) | Ty::CArr(elem) => {
            let count = if populated { 1 + rng.below(3) } else { 0 };
            put_len(ty, count, out);
            for _ in 0..count {
                gen_ty(elem, version, rng, populated, out);
            }
        }
        Ty::Struct(s) => gen_struct(s, version, rng, populated, out),
        Ty::OptStruct(s) => {
            out.push(1);
            gen_struct(s, version, rng, populated, out);
        }
    }
}

fn put_len(ty: &Ty, len: usize, out: &mut Vec<u8>) {
    match ty {
        Ty::Str => out.extend_from_slice(&(len as i16).to_be_bytes()),
        Ty::Bytes | Ty::Arr(_) => out.extend_from_slice(&(len as i32).to_be_bytes()),
        _ => put_uvarint(out, len as u32 + 1),
    }
}

/// A hostile variant of `input`: a few byte flips, length-shaped overwrites (0x7fffffff,
/// 0xff.., varint continuation runs), insertions, deletions and truncations.
pub(super) fn mutate(input: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut data = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let pos = if data.is_empty() {
            0
        } else {
            rng.below(data.len())
        };
        match rng.below(8) {
            0 if !data.is_empty() => data[pos] = rng.next() as u8,
            1 if !data.is_empty() => data[pos] ^= 1 << rng.below(8),
            2 => splice(&mut data, pos, &[0x7f, 0xff, 0xff, 0xff]),
            3 => splice(&mut data, pos, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
            4 => splice(&mut data, pos, &[0x80, 0x80, 0x80, 0x80, 0x80, 0x80]),
            5 => data.truncate(pos),
            6 if !data.is_empty() => {
                data.remove(pos);
            }
            _ => data.insert(pos.min(data.len()), rng.next() as u8),
        }
    }
    data
}

/// Overwrites bytes at `pos` with `with` (growing the buffer if needed).
fn splice(data: &mut Vec<u8>, pos: usize, with: &[u8]) {
    for (i, b) in with.iter().enumerate() {
        match data.get_mut(pos + i) {
            Some(slot) => *slot = *b,
            None => data.push(*b),
        }
    }
}
