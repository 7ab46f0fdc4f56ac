//! Partition reassignment on an in-process 3-node cluster: an RF=2 partition moves off its
//! leader to the third broker while a producer keeps writing with acks=all. The new replica is
//! created and catches up, the reassignment completes (replicas = target, leadership moved off
//! the removed broker), every acknowledged record is readable once and in order, the new
//! replica's log is byte-identical to the leader's, and the removed broker deletes its log
//! directory. Also checks Kafka's error codes for bad requests and cancellation.

#[path = "cluster_common/mod.rs"]
mod cluster_common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cluster_common::*;
use sluice_client::{Client, ClientConfig, NewTopic, ProduceOptions};
use sluice_protocol::kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use sluice_protocol::kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, BrokerId, TopicName,
};
use sluice_protocol::kafka_protocol::protocol::StrBytes;

const TOPIC: &str = "moving";

/// Produces batches of 20 records with acks=all until `stop`, each attempt with fresh values
/// (a failed attempt may still have been written, so it is never retried with the same
/// values). Appends the acknowledged values to `acked`, in order. Its own client never retries
/// internally either: a NOT_LEADER_OR_FOLLOWER answered for an acks=all batch the old leader
/// had appended (and its follower copied) would otherwise be sent again and appear twice,
/// exactly as with a non-idempotent Kafka producer.
async fn produce_until(
    bootstrap: String,
    stop: Arc<AtomicBool>,
    acked: Arc<std::sync::Mutex<Vec<Bytes>>>,
) {
    let config = ClientConfig {
        retries: 0,
        ..ClientConfig::default()
    };
    let client = Client::connect_with(&bootstrap, config).await.unwrap();
    let opts = ProduceOptions::default();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut attempt = 0;
    while !stop.load(Ordering::Acquire) && tokio::time::Instant::now() < deadline {
        attempt += 1;
        let recs = records(20, &format!("a{attempt}"));
        let values: Vec<Bytes> = recs.iter().map(|r| r.value.clone().unwrap()).collect();
        match client.produce(TOPIC, 0, recs, &opts).await {
            Ok(_) => acked.lock().unwrap().extend(values),
            Err(_) => {
                let _ = client.topic_metadata(TOPIC, true).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reassignment_moves_a_partition_off_its_leader_while_producing() {
    let cluster = Cluster::start(3).await;
    let client = Client::connect(&cluster.any_bootstrap()).await.unwrap();
    let created = client
        .create_topics(
            &[NewTopic {
                name: TOPIC.into(),
                num_partitions: Some(1),
                replication_factor: Some(2),
                configs: vec![],
            }],
            false,
        )
        .await
        .unwrap();
    created[0].1.as_ref().expect("topic created");
    let before = eventually("full ISR", || {
        let client = client.clone();
        async move {
            let m = client.topic_metadata(TOPIC, true).await.ok()?;
            let p = m.partitions[0].clone();
            (p.isr.len() == 2 && p.leader >= 0).then_some(p)
        }
    })
    .await;
    let old_leader = before.leader;
    let follower = *before.replicas.iter().find(|b| **b != old_leader).unwrap();
    let newcomer = (1..=3).find(|b| !before.replicas.contains(b)).unwrap();
    let old_dir = cluster
        .node(old_leader)
        .broker()
        .replicas
        .get_by_name(TOPIC, 0)
        .expect("leader hosts the partition")
        .log
        .dir()
        .to_path_buf();
    assert!(old_dir.exists());

    // Validation and cancellation answer with Kafka's codes and change nothing.
    let tp = (TOPIC.to_string(), 0);
    let bad = client
        .alter_partition_reassignments(
            &[
                (tp.clone(), Some(vec![follower, 42])),
                (tp.clone(), Some(vec![follower, follower])),
                ((TOPIC.to_string(), 7), Some(vec![follower])),
                (("no-such-topic".to_string(), 0), Some(vec![follower])),
                (tp.clone(), None),
            ],
            true,
        )
        .await
        .unwrap();
    let codes: Vec<Option<i16>> = bad
        .iter()
        .map(|(_, r)| r.as_ref().err().and_then(|e| e.code()))
        .collect();
    assert_eq!(
        codes,
        vec![Some(39), Some(39), Some(3), Some(3), Some(85)],
        "{bad:?}"
    );
    assert!(client
        .list_partition_reassignments(None)
        .await
        .unwrap()
        .is_empty());

    // Produce continuously; move the partition once some records are in.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let producer = tokio::spawn(produce_until(
        cluster.any_bootstrap(),
        stop.clone(),
        acked.clone(),
    ));
    eventually("first records acknowledged", || {
        let n = acked.lock().unwrap().len();
        async move { (n >= 200).then_some(()) }
    })
    .await;
    let target = vec![follower, newcomer];
    let started = client
        .alter_partition_reassignments(&[(tp.clone(), Some(target.clone()))], true)
        .await
        .unwrap();
    assert!(started[0].1.is_ok(), "{started:?}");

    // Completed: replicas = target, leadership moved to the first target replica in the ISR.
    let after = eventually("reassignment completed", || {
        let client = client.clone();
        async move {
            if !client
                .list_partition_reassignments(None)
                .await
                .ok()?
                .is_empty()
            {
                return None;
            }
            let m = client.topic_metadata(TOPIC, true).await.ok()?;
            let p = m.partitions[0].clone();
            (p.replicas == vec![follower, newcomer]).then_some(p)
        }
    })
    .await;
    assert_eq!(after.leader, follower, "{after:?}");
    assert!(after.isr.iter().all(|b| target.contains(b)), "{after:?}");
    // Writes continue on the new leader, then the producer stops.
    let n = acked.lock().unwrap().len();
    eventually("records acknowledged after the move", || {
        let m = acked.lock().unwrap().len();
        async move { (m >= n + 100).then_some(()) }
    })
    .await;
    stop.store(true, Ordering::Release);
    producer.await.unwrap();
    let acked = acked.lock().unwrap().clone();

    // Every acknowledged record, once, in order (unacknowledged attempts may appear too).
    let read = read_values(&client, TOPIC, 0).await;
    let mut pos = 0;
    for v in &acked {
        let found = read[pos..].iter().position(|r| r == v);
        let Some(i) = found else {
            panic!("acknowledged record {v:?} missing or out of order");
        };
        pos += i + 1;
    }
    for v in &acked {
        assert_eq!(
            read.iter().filter(|r| *r == v).count(),
            1,
            "{v:?} read once"
        );
    }

    // The new replica holds exactly the leader's log.
    let hosted = |id: i32| {
        cluster
            .node(id)
            .broker()
            .replicas
            .get_by_name(TOPIC, 0)
            .expect("hosted")
    };
    let end = hosted(follower).log.log_end_offset();
    eventually("new replica caught up", || async {
        let p = hosted(newcomer);
        (p.log.log_end_offset() == end && p.high_watermark() == end).then_some(())
    })
    .await;
    let bytes = |id: i32| {
        hosted(id)
            .log
            .read(0, usize::MAX / 2, end, true)
            .expect("read log")
            .records
    };
    assert_eq!(bytes(newcomer), bytes(follower), "replica logs identical");
    assert!(!bytes(newcomer).is_empty());

    // The removed broker no longer hosts the partition and its directory is gone.
    eventually("old replica deleted", || {
        let gone = cluster
            .node(old_leader)
            .broker()
            .replicas
            .get_by_name(TOPIC, 0)
            .is_none()
            && !old_dir.exists();
        async move { gone.then_some(()) }
    })
    .await;

    // A reassignment sent to a broker that is not the controller is forwarded to it; it can
    // be cancelled, restoring the replicas.
    let controller = cluster.node(follower).broker().controller_id();
    let other = (1..=3).find(|b| *b != controller).unwrap();
    let conn = client.broker_connection(other).await.unwrap();
    let request = AlterPartitionReassignmentsRequest::default().with_topics(vec![
        ReassignableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partitions(vec![ReassignablePartition::default()
                .with_partition_index(0)
                .with_replicas(Some(vec![BrokerId(follower), BrokerId(old_leader)]))]),
    ]);
    let back = conn.send(&request).await.unwrap();
    assert_eq!(back.error_code, 0, "{back:?}");
    assert_eq!(back.responses[0].partitions[0].error_code, 0, "{back:?}");
    let cancelled = client
        .alter_partition_reassignments(&[(tp.clone(), None)], true)
        .await
        .unwrap();
    // It may have completed already (the topic is idle and small): then 85.
    match &cancelled[0].1 {
        Ok(()) => {
            eventually("original replicas restored", || {
                let client = client.clone();
                async move {
                    let m = client.topic_metadata(TOPIC, true).await.ok()?;
                    (m.partitions[0].replicas == vec![follower, newcomer]).then_some(())
                }
            })
            .await;
        }
        Err(e) => assert_eq!(e.code(), Some(85), "{e}"),
    }
    cluster.shutdown().await;
}

/// Kafka's decommissioning flow: reassign every replica off a broker, stop it, unregister it.
/// The cluster then lists two brokers, the data stays readable, and a second unregister of the
/// same id gets BROKER_ID_NOT_REGISTERED.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn decommissioning_moves_replicas_off_then_unregisters_the_broker() {
    let mut cluster = Cluster::start(3).await;
    let client = Client::connect(&cluster.any_bootstrap()).await.unwrap();
    create(&client, "keep", 2, &[]).await;
    let values: Vec<Bytes> = eventually("records written", || {
        let client = client.clone();
        async move {
            let recs = records(30, "keep");
            let values = recs.iter().map(|r| r.value.clone().unwrap()).collect();
            client
                .produce("keep", 0, recs, &ProduceOptions::default())
                .await
                .ok()
                .map(|_| values)
        }
    })
    .await;
    // Decommission broker 3: every partition moves to {1, 2}.
    let gone = 3;
    let moves: Vec<_> = (0..2)
        .map(|p| (("keep".to_string(), p), Some(vec![1, 2])))
        .collect();
    let started = client
        .alter_partition_reassignments(&moves, true)
        .await
        .unwrap();
    assert!(started.iter().all(|(_, r)| r.is_ok()), "{started:?}");
    eventually("nothing left on broker 3", || {
        let client = client.clone();
        async move {
            let m = client.topic_metadata("keep", true).await.ok()?;
            m.partitions
                .iter()
                .all(|p| !p.replicas.contains(&gone) && p.leader != gone && p.leader >= 0)
                .then_some(())
        }
    })
    .await;
    cluster.kill(gone).await;
    let client = Client::connect(&cluster.any_bootstrap()).await.unwrap();
    eventually("broker 3 unregistered", || {
        let client = client.clone();
        async move { client.unregister_broker(gone).await.ok() }
    })
    .await;
    let desc = client.describe_cluster().await.unwrap();
    let ids: Vec<i32> = desc.brokers.iter().map(|b| b.id).collect();
    assert_eq!(ids, vec![1, 2], "{desc:?}");
    for id in [1, 2] {
        eventually("registration gone everywhere", || {
            let image = cluster.node(id).broker().image();
            async move { (!image.brokers.contains_key(&gone)).then_some(()) }
        })
        .await;
    }
    let again = client.unregister_broker(gone).await.unwrap_err();
    assert_eq!(again.code(), Some(102), "{again}");
    assert_eq!(read_values(&client, "keep", 0).await, values);
    cluster.shutdown().await;
}
