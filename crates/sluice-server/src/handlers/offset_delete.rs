//! OffsetDelete (v0): deletes committed offsets of a group. Partitions of unknown topics get
//! UNKNOWN_TOPIC_OR_PARTITION (checked here, as Kafka's KafkaApis does); the coordinator
//! refuses topics a member of a consumer group subscribes to.

use std::collections::HashMap;

use sluice_protocol::kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use sluice_protocol::kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use crate::dispatch::RequestContext;
use crate::replica_manager::codes;

pub async fn handle(
    ctx: &RequestContext<'_>,
    request: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let image = ctx.broker.image();
    let mut wanted = Vec::new();
    for t in &request.topics {
        let count = image.topic(&t.name.0).map(|ti| ti.partitions.len() as i32);
        for p in &t.partitions {
            if matches!(count, Some(n) if p.partition_index >= 0 && p.partition_index < n) {
                wanted.push((t.name.0.to_string(), p.partition_index));
            }
        }
    }
    let r = ctx
        .broker
        .groups
        .delete_offsets(request.group_id.0.as_str(), wanted)
        .await;
    if r.error != 0 {
        return OffsetDeleteResponse::default().with_error_code(r.error);
    }
    let errors: HashMap<(String, i32), i16> = r
        .partitions
        .into_iter()
        .map(|p| ((p.topic, p.partition), p.error))
        .collect();
    let topics = request
        .topics
        .iter()
        .map(|t| {
            let name = t.name.0.to_string();
            OffsetDeleteResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            OffsetDeleteResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(
                                    errors
                                        .get(&(name.clone(), p.partition_index))
                                        .copied()
                                        .unwrap_or(codes::UNKNOWN_TOPIC_OR_PARTITION),
                                )
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}
