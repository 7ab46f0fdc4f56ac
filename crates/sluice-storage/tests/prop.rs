//! Property tests: for any sequence of batches and any segment/index sizing, every offset reads
//! back the batch containing it, and a crash that tears the log at any byte keeps exactly the
//! batches that were complete before the tear.

mod common;
use common::*;

use proptest::prelude::*;
use sluice_protocol::record_batch::BatchHeader;
use sluice_storage::LogConfig;

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn reads_and_crash_recovery_hold_for_any_layout(
        counts in proptest::collection::vec((1i32..6, 0usize..200), 1..60),
        segment_bytes in 1500u64..6000,
        interval in 0u64..2000,
        cut_frac in 0.0f64..1.0,
    ) {
        let cfg = LogConfig { segment_bytes, index_interval_bytes: interval, retention_ms: -1, ..LogConfig::default() };
        let d = tempfile::tempdir().unwrap();
        let expected;
        {
            let m = open(d.path(), cfg.clone());
            let log = log(&m, cfg.clone());
            for (i, (n, vlen)) in counts.iter().enumerate() {
                let mut b = batch_full(*n, i as i64, 1, -1, -1, -1, *vlen);
                log.append_as_leader(&mut b, 0, 0).unwrap();
            }
            let leo = log.log_end_offset();
            for o in 0..leo {
                let r = log.read(o, 1, leo, true).unwrap();
                let h = BatchHeader::parse(&r.records).unwrap();
                prop_assert!(h.base_offset() <= o && o <= h.last_offset());
            }
            expected = read_all(&log, 0);
            drop(m); // crash
        }
        // Tear the last segment at a random byte.
        let mut logs: Vec<_> = std::fs::read_dir(part_dir(d.path())).unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
        logs.sort();
        let last = logs.pop().unwrap();
        let len = std::fs::metadata(&last).unwrap().len();
        let cut = (len as f64 * cut_frac) as u64;
        std::fs::OpenOptions::new().write(true).open(&last).unwrap().set_len(cut).unwrap();
        let base: i64 = last.file_stem().unwrap().to_str().unwrap().parse().unwrap();
        // Batches of the last segment that end before the cut survive.
        let mut pos = 0u64;
        let survivors: Vec<_> = expected.iter().filter(|(b, _, bytes)| {
            if *b < base { return true; }
            pos += bytes.len() as u64;
            pos <= cut
        }).cloned().collect();
        let m = open(d.path(), cfg.clone());
        let log = m.get(&tp()).unwrap();
        prop_assert_eq!(read_all(&log, 0), survivors.clone());
        let end = survivors.last().map(|s| s.1 + 1).unwrap_or(0);
        prop_assert_eq!(log.log_end_offset(), end);
        prop_assert_eq!(log.append_as_leader(&mut batch(1, 0), 0, 0).unwrap().base_offset, end);
    }
}
