//! Rack-aware placement end to end: brokers register their `broker.rack`, and topics created
//! (and partitions added) through the controller spread every partition's replicas over as
//! many racks as the replication factor allows, as Kafka's rack-aware assignment does.

#[path = "cluster_common/mod.rs"]
mod cluster_common;

use std::collections::BTreeSet;

use cluster_common::*;
use sluice_client::{Client, NewTopic};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_spread_over_racks() {
    // Nodes 1, 2 on rack "east"; 3, 4 on rack "west".
    let cluster = Cluster::start_each(4, |id| {
        vec![("broker.rack", if id <= 2 { "east" } else { "west" })]
    })
    .await;
    let client = Client::connect(&cluster.any_bootstrap()).await.unwrap();
    let rack = |b: i32| if b <= 2 { "east" } else { "west" };
    // RF=2: a rack-unaware placement could put both replicas on one rack.
    let res = client
        .create_topics(
            &[NewTopic {
                name: "racked".into(),
                num_partitions: Some(8),
                replication_factor: Some(2),
                configs: Default::default(),
            }],
            false,
        )
        .await
        .expect("create topics");
    res[0].1.as_ref().expect("topic created");
    let meta = eventually("8 partitions with 2 replicas", || {
        let client = client.clone();
        async move {
            let m = client.topic_metadata("racked", true).await.ok()?;
            (m.partitions.len() == 8 && m.partitions.iter().all(|p| p.replicas.len() == 2))
                .then_some(m)
        }
    })
    .await;
    for p in &meta.partitions {
        let racks: BTreeSet<&str> = p.replicas.iter().map(|b| rack(*b)).collect();
        assert_eq!(
            racks.len(),
            2,
            "partition {} replicas {:?}",
            p.partition,
            p.replicas
        );
    }
    let leaders: BTreeSet<i32> = meta.partitions.iter().map(|p| p.leader).collect();
    assert_eq!(
        leaders.len(),
        4,
        "leaders spread over all brokers: {meta:?}"
    );
    cluster.shutdown().await;
}
