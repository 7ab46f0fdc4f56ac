//! Leader balance on in-process 3-node clusters: the preferred leader of a partition is
//! killed, leadership moves within the ISR, the broker comes back and rejoins the ISR; then
//! (a) an ElectLeaders PREFERRED request moves leadership back, (b) with a short
//! `leader.imbalance.check.interval.seconds` the controller's auto rebalance does it alone.

#[path = "cluster_common/mod.rs"]
mod cluster_common;

use std::sync::Arc;

use cluster_common::*;
use sluice_client::{Client, ElectionType, ProduceOptions, ELECTION_NOT_NEEDED};

const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

/// Kills the preferred leader of `topic`-0, waits for a new leader from the ISR, restarts
/// the broker and waits until it is back in the partition's ISR. Returns its id.
async fn fail_over_and_rejoin(cluster: &mut Cluster, client: &Arc<Client>, topic: &str) -> i32 {
    let meta = client.topic_metadata(topic, true).await.unwrap();
    let preferred = meta.partitions[0].replicas[0];
    assert_eq!(meta.partitions[0].leader, preferred, "{meta:?}");
    client
        .produce(topic, 0, records(20, "before"), &ProduceOptions::default())
        .await
        .expect("produce before the failover");
    cluster.kill(preferred).await;
    eventually("a new leader for partition 0", || {
        let client = client.clone();
        let topic = topic.to_string();
        async move {
            let m = client.topic_metadata(&topic, true).await.ok()?;
            let p = &m.partitions[0];
            (p.leader >= 0 && p.leader != preferred).then_some(())
        }
    })
    .await;
    eventually("produce after the failover", || {
        let client = client.clone();
        let topic = topic.to_string();
        async move {
            client
                .produce(&topic, 0, records(20, "during"), &ProduceOptions::default())
                .await
                .ok()
        }
    })
    .await;
    cluster.restart(preferred).await;
    eventually("the preferred replica back in the ISR", || {
        let client = client.clone();
        let topic = topic.to_string();
        async move {
            let m = client.topic_metadata(&topic, true).await.ok()?;
            m.partitions[0].isr.contains(&preferred).then_some(())
        }
    })
    .await;
    preferred
}

/// Every record produced by `fail_over_and_rejoin` plus `after`, in order.
async fn check_records(client: &Arc<Client>, topic: &str, after: usize) {
    let values = read_values(client, topic, 0).await;
    let want: Vec<String> = records(20, "before")
        .into_iter()
        .chain(records(20, "during"))
        .chain(records(after, "after"))
        .map(|r| String::from_utf8(r.value.unwrap().to_vec()).unwrap())
        .collect();
    let got: Vec<String> = values
        .iter()
        .map(|v| String::from_utf8(v.to_vec()).unwrap())
        .collect();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn elect_leaders_preferred_moves_leadership_back() {
    let mut cluster = Cluster::start_with(3, &[("auto.leader.rebalance.enable", "false")]).await;
    let client = Client::connect(&cluster.any_bootstrap()).await.unwrap();
    create(&client, "pref", 3, &[]).await;
    eventually("full ISRs", || {
        let client = client.clone();
        async move {
            let m = client.topic_metadata("pref", true).await.ok()?;
            m.partitions.iter().all(|p| p.isr.len() == 3).then_some(())
        }
    })
    .await;
    let preferred = fail_over_and_rejoin(&mut cluster, &client, "pref").await;
    // Without auto rebalance, nobody moves leadership back on its own.
    let m = client.topic_metadata("pref", true).await.unwrap();
    assert_ne!(m.partitions[0].leader, preferred);
    let before_epoch = m.partitions[0].leader_epoch;

    // Ask from a fresh client (its bootstrap may be any broker).
    let client = Client::connect(&cluster.any_bootstrap()).await.unwrap();
    let wanted = vec![
        ("pref".to_string(), 0),
        ("pref".to_string(), 7),
        ("nope".to_string(), 0),
    ];
    let results = client
        .elect_leaders(ElectionType::Preferred, Some(&wanted))
        .await
        .expect("ElectLeaders");
    let got: Vec<(String, i32, Option<i16>)> = results
        .iter()
        .map(|r| {
            (
                r.topic.clone(),
                r.partition,
                r.result.as_ref().err().and_then(|e| e.code()),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("nope".to_string(), 0, Some(UNKNOWN_TOPIC_OR_PARTITION)),
            ("pref".to_string(), 0, None),
            ("pref".to_string(), 7, Some(UNKNOWN_TOPIC_OR_PARTITION)),
        ]
    );
    // Every broker's metadata catches up with the change (a newer leader epoch).
    eventually("partition 0 led by its preferred replica", || {
        let client = client.clone();
        async move {
            let m = client.topic_metadata("pref", true).await.ok()?;
            let p = &m.partitions[0];
            (p.leader == preferred && p.leader_epoch > before_epoch).then_some(())
        }
    })
    .await;
    // Again: not needed. Unclean with a leader: not needed either.
    for kind in [ElectionType::Preferred, ElectionType::Unclean] {
        let r = client
            .elect_leaders(kind, Some(&[("pref".to_string(), 0)]))
            .await
            .unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(
            r[0].result.as_ref().err().and_then(|e| e.code()),
            Some(ELECTION_NOT_NEEDED),
            "{kind:?}"
        );
    }
    // Every partition: all already have their preferred leader, so nothing is reported.
    let all = client
        .elect_leaders(ElectionType::Preferred, None)
        .await
        .unwrap();
    assert!(
        all.iter().all(|r| r.result.is_err()),
        "only failures may be reported: {all:?}"
    );
    // The new leader serves writes with acks=all, and every record is there once, in order.
    eventually("produce to the preferred leader", || {
        let client = client.clone();
        async move {
            client
                .produce("pref", 0, records(20, "after"), &ProduceOptions::default())
                .await
                .ok()
        }
    })
    .await;
    check_records(&client, "pref", 20).await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn auto_rebalance_moves_leadership_back() {
    let mut cluster = Cluster::start_with(
        3,
        &[
            ("auto.leader.rebalance.enable", "true"),
            ("leader.imbalance.check.interval.seconds", "1"),
            ("leader.imbalance.per.broker.percentage", "10"),
        ],
    )
    .await;
    let client = Client::connect(&cluster.any_bootstrap()).await.unwrap();
    create(&client, "auto", 3, &[]).await;
    eventually("full ISRs", || {
        let client = client.clone();
        async move {
            let m = client.topic_metadata("auto", true).await.ok()?;
            m.partitions.iter().all(|p| p.isr.len() == 3).then_some(())
        }
    })
    .await;
    let preferred = fail_over_and_rejoin(&mut cluster, &client, "auto").await;
    // No request: the controller's periodic check elects the preferred leaders again.
    eventually("every partition led by its preferred replica", || {
        let client = client.clone();
        async move {
            let m = client.topic_metadata("auto", true).await.ok()?;
            m.partitions
                .iter()
                .all(|p| p.leader == p.replicas[0])
                .then_some(())
        }
    })
    .await;
    let m = client.topic_metadata("auto", true).await.unwrap();
    assert_eq!(m.partitions[0].leader, preferred, "{m:?}");
    eventually("produce to the preferred leader", || {
        let client = client.clone();
        async move {
            client
                .produce("auto", 0, records(20, "after"), &ProduceOptions::default())
                .await
                .ok()
        }
    })
    .await;
    check_records(&client, "auto", 20).await;
    cluster.shutdown().await;
}
