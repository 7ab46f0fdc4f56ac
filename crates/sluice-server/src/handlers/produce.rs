//! Produce: validates acks, finds each partition, and appends its single v2 batch through the
//! replica manager (validation, idempotence, offsets). acks=0 gets no response at all, acks=1
//! answers once the leader appended. acks=all first requires an ISR of at least
//! `min.insync.replicas` (NOT_ENOUGH_REPLICAS), then waits — a delayed operation woken by HW
//! changes, bounded by the request's timeout — until the high watermark passes the batch;
//! if the ISR shrank below the minimum meanwhile the answer is NOT_ENOUGH_REPLICAS_AFTER_APPEND.
//! Only the leader accepts writes. Records are never decoded here.

use sluice_protocol::kafka_protocol::messages::produce_response::{
    PartitionProduceResponse, TopicProduceResponse,
};
use sluice_protocol::kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use super::{now_ms, str_bytes};
use crate::dispatch::RequestContext;
use crate::replica_manager::codes;

pub async fn handle(ctx: &RequestContext<'_>, request: ProduceRequest) -> Option<ProduceResponse> {
    let acks = request.acks;
    let valid_acks = matches!(acks, -1..=1);
    let now = now_ms();
    let replicas = &ctx.broker.replicas;
    let mut responses = Vec::with_capacity(request.topic_data.len());
    // acks=all: (topic index, partition index, partition, last offset, min ISR) to wait for.
    let mut waits = Vec::new();
    let deadline = tokio::time::Instant::now()
        + std::time::Duration::from_millis(request.timeout_ms.max(0) as u64);
    for topic in request.topic_data {
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for data in topic.partition_data {
            let base = PartitionProduceResponse::default()
                .with_index(data.index)
                .with_base_offset(-1)
                .with_log_append_time_ms(-1)
                .with_log_start_offset(-1);
            if !valid_acks {
                partitions.push(base.with_error_code(codes::INVALID_REQUIRED_ACKS));
                continue;
            }
            let Some(partition) = replicas.get_by_name(topic.name.0.as_str(), data.index) else {
                partitions.push(base.with_error_code(codes::UNKNOWN_TOPIC_OR_PARTITION));
                continue;
            };
            if !partition.is_leader() {
                partitions.push(base.with_error_code(codes::NOT_LEADER_OR_FOLLOWER));
                continue;
            }
            let min_isr = min_insync_replicas(ctx, topic.name.0.as_str());
            if acks == -1 && (partition.state().isr.len() as i32) < min_isr {
                let isr = partition.state().isr;
                partitions.push(
                    base.with_error_code(codes::NOT_ENOUGH_REPLICAS)
                        .with_error_message(Some(str_bytes(format!(
                            "The size of the current ISR {isr:?} is insufficient to satisfy the min.isr requirement of {min_isr} for partition {}",
                            partition.tp
                        )))),
                );
                continue;
            }
            let records = data.records.unwrap_or_default();
            match replicas.append(&partition, &records, now) {
                Ok(info) => {
                    if acks == -1 {
                        waits.push((
                            responses.len(),
                            partitions.len(),
                            partition.clone(),
                            info.last_offset,
                            min_isr,
                        ));
                    }
                    partitions.push(
                        base.with_base_offset(info.base_offset)
                            .with_log_append_time_ms(info.log_append_time)
                            .with_log_start_offset(info.log_start_offset),
                    )
                }
                Err(e) => {
                    tracing::debug!(partition = %partition.tp, code = e.code, error = %e.message, "produce refused");
                    partitions.push(
                        base.with_error_code(e.code)
                            .with_error_message(Some(str_bytes(e.message))),
                    )
                }
            }
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_partition_responses(partitions),
        );
    }
    if acks == 0 {
        return None;
    }
    for (t, i, partition, last_offset, min_isr) in waits {
        let code = match partition.wait_for_hw(last_offset, deadline).await {
            Some(true) if (partition.state().isr.len() as i32) < min_isr => {
                codes::NOT_ENOUGH_REPLICAS_AFTER_APPEND
            }
            Some(true) => continue,
            Some(false) => codes::NOT_LEADER_OR_FOLLOWER,
            None => codes::REQUEST_TIMED_OUT,
        };
        if let Some(p) = responses
            .get_mut(t)
            .and_then(|r: &mut TopicProduceResponse| r.partition_responses.get_mut(i))
        {
            p.error_code = code;
        }
    }
    Some(ProduceResponse::default().with_responses(responses))
}

/// `min.insync.replicas` of a topic: its override, else the broker's.
fn min_insync_replicas(ctx: &RequestContext<'_>, topic: &str) -> i32 {
    ctx.broker
        .image()
        .topic_configs
        .get(topic)
        .and_then(|c| c.get("min.insync.replicas"))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| ctx.broker.effective_config().min_insync_replicas)
        .max(1)
}
