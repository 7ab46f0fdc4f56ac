//! AlterPartitionReassignments (KIP-455): starts, replaces or cancels (null replicas) partition
//! reassignments. Runs on the active controller (other brokers forward it); the decisions are
//! `sluice_metadata::reassign`'s, committed as one metadata batch. Per-partition errors use
//! Kafka's codes (UNKNOWN_TOPIC_OR_PARTITION, INVALID_REPLICA_ASSIGNMENT,
//! INVALID_REPLICATION_FACTOR, NO_REASSIGNMENT_IN_PROGRESS).

use sluice_metadata::reassign;
use sluice_protocol::kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use sluice_protocol::kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
};

use super::str_bytes;
use crate::dispatch::RequestContext;
use crate::replica_manager::codes;

/// Outcome per (topic, partition): None = accepted.
type Outcomes = Vec<Vec<Option<reassign::ReassignError>>>;

pub async fn handle(
    ctx: &RequestContext<'_>,
    request: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    // v0 has no such field: Kafka treats it as allowed.
    let allow_rf_change = ctx.api_version < 1 || request.allow_replication_factor_change;
    let response = AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(allow_rf_change);
    let topics = &request.topics;
    let outcome = ctx
        .broker
        .controller_write(|image| {
            let mut records = Vec::new();
            let mut outcomes: Outcomes = Vec::with_capacity(topics.len());
            // Each entry is validated against the image as changed by the earlier ones, so a
            // request naming a partition twice behaves as two requests in a row.
            let mut next = (*image).clone();
            for topic in topics {
                let name = topic.name.0.as_str();
                let mut per_topic = Vec::with_capacity(topic.partitions.len());
                for p in &topic.partitions {
                    let target: Option<Vec<i32>> =
                        p.replicas.as_ref().map(|r| r.iter().map(|b| b.0).collect());
                    match reassign::alter_reassignment(
                        &next,
                        name,
                        p.partition_index,
                        target.as_deref(),
                        allow_rf_change,
                    ) {
                        Ok(record) => {
                            if let Some(r) = &record {
                                next.apply(next.last_offset + 1, r);
                            }
                            records.extend(record);
                            per_topic.push(None);
                        }
                        Err(e) => per_topic.push(Some(e)),
                    }
                }
                outcomes.push(per_topic);
            }
            Ok::<_, std::convert::Infallible>((records, outcomes))
        })
        .await;
    let outcomes = match outcome {
        Ok(Ok(o)) => o,
        Ok(Err(never)) => match never {},
        Err(e) => {
            tracing::warn!(error = %e, "AlterPartitionReassignments commit failed");
            let code = if e.is::<crate::broker::NotController>() {
                crate::controller::NOT_CONTROLLER
            } else {
                codes::UNKNOWN_SERVER_ERROR
            };
            return response
                .with_error_code(code)
                .with_error_message(Some(str_bytes(e.to_string())));
        }
    };
    let responses = request
        .topics
        .iter()
        .zip(outcomes)
        .map(|(topic, per_topic)| {
            ReassignableTopicResponse::default()
                .with_name(topic.name.clone())
                .with_partitions(
                    topic
                        .partitions
                        .iter()
                        .zip(per_topic)
                        .map(|(p, err)| {
                            let r = ReassignablePartitionResponse::default()
                                .with_partition_index(p.partition_index);
                            match err {
                                None => r,
                                Some(e) => r
                                    .with_error_code(e.kafka_code())
                                    .with_error_message(Some(str_bytes(e.to_string()))),
                            }
                        })
                        .collect(),
                )
        })
        .collect();
    response.with_responses(responses)
}
