//! Equivalence of the chunked Fetch encoder with `kafka-protocol`: for generated responses at
//! every version 4–18 (several topics and partitions, error codes, null/empty/non-empty
//! records, inline and file-backed records split over several regions, aborted_transactions
//! null vs empty vs filled, tagged fields at default and not, node endpoints, unknown tagged
//! fields) the chunks concatenated equal the size prefix + header + `FetchResponse::encode`
//! byte for byte, and the encoder refuses exactly what `kafka-protocol` refuses.

use std::io::Write;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use sluice_protocol::kafka_protocol::messages::fetch_response::{
    AbortedTransaction, EpochEndOffset, FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint,
    PartitionData, SnapshotId,
};
use sluice_protocol::kafka_protocol::messages::{
    ApiKey, BrokerId, FetchResponse, ProducerId, ResponseHeader, TopicName,
};
use sluice_protocol::kafka_protocol::protocol::{Encodable, StrBytes};
use sluice_storage::{FileRead, FileSlice};

use super::*;

/// Small deterministic generator (xorshift64*), so a failing seed reproduces.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
    fn i32(&mut self) -> i32 {
        self.next() as i32
    }
    fn i64(&mut self) -> i64 {
        self.next() as i64
    }
    fn bytes(&mut self, max: u64) -> Vec<u8> {
        let n = self.below(max + 1);
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn str(&mut self, max: u64) -> StrBytes {
        let n = self.below(max + 1);
        let s: String = (0..n)
            .map(|_| (b'a' + self.below(26) as u8) as char)
            .collect();
        StrBytes::from_string(s)
    }
}

/// Where file-backed records are written for the test.
struct Spill {
    file: Arc<std::fs::File>,
    end: u64,
}

impl Spill {
    /// Writes `data` (after a random gap) and returns it as 1–3 file regions.
    fn put(&mut self, g: &mut Gen, data: &[u8]) -> FileRead {
        let gap = g.bytes(50);
        let mut f: &std::fs::File = &self.file;
        f.write_all(&gap).unwrap();
        f.write_all(data).unwrap();
        let start = self.end + gap.len() as u64;
        self.end = start + data.len() as u64;
        let mut slices = Vec::new();
        let mut at = 0usize;
        let pieces = 1 + g.below(3);
        for i in 0..pieces {
            let rest = data.len() - at;
            let n = if i + 1 == pieces {
                rest
            } else {
                g.below(rest as u64 + 1) as usize
            };
            slices.push(FileSlice {
                file: self.file.clone(),
                position: start + at as u64,
                len: n,
            });
            at += n;
        }
        FileRead {
            slices,
            len: data.len(),
            ..FileRead::default()
        }
    }
}

/// A random response; `files` holds file regions for some partitions and the response itself
/// the same records inline (what kafka-protocol encodes).
fn generate(
    g: &mut Gen,
    version: i16,
    spill: &mut Spill,
) -> (FetchResponse, Vec<Option<FileRead>>) {
    let mut files = Vec::new();
    let mut r = FetchResponse::default()
        .with_throttle_time_ms(g.below(3) as i32)
        .with_error_code(if g.chance(20) { 70 } else { 0 });
    // Mostly valid, sometimes a field the version lacks (kafka-protocol refuses it).
    if version >= 7 || g.chance(3) {
        r.session_id = if g.chance(50) { 0 } else { g.i32() };
    }
    if g.chance(25) {
        r.node_endpoints = (0..g.below(3))
            .map(|_| {
                NodeEndpoint::default()
                    .with_node_id(BrokerId(g.i32()))
                    .with_host(g.str(12))
                    .with_port(g.below(65536) as i32)
                    .with_rack(if g.chance(50) { Some(g.str(5)) } else { None })
            })
            .collect();
        if version < 16 && !g.chance(3) {
            r.node_endpoints.clear();
        }
    }
    if g.chance(5) {
        r.unknown_tagged_fields
            .insert(1 + g.below(5) as i32, Bytes::from(g.bytes(8)));
    }
    for _ in 0..g.below(4) {
        let mut t = FetchableTopicResponse::default()
            .with_topic(TopicName(g.str(20)))
            .with_topic_id(uuid::Uuid::from_u64_pair(g.next(), g.next()));
        if g.chance(5) {
            t.unknown_tagged_fields
                .insert(g.below(4) as i32, Bytes::from(g.bytes(8)));
        }
        for _ in 0..g.below(5) {
            let mut p = PartitionData::default()
                .with_partition_index(g.below(100) as i32)
                .with_error_code(if g.chance(20) {
                    1 + g.below(100) as i16
                } else {
                    0
                })
                .with_high_watermark(g.i64())
                .with_last_stable_offset(g.i64())
                .with_log_start_offset(if g.chance(50) { -1 } else { g.i64() });
            p.aborted_transactions = match g.below(3) {
                0 => None,
                1 => Some(Vec::new()),
                _ => Some(
                    (0..1 + g.below(3))
                        .map(|_| {
                            AbortedTransaction::default()
                                .with_producer_id(ProducerId(g.i64()))
                                .with_first_offset(g.i64())
                        })
                        .collect(),
                ),
            };
            if version >= 11 || g.chance(3) {
                p.preferred_read_replica = BrokerId(if g.chance(70) { -1 } else { g.i32() });
            }
            // Tagged fields: mostly default (must then be omitted), sometimes set.
            if g.chance(15) {
                p.diverging_epoch = EpochEndOffset::default()
                    .with_epoch(g.i32())
                    .with_end_offset(g.i64());
            }
            if g.chance(15) {
                p.current_leader = LeaderIdAndEpoch::default()
                    .with_leader_id(BrokerId(g.i32()))
                    .with_leader_epoch(g.i32());
            }
            if g.chance(15) {
                p.snapshot_id = SnapshotId::default()
                    .with_end_offset(g.i64())
                    .with_epoch(g.i32());
            }
            if g.chance(5) {
                p.unknown_tagged_fields
                    .insert(3 + g.below(4) as i32, Bytes::from(g.bytes(8)));
            }
            let records = match g.below(4) {
                0 => None,
                1 => Some(Vec::new()),
                _ => Some(g.bytes(3000)),
            };
            let file = match &records {
                Some(data) if g.chance(60) => Some(spill.put(g, data)),
                _ => None,
            };
            p.records = records.map(Bytes::from);
            files.push(file);
            t.partitions.push(p);
        }
        r.responses.push(t);
    }
    (r, files)
}

/// What dispatch wrote before zero-copy: one buffer from kafka-protocol.
fn kafka_protocol_frame(
    r: &FetchResponse,
    version: i16,
    header_version: i16,
    id: i32,
) -> Option<Vec<u8>> {
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(id)
        .encode(&mut buf, header_version)
        .ok()?;
    r.encode(&mut buf, version).ok()?;
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Some(buf.to_vec())
}

fn concat(chunks: &[Chunk]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in chunks {
        match c {
            Chunk::Bytes(b) => out.extend_from_slice(b),
            Chunk::File(f) => f.read_into(&mut out).unwrap(),
        }
    }
    out
}

/// Checks one generated case; returns (both encoders succeeded, file chunks written).
fn check(seed: u64, version: i16) -> Result<(bool, usize), TestCaseError> {
    let mut g = Gen(seed | 1);
    let mut spill = Spill {
        file: Arc::new(tempfile::tempfile().unwrap()),
        end: 0,
    };
    let (response, files) = generate(&mut g, version, &mut spill);
    let header_version = ApiKey::Fetch.response_header_version(version);
    let id = g.i32();
    let expected = kafka_protocol_frame(&response, version, header_version, id);
    // File-backed partitions carry no inline records: the encoder must take the regions.
    let mut stripped = response.clone();
    let mut i = 0;
    for t in &mut stripped.responses {
        for p in &mut t.partitions {
            if files.get(i).is_some_and(|f| f.is_some()) {
                p.records = if g.chance(50) {
                    None
                } else {
                    Some(Bytes::from_static(b"junk"))
                };
            }
            i += 1;
        }
    }
    let reply = FetchReply {
        response: stripped,
        files,
    };
    let got = encode_frame(&reply, version, header_version, id);
    match (expected, got) {
        (Some(want), Ok(chunks)) => {
            let bytes = concat(&chunks);
            prop_assert_eq!(bytes, want, "seed {} version {}", seed, version);
            prop_assert!(chunks.iter().all(|c| !c.is_empty()));
            let files = chunks
                .iter()
                .filter(|c| matches!(c, Chunk::File(_)))
                .count();
            return Ok((true, files));
        }
        (None, Err(_)) => {}
        (want, got) => prop_assert!(
            false,
            "seed {seed} v{version}: kafka-protocol ok={} chunked ok={}",
            want.is_some(),
            got.is_ok()
        ),
    }
    Ok((false, 0))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn chunked_fetch_encoding_equals_kafka_protocol(seed in any::<u64>(), version in 4i16..=18) {
        check(seed, version)?;
    }
}

#[test]
fn every_version_many_seeds() {
    for version in 4..=18 {
        let (mut ok, mut files) = (0, 0);
        for seed in 0..300u64 {
            let (o, f) = check(
                seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) + version as u64,
                version,
            )
            .unwrap();
            ok += usize::from(o);
            files += f;
        }
        // The generator must mostly produce encodable responses with file-backed records.
        assert!(ok > 250, "v{version}: only {ok} of 300 cases encodable");
        assert!(files > 200, "v{version}: only {files} file chunks");
    }
}

#[test]
fn records_are_file_chunks_and_size_prefix_is_total() {
    let mut spill = Spill {
        file: Arc::new(tempfile::tempfile().unwrap()),
        end: 0,
    };
    let mut g = Gen(7);
    let data = vec![42u8; 10_000];
    let file = spill.put(&mut g, &data);
    let response = FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
        .with_topic(TopicName(StrBytes::from_static_str("t")))
        .with_partitions(vec![PartitionData::default().with_records(None)])]);
    let reply = FetchReply {
        response,
        files: vec![Some(file)],
    };
    let chunks = encode_frame(&reply, 16, 1, 9).unwrap();
    let file_bytes: usize = chunks
        .iter()
        .filter(|c| matches!(c, Chunk::File(_)))
        .map(Chunk::len)
        .sum();
    assert_eq!(file_bytes, 10_000);
    let total: usize = chunks.iter().map(Chunk::len).sum();
    let Some(Chunk::Bytes(first)) = chunks.first() else {
        panic!("frame must start with bytes");
    };
    let size = i32::from_be_bytes([first[0], first[1], first[2], first[3]]);
    assert_eq!(size as usize, total - 4);
}
