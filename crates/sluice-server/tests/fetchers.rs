//! `num.replica.fetchers` on in-process clusters: a follower runs that many fetchers per source
//! broker and puts each partition on Kafka's fetcher id
//! (`Utils.abs(31 * topic.hashCode() + partition) % num.replica.fetchers`); every partition is
//! replicated byte-identically whichever fetcher carries it; a leader change moves partitions
//! to fetchers of the new leader; the setting can be changed at runtime (cluster-wide default
//! and per broker), moving partitions between fetchers; `replica.socket.receive.buffer.bytes`
//! sizes the fetcher's socket.

#[path = "cluster_common/mod.rs"]
mod cluster_common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cluster_common::*;
use sluice_client::{AlterConfigOp, Client, Connection, ProduceOptions, ResourceType};
use sluice_server::fetcher::fetcher_id;
use sluice_storage::TopicPartition;

type Assignment = BTreeMap<(i32, i32), Vec<TopicPartition>>;

/// What broker `id`'s fetchers must own according to the current metadata: every partition
/// it replicates but does not lead, on (leader, Kafka's fetcher id).
async fn expected(client: &Arc<Client>, topic: &str, id: i32, n: i32) -> Option<Assignment> {
    let m = client.topic_metadata(topic, true).await.ok()?;
    let mut out = Assignment::new();
    for p in &m.partitions {
        if p.leader < 0 {
            return None;
        }
        if p.leader != id && p.replicas.contains(&id) {
            out.entry((p.leader, fetcher_id(topic, p.partition, n)))
                .or_default()
                .push(TopicPartition::new(topic, p.partition));
        }
    }
    for v in out.values_mut() {
        v.sort();
    }
    Some(out)
}

/// Waits until broker `id`'s fetchers own exactly what the metadata says (with `n` fetchers
/// per source broker) and returns that assignment.
async fn assignment_settles(
    cluster: &Cluster,
    client: &Arc<Client>,
    topic: &str,
    id: i32,
    n: i32,
) -> Assignment {
    let broker = cluster.node(id).broker().clone();
    eventually(
        &format!("broker {id}'s fetchers follow the metadata"),
        || {
            let (client, broker) = (client.clone(), broker.clone());
            async move {
                let want = expected(&client, topic, id, n).await?;
                (!want.is_empty() && broker.fetchers.assignment() == want).then_some(want)
            }
        },
    )
    .await
}

async fn full_isrs(client: &Arc<Client>, topic: &str, partitions: usize, isr: usize) {
    eventually("full ISRs", || {
        let client = client.clone();
        async move {
            let m = client.topic_metadata(topic, true).await.ok()?;
            (m.partitions.len() == partitions
                && m.partitions
                    .iter()
                    .all(|p| p.leader >= 0 && p.isr.len() == isr))
            .then_some(())
        }
    })
    .await;
}

/// Produces one batch to every partition (acks=all), retrying through leader changes, and
/// records the acknowledged values.
async fn produce_round(
    client: &Arc<Client>,
    topic: &str,
    partitions: i32,
    tag: &str,
    acked: &mut [Vec<Bytes>],
) {
    for p in 0..partitions {
        let recs = records(20, &format!("{tag}-p{p}"));
        eventually("acks=all produce", || {
            let (client, recs) = (client.clone(), recs.clone());
            async move {
                client
                    .produce(topic, p, recs, &ProduceOptions::default())
                    .await
                    .ok()
            }
        })
        .await;
        acked[p as usize].extend(recs.into_iter().map(|r| r.value.unwrap()));
    }
}

/// Every replica of every partition on the `live` brokers holds exactly the leader's log
/// (same log end offset = high watermark, same bytes), and every acknowledged record is in
/// it, in order.
async fn replicas_identical(
    cluster: &Cluster,
    client: &Arc<Client>,
    topic: &str,
    live: &[i32],
    acked: &[Vec<Bytes>],
) {
    let m = client.topic_metadata(topic, true).await.unwrap();
    for p in &m.partitions {
        let hosts: Vec<i32> = p
            .replicas
            .iter()
            .copied()
            .filter(|r| live.contains(r))
            .collect();
        let part = |id: i32| {
            cluster
                .node(id)
                .broker()
                .replicas
                .get_by_name(topic, p.partition)
                .expect("hosted")
        };
        let end = eventually("replicas converge", || {
            let ends: BTreeSet<(i64, i64)> = hosts
                .iter()
                .map(|id| {
                    let x = part(*id);
                    (x.log.log_end_offset(), x.high_watermark())
                })
                .collect();
            async move {
                let (leo, hw) = *ends.iter().next()?;
                (ends.len() == 1 && leo == hw && leo > 0).then_some(leo)
            }
        })
        .await;
        let bytes = |id: i32| {
            part(id)
                .log
                .read(0, usize::MAX / 2, end, true)
                .expect("read log")
                .records
        };
        let first = bytes(hosts[0]);
        assert!(!first.is_empty());
        for id in &hosts[1..] {
            assert_eq!(
                bytes(*id),
                first,
                "partition {}: replica on {id} identical to the one on {}",
                p.partition,
                hosts[0]
            );
        }
        let read = read_values(client, topic, p.partition).await;
        let mut pos = 0;
        for v in &acked[p.partition as usize] {
            let Some(i) = read[pos..].iter().position(|r| r == v) else {
                panic!(
                    "partition {}: acknowledged {v:?} missing or out of order",
                    p.partition
                );
            };
            pos += i + 1;
        }
    }
}

/// Some follower runs several fetchers towards one source broker.
fn spread_over_fetchers(assignments: &[Assignment]) -> bool {
    assignments.iter().any(|a| {
        let mut per_leader: BTreeMap<i32, BTreeSet<i32>> = BTreeMap::new();
        for (leader, id) in a.keys() {
            per_leader.entry(*leader).or_default().insert(*id);
        }
        per_leader.values().any(|ids| ids.len() >= 2)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_fetchers_per_source_broker_replicate_every_partition_through_a_leader_change() {
    const TOPIC: &str = "spread";
    const PARTS: i32 = 12;
    // Four brokers: with Kafka's round-robin placement the partitions a broker leads are
    // 4 apart, so a follower's partitions from one leader land on different fetchers.
    let mut cluster = Cluster::start_with(4, &[("num.replica.fetchers", "3")]).await;
    let client = Client::connect(&cluster.any_bootstrap()).await.unwrap();
    create(&client, TOPIC, PARTS, &[]).await;
    full_isrs(&client, TOPIC, PARTS as usize, 3).await;
    let mut acked = vec![Vec::new(); PARTS as usize];
    for round in 0..3 {
        produce_round(&client, TOPIC, PARTS, &format!("r{round}"), &mut acked).await;
    }

    let mut all = Vec::new();
    for id in 1..=4 {
        all.push(assignment_settles(&cluster, &client, TOPIC, id, 3).await);
    }
    assert!(spread_over_fetchers(&all), "{all:?}");
    let ids: BTreeSet<i32> = all.iter().flat_map(|a| a.keys().map(|k| k.1)).collect();
    assert_eq!(ids, BTreeSet::from([0, 1, 2]), "{all:?}");
    replicas_identical(&cluster, &client, TOPIC, &[1, 2, 3, 4], &acked).await;

    // Leader change: kill the leader of partition 0 (no controlled shutdown).
    let victim = client.leader_for(TOPIC, 0, true).await.unwrap();
    cluster.kill(victim).await;
    eventually("no partition led by the killed broker", || {
        let client = client.clone();
        async move {
            let m = client.topic_metadata(TOPIC, true).await.ok()?;
            m.partitions
                .iter()
                .all(|p| p.leader >= 0 && p.leader != victim && !p.isr.contains(&victim))
                .then_some(())
        }
    })
    .await;
    produce_round(&client, TOPIC, PARTS, "after-kill", &mut acked).await;
    let live: Vec<i32> = (1..=4).filter(|id| *id != victim).collect();
    let mut all = Vec::new();
    for id in &live {
        let a = assignment_settles(&cluster, &client, TOPIC, *id, 3).await;
        assert!(a.keys().all(|(leader, _)| *leader != victim), "{a:?}");
        all.push(a);
    }
    replicas_identical(&cluster, &client, TOPIC, &live, &acked).await;

    // The broker returns: it follows the new leaders with its own fetchers and catches up.
    cluster.restart(victim).await;
    full_isrs(&client, TOPIC, PARTS as usize, 3).await;
    produce_round(&client, TOPIC, PARTS, "after-restart", &mut acked).await;
    for id in 1..=4 {
        assignment_settles(&cluster, &client, TOPIC, id, 3).await;
    }
    replicas_identical(&cluster, &client, TOPIC, &[1, 2, 3, 4], &acked).await;
    // Stopped abruptly: a graceful stop of four voters at once can wait for controller
    // commits that lost their majority (nothing this test is about).
    for id in 1..=4 {
        cluster.kill(id).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn num_replica_fetchers_changes_at_runtime() {
    const TOPIC: &str = "dyn";
    const PARTS: i32 = 6;
    let cluster = Cluster::start(3).await;
    let client = Client::connect(&cluster.any_bootstrap()).await.unwrap();
    create(&client, TOPIC, PARTS, &[]).await;
    full_isrs(&client, TOPIC, PARTS as usize, 3).await;
    let mut acked = vec![Vec::new(); PARTS as usize];
    produce_round(&client, TOPIC, PARTS, "one", &mut acked).await;
    // Kafka's default: one fetcher (id 0) per source broker.
    for id in 1..=3 {
        let a = assignment_settles(&cluster, &client, TOPIC, id, 1).await;
        assert!(a.keys().all(|(_, f)| *f == 0), "{a:?}");
    }

    // Invalid values are refused like any broker config.
    let err = client
        .incremental_alter_configs(
            ResourceType::Broker,
            "",
            &[AlterConfigOp::Set(
                "num.replica.fetchers".into(),
                "0".into(),
            )],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(40), "INVALID_CONFIG: {err}");

    // Cluster-wide default: three fetchers on every broker.
    client
        .incremental_alter_configs(
            ResourceType::Broker,
            "",
            &[AlterConfigOp::Set(
                "num.replica.fetchers".into(),
                "3".into(),
            )],
        )
        .await
        .expect("alter cluster default");
    let mut all = Vec::new();
    for id in 1..=3 {
        all.push(assignment_settles(&cluster, &client, TOPIC, id, 3).await);
    }
    let ids: BTreeSet<i32> = all.iter().flat_map(|a| a.keys().map(|k| k.1)).collect();
    assert_eq!(ids, BTreeSet::from([0, 1, 2]), "{all:?}");
    produce_round(&client, TOPIC, PARTS, "three", &mut acked).await;
    replicas_identical(&cluster, &client, TOPIC, &[1, 2, 3], &acked).await;

    // A per-broker value wins over the cluster default: broker 1 back to one fetcher.
    client
        .incremental_alter_configs(
            ResourceType::Broker,
            "1",
            &[AlterConfigOp::Set(
                "num.replica.fetchers".into(),
                "1".into(),
            )],
        )
        .await
        .expect("alter broker 1");
    let a = assignment_settles(&cluster, &client, TOPIC, 1, 1).await;
    assert!(a.keys().all(|(_, f)| *f == 0), "{a:?}");
    for id in 2..=3 {
        assignment_settles(&cluster, &client, TOPIC, id, 3).await;
    }
    produce_round(&client, TOPIC, PARTS, "mixed", &mut acked).await;
    replicas_identical(&cluster, &client, TOPIC, &[1, 2, 3], &acked).await;
    cluster.shutdown().await;
}

/// `replica.socket.receive.buffer.bytes` reaches the socket (the fetcher connects with
/// `Connection::connect_with_receive_buffer`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetcher_connections_get_the_configured_receive_buffer() {
    let cluster = Cluster::start(1).await;
    let addr = cluster.node(1).bootstrap();
    let rcvbuf = |c: Connection| {
        let std = c.into_stream().unwrap().into_std().unwrap();
        tokio::net::TcpSocket::from_std_stream(std)
            .recv_buffer_size()
            .unwrap()
    };
    let timeout = Duration::from_secs(10);
    let default = rcvbuf(
        Connection::connect_with_receive_buffer(&addr, "t", timeout, None)
            .await
            .unwrap(),
    );
    let small = rcvbuf(
        Connection::connect_with_receive_buffer(&addr, "t", timeout, Some(4096))
            .await
            .unwrap(),
    );
    // Linux reports twice the requested size (its bookkeeping overhead); the OS default is
    // larger than either.
    assert!(
        small >= 4096 && small < default,
        "{small} vs default {default}"
    );
    cluster.shutdown().await;
}
