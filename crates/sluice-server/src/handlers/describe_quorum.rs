//! DescribeQuorum (KIP-595/KIP-853): the state of the metadata quorum as the active controller
//! (the Raft leader) sees it — topic `__cluster_metadata` partition 0, leader id and epoch
//! (the Raft term), high watermark, voters and observers (broker-only nodes following the log
//! as learners) with their log end and last fetch / caught-up times. Other nodes forward the
//! request to the active controller (`dispatch::is_controller_api`); a node that is not the
//! leader when the request reaches it answers NOT_LEADER_OR_FOLLOWER, as Kafka's does.
//!
//! Offsets are Raft log indexes (one entry per controller operation), not metadata record
//! offsets: the log end of a replica is the index after its last entry and the high
//! watermark the index after the last applied (committed) entry on the leader.

use sluice_metadata::quorum::{QuorumStatus, ReplicaStatus};
use sluice_protocol::kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use sluice_protocol::kafka_protocol::messages::{
    BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, TopicName,
};

use super::str_bytes;
use crate::dispatch::RequestContext;
use crate::replica_manager::codes;

pub const METADATA_TOPIC: &str = "__cluster_metadata";

pub fn handle(ctx: &RequestContext<'_>, request: DescribeQuorumRequest) -> DescribeQuorumResponse {
    let valid = request.topics.len() == 1
        && request.topics[0].topic_name.0.as_str() == METADATA_TOPIC
        && request.topics[0].partitions.len() == 1
        && request.topics[0].partitions[0].partition_index == 0;
    if !valid {
        return DescribeQuorumResponse::default()
            .with_error_code(codes::UNKNOWN_TOPIC_OR_PARTITION)
            .with_error_message(Some(str_bytes(format!(
                "DescribeQuorum only describes {METADATA_TOPIC} partition 0"
            ))));
    }
    let broker = ctx.broker;
    let status = broker.quorum.status();
    let controller_listener = broker
        .config
        .controller_listener_names
        .first()
        .cloned()
        .unwrap_or_else(|| "CONTROLLER".into());
    response(&status, &controller_listener)
}

/// Builds the response from the quorum status (pure, for tests).
pub fn response(status: &QuorumStatus, controller_listener: &str) -> DescribeQuorumResponse {
    let mut partition = PartitionData::default()
        .with_partition_index(0)
        .with_leader_id(BrokerId(status.leader.map_or(-1, |l| l as i32)))
        .with_leader_epoch(status.term.min(i32::MAX as u64) as i32);
    let mut nodes = Vec::new();
    if !status.is_leader {
        partition = partition
            .with_error_code(codes::NOT_LEADER_OR_FOLLOWER)
            .with_error_message(Some(str_bytes(
                "this node is not the leader of the metadata quorum",
            )))
            .with_high_watermark(-1);
    } else {
        let state = |r: &ReplicaStatus| {
            ReplicaState::default()
                .with_replica_id(BrokerId(r.id as i32))
                .with_log_end_offset(r.log_end.map_or(-1, |e| e as i64))
                .with_last_fetch_timestamp(r.last_fetch_ms.unwrap_or(-1))
                .with_last_caught_up_timestamp(r.last_caught_up_ms.unwrap_or(-1))
        };
        partition = partition
            .with_high_watermark(status.applied_end as i64)
            .with_current_voters(
                status
                    .replicas
                    .iter()
                    .filter(|r| r.voter)
                    .map(state)
                    .collect(),
            )
            .with_observers(
                status
                    .replicas
                    .iter()
                    .filter(|r| !r.voter)
                    .map(state)
                    .collect(),
            );
        for r in status.replicas.iter().filter(|r| r.voter) {
            let listeners = r
                .addr
                .as_deref()
                .and_then(|a| a.rsplit_once(':'))
                .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
                .map(|(host, port)| {
                    vec![Listener::default()
                        .with_name(str_bytes(controller_listener))
                        .with_host(str_bytes(host))
                        .with_port(port)]
                })
                .unwrap_or_default();
            nodes.push(
                Node::default()
                    .with_node_id(BrokerId(r.id as i32))
                    .with_listeners(listeners),
            );
        }
    }
    DescribeQuorumResponse::default()
        .with_topics(vec![TopicData::default()
            .with_topic_name(TopicName(str_bytes(METADATA_TOPIC)))
            .with_partitions(vec![partition])])
        .with_nodes(nodes)
}
