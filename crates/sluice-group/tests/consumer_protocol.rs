//! KIP-848 consumer protocol on the coordinator, driven the way a client drives it: members
//! join with epoch 0, heartbeat with their epoch and what they own, apply the assignment
//! they are given (revocations at once), and leave. Timers run on a paused tokio clock.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use sluice_group::{
    codes, ConsumerHeartbeatParams, ConsumerHeartbeatResult, GroupConfig, GroupCoordinator,
    OffsetCommitEntry, TopicMetadata, TopicPartitions,
};
use uuid::Uuid;

const ORDERS: Uuid = Uuid::from_u128(0x0a);
const PAYMENTS: Uuid = Uuid::from_u128(0x0b);

fn topics(orders: i32) -> Vec<TopicMetadata> {
    vec![
        TopicMetadata {
            name: "orders".into(),
            topic_id: ORDERS,
            partitions: orders,
        },
        TopicMetadata {
            name: "payments".into(),
            topic_id: PAYMENTS,
            partitions: 3,
        },
    ]
}

fn coordinator_with(config: GroupConfig) -> (GroupCoordinator, std::sync::Arc<common::MemoryLog>) {
    let (c, log) = common::coordinator_with(config);
    c.update_topics(topics(6));
    (c, log)
}

fn coordinator() -> (GroupCoordinator, std::sync::Arc<common::MemoryLog>) {
    coordinator_with(common::config())
}

/// A simulated client: its member id, epoch and what it owns.
struct Client {
    id: String,
    instance: Option<String>,
    epoch: i32,
    owned: Vec<TopicPartitions>,
    topics: Vec<String>,
    assignor: Option<String>,
}

impl Client {
    fn new(id: &str, topics: &[&str]) -> Self {
        Client {
            id: id.to_string(),
            instance: None,
            epoch: 0,
            owned: Vec::new(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            assignor: None,
        }
    }

    fn params(&self) -> ConsumerHeartbeatParams {
        let joining = self.epoch == 0;
        ConsumerHeartbeatParams {
            api_version: 1,
            group_id: "g".into(),
            member_id: self.id.clone(),
            member_epoch: self.epoch,
            instance_id: self.instance.clone(),
            rebalance_timeout_ms: if joining { 30_000 } else { -1 },
            subscribed_topic_names: joining.then(|| self.topics.clone()),
            server_assignor: if joining { self.assignor.clone() } else { None },
            owned_topic_partitions: Some(self.owned.clone()),
            client_id: format!("client-{}", self.id),
            client_host: "/127.0.0.1".into(),
            ..Default::default()
        }
    }

    /// One heartbeat; the client applies what it is told, as librdkafka does.
    async fn beat(&mut self, c: &GroupCoordinator) -> ConsumerHeartbeatResult {
        let r = c.consumer_group_heartbeat(self.params()).await;
        if r.error == codes::NONE {
            self.epoch = r.member_epoch;
            if let Some(a) = &r.assignment {
                self.owned = a.clone();
            }
        }
        r
    }

    fn partitions(&self) -> BTreeSet<(Uuid, i32)> {
        flat(&self.owned)
    }
}

fn flat(tps: &[TopicPartitions]) -> BTreeSet<(Uuid, i32)> {
    tps.iter()
        .flat_map(|tp| tp.partitions.iter().map(move |p| (tp.topic_id, *p)))
        .collect()
}

/// Heartbeats every client in turn until the group is Stable (bounded).
async fn settle(c: &GroupCoordinator, clients: &mut [&mut Client]) {
    for _ in 0..20 {
        for cl in clients.iter_mut() {
            let r = cl.beat(c).await;
            assert_eq!(r.error, codes::NONE, "heartbeat of {} failed: {r:?}", cl.id);
        }
        if c.consumer_group_describe(&["g".into()]).await[0].state == "Stable" {
            return;
        }
    }
    panic!(
        "group did not stabilise: {:?}",
        c.consumer_group_describe(&["g".into()]).await
    );
}

fn assert_exact_cover(clients: &[&Client], expected: usize) {
    let mut all = BTreeSet::new();
    for cl in clients {
        for tp in cl.partitions() {
            assert!(all.insert(tp), "{tp:?} owned by two members");
        }
    }
    assert_eq!(all.len(), expected);
}

#[tokio::test(start_paused = true)]
async fn join_assign_and_reconcile_with_revocation_first() {
    let (c, _log) = coordinator();
    let mut a = Client::new("a", &["orders"]);
    let r = a.beat(&c).await;
    assert_eq!((r.error, r.member_epoch), (codes::NONE, 1));
    assert_eq!(r.heartbeat_interval_ms, 5000);
    assert_eq!(
        a.partitions().len(),
        6,
        "a lone member gets every partition"
    );

    let mut b = Client::new("b", &["orders"]);
    let r = b.beat(&c).await;
    // B is at the new epoch but its partitions are still owned by A.
    assert_eq!(r.member_epoch, 2);
    assert!(b.partitions().is_empty());
    let d = &c.consumer_group_describe(&["g".into()]).await[0];
    assert_eq!(
        (d.state.as_str(), d.group_epoch, d.assignment_epoch),
        ("Reconciling", 2, 2)
    );

    // A must revoke first: it keeps epoch 1 and is told to keep 3.
    let r = a.beat(&c).await;
    assert_eq!(r.member_epoch, 1);
    assert_eq!(a.partitions().len(), 3);
    // B still gets nothing until A acknowledged the revocation.
    b.beat(&c).await;
    assert!(b.partitions().is_empty());
    // A acknowledges (owns 3 now) and reaches epoch 2; then B gets the released three.
    assert_eq!(a.beat(&c).await.member_epoch, 2);
    let r = b.beat(&c).await;
    assert_eq!(r.member_epoch, 2);
    assert_eq!(b.partitions().len(), 3);
    assert_exact_cover(&[&a, &b], 6);
    let d = &c.consumer_group_describe(&["g".into()]).await[0];
    assert_eq!(d.state, "Stable");
    assert_eq!(d.assignor_name, "uniform");
    assert_eq!(d.members.len(), 2);
    assert!(d
        .members
        .iter()
        .all(|m| m.assignment == m.target_assignment));
}

#[tokio::test(start_paused = true)]
async fn leave_frees_partitions_for_the_others() {
    let (c, _log) = coordinator();
    let (mut a, mut b) = (Client::new("a", &["orders"]), Client::new("b", &["orders"]));
    settle(&c, &mut [&mut a, &mut b]).await;
    assert_exact_cover(&[&a, &b], 6);
    a.epoch = -1;
    let r = a.beat(&c).await;
    assert_eq!(
        (r.error, r.member_epoch, r.member_id.as_deref()),
        (codes::NONE, -1, Some("a"))
    );
    settle(&c, &mut [&mut b]).await;
    assert_eq!(b.partitions().len(), 6);
    assert_eq!(b.epoch, 3, "join a, join b, leave a");
    // A's old epoch is gone with it.
    a.epoch = 2;
    assert_eq!(a.beat(&c).await.error, codes::UNKNOWN_MEMBER_ID);
}

#[tokio::test(start_paused = true)]
async fn session_expiry_fences_a_silent_member() {
    let config = GroupConfig {
        consumer_session_timeout_ms: 10_000,
        ..common::config()
    };
    let (c, log) = coordinator_with(config);
    let (mut a, mut b) = (Client::new("a", &["orders"]), Client::new("b", &["orders"]));
    settle(&c, &mut [&mut a, &mut b]).await;
    // Only B keeps heartbeating.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(b.beat(&c).await.error, codes::NONE);
    }
    let d = &c.consumer_group_describe(&["g".into()]).await[0];
    assert_eq!(
        d.members
            .iter()
            .map(|m| m.member_id.as_str())
            .collect::<Vec<_>>(),
        vec!["b"]
    );
    settle(&c, &mut [&mut b]).await;
    assert_eq!(b.partitions().len(), 6);
    assert_eq!(a.beat(&c).await.error, codes::UNKNOWN_MEMBER_ID);
    // The fenced member's records were tombstoned.
    let tombstoned = log.records().iter().any(|(_, r)| {
        matches!(r, sluice_group::GroupRecord::Consumer(
            sluice_group::consumer_records::ConsumerRecord::MemberMetadata { member, value: None, .. }
        ) if member == "a")
    });
    assert!(
        tombstoned,
        "session expiry must tombstone the member's metadata"
    );
}

#[tokio::test(start_paused = true)]
async fn static_member_leaves_temporarily_and_rejoins_with_its_partitions() {
    let (c, _log) = coordinator();
    let mut s = Client::new("s1", &["orders"]);
    s.instance = Some("instance-1".into());
    let mut b = Client::new("b", &["orders"]);
    settle(&c, &mut [&mut s, &mut b]).await;
    let before = s.partitions();
    assert_eq!(before.len(), 3);

    // A second process with the same instance id while s1 is active is refused.
    let mut dup = Client::new("s-dup", &["orders"]);
    dup.instance = Some("instance-1".into());
    assert_eq!(dup.beat(&c).await.error, codes::UNRELEASED_INSTANCE_ID);

    s.epoch = -2;
    let r = s.beat(&c).await;
    assert_eq!((r.error, r.member_epoch), (codes::NONE, -2));
    // Its partitions are not handed to B while it is away.
    b.beat(&c).await;
    assert_eq!(b.partitions().len(), 3);

    let mut back = Client::new("s2", &["orders"]);
    back.instance = Some("instance-1".into());
    let r = back.beat(&c).await;
    assert_eq!(r.error, codes::NONE);
    assert_eq!(
        back.partitions(),
        before,
        "the static member gets its partitions back"
    );
    let d = &c.consumer_group_describe(&["g".into()]).await[0];
    let ids: BTreeSet<&str> = d.members.iter().map(|m| m.member_id.as_str()).collect();
    assert_eq!(ids, BTreeSet::from(["b", "s2"]));
    // The old member id is fenced.
    s.epoch = 2;
    assert_eq!(s.beat(&c).await.error, codes::FENCED_INSTANCE_ID);
}

#[tokio::test(start_paused = true)]
async fn range_assignor_on_request_uniform_by_default() {
    let (c, _log) = coordinator();
    c.update_topics(topics(5));
    let mut a = Client::new("a", &["orders"]);
    let mut b = Client::new("b", &["orders"]);
    a.assignor = Some("range".into());
    b.assignor = Some("range".into());
    settle(&c, &mut [&mut a, &mut b]).await;
    let parts = |cl: &Client| {
        cl.partitions()
            .into_iter()
            .map(|(_, p)| p)
            .collect::<Vec<_>>()
    };
    assert_eq!(parts(&a), vec![0, 1, 2]);
    assert_eq!(parts(&b), vec![3, 4]);
    assert_eq!(
        c.consumer_group_describe(&["g".into()]).await[0].assignor_name,
        "range"
    );

    let mut x = Client::new("x", &["orders"]);
    x.assignor = Some("sticky".into());
    assert_eq!(x.beat(&c).await.error, codes::UNSUPPORTED_ASSIGNOR);
}

#[tokio::test(start_paused = true)]
async fn invalid_requests_and_fencing_errors() {
    let config = GroupConfig {
        consumer_max_size: 1,
        ..common::config()
    };
    let (c, _log) = coordinator_with(config);
    let mut a = Client::new("a", &["orders"]);
    a.beat(&c).await;

    let mut p = Client::new("n", &["orders"]).params();
    p.rebalance_timeout_ms = -1;
    assert_eq!(
        c.consumer_group_heartbeat(p).await.error,
        codes::INVALID_REQUEST
    );
    let mut p = Client::new("n", &["orders"]).params();
    p.owned_topic_partitions = None;
    assert_eq!(
        c.consumer_group_heartbeat(p).await.error,
        codes::INVALID_REQUEST
    );
    let mut p = Client::new("", &["orders"]).params();
    p.api_version = 1;
    assert_eq!(
        c.consumer_group_heartbeat(p).await.error,
        codes::INVALID_REQUEST
    );
    let mut p = Client::new("n", &[]).params();
    p.subscribed_topic_regex = Some("orders(".into());
    assert_eq!(
        c.consumer_group_heartbeat(p).await.error,
        codes::INVALID_REGULAR_EXPRESSION
    );
    let mut p = a.params();
    p.member_epoch = -3;
    assert_eq!(
        c.consumer_group_heartbeat(p).await.error,
        codes::INVALID_REQUEST
    );

    assert_eq!(
        Client::new("b", &["orders"]).beat(&c).await.error,
        codes::GROUP_MAX_SIZE_REACHED
    );
    let mut p = a.params();
    p.member_epoch = a.epoch + 5;
    assert_eq!(
        c.consumer_group_heartbeat(p).await.error,
        codes::FENCED_MEMBER_EPOCH
    );
    let mut p = a.params();
    p.group_id = "other".into();
    assert_eq!(
        c.consumer_group_heartbeat(p).await.error,
        codes::GROUP_ID_NOT_FOUND
    );
    assert_eq!(
        c.consumer_group_describe(&["other".into()]).await[0].error,
        codes::GROUP_ID_NOT_FOUND
    );
    // v0: the coordinator generates the member id.
    let (c0, _log) = coordinator();
    let mut p = Client::new("", &["orders"]).params();
    p.api_version = 0;
    let r = c0.consumer_group_heartbeat(p).await;
    assert_eq!(r.error, codes::NONE);
    assert_eq!(r.member_id.map(|m| m.len()), Some(22));
    let mut p = Client::new("nobody", &["orders"]).params();
    p.member_epoch = 3;
    assert_eq!(
        c0.consumer_group_heartbeat(p).await.error,
        codes::UNKNOWN_MEMBER_ID
    );
}

#[tokio::test(start_paused = true)]
async fn regex_subscription_and_metadata_changes_reassign() {
    let (c, _log) = coordinator();
    let mut a = Client::new("a", &[]);
    let mut p = a.params();
    p.subscribed_topic_names = None;
    p.subscribed_topic_regex = Some("pay.*".into());
    let r = c.consumer_group_heartbeat(p).await;
    assert_eq!(r.error, codes::NONE);
    a.epoch = r.member_epoch;
    a.owned = r.assignment.unwrap_or_default();
    assert_eq!(a.partitions(), (0..3).map(|p| (PAYMENTS, p)).collect());

    // Partitions added to a subscribed topic: the next heartbeat gets a new target.
    let mut b = Client::new("b", &["orders"]);
    settle(&c, &mut [&mut a, &mut b]).await;
    assert_eq!(b.partitions().len(), 6);
    assert_eq!(
        a.partitions().len(),
        3,
        "the regex member keeps only what it subscribes to"
    );
    let epoch = c.consumer_group_describe(&["g".into()]).await[0].group_epoch;
    c.update_topics(topics(8));
    settle(&c, &mut [&mut a, &mut b]).await;
    assert_eq!(b.partitions().len(), 8);
    assert_eq!(
        c.consumer_group_describe(&["g".into()]).await[0].group_epoch,
        epoch + 1
    );

    // A new topic matching the regex is picked up; a deleted one is revoked.
    let mut with_new = topics(8);
    with_new.push(TopicMetadata {
        name: "payouts".into(),
        topic_id: Uuid::from_u128(0x0c),
        partitions: 2,
    });
    c.update_topics(with_new);
    settle(&c, &mut [&mut a, &mut b]).await;
    assert_eq!(a.partitions().len(), 5, "payments (3) + payouts (2)");
    c.update_topics(vec![TopicMetadata {
        name: "orders".into(),
        topic_id: ORDERS,
        partitions: 8,
    }]);
    settle(&c, &mut [&mut a, &mut b]).await;
    assert!(a.partitions().is_empty(), "deleted topics are revoked");
    assert_eq!(b.partitions().len(), 8);
}

fn entry(topic: &str, partition: i32, offset: i64) -> OffsetCommitEntry {
    OffsetCommitEntry {
        topic: topic.into(),
        partition,
        offset,
        leader_epoch: -1,
        metadata: None,
    }
}

#[tokio::test(start_paused = true)]
async fn commits_check_member_epochs_and_survive_reload() {
    let (c, log) = coordinator();
    let (mut a, mut b) = (Client::new("a", &["orders"]), Client::new("b", &["orders"]));
    settle(&c, &mut [&mut a, &mut b]).await;
    let mine = a.partitions().into_iter().next().unwrap().1;
    let errs =
        |r: Vec<sluice_group::PartitionError>| r.into_iter().map(|e| e.error).collect::<Vec<_>>();
    assert_eq!(
        errs(
            c.commit_offsets("g", a.epoch, "a", None, vec![entry("orders", mine, 42)])
                .await
        ),
        vec![codes::NONE]
    );
    assert_eq!(
        errs(
            c.commit_offsets("g", a.epoch + 1, "a", None, vec![entry("orders", mine, 43)])
                .await
        ),
        vec![codes::STALE_MEMBER_EPOCH]
    );
    assert_eq!(
        errs(
            c.commit_offsets("g", a.epoch, "zz", None, vec![entry("orders", mine, 43)])
                .await
        ),
        vec![codes::UNKNOWN_MEMBER_ID]
    );
    // Admin commits (epoch -1) need an empty group.
    assert_eq!(
        errs(
            c.commit_offsets("g", -1, "", None, vec![entry("orders", mine, 43)])
                .await
        ),
        vec![codes::UNKNOWN_MEMBER_ID]
    );
    assert_eq!(
        c.validate_offset_fetch("g", Some("a"), a.epoch),
        codes::NONE
    );
    assert_eq!(
        c.validate_offset_fetch("g", Some("a"), a.epoch + 1),
        codes::STALE_MEMBER_EPOCH
    );
    assert_eq!(c.validate_offset_fetch("g", None, -1), codes::NONE);
    assert_eq!(
        c.delete_groups(&["g".into()]).await[0].1,
        codes::NON_EMPTY_GROUP
    );
    // OffsetDelete: refused for subscribed topics while the group has members.
    let del = c
        .delete_offsets("g", vec![("orders".into(), mine), ("payments".into(), 0)])
        .await;
    let del: Vec<(String, i16)> = del
        .partitions
        .into_iter()
        .map(|p| (p.topic, p.error))
        .collect();
    assert_eq!(
        del,
        vec![
            ("orders".into(), codes::GROUP_SUBSCRIBED_TO_TOPIC),
            ("payments".into(), codes::NONE)
        ]
    );

    // Reload from the log: same epochs and assignments; members keep heartbeating.
    let c2 = GroupCoordinator::new(common::config(), log.clone());
    c2.update_topics(topics(6));
    c2.load_partition(0, log.reencoded(0));
    let before = &c.consumer_group_describe(&["g".into()]).await[0];
    let after = &c2.consumer_group_describe(&["g".into()]).await[0];
    assert_eq!(before, after);
    assert_eq!(a.beat(&c2).await.error, codes::NONE);
    assert_eq!(a.epoch, before.members[0].member_epoch);
    let f = c2
        .fetch_offsets("g", Some(vec![("orders".into(), mine)]), false)
        .await;
    assert_eq!(f.partitions[0].offset, 42);
    let listed = c2.list_groups(&[]).await;
    assert_eq!(listed.groups[0].group_type, "consumer");
    assert_eq!(listed.groups[0].state, "Stable");

    // Both leave; the empty group can be deleted and stays deleted after a reload.
    for cl in [&mut a, &mut b] {
        cl.epoch = -1;
        assert_eq!(cl.beat(&c2).await.error, codes::NONE);
    }
    assert_eq!(c2.list_groups(&[]).await.groups[0].state, "Empty");
    assert_eq!(
        errs(
            c2.commit_offsets("g", -1, "", None, vec![entry("orders", 0, 7)])
                .await
        ),
        vec![codes::NONE]
    );
    assert_eq!(c2.delete_groups(&["g".into()]).await[0].1, codes::NONE);
    let c3 = GroupCoordinator::new(common::config(), log.clone());
    c3.load_partition(0, log.reencoded(0));
    assert!(c3.list_groups(&[]).await.groups.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_group_id_is_either_classic_or_consumer() {
    let (c, _log) = coordinator();
    let mut a = Client::new("a", &["orders"]);
    a.beat(&c).await;
    let j = c.join_group(common::join("g", "", "classic")).await;
    assert_eq!(j.error, codes::INCONSISTENT_GROUP_PROTOCOL);
    // DescribeGroups (classic API) does not describe consumer groups.
    assert_eq!(c.describe_groups(&["g".into()]).await[0].state, "Dead");

    // A classic group with members refuses consumer-protocol members.
    let c2 = c.clone();
    let join = tokio::spawn(async move { c2.join_group(common::join("classic", "", "k")).await });
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(join.await.unwrap().error, codes::NONE);
    let mut p = Client::new("x", &["orders"]).params();
    p.group_id = "classic".into();
    assert_eq!(
        c.consumer_group_heartbeat(p).await.error,
        codes::GROUP_ID_NOT_FOUND
    );
    let types: Vec<(String, String)> = c
        .list_groups(&[])
        .await
        .groups
        .into_iter()
        .map(|g| (g.group_id, g.group_type))
        .collect();
    assert_eq!(
        types,
        vec![
            ("classic".into(), "classic".into()),
            ("g".into(), "consumer".into())
        ]
    );
}
