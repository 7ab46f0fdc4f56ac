//! The metadata quorum: metadata records committed through Raft (openraft) among the
//! controller voters (`controller.quorum.voters`), applied in log order to every voter's
//! `MetadataImage`.
//!
//! - `store.rs`: the Raft log and vote on disk (`<metadata dir>/raft.log`, `vote`, `committed`),
//!   CRC-framed, torn tails truncated on open.
//! - `state_machine.rs`: applies committed entries to the image, builds and installs
//!   snapshots (`snapshot.bin`: the image as records, see `MetadataImage::to_records`).
//! - `net.rs`: Raft RPCs (AppendEntries, Vote, InstallSnapshot) as Kafka-framed requests with
//!   private API keys, so they can share the controller listener with Kafka APIs.
//!
//! One Raft entry carries one batch of records (what one controller operation writes), so a
//! batch is applied atomically. Every record gets the next metadata offset
//! (`MetadataImage::last_offset + 1`); Raft blank and membership entries take no offset.
//!
//! Bootstrap follows KRaft's static quorum: every voter knows the voter set from its config
//! and, on an empty log, initializes Raft with it (openraft accepts the same initial
//! membership on several nodes). Voters never change at runtime yet. Broker-only nodes join
//! as learners (`QuorumConfig::learner`, added by the leader with `ensure_learner`): the log is
//! replicated to them and applied to their image, but they never vote.

mod net;
mod state_machine;
mod store;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, Raft, ServerState, SnapshotPolicy};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::image::MetadataImage;
use crate::records::MetadataRecord;

pub use net::{handle_rpc, serve, RAFT_API_KEYS};

use std::sync::Mutex;

/// A batch of metadata records committed as one Raft entry, each in the versioned binary
/// encoding of `records.rs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordBatch {
    pub records: Vec<Vec<u8>>,
}

/// What applying an entry produced: the metadata offset of its last record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub last_offset: i64,
}

openraft::declare_raft_types!(
    /// Raft types of the metadata quorum.
    pub TypeConfig:
        D = RecordBatch,
        R = Applied,
);

pub type NodeId = u64;
pub type MetadataRaft = Raft<TypeConfig>;

/// How a node takes part in the quorum.
#[derive(Debug, Clone)]
pub struct QuorumConfig {
    pub node_id: NodeId,
    /// Voter id → `host:port` of its controller listener.
    pub voters: BTreeMap<NodeId, String>,
    /// A broker-only node: it follows the log as an openraft learner (added by the active
    /// controller when it registers), never votes and never initializes the log.
    pub learner: bool,
    /// Directory of the Raft log, vote and snapshot (`<metadata.log.dir>/__cluster_metadata-0`).
    pub dir: PathBuf,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    pub heartbeat_interval_ms: u64,
    /// Take a snapshot after this many entries since the last one.
    pub snapshot_every_entries: u64,
    /// Kafka's `metadata.log.max.record.bytes.between.snapshots`: take a snapshot once this
    /// many bytes of metadata records were applied since the last one.
    pub snapshot_max_bytes: u64,
    /// Kafka's `metadata.log.max.snapshot.interval.ms`: take a snapshot when records were
    /// applied and the last snapshot is this old (0 = never by time).
    pub snapshot_max_interval_ms: u64,
    /// Entries kept in the log behind a snapshot (followers slightly behind catch up from the
    /// log instead of a snapshot install).
    pub keep_entries_behind_snapshot: u64,
}

impl QuorumConfig {
    /// Kafka's KRaft defaults: election timeout 1000 ms (randomized up to 2000 here, where
    /// Kafka adds random jitter), fetch/heartbeat every 500 ms is replaced by Raft heartbeats
    /// every 100 ms.
    pub fn new(node_id: NodeId, voters: BTreeMap<NodeId, String>, dir: PathBuf) -> Self {
        QuorumConfig {
            node_id,
            voters,
            learner: false,
            dir,
            election_timeout_min_ms: 1000,
            election_timeout_max_ms: 2000,
            heartbeat_interval_ms: 100,
            snapshot_every_entries: 20_000,
            snapshot_max_bytes: 20 * 1024 * 1024,
            snapshot_max_interval_ms: 3_600_000,
            keep_entries_behind_snapshot: 1000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    #[error("metadata quorum storage: {0}")]
    Io(#[from] std::io::Error),
    #[error("invalid quorum config: {0}")]
    Config(String),
    #[error("this node ({0}) is not a voter of the metadata quorum")]
    NotAVoter(NodeId),
    #[error("not the active controller (leader: {0:?})")]
    NotLeader(Option<NodeId>),
    #[error("metadata quorum: {0}")]
    Raft(String),
}

/// One node's handle on the metadata quorum.
pub struct Quorum {
    node_id: NodeId,
    learner: bool,
    raft: MetadataRaft,
    image: watch::Receiver<Arc<MetadataImage>>,
    /// When each peer last answered our RPCs (meaningful on the leader).
    contacts: net::Contacts,
    /// When each replica was last seen caught up with the leader's log end (on the leader).
    caught_up: Arc<Mutex<BTreeMap<NodeId, i64>>>,
}

impl Quorum {
    /// Opens the log and snapshot in `config.dir`, starts Raft and, on a fresh log,
    /// initializes it with the configured voters. RPCs from peers must be routed to
    /// `handle_rpc(quorum.raft(), ..)` (or `serve`) by the caller.
    pub async fn start(config: QuorumConfig) -> Result<Quorum, QuorumError> {
        if config.learner && config.voters.contains_key(&config.node_id) {
            return Err(QuorumError::Config(format!(
                "node {} is a voter and cannot join as a learner",
                config.node_id
            )));
        }
        if !config.learner && !config.voters.contains_key(&config.node_id) {
            return Err(QuorumError::NotAVoter(config.node_id));
        }
        std::fs::create_dir_all(&config.dir)?;
        let log_store = store::LogStore::open(&config.dir)?;
        let (state_machine, image, progress) = state_machine::StateMachine::open(&config.dir)?;
        let raft_config = openraft::Config {
            cluster_name: "sluice-metadata".into(),
            election_timeout_min: config.election_timeout_min_ms,
            election_timeout_max: config.election_timeout_max_ms,
            heartbeat_interval: config.heartbeat_interval_ms,
            install_snapshot_timeout: 10_000,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_every_entries),
            max_in_snapshot_log_to_keep: config.keep_entries_behind_snapshot,
            ..Default::default()
        }
        .validate()
        .map_err(|e| QuorumError::Config(e.to_string()))?;
        let network = net::NetworkFactory::default();
        let contacts = network.contacts.clone();
        let raft = Raft::new(
            config.node_id,
            Arc::new(raft_config),
            network,
            log_store,
            state_machine,
        )
        .await
        .map_err(|e| QuorumError::Raft(e.to_string()))?;
        let caught_up = Arc::new(Mutex::new(BTreeMap::new()));
        tokio::spawn(track_caught_up(raft.metrics(), caught_up.clone()));
        tokio::spawn(snapshot_triggers(
            raft.clone(),
            progress,
            config.snapshot_max_bytes,
            config.snapshot_max_interval_ms,
        ));
        if config.learner {
            tracing::info!(
                node = config.node_id,
                "following the metadata quorum as a learner (observer)"
            );
            return Ok(Quorum {
                node_id: config.node_id,
                learner: true,
                raft,
                image,
                contacts,
                caught_up,
            });
        }
        let members: BTreeMap<NodeId, BasicNode> = config
            .voters
            .iter()
            .map(|(id, addr)| (*id, BasicNode::new(addr)))
            .collect();
        match raft.initialize(members).await {
            Ok(()) => {
                tracing::info!(node = config.node_id, voters = ?config.voters.keys().collect::<Vec<_>>(), "metadata quorum initialized")
            }
            // The log is not empty: already initialized (by us before a restart, or by a peer).
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
            Err(e) => return Err(QuorumError::Raft(e.to_string())),
        }
        Ok(Quorum {
            node_id: config.node_id,
            learner: false,
            raft,
            image,
            contacts,
            caught_up,
        })
    }

    /// True for a broker-only node following the log as a learner.
    pub fn is_learner(&self) -> bool {
        self.learner
    }

    /// Every member the membership config knows (voters and learners) → its address.
    pub fn members(&self) -> BTreeMap<NodeId, String> {
        let m = self.raft.metrics().borrow().membership_config.clone();
        m.membership()
            .nodes()
            .map(|(id, n)| (*id, n.addr.clone()))
            .collect()
    }

    /// Whether `id` is a voter of the current membership.
    pub fn is_voter(&self, id: NodeId) -> bool {
        let m = self.raft.metrics().borrow().membership_config.clone();
        let is_voter = m.membership().voter_ids().any(|v| v == id);
        is_voter
    }

    /// On the leader: makes `id` (a broker-only node reachable at `addr`) a learner, so the
    /// log is replicated to it; a learner whose address changed gets the new one. Returns
    /// once the membership change is committed. Voters are left alone.
    pub async fn ensure_learner(&self, id: NodeId, addr: &str) -> Result<(), QuorumError> {
        let membership = self.raft.metrics().borrow().membership_config.clone();
        let membership = membership.membership();
        if membership.voter_ids().any(|v| v == id) {
            return Ok(());
        }
        let result = match membership.get_node(&id) {
            Some(n) if n.addr == addr => return Ok(()),
            Some(_) => self
                .raft
                .change_membership(
                    openraft::ChangeMembers::SetNodes(BTreeMap::from([(id, BasicNode::new(addr))])),
                    true,
                )
                .await
                .map(|_| ()),
            None => self
                .raft
                .add_learner(id, BasicNode::new(addr), false)
                .await
                .map(|_| ()),
        };
        match result {
            Ok(()) => {
                tracing::info!(
                    node = id,
                    addr,
                    "broker-only node follows the metadata log as a learner"
                );
                Ok(())
            }
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(QuorumError::NotLeader(f.leader_id))
            }
            Err(e) => Err(QuorumError::Raft(e.to_string())),
        }
    }

    /// On the leader: stops replicating the log to `id` if it is a learner (a broker-only node
    /// that was unregistered). Returns whether it was one. Voters are left alone.
    pub async fn remove_learner(&self, id: NodeId) -> Result<bool, QuorumError> {
        let membership = self.raft.metrics().borrow().membership_config.clone();
        let membership = membership.membership();
        if membership.voter_ids().any(|v| v == id) || membership.get_node(&id).is_none() {
            return Ok(false);
        }
        let result = self
            .raft
            .change_membership(
                openraft::ChangeMembers::RemoveNodes(std::collections::BTreeSet::from([id])),
                false,
            )
            .await;
        match result {
            Ok(_) => {
                tracing::info!(
                    node = id,
                    "unregistered broker-only node no longer follows the metadata log"
                );
                Ok(true)
            }
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(QuorumError::NotLeader(f.leader_id))
            }
            Err(e) => Err(QuorumError::Raft(e.to_string())),
        }
    }

    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    pub fn raft(&self) -> &MetadataRaft {
        &self.raft
    }

    /// The latest applied image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.image.borrow().clone()
    }

    /// Wakes on every applied batch (and snapshot install).
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.image.clone()
    }

    /// The current Raft leader (the active controller), as far as this node knows.
    pub fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    pub fn is_leader(&self) -> bool {
        let m = self.raft.metrics();
        let m = m.borrow();
        m.state == ServerState::Leader && m.current_leader == Some(self.node_id)
    }

    /// Waits (bounded) until some leader is known.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Option<NodeId> {
        let mut rx = self.raft.metrics();
        let wait = async {
            loop {
                if let Some(l) = rx.borrow_and_update().current_leader {
                    return l;
                }
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.ok()
    }

    /// Commits `records` as one batch through the quorum (this node must be the leader) and
    /// returns the image once the batch is applied here.
    pub async fn propose(
        &self,
        records: &[MetadataRecord],
    ) -> Result<Arc<MetadataImage>, QuorumError> {
        if records.is_empty() {
            return Ok(self.image());
        }
        let batch = RecordBatch {
            records: records.iter().map(MetadataRecord::encode).collect(),
        };
        match self.raft.client_write(batch).await {
            Ok(resp) => {
                // Applied on this node before client_write returns; the watch may lag the
                // state machine by nothing more than the send we are about to observe.
                let want = resp.data.last_offset;
                let mut rx = self.image.clone();
                let image = rx
                    .wait_for(|img| img.last_offset >= want)
                    .await
                    .map(|g| g.clone())
                    .map_err(|_| QuorumError::Raft("state machine stopped".into()))?;
                Ok(image)
            }
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(QuorumError::NotLeader(f.leader_id))
            }
            Err(e) => Err(QuorumError::Raft(e.to_string())),
        }
    }

    /// What DescribeQuorum reports.
    pub fn status(&self) -> QuorumStatus {
        let m = self.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let learners: BTreeSet<NodeId> = membership.learner_ids().collect();
        let is_leader = m.state == ServerState::Leader;
        let replication = m.replication.clone().unwrap_or_default();
        let leader_end = m.last_log_index.map_or(0, |i| i + 1);
        let now = net::now_ms();
        let contacts = self.contacts.lock().map(|c| c.clone()).unwrap_or_default();
        let caught_up = self.caught_up.lock().map(|c| c.clone()).unwrap_or_default();
        let end_of = |id: &NodeId| -> Option<u64> {
            if *id == self.node_id {
                Some(leader_end)
            } else {
                replication
                    .get(id)
                    .map(|l| l.as_ref().map_or(0, |l| l.index + 1))
            }
        };
        let replica = |id: &NodeId, voter: bool| -> ReplicaStatus {
            let log_end = end_of(id);
            let (last_fetch_ms, last_caught_up_ms) = if !is_leader {
                (None, None)
            } else if *id == self.node_id {
                (Some(now), Some(now))
            } else {
                let fetch = contacts.get(id).copied();
                // A replica that has everything was caught up at its last answer (a
                // heartbeat only succeeds on a log that holds the leader's entries).
                let caught = match (log_end, fetch) {
                    (Some(end), Some(f)) if end == leader_end => {
                        Some(caught_up.get(id).copied().map_or(f, |c| c.max(f)))
                    }
                    _ => caught_up.get(id).copied(),
                };
                (fetch, caught)
            };
            ReplicaStatus {
                id: *id,
                voter,
                addr: membership.get_node(id).map(|n| n.addr.clone()),
                log_end,
                last_fetch_ms,
                last_caught_up_ms,
            }
        };
        let replicas = voters
            .iter()
            .map(|id| replica(id, true))
            .chain(learners.iter().map(|id| replica(id, false)))
            .collect();
        QuorumStatus {
            leader: m.current_leader,
            term: m.current_term,
            is_leader,
            last_log_end: leader_end,
            applied_end: m.last_applied.map_or(0, |l| l.index + 1),
            voters: voters.iter().map(|id| (*id, end_of(id))).collect(),
            replicas,
            millis_since_quorum_ack: m.millis_since_quorum_ack,
        }
    }

    /// Stops Raft (in-flight proposals fail).
    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "metadata quorum shutdown");
        }
    }
}

/// A view of the quorum for DescribeQuorum / `metadata-quorum describe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumStatus {
    pub leader: Option<NodeId>,
    /// Raft term (Kafka's leader epoch of the metadata log).
    pub term: u64,
    pub is_leader: bool,
    /// End of this node's Raft log (index of the next entry).
    pub last_log_end: u64,
    /// End of what this node applied (its high watermark).
    pub applied_end: u64,
    /// Voter → log end as known by this node (`None` if unknown: only the leader tracks it).
    pub voters: BTreeMap<NodeId, Option<u64>>,
    /// Voters, then learners (Kafka's observers), with what the leader knows of them.
    pub replicas: Vec<ReplicaStatus>,
    pub millis_since_quorum_ack: Option<u64>,
}

/// One member of the quorum as the leader sees it (`None` = unknown; Kafka reports -1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaStatus {
    pub id: NodeId,
    pub voter: bool,
    /// `host:port` the leader replicates to.
    pub addr: Option<String>,
    /// End of its Raft log (index of its next entry).
    pub log_end: Option<u64>,
    /// Wall-clock ms of its last answer to the leader.
    pub last_fetch_ms: Option<i64>,
    /// Wall-clock ms when it last had every entry the leader had.
    pub last_caught_up_ms: Option<i64>,
}

/// Records, on every metrics change, the replicas whose matched log equals the leader's log
/// end: the "last caught-up" time of DescribeQuorum. Ends when Raft shuts down.
async fn track_caught_up(
    mut metrics: watch::Receiver<openraft::RaftMetrics<NodeId, BasicNode>>,
    caught_up: Arc<Mutex<BTreeMap<NodeId, i64>>>,
) {
    loop {
        {
            let m = metrics.borrow_and_update();
            if let (ServerState::Leader, Some(repl)) = (m.state, m.replication.as_ref()) {
                let now = net::now_ms();
                if let Ok(mut c) = caught_up.lock() {
                    for (id, matched) in repl.iter() {
                        if matched.map(|l| l.index) == m.last_log_index {
                            c.insert(*id, now);
                        }
                    }
                }
            }
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

/// Kafka's snapshot triggers, on every node (each one snapshots its own state machine): record
/// bytes since the last snapshot reach `max_bytes`, or records were applied and the last
/// snapshot is `max_interval_ms` old. Runs until the Raft node shuts down.
async fn snapshot_triggers(
    raft: MetadataRaft,
    progress: state_machine::SnapshotProgress,
    max_bytes: u64,
    max_interval_ms: u64,
) {
    use std::sync::atomic::Ordering;
    let period = if max_interval_ms > 0 {
        Duration::from_millis((max_interval_ms / 4).clamp(10, 1000))
    } else {
        Duration::from_secs(1)
    };
    let metrics = raft.metrics();
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if metrics.has_changed().is_err() {
            return; // the Raft node is gone
        }
        let bytes = progress.bytes_since.load(Ordering::Acquire);
        if bytes == 0 {
            continue;
        }
        let age = progress
            .taken_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed();
        let by_time = max_interval_ms > 0 && age >= Duration::from_millis(max_interval_ms);
        if bytes >= max_bytes || by_time {
            if raft.trigger().snapshot().await.is_err() {
                return; // shut down
            }
            // Wait for that snapshot before judging again.
            *progress.taken_at.lock().unwrap_or_else(|p| p.into_inner()) =
                std::time::Instant::now();
        }
    }
}
