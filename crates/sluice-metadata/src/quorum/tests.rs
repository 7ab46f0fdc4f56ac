//! Three in-process voters talking Raft over real TCP on 127.0.0.1: election, replication,
//! forwarding errors, leader failover, restart from disk, torn log tails, snapshot catch-up.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::*;

const WAIT: Duration = Duration::from_secs(20);

struct Node {
    quorum: Quorum,
    server: JoinHandle<()>,
}

struct Cluster {
    dirs: Vec<PathBuf>,
    addrs: BTreeMap<NodeId, String>,
    nodes: BTreeMap<NodeId, Node>,
    snapshot_every: u64,
    keep: u64,
    /// Applied to every node's config after the defaults above.
    tweak: fn(&mut QuorumConfig),
    _tmp: tempfile::TempDir,
}

impl Cluster {
    async fn new(n: u64, snapshot_every: u64, keep: u64) -> Cluster {
        Cluster::with(n, snapshot_every, keep, |_| {}).await
    }

    async fn with(n: u64, snapshot_every: u64, keep: u64, tweak: fn(&mut QuorumConfig)) -> Cluster {
        let tmp = tempfile::tempdir().unwrap();
        let mut listeners = BTreeMap::new();
        let mut addrs = BTreeMap::new();
        for id in 1..=n {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            addrs.insert(id, l.local_addr().unwrap().to_string());
            listeners.insert(id, l);
        }
        let dirs = (1..=n)
            .map(|id| tmp.path().join(format!("node{id}")))
            .collect();
        let mut c = Cluster {
            dirs,
            addrs,
            nodes: BTreeMap::new(),
            snapshot_every,
            keep,
            tweak,
            _tmp: tmp,
        };
        for (id, l) in listeners {
            c.start_with(id, l).await;
        }
        c
    }

    fn dir(&self, id: NodeId) -> &Path {
        &self.dirs[(id - 1) as usize]
    }

    async fn start_with(&mut self, id: NodeId, listener: TcpListener) {
        let mut cfg = QuorumConfig::new(id, self.addrs.clone(), self.dir(id).to_path_buf());
        cfg.election_timeout_min_ms = 600;
        cfg.election_timeout_max_ms = 1200;
        cfg.heartbeat_interval_ms = 50;
        cfg.snapshot_every_entries = self.snapshot_every;
        cfg.keep_entries_behind_snapshot = self.keep;
        (self.tweak)(&mut cfg);
        let quorum = Quorum::start(cfg).await.unwrap();
        let server = tokio::spawn(serve(listener, quorum.raft().clone()));
        self.nodes.insert(id, Node { quorum, server });
    }

    async fn start(&mut self, id: NodeId) {
        // Rebind the node's fixed address (peers know it from the voter set).
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(&self.addrs[&id]).await {
                Ok(l) => break l,
                Err(e) if tries < 100 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("rebinding {}: {e}", self.addrs[&id]),
            }
        };
        self.start_with(id, listener).await;
    }

    async fn stop(&mut self, id: NodeId) {
        let node = self.nodes.remove(&id).expect("node running");
        node.server.abort();
        let _ = node.server.await;
        node.quorum.shutdown().await;
    }

    async fn leader(&self) -> NodeId {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            for (id, n) in &self.nodes {
                if n.quorum.is_leader() {
                    return *id;
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "no leader elected");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn q(&self, id: NodeId) -> &Quorum {
        &self.nodes[&id].quorum
    }

    /// Waits until every running node's image satisfies `pred`.
    async fn converge(&self, what: &str, pred: impl Fn(&MetadataImage) -> bool) {
        for (id, n) in &self.nodes {
            let mut rx = n.quorum.subscribe();
            let ok = tokio::time::timeout(WAIT, rx.wait_for(|img| pred(img))).await;
            assert!(matches!(ok, Ok(Ok(_))), "node {id} never reached: {what}");
        }
    }

    async fn shutdown(mut self) {
        let ids: Vec<_> = self.nodes.keys().copied().collect();
        for id in ids {
            self.stop(id).await;
        }
    }
}

fn topic(name: &str) -> Vec<MetadataRecord> {
    let topic_id = Uuid::new_v4();
    vec![
        MetadataRecord::Topic {
            name: name.into(),
            topic_id,
        },
        MetadataRecord::Partition {
            topic_id,
            partition: 0,
            replicas: vec![1, 2, 3],
            isr: vec![1, 2, 3],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: vec![],
            removing_replicas: vec![],
        },
    ]
}

async fn propose_on_leader(c: &Cluster, records: &[MetadataRecord]) -> Arc<MetadataImage> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let leader = c.leader().await;
        match c.q(leader).propose(records).await {
            Ok(img) => return img,
            // Leadership moved between the check and the write: retry on the new leader.
            Err(QuorumError::NotLeader(_)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("propose: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_voters_elect_replicate_and_refuse_writes_on_followers() {
    let c = Cluster::new(3, 1000, 100).await;
    let leader = c.leader().await;
    let img = propose_on_leader(&c, &topic("orders")).await;
    assert_eq!(img.last_offset, 1, "two records → offsets 0 and 1");
    assert!(img.topic("orders").is_some());
    c.converge("topic orders", |i| i.topic("orders").is_some())
        .await;

    let follower = (1..=3).find(|id| *id != leader).unwrap();
    // Followers know who leads once they heard from it (they applied the batch above).
    // (Leadership may move on a loaded machine, so only "someone else" is certain.)
    match c.q(follower).propose(&topic("nope")).await {
        Err(QuorumError::NotLeader(Some(l))) => assert!(l != follower && (1..=3).contains(&l)),
        other => panic!("propose on a follower: {other:?}"),
    }
    let leader = c.leader().await;
    let status = c.q(leader).status();
    assert!(status.is_leader);
    assert_eq!(status.voters.len(), 3);
    // Every voter has replicated everything the leader has (the batch was committed).
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let s = c.q(c.leader().await).status();
        if s.voters.values().all(|end| *end == Some(s.last_log_end)) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "followers never caught up: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_failover_then_the_old_leader_rejoins_and_catches_up() {
    let mut c = Cluster::new(3, 1000, 100).await;
    propose_on_leader(&c, &topic("before")).await;
    c.converge("topic before", |i| i.topic("before").is_some())
        .await;
    let old = c.leader().await;
    c.stop(old).await;

    let new = c.leader().await;
    assert_ne!(new, old);
    let img = propose_on_leader(&c, &topic("after")).await;
    assert!(img.topic("before").is_some() && img.topic("after").is_some());

    c.start(old).await;
    c.converge("both topics", |i| {
        i.topic("before").is_some() && i.topic("after").is_some() && i.last_offset == 3
    })
    .await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_of_every_voter_recovers_the_image_and_survives_a_torn_log_tail() {
    let mut c = Cluster::new(3, 1000, 100).await;
    for i in 0..5 {
        propose_on_leader(&c, &topic(&format!("t{i}"))).await;
    }
    c.converge("5 topics", |i| i.topics.len() == 5).await;
    let before = c.q(c.leader().await).image();
    for id in 1..=3 {
        c.stop(id).await;
    }
    // A crash mid-append on node 2: garbage after the last complete frame.
    let log = c.dir(2).join("raft.log");
    let len = std::fs::metadata(&log).unwrap().len();
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::io::Write::write_all(&mut f, &[0, 0, 0, 200, 1, 2, 3]).unwrap();
    drop(f);

    for id in 1..=3 {
        c.start(id).await;
    }
    // Node 2 cut the torn tail on open.
    assert_eq!(std::fs::metadata(&log).unwrap().len(), len);
    c.converge("same image as before the restart", |i| *i == *before)
        .await;
    // And the quorum still takes writes after the restart.
    let img = propose_on_leader(&c, &topic("later")).await;
    assert_eq!(img.last_offset, before.last_offset + 2);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voter_that_missed_purged_entries_catches_up_by_snapshot() {
    // Snapshot every 5 entries and keep nothing behind it: a voter that was down while 30
    // batches were committed can only catch up through InstallSnapshot.
    let mut c = Cluster::new(3, 5, 0).await;
    propose_on_leader(&c, &topic("first")).await;
    c.converge("first", |i| i.topic("first").is_some()).await;
    let leader = c.leader().await;
    let down = (1..=3).find(|id| *id != leader).unwrap();
    c.stop(down).await;
    for i in 0..30 {
        propose_on_leader(&c, &topic(&format!("bulk{i}"))).await;
    }
    let leader = c.leader().await;
    let want = c.q(leader).image();
    // The leader has purged its log behind a snapshot.
    let deadline = tokio::time::Instant::now() + WAIT;
    while c.q(leader).raft().metrics().borrow().purged.is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "leader never purged its log"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(c.dir(leader).join("snapshot.bin").exists());

    c.start(down).await;
    let q = c.q(down);
    let mut rx = q.subscribe();
    let caught =
        tokio::time::timeout(WAIT, rx.wait_for(|i| i.last_offset >= want.last_offset)).await;
    assert!(
        matches!(caught, Ok(Ok(_))),
        "lagging voter never caught up: {:?}",
        q.raft().metrics().borrow().running_state
    );
    assert_eq!(
        *q.image(),
        *want,
        "image after snapshot install differs from the leader's"
    );
    assert!(
        c.dir(down).join("snapshot.bin").exists(),
        "snapshot installed and stored"
    );
    c.shutdown().await;
}

#[tokio::test]
async fn a_node_outside_the_voter_set_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let voters = BTreeMap::from([(1, "127.0.0.1:1".to_string())]);
    let err = Quorum::start(QuorumConfig::new(7, voters, tmp.path().into()))
        .await
        .err()
        .expect("node 7 is not a voter");
    assert!(matches!(err, QuorumError::NotAVoter(7)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_raft_port_closes_that_connection_only() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let c = Cluster::new(1, 1000, 100).await;
    let addr = c.addrs[&1].clone();
    let leader = c.leader().await;
    for junk in [
        vec![0, 0, 0, 3, 1, 2, 3],    // frame shorter than a header
        vec![0x7f, 0xff, 0xff, 0xff], // absurd size
        vec![0, 0, 0, 12, 0x7d, 0x64, 0, 0, 0, 0, 0, 1, 0x7f, 0xff, 0, 0], // client id past the end
    ] {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(&junk).await.unwrap();
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(WAIT, s.read(&mut buf))
            .await
            .unwrap()
            .unwrap_or(0);
        assert_eq!(
            n, 0,
            "the server must close a connection that sent {junk:?}"
        );
    }
    // A well-framed request with an undecodable payload gets an error answer, not a close.
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut body = net::API_VOTE.to_be_bytes().to_vec();
    body.extend_from_slice(&[0, 0, 0, 0, 0, 9, 0xff, 0xff, 0xee]);
    let mut req = (body.len() as i32).to_be_bytes().to_vec();
    req.extend_from_slice(&body);
    s.write_all(&req).await.unwrap();
    let size = tokio::time::timeout(WAIT, s.read_i32())
        .await
        .unwrap()
        .unwrap();
    let mut body = vec![0u8; size as usize];
    tokio::time::timeout(WAIT, s.read_exact(&mut body))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&body[..4], &9i32.to_be_bytes());
    assert_eq!(body[4], 1, "status 1 = error message");
    // The node still works.
    let img = c.q(leader).propose(&topic("alive")).await.unwrap();
    assert!(img.topic("alive").is_some());
    c.shutdown().await;
}

/// Kafka's snapshot triggers: `metadata.log.max.record.bytes.between.snapshots` (a snapshot once
/// enough record bytes were applied, none before) and `metadata.log.max.snapshot.interval.ms`
/// (a snapshot once the last one is that old and records were applied), on every voter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_are_taken_by_record_bytes_and_by_age() {
    async fn wait_snapshots(c: &Cluster) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !(1..=3).all(|id| c.dir(id).join("snapshot.bin").exists()) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no snapshot on every voter"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // By bytes: one topic's records are ~100 bytes, below the 2000-byte threshold.
    let c = Cluster::with(3, u64::MAX / 2, 10, |cfg| {
        cfg.snapshot_max_bytes = 2000;
        cfg.snapshot_max_interval_ms = 0;
    })
    .await;
    propose_on_leader(&c, &topic("small")).await;
    c.converge("small", |img| img.topic("small").is_some())
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        (1..=3).all(|id| !c.dir(id).join("snapshot.bin").exists()),
        "a snapshot before the byte threshold"
    );
    for i in 0..40 {
        propose_on_leader(&c, &topic(&format!("bulk-{i}"))).await;
    }
    wait_snapshots(&c).await;

    // By age: a huge byte threshold, a 300 ms interval.
    let c = Cluster::with(3, u64::MAX / 2, 10, |cfg| {
        cfg.snapshot_max_bytes = u64::MAX;
        cfg.snapshot_max_interval_ms = 300;
    })
    .await;
    propose_on_leader(&c, &topic("aged")).await;
    wait_snapshots(&c).await;
}
