//! Regression (found by bench/cluster.sh): a delayed Fetch woken by a change that did not give
//! it enough data (here: an append smaller than min_bytes; in a cluster, every HW move) must
//! be woken again by the next append. It used to sleep until max_wait_ms, which made every
//! acks=all produce on a replicated partition wait for the follower's 500 ms fetch timeout.

use std::time::Duration;

use bytes::Bytes;
use sluice_client::{Client, ProduceOptions, ProduceRecord};
use sluice_config::BrokerConfig;
use sluice_protocol::kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use sluice_protocol::kafka_protocol::messages::{FetchRequest, TopicName};
use sluice_protocol::kafka_protocol::protocol::StrBytes;
use sluice_server::Node;

fn record(v: &str) -> Vec<ProduceRecord> {
    vec![ProduceRecord {
        key: None,
        value: Some(Bytes::from(v.repeat(200))),
        headers: vec![],
        timestamp: None,
    }]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_fetch_wakes_on_every_append_until_min_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let pairs = vec![
        (
            "listeners".to_string(),
            "PLAINTEXT://127.0.0.1:0".to_string(),
        ),
        ("log.dirs".to_string(), dir.path().display().to_string()),
    ];
    let (config, _) = BrokerConfig::load(None, &pairs).expect("config");
    let node = Node::start(config).await.expect("node starts");
    let client = Client::connect(&node.bootstrap()).await.unwrap();
    client
        .topic_metadata_for_produce("t")
        .await
        .expect("auto-created");
    let conn = client.any_connection().await.unwrap();
    // Wait up to 60 s for at least 2 records' worth of bytes from offset 0.
    let fetch = FetchRequest::default()
        .with_max_wait_ms(60_000)
        .with_min_bytes(300)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("t")))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let waiting = tokio::spawn(async move { conn.send_at(&fetch, 12).await });
    // Each append is below min_bytes on its own; the first wakes the fetch without enough.
    tokio::time::sleep(Duration::from_millis(300)).await;
    client
        .produce("t", 0, record("a"), &ProduceOptions::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    client
        .produce("t", 0, record("b"), &ProduceOptions::default())
        .await
        .unwrap();
    // Answered after the second append, far before its 60 s max wait.
    let response = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("the fetch was woken by the second append, not left to its 60 s max wait")
        .unwrap()
        .unwrap();
    let p = &response.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    assert!(p.records.as_ref().map_or(0, |r| r.len()) >= 300);
    node.shutdown().await.expect("clean shutdown");
}
