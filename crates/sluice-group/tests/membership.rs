//! The classic group state machine end to end, on tokio's paused clock: initial rebalance
//! delay, generations, leader election, SyncGroup waiting for the leader, heartbeats during
//! rebalances, session and rebalance timeouts, static membership, KIP-394, and the errors.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{config, coordinator, coordinator_with, join, subscription};
use sluice_group::{codes, GroupCoordinator, JoinGroupResult, SyncGroupParams};
use tokio::task::JoinHandle;
use tokio::time::advance;

fn spawn_join(
    c: &GroupCoordinator,
    p: sluice_group::JoinGroupParams,
) -> JoinHandle<JoinGroupResult> {
    let c = c.clone();
    tokio::spawn(async move { c.join_group(p).await })
}

async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

fn sync(group: &str, r: &JoinGroupResult, assignments: Vec<(String, Bytes)>) -> SyncGroupParams {
    SyncGroupParams {
        group_id: group.into(),
        generation_id: r.generation_id,
        member_id: r.member_id.clone(),
        group_instance_id: None,
        protocol_type: Some("consumer".into()),
        protocol_name: r.protocol_name.clone(),
        assignments,
    }
}

/// Brings `n` dynamic members into a Stable group; returns their join results (leader first).
async fn stable_group(c: &GroupCoordinator, group: &str, n: usize) -> Vec<JoinGroupResult> {
    let handles: Vec<_> = (0..n)
        .map(|i| spawn_join(c, join(group, "", &format!("client-{i}"))))
        .collect();
    let mut results = Vec::new();
    for h in handles {
        results.push(h.await.unwrap());
    }
    results.sort_by_key(|r| r.members.is_empty());
    let leader = &results[0];
    let assignments = results
        .iter()
        .map(|r| (r.member_id.clone(), Bytes::from(r.member_id.clone())))
        .collect();
    let mut syncs = Vec::new();
    for r in results.iter().skip(1) {
        let (c2, p) = (c.clone(), sync(group, r, vec![]));
        syncs.push(tokio::spawn(async move { c2.sync_group(p).await }));
    }
    assert_eq!(
        c.sync_group(sync(group, leader, assignments)).await.error,
        codes::NONE
    );
    for s in syncs {
        assert_eq!(s.await.unwrap().error, codes::NONE);
    }
    results
}

#[tokio::test(start_paused = true)]
async fn initial_delay_gathers_members_into_one_generation() {
    let (c, _) = coordinator();
    let handles: Vec<_> = (0..5)
        .map(|i| spawn_join(&c, join("g", "", &format!("c{i}"))))
        .collect();
    settle().await;
    advance(Duration::from_millis(2_900)).await;
    settle().await;
    assert!(
        handles.iter().all(|h| !h.is_finished()),
        "held for group.initial.rebalance.delay.ms"
    );
    let mut results = Vec::new();
    for h in handles {
        results.push(h.await.unwrap());
    }
    let leader = results[0].leader.clone();
    for r in &results {
        assert_eq!(r.error, codes::NONE);
        assert_eq!(r.generation_id, 1);
        assert_eq!(r.leader, leader);
        assert_eq!(r.protocol_name.as_deref(), Some("range"));
        assert!(r.member_id.starts_with('c'), "{}", r.member_id);
    }
    let leaders: Vec<_> = results.iter().filter(|r| r.member_id == leader).collect();
    assert_eq!(leaders.len(), 1);
    assert_eq!(
        leaders[0].members.len(),
        5,
        "only the leader gets the member list"
    );
    assert_eq!(results.iter().filter(|r| !r.members.is_empty()).count(), 1);
}

#[tokio::test(start_paused = true)]
async fn initial_delay_extends_when_members_keep_arriving() {
    let (c, _) = coordinator();
    let first = spawn_join(&c, join("g", "", "a"));
    settle().await;
    advance(Duration::from_millis(2_500)).await;
    let second = spawn_join(&c, join("g", "", "b"));
    settle().await;
    // The first delay expires at 3 s; a member arrived, so it is held another 3 s.
    advance(Duration::from_millis(3_400)).await;
    settle().await;
    assert!(!first.is_finished() && !second.is_finished());
    advance(Duration::from_millis(200)).await;
    let (a, b) = (first.await.unwrap(), second.await.unwrap());
    assert_eq!((a.generation_id, b.generation_id), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn followers_sync_waits_for_leader_and_gets_its_assignment() {
    let (c, log) = coordinator();
    let hs: Vec<_> = (0..3)
        .map(|i| spawn_join(&c, join("g", "", &format!("c{i}"))))
        .collect();
    let mut rs = Vec::new();
    for h in hs {
        rs.push(h.await.unwrap());
    }
    rs.sort_by_key(|r| r.members.is_empty());
    let follower_sync = {
        let (c, p) = (c.clone(), sync("g", &rs[1], vec![]));
        tokio::spawn(async move { c.sync_group(p).await })
    };
    settle().await;
    assert!(
        !follower_sync.is_finished(),
        "follower waits for the leader"
    );
    assert_eq!(
        c.heartbeat("g", &rs[2].member_id, None, 1).await,
        codes::NONE
    );
    let assignments: Vec<_> = rs
        .iter()
        .map(|r| {
            (
                r.member_id.clone(),
                Bytes::from(format!("for-{}", r.member_id)),
            )
        })
        .collect();
    let leader_sync = c.sync_group(sync("g", &rs[0], assignments)).await;
    assert_eq!(
        leader_sync.assignment,
        Bytes::from(format!("for-{}", rs[0].member_id))
    );
    let f = follower_sync.await.unwrap();
    assert_eq!(f.error, codes::NONE);
    assert_eq!(
        f.assignment,
        Bytes::from(format!("for-{}", rs[1].member_id))
    );
    assert_eq!(f.protocol_name.as_deref(), Some("range"));
    // A late follower gets its assignment straight from the Stable group.
    let late = c.sync_group(sync("g", &rs[2], vec![])).await;
    assert_eq!(
        late.assignment,
        Bytes::from(format!("for-{}", rs[2].member_id))
    );
    let d = &c.describe_groups(&["g".into()]).await[0];
    assert_eq!(
        (d.state.as_str(), d.protocol_data.as_str(), d.members.len()),
        ("Stable", "range", 3)
    );
    // The group was stored with its assignment.
    let stored = log.records();
    let sluice_group::GroupRecord::GroupMetadata { value: Some(v), .. } = &stored.last().unwrap().1
    else {
        panic!("{stored:?}")
    };
    assert_eq!((v.generation, v.members.len()), (1, 3));
    assert!(v.members.iter().all(|m| !m.assignment.is_empty()));
}

#[tokio::test(start_paused = true)]
async fn new_member_triggers_rebalance_and_generation_increments() {
    let (c, _) = coordinator();
    let rs = stable_group(&c, "g", 2).await;
    let newcomer = spawn_join(&c, join("g", "", "new"));
    settle().await;
    for r in &rs {
        assert_eq!(
            c.heartbeat("g", &r.member_id, None, 1).await,
            codes::REBALANCE_IN_PROGRESS
        );
    }
    let d = &c.describe_groups(&["g".into()]).await[0];
    assert_eq!(d.state, "PreparingRebalance");
    // Syncing the old generation is refused.
    assert_eq!(
        c.sync_group(sync("g", &rs[1], vec![])).await.error,
        codes::REBALANCE_IN_PROGRESS
    );
    let rejoins: Vec<_> = rs
        .iter()
        .map(|r| spawn_join(&c, join("g", &r.member_id, "x")))
        .collect();
    let mut all = vec![newcomer.await.unwrap()];
    for h in rejoins {
        all.push(h.await.unwrap());
    }
    assert!(
        all.iter()
            .all(|r| r.error == codes::NONE && r.generation_id == 2),
        "{all:?}"
    );
    assert_eq!(all.iter().filter(|r| !r.members.is_empty()).count(), 1);
    assert_eq!(
        c.heartbeat("g", &rs[0].member_id, None, 1).await,
        codes::ILLEGAL_GENERATION
    );
}

#[tokio::test(start_paused = true)]
async fn members_that_do_not_rejoin_are_dropped_at_the_rebalance_timeout() {
    let (c, _) = coordinator();
    let rs = stable_group(&c, "g", 3).await;
    // The leader rejoins (forcing a rebalance); the others keep heartbeating (so their
    // sessions stay alive) but never rejoin.
    let leader = rs.iter().find(|r| !r.members.is_empty()).unwrap().clone();
    let h = spawn_join(&c, join("g", &leader.member_id, "x"));
    settle().await;
    for _ in 0..9 {
        advance(Duration::from_millis(3_000)).await;
        for other in rs.iter().filter(|o| o.member_id != leader.member_id) {
            assert_eq!(
                c.heartbeat("g", &other.member_id, None, 1).await,
                codes::REBALANCE_IN_PROGRESS
            );
        }
    }
    settle().await;
    assert!(!h.is_finished(), "held until rebalance.timeout.ms (30 s)");
    let r = h.await.unwrap();
    assert_eq!(
        (r.error, r.generation_id, r.members.len()),
        (codes::NONE, 2, 1)
    );
    for other in rs.iter().filter(|o| o.member_id != leader.member_id) {
        assert_eq!(
            c.heartbeat("g", &other.member_id, None, 1).await,
            codes::UNKNOWN_MEMBER_ID
        );
    }
}

#[tokio::test(start_paused = true)]
async fn session_timeout_removes_a_silent_member() {
    let (c, _) = coordinator();
    let rs = stable_group(&c, "g", 2).await;
    let (alive, silent) = (&rs[0], &rs[1]);
    for _ in 0..3 {
        advance(Duration::from_millis(3_000)).await;
        assert_eq!(
            c.heartbeat("g", &alive.member_id, None, 1).await,
            codes::NONE
        );
    }
    advance(Duration::from_millis(1_500)).await; // 10.5 s since the silent member's last sign
    settle().await;
    assert_eq!(
        c.heartbeat("g", &alive.member_id, None, 1).await,
        codes::REBALANCE_IN_PROGRESS
    );
    assert_eq!(
        c.heartbeat("g", &silent.member_id, None, 1).await,
        codes::UNKNOWN_MEMBER_ID
    );
    let r = c.join_group(join("g", &alive.member_id, "x")).await;
    assert_eq!(
        (r.generation_id, r.members.len(), r.leader.as_str()),
        (2, 1, alive.member_id.as_str())
    );
}

#[tokio::test(start_paused = true)]
async fn leave_group_is_batched_with_per_member_errors() {
    let (c, _) = coordinator();
    let rs = stable_group(&c, "g", 3).await;
    let res = c
        .leave_group(
            "g",
            vec![
                (rs[1].member_id.clone(), None),
                ("nobody".into(), None),
                (rs[2].member_id.clone(), None),
            ],
        )
        .await;
    assert_eq!(res.error, codes::NONE);
    let errors: Vec<_> = res.members.iter().map(|m| m.error).collect();
    assert_eq!(
        errors,
        vec![codes::NONE, codes::UNKNOWN_MEMBER_ID, codes::NONE]
    );
    assert_eq!(
        c.heartbeat("g", &rs[0].member_id, None, 1).await,
        codes::REBALANCE_IN_PROGRESS
    );
    let r = c.join_group(join("g", &rs[0].member_id, "x")).await;
    assert_eq!((r.generation_id, r.members.len()), (2, 1));
    let unknown = c.leave_group("nope", vec![("m".into(), None)]).await;
    assert_eq!(unknown.members[0].error, codes::UNKNOWN_MEMBER_ID);
    // Last member leaves: the group goes Empty and can be deleted.
    assert_eq!(
        c.delete_groups(&["g".into()]).await,
        vec![("g".into(), codes::NON_EMPTY_GROUP)]
    );
    c.leave_group("g", vec![(rs[0].member_id.clone(), None)])
        .await;
    assert_eq!(c.describe_groups(&["g".into()]).await[0].state, "Empty");
    assert_eq!(
        c.delete_groups(&["g".into()]).await,
        vec![("g".into(), codes::NONE)]
    );
    assert_eq!(
        c.delete_groups(&["g".into()]).await,
        vec![("g".into(), codes::GROUP_ID_NOT_FOUND)]
    );
}

#[tokio::test(start_paused = true)]
async fn static_member_rejoins_without_rebalance_and_old_id_is_fenced() {
    let (c, _) = coordinator();
    let mut p = join("g", "", "c");
    p.group_instance_id = Some("instance-1".into());
    let first = c.join_group(p.clone()).await;
    assert_eq!((first.error, first.generation_id), (codes::NONE, 1));
    assert!(first.member_id.starts_with("instance-1-"));
    let mut s = sync(
        "g",
        &first,
        vec![(first.member_id.clone(), Bytes::from_static(b"A"))],
    );
    s.group_instance_id = Some("instance-1".into());
    assert_eq!(c.sync_group(s).await.assignment, Bytes::from_static(b"A"));
    // Restart: same instance id, unknown member id, same metadata.
    let again = c.join_group(p.clone()).await;
    assert_eq!(again.error, codes::NONE);
    assert_eq!(again.generation_id, 1, "no rebalance");
    assert_ne!(again.member_id, first.member_id);
    assert_eq!(c.describe_groups(&["g".into()]).await[0].state, "Stable");
    assert_eq!(
        c.heartbeat("g", &first.member_id, Some("instance-1"), 1)
            .await,
        codes::FENCED_INSTANCE_ID
    );
    assert_eq!(
        c.heartbeat("g", &again.member_id, Some("instance-1"), 1)
            .await,
        codes::NONE
    );
    let mut stale = join("g", &first.member_id, "c");
    stale.group_instance_id = Some("instance-1".into());
    assert_eq!(c.join_group(stale).await.error, codes::FENCED_INSTANCE_ID);
    // The assignment survives the restart.
    let mut s = sync("g", &again, vec![]);
    s.group_instance_id = Some("instance-1".into());
    assert_eq!(c.sync_group(s).await.assignment, Bytes::from_static(b"A"));
    // Leaving by instance id alone (admin removal).
    let res = c
        .leave_group("g", vec![(String::new(), Some("instance-1".into()))])
        .await;
    assert_eq!(res.members[0].error, codes::NONE);
}

#[tokio::test(start_paused = true)]
async fn member_id_required_then_rejoin() {
    let (c, _) = coordinator();
    let mut p = join("g", "", "c");
    p.require_known_member_id = true;
    let r = c.join_group(p.clone()).await;
    assert_eq!(r.error, codes::MEMBER_ID_REQUIRED);
    assert!(r.member_id.starts_with("c-"));
    p.member_id = r.member_id.clone();
    let r2 = c.join_group(p).await;
    assert_eq!(
        (r2.error, r2.generation_id, r2.member_id),
        (codes::NONE, 1, r.member_id)
    );
}

#[tokio::test(start_paused = true)]
async fn protocol_is_the_one_all_members_support_by_vote() {
    let (c, _) = coordinator();
    let with = |client: &str, protos: &[&str]| {
        let mut p = join("g", "", client);
        p.protocols = protos
            .iter()
            .map(|n| (n.to_string(), subscription(&["t"])))
            .collect();
        p
    };
    let hs = vec![
        spawn_join(&c, with("a", &["range", "roundrobin", "sticky"])),
        spawn_join(&c, with("b", &["roundrobin", "range"])),
        spawn_join(&c, with("c", &["sticky", "roundrobin", "range"])),
        spawn_join(&c, with("d", &["roundrobin", "range"])),
    ];
    for h in hs {
        assert_eq!(
            h.await.unwrap().protocol_name.as_deref(),
            Some("roundrobin")
        );
    }
    // A member sharing no protocol is refused.
    let r = c.join_group(with("e", &["cooperative-sticky"])).await;
    assert_eq!(r.error, codes::INCONSISTENT_GROUP_PROTOCOL);
    let mut other_type = with("f", &["range"]);
    other_type.protocol_type = "connect".into();
    assert_eq!(
        c.join_group(other_type).await.error,
        codes::INCONSISTENT_GROUP_PROTOCOL
    );
}

#[tokio::test(start_paused = true)]
async fn validation_errors() {
    let mut cfg = config();
    cfg.max_size = 2;
    let (c, _) = coordinator_with(cfg);
    let mut p = join("g", "", "c");
    p.session_timeout_ms = 5_999;
    assert_eq!(
        c.join_group(p.clone()).await.error,
        codes::INVALID_SESSION_TIMEOUT
    );
    p.session_timeout_ms = 1_800_001;
    assert_eq!(c.join_group(p).await.error, codes::INVALID_SESSION_TIMEOUT);
    assert_eq!(
        c.join_group(join("", "", "c")).await.error,
        codes::INVALID_GROUP_ID
    );
    assert_eq!(
        c.join_group(join("g", "ghost", "c")).await.error,
        codes::UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        c.heartbeat("g", "ghost", None, 0).await,
        codes::UNKNOWN_MEMBER_ID
    );
    // group.max.size
    let hs: Vec<_> = (0..2)
        .map(|i| spawn_join(&c, join("g", "", &format!("c{i}"))))
        .collect();
    settle().await;
    assert_eq!(
        c.join_group(join("g", "", "third")).await.error,
        codes::GROUP_MAX_SIZE_REACHED
    );
    for h in hs {
        assert_eq!(h.await.unwrap().error, codes::NONE);
    }
    // Partitions this node does not own / is loading.
    let (c2, _) = (
        GroupCoordinator::new(config(), std::sync::Arc::new(common::MemoryLog::default())),
        (),
    );
    assert_eq!(
        c2.join_group(join("g", "", "c")).await.error,
        codes::NOT_COORDINATOR
    );
    c2.begin_loading(0);
    assert_eq!(
        c2.join_group(join("g", "", "c")).await.error,
        codes::COORDINATOR_LOAD_IN_PROGRESS
    );
    assert_eq!(
        c2.heartbeat("g", "m", None, 1).await,
        codes::NONE,
        "Kafka answers heartbeats blindly while loading"
    );
    assert_eq!(
        c2.fetch_offsets("g", None, false).await.error,
        codes::COORDINATOR_LOAD_IN_PROGRESS
    );
    assert_eq!(
        c2.list_groups(&[]).await.error,
        codes::COORDINATOR_LOAD_IN_PROGRESS
    );
}

#[tokio::test(start_paused = true)]
async fn unload_answers_parked_joins_not_coordinator() {
    let (c, _) = coordinator();
    let h = spawn_join(&c, join("g", "", "c"));
    settle().await;
    c.unload_partition(0);
    assert_eq!(h.await.unwrap().error, codes::NOT_COORDINATOR);
    assert_eq!(c.heartbeat("g", "m", None, 1).await, codes::NOT_COORDINATOR);
}

#[tokio::test(start_paused = true)]
async fn list_groups_filters_by_state() {
    let (c, _) = coordinator();
    stable_group(&c, "stable", 1).await;
    // A standalone commit creates an Empty group without a protocol type, as in Kafka.
    c.commit_offsets("simple", -1, "", None, vec![]).await;
    let all = c.list_groups(&[]).await;
    assert_eq!(
        all.groups
            .iter()
            .map(|g| (g.group_id.as_str(), g.state.as_str()))
            .collect::<Vec<_>>(),
        vec![("simple", "Empty"), ("stable", "Stable")]
    );
    let stable = c.list_groups(&["stable".into()]).await;
    assert_eq!(stable.groups.len(), 1);
    let empty = c.list_groups(&["Empty".into()]).await;
    assert_eq!(
        empty
            .groups
            .iter()
            .map(|g| g.group_id.as_str())
            .collect::<Vec<_>>(),
        vec!["simple"]
    );
    assert!(c.list_groups(&["Dead".into()]).await.groups.is_empty());
}
