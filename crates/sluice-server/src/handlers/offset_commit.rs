//! OffsetCommit (v2–9): partitions of unknown topics or out-of-range partition numbers get
//! UNKNOWN_TOPIC_OR_PARTITION (Kafka checks this in KafkaApis, before the coordinator); the
//! rest go to the coordinator, whose answer comes after the commit is appended. The response
//! keeps the request's topic and partition order.

use std::collections::HashMap;

use sluice_group::OffsetCommitEntry;
use sluice_protocol::kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use sluice_protocol::kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use crate::dispatch::RequestContext;
use crate::replica_manager::codes;

pub async fn handle(
    ctx: &RequestContext<'_>,
    request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let v = ctx.api_version;
    let image = ctx.broker.image();
    let mut entries = Vec::new();
    for t in &request.topics {
        let count = image.topic(&t.name.0).map(|ti| ti.partitions.len() as i32);
        for p in &t.partitions {
            if matches!(count, Some(n) if p.partition_index >= 0 && p.partition_index < n) {
                entries.push(OffsetCommitEntry {
                    topic: t.name.0.to_string(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: if v >= 6 { p.committed_leader_epoch } else { -1 },
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                });
            }
        }
    }
    let instance = if v >= 7 {
        request.group_instance_id.as_ref().map(|s| s.as_str())
    } else {
        None
    };
    let results = if entries.is_empty() {
        Vec::new()
    } else {
        ctx.broker
            .groups
            .commit_offsets(
                request.group_id.0.as_str(),
                request.generation_id_or_member_epoch,
                request.member_id.as_str(),
                instance,
                entries,
            )
            .await
    };
    let errors: HashMap<(String, i32), i16> = results
        .into_iter()
        .map(|r| ((r.topic, r.partition), r.error))
        .collect();
    let topics = request
        .topics
        .iter()
        .map(|t| {
            let name = t.name.0.to_string();
            OffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            let error = errors
                                .get(&(name.clone(), p.partition_index))
                                .copied()
                                .unwrap_or(codes::UNKNOWN_TOPIC_OR_PARTITION);
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(error)
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
