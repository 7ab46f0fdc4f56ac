//! Log compaction as a user relies on it: only the latest value per key survives below the
//! cleaned offset, offsets never change, tombstones live exactly delete.retention.ms after the
//! cleaner first saw them, every codec compacts, a crash in the middle of a swap recovers to a
//! consistent log, the cleaner checkpoint survives a restart, producer state survives
//! compaction, and compacted topics refuse keyless records.

mod common;
use common::*;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use sluice_protocol::kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use sluice_protocol::record_batch::{BatchHeader, BatchIter};
use sluice_storage::{CleanerConfig, CompactionConfig, Log, LogConfig, LogError, LogManager};

type Entry<'a> = (Option<&'a str>, Option<&'a str>);

/// One batch of keyed records (kafka-protocol encoder), optionally idempotent.
fn kv(entries: &[Entry<'_>], ts: i64, codec: Compression, pid: i64, seq0: i32) -> Vec<u8> {
    let records: Vec<Record> = entries
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: pid,
            producer_epoch: if pid >= 0 { 0 } else { -1 },
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: if pid >= 0 {
                seq0 + i as i32
            } else {
                i as i32 - 1
            },
            timestamp: ts + i as i64,
            key: k.map(|s| Bytes::copy_from_slice(s.as_bytes())),
            value: v.map(|s| Bytes::copy_from_slice(s.as_bytes())),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let opts = RecordEncodeOptions {
        version: 2,
        compression: codec,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &opts).unwrap();
    buf.to_vec()
}

fn put(log: &Log, entries: &[Entry<'_>], ts: i64) -> i64 {
    let mut b = kv(entries, ts, Compression::None, -1, -1);
    log.append_as_leader(&mut b, 0, ts).unwrap().base_offset
}

fn compact_config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        index_interval_bytes: 256,
        retention_ms: -1,
        cleanup_compact: true,
        cleanup_delete: false,
        ..LogConfig::default()
    }
}

/// (offset, key, value) of every record from `from` to the LEO, reading batch by batch.
fn records(log: &Log, from: i64) -> Vec<(i64, Option<Bytes>, Option<Bytes>)> {
    let mut out = Vec::new();
    let mut next = from;
    let leo = log.log_end_offset();
    while next < leo {
        let r = log.read(next, 1 << 20, leo, true).unwrap();
        assert!(!r.records.is_empty(), "empty read at {next} < {leo}");
        let mut it = BatchIter::new(&r.records);
        for h in it.by_ref() {
            next = h.last_offset() + 1;
        }
        assert!(it.error().is_none());
        let mut buf = r.records.clone();
        for set in RecordBatchDecoder::decode_all(&mut buf).unwrap() {
            for rec in set.records {
                if rec.offset >= from && out.last().is_none_or(|l: &(i64, _, _)| rec.offset > l.0) {
                    out.push((rec.offset, rec.key, rec.value));
                }
            }
        }
    }
    out
}

/// What compaction must leave: below `end`, the latest record of each key (tombstones
/// included unless `drop_tombstones`); at and above `end`, everything.
fn model(
    all: &[(i64, Option<Bytes>, Option<Bytes>)],
    end: i64,
    drop_tombstones: bool,
) -> Vec<(i64, Option<Bytes>, Option<Bytes>)> {
    let mut latest = BTreeMap::new();
    for (o, k, _) in all.iter().filter(|r| r.0 < end) {
        latest.insert(k.clone(), *o);
    }
    all.iter()
        .filter(|(o, k, v)| {
            *o >= end
                || (k.is_some() && latest.get(k) == Some(o) && (v.is_some() || !drop_tombstones))
        })
        .cloned()
        .collect()
}

/// Every offset still reads: the first record returned at or after it is the next kept one.
fn assert_reads_from_every_offset(log: &Log, kept: &[(i64, Option<Bytes>, Option<Bytes>)]) {
    for o in log.log_start_offset()..log.log_end_offset() {
        let expected = kept.iter().find(|r| r.0 >= o).map(|r| r.0);
        let got = records(log, o).first().map(|r| r.0);
        assert_eq!(got, expected, "read from offset {o}");
    }
}

fn fill(log: &Log, n: usize, keys: usize, ts: i64) {
    for i in 0..n {
        let k = format!("k{}", i % keys);
        let v = format!("value-{i}-{}", "x".repeat(i % 13));
        let k2 = format!("k{}", (i * 7 + 3) % keys);
        if i % 3 == 0 {
            put(
                log,
                &[(Some(&k), Some(&v)), (Some(&k2), Some(&v))],
                ts + i as i64,
            );
        } else {
            put(log, &[(Some(&k), Some(&v))], ts + i as i64);
        }
    }
}

#[test]
fn compaction_keeps_latest_value_per_key_at_original_offsets() {
    let d = tempfile::tempdir().unwrap();
    let cfg = compact_config(1024);
    let before;
    let kept;
    {
        let m = open(d.path(), cfg.clone());
        let log = log(&m, cfg.clone());
        fill(&log, 300, 10, 1000);
        before = records(&log, 0);
        let (leo, segs) = (log.log_end_offset(), log.num_segments());
        assert!(segs > 5);
        assert!(log.compaction_due(10_000).is_some(), "all dirty: ratio 1.0");
        let stats = log.compact(10_000, usize::MAX, None).unwrap();
        assert!(!stats.aborted);
        assert_eq!(stats.first_dirty, 0);
        assert!(stats.end_offset > 0 && stats.end_offset < leo);
        assert!(stats.bytes_after < stats.bytes_before);
        assert_eq!(log.log_end_offset(), leo);
        assert_eq!(log.log_start_offset(), 0);
        kept = records(&log, 0);
        assert_eq!(kept, model(&before, stats.end_offset, false));
        assert_reads_from_every_offset(&log, &kept);
        assert_eq!(log.cleaner_checkpoint(), stats.end_offset);
        assert!(
            log.compaction_due(10_000).is_none(),
            "nothing dirty after a pass"
        );
        // A second pass changes nothing.
        let again = log.compact(10_000, usize::MAX, None).unwrap();
        assert_eq!(again.records_removed, 0);
        assert_eq!(records(&log, 0), kept);
        assert!(
            log.num_segments() < segs / 2,
            "small cleaned segments were merged"
        );
        drop(m); // crash: no clean shutdown, recovery rescans the compacted segments
    }
    let m = open(d.path(), cfg.clone());
    let log = log(&m, cfg);
    assert_eq!(records(&log, 0), kept);
    assert!(!std::fs::read_dir(part_dir(d.path())).unwrap().any(|e| {
        let n = e.unwrap().file_name().into_string().unwrap();
        n.ends_with(".cleaned") || n.ends_with(".swap")
    }));
}

#[test]
fn tombstones_vanish_only_after_delete_retention() {
    let d = tempfile::tempdir().unwrap();
    let cfg = compact_config(600);
    let m = open(d.path(), cfg.clone());
    let log = log(&m, cfg);
    log.update_compaction_config(CompactionConfig {
        delete_retention_ms: 1000,
        ..CompactionConfig::default()
    });
    put(&log, &[(Some("gone"), Some("v1"))], 1);
    put(&log, &[(Some("keep"), Some("v"))], 2);
    let tomb = put(&log, &[(Some("gone"), None)], 3);
    fill(&log, 40, 5, 10); // roll a few segments past the tombstone
    let gone = |log: &Log| {
        records(log, 0)
            .into_iter()
            .filter(|r| r.1.as_deref() == Some(&b"gone"[..]))
            .collect::<Vec<_>>()
    };
    log.compact(5_000, usize::MAX, None).unwrap();
    assert_eq!(
        gone(&log),
        vec![(tomb, Some(Bytes::from_static(b"gone")), None)]
    );
    // The batch now carries Kafka's delete horizon (bit 6, baseTimestamp = 5000 + 1000).
    let r = log.read(tomb, 1, log.log_end_offset(), true).unwrap();
    let h = BatchHeader::parse(&r.records).unwrap();
    assert_ne!(h.attributes() & (1 << 6), 0);
    assert_eq!(h.base_timestamp(), 6_000);
    let set = RecordBatchDecoder::decode(&mut r.records.clone()).unwrap();
    assert_eq!(
        set.records[0].timestamp, 3,
        "record timestamps are unchanged"
    );

    assert!(log.compaction_due(5_999).is_none());
    log.compact(5_999, usize::MAX, None).unwrap();
    assert_eq!(gone(&log).len(), 1, "kept until the horizon");
    assert!(
        log.compaction_due(6_000).is_some(),
        "the horizon triggers a pass"
    );
    let stats = log.compact(6_000, usize::MAX, None).unwrap();
    assert_eq!(stats.tombstones_removed, 1);
    assert!(gone(&log).is_empty());
    assert!(records(&log, 0)
        .iter()
        .any(|r| r.1.as_deref() == Some(&b"keep"[..])));
    assert!(log.compaction_due(1 << 40).is_none());
}

#[test]
fn compact_delete_also_applies_retention() {
    let d = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        cleanup_delete: true,
        retention_ms: 10_000,
        ..compact_config(800)
    };
    let m = open(d.path(), cfg.clone());
    let log = log(&m, cfg);
    fill(&log, 60, 4, 1_000); // old records
    fill(&log, 60, 4, 100_000); // new ones
    log.compact(100_100, usize::MAX, None).unwrap();
    let deleted = log.apply_retention(100_100).unwrap();
    assert!(deleted > 0);
    assert!(log.log_start_offset() > 0);
    let all = records(&log, log.log_start_offset());
    assert!(all.iter().all(|r| r.0 >= log.log_start_offset()));
    assert_reads_from_every_offset(&log, &all);
}

#[test]
fn compressed_batches_compact_with_their_codec() {
    for codec in [
        Compression::Gzip,
        Compression::Lz4,
        Compression::Zstd,
        Compression::Snappy,
    ] {
        let d = tempfile::tempdir().unwrap();
        let cfg = compact_config(900);
        let m = open(d.path(), cfg.clone());
        let log = log(&m, cfg);
        for i in 0..60i64 {
            let (a, b, c) = (format!("a{i}"), format!("b{i}"), format!("c{i}"));
            let k1 = format!("k{}", i % 3);
            let k2 = format!("k{}", (i + 1) % 5);
            let entries = [
                (Some(k1.as_str()), Some(a.as_str())),
                (Some("x"), Some(b.as_str())),
                (Some(k2.as_str()), Some(c.as_str())),
            ];
            let mut bt = kv(&entries, i * 10, codec, -1, -1);
            log.append_as_leader(&mut bt, 0, 0).unwrap();
        }
        let before = records(&log, 0);
        let stats = log.compact(1_000, usize::MAX, None).unwrap();
        assert!(stats.records_removed > 0, "{codec:?}");
        let kept = records(&log, 0);
        assert_eq!(kept, model(&before, stats.end_offset, false), "{codec:?}");
        assert_reads_from_every_offset(&log, &kept);
        let r = log.read(0, 1 << 20, log.log_end_offset(), true).unwrap();
        for h in BatchIter::new(&r.records) {
            assert_eq!(h.attributes() & 7, codec as i16, "{codec:?} kept");
        }
    }
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn crash_in_the_middle_of_a_swap_recovers() {
    let cfg = compact_config(100_000); // one group: every non-active segment merges into one
    let src = tempfile::tempdir().unwrap();
    let (before, after, end);
    {
        let small = LogConfig {
            segment_bytes: 700,
            ..cfg.clone()
        };
        let m = open(src.path(), small.clone());
        let log = log(&m, small);
        fill(&log, 80, 6, 0);
        m.shutdown().unwrap();
    }
    let orig = tempfile::tempdir().unwrap();
    copy_dir(src.path(), orig.path());
    {
        let m = open(src.path(), cfg.clone());
        let log = log(&m, cfg.clone());
        before = records(&log, 0);
        end = log.compact(100, usize::MAX, None).unwrap().end_offset;
        after = records(&log, 0);
        assert_eq!(after, model(&before, end, false));
        m.shutdown().unwrap();
    }
    let cleaned = std::fs::read(part_dir(src.path()).join("00000000000000000000.log")).unwrap();
    // (a) crash while writing `.cleaned`: the old segments stay, the partial file goes.
    // (b) crash after `.cleaned` → `.swap`: the swap completes.
    // (c) crash after some old segments were deleted: the swap still completes.
    for case in ["cleaned", "swap", "swap-half-deleted"] {
        let d = tempfile::tempdir().unwrap();
        copy_dir(orig.path(), d.path());
        let p = part_dir(d.path());
        let _ = std::fs::remove_file(d.path().join(".kafka_cleanshutdown"));
        match case {
            "cleaned" => std::fs::write(
                p.join("00000000000000000000.log.cleaned"),
                &cleaned[..cleaned.len() / 2],
            )
            .unwrap(),
            _ => std::fs::write(p.join("00000000000000000000.log.swap"), &cleaned).unwrap(),
        }
        if case == "swap-half-deleted" {
            for n in file_names(&p)
                .iter()
                .filter(|n| n.ends_with(".log"))
                .take(2)
            {
                std::fs::remove_file(p.join(n)).unwrap();
            }
        }
        let m = open(d.path(), cfg.clone());
        let log = log(&m, cfg.clone());
        let expected = if case == "cleaned" { &before } else { &after };
        assert_eq!(&records(&log, 0), expected, "{case}");
        assert_reads_from_every_offset(&log, expected);
        assert!(
            !file_names(&p)
                .iter()
                .any(|n| n.ends_with(".cleaned") || n.ends_with(".swap")),
            "{case}"
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[test]
fn cleaner_checkpoint_survives_restart() {
    let d = tempfile::tempdir().unwrap();
    let cfg = compact_config(800);
    let end;
    {
        let m = open(d.path(), cfg.clone());
        let log = log(&m, cfg.clone());
        fill(&log, 100, 5, 0);
        end = log.compact(0, usize::MAX, None).unwrap().end_offset;
        assert!(end > 0);
        m.shutdown().unwrap();
    }
    let text = std::fs::read_to_string(d.path().join("cleaner-offset-checkpoint")).unwrap();
    assert_eq!(text, format!("0\n1\nevents 0 {end}\n"));
    let m = open(d.path(), cfg.clone());
    let log = log(&m, cfg);
    assert_eq!(log.cleaner_checkpoint(), end);
    let stats = log.compact(0, usize::MAX, None).unwrap();
    assert_eq!(
        stats.first_dirty, end,
        "the next pass starts at the checkpoint"
    );
}

#[test]
fn map_budget_bounds_one_pass() {
    let d = tempfile::tempdir().unwrap();
    let cfg = compact_config(600);
    let m = open(d.path(), cfg.clone());
    let log = log(&m, cfg);
    fill(&log, 200, 50, 0);
    let before = records(&log, 0);
    let first = log.compact(0, 1, None).unwrap();
    assert!(first.end_offset > 0 && first.end_offset < log.log_end_offset());
    assert_eq!(records(&log, 0), model(&before, first.end_offset, false));
    let mut last = first.end_offset;
    for _ in 0..100 {
        let s = log.compact(0, 1, None).unwrap();
        assert_eq!(s.first_dirty, last);
        if s.end_offset == last {
            break;
        }
        last = s.end_offset;
    }
    assert!(log.compaction_due(0).is_none());
}

#[test]
fn keyless_records_are_refused_by_compacted_logs_only() {
    let d = tempfile::tempdir().unwrap();
    let cfg = compact_config(1 << 20);
    let m = open(d.path(), cfg.clone());
    let log = log(&m, cfg);
    let keyless = kv(
        &[(Some("a"), Some("1")), (None, Some("2"))],
        0,
        Compression::Lz4,
        -1,
        -1,
    );
    let keyed = kv(
        &[(Some("a"), Some("1")), (Some("b"), None)],
        0,
        Compression::Gzip,
        -1,
        -1,
    );
    let err = log.validate_compacted_batch(&keyless).unwrap_err();
    assert!(matches!(err, LogError::InvalidRecord(_)));
    assert_eq!(err.kafka_code(), 87);
    assert_eq!(
        err.to_string(),
        "Compacted topic cannot accept message without key"
    );
    log.validate_compacted_batch(&keyed).unwrap();
    let mut both = keyed.clone();
    both.extend_from_slice(&keyless);
    assert!(log.validate_compacted_batch(&both).is_err());
    log.update_config(LogConfig {
        cleanup_compact: false,
        ..log.config()
    });
    log.validate_compacted_batch(&keyless).unwrap();
}

#[test]
fn producer_state_survives_compaction_and_restart() {
    let d = tempfile::tempdir().unwrap();
    let cfg = compact_config(600);
    let mut seq = 0;
    {
        let m = open(d.path(), cfg.clone());
        let log = log(&m, cfg.clone());
        for i in 0..40 {
            let v = format!("v{i}");
            let mut b = kv(
                &[(Some("same"), Some(&v)), (Some("same"), Some(&v))],
                i,
                Compression::None,
                7,
                seq,
            );
            log.append_as_leader(&mut b, 0, 0).unwrap();
            seq += 2;
        }
        fill(&log, 30, 3, 0); // other producers' data rolls the idempotent batches out of the active segment
        let s = log.compact(0, usize::MAX, None).unwrap();
        assert!(s.records_removed >= 70);
        drop(m); // crash
    }
    // Without snapshots, producer state is replayed from the compacted batches themselves.
    for n in file_names(&part_dir(d.path())) {
        if n.ends_with(".snapshot") {
            std::fs::remove_file(part_dir(d.path()).join(n)).unwrap();
        }
    }
    let m = open(d.path(), cfg.clone());
    let log = log(&m, cfg);
    // The next sequence is accepted, a retry of the last batch is a duplicate.
    let mut dup = kv(
        &[(Some("same"), Some("v39")), (Some("same"), Some("v39"))],
        39,
        Compression::None,
        7,
        seq - 2,
    );
    assert!(log.append_as_leader(&mut dup, 0, 0).unwrap().duplicate);
    let mut next = kv(
        &[(Some("same"), Some("new"))],
        50,
        Compression::None,
        7,
        seq,
    );
    assert!(!log.append_as_leader(&mut next, 0, 0).unwrap().duplicate);
    let mut gap = kv(
        &[(Some("same"), Some("gap"))],
        50,
        Compression::None,
        7,
        seq + 5,
    );
    assert!(matches!(
        log.append_as_leader(&mut gap, 0, 0),
        Err(LogError::OutOfOrderSequence { .. })
    ));
}

#[test]
fn a_reader_holding_an_old_segment_keeps_reading() {
    let d = tempfile::tempdir().unwrap();
    let cfg = compact_config(800);
    let m = open(d.path(), cfg.clone());
    let log = log(&m, cfg);
    fill(&log, 100, 4, 0);
    let slices = log
        .read_slices(0, 1 << 20, log.log_end_offset(), true)
        .unwrap();
    let bytes = slices.to_vec().unwrap();
    log.compact(0, usize::MAX, None).unwrap();
    assert_eq!(
        slices.to_vec().unwrap(),
        bytes,
        "old handle reads the old data"
    );
    assert_ne!(
        log.read(0, 1 << 20, log.log_end_offset(), true)
            .unwrap()
            .records
            .to_vec(),
        bytes
    );
}

#[test]
fn background_cleaner_compacts_and_stops_promptly() {
    let d = tempfile::tempdir().unwrap();
    let cfg = compact_config(800);
    let m = LogManager::open(&[d.path().to_path_buf()], 1, None, cfg.clone(), {
        let c = cfg.clone();
        move |_| c.clone()
    })
    .unwrap();
    m.set_cleaner_config(CleanerConfig {
        backoff_ms: 10,
        ..CleanerConfig::default()
    });
    let log = log(&m, cfg);
    fill(&log, 200, 5, 0);
    let n = records(&log, 0).len();
    m.start_background(60_000, 60_000);
    let deadline = Instant::now() + Duration::from_secs(30);
    while records(&log, 0).len() >= n {
        assert!(Instant::now() < deadline, "cleaner did not run");
        std::thread::sleep(Duration::from_millis(20));
    }
    let t = Instant::now();
    m.shutdown().unwrap();
    assert!(t.elapsed() < Duration::from_secs(10));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// For any sequence of keyed writes and tombstones, any segment size and any number of
    /// passes, the log equals the model: below the cleaned offset the latest record per key
    /// (tombstones while within delete.retention.ms), everything above, original offsets.
    #[test]
    fn compacted_log_matches_the_model(
        writes in proptest::collection::vec(proptest::collection::vec((0u8..8, proptest::option::weighted(0.8, 0u16..1000)), 1..4), 1..80),
        segment_bytes in 300u64..3000,
        passes in 1usize..3,
        expire in any::<bool>(),
    ) {
        let d = tempfile::tempdir().unwrap();
        let cfg = compact_config(segment_bytes);
        let m = open(d.path(), cfg.clone());
        let log = log(&m, cfg);
        log.update_compaction_config(CompactionConfig { delete_retention_ms: 100, ..CompactionConfig::default() });
        for (i, batch) in writes.iter().enumerate() {
            let owned: Vec<(String, Option<String>)> = batch.iter().map(|(k, v)| (format!("key{k}"), v.map(|v| format!("val{v}")))).collect();
            let entries: Vec<Entry<'_>> = owned.iter().map(|(k, v)| (Some(k.as_str()), v.as_deref())).collect();
            put(&log, &entries, i as i64);
        }
        let before = records(&log, 0);
        let mut end = 0;
        for _ in 0..passes {
            end = log.compact(1_000, usize::MAX, None).unwrap().end_offset;
        }
        let kept = records(&log, 0);
        prop_assert_eq!(&kept, &model(&before, end, false));
        if expire {
            let again = log.compact(1_100, usize::MAX, None).unwrap();
            prop_assert_eq!(again.end_offset, end);
            let kept = records(&log, 0);
            prop_assert_eq!(&kept, &model(&before, end, true));
            assert_reads_from_every_offset(&log, &kept);
        } else {
            assert_reads_from_every_offset(&log, &kept);
        }
    }
}
