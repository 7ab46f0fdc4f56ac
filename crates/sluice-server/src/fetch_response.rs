//! Zero-copy Fetch response encoding: writes a whole response frame (size prefix, response
//! header, FetchResponse body) as a list of [`Chunk`]s — encoded metadata bytes interleaved
//! with file regions holding the stored record batches — so records go from the page cache to
//! the socket without being copied into a response buffer. The body layout is Kafka's
//! FetchResponse v4–v18 field for field (flexible from v12, topic_id from v13, tagged fields
//! only when non-default) and must stay byte-identical to `kafka-protocol`'s encoder, which
//! the tests prove; nested structs (aborted transactions, tagged fields) are encoded by
//! `kafka-protocol` itself. It never reads record bytes and never panics on its input.

use bytes::{BufMut, Bytes, BytesMut};
use sluice_protocol::kafka_protocol::messages::fetch_response::{
    FetchableTopicResponse, PartitionData,
};
use sluice_protocol::kafka_protocol::messages::{FetchResponse, ResponseHeader};
use sluice_protocol::kafka_protocol::protocol::{Encodable, StrBytes};
use sluice_storage::{FileRead, FileSlice};

/// One piece of a response frame, written in order.
#[derive(Debug, Clone)]
pub enum Chunk {
    Bytes(Bytes),
    /// Written with `sendfile` (or pread + write) by the connection's writer.
    File(FileSlice),
}

impl Chunk {
    pub fn len(&self) -> usize {
        match self {
            Chunk::Bytes(b) => b.len(),
            Chunk::File(f) => f.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A Fetch answer whose records may live in files: the message as `kafka-protocol` models it,
/// plus, per partition in response order (topic by topic, partition by partition), the file
/// regions that replace that partition's `records` when present (`records` is then ignored).
#[derive(Debug, Default)]
pub struct FetchReply {
    pub response: FetchResponse,
    pub files: Vec<Option<FileRead>>,
}

/// Why a response could not be encoded (the connection is closed with this reason).
#[derive(Debug, thiserror::Error)]
#[error("cannot encode Fetch v{version} response: {reason}")]
pub struct EncodeError {
    version: i16,
    reason: String,
}

/// Builds the chunk list: metadata goes into one growing buffer that is split off whenever a
/// file region follows, so the frame costs one allocation for all its metadata.
struct ChunkBuf {
    buf: BytesMut,
    parts: Vec<Part>,
    total: usize,
    version: i16,
}

enum Part {
    Mem(BytesMut),
    File(FileSlice),
}

impl ChunkBuf {
    fn err(&self, reason: impl Into<String>) -> EncodeError {
        EncodeError {
            version: self.version,
            reason: reason.into(),
        }
    }

    fn file(&mut self, f: &FileSlice) {
        if f.len == 0 {
            return;
        }
        if !self.buf.is_empty() {
            self.total += self.buf.len();
            self.parts.push(Part::Mem(self.buf.split()));
        }
        self.total += f.len;
        self.parts.push(Part::File(f.clone()));
    }

    fn varint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.buf.put_u8((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.put_u8(v as u8);
    }

    /// Array length: i32 (-1 for null) or, flexible, unsigned varint of length + 1 (0 null).
    fn array_len(&mut self, len: Option<usize>) -> Result<(), EncodeError> {
        let flexible = self.version >= 12;
        match len {
            None if flexible => self.varint(0),
            None => self.buf.put_i32(-1),
            Some(n) if flexible => {
                let n = u32::try_from(n)
                    .ok()
                    .and_then(|n| n.checked_add(1))
                    .ok_or_else(|| self.err("array too long"))?;
                self.varint(n)
            }
            Some(n) => {
                let n = i32::try_from(n).map_err(|_| self.err("array too long"))?;
                self.buf.put_i32(n)
            }
        }
        Ok(())
    }

    fn string(&mut self, s: &StrBytes) -> Result<(), EncodeError> {
        if self.version >= 12 {
            self.array_len(Some(s.len()))?;
        } else {
            let n = i16::try_from(s.len()).map_err(|_| self.err("string too long"))?;
            self.buf.put_i16(n);
        }
        self.buf.put_slice(s.as_bytes());
        Ok(())
    }

    /// A nested struct, encoded by kafka-protocol.
    fn message<M: Encodable>(&mut self, m: &M) -> Result<(), EncodeError> {
        m.encode(&mut self.buf, self.version)
            .map_err(|e| self.err(e.to_string()))
    }

    /// A tagged field holding a struct: tag, size, struct.
    fn tagged<M: Encodable>(&mut self, tag: u32, m: &M) -> Result<(), EncodeError> {
        let size = m
            .compute_size(self.version)
            .map_err(|e| self.err(e.to_string()))?;
        let size = u32::try_from(size).map_err(|_| self.err("tagged field too large"))?;
        self.varint(tag);
        self.varint(size);
        self.message(m)
    }

    /// Unknown tagged fields with tags >= `from`, as kafka-protocol writes them.
    fn unknown_tagged(
        &mut self,
        from: i32,
        fields: &std::collections::BTreeMap<i32, Bytes>,
    ) -> Result<(), EncodeError> {
        for (&tag, v) in fields.range(from..) {
            let len = u32::try_from(v.len()).map_err(|_| self.err("tagged field too large"))?;
            self.varint(tag as u32);
            self.varint(len);
            self.buf.put_slice(v);
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<Chunk>, EncodeError> {
        if !self.buf.is_empty() {
            self.total += self.buf.len();
            let rest = self.buf.split();
            self.parts.push(Part::Mem(rest));
        }
        let size = self
            .total
            .checked_sub(4)
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| self.err(format!("frame of {} bytes", self.total)))?;
        let mut out = Vec::with_capacity(self.parts.len());
        for (i, part) in self.parts.into_iter().enumerate() {
            match part {
                Part::Mem(mut b) => {
                    if i == 0 {
                        if let Some(prefix) = b.get_mut(..4) {
                            prefix.copy_from_slice(&size.to_be_bytes());
                        }
                    }
                    out.push(Chunk::Bytes(b.freeze()));
                }
                Part::File(f) => out.push(Chunk::File(f)),
            }
        }
        Ok(out)
    }
}

/// Encodes a complete Fetch response frame: i32 size, response header (`header_version`),
/// body at `version`. Concatenated, the chunks equal what `kafka-protocol` would encode for the
/// same response with each file-backed partition's records read into `records`.
pub fn encode_frame(
    reply: &FetchReply,
    version: i16,
    header_version: i16,
    correlation_id: i32,
) -> Result<Vec<Chunk>, EncodeError> {
    let r = &reply.response;
    let partitions: usize = r.responses.iter().map(|t| t.partitions.len()).sum();
    let mut out = ChunkBuf {
        buf: BytesMut::with_capacity(
            64 + r.responses.len() * 48 + partitions * 72 + r.node_endpoints.len() * 64,
        ),
        parts: Vec::with_capacity(2 * partitions + 1),
        total: 0,
        version,
    };
    if !(4..=18).contains(&version) {
        return Err(out.err("version not supported"));
    }
    out.buf.put_i32(0); // size, patched in finish()
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut out.buf, header_version)
        .map_err(|e| out.err(format!("response header: {e}")))?;
    out.buf.put_i32(r.throttle_time_ms);
    if version >= 7 {
        out.buf.put_i16(r.error_code);
        out.buf.put_i32(r.session_id);
    } else if r.session_id != 0 {
        return Err(out.err("session_id set below v7"));
    }
    out.array_len(Some(r.responses.len()))?;
    let mut files = reply.files.iter();
    for topic in &r.responses {
        encode_topic(&mut out, topic, &mut files)?;
    }
    if version >= 12 {
        let endpoints = version >= 16 && !r.node_endpoints.is_empty();
        let n = r.unknown_tagged_fields.len() + usize::from(endpoints);
        out.varint(u32::try_from(n).map_err(|_| out.err("too many tagged fields"))?);
        if endpoints {
            // Tag 0: compact array of NodeEndpoint; size first.
            let mut body = ChunkBuf {
                buf: BytesMut::new(),
                parts: Vec::new(),
                total: 0,
                version,
            };
            body.array_len(Some(r.node_endpoints.len()))?;
            for e in &r.node_endpoints {
                body.message(e)?;
            }
            let size =
                u32::try_from(body.buf.len()).map_err(|_| out.err("tagged field too large"))?;
            out.varint(0);
            out.varint(size);
            out.buf.put_slice(&body.buf);
        }
        out.unknown_tagged(1, &r.unknown_tagged_fields)?;
    }
    out.finish()
}

fn encode_topic<'a>(
    out: &mut ChunkBuf,
    topic: &FetchableTopicResponse,
    files: &mut impl Iterator<Item = &'a Option<FileRead>>,
) -> Result<(), EncodeError> {
    let v = out.version;
    if v <= 12 {
        out.string(&topic.topic.0)?;
    }
    if v >= 13 {
        out.buf.put_slice(topic.topic_id.as_bytes());
    }
    out.array_len(Some(topic.partitions.len()))?;
    for p in &topic.partitions {
        let file = files.next().and_then(|f| f.as_ref());
        encode_partition(out, p, file)?;
    }
    if v >= 12 {
        let n = u32::try_from(topic.unknown_tagged_fields.len())
            .map_err(|_| out.err("too many tagged fields"))?;
        out.varint(n);
        out.unknown_tagged(0, &topic.unknown_tagged_fields)?;
    }
    Ok(())
}

fn encode_partition(
    out: &mut ChunkBuf,
    p: &PartitionData,
    file: Option<&FileRead>,
) -> Result<(), EncodeError> {
    let v = out.version;
    out.buf.put_i32(p.partition_index);
    out.buf.put_i16(p.error_code);
    out.buf.put_i64(p.high_watermark);
    out.buf.put_i64(p.last_stable_offset);
    if v >= 5 {
        out.buf.put_i64(p.log_start_offset);
    }
    let aborted = p.aborted_transactions.as_deref();
    out.array_len(aborted.map(|a| a.len()))?;
    for t in aborted.unwrap_or_default() {
        out.message(t)?;
    }
    if v >= 11 {
        out.buf.put_i32(p.preferred_read_replica.0);
    } else if p.preferred_read_replica.0 != -1 {
        return Err(out.err("preferred_read_replica set below v11"));
    }
    // records: nullable bytes, i32 length or (flexible) unsigned varint length + 1.
    match file {
        Some(f) => {
            out.array_len(Some(f.len))?;
            let mut sent = 0usize;
            for s in &f.slices {
                out.file(s);
                sent += s.len;
            }
            if sent != f.len {
                return Err(out.err("file regions do not add up to the records length"));
            }
        }
        None => {
            let records = p.records.as_ref();
            out.array_len(records.map(|r| r.len()))?;
            if let Some(r) = records {
                out.buf.put_slice(r);
            }
        }
    }
    if v >= 12 {
        let diverging = p.diverging_epoch != Default::default();
        let leader = p.current_leader != Default::default();
        let snapshot = p.snapshot_id != Default::default();
        let n = p.unknown_tagged_fields.len()
            + usize::from(diverging)
            + usize::from(leader)
            + usize::from(snapshot);
        out.varint(u32::try_from(n).map_err(|_| out.err("too many tagged fields"))?);
        if diverging {
            out.tagged(0, &p.diverging_epoch)?;
        }
        if leader {
            out.tagged(1, &p.current_leader)?;
        }
        if snapshot {
            out.tagged(2, &p.snapshot_id)?;
        }
        out.unknown_tagged(3, &p.unknown_tagged_fields)?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "fetch_response_tests.rs"]
mod tests;
