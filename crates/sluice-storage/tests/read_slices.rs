//! Property test of `Log::read_slices` (the zero-copy Fetch read): for any layout and any
//! (offset, max_bytes, max_offset, min_one) the regions hold exactly the whole batches Kafka's
//! rules select — starting with the batch containing the offset, all below max_offset, within
//! max_bytes (the first one whole when min_one), as many as fit in that segment — and
//! `Log::read` returns the same bytes.

mod common;
use common::*;

use proptest::prelude::*;
use sluice_storage::LogConfig;

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn read_slices_selects_whole_batches_within_limits(
        counts in proptest::collection::vec((1i32..6, 0usize..300), 1..80),
        // Above the largest generated batch (5 records of 299 B: 1541 B), which a segment must hold.
        segment_bytes in 2000u64..20_000,
        interval in 0u64..1500,
        queries in proptest::collection::vec((0.0f64..1.0, 0usize..6000, 0.0f64..1.2, any::<bool>()), 1..40),
    ) {
        let cfg = LogConfig { segment_bytes, index_interval_bytes: interval, retention_ms: -1, ..LogConfig::default() };
        let d = tempfile::tempdir().unwrap();
        let m = open(d.path(), cfg.clone());
        let log = log(&m, cfg);
        for (i, (n, vlen)) in counts.iter().enumerate() {
            let mut b = batch_full(*n, i as i64, 1, -1, -1, -1, *vlen);
            log.append_as_leader(&mut b, 0, 0).unwrap();
        }
        let all = read_all(&log, 0);
        let mut seg_bases: Vec<i64> = std::fs::read_dir(part_dir(d.path())).unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .map(|p| p.file_stem().unwrap().to_str().unwrap().parse().unwrap())
            .collect();
        seg_bases.sort();
        let seg_of = |off: i64| seg_bases.iter().rev().find(|b| **b <= off).copied();
        let leo = log.log_end_offset();
        for (of, max_bytes, mo, min_one) in queries {
            let offset = (leo as f64 * of) as i64;
            let max_offset = (leo as f64 * mo) as i64;
            let r = log.read_slices(offset, max_bytes, max_offset, min_one).unwrap();
            let bytes = r.to_vec().unwrap();
            prop_assert_eq!(bytes.len(), r.len);
            // Model.
            let mut want = Vec::new();
            if offset < max_offset {
                if let Some(i) = all.iter().position(|b| b.1 >= offset) {
                    let seg = seg_of(all[i].0);
                    let mut total = 0usize;
                    for (k, b) in all.iter().enumerate().skip(i) {
                        let first = k == i;
                        if b.0 >= max_offset || seg_of(b.0) != seg
                            || (total + b.2.len() > max_bytes && !(first && min_one)) {
                            break;
                        }
                        total += b.2.len();
                        want.extend_from_slice(&b.2);
                    }
                }
            }
            prop_assert_eq!(&bytes, &want, "offset {} max_bytes {} max_offset {} min_one {}", offset, max_bytes, max_offset, min_one);
            let old = log.read(offset, max_bytes, max_offset, min_one).unwrap();
            prop_assert_eq!(&old.records[..], &want[..]);
            prop_assert_eq!(old.first_offset, r.first_offset);
        }
    }
}
