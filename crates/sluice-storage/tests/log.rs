//! Behaviour of one partition log: append/read across rolls, index lookups, timestamps,
//! retention, DeleteRecords, truncation, LogAppendTime, leader epochs.

mod common;
use common::*;

use sluice_protocol::record_batch::{BatchHeader, BatchIter};
use sluice_storage::{LogConfig, LogError, TimestampType};

#[test]
fn append_read_roundtrip_across_rolls() {
    let d = tempfile::tempdir().unwrap();
    let m = open(d.path(), small_config());
    let log = log(&m, small_config());
    let mut expected = Vec::new();
    for i in 0..200 {
        let n = 1 + (i % 7);
        let mut b = batch(n, 1000 + i as i64);
        let info = log.append_as_leader(&mut b, 3, 0).unwrap();
        assert_eq!(info.last_offset - info.base_offset, n as i64 - 1);
        assert!(!info.duplicate);
        assert_eq!(info.log_append_time, -1);
        expected.push((info.base_offset, info.last_offset, b));
    }
    assert_eq!(expected[0].0, 0);
    for w in expected.windows(2) {
        assert_eq!(w[1].0, w[0].1 + 1);
    }
    assert!(log.num_segments() > 3, "segments: {}", log.num_segments());
    assert_eq!(log.log_end_offset(), expected.last().unwrap().1 + 1);
    assert_eq!(read_all(&log, 0), expected);
    let files: Vec<_> = std::fs::read_dir(part_dir(d.path()))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(files.contains(&"00000000000000000000.log".to_string()));
    assert!(files.contains(&"00000000000000000000.index".to_string()));
    assert!(files.contains(&"00000000000000000000.timeindex".to_string()));
    assert!(files.contains(&"partition.metadata".to_string()));
}

#[test]
fn read_from_every_offset_returns_the_containing_batch() {
    let d = tempfile::tempdir().unwrap();
    let m = open(d.path(), small_config());
    let log = log(&m, small_config());
    for i in 0..120 {
        log.append_as_leader(&mut batch(1 + i % 5, 0), 0, 0)
            .unwrap();
    }
    let leo = log.log_end_offset();
    for o in 0..leo {
        let r = log.read(o, 1, leo, true).unwrap();
        let h = BatchHeader::parse(&r.records).unwrap();
        assert!(h.base_offset() <= o && o <= h.last_offset(), "offset {o}");
        assert_eq!(
            h.total_size(),
            r.records.len(),
            "min_one returns exactly one batch"
        );
        assert_eq!(r.first_offset, h.base_offset());
        // Without min_one and too little room: nothing.
        assert!(log.read(o, 1, leo, false).unwrap().records.is_empty());
    }
    assert!(log.read(leo, 1000, leo, true).unwrap().records.is_empty());
    assert!(matches!(
        log.read(leo + 1, 1000, leo, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert!(matches!(
        log.read(-1, 1000, leo, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn read_respects_high_watermark_and_max_bytes() {
    let d = tempfile::tempdir().unwrap();
    let m = open(d.path(), LogConfig::default());
    let log = log(&m, LogConfig::default());
    let mut sizes = Vec::new();
    for _ in 0..10 {
        let mut b = batch(2, 0);
        sizes.push(b.len());
        log.append_as_leader(&mut b, 0, 0).unwrap();
    }
    // HW at 6: batches with base offset < 6 only (0,2,4).
    let r = log.read(0, 1 << 20, 6, true).unwrap();
    assert_eq!(BatchIter::new(&r.records).count(), 3);
    // Nothing at or beyond the HW.
    assert!(log.read(6, 1 << 20, 6, true).unwrap().records.is_empty());
    // max_bytes fits two and a half batches: two whole ones.
    let r = log.read(0, sizes[0] * 5 / 2, 20, false).unwrap();
    assert_eq!(r.records.len(), sizes[0] * 2);
    // Reading from the middle of a batch returns that whole batch.
    let r = log.read(3, 1 << 20, 20, true).unwrap();
    assert_eq!(BatchHeader::parse(&r.records).unwrap().base_offset(), 2);
}

#[test]
fn offset_for_timestamp_and_max_timestamp() {
    let d = tempfile::tempdir().unwrap();
    let m = open(d.path(), small_config());
    let log = log(&m, small_config());
    // Batch i: 4 records, timestamps 1000 + 10*i + {0,2,4,6}.
    for i in 0..100i64 {
        log.append_as_leader(&mut batch_full(4, 1000 + 10 * i, 2, -1, -1, -1, 30), 0, 0)
            .unwrap();
    }
    assert!(log.num_segments() >= 2);
    for target in [0i64, 1000, 1001, 1003, 1006, 1007, 1500, 1994, 1996] {
        // Record k (offset k) has ts 1000 + 10*(k/4) + 2*(k%4).
        let expected = (0..400i64)
            .map(|k| (k, 1000 + 10 * (k / 4) + 2 * (k % 4)))
            .find(|(_, t)| *t >= target);
        assert_eq!(
            log.offset_for_timestamp(target).unwrap(),
            expected,
            "ts {target}"
        );
    }
    assert_eq!(log.offset_for_timestamp(1997).unwrap(), None);
    assert_eq!(log.max_timestamp_and_offset(), Some((399, 1996)));
}

#[test]
fn retention_by_size_and_time_deletes_oldest_segments() {
    let d = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        retention_bytes: 20_000,
        ..small_config()
    };
    let m = open(d.path(), cfg.clone());
    let log = log(&m, cfg.clone());
    for i in 0..300 {
        log.append_as_leader(&mut batch(3, i), 0, 0).unwrap();
    }
    let before = log.size_bytes();
    let segs = log.num_segments();
    let deleted = log.apply_retention(10_000).unwrap();
    assert!(deleted > 0);
    assert_eq!(log.num_segments(), segs - deleted);
    assert!(log.size_bytes() <= 20_000 + 8 * 1024 && log.size_bytes() < before);
    let start = log.log_start_offset();
    assert!(start > 0);
    assert!(matches!(
        log.read(start - 1, 100, i64::MAX, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    let all = read_all(&log, start);
    assert_eq!(all.first().unwrap().0, start);
    assert_eq!(all.last().unwrap().1 + 1, log.log_end_offset());

    // Time: every batch has timestamps < 1000; with retention.ms=1000 at now=1_000_000
    // everything but the active segment goes.
    log.update_config(LogConfig {
        retention_bytes: -1,
        retention_ms: 1000,
        ..cfg
    });
    log.apply_retention(1_000_000).unwrap();
    assert_eq!(log.num_segments(), 1);
    assert_eq!(
        log.log_start_offset(),
        read_all(&log, log.log_start_offset())[0].0
    );
    // Appends continue.
    let leo = log.log_end_offset();
    assert_eq!(
        log.append_as_leader(&mut batch(1, 0), 0, 0)
            .unwrap()
            .base_offset,
        leo
    );
}

#[test]
fn delete_records_raises_log_start() {
    let d = tempfile::tempdir().unwrap();
    let m = open(d.path(), small_config());
    let log = log(&m, small_config());
    for _ in 0..200 {
        log.append_as_leader(&mut batch(2, 0), 0, 0).unwrap();
    }
    let segs = log.num_segments();
    assert_eq!(log.delete_records_before(251).unwrap(), 251);
    assert_eq!(log.log_start_offset(), 251);
    assert!(log.num_segments() < segs);
    assert!(matches!(
        log.read(249, 100, 400, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    // The batch containing 251 starts at 250; it is still served.
    let r = log.read(251, 100, 400, true).unwrap();
    assert_eq!(BatchHeader::parse(&r.records).unwrap().base_offset(), 250);
    assert!(matches!(
        log.delete_records_before(401),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert_eq!(log.delete_records_before(100).unwrap(), 251);
    // Up to the LEO: everything goes, appends continue there.
    assert_eq!(log.delete_records_before(400).unwrap(), 400);
    assert_eq!(log.num_segments(), 1);
    assert_eq!(log.size_bytes(), 0);
    assert_eq!(
        log.append_as_leader(&mut batch(1, 0), 0, 0)
            .unwrap()
            .base_offset,
        400
    );
}

#[test]
fn truncate_to_and_continue() {
    let d = tempfile::tempdir().unwrap();
    let m = open(d.path(), small_config());
    let log = log(&m, small_config());
    let mut all = Vec::new();
    for i in 0..100 {
        let mut b = batch(2, 0);
        let info = log.append_as_leader(&mut b, i / 30, 0).unwrap();
        all.push((info.base_offset, info.last_offset, b));
    }
    log.truncate_to(101).unwrap(); // inside batch 100..101: cut at batch boundary 100
    assert_eq!(log.log_end_offset(), 100);
    assert_eq!(read_all(&log, 0), all[..50].to_vec());
    assert_eq!(log.latest_epoch(), Some(1));
    assert_eq!(
        log.append_as_leader(&mut batch(1, 0), 5, 0)
            .unwrap()
            .base_offset,
        100
    );
    assert_eq!(log.end_offset_for_epoch(1), Some((1, 100)));
    log.truncate_to(0).unwrap();
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.latest_epoch(), None);
}

#[test]
fn log_append_time_is_applied() {
    let d = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let m = open(d.path(), cfg.clone());
    let log = log(&m, cfg);
    let info = log.append_as_leader(&mut batch(3, 5), 0, 777_000).unwrap();
    assert_eq!(info.log_append_time, 777_000);
    let r = log.read(0, 1000, 10, true).unwrap();
    let h = BatchHeader::parse(&r.records).unwrap();
    h.validate().unwrap();
    assert!(h.is_log_append_time());
    assert_eq!(h.max_timestamp(), 777_000);
    assert_eq!(
        log.offset_for_timestamp(777_000).unwrap(),
        Some((0, 777_000))
    );
}

#[test]
fn leader_epoch_cache_tracks_appends() {
    let d = tempfile::tempdir().unwrap();
    let m = open(d.path(), LogConfig::default());
    let log = log(&m, LogConfig::default());
    assert_eq!(log.latest_epoch(), None);
    for e in [0, 0, 2, 2, 5] {
        log.append_as_leader(&mut batch(10, 0), e, 0).unwrap();
    }
    assert_eq!(log.latest_epoch(), Some(5));
    assert_eq!(log.end_offset_for_epoch(0), Some((0, 20)));
    assert_eq!(log.end_offset_for_epoch(1), Some((0, 20)));
    assert_eq!(log.end_offset_for_epoch(2), Some((2, 40)));
    assert_eq!(log.end_offset_for_epoch(5), Some((5, 50)));
    assert_eq!(log.end_offset_for_epoch(6), None);
    let r = log.read(45, 1000, 50, true).unwrap();
    assert_eq!(
        BatchHeader::parse(&r.records)
            .unwrap()
            .partition_leader_epoch(),
        5
    );
}

#[test]
fn malformed_input_is_refused_not_panicking() {
    let d = tempfile::tempdir().unwrap();
    let m = open(d.path(), LogConfig::default());
    let log = log(&m, LogConfig::default());
    let mut two = batch(1, 0);
    two.extend(batch(1, 0));
    assert!(log.append_as_leader(&mut two, 0, 0).is_err());
    assert!(log.append_as_leader(&mut [1, 2, 3], 0, 0).is_err());
    assert_eq!(log.log_end_offset(), 0);
}

/// The shared-buffer append (header copied and patched, body written from the caller's
/// slice with pwritev) stores exactly what the in-place append stores, across rolls and with
/// LogAppendTime (CRC recomputed over the split batch), and leaves the caller's bytes alone.
#[test]
fn shared_append_writes_the_same_bytes_as_in_place_append() {
    for ts_type in [TimestampType::CreateTime, TimestampType::LogAppendTime] {
        let cfg = LogConfig {
            timestamp_type: ts_type,
            ..small_config()
        };
        let d1 = tempfile::tempdir().unwrap();
        let d2 = tempfile::tempdir().unwrap();
        let m1 = open(d1.path(), cfg.clone());
        let m2 = open(d2.path(), cfg.clone());
        let in_place = log(&m1, cfg.clone());
        let shared = log(&m2, cfg.clone());
        for i in 0..400 {
            let n = 1 + (i % 6);
            let original = batch(n, 2000 + i as i64);
            let mut b = original.clone();
            let a = in_place
                .append_as_leader(&mut b, 4, 55_000 + i as i64)
                .unwrap();
            let s = shared
                .append_as_leader_shared(&original, 4, 55_000 + i as i64)
                .unwrap();
            assert_eq!(
                (a.base_offset, a.last_offset),
                (s.base_offset, s.last_offset)
            );
            assert_eq!(a.log_append_time, s.log_append_time);
            assert_eq!(original, batch(n, 2000 + i as i64), "input untouched");
        }
        assert!(shared.num_segments() > 3);
        let got = read_all(&shared, 0);
        assert_eq!(got, read_all(&in_place, 0));
        for (_, _, bytes) in &got {
            let h = BatchHeader::parse(bytes).unwrap();
            h.validate().unwrap();
            assert_eq!(h.partition_leader_epoch(), 4);
            assert_eq!(
                h.is_log_append_time(),
                ts_type == TimestampType::LogAppendTime
            );
        }
    }
}
