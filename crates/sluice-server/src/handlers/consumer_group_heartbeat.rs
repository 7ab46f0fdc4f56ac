//! ConsumerGroupHeartbeat (KIP-848, v0-1): translates the request into
//! `ConsumerHeartbeatParams` (null fields mean "unchanged"; v0 lets the coordinator generate
//! the member id, v1 adds `subscribed_topic_regex`) and the coordinator's answer back.
//! Translation only: joining, assignment and reconciliation live in sluice-group.

use sluice_group::{ConsumerHeartbeatParams, TopicPartitions};
use sluice_protocol::kafka_protocol::messages::consumer_group_heartbeat_response::{
    Assignment, TopicPartitions as ResponseTopicPartitions,
};
use sluice_protocol::kafka_protocol::messages::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse,
};

use super::join_group::{client_host, client_id};
use super::str_bytes;
use crate::dispatch::RequestContext;

pub async fn handle(
    ctx: &RequestContext<'_>,
    request: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let v = ctx.api_version;
    let params = ConsumerHeartbeatParams {
        api_version: v,
        group_id: request.group_id.0.to_string(),
        member_id: request.member_id.to_string(),
        member_epoch: request.member_epoch,
        instance_id: request.instance_id.map(|s| s.to_string()),
        rack_id: request.rack_id.map(|s| s.to_string()),
        rebalance_timeout_ms: request.rebalance_timeout_ms,
        subscribed_topic_names: request
            .subscribed_topic_names
            .map(|ts| ts.into_iter().map(|t| t.0.to_string()).collect()),
        subscribed_topic_regex: if v >= 1 {
            request.subscribed_topic_regex.map(|s| s.to_string())
        } else {
            None
        },
        server_assignor: request.server_assignor.map(|s| s.to_string()),
        owned_topic_partitions: request.topic_partitions.map(|tps| {
            tps.into_iter()
                .map(|tp| TopicPartitions {
                    topic_id: tp.topic_id,
                    partitions: tp.partitions,
                })
                .collect()
        }),
        client_id: client_id(ctx),
        client_host: client_host(ctx),
    };
    let r = ctx.broker.groups.consumer_group_heartbeat(params).await;
    ConsumerGroupHeartbeatResponse::default()
        .with_error_code(r.error)
        .with_error_message(r.error_message.map(str_bytes))
        .with_member_id(r.member_id.map(str_bytes))
        .with_member_epoch(r.member_epoch)
        .with_heartbeat_interval_ms(r.heartbeat_interval_ms)
        .with_assignment(r.assignment.map(|tps| {
            Assignment::default().with_topic_partitions(
                tps.into_iter()
                    .map(|tp| {
                        ResponseTopicPartitions::default()
                            .with_topic_id(tp.topic_id)
                            .with_partitions(tp.partitions)
                    })
                    .collect(),
            )
        }))
}
