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
//! membership on several nodes). Voters never change at runtime yet.

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
    /// Directory of the Raft log, vote and snapshot (`<metadata.log.dir>/__cluster_metadata-0`).
    pub dir: PathBuf,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    pub heartbeat_interval_ms: u64,
    /// Take a snapshot after this many entries since the last one.
    pub snapshot_every_entries: u64,
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
            dir,
            election_timeout_min_ms: 1000,
            election_timeout_max_ms: 2000,
            heartbeat_interval_ms: 100,
            snapshot_every_entries: 20_000,
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
    raft: MetadataRaft,
    image: watch::Receiver<Arc<MetadataImage>>,
}

impl Quorum {
    /// Opens the log and snapshot in `config.dir`, starts Raft and, on a fresh log,
    /// initializes it with the configured voters. RPCs from peers must be routed to
    /// `handle_rpc(quorum.raft(), ..)` (or `serve`) by the caller.
    pub async fn start(config: QuorumConfig) -> Result<Quorum, QuorumError> {
        if !config.voters.contains_key(&config.node_id) {
            return Err(QuorumError::NotAVoter(config.node_id));
        }
        std::fs::create_dir_all(&config.dir)?;
        let log_store = store::LogStore::open(&config.dir)?;
        let (state_machine, image) = state_machine::StateMachine::open(&config.dir)?;
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
        let raft = Raft::new(
            config.node_id,
            Arc::new(raft_config),
            net::NetworkFactory,
            log_store,
            state_machine,
        )
        .await
        .map_err(|e| QuorumError::Raft(e.to_string()))?;
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
            raft,
            image,
        })
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
        let voters: BTreeSet<NodeId> = m.membership_config.voter_ids().collect();
        let replication = m.replication.clone().unwrap_or_default();
        let leader_end = m.last_log_index.map_or(0, |i| i + 1);
        let replicas = voters
            .iter()
            .map(|id| {
                let end = if *id == self.node_id {
                    Some(leader_end)
                } else {
                    replication
                        .get(id)
                        .map(|l| l.as_ref().map_or(0, |l| l.index + 1))
                };
                (*id, end)
            })
            .collect();
        QuorumStatus {
            leader: m.current_leader,
            term: m.current_term,
            is_leader: m.state == ServerState::Leader,
            last_log_end: leader_end,
            applied_end: m.last_applied.map_or(0, |l| l.index + 1),
            voters: replicas,
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
    pub millis_since_quorum_ack: Option<u64>,
}
