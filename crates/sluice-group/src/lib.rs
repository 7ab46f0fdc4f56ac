//! sluice-group: Kafka's group coordinator for the classic consumer-group protocol and the
//! KIP-848 consumer protocol (ConsumerGroupHeartbeat/ConsumerGroupDescribe, server-side
//! assignors, member epochs and reconciliation: `consumer_*.rs`, `assignor.rs`).
//!
//! `GroupCoordinator` owns the groups of the `__consumer_offsets` partitions this node
//! leads and implements JoinGroup, SyncGroup, Heartbeat, LeaveGroup, DescribeGroups,
//! ListGroups, DeleteGroups, OffsetCommit, OffsetFetch and OffsetDelete with Kafka's state
//! machine (Empty → PreparingRebalance → CompletingRebalance → Stable, Dead) and error codes.
//! Durable state goes through the `GroupLog` trait as Kafka's `__consumer_offsets` records
//! (`records`), and comes back with `GroupCoordinator::load_partition`. The crate speaks
//! plain domain types; the server's handlers translate to and from the wire. It never touches
//! sockets or disks itself.

mod assignor;
pub mod codes;
mod config;
mod consumer_coordinator;
mod consumer_group;
pub mod consumer_records;
mod consumer_topics;
mod coordinator;
mod group;
mod load;
mod log;
mod membership;
mod offsets;
pub mod records;
pub mod subscription;
mod timers;
mod types;
mod wire;

pub use config::{GroupConfig, NEW_MEMBER_JOIN_TIMEOUT};
pub use consumer_group::ConsumerGroupState;
pub use consumer_records::TopicPartitions;
pub use coordinator::GroupCoordinator;
pub use group::GroupState;
pub use log::{BoxFuture, GroupLog, GroupLogError};
pub use records::{
    partition_for, GroupMetadataValue, GroupRecord, MemberMetadataValue, OffsetCommitKey,
    OffsetCommitValue,
};
pub use types::*;
pub use wire::DecodeError;
