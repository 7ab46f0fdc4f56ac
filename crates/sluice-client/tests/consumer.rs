//! The consumer against an in-process node: a subscribed group reads every record once and
//! in order, manual commits are where a new consumer resumes, assign + seek / pause / resume
//! / seek_to_beginning / seek_to_end move positions, `auto.offset.reset=none` fails without a
//! committed offset, and a regex subscription reads only matching topics (including one
//! created later).

#[path = "consumer_common/mod.rs"]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{config, poll_n, start, value};
use sluice_client::consumer::{Consumer, ConsumerRecord, OffsetReset, StringDeserializer};
use sluice_client::{ClientError, TopicPartition};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_and_poll_reads_everything_in_order() {
    let b = start().await;
    b.create_topic("orders", 3).await;
    for p in 0..3 {
        b.produce("orders", p, 0, 400).await;
    }
    let mut cfg = config(&b.bootstrap(), Some("g-all"));
    cfg.max_poll_records = 100;
    let mut c = Consumer::new(cfg).await.unwrap();
    c.subscribe(&["orders"], None).await.unwrap();
    let recs = poll_n(&mut c, 1200, WAIT).await;
    assert_eq!(recs.len(), 1200);
    let mut per: BTreeMap<i32, Vec<&ConsumerRecord>> = BTreeMap::new();
    for r in &recs {
        per.entry(r.partition).or_default().push(r);
    }
    for (p, rs) in per {
        for (i, r) in rs.iter().enumerate() {
            assert_eq!(r.offset, i as i64, "partition {p} in order");
            assert_eq!(value(r), format!("orders-{p}-{i}"));
            assert_eq!(r.key.as_deref(), Some(format!("k{i}").as_bytes()));
            assert_eq!(r.headers[0].0, "n");
            assert_eq!(&*r.topic, "orders");
        }
    }
    assert_eq!(c.assignment().len(), 3);
    // Nothing more: a short poll returns empty.
    assert!(c.poll(Duration::from_millis(300)).await.unwrap().is_empty());
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_commit_is_where_the_next_consumer_resumes() {
    let b = start().await;
    b.create_topic("pay", 1).await;
    b.produce("pay", 0, 0, 100).await;
    let tp = TopicPartition::new("pay", 0);
    let mut cfg = config(&b.bootstrap(), Some("g-manual"));
    cfg.enable_auto_commit = false;
    cfg.max_poll_records = 10;
    let mut c = Consumer::with_deserializers(cfg.clone(), StringDeserializer, StringDeserializer)
        .await
        .unwrap();
    c.subscribe(&["pay"], None).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 50 {
        let recs = c.poll(Duration::from_millis(500)).await.unwrap();
        assert!(recs.len() <= 10, "max.poll.records");
        got.extend(recs);
    }
    let last = got[49].offset;
    assert_eq!(got[49].value.as_deref(), Some("pay-0-49"));
    c.commit_sync(Some(&BTreeMap::from([(tp.clone(), last + 1)])))
        .await
        .unwrap();
    assert_eq!(
        c.committed(std::slice::from_ref(&tp)).await.unwrap()[&tp],
        50
    );
    c.close().await.unwrap();

    let mut c2 = Consumer::new(cfg).await.unwrap();
    c2.subscribe(&["pay"], None).await.unwrap();
    let recs = poll_n(&mut c2, 50, WAIT).await;
    assert_eq!(recs.len(), 50);
    assert_eq!(recs[0].offset, 50, "resumes at the committed offset");
    assert_eq!(value(&recs[49]), "pay-0-99");
    // commit_sync(None) commits the consumed position.
    c2.commit_sync(None).await.unwrap();
    assert_eq!(
        c2.committed(std::slice::from_ref(&tp)).await.unwrap()[&tp],
        100
    );
    c2.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assign_seek_pause_resume_without_a_group() {
    let b = start().await;
    b.create_topic("s", 2).await;
    b.produce("s", 0, 0, 20).await;
    b.produce("s", 1, 0, 20).await;
    let p0 = TopicPartition::new("s", 0);
    let p1 = TopicPartition::new("s", 1);
    let mut c = Consumer::new(config(&b.bootstrap(), None)).await.unwrap();
    c.assign(&[p0.clone(), p1.clone()]).await.unwrap();
    c.seek(&p0, 15).unwrap();
    c.pause(std::slice::from_ref(&p1)).unwrap();
    assert_eq!(c.paused(), vec![p1.clone()]);
    let recs = poll_n(&mut c, 5, WAIT).await;
    assert_eq!(
        recs.iter()
            .map(|r| (r.partition, r.offset))
            .collect::<Vec<_>>(),
        (15..20).map(|o| (0, o)).collect::<Vec<_>>(),
        "only p0, from the seek offset"
    );
    assert!(c.poll(Duration::from_millis(300)).await.unwrap().is_empty());
    c.resume(std::slice::from_ref(&p1)).unwrap();
    let recs = poll_n(&mut c, 20, WAIT).await;
    assert!(recs.iter().all(|r| r.partition == 1));
    assert_eq!(recs.len(), 20);
    assert_eq!(c.position(&p1).await.unwrap(), 20);

    c.seek_to_beginning(std::slice::from_ref(&p0)).unwrap();
    assert_eq!(c.position(&p0).await.unwrap(), 0);
    let recs = poll_n(&mut c, 20, WAIT).await;
    assert_eq!(recs.first().map(|r| r.offset), Some(0));
    c.seek_to_end(&[]).unwrap();
    assert_eq!(c.position(&p0).await.unwrap(), 20);
    b.produce("s", 0, 20, 3).await;
    let recs = poll_n(&mut c, 3, WAIT).await;
    assert_eq!(value(&recs[0]), "s-0-20");

    let ends = c.end_offsets(&[p0.clone(), p1.clone()]).await.unwrap();
    assert_eq!(ends[&p0], 23);
    assert_eq!(ends[&p1], 20);
    let starts = c
        .beginning_offsets(std::slice::from_ref(&p0))
        .await
        .unwrap();
    assert_eq!(starts[&p0], 0);
    let by_time = c
        .offsets_for_times(&BTreeMap::from([(p1.clone(), 0)]))
        .await
        .unwrap();
    assert_eq!(by_time[&p1].map(|o| o.offset), Some(0));
    // Commits need a group.
    assert!(c.commit_sync(None).await.is_err());
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_none_without_committed_offset_is_an_error() {
    let b = start().await;
    b.create_topic("r", 1).await;
    b.produce("r", 0, 0, 5).await;
    let mut cfg = config(&b.bootstrap(), Some("g-none"));
    cfg.auto_offset_reset = OffsetReset::None;
    let mut c = Consumer::new(cfg).await.unwrap();
    c.subscribe(&["r"], None).await.unwrap();
    match c.poll(Duration::from_secs(10)).await {
        Err(ClientError::NoOffsetForPartition { partitions }) => {
            assert_eq!(partitions, vec!["r-0".to_string()])
        }
        other => panic!("expected NoOffsetForPartition, got {other:?}"),
    }
    // With a committed offset the same consumer works.
    let tp = TopicPartition::new("r", 0);
    c.commit_sync(Some(&BTreeMap::from([(tp, 3)])))
        .await
        .unwrap();
    let recs = poll_n(&mut c, 2, WAIT).await;
    assert_eq!(
        recs.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![3, 4]
    );
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regex_subscription_reads_matching_topics_and_follows_new_ones() {
    let b = start().await;
    for t in ["re-a", "re-b", "other"] {
        b.create_topic(t, 1).await;
        b.produce(t, 0, 0, 10).await;
    }
    let mut cfg = config(&b.bootstrap(), Some("g-re"));
    cfg.metadata_max_age = Duration::from_millis(300);
    let mut c = Consumer::new(cfg).await.unwrap();
    c.subscribe_pattern("re-.*", None).await.unwrap();
    let recs = poll_n(&mut c, 20, WAIT).await;
    let topics: BTreeSet<String> = recs.iter().map(|r| r.topic.to_string()).collect();
    assert_eq!(recs.len(), 20);
    assert_eq!(topics, BTreeSet::from(["re-a".into(), "re-b".into()]));
    assert_eq!(
        c.subscription(),
        vec!["re-a".to_string(), "re-b".to_string()]
    );

    b.create_topic("re-c", 1).await;
    b.produce("re-c", 0, 0, 4).await;
    let recs = poll_n(&mut c, 4, WAIT).await;
    assert_eq!(recs.len(), 4);
    assert!(recs.iter().all(|r| &*r.topic == "re-c"));
    assert!(c.poll(Duration::from_millis(300)).await.unwrap().is_empty());
    c.close().await.unwrap();
}
