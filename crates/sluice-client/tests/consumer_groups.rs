//! Two consumers of one group against an in-process node: they split the partitions (range),
//! the survivor takes everything over when the other leaves, every record is consumed by
//! exactly one of them; and with cooperative-sticky a joining member only makes the first
//! one revoke the partitions that move (KIP-429), never all of them; with
//! `group.protocol=consumer` (KIP-848) the broker's assignment splits and hands over
//! partitions the same way.

#[path = "consumer_common/mod.rs"]
mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{config, start, Events, Recorder};
use sluice_client::consumer::{Consumer, ConsumerConfig, GroupProtocol};
use sluice_client::TopicPartition;
use tokio::sync::watch;

/// A consumer polling on its own task until told to stop (then it closes, leaving the group).
struct Runner {
    assignment: Arc<Mutex<Vec<TopicPartition>>>,
    consumed: Arc<Mutex<Vec<(i32, i64)>>>,
    events: Events,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

async fn run(cfg: ConsumerConfig, topic: &'static str) -> Runner {
    let assignment = Arc::new(Mutex::new(Vec::new()));
    let consumed = Arc::new(Mutex::new(Vec::new()));
    let events: Events = Arc::new(Mutex::new(Vec::new()));
    let (stop, mut stopped) = watch::channel(false);
    let mut c = Consumer::new(cfg).await.unwrap();
    c.subscribe(&[topic], Some(Box::new(Recorder(events.clone()))))
        .await
        .unwrap();
    let (a, d) = (assignment.clone(), consumed.clone());
    let task = tokio::spawn(async move {
        while !*stopped.borrow_and_update() {
            let recs = c.poll(Duration::from_millis(100)).await.expect("poll");
            d.lock()
                .unwrap()
                .extend(recs.iter().map(|r| (r.partition, r.offset)));
            *a.lock().unwrap() = c.assignment();
        }
        c.close().await.unwrap();
    });
    Runner {
        assignment,
        consumed,
        events,
        stop,
        task,
    }
}

impl Runner {
    fn assigned(&self) -> BTreeSet<i32> {
        self.assignment
            .lock()
            .unwrap()
            .iter()
            .map(|tp| tp.partition)
            .collect()
    }
    async fn stop(self) {
        let _ = self.stop.send(true);
        self.task.await.unwrap();
    }
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(40);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_consumers_split_partitions_and_rebalance_when_one_leaves() {
    let b = start().await;
    b.create_topic("split", 4).await;
    for p in 0..4 {
        b.produce("split", p, 0, 50).await;
    }
    let mut cfg = config(&b.bootstrap(), Some("g-split"));
    cfg.partition_assignment_strategy = vec!["range".into()];
    cfg.auto_commit_interval = Duration::from_millis(200);
    let one = run(cfg.clone(), "split").await;
    let two = run(cfg, "split").await;
    wait_for("a 2/2 split", || {
        let (a, b) = (one.assigned(), two.assigned());
        a.len() == 2 && b.len() == 2 && a.is_disjoint(&b)
    })
    .await;
    wait_for("all 200 records", || {
        one.consumed.lock().unwrap().len() + two.consumed.lock().unwrap().len() >= 200
    })
    .await;
    let consumed_by_two = two.consumed.lock().unwrap().clone();
    two.stop().await;
    wait_for("the survivor owns all 4", || one.assigned().len() == 4).await;
    for p in 0..4 {
        b.produce("split", p, 50, 10).await;
    }
    wait_for("the new records", || {
        one.consumed.lock().unwrap().len() + consumed_by_two.len() >= 240
    })
    .await;
    // Give a duplicate the chance to show up, then check exactly-once coverage.
    let _ = tokio::time::timeout(Duration::from_millis(500), std::future::pending::<()>()).await;
    let mut all: Vec<(i32, i64)> = one.consumed.lock().unwrap().clone();
    all.extend(consumed_by_two);
    all.sort();
    let expected: Vec<(i32, i64)> = (0..4).flat_map(|p| (0..60).map(move |o| (p, o))).collect();
    assert_eq!(all, expected, "every record consumed exactly once");
    let events = one.events.lock().unwrap().clone();
    assert!(
        events.iter().any(|(e, _)| *e == "revoked"),
        "eager revocation seen"
    );
    one.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_sticky_revokes_only_the_partitions_that_move() {
    let b = start().await;
    b.create_topic("coop", 4).await;
    let mut cfg = config(&b.bootstrap(), Some("g-coop"));
    cfg.partition_assignment_strategy = vec!["cooperative-sticky".into()];
    let one = run(cfg.clone(), "coop").await;
    wait_for("the first member owns all 4", || one.assigned().len() == 4).await;
    let two = run(cfg, "coop").await;
    wait_for("a 2/2 split", || {
        let (a, b) = (one.assigned(), two.assigned());
        a.len() == 2 && b.len() == 2 && a.is_disjoint(&b)
    })
    .await;
    let ev1 = one.events.lock().unwrap().clone();
    let revoked: Vec<TopicPartition> = ev1
        .iter()
        .filter(|(e, _)| *e == "revoked")
        .flat_map(|(_, p)| p.clone())
        .collect();
    let moved: BTreeSet<i32> = revoked.iter().map(|tp| tp.partition).collect();
    assert_eq!(
        revoked.len(),
        2,
        "only the two moved partitions were revoked: {ev1:?}"
    );
    assert_eq!(
        moved,
        two.assigned(),
        "the revoked ones went to the new member"
    );
    assert!(ev1.iter().all(|(e, _)| *e != "lost"));
    // The first member's only assignment callback with partitions was the initial one.
    let assigned_calls: Vec<&Vec<TopicPartition>> = ev1
        .iter()
        .filter(|(e, p)| *e == "assigned" && !p.is_empty())
        .map(|(_, p)| p)
        .collect();
    assert_eq!(assigned_calls.len(), 1);
    assert_eq!(assigned_calls[0].len(), 4);
    let ev2 = two.events.lock().unwrap().clone();
    assert!(ev2.iter().all(|(e, _)| *e == "assigned"), "{ev2:?}");
    two.stop().await;
    wait_for("the first member gets them back", || {
        one.assigned().len() == 4
    })
    .await;
    one.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_protocol_members_split_partitions_and_take_over() {
    let b = start().await;
    b.create_topic("k848", 4).await;
    for p in 0..4 {
        b.produce("k848", p, 0, 25).await;
    }
    let mut cfg = config(&b.bootstrap(), Some("g-848"));
    cfg.group_protocol = GroupProtocol::Consumer;
    cfg.auto_commit_interval = Duration::from_millis(200);
    let one = run(cfg.clone(), "k848").await;
    wait_for("the first member owns all 4", || one.assigned().len() == 4).await;
    let two = run(cfg, "k848").await;
    wait_for("a 2/2 split", || {
        let (a, b) = (one.assigned(), two.assigned());
        a.len() == 2 && b.len() == 2 && a.is_disjoint(&b)
    })
    .await;
    let ev1 = one.events.lock().unwrap().clone();
    let revoked: usize = ev1
        .iter()
        .filter(|(e, _)| *e == "revoked")
        .map(|(_, p)| p.len())
        .sum();
    assert_eq!(
        revoked, 2,
        "only the moved partitions were revoked: {ev1:?}"
    );
    for p in 0..4 {
        b.produce("k848", p, 25, 5).await;
    }
    wait_for("all 120 records", || {
        one.consumed.lock().unwrap().len() + two.consumed.lock().unwrap().len() >= 120
    })
    .await;
    let consumed_by_two = two.consumed.lock().unwrap().clone();
    two.stop().await;
    wait_for("the survivor owns all 4", || one.assigned().len() == 4).await;
    let mut all: Vec<(i32, i64)> = one.consumed.lock().unwrap().clone();
    all.extend(consumed_by_two);
    all.sort();
    let expected: Vec<(i32, i64)> = (0..4).flat_map(|p| (0..30).map(move |o| (p, o))).collect();
    assert_eq!(all, expected, "every record consumed exactly once");
    one.stop().await;
}
