//! `sluice leader-election` as a user runs it, against an in-process 3-node cluster (the
//! harness of sluice-server's cluster tests): usage errors, "Valid replica already elected",
//! a preferred election after the preferred leader was killed and came back ("Successfully
//! completed leader election (PREFERRED) ..."), failures for unknown partitions with exit
//! code 1, and `--all-topic-partitions`.

#[path = "../../sluice-server/tests/cluster_common/mod.rs"]
mod cluster_common;

use std::process::Output;
use std::time::Duration;

use cluster_common::*;
use sluice_client::Client;

async fn sluice(args: &[&str]) -> Output {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("sluice finishes in time")
        .expect("run sluice")
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_election_tool() {
    let mut cluster = Cluster::start_with(3, &[("auto.leader.rebalance.enable", "false")]).await;
    let bs = cluster.any_bootstrap();
    let client = Client::connect(&bs).await.unwrap();
    create(&client, "cli", 3, &[]).await;
    eventually("full ISRs", || {
        let client = client.clone();
        async move {
            let m = client.topic_metadata("cli", true).await.ok()?;
            m.partitions.iter().all(|p| p.isr.len() == 3).then_some(())
        }
    })
    .await;

    // Usage errors, as Kafka words them.
    let o = sluice(&["leader-election", "--bootstrap-server", &bs]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("Missing required option(s): election-type"),
        "{}",
        err(&o)
    );
    let o = sluice(&[
        "leader-election",
        "--bootstrap-server",
        &bs,
        "--election-type",
        "preferred",
        "--topic",
        "cli",
        "--partition",
        "0",
        "--all-topic-partitions",
    ])
    .await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("One and only one of the following options is required"),
        "{}",
        err(&o)
    );
    let o = sluice(&[
        "leader-election",
        "--bootstrap-server",
        &bs,
        "--election-type",
        "preferred",
        "--topic",
        "cli",
    ])
    .await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("Missing required option(s): partition"),
        "{}",
        err(&o)
    );
    let o = sluice(&[
        "leader-election",
        "--bootstrap-server",
        &bs,
        "--election-type",
        "sideways",
        "--all-topic-partitions",
    ])
    .await;
    assert_eq!(o.status.code(), Some(1));

    // A healthy partition: nothing to do.
    let o = sluice(&[
        "leader-election",
        "--bootstrap-server",
        &bs,
        "--election-type",
        "PREFERRED",
        "--topic",
        "cli",
        "--partition",
        "0",
    ])
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(
        out(&o),
        "Valid replica already elected for partitions cli-0\n"
    );

    // The preferred leader of cli-0 dies and comes back: it follows until an election.
    let meta = client.topic_metadata("cli", true).await.unwrap();
    let preferred = meta.partitions[0].replicas[0];
    cluster.kill(preferred).await;
    eventually("new leader for cli-0", || {
        let client = client.clone();
        async move {
            let m = client.topic_metadata("cli", true).await.ok()?;
            let p = &m.partitions[0];
            (p.leader >= 0 && p.leader != preferred).then_some(())
        }
    })
    .await;
    cluster.restart(preferred).await;
    eventually("preferred replica back in every ISR", || {
        let client = client.clone();
        async move {
            let m = client.topic_metadata("cli", true).await.ok()?;
            m.partitions
                .iter()
                .all(|p| p.isr.contains(&preferred))
                .then_some(())
        }
    })
    .await;
    let bs = cluster.any_bootstrap();
    // The unclean election is not needed: the partition has a leader.
    let o = sluice(&[
        "leader-election",
        "--bootstrap-server",
        &bs,
        "--election-type",
        "unclean",
        "--topic",
        "cli",
        "--partition",
        "0",
    ])
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(
        out(&o),
        "Valid replica already elected for partitions cli-0\n"
    );

    // A JSON file with cli-0 and a partition that does not exist.
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("election.json");
    std::fs::write(
        &json,
        r#"{"partitions": [{"topic": "cli", "partition": 0}, {"topic": "cli", "partition": 9}]}"#,
    )
    .unwrap();
    let props = dir.path().join("admin.properties");
    std::fs::write(&props, "request.timeout.ms=20000\n").unwrap();
    let o = sluice(&[
        "leader-election",
        "--bootstrap-server",
        &bs,
        "--election-type",
        "preferred",
        "--path-to-json-file",
        json.to_str().unwrap(),
        "--admin.config",
        props.to_str().unwrap(),
    ])
    .await;
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert_eq!(
        out(&o),
        "Successfully completed leader election (PREFERRED) for partitions cli-0\n\
         Error completing leader election (PREFERRED) for partition: cli-9: \
         org.apache.kafka.common.errors.UnknownTopicOrPartitionException: \
         No such partition as cli-9\n"
    );
    assert_eq!(err(&o), "1 replica(s) could not be elected\n");
    // Every broker's metadata catches up with the change.
    eventually("cli-0 led by its preferred replica", || {
        let client = client.clone();
        async move {
            let m = client.topic_metadata("cli", true).await.ok()?;
            (m.partitions[0].leader == preferred).then_some(())
        }
    })
    .await;

    // Every partition: afterwards each is led by its preferred replica.
    let o = sluice(&[
        "leader-election",
        "--bootstrap-server",
        &bs,
        "--election-type",
        "preferred",
        "--all-topic-partitions",
    ])
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(!out(&o).contains("Error"), "{}", out(&o));
    eventually("every partition led by its preferred replica", || {
        let client = client.clone();
        async move {
            let m = client.topic_metadata("cli", true).await.ok()?;
            m.partitions
                .iter()
                .all(|p| p.leader == p.replicas[0])
                .then_some(())
        }
    })
    .await;
    cluster.shutdown().await;
}
