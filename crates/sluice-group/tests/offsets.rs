//! Offsets: commit/fetch (unknown group → -1 with no error), standalone commits, generation
//! and membership checks, durability (acknowledged only after the append), OffsetDelete vs
//! subscriptions, retention, and rebuilding state from the appended records.

mod common;

use std::sync::atomic::Ordering;

use bytes::Bytes;
use common::{coordinator, join, subscription};
use sluice_group::{codes, GroupCoordinator, OffsetCommitEntry, SyncGroupParams};

fn entry(topic: &str, partition: i32, offset: i64) -> OffsetCommitEntry {
    OffsetCommitEntry {
        topic: topic.into(),
        partition,
        offset,
        leader_epoch: 4,
        metadata: Some("meta".into()),
    }
}

async fn stable_single(c: &GroupCoordinator, topics: &[&str]) -> (String, i32) {
    let mut p = join("g", "", "c");
    p.protocols = vec![("range".into(), subscription(topics))];
    let r = c.join_group(p).await;
    let s = c
        .sync_group(SyncGroupParams {
            group_id: "g".into(),
            generation_id: r.generation_id,
            member_id: r.member_id.clone(),
            assignments: vec![(r.member_id.clone(), Bytes::new())],
            ..Default::default()
        })
        .await;
    assert_eq!(s.error, codes::NONE);
    (r.member_id, r.generation_id)
}

#[tokio::test]
async fn unknown_group_fetch_is_minus_one_without_error() {
    let (c, _) = coordinator();
    let r = c
        .fetch_offsets("nobody", Some(vec![("t".into(), 0)]), true)
        .await;
    assert_eq!(r.error, codes::NONE);
    assert_eq!(
        (
            r.partitions[0].offset,
            r.partitions[0].error,
            r.partitions[0].leader_epoch
        ),
        (-1, codes::NONE, -1)
    );
    assert!(c
        .fetch_offsets("nobody", None, false)
        .await
        .partitions
        .is_empty());
}

#[tokio::test]
async fn standalone_commit_is_stored_and_fetched() {
    let (c, log) = coordinator();
    let res = c
        .commit_offsets(
            "simple",
            -1,
            "",
            None,
            vec![entry("t", 0, 10), entry("t", 1, 20)],
        )
        .await;
    assert!(res.iter().all(|e| e.error == codes::NONE), "{res:?}");
    let f = c
        .fetch_offsets(
            "simple",
            Some(vec![("t".into(), 1), ("t".into(), 2)]),
            false,
        )
        .await;
    assert_eq!(
        (
            f.partitions[0].offset,
            f.partitions[0].leader_epoch,
            f.partitions[0].metadata.as_str()
        ),
        (20, 4, "meta")
    );
    assert_eq!(f.partitions[1].offset, -1);
    assert_eq!(
        c.fetch_offsets("simple", None, false)
            .await
            .partitions
            .len(),
        2
    );
    assert_eq!(log.records().len(), 2);
    // A null metadata is stored as "", and metadata over offset.metadata.max.bytes is refused.
    let mut big = entry("t", 3, 1);
    big.metadata = Some("x".repeat(4097));
    let mut null = entry("t", 4, 1);
    null.metadata = None;
    let res = c
        .commit_offsets("simple", -1, "", None, vec![big, null])
        .await;
    assert_eq!(
        res.iter().map(|e| e.error).collect::<Vec<_>>(),
        vec![codes::OFFSET_METADATA_TOO_LARGE, codes::NONE]
    );
}

#[tokio::test(start_paused = true)]
async fn member_commits_check_generation_and_membership() {
    let (c, _) = coordinator();
    assert_eq!(
        c.commit_offsets("fresh", 3, "m", None, vec![entry("t", 0, 1)])
            .await[0]
            .error,
        codes::ILLEGAL_GENERATION
    );
    let (member, generation) = stable_single(&c, &["t"]).await;
    let ok = c
        .commit_offsets("g", generation, &member, None, vec![entry("t", 0, 5)])
        .await;
    assert_eq!(ok[0].error, codes::NONE);
    let stale = c
        .commit_offsets("g", generation - 1, &member, None, vec![entry("t", 0, 6)])
        .await;
    assert_eq!(stale[0].error, codes::ILLEGAL_GENERATION);
    let stranger = c
        .commit_offsets("g", generation, "stranger", None, vec![entry("t", 0, 6)])
        .await;
    assert_eq!(stranger[0].error, codes::UNKNOWN_MEMBER_ID);
    let standalone = c
        .commit_offsets("g", -1, "", None, vec![entry("t", 0, 6)])
        .await;
    assert_eq!(
        standalone[0].error,
        codes::UNKNOWN_MEMBER_ID,
        "groups with members take commits only from members"
    );
    assert_eq!(
        c.fetch_offsets("g", Some(vec![("t".into(), 0)]), false)
            .await
            .partitions[0]
            .offset,
        5
    );
}

#[tokio::test]
async fn commit_is_acknowledged_only_after_the_append() {
    let (c, log) = coordinator();
    log.fail.store(true, Ordering::SeqCst);
    let res = c
        .commit_offsets("simple", -1, "", None, vec![entry("t", 0, 10)])
        .await;
    assert_eq!(res[0].error, codes::NOT_COORDINATOR);
    assert_eq!(
        c.fetch_offsets("simple", Some(vec![("t".into(), 0)]), false)
            .await
            .partitions[0]
            .offset,
        -1
    );
    log.fail.store(false, Ordering::SeqCst);
    assert_eq!(
        c.commit_offsets("simple", -1, "", None, vec![entry("t", 0, 11)])
            .await[0]
            .error,
        codes::NONE
    );
    assert_eq!(
        c.fetch_offsets("simple", Some(vec![("t".into(), 0)]), false)
            .await
            .partitions[0]
            .offset,
        11
    );
}

#[tokio::test(start_paused = true)]
async fn delete_offsets_refuses_subscribed_topics() {
    let (c, log) = coordinator();
    let (member, generation) = stable_single(&c, &["orders"]).await;
    c.commit_offsets(
        "g",
        generation,
        &member,
        None,
        vec![entry("orders", 0, 1), entry("old", 0, 2)],
    )
    .await;
    let r = c
        .delete_offsets("g", vec![("orders".into(), 0), ("old".into(), 0)])
        .await;
    assert_eq!(r.error, codes::NONE);
    let errors: Vec<_> = r
        .partitions
        .iter()
        .map(|p| (p.topic.as_str(), p.error))
        .collect();
    assert_eq!(
        errors,
        vec![
            ("orders", codes::GROUP_SUBSCRIBED_TO_TOPIC),
            ("old", codes::NONE)
        ]
    );
    let f = c.fetch_offsets("g", None, false).await;
    assert_eq!(
        f.partitions
            .iter()
            .map(|p| p.topic.as_str())
            .collect::<Vec<_>>(),
        vec!["orders"]
    );
    assert!(log.records().iter().any(|(_, r)| matches!(r, sluice_group::GroupRecord::OffsetCommit { key, value: None } if key.topic == "old")));
    assert_eq!(
        c.delete_offsets("nobody", vec![("t".into(), 0)])
            .await
            .error,
        codes::GROUP_ID_NOT_FOUND
    );
    // Once the member leaves (group Empty) the subscribed topic's offsets can go too.
    c.leave_group("g", vec![(member, None)]).await;
    let r = c.delete_offsets("g", vec![("orders".into(), 0)]).await;
    assert_eq!(r.partitions[0].error, codes::NONE);
}

#[tokio::test]
async fn expired_offsets_of_standalone_groups_are_tombstoned() {
    let (c, log) = coordinator();
    c.commit_offsets("simple", -1, "", None, vec![entry("t", 0, 10)])
        .await;
    let now = sluice_group_now();
    assert_eq!(c.expire_offsets(now).await, 0);
    let week = 7 * 24 * 60 * 60 * 1000;
    assert_eq!(c.expire_offsets(now + week + 1000).await, 1);
    assert_eq!(
        c.fetch_offsets("simple", Some(vec![("t".into(), 0)]), false)
            .await
            .partitions[0]
            .offset,
        -1
    );
    // No offsets left: the group itself is deleted (tombstone) and no longer listed.
    assert!(c.list_groups(&[]).await.groups.is_empty());
    let tail: Vec<_> = log
        .records()
        .into_iter()
        .rev()
        .take(2)
        .map(|(_, r)| r)
        .collect();
    assert!(tail.iter().any(|r| matches!(
        r,
        sluice_group::GroupRecord::GroupMetadata { value: None, .. }
    )));
    assert!(tail.iter().any(|r| matches!(
        r,
        sluice_group::GroupRecord::OffsetCommit { value: None, .. }
    )));
}

fn sluice_group_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(start_paused = true)]
async fn loading_the_log_reproduces_groups_and_offsets() {
    let (c, log) = coordinator();
    let (member, generation) = stable_single(&c, &["orders"]).await;
    c.commit_offsets(
        "g",
        generation,
        &member,
        None,
        vec![entry("orders", 0, 7), entry("orders", 1, 8)],
    )
    .await;
    c.commit_offsets("g", generation, &member, None, vec![entry("orders", 0, 9)])
        .await;
    c.commit_offsets("gone", -1, "", None, vec![entry("t", 0, 1)])
        .await;
    assert_eq!(c.delete_groups(&["gone".into()]).await[0].1, codes::NONE);

    let c2 = GroupCoordinator::new(common::config(), log.clone());
    c2.load_partition(0, log.reencoded(0));
    let f = c2.fetch_offsets("g", None, false).await;
    assert_eq!(
        f.partitions
            .iter()
            .map(|p| (p.partition, p.offset))
            .collect::<Vec<_>>(),
        vec![(0, 9), (1, 8)]
    );
    let d = &c2.describe_groups(&["g".into(), "gone".into()]).await;
    assert_eq!(
        (
            d[0].state.as_str(),
            d[0].members.len(),
            d[0].protocol_data.as_str()
        ),
        ("Stable", 1, "range")
    );
    assert_eq!(d[1].state, "Dead");
    assert_eq!(
        c2.heartbeat("g", &member, None, generation).await,
        codes::NONE
    );
    // Subscriptions survive the load: OffsetDelete still protects the subscribed topic.
    let r = c2.delete_offsets("g", vec![("orders".into(), 0)]).await;
    assert_eq!(r.partitions[0].error, codes::GROUP_SUBSCRIBED_TO_TOPIC);
    // The loaded member still has its session: silence removes it.
    tokio::time::advance(std::time::Duration::from_millis(10_001)).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        c2.heartbeat("g", &member, None, generation).await,
        codes::UNKNOWN_MEMBER_ID
    );
}
