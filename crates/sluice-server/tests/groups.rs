//! In-process consumer-group tests through raw requests: the first FindCoordinator creates
//! `__consumer_offsets` (internal in Metadata) and names this node; committed offsets come
//! back from OffsetFetch (v1–7 and v8+ layouts), unknown groups answer -1 without an error,
//! unknown partitions are refused per partition, and offsets survive a node restart.

use std::time::Duration;

use sluice_client::Client;
use sluice_config::BrokerConfig;
use sluice_protocol::kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use sluice_protocol::kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use sluice_protocol::kafka_protocol::messages::{
    FindCoordinatorRequest, GroupId, MetadataRequest, OffsetCommitRequest, OffsetFetchRequest,
    TopicName,
};
use sluice_protocol::kafka_protocol::protocol::StrBytes;
use sluice_server::Node;

async fn start(dir: &std::path::Path) -> Node {
    let pairs = vec![
        (
            "listeners".to_string(),
            "PLAINTEXT://127.0.0.1:0".to_string(),
        ),
        ("log.dirs".to_string(), dir.display().to_string()),
        ("offsets.topic.num.partitions".to_string(), "5".to_string()),
    ];
    let (config, _) = BrokerConfig::load(None, &pairs).expect("config");
    Node::start(config).await.expect("node starts")
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn commit(group: &str, topic: &str, partition: i32, offset: i64) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(partition)
                .with_committed_offset(offset)
                .with_committed_metadata(Some(s("meta")))])])
}

async fn fetch_v7(c: &Client, group: &str, topic: &str) -> (i16, i64, i16) {
    let conn = c.any_connection().await.unwrap();
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partition_indexes(vec![0])]));
    let r = conn.send_at(&req, 7).await.unwrap();
    let p = &r.topics[0].partitions[0];
    (r.error_code, p.committed_offset, p.error_code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_commit_fetch_and_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path()).await;
    let c = Client::connect(&node.bootstrap()).await.unwrap();
    c.topic_metadata_for_produce("orders")
        .await
        .expect("auto-created");
    let conn = c.any_connection().await.unwrap();

    let find = FindCoordinatorRequest::default().with_key(s("g1"));
    let r = conn.send_at(&find, 3).await.unwrap();
    assert_eq!(r.error_code, 0);
    assert_eq!(r.node_id.0, 1);
    assert_eq!(r.port, node.bound_addrs()[0].1.port() as i32);
    let r = conn
        .send_at(
            &FindCoordinatorRequest::default().with_coordinator_keys(vec![s("g1"), s("g2")]),
            4,
        )
        .await
        .unwrap();
    assert_eq!(r.coordinators.len(), 2);
    assert!(r.coordinators.iter().all(|c| c.error_code == 0));

    let md = conn
        .send_at(&MetadataRequest::default().with_topics(None), 12)
        .await
        .unwrap();
    let internal = md
        .topics
        .iter()
        .find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some("__consumer_offsets"))
        .expect("__consumer_offsets in Metadata");
    assert!(internal.is_internal);
    assert_eq!(internal.partitions.len(), 5);

    // Unknown group: -1 and no error.
    assert_eq!(fetch_v7(&c, "nobody", "orders").await, (0, -1, 0));

    let r = conn
        .send_at(&commit("g1", "orders", 0, 42), 8)
        .await
        .unwrap();
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    let r = conn
        .send_at(&commit("g1", "orders", 9, 1), 8)
        .await
        .unwrap();
    assert_eq!(r.topics[0].partitions[0].error_code, 3);
    let r = conn
        .send_at(&commit("g1", "missing", 0, 1), 2)
        .await
        .unwrap();
    assert_eq!(r.topics[0].partitions[0].error_code, 3);
    assert_eq!(fetch_v7(&c, "g1", "orders").await, (0, 42, 0));

    node.shutdown().await.unwrap();
    let node = start(dir.path()).await;
    let c = Client::connect(&node.bootstrap()).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got = fetch_v7(&c, "g1", "orders").await;
        if got == (0, 42, 0) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "after restart: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // v8+: batched groups.
    let conn = c.any_connection().await.unwrap();
    let req = OffsetFetchRequest::default().with_groups(vec![
        OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s("g1")))
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name(TopicName(s("orders")))
                .with_partition_indexes(vec![0])])),
        OffsetFetchRequestGroup::default().with_group_id(GroupId(s("other"))),
    ]);
    let r = conn.send_at(&req, 8).await.unwrap();
    assert_eq!(r.groups.len(), 2);
    assert_eq!(r.groups[0].topics[0].partitions[0].committed_offset, 42);
    assert_eq!(
        r.groups[0].topics[0].partitions[0].metadata.as_deref(),
        Some("meta")
    );
    assert_eq!(r.groups[1].error_code, 0);
    node.shutdown().await.unwrap();
}
