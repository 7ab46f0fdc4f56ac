//! The producer against an in-process broker: what a user relies on — acknowledged offsets
//! match what is read back (keys, values, headers, timestamps), callbacks report where records
//! went, per-partition order holds with many batches in flight, an idempotent retry after a
//! lost response writes nothing twice, flush/close deliver everything, every codec round
//! trips, a full buffer and an absent topic fail after max.block.ms.

mod common;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use sluice_client::producer::{
    codes, Partitioner, ProducerConfig, ProducerError, ProducerRecord, TopicPartitions,
    TypedProducer,
};
use sluice_client::Producer;

fn config(bootstrap: &str, pairs: &[(&str, &str)]) -> ProducerConfig {
    let mut c = ProducerConfig::new(bootstrap);
    for (k, v) in pairs {
        c.apply(k, v).expect("valid setting");
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_send_returns_offsets_and_records_read_back_identically() {
    let b = start_broker(&[], false).await;
    create_topic(&b.bootstrap, "sync", 1).await;
    let p = Producer::new(config(&b.bootstrap, &[])).await.unwrap();
    for i in 0..50i64 {
        let r = ProducerRecord::new("sync", format!("value-{i}"))
            .key(format!("key-{i}"))
            .header("n", i.to_string())
            .null_header("empty")
            .timestamp(1_600_000_000_000 + i);
        let md = p.send(r).await.await.expect("acknowledged");
        assert_eq!((md.topic.as_str(), md.partition, md.offset), ("sync", 0, i));
        assert_eq!(md.timestamp, 1_600_000_000_000 + i);
        assert_eq!(md.serialized_key_size, format!("key-{i}").len() as i32);
    }
    let got = read_partition(&b.bootstrap, "sync", 0, 50).await;
    assert_eq!(got.len(), 50);
    for (i, r) in got.iter().enumerate() {
        assert_eq!(r.offset, i as i64);
        assert_eq!(r.key, Some(Bytes::from(format!("key-{i}"))));
        assert_eq!(r.value, Some(Bytes::from(format!("value-{i}"))));
        assert_eq!(r.timestamp, 1_600_000_000_000 + i as i64);
        assert_eq!(
            r.headers,
            vec![
                ("n".to_string(), Some(Bytes::from(i.to_string()))),
                ("empty".to_string(), None)
            ]
        );
    }
    p.close(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_report_where_each_record_went() {
    let b = start_broker(&[], false).await;
    create_topic(&b.bootstrap, "cb", 3).await;
    let p = TypedProducer::<String, String>::new(config(&b.bootstrap, &[("linger.ms", "20")]))
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..300 {
        let tx = tx.clone();
        let r = ProducerRecord::new("cb", format!("v{i}")).key(format!("k{}", i % 10));
        p.send_with_callback(r, move |res| {
            let md = res.expect("acknowledged");
            tx.send((i, md.partition, md.offset)).unwrap();
        })
        .await;
    }
    p.flush().await;
    drop(tx);
    let mut seen = Vec::new();
    while let Some(x) = rx.recv().await {
        seen.push(x);
    }
    assert_eq!(
        seen.len(),
        300,
        "every callback ran once by the end of flush"
    );
    // Same key → same partition (murmur2); offsets per partition are 0..n without gaps.
    let mut by_key: HashMap<usize, i32> = HashMap::new();
    let mut by_partition: HashMap<i32, Vec<i64>> = HashMap::new();
    for (i, part, off) in &seen {
        let prev = by_key.insert(i % 10, *part);
        assert!(prev.is_none_or(|p| p == *part), "key k{} moved", i % 10);
        assert_eq!(
            *part,
            sluice_client::partition_for_key(format!("k{}", i % 10).as_bytes(), 3)
        );
        by_partition.entry(*part).or_default().push(*off);
    }
    for (part, mut offs) in by_partition {
        offs.sort();
        assert_eq!(
            offs,
            (0..offs.len() as i64).collect::<Vec<_>>(),
            "partition {part}"
        );
    }
    p.close(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_per_partition_holds_with_many_batches_in_flight() {
    let b = start_broker(&[], false).await;
    create_topic(&b.bootstrap, "order", 2).await;
    let p = Producer::new(config(
        &b.bootstrap,
        &[
            ("batch.size", "512"),
            ("linger.ms", "0"),
            ("max.in.flight.requests.per.connection", "5"),
        ],
    ))
    .await
    .unwrap();
    let n = 4000;
    let mut last = None;
    for i in 0..n {
        let r = ProducerRecord::new("order", format!("{i:06}")).partition(i % 2);
        last = Some(p.send(r).await);
    }
    last.unwrap().await.expect("last record acknowledged");
    p.flush().await;
    assert!(p.metrics().requests.load(Ordering::Relaxed) > 10);
    for part in 0..2 {
        let got = read_partition(&b.bootstrap, "order", part, (n / 2) as i64).await;
        let values: Vec<String> = got
            .iter()
            .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
            .collect();
        let want: Vec<String> = (0..n)
            .filter(|i| i % 2 == part)
            .map(|i| format!("{i:06}"))
            .collect();
        assert_eq!(
            values, want,
            "partition {part} in send order, no gaps or duplicates"
        );
    }
    p.close(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_retry_after_lost_response_writes_once() {
    let b = start_broker(&[], true).await;
    create_topic(&b.bootstrap, "idem", 1).await;
    let p = Producer::new(config(&b.bootstrap, &[("retry.backoff.ms", "10")]))
        .await
        .unwrap();
    assert!(p.config().enable_idempotence);
    // Warm up: producer id and connection exist.
    p.send(ProducerRecord::new("idem", "first"))
        .await
        .await
        .unwrap();
    let proxy = b.proxy.as_ref().unwrap();
    proxy
        .drop_next_produce_response
        .store(true, Ordering::SeqCst);
    let mut futures = Vec::new();
    for i in 0..20 {
        futures.push(p.send(ProducerRecord::new("idem", format!("r{i}"))).await);
    }
    let mut offsets = Vec::new();
    for f in futures {
        offsets.push(f.await.expect("acknowledged after retry").offset);
    }
    assert!(
        !proxy.drop_next_produce_response.load(Ordering::SeqCst),
        "a response was dropped"
    );
    assert!(
        p.metrics().retries.load(Ordering::Relaxed) >= 1,
        "the batch was retried"
    );
    assert_eq!(
        offsets,
        (1..21).collect::<Vec<i64>>(),
        "offsets of the first write"
    );
    assert_eq!(
        end_offset(&b.bootstrap, "idem", 0).await,
        21,
        "nothing written twice"
    );
    let got = read_partition(&b.bootstrap, "idem", 0, 21).await;
    assert_eq!(got[20].value.as_deref(), Some(&b"r19"[..]));
    p.close(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_and_close_deliver_everything_sent() {
    let b = start_broker(&[], false).await;
    create_topic(&b.bootstrap, "fc", 1).await;
    // A linger far beyond the test: only flush/close can send these.
    let p = Producer::new(config(
        &b.bootstrap,
        &[
            ("linger.ms", "100000"),
            ("batch.size", "1000000"),
            ("delivery.timeout.ms", "300000"),
        ],
    ))
    .await
    .unwrap();
    for i in 0..100 {
        drop(p.send(ProducerRecord::new("fc", format!("a{i}"))).await);
    }
    p.flush().await;
    assert_eq!(
        end_offset(&b.bootstrap, "fc", 0).await,
        100,
        "flush sent everything"
    );
    let mut pending = Vec::new();
    for i in 0..50 {
        pending.push(p.send(ProducerRecord::new("fc", format!("b{i}"))).await);
    }
    p.close(Duration::from_secs(20)).await;
    for f in pending {
        f.await.expect("delivered by close");
    }
    assert_eq!(end_offset(&b.bootstrap, "fc", 0).await, 150);
    let after = p.send(ProducerRecord::new("fc", "late")).await.await;
    assert!(matches!(after, Err(ProducerError::Closed(_))), "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_codec_round_trips() {
    let b = start_broker(&[], false).await;
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("codec-{codec}");
        create_topic(&b.bootstrap, &topic, 1).await;
        let p = Producer::new(config(
            &b.bootstrap,
            &[("compression.type", codec), ("linger.ms", "50")],
        ))
        .await
        .unwrap();
        let mut fs = Vec::new();
        for i in 0..300 {
            let r = ProducerRecord::new(topic.clone(), format!("{codec} payload payload {i}"))
                .key(format!("k{i}"))
                .header("codec", codec);
            fs.push(p.send(r).await);
        }
        for f in fs {
            f.await.expect("acknowledged");
        }
        let got = read_partition(&b.bootstrap, &topic, 0, 300).await;
        assert_eq!(got.len(), 300, "{codec}");
        for (i, r) in got.iter().enumerate() {
            assert_eq!(
                r.value,
                Some(Bytes::from(format!("{codec} payload payload {i}")))
            );
            assert_eq!(r.key, Some(Bytes::from(format!("k{i}"))));
            assert_eq!(r.headers[0].1.as_deref(), Some(codec.as_bytes()));
        }
        p.close(Duration::from_secs(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_buffer_blocks_send_then_fails_after_max_block() {
    let b = start_broker(&[], true).await;
    create_topic(&b.bootstrap, "full", 1).await;
    let p = Producer::new(config(
        &b.bootstrap,
        &[
            ("buffer.memory", "8192"),
            ("max.block.ms", "300"),
            ("batch.size", "1024"),
        ],
    ))
    .await
    .unwrap();
    p.send(ProducerRecord::new("full", "warm"))
        .await
        .await
        .unwrap();
    let proxy = b.proxy.as_ref().unwrap();
    proxy.stall();
    let mut accepted = Vec::new();
    let mut failure = None;
    for _ in 0..100 {
        let f = p.send(ProducerRecord::new("full", vec![7u8; 500])).await;
        // A send that could not get memory fails at once with a ready error.
        match tokio::time::timeout(Duration::from_millis(1), f).await {
            Ok(Err(e)) => {
                failure = Some(e);
                break;
            }
            Ok(Ok(md)) => panic!("acknowledged while the broker is stalled: {md:?}"),
            Err(_) => accepted.push(()),
        }
    }
    let e = failure.expect("the buffer filled up");
    assert!(matches!(e, ProducerError::Timeout(_)), "{e:?}");
    assert!(e.to_string().contains("max blocking time 300 ms"), "{e}");
    assert!(
        accepted.len() < 17,
        "8 KiB hold at most 16 records of 500 B"
    );
    proxy.resume();
    p.close(Duration::from_secs(20)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absent_topic_without_auto_create_fails_after_max_block() {
    let b = start_broker(&[("auto.create.topics.enable", "false")], false).await;
    let p = Producer::new(config(&b.bootstrap, &[("max.block.ms", "300")]))
        .await
        .unwrap();
    let err = p
        .send(ProducerRecord::new("nope", "x"))
        .await
        .await
        .unwrap_err();
    assert!(matches!(err, ProducerError::Timeout(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("Topic nope not present in metadata after 300 ms"),
        "{err}"
    );
    // A partition beyond the topic's count is refused the same way.
    create_topic(&b.bootstrap, "two", 2).await;
    let err = p
        .send(ProducerRecord::new("two", "x").partition(5))
        .await
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("Partition 5 of topic two"),
        "{err}"
    );
    let md = p.partitions_for("two").await.unwrap();
    assert_eq!(md.len(), 2);
    p.close(Duration::from_secs(5)).await;
}

struct EvensToZero;
impl Partitioner for EvensToZero {
    fn partition(&self, key: Option<&[u8]>, _: Option<&[u8]>, t: &TopicPartitions) -> i32 {
        let n: i32 = std::str::from_utf8(key.unwrap_or(b"1"))
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1);
        if n % 2 == 0 {
            0
        } else {
            1 + n % (t.num_partitions - 1)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_partitioner_and_acks_zero() {
    let b = start_broker(&[], false).await;
    create_topic(&b.bootstrap, "custom", 3).await;
    let cfg = config(&b.bootstrap, &[]).with_partitioner(std::sync::Arc::new(EvensToZero));
    let p = Producer::new(cfg).await.unwrap();
    for i in 0..10 {
        let md = p
            .send(ProducerRecord::new("custom", "v").key(i.to_string()))
            .await
            .await
            .unwrap();
        assert_eq!(
            md.partition == 0,
            i % 2 == 0,
            "record {i} on {}",
            md.partition
        );
    }
    p.close(Duration::from_secs(5)).await;
    let p = Producer::new(config(&b.bootstrap, &[("acks", "0")]))
        .await
        .unwrap();
    assert!(!p.config().enable_idempotence);
    let md = p
        .send(ProducerRecord::new("custom", "fire").partition(2))
        .await
        .await
        .unwrap();
    assert_eq!(md.offset, -1, "acks=0 has no offset");
    p.close(Duration::from_secs(5)).await;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while end_offset(&b.bootstrap, "custom", 2).await < 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "acks=0 record never arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = codes::DUPLICATE_SEQUENCE_NUMBER;
}
