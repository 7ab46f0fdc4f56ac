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

/// KIP-848 over the wire: ConsumerGroupHeartbeat joins and assigns by topic id, the member
/// acknowledges and the group is Stable in ConsumerGroupDescribe and ListGroups (type
/// "consumer"); OffsetCommit v9 checks the member epoch; the group and its epochs survive a
/// node restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_protocol_over_the_wire_and_across_restart() {
    use sluice_protocol::kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
    use sluice_protocol::kafka_protocol::messages::{
        ConsumerGroupDescribeRequest, ConsumerGroupHeartbeatRequest, ListGroupsRequest,
    };

    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path()).await;
    let c = Client::connect(&node.bootstrap()).await.unwrap();
    c.topic_metadata_for_produce("orders")
        .await
        .expect("auto-created");
    let conn = c.any_connection().await.unwrap();
    let r = conn
        .send_at(&FindCoordinatorRequest::default().with_key(s("cg")), 3)
        .await
        .unwrap();
    assert_eq!(r.error_code, 0);
    let md = conn
        .send_at(
            &MetadataRequest::default().with_topics(Some(vec![
                sluice_protocol::kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                    .with_name(Some(TopicName(s("orders")))),
            ])),
            12,
        )
        .await
        .unwrap();
    let orders_id = md.topics[0].topic_id;

    let join = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s("cg")))
        .with_member_id(s("member-1"))
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![TopicName(s("orders"))]))
        .with_topic_partitions(Some(vec![]));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let r = loop {
        let r = conn.send_at(&join, 1).await.unwrap();
        // The coordinator partitions load right after __consumer_offsets is created.
        if ![14, 15, 16].contains(&r.error_code) {
            break r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "coordinator never loaded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(r.error_code, 0, "{r:?}");
    assert_eq!(r.member_epoch, 1);
    assert_eq!(r.heartbeat_interval_ms, 5000);
    let assignment = r.assignment.expect("a join gets its assignment");
    assert_eq!(assignment.topic_partitions.len(), 1);
    assert_eq!(assignment.topic_partitions[0].topic_id, orders_id);
    assert_eq!(assignment.topic_partitions[0].partitions, vec![0]);

    let ack = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s("cg")))
        .with_member_id(s("member-1"))
        .with_member_epoch(1)
        .with_rebalance_timeout_ms(-1)
        .with_topic_partitions(Some(vec![TopicPartitions::default()
            .with_topic_id(orders_id)
            .with_partitions(vec![0])]));
    let r = conn.send_at(&ack, 1).await.unwrap();
    assert_eq!((r.error_code, r.member_epoch), (0, 1));
    assert!(
        r.assignment.is_none(),
        "unchanged assignment is not repeated"
    );

    let describe = ConsumerGroupDescribeRequest::default()
        .with_group_ids(vec![GroupId(s("cg")), GroupId(s("nope"))]);
    let d = conn.send_at(&describe, 1).await.unwrap();
    let g = &d.groups[0];
    assert_eq!(
        (g.error_code, g.group_state.as_str(), g.group_epoch),
        (0, "Stable", 1)
    );
    assert_eq!(g.assignor_name.as_str(), "uniform");
    assert_eq!(g.members[0].member_id.as_str(), "member-1");
    assert_eq!(
        g.members[0].assignment.topic_partitions[0]
            .topic_name
            .0
            .as_str(),
        "orders"
    );
    assert_eq!(
        d.groups[1].error_code, 69,
        "unknown group: GROUP_ID_NOT_FOUND"
    );

    let mut commit_req = commit("cg", "orders", 0, 17);
    commit_req.member_id = s("member-1");
    commit_req.generation_id_or_member_epoch = 1;
    let r = conn.send_at(&commit_req, 9).await.unwrap();
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    commit_req.generation_id_or_member_epoch = 2;
    let r = conn.send_at(&commit_req, 9).await.unwrap();
    assert_eq!(
        r.topics[0].partitions[0].error_code, 113,
        "STALE_MEMBER_EPOCH"
    );

    let listed = conn
        .send_at(
            &ListGroupsRequest::default().with_types_filter(vec![s("consumer")]),
            5,
        )
        .await
        .unwrap();
    let groups: Vec<(&str, &str, &str)> = listed
        .groups
        .iter()
        .map(|g| {
            (
                g.group_id.0.as_str(),
                g.group_state.as_str(),
                g.group_type.as_str(),
            )
        })
        .collect();
    assert_eq!(groups, vec![("cg", "Stable", "consumer")]);
    drop(conn);
    drop(c);
    node.shutdown().await.unwrap();

    let node = start(dir.path()).await;
    let c = Client::connect(&node.bootstrap()).await.unwrap();
    let conn = c.any_connection().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let g = loop {
        let d = conn.send_at(&describe, 1).await.unwrap();
        if ![14, 15, 16].contains(&d.groups[0].error_code) {
            break d.groups[0].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "coordinator never loaded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((g.error_code, g.group_epoch, g.assignment_epoch), (0, 1, 1));
    assert_eq!(
        g.members.len(),
        1,
        "the member survives the restart until its session expires"
    );
    // It continues heartbeating with its epoch.
    let r = conn.send_at(&ack, 1).await.unwrap();
    assert_eq!((r.error_code, r.member_epoch), (0, 1));
    let (err, offset, perr) = fetch_v7(&c, "cg", "orders").await;
    assert_eq!((err, offset, perr), (0, 17, 0));
    drop(conn);
    drop(c);
    node.shutdown().await.unwrap();
}

/// `group.coordinator.rebalance.protocols=classic`: the KIP-848 APIs are not offered and a
/// ConsumerGroupHeartbeat sent anyway is refused with UNSUPPORTED_VERSION.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_protocol_can_be_disabled() {
    use sluice_protocol::kafka_protocol::messages::{
        ApiVersionsRequest, ConsumerGroupHeartbeatRequest,
    };

    let dir = tempfile::tempdir().unwrap();
    let pairs = vec![
        (
            "listeners".to_string(),
            "PLAINTEXT://127.0.0.1:0".to_string(),
        ),
        ("log.dirs".to_string(), dir.path().display().to_string()),
        (
            "group.coordinator.rebalance.protocols".to_string(),
            "classic".to_string(),
        ),
    ];
    let (config, _) = BrokerConfig::load(None, &pairs).expect("config");
    let node = Node::start(config).await.expect("node starts");
    let c = Client::connect(&node.bootstrap()).await.unwrap();
    let conn = c.any_connection().await.unwrap();
    let r = conn
        .send_at(&ApiVersionsRequest::default(), 3)
        .await
        .unwrap();
    let keys: Vec<i16> = r.api_keys.iter().map(|k| k.api_key).collect();
    assert!(keys.contains(&11), "JoinGroup is offered");
    assert!(!keys.contains(&68) && !keys.contains(&69), "{keys:?}");
    let join = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_member_id(s("m"))
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![TopicName(s("t"))]))
        .with_topic_partitions(Some(vec![]));
    let r = conn.send_at(&join, 1).await.unwrap();
    assert_eq!(r.error_code, 35);
    drop(conn);
    drop(c);
    node.shutdown().await.unwrap();
}
