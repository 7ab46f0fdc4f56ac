//! OffsetForLeaderEpoch: for each partition, the end offset of the largest leader epoch <= the
//! requested one, as the leader's epoch cache knows it (Kafka's `endOffsetFor`). Clients use it
//! after a leader change to check that the position they hold was not truncated away
//! (KIP-320); followers here use the diverging epoch of Fetch v12+ instead.
//!
//! As Kafka: only the leader answers (NOT_LEADER_OR_FOLLOWER otherwise), except for the
//! debugging replica id -2; a known `current_leader_epoch` must match ours (FENCED_LEADER_EPOCH
//! / UNKNOWN_LEADER_EPOCH); an epoch newer than our leader epoch gives the undefined epoch and
//! offset (-1, -1); an epoch of a leadership that wrote nothing ends at the LEO.

use sluice_protocol::kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use sluice_protocol::kafka_protocol::messages::{
    OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse,
};

use crate::dispatch::RequestContext;
use crate::replica_manager::codes;

/// Kafka's replica id for debugging requests, which may read from any replica.
const DEBUGGING_REPLICA_ID: i32 = -2;
const UNDEFINED_EPOCH: i32 = -1;
const UNDEFINED_OFFSET: i64 = -1;

pub fn handle(
    ctx: &RequestContext<'_>,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let replicas = &ctx.broker.replicas;
    let leader_only = request.replica_id.0 != DEBUGGING_REPLICA_ID;
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let base = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(UNDEFINED_EPOCH)
                        .with_end_offset(UNDEFINED_OFFSET);
                    let Some(partition) = replicas.get_by_name(topic.topic.0.as_str(), p.partition)
                    else {
                        return base.with_error_code(codes::UNKNOWN_TOPIC_OR_PARTITION);
                    };
                    if leader_only {
                        if let Err(code) = partition.check_leader(p.current_leader_epoch) {
                            return base.with_error_code(code);
                        }
                    }
                    if p.leader_epoch < 0 {
                        return base;
                    }
                    if p.leader_epoch > partition.leader_epoch() {
                        return base;
                    }
                    match partition.log.end_offset_for_epoch(p.leader_epoch) {
                        Some((epoch, end)) => base.with_leader_epoch(epoch).with_end_offset(end),
                        // An epoch no record carries yet but not newer than our leadership
                        // (leaderships without writes): Kafka's cache holds every leader epoch
                        // from the LEO at election, so the answer is the latest epoch with
                        // records (or the asked one) ending at the LEO.
                        None => base
                            .with_leader_epoch(
                                partition.log.latest_epoch().unwrap_or(p.leader_epoch),
                            )
                            .with_end_offset(partition.log.log_end_offset()),
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
