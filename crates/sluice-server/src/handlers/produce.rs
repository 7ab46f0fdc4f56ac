//! Produce: validates acks, finds each partition, and appends its single v2 batch through the
//! replica manager (validation, idempotence, offsets). acks=0 gets no response at all; on a
//! single node acks=1 and acks=all complete as soon as the batch is in the log (HW = LEO).
//! Records are never decoded here.

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
            let records = data.records.unwrap_or_default();
            match replicas.append(&partition, &records, now) {
                Ok(info) => partitions.push(
                    base.with_base_offset(info.base_offset)
                        .with_log_append_time_ms(info.log_append_time)
                        .with_log_start_offset(info.log_start_offset),
                ),
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
    Some(ProduceResponse::default().with_responses(responses))
}
