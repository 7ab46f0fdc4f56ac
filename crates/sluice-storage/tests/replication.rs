//! The follower side of a partition log: appending a leader's batches as they are, producer
//! state that matches the leader's, the high watermark and its checkpoint, and the KIP-320
//! divergence check.

mod common;
use common::*;

use sluice_protocol::record_batch::{set_base_offset, set_partition_leader_epoch, BatchHeader};
use sluice_storage::{DivergingEpoch, LogConfig, LogError, LogManager, TopicPartition};

/// `b` as a leader would have stored it: at `base`, in leader epoch `epoch`.
fn at(mut b: Vec<u8>, base: i64, epoch: i32) -> Vec<u8> {
    set_base_offset(&mut b, base);
    set_partition_leader_epoch(&mut b, epoch);
    b
}

fn open_at(dir: &std::path::Path) -> LogManager {
    open(dir, small_config())
}

#[test]
fn follower_copies_the_leader_byte_for_byte_across_rolls() {
    let (ld, fd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (lm, fm) = (open_at(ld.path()), open_at(fd.path()));
    let (leader, follower) = (log(&lm, small_config()), log(&fm, small_config()));
    for i in 0..150 {
        let mut b = batch_full(1 + i % 6, 1000 + i as i64, 1, -1, -1, -1, 40);
        leader.append_as_leader(&mut b, i / 40, 0).unwrap();
    }
    // Fetch like a replica fetcher: responses cut at a byte limit, ending in a partial batch.
    let mut fetches = 0;
    while follower.log_end_offset() < leader.log_end_offset() {
        let from = follower.log_end_offset();
        let r = leader.read(from, 2000, i64::MAX, true).unwrap();
        let mut records = r.records.to_vec();
        let next = leader
            .read(from + 1000, 1, i64::MAX, true)
            .map(|r| r.records.to_vec())
            .unwrap_or_default();
        records.extend_from_slice(&next[..next.len().min(37)]);
        let info = follower.append_as_follower(&records).unwrap();
        assert_eq!(info.first_offset, from);
        assert_eq!(info.bytes, r.records.len(), "partial tail ignored");
        assert_eq!(info.log_end_offset, info.last_offset + 1);
        fetches += 1;
    }
    assert!(fetches > 5);
    assert!(follower.num_segments() > 3, "rolled like the leader");
    assert_eq!(read_all(&follower, 0), read_all(&leader, 0));
    for e in 0..5 {
        assert_eq!(
            follower.end_offset_for_epoch(e),
            leader.end_offset_for_epoch(e),
            "epoch {e}"
        );
    }
    assert_eq!(follower.latest_epoch(), Some(3));
    // Indexes work on the follower: timestamp lookup and reads from every offset.
    assert_eq!(
        follower.offset_for_timestamp(1100).unwrap(),
        leader.offset_for_timestamp(1100).unwrap()
    );
    let leo = follower.log_end_offset();
    for o in (0..leo).step_by(7) {
        let h = follower.read(o, 1, leo, true).unwrap();
        let h = BatchHeader::parse(&h.records).unwrap();
        assert!(h.base_offset() <= o && o <= h.last_offset());
    }
    // Survives a crash (no clean shutdown) and a reload.
    drop(follower);
    drop(fm);
    let fm = open_at(fd.path());
    let follower = fm.get(&tp()).unwrap();
    assert_eq!(read_all(&follower, 0), read_all(&leader, 0));
    assert_eq!(follower.latest_epoch(), Some(3));
}

#[test]
fn follower_accepts_gaps_and_refuses_bad_input_whole() {
    let d = tempfile::tempdir().unwrap();
    let m = open_at(d.path());
    let log = log(&m, small_config());
    let mut records = at(batch(3, 0), 0, 1);
    records.extend(at(batch(3, 0), 10, 1));
    records.extend(at(batch(2, 0), 50, 4));
    let info = log.append_as_follower(&records).unwrap();
    assert_eq!((info.first_offset, info.last_offset), (0, 51));
    assert_eq!((info.batches, info.records), (3, 8));
    assert_eq!(log.log_end_offset(), 52);
    let r = log.read(5, 1, 52, true).unwrap();
    assert_eq!(BatchHeader::parse(&r.records).unwrap().base_offset(), 10);
    assert_eq!(log.end_offset_for_epoch(1), Some((1, 50)));

    // Below the LEO, overlapping or non-increasing offsets: refused, nothing appended.
    let e = log.append_as_follower(&at(batch(1, 0), 51, 4)).unwrap_err();
    assert!(
        matches!(
            e,
            LogError::UnexpectedAppendOffset {
                first_offset: 51,
                log_end_offset: 52,
                ..
            }
        ),
        "{e}"
    );
    let mut two = at(batch(3, 0), 60, 4);
    two.extend(at(batch(1, 0), 62, 4));
    assert!(matches!(
        log.append_as_follower(&two),
        Err(LogError::OffsetsOutOfOrder { .. })
    ));
    // A corrupt batch after a good one: CORRUPT_MESSAGE, and the good one is not appended.
    let mut bad = at(batch(1, 0), 60, 4);
    let mut corrupt = at(batch(1, 0), 61, 4);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    bad.extend(corrupt);
    assert_eq!(log.append_as_follower(&bad).unwrap_err().kafka_code(), 2);
    // A nonsense length is corrupt too; a lone partial batch is nothing.
    let mut junk = at(batch(1, 0), 60, 4);
    junk.extend([0u8; 8].iter().chain(&[0, 0, 0, 1]).chain(&[0u8; 60]));
    assert_eq!(log.append_as_follower(&junk).unwrap_err().kafka_code(), 2);
    let partial = at(batch(5, 0), 60, 4);
    let info = log
        .append_as_follower(&partial[..partial.len() - 1])
        .unwrap();
    assert_eq!(
        (info.batches, info.first_offset, info.last_offset),
        (0, -1, -1)
    );
    assert!(log.append_as_follower(&[]).unwrap().batches == 0);
    assert_eq!(log.log_end_offset(), 52);

    // A gap wider than a segment's relative offsets reach starts a new segment.
    let far = (1i64 << 32) + 5;
    log.append_as_follower(&at(batch(2, 0), far, 4)).unwrap();
    assert_eq!(log.log_end_offset(), far + 2);
    let r = log.read(100, 1 << 20, far + 2, true).unwrap();
    assert_eq!(BatchHeader::parse(&r.records).unwrap().base_offset(), far);
    assert_eq!(read_all(&log, 0).len(), 4);
}

fn idem(pid: i64, epoch: i16, seq: i32, n: i32) -> Vec<u8> {
    batch_full(n, 0, 1, pid, epoch, seq, 10)
}

#[test]
fn idempotent_retry_after_failover_is_a_duplicate() {
    let (ld, fd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (lm, fm) = (open_at(ld.path()), open_at(fd.path()));
    let (leader, follower) = (log(&lm, small_config()), log(&fm, small_config()));
    leader.append_as_leader(&mut batch(4, 0), 0, 0).unwrap();
    let mut seq = 0;
    for _ in 0..4 {
        leader
            .append_as_leader(&mut idem(7, 2, seq, 3), 0, 0)
            .unwrap();
        seq += 3;
    }
    let last = leader
        .append_as_leader(&mut idem(7, 2, seq, 3), 1, 0)
        .unwrap();
    let r = leader.read(0, 1 << 20, i64::MAX, true).unwrap();
    follower.append_as_follower(&r.records).unwrap();

    // The follower becomes leader (epoch 2); the producer retries its last batch.
    let dup = follower
        .append_as_leader(&mut idem(7, 2, seq, 3), 2, 0)
        .unwrap();
    assert!(dup.duplicate);
    assert_eq!(
        (dup.base_offset, dup.last_offset),
        (last.base_offset, last.last_offset)
    );
    // The next sequence is new; a gap or an old epoch is refused as on the old leader.
    assert!(matches!(
        follower.append_as_leader(&mut idem(7, 2, seq + 5, 1), 2, 0),
        Err(LogError::OutOfOrderSequence { .. })
    ));
    assert!(matches!(
        follower.append_as_leader(&mut idem(7, 1, 0, 1), 2, 0),
        Err(LogError::InvalidProducerEpoch { .. })
    ));
    let next = follower
        .append_as_leader(&mut idem(7, 2, seq + 3, 1), 2, 0)
        .unwrap();
    assert!(!next.duplicate);
    assert_eq!(next.base_offset, last.last_offset + 1);

    // The same holds after the follower restarts (producer state rebuilt from the log).
    fm.shutdown().unwrap();
    drop((follower, fm));
    let fm = open_at(fd.path());
    let follower = fm.get(&tp()).unwrap();
    let dup = follower
        .append_as_leader(&mut idem(7, 2, seq + 3, 1), 2, 0)
        .unwrap();
    assert!(dup.duplicate);
    assert_eq!(dup.base_offset, next.base_offset);
}

#[test]
fn high_watermark_is_clamped_monotonic_and_checkpointed() {
    let d = tempfile::tempdir().unwrap();
    let m = open_at(d.path());
    let log = log(&m, small_config());
    assert_eq!(log.high_watermark(), 0);
    for _ in 0..100 {
        log.append_as_leader(&mut batch(2, 0), 0, 0).unwrap();
    }
    assert!(log.update_high_watermark(50));
    assert!(!log.update_high_watermark(40), "never lowered by an update");
    assert_eq!(log.high_watermark(), 50);
    assert!(log.update_high_watermark(10_000));
    assert_eq!(log.high_watermark(), 200, "clamped to the LEO");
    assert_eq!(log.set_high_watermark(120), 120, "set may lower it");
    assert_eq!(log.set_high_watermark(-5), 0, "clamped to the log start");
    log.set_high_watermark(120);

    // DeleteRecords raises it to the new log start; truncation lowers it.
    log.delete_records_before(130).unwrap();
    assert_eq!(log.high_watermark(), 130);
    log.truncate_to(160).unwrap();
    assert_eq!(log.high_watermark(), 130);
    log.update_high_watermark(160);
    log.truncate_to(150).unwrap();
    assert_eq!(log.high_watermark(), 150);

    // Kafka's replication-offset-checkpoint, written by checkpoint() and shutdown.
    m.checkpoint().unwrap();
    let cp = d.path().join("replication-offset-checkpoint");
    assert_eq!(
        std::fs::read_to_string(&cp).unwrap(),
        "0\n1\nevents 0 150\n"
    );
    log.update_high_watermark(170);
    for _ in 0..5 {
        log.append_as_leader(&mut batch(2, 0), 1, 0).unwrap();
    }
    m.shutdown().unwrap();
    drop((log, m));
    let m = open_at(d.path());
    let log = m.get(&tp()).unwrap();
    assert_eq!(
        log.high_watermark(),
        150,
        "clamped to the LEO of the time of the update"
    );
    drop((log, m));

    // A checkpoint beyond the LEO is clamped; a missing entry means the log start.
    std::fs::write(&cp, "0\n1\nevents 0 999999\n").unwrap();
    let m = open_at(d.path());
    let log = m.get(&tp()).unwrap();
    assert_eq!(log.high_watermark(), log.log_end_offset());
    drop((log, m));
    std::fs::write(&cp, "0\n0\n").unwrap();
    let m = open_at(d.path());
    assert_eq!(m.get(&tp()).unwrap().high_watermark(), 130);
    let other = m
        .get_or_create(
            &TopicPartition::new("fresh", 0),
            [1; 16],
            LogConfig::default(),
        )
        .unwrap();
    assert_eq!(other.high_watermark(), 0);
}

#[test]
fn retention_raises_the_high_watermark_to_the_log_start() {
    let d = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        retention_bytes: 3000,
        ..small_config()
    };
    let m = open(d.path(), cfg.clone());
    let log = log(&m, cfg);
    for _ in 0..200 {
        log.append_as_leader(&mut batch(2, 0), 0, 0).unwrap();
    }
    assert_eq!(log.high_watermark(), 0);
    assert!(log.apply_retention(0).unwrap() > 0);
    assert!(log.log_start_offset() > 0);
    assert_eq!(log.high_watermark(), log.log_start_offset());
}

#[test]
fn diverging_epoch_follows_kip_320() {
    let d = tempfile::tempdir().unwrap();
    let m = open_at(d.path());
    let log = log(&m, small_config());
    for (epoch, n) in [(0, 2), (2, 2), (5, 1)] {
        for _ in 0..n {
            log.append_as_leader(&mut batch(10, 0), epoch, 0).unwrap();
        }
    }
    // Epochs: 0 @ 0, 2 @ 20, 5 @ 40; LEO 50.
    let div = |epoch, end_offset| Some(DivergingEpoch { epoch, end_offset });
    assert_eq!(log.diverging_epoch(5, 45), None);
    assert_eq!(log.diverging_epoch(5, 50), None);
    assert_eq!(log.diverging_epoch(5, 51), div(5, 50));
    assert_eq!(log.diverging_epoch(2, 40), None);
    assert_eq!(log.diverging_epoch(2, 45), div(2, 40));
    assert_eq!(
        log.diverging_epoch(3, 30),
        div(2, 40),
        "epoch 3 never had a leader here"
    );
    assert_eq!(log.diverging_epoch(1, 10), div(0, 20));
    assert_eq!(log.diverging_epoch(0, 20), None);
    assert_eq!(
        log.diverging_epoch(6, 50),
        div(-1, -1),
        "unknown future epoch"
    );
    assert_eq!(
        log.diverging_epoch(-1, 999),
        None,
        "no epoch sent: no check"
    );
}
