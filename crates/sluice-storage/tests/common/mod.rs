//! Test helpers: real v2 batches (uncompressed records in Kafka's varint format) and a
//! LogManager over a temp dir.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sluice_protocol::record_batch::{build_batch, BatchIter};
use sluice_storage::{Log, LogConfig, LogManager, TopicPartition};

fn varint(v: i64, out: &mut Vec<u8>) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        if z < 0x80 {
            out.push(z as u8);
            return;
        }
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
}

/// A batch of `n` records with `value_len`-byte values and timestamps ts0, ts0+step, ...
pub fn batch_full(
    n: i32,
    ts0: i64,
    step: i64,
    pid: i64,
    epoch: i16,
    seq: i32,
    value_len: usize,
) -> Vec<u8> {
    let mut recs = Vec::new();
    for i in 0..n {
        let mut r = Vec::new();
        r.push(0u8); // attributes
        varint(i as i64 * step, &mut r); // timestamp delta
        varint(i as i64, &mut r); // offset delta
        varint(-1, &mut r); // null key
        varint(value_len as i64, &mut r);
        r.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, value_len));
        varint(0, &mut r); // headers
        varint(r.len() as i64, &mut recs);
        recs.extend(r);
    }
    build_batch(
        0,
        0,
        n - 1,
        ts0,
        ts0 + (n as i64 - 1) * step,
        pid,
        epoch,
        seq,
        n,
        &recs,
    )
}

pub fn batch(n: i32, ts0: i64) -> Vec<u8> {
    batch_full(n, ts0, 1, -1, -1, -1, 20)
}

pub fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 8 * 1024,
        index_interval_bytes: 512,
        retention_ms: -1,
        ..LogConfig::default()
    }
}

pub fn open(dir: &Path, config: LogConfig) -> LogManager {
    let c = config.clone();
    LogManager::open(&[dir.to_path_buf()], 1, None, config, move |_| c.clone()).unwrap()
}

pub fn tp() -> TopicPartition {
    TopicPartition::new("events", 0)
}

pub fn log(m: &LogManager, config: LogConfig) -> Arc<Log> {
    m.get_or_create(&tp(), [7; 16], config).unwrap()
}

pub fn part_dir(dir: &Path) -> PathBuf {
    dir.join("events-0")
}

/// Reads everything from `from` to the LEO, following segments; returns (base, last, bytes) per batch.
pub fn read_all(log: &Log, from: i64) -> Vec<(i64, i64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut next = from;
    let leo = log.log_end_offset();
    while next < leo {
        let r = log.read(next, 1 << 20, leo, true).unwrap();
        assert!(!r.records.is_empty(), "empty read at {next} < leo {leo}");
        let mut it = BatchIter::new(&r.records);
        for h in it.by_ref() {
            h.validate().unwrap();
            out.push((h.base_offset(), h.last_offset(), h.as_bytes().to_vec()));
            next = h.last_offset() + 1;
        }
        assert!(it.error().is_none());
    }
    out
}
