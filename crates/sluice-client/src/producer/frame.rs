//! Zero-copy Produce frames. Encoding a `ProduceRequest` with kafka-protocol copies every
//! record batch into one contiguous frame buffer (a second copy of all produced data, into
//! freshly faulted pages). Here the frame is a list of segments: the small encoded parts
//! (size, request header, field and array prefixes) and, in between, the batches' own `Bytes`
//! (a reference count, no copy). The writer sends the segments with vectored writes.
//! The layout (Produce v3-v12; v9+ flexible) is checked byte for byte against
//! kafka-protocol's encoder in the tests.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use sluice_protocol::kafka_protocol::messages::{ProduceRequest, RequestHeader};
use sluice_protocol::kafka_protocol::protocol::Encodable;

/// A frame as segments, consumed front to back by the writer.
#[derive(Debug, Default)]
pub struct Segments {
    parts: VecDeque<Bytes>,
    remaining: usize,
}

impl Segments {
    fn push(&mut self, b: Bytes) {
        if !b.is_empty() {
            self.remaining += b.len();
            self.parts.push_back(b);
        }
    }

    #[cfg(test)]
    pub fn to_vec(&self) -> Vec<u8> {
        self.parts.iter().flat_map(|b| b.iter().copied()).collect()
    }
}

impl Buf for Segments {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.parts.front().map_or(&[], |b| &b[..])
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, part) in dst.iter_mut().zip(self.parts.iter()) {
            *slot = IoSlice::new(part);
            n += 1;
        }
        n
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.remaining, "advance past the end of the frame");
        self.remaining -= cnt;
        while cnt > 0 {
            let Some(front) = self.parts.front_mut() else {
                return;
            };
            if cnt < front.len() {
                front.advance(cnt);
                return;
            }
            cnt -= front.len();
            self.parts.pop_front();
        }
    }
}

/// Builds the segments: small fields go to `buf`, batches are cut in as their own `Bytes`.
struct Builder {
    out: Segments,
    buf: BytesMut,
    flexible: bool,
}

impl Builder {
    fn cut(&mut self) {
        let small = self.buf.split().freeze();
        self.out.push(small);
    }

    fn uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.put_u8((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.put_u8(v as u8);
    }

    /// An array length (compact: n + 1).
    fn array_len(&mut self, n: usize) -> anyhow::Result<()> {
        if self.flexible {
            self.uvarint(n as u64 + 1);
        } else {
            self.buf.put_i32(i32::try_from(n)?);
        }
        Ok(())
    }

    fn string(&mut self, s: Option<&str>) -> anyhow::Result<()> {
        match (s, self.flexible) {
            (None, true) => self.uvarint(0),
            (None, false) => self.buf.put_i16(-1),
            (Some(s), true) => {
                self.uvarint(s.len() as u64 + 1);
                self.buf.put_slice(s.as_bytes());
            }
            (Some(s), false) => {
                self.buf.put_i16(i16::try_from(s.len())?);
                self.buf.put_slice(s.as_bytes());
            }
        }
        Ok(())
    }

    fn records(&mut self, r: Option<&Bytes>) -> anyhow::Result<()> {
        match (r, self.flexible) {
            (None, true) => self.uvarint(0),
            (None, false) => self.buf.put_i32(-1),
            (Some(r), flexible) => {
                if flexible {
                    self.uvarint(r.len() as u64 + 1);
                } else {
                    self.buf.put_i32(i32::try_from(r.len())?);
                }
                self.cut();
                self.out.push(r.clone());
            }
        }
        Ok(())
    }

    fn no_tags(&mut self) {
        if self.flexible {
            self.uvarint(0);
        }
    }
}

/// Encodes `header` and `req` (Produce `version`, 3..=12) as a size-prefixed frame.
pub fn produce_frame(
    header: &RequestHeader,
    header_version: i16,
    req: &ProduceRequest,
    version: i16,
) -> anyhow::Result<Segments> {
    anyhow::ensure!(
        (3..=12).contains(&version),
        "Produce v{version} is not encoded here"
    );
    if !req.unknown_tagged_fields.is_empty()
        || req.topic_data.iter().any(|t| {
            !t.unknown_tagged_fields.is_empty()
                || t.partition_data
                    .iter()
                    .any(|p| !p.unknown_tagged_fields.is_empty())
        })
    {
        anyhow::bail!("Produce requests with tagged fields are not encoded here");
    }
    let mut b = Builder {
        out: Segments::default(),
        buf: BytesMut::with_capacity(256),
        flexible: version >= 9,
    };
    b.buf.put_i32(0); // frame size, patched below
    header.encode(&mut b.buf, header_version)?;
    b.string(req.transactional_id.as_ref().map(|t| t.0.as_str()))?;
    b.buf.put_i16(req.acks);
    b.buf.put_i32(req.timeout_ms);
    b.array_len(req.topic_data.len())?;
    for t in &req.topic_data {
        b.string(Some(t.name.0.as_str()))?;
        b.array_len(t.partition_data.len())?;
        for p in &t.partition_data {
            b.buf.put_i32(p.index);
            b.records(p.records.as_ref())?;
            b.no_tags();
        }
        b.no_tags();
    }
    b.no_tags();
    b.cut();
    let size = i32::try_from(b.out.remaining - 4)?;
    let first = b
        .out
        .parts
        .front_mut()
        .expect("the size prefix is the first segment");
    let mut patched = BytesMut::from(&first[..]);
    patched[0..4].copy_from_slice(&size.to_be_bytes());
    *first = patched.freeze();
    Ok(b.out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_protocol::kafka_protocol::messages::produce_request::{
        PartitionProduceData, TopicProduceData,
    };
    use sluice_protocol::kafka_protocol::messages::{ApiKey, TopicName, TransactionalId};
    use sluice_protocol::kafka_protocol::protocol::StrBytes;

    fn request(txn: Option<&str>) -> ProduceRequest {
        let part = |i: i32, r: Option<&'static [u8]>| {
            PartitionProduceData::default()
                .with_index(i)
                .with_records(r.map(Bytes::from_static))
        };
        ProduceRequest::default()
            .with_transactional_id(txn.map(|t| TransactionalId(StrBytes::from_string(t.into()))))
            .with_acks(-1)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_static_str("alpha")))
                    .with_partition_data(vec![
                        part(0, Some(&[1u8; 300][..])),
                        part(3, Some(b"xyz")),
                        part(5, None),
                    ]),
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_static_str("b")))
                    .with_partition_data(vec![part(1, Some(&[9u8; 200][..]))]),
            ])
    }

    #[test]
    fn segments_match_kafka_protocol_encoding_for_every_version() {
        for version in 3..=12i16 {
            for txn in [None, Some("tx-1")] {
                let req = request(txn);
                let header = RequestHeader::default()
                    .with_request_api_key(ApiKey::Produce as i16)
                    .with_request_api_version(version)
                    .with_correlation_id(77)
                    .with_client_id(Some(StrBytes::from_static_str("cid")));
                let hv = ApiKey::Produce.request_header_version(version);
                let mut want = BytesMut::new();
                want.put_i32(0);
                header.encode(&mut want, hv).unwrap();
                req.encode(&mut want, version).unwrap();
                let n = (want.len() - 4) as i32;
                want[0..4].copy_from_slice(&n.to_be_bytes());
                let got = produce_frame(&header, hv, &req, version).unwrap();
                assert_eq!(got.remaining(), want.len(), "v{version}");
                assert_eq!(got.to_vec(), want.to_vec(), "v{version} txn {txn:?}");
            }
        }
    }

    #[test]
    fn batches_are_not_copied_and_buf_advances_across_segments() {
        let req = request(None);
        let header = RequestHeader::default().with_request_api_key(ApiKey::Produce as i16);
        let mut f = produce_frame(&header, 1, &req, 7).unwrap();
        let batch = req.topic_data[0].partition_data[0].records.clone().unwrap();
        assert!(
            f.parts.iter().any(|p| p.as_ptr() == batch.as_ptr()),
            "the batch is a segment of its own"
        );
        let all = f.to_vec();
        let mut slices = [IoSlice::new(&[]); 3];
        assert_eq!(f.chunks_vectored(&mut slices), 3);
        let mut read = Vec::new();
        while f.has_remaining() {
            let step = f.chunk().len().min(7);
            read.extend_from_slice(&f.chunk()[..step]);
            f.advance(step);
        }
        assert_eq!(read, all);
        assert!(produce_frame(&header, 1, &req, 13).is_err());
    }
}
