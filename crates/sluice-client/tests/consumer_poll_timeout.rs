//! `max.poll.interval.ms` against an in-process node: of two members of a group, one stops
//! calling `poll` (interval 1500 ms). Its heartbeat task gives up the membership (classic:
//! LeaveGroup, or only silence for a static member; KIP-848: a leave heartbeat), the other
//! member gets every partition, the stalled member's commit fails with
//! `ClientError::CommitFailed`, and its next `poll` reports the partitions lost and rejoins,
//! getting its share back. Every wait is bounded; nothing asserts on timing.

#[path = "consumer_common/mod.rs"]
mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{config, start, Events, Recorder};
use sluice_client::consumer::{Consumer, ConsumerConfig, GroupProtocol};
use sluice_client::{ClientError, TopicPartition};
use tokio::sync::watch;

/// The healthy member: polls on its own task until told to stop, then closes.
struct Runner {
    assignment: Arc<Mutex<Vec<TopicPartition>>>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

async fn run(cfg: ConsumerConfig, topic: &'static str) -> Runner {
    let assignment = Arc::new(Mutex::new(Vec::new()));
    let (stop, mut stopped) = watch::channel(false);
    let mut c = Consumer::new(cfg).await.unwrap();
    c.subscribe(&[topic], None).await.unwrap();
    let a = assignment.clone();
    let task = tokio::spawn(async move {
        while !*stopped.borrow_and_update() {
            c.poll(Duration::from_millis(100)).await.expect("poll");
            *a.lock().unwrap() = c.assignment();
        }
        c.close().await.unwrap();
    });
    Runner {
        assignment,
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

const WAIT: Duration = Duration::from_secs(40);

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn partitions(tps: &[TopicPartition]) -> BTreeSet<i32> {
    tps.iter().map(|tp| tp.partition).collect()
}

/// Polls the stalled-to-be member until both members own 2 of the 4 partitions.
async fn poll_until_split(a: &mut Consumer, other: &Runner, what: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        a.poll(Duration::from_millis(100)).await.expect("poll");
        let (mine, theirs) = (partitions(&a.assignment()), other.assigned());
        if mine.len() == 2 && theirs.len() == 2 && mine.is_disjoint(&theirs) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
    }
}

async fn stalled_member_leaves_and_rejoins(
    protocol: GroupProtocol,
    group: &str,
    topic: &'static str,
    instance: Option<&str>,
) {
    let b = start().await;
    b.create_topic(topic, 4).await;
    for p in 0..4 {
        b.produce(topic, p, 0, 10).await;
    }
    let mut cfg = config(&b.bootstrap(), Some(group));
    cfg.group_protocol = protocol;
    if protocol == GroupProtocol::Classic {
        cfg.partition_assignment_strategy = vec!["range".into()];
    }
    let healthy = run(cfg.clone(), topic).await;

    let mut cfg_a = cfg;
    cfg_a.max_poll_interval = Duration::from_millis(1500);
    cfg_a.enable_auto_commit = false;
    cfg_a.group_instance_id = instance.map(str::to_string);
    let events: Events = Arc::new(Mutex::new(Vec::new()));
    let mut a = Consumer::new(cfg_a).await.unwrap();
    a.subscribe(&[topic], Some(Box::new(Recorder(events.clone()))))
        .await
        .unwrap();
    poll_until_split(&mut a, &healthy, "a 2/2 split").await;
    let before = a.assignment();
    let member_id = a.member_id();
    let stall = events.lock().unwrap().len();
    a.commit_sync(None).await.expect("a member's commit works");

    // Stop polling: the heartbeat task gives the membership up, the other member takes over.
    wait_for("the healthy member owns all 4", || {
        healthy.assigned().len() == 4
    })
    .await;
    let ev = events.lock().unwrap().clone();
    assert!(
        ev.iter().all(|(e, _)| *e != "lost"),
        "the loss is reported by the next poll, not behind the application's back: {ev:?}"
    );
    assert_eq!(
        a.assignment(),
        before,
        "nothing changes until the next poll"
    );
    match protocol {
        // Dynamic members forget their id (a new one comes with the rejoin); static members
        // keep it and only stopped heartbeating.
        GroupProtocol::Classic if instance.is_none() => assert_eq!(a.member_id(), ""),
        _ => assert_eq!(a.member_id(), member_id),
    }
    match a.commit_sync(None).await {
        Err(ClientError::CommitFailed { .. }) => {}
        other => panic!("a commit after the poll timeout must fail with CommitFailed: {other:?}"),
    }

    // Polling again reports the partitions lost and rejoins; the group splits again.
    poll_until_split(&mut a, &healthy, "the stalled member to rejoin").await;
    let ev = events.lock().unwrap().clone();
    let since_stall = &ev[stall..];
    assert_eq!(
        since_stall.first().map(|(e, p)| (*e, partitions(p))),
        Some(("lost", partitions(&before))),
        "the next poll first reported the old partitions lost (not revoked): {ev:?}"
    );
    assert!(
        since_stall[1..]
            .iter()
            .any(|(e, p)| *e == "assigned" && !p.is_empty()),
        "partitions were assigned again after the loss: {ev:?}"
    );
    a.commit_sync(None).await.expect("commits work again");
    a.close().await.unwrap();
    healthy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_member_that_stops_polling_leaves_and_rejoins() {
    stalled_member_leaves_and_rejoins(GroupProtocol::Classic, "g-maxpoll", "maxpoll", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_classic_member_that_stops_polling_keeps_its_id_and_rejoins() {
    stalled_member_leaves_and_rejoins(
        GroupProtocol::Classic,
        "g-maxpoll-static",
        "maxpoll-static",
        Some("stalled-1"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_protocol_member_that_stops_polling_leaves_and_rejoins() {
    stalled_member_leaves_and_rejoins(GroupProtocol::Consumer, "g-maxpoll-848", "maxpoll848", None)
        .await;
}
