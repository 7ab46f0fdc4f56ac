//! In-process 3-node clusters on 127.0.0.1 (every node broker + controller, a Raft metadata
//! quorum of three): topics are replicated with Kafka's protocol, acks=all waits for the ISR,
//! a killed leader is fenced and replaced from the ISR, a returning broker catches up and
//! rejoins the ISR, a stopped controller is replaced, and admin requests sent to any broker
//! reach the active controller.

#[path = "cluster_common/mod.rs"]
mod cluster_common;

use cluster_common::*;
use sluice_client::{Client, NewTopic, ProduceOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicated_topic_survives_leader_kill_and_the_broker_rejoins() {
    let mut cluster = Cluster::start(3).await;
    // Admin requests to a broker that may not be the controller are forwarded.
    let c2 = Client::connect(&cluster.node(2).bootstrap()).await.unwrap();
    let cluster_desc = c2.describe_cluster().await.unwrap();
    assert_eq!(cluster_desc.brokers.len(), 3, "{cluster_desc:?}");
    create(&c2, "rep", 3, &[("min.insync.replicas", "2")]).await;
    let client = Client::connect(&cluster.any_bootstrap()).await.unwrap();
    // Every partition: three replicas, full ISR, leaders spread.
    let meta = eventually("full ISRs", || {
        let client = client.clone();
        async move {
            let m = client.topic_metadata("rep", true).await.ok()?;
            (m.partitions.len() == 3
                && m.partitions
                    .iter()
                    .all(|p| p.isr.len() == 3 && p.replicas.len() == 3))
            .then_some(m)
        }
    })
    .await;
    let leaders: std::collections::BTreeSet<i32> =
        meta.partitions.iter().map(|p| p.leader).collect();
    assert!(leaders.len() >= 2, "leaders spread over brokers: {meta:?}");

    let acks_all = ProduceOptions::default();
    let mut expected = vec![Vec::new(); 3];
    for round in 0..5 {
        for p in 0..3 {
            let recs = records(50, &format!("r{round}p{p}"));
            expected[p as usize].extend(recs.iter().map(|r| r.value.clone().unwrap()));
            client
                .produce("rep", p, recs, &acks_all)
                .await
                .expect("acks=all produce");
        }
    }
    // Kill the leader of partition 0 (a crash, not a controlled shutdown).
    let victim = client.leader_for("rep", 0, true).await.unwrap();
    cluster.kill(victim).await;
    // A new leader from the ISR, fenced broker out of the ISR.
    eventually("new leader for partition 0", || {
        let client = client.clone();
        async move {
            let m = client.topic_metadata("rep", true).await.ok()?;
            let p = &m.partitions[0];
            (p.leader >= 0 && p.leader != victim && !p.isr.contains(&victim)).then_some(())
        }
    })
    .await;
    // Still writable with acks=all (ISR of 2 = min.insync.replicas).
    for p in 0..3 {
        let recs = records(50, &format!("after-kill-p{p}"));
        expected[p as usize].extend(recs.iter().map(|r| r.value.clone().unwrap()));
        eventually("produce after failover", || {
            let (client, recs, opts) = (client.clone(), recs.clone(), acks_all);
            async move { client.produce("rep", p, recs, &opts).await.ok() }
        })
        .await;
    }
    for p in 0..3 {
        assert_eq!(
            read_values(&client, "rep", p).await,
            expected[p as usize],
            "partition {p}: every acknowledged record, once, in order"
        );
    }
    // The broker comes back, catches up and rejoins every ISR.
    cluster.restart(victim).await;
    eventually("victim back in every ISR", || {
        let client = client.clone();
        async move {
            let m = client.topic_metadata("rep", true).await.ok()?;
            m.partitions
                .iter()
                .all(|p| p.isr.contains(&victim))
                .then_some(())
        }
    })
    .await;
    // Its copy equals the leader's: LEO and HW of every replica match.
    let topic_end = |id: i32, p: i32| {
        let part = cluster
            .node(id)
            .broker()
            .replicas
            .get_by_name("rep", p)
            .expect("hosted");
        (part.log.log_end_offset(), part.high_watermark())
    };
    for p in 0..3 {
        let want = expected[p as usize].len() as i64;
        eventually("replicas converge", || async {
            ((1..=3).all(|id| topic_end(id, p) == (want, want))).then_some(())
        })
        .await;
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn min_insync_replicas_refuses_acks_all_when_the_isr_is_too_small() {
    let mut cluster = Cluster::start(3).await;
    let client = Client::connect(&cluster.any_bootstrap()).await.unwrap();
    create(&client, "strict", 1, &[("min.insync.replicas", "3")]).await;
    eventually("full ISR", || {
        let client = client.clone();
        async move {
            let m = client.topic_metadata("strict", true).await.ok()?;
            (m.partitions[0].isr.len() == 3).then_some(())
        }
    })
    .await;
    client
        .produce("strict", 0, records(10, "ok"), &ProduceOptions::default())
        .await
        .expect("full ISR accepts acks=all");
    let leader = client.leader_for("strict", 0, true).await.unwrap();
    let follower = (1..=3).find(|b| *b != leader).unwrap();
    cluster.kill(follower).await;
    // Once the follower is out of the ISR, acks=all is refused, acks=1 still works.
    let err = eventually("NOT_ENOUGH_REPLICAS", || {
        let client = client.clone();
        async move {
            match client
                .produce("strict", 0, records(1, "x"), &ProduceOptions::default())
                .await
            {
                Err(e) if e.to_string().contains("NOT_ENOUGH_REPLICAS") => Some(e.to_string()),
                _ => None,
            }
        }
    })
    .await;
    assert!(err.contains("NOT_ENOUGH_REPLICAS"), "{err}");
    let acks1 = ProduceOptions {
        acks: 1,
        ..Default::default()
    };
    client
        .produce("strict", 0, records(1, "one"), &acks1)
        .await
        .expect("acks=1 does not need the ISR");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn controller_failover_keeps_admin_working() {
    let mut cluster = Cluster::start(3).await;
    let controller = cluster.node(1).broker().controller_id();
    assert!(controller > 0);
    cluster.kill(controller).await;
    let client = Client::connect(&cluster.any_bootstrap()).await.unwrap();
    // A new controller is elected and topic creation works through it.
    eventually("topic created after controller failover", || {
        let client = client.clone();
        async move {
            let r = client
                .create_topics(
                    &[NewTopic {
                        name: "after".into(),
                        num_partitions: Some(2),
                        replication_factor: Some(2),
                        configs: vec![],
                    }],
                    false,
                )
                .await
                .ok()?;
            match &r[0].1 {
                Ok(()) => Some(()),
                Err(e) if e.to_string().contains("TOPIC_ALREADY_EXISTS") => Some(()),
                Err(_) => None,
            }
        }
    })
    .await;
    let survivor = (1..=3).find(|b| *b != controller).unwrap();
    let new_controller = cluster.node(survivor).broker().controller_id();
    assert!(new_controller > 0 && new_controller != controller);
    client
        .produce("after", 0, records(5, "v"), &ProduceOptions::default())
        .await
        .expect("produce to the new topic");
    cluster.shutdown().await;
}
