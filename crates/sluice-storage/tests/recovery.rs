//! Restart behaviour: clean shutdown, crash with a torn/garbage tail, damaged indexes,
//! idempotent producer state across restarts, log dir metadata and checkpoints.

mod common;
use common::*;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::time::{Duration, Instant};

use sluice_storage::{LogConfig, LogError, LogManager, TopicPartition};

fn last_log_file(dir: &std::path::Path) -> std::path::PathBuf {
    let mut logs: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs.pop().unwrap()
}

#[test]
fn reopen_after_clean_shutdown_serves_everything() {
    let d = tempfile::tempdir().unwrap();
    let expected;
    {
        let m = open(d.path(), small_config());
        let log = log(&m, small_config());
        for i in 0..150 {
            log.append_as_leader(&mut batch(1 + i % 4, i as i64), 1, 0)
                .unwrap();
        }
        log.delete_records_before(3).unwrap();
        expected = read_all(&log, 3);
        m.shutdown().unwrap();
        assert!(d.path().join(".kafka_cleanshutdown").exists());
    }
    let text = fs::read_to_string(d.path().join("recovery-point-offset-checkpoint")).unwrap();
    assert!(text.starts_with("0\n1\nevents 0 "), "{text}");
    let m = open(d.path(), small_config());
    assert!(!d.path().join(".kafka_cleanshutdown").exists());
    let log = m.get(&tp()).expect("partition loaded");
    assert_eq!(log.topic_id(), [7; 16]);
    assert_eq!(log.log_start_offset(), 3);
    assert_eq!(read_all(&log, 3), expected);
    assert_eq!(log.latest_epoch(), Some(1));
    let leo = log.log_end_offset();
    assert_eq!(
        log.append_as_leader(&mut batch(2, 0), 2, 0)
            .unwrap()
            .base_offset,
        leo
    );
    assert_eq!(log.end_offset_for_epoch(1), Some((1, leo)));
}

#[test]
fn crash_with_torn_tail_and_garbage_keeps_everything_before_the_cut() {
    let d = tempfile::tempdir().unwrap();
    let mut expected;
    {
        let m = open(d.path(), small_config());
        let log = log(&m, small_config());
        for i in 0..100 {
            log.append_as_leader(&mut batch(3, i), 0, 0).unwrap();
        }
        expected = read_all(&log, 0);
        drop(m); // no shutdown: a crash (data sits in the page cache / files)
    }
    // Tear the last batch in half and append garbage after it.
    let last = last_log_file(&part_dir(d.path()));
    let len = fs::metadata(&last).unwrap().len();
    let (_, _, last_batch) = expected.pop().unwrap();
    let cut = len - last_batch.len() as u64 / 2;
    OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(cut)
        .unwrap();
    OpenOptions::new()
        .append(true)
        .open(&last)
        .unwrap()
        .write_all(&[0xAB; 333])
        .unwrap();

    let m = open(d.path(), small_config());
    let log = m.get(&tp()).unwrap();
    let end = expected.last().unwrap().1 + 1;
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(read_all(&log, 0), expected);
    let info = log.append_as_leader(&mut batch(1, 0), 0, 0).unwrap();
    assert_eq!(info.base_offset, end);
    assert_eq!(
        log.read(end, 1000, end + 1, true).unwrap().first_offset,
        end
    );
    m.shutdown().unwrap();
}

#[test]
fn crash_with_corrupt_middle_segment_and_missing_indexes() {
    let d = tempfile::tempdir().unwrap();
    let expected;
    {
        let m = open(d.path(), small_config());
        let log = log(&m, small_config());
        for i in 0..100 {
            log.append_as_leader(&mut batch(3, i), 0, 0).unwrap();
        }
        expected = read_all(&log, 0);
        drop(m);
    }
    // Remove every index file and corrupt the time index of nothing: indexes are rebuilt.
    for e in fs::read_dir(part_dir(d.path())).unwrap() {
        let p = e.unwrap().path();
        if p.extension()
            .is_some_and(|e| e == "index" || e == "timeindex")
        {
            fs::remove_file(p).unwrap();
        }
    }
    let m = open(d.path(), small_config());
    let log = m.get(&tp()).unwrap();
    assert_eq!(read_all(&log, 0), expected);
    let leo = log.log_end_offset();
    for o in (0..leo).step_by(7) {
        let r = log.read(o, 1, leo, true).unwrap();
        let h = sluice_protocol::record_batch::BatchHeader::parse(&r.records).unwrap();
        assert!(h.base_offset() <= o && o <= h.last_offset());
    }
    m.shutdown().unwrap();
    // Garbage index files after a clean shutdown are detected and rebuilt too.
    for e in fs::read_dir(part_dir(d.path())).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|e| e == "index") {
            fs::write(p, [0x55u8; 24]).unwrap();
        }
    }
    let m = open(d.path(), small_config());
    assert_eq!(read_all(&m.get(&tp()).unwrap(), 0), expected);
}

fn idem(pid: i64, epoch: i16, seq: i32, n: i32) -> Vec<u8> {
    batch_full(n, 0, 1, pid, epoch, seq, 10)
}

#[test]
fn idempotent_producer_checks() {
    let d = tempfile::tempdir().unwrap();
    let m = open(d.path(), LogConfig::default());
    let log = log(&m, LogConfig::default());
    let a = log.append_as_leader(&mut idem(42, 0, 0, 5), 0, 0).unwrap();
    let b = log.append_as_leader(&mut idem(42, 0, 5, 5), 0, 0).unwrap();
    assert_eq!((a.base_offset, b.base_offset), (0, 5));
    // Retry of the first batch: original offsets, nothing appended.
    let dup = log.append_as_leader(&mut idem(42, 0, 0, 5), 0, 0).unwrap();
    assert!(dup.duplicate);
    assert_eq!((dup.base_offset, dup.last_offset), (0, 4));
    assert_eq!(log.log_end_offset(), 10);
    // Gap.
    assert!(matches!(
        log.append_as_leader(&mut idem(42, 0, 11, 1), 0, 0),
        Err(LogError::OutOfOrderSequence { .. })
    ));
    // Fenced epoch.
    let err = log.append_as_leader(&mut idem(42, -1, 10, 1), 0, 0);
    assert!(matches!(err, Err(LogError::InvalidProducerEpoch { .. })));
    // New epoch must start at 0.
    assert!(matches!(
        log.append_as_leader(&mut idem(42, 1, 10, 1), 0, 0),
        Err(LogError::OutOfOrderSequence { .. })
    ));
    assert_eq!(
        log.append_as_leader(&mut idem(42, 1, 0, 1), 0, 0)
            .unwrap()
            .base_offset,
        10
    );
    // Unknown producer: any sequence.
    assert_eq!(
        log.append_as_leader(&mut idem(7, 3, 99, 1), 0, 0)
            .unwrap()
            .base_offset,
        11
    );
    assert_eq!(log.log_end_offset(), 12);
}

fn producer_state_survives(clean: bool) {
    let d = tempfile::tempdir().unwrap();
    {
        let m = open(d.path(), small_config());
        let log = log(&m, small_config());
        // Enough batches to roll a few segments (snapshots at rolls).
        for i in 0..60 {
            log.append_as_leader(&mut idem(5, 2, i * 3, 3), 0, 0)
                .unwrap();
        }
        if clean {
            m.shutdown().unwrap();
        }
    }
    let m = open(d.path(), small_config());
    let log = m.get(&tp()).unwrap();
    assert_eq!(log.log_end_offset(), 180);
    let dup = log.append_as_leader(&mut idem(5, 2, 177, 3), 0, 0).unwrap();
    assert!(dup.duplicate);
    assert_eq!((dup.base_offset, dup.last_offset), (177, 179));
    assert!(matches!(
        log.append_as_leader(&mut idem(5, 2, 200, 3), 0, 0),
        Err(LogError::OutOfOrderSequence { .. })
    ));
    assert!(matches!(
        log.append_as_leader(&mut idem(5, 1, 0, 3), 0, 0),
        Err(LogError::InvalidProducerEpoch { .. })
    ));
    assert_eq!(
        log.append_as_leader(&mut idem(5, 2, 180, 3), 0, 0)
            .unwrap()
            .base_offset,
        180
    );
}

#[test]
fn producer_state_survives_clean_restart() {
    producer_state_survives(true);
}

#[test]
fn producer_state_survives_crash() {
    producer_state_survives(false);
}

#[test]
fn meta_properties_and_cluster_id() {
    let d = tempfile::tempdir().unwrap();
    let id = {
        let m = open(d.path(), LogConfig::default());
        let id = m.cluster_id();
        assert_eq!(id.len(), 22);
        m.shutdown().unwrap();
        id
    };
    let text = fs::read_to_string(d.path().join("meta.properties")).unwrap();
    assert!(text.contains("node.id=1\n") && text.contains("version=1\n"));
    assert!(text.contains(&format!("cluster.id={id}\n")));
    assert_eq!(open(d.path(), LogConfig::default()).cluster_id(), id);
    let wrong_node = LogManager::open(
        &[d.path().to_path_buf()],
        2,
        None,
        LogConfig::default(),
        |_| LogConfig::default(),
    );
    assert!(wrong_node.is_err());
    let wrong_cluster = LogManager::open(
        &[d.path().to_path_buf()],
        1,
        Some("other"),
        LogConfig::default(),
        |_| LogConfig::default(),
    );
    assert!(wrong_cluster.is_err());
}

#[test]
fn two_dirs_balance_and_delete_partition() {
    let d1 = tempfile::tempdir().unwrap();
    let d2 = tempfile::tempdir().unwrap();
    let dirs = vec![d1.path().to_path_buf(), d2.path().to_path_buf()];
    let m = LogManager::open(&dirs, 1, Some("c1"), LogConfig::default(), |_| {
        LogConfig::default()
    })
    .unwrap();
    for p in 0..4 {
        m.get_or_create(&TopicPartition::new("t", p), [1; 16], LogConfig::default())
            .unwrap();
    }
    let in1 = fs::read_dir(d1.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_dir())
        .count();
    assert_eq!(in1, 2);
    let tp = TopicPartition::new("t", 0);
    let l = m.get(&tp).unwrap();
    let dir = l.dir().to_path_buf();
    m.delete(&tp).unwrap();
    assert!(!dir.exists());
    assert!(m.get(&tp).is_none());
    assert!(l.append_as_leader(&mut batch(1, 0), 0, 0).is_err());
    assert_eq!(m.partitions().len(), 3);
    m.shutdown().unwrap();
    let m = LogManager::open(&dirs, 1, None, LogConfig::default(), |_| {
        LogConfig::default()
    })
    .unwrap();
    assert_eq!(m.partitions().len(), 3);
    assert_eq!(m.cluster_id(), "c1");
}

#[test]
fn background_flusher_advances_recovery_point_and_retention_runs() {
    let d = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        flush_messages: 1,
        retention_bytes: 10_000,
        ..small_config()
    };
    let m = open(d.path(), cfg.clone());
    m.start_background(20, 10);
    let log = log(&m, cfg);
    for i in 0..200 {
        log.append_as_leader(&mut batch(2, i), 0, 0).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while (log.recovery_point() < 400 || log.log_start_offset() == 0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(log.recovery_point(), 400);
    assert!(log.log_start_offset() > 0);
    let started = Instant::now();
    m.shutdown().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    let text = fs::read_to_string(d.path().join("log-start-offset-checkpoint")).unwrap();
    assert_eq!(text, format!("0\n1\nevents 0 {}\n", log.log_start_offset()));
}
