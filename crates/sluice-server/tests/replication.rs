//! Replication corner cases on an in-process 3-node cluster (issue 4 §8):
//! - a follower that stops fetching while the leader takes writes leaves the ISR after
//!   `replica.lag.time.max.ms`, and rejoins it once it fetches and catches up again;
//! - divergent logs after a leader change: records only the old leader had (acks=1) are
//!   truncated away when it returns, and its log ends up identical to the new leader's.
//!
//! A follower is "stalled" by pausing its replica fetchers (`FetcherManager::set_paused`): it
//! stays alive and keeps heartbeating, like a follower stuck on a slow disk.

#[path = "cluster_common/mod.rs"]
mod cluster_common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cluster_common::*;
use sluice_client::{Client, ProduceOptions};
use sluice_server::broker::Broker;
use sluice_server::replica_manager::Partition;

/// Stalls `broker`'s replica fetching (it stays alive and keeps heartbeating).
fn stall(broker: &Arc<Broker>) {
    broker.fetchers.set_paused(true);
}

fn resume(broker: &Arc<Broker>) {
    broker.fetchers.set_paused(false);
}

fn hosted(cluster: &Cluster, id: i32, topic: &str) -> Arc<Partition> {
    cluster
        .node(id)
        .broker()
        .replicas
        .get_by_name(topic, 0)
        .expect("hosted")
}

async fn full_isr_leader(client: &Arc<Client>, topic: &str) -> i32 {
    eventually("ISR of 3", || {
        let client = client.clone();
        async move {
            let m = client.topic_metadata(topic, true).await.ok()?;
            let p = m.partitions.first()?;
            (p.isr.len() == 3 && p.leader >= 0).then_some(p.leader)
        }
    })
    .await
}

fn acks(acks: i16) -> ProduceOptions {
    ProduceOptions {
        acks,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_follower_leaves_the_isr_and_rejoins_after_catching_up() {
    let cluster = Cluster::start(3).await;
    let client = Client::connect(&cluster.any_bootstrap()).await.unwrap();
    create(&client, "stall", 1, &[]).await;
    let leader = full_isr_leader(&client, "stall").await;
    let follower = (1..=3).find(|b| *b != leader).unwrap();
    let fb = cluster.node(follower).broker().clone();

    stall(&fb);
    // Let a fetch already waiting at the leader (replica.fetch.wait.max.ms = 100) run out.
    tokio::time::sleep(Duration::from_millis(500)).await;
    client
        .produce("stall", 0, records(50, "while-stalled"), &acks(1))
        .await
        .expect("acks=1 produce");
    let lp = hosted(&cluster, leader, "stall");
    let fp = hosted(&cluster, follower, "stall");
    eventually("stalled follower out of the ISR", || {
        let isr = lp.state().isr;
        async move { (!isr.contains(&follower) && isr.len() == 2).then_some(()) }
    })
    .await;
    assert!(
        fp.log.log_end_offset() < lp.log.log_end_offset(),
        "the follower really was behind"
    );
    // The controller's image agrees (the shrink went through AlterPartition).
    let m = client.topic_metadata("stall", true).await.unwrap();
    assert!(!m.partitions[0].isr.contains(&follower), "{m:?}");

    resume(&fb);
    eventually("follower back in the ISR", || {
        let isr = lp.state().isr;
        async move { (isr.contains(&follower) && isr.len() == 3).then_some(()) }
    })
    .await;
    let end = lp.log.log_end_offset();
    eventually("follower caught up", || {
        let done = fp.log.log_end_offset() == end && lp.high_watermark() == end;
        async move { done.then_some(()) }
    })
    .await;
    assert_eq!(read_values(&client, "stall", 0).await.len(), 50);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_returning_leader_truncates_records_the_new_leader_never_had() {
    let mut cluster = Cluster::start(3).await;
    let client = Client::connect(&cluster.any_bootstrap()).await.unwrap();
    create(&client, "diverge", 1, &[]).await;
    let old = full_isr_leader(&client, "diverge").await;
    let followers: Vec<i32> = (1..=3).filter(|b| *b != old).collect();

    client
        .produce("diverge", 0, records(10, "base"), &acks(-1))
        .await
        .expect("acks=all produce");
    for f in &followers {
        stall(cluster.node(*f).broker());
    }
    // Let a fetch already waiting at the leader (replica.fetch.wait.max.ms = 100) run out.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Acknowledged by the leader alone: lost when it dies before the followers copy them.
    client
        .produce("diverge", 0, records(5, "unreplicated"), &acks(1))
        .await
        .expect("acks=1 produce");
    let op = hosted(&cluster, old, "diverge");
    assert_eq!(op.log.log_end_offset(), 15);
    op.log.flush().expect("flush");
    drop(op);
    cluster.kill(old).await;
    for f in &followers {
        resume(cluster.node(*f).broker());
    }

    // A new leader from the ISR; it takes new writes at the offsets the old leader had used.
    let survivors = format!(
        "{},{}",
        cluster.node(followers[0]).bootstrap(),
        cluster.node(followers[1]).bootstrap()
    );
    let c2 = Client::connect(&survivors).await.unwrap();
    let new = eventually("new leader", || {
        let c2 = c2.clone();
        async move {
            let m = c2.topic_metadata("diverge", true).await.ok()?;
            let l = m.partitions.first()?.leader;
            (l >= 0 && l != old).then_some(l)
        }
    })
    .await;
    eventually("produce to the new leader", || {
        let c2 = c2.clone();
        async move {
            c2.produce("diverge", 0, records(3, "after"), &acks(-1))
                .await
                .ok()
        }
    })
    .await;

    cluster.restart(old).await;
    let np = hosted(&cluster, new, "diverge");
    eventually("old leader back in the ISR and caught up", || {
        let isr = np.state().isr;
        let end = np.log.log_end_offset();
        let op = cluster
            .node(old)
            .broker()
            .replicas
            .get_by_name("diverge", 0);
        async move {
            let op = op?;
            (isr.contains(&old) && op.log.log_end_offset() == end).then_some(())
        }
    })
    .await;
    let bytes = |id: i32| {
        let p = hosted(&cluster, id, "diverge");
        let end = p.log.log_end_offset();
        p.log
            .read(0, usize::MAX / 2, end, true)
            .expect("read log")
            .records
    };
    assert_eq!(
        bytes(old),
        bytes(new),
        "the returning replica's log equals the leader's"
    );
    let values = read_values(&c2, "diverge", 0).await;
    let expect: Vec<Bytes> = (0..10)
        .map(|i| Bytes::from(format!("base-{i}")))
        .chain((0..3).map(|i| Bytes::from(format!("after-{i}"))))
        .collect();
    assert!(
        values.ends_with(&expect[10..]) && values.starts_with(&expect[..10]),
        "{values:?}"
    );
    assert!(
        !values.iter().any(|v| v.starts_with(b"unreplicated")),
        "records only the old leader had are gone: {values:?}"
    );
    cluster.shutdown().await;
}
