//! Follower truncation: `truncate_to` inside the active segment, at a segment boundary and
//! below the log start, and `truncate_fully_and_start_at`, each followed by appends as
//! follower and as leader; epoch cache, producer state and high watermark follow.

mod common;
use common::*;

use sluice_protocol::record_batch::{set_base_offset, set_partition_leader_epoch};
use sluice_storage::Log;

fn at(mut b: Vec<u8>, base: i64, epoch: i32) -> Vec<u8> {
    set_base_offset(&mut b, base);
    set_partition_leader_epoch(&mut b, epoch);
    b
}

fn idem(pid: i64, seq: i32, n: i32) -> Vec<u8> {
    batch_full(n, 0, 1, pid, 0, seq, 200)
}

/// 60 batches of 2 records (offsets 0..120): epoch 0 up to 40, 1 up to 80, 2 after; every
/// 3rd batch is producer 5's next sequence. Returns the batches as stored.
fn fill(log: &Log) -> Vec<(i64, i64, Vec<u8>)> {
    let mut seq = 0;
    for i in 0..60 {
        let mut b = if i % 3 == 0 {
            seq += 2;
            idem(5, seq - 2, 2)
        } else {
            batch_full(2, i as i64, 1, -1, -1, -1, 200)
        };
        log.append_as_leader(&mut b, i / 20, 0).unwrap();
    }
    read_all(log, 0)
}

/// Asserts the log is exactly `expected` and its indexes answer reads from every offset.
fn assert_log(log: &Log, expected: &[(i64, i64, Vec<u8>)]) {
    assert_eq!(read_all(log, log.log_start_offset()), expected);
    let leo = log.log_end_offset();
    for o in log.log_start_offset()..leo {
        let r = log.read(o, 1, leo, true).unwrap();
        assert!(!r.records.is_empty(), "offset {o}");
    }
}

#[test]
fn truncate_inside_the_active_segment_then_append_as_follower_and_leader() {
    let d = tempfile::tempdir().unwrap();
    let m = open(d.path(), small_config());
    let log = log(&m, small_config());
    let all = fill(&log);
    let segs = log.num_segments();
    log.update_high_watermark(118);
    log.truncate_to(115).unwrap(); // inside batch 114..115
    assert_eq!(log.log_end_offset(), 114);
    assert_eq!(log.num_segments(), segs);
    assert_eq!(log.high_watermark(), 114);
    assert_log(&log, &all[..57]);
    assert_eq!(log.end_offset_for_epoch(2), Some((2, 114)));
    // Producer 5's batch at 114 (seq 38) is gone: resending it is new, not a duplicate.
    let info = log.append_as_leader(&mut idem(5, 38, 2), 3, 0).unwrap();
    assert!(!info.duplicate);
    assert_eq!(info.base_offset, 114);
    // Its predecessor (seq 36 at 108) is still known.
    assert!(
        log.append_as_leader(&mut idem(5, 36, 2), 3, 0)
            .unwrap()
            .duplicate
    );
    log.append_as_follower(&at(batch(1, 0), 130, 4)).unwrap();
    assert_eq!(log.log_end_offset(), 131);
    assert_eq!(log.end_offset_for_epoch(3), Some((3, 130)));
}

#[test]
fn truncate_at_a_segment_boundary() {
    let d = tempfile::tempdir().unwrap();
    let m = open(d.path(), small_config());
    let log = log(&m, small_config());
    let all = fill(&log);
    let bases: Vec<i64> = std::fs::read_dir(part_dir(d.path()))
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().into_string().unwrap();
            n.strip_suffix(".log").map(|s| s.parse().unwrap())
        })
        .collect();
    let mut bases = bases;
    bases.sort();
    assert!(bases.len() >= 3, "{bases:?}");
    let cut = bases[1];
    log.truncate_to(cut).unwrap();
    assert_eq!(log.log_end_offset(), cut);
    let kept: Vec<_> = all.iter().filter(|b| b.0 < cut).cloned().collect();
    assert_log(&log, &kept);
    // Later segments' files are gone; the boundary segment remains, empty, as the active one.
    for b in &bases[2..] {
        assert!(!part_dir(d.path()).join(format!("{b:020}.log")).exists());
    }
    assert_eq!(log.num_segments(), 2);
    let epoch_at_cut = if cut >= 80 {
        2
    } else if cut >= 40 {
        1
    } else {
        0
    };
    assert_eq!(log.latest_epoch(), Some(epoch_at_cut));
    // Appending again: as follower at the cut, then as leader.
    let info = log.append_as_follower(&at(batch(3, 0), cut, 7)).unwrap();
    assert_eq!(info.first_offset, cut);
    assert_eq!(
        log.append_as_leader(&mut batch(1, 0), 8, 0)
            .unwrap()
            .base_offset,
        cut + 3
    );
    assert_eq!(
        log.end_offset_for_epoch(epoch_at_cut),
        Some((epoch_at_cut, cut))
    );
    // And it all survives a crash-restart.
    let expected = read_all(&log, 0);
    drop((log, m));
    let m = open(d.path(), small_config());
    assert_eq!(read_all(&m.get(&tp()).unwrap(), 0), expected);
}

#[test]
fn truncate_below_the_log_start() {
    let d = tempfile::tempdir().unwrap();
    let m = open(d.path(), small_config());
    let log = log(&m, small_config());
    fill(&log);
    log.delete_records_before(100).unwrap();
    let first = log.log_start_offset();
    assert_eq!(first, 100);
    // Below the first segment: the whole log restarts at the offset.
    log.truncate_to(10).unwrap();
    assert_eq!(
        (
            log.log_start_offset(),
            log.log_end_offset(),
            log.high_watermark()
        ),
        (10, 10, 10)
    );
    assert_eq!(log.num_segments(), 1);
    assert_eq!(log.latest_epoch(), None);
    assert!(read_all(&log, 10).is_empty());
    // Producer 5 is forgotten: any sequence is accepted again.
    assert!(
        !log.append_as_leader(&mut idem(5, 100, 1), 3, 0)
            .unwrap()
            .duplicate
    );
    log.append_as_follower(&at(batch(2, 0), 11, 3)).unwrap();
    assert_eq!(log.log_end_offset(), 13);
    assert_eq!(log.end_offset_for_epoch(3), Some((3, 13)));
}

#[test]
fn truncate_inside_the_first_segment_below_the_log_start() {
    let d = tempfile::tempdir().unwrap();
    let m = open(d.path(), small_config());
    let log = log(&m, small_config());
    let all = fill(&log);
    log.delete_records_before(9).unwrap(); // log start inside the first segment
    log.truncate_to(6).unwrap();
    assert_eq!(log.log_end_offset(), 6);
    assert_eq!(log.log_start_offset(), 6);
    assert_eq!(log.num_segments(), 1);
    assert!(read_all(&log, 6).is_empty());
    log.append_as_leader(&mut batch(2, 0), 0, 0).unwrap();
    assert_eq!(read_all(&log, 6).len(), 1);
    assert_ne!(read_all(&log, 6)[0].2, all[3].2);
}

#[test]
fn truncate_fully_and_start_at_the_leaders_log_start() {
    let d = tempfile::tempdir().unwrap();
    let m = open(d.path(), small_config());
    let log = log(&m, small_config());
    fill(&log);
    log.update_high_watermark(100);
    log.flush().unwrap();
    log.truncate_fully_and_start_at(5000).unwrap();
    assert_eq!(
        (
            log.log_start_offset(),
            log.log_end_offset(),
            log.high_watermark(),
            log.recovery_point()
        ),
        (5000, 5000, 5000, 5000)
    );
    assert_eq!(log.latest_epoch(), None);
    let files: Vec<String> = std::fs::read_dir(part_dir(d.path()))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".log") || n.ends_with(".snapshot"))
        .collect();
    assert_eq!(files, vec!["00000000000000005000.log".to_string()]);
    assert_eq!(
        std::fs::read_to_string(part_dir(d.path()).join("leader-epoch-checkpoint")).unwrap(),
        "0\n0\n"
    );
    // Producer 5 is forgotten: a first batch at sequence 0 is new.
    let info = log.append_as_leader(&mut idem(5, 0, 1), 0, 0).unwrap();
    assert_eq!((info.base_offset, info.duplicate), (5000, false));
    // Old epochs from the new leader are taken as they come.
    log.truncate_fully_and_start_at(5000).unwrap();
    let mut records = at(batch(2, 0), 5000, 1);
    records.extend(at(batch(2, 0), 5002, 3));
    log.append_as_follower(&records).unwrap();
    assert_eq!(log.end_offset_for_epoch(1), Some((1, 5002)));
    let expected = read_all(&log, 5000);
    m.shutdown().unwrap();
    drop((log, m));
    let m = open(d.path(), small_config());
    let log = m.get(&tp()).unwrap();
    assert_eq!(log.log_start_offset(), 5000);
    assert_eq!(read_all(&log, 5000), expected);
    assert_eq!(log.latest_epoch(), Some(3));
}
