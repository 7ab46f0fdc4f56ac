//! DeleteRecords: raises a partition's log start offset (offset -1 means the high watermark);
//! whole segments below it are deleted. Answers the new low watermark.

use sluice_protocol::kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use sluice_protocol::kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use crate::dispatch::RequestContext;
use crate::replica_manager::{codes, log_error_code};

pub async fn handle(
    ctx: &RequestContext<'_>,
    request: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let replicas = &ctx.broker.replicas;
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let result = DeleteRecordsPartitionResult::default()
                .with_partition_index(p.partition_index)
                .with_low_watermark(-1);
            let Some(partition) = replicas.get_by_name(topic.name.0.as_str(), p.partition_index)
            else {
                partitions.push(result.with_error_code(codes::UNKNOWN_TOPIC_OR_PARTITION));
                continue;
            };
            let hw = partition.high_watermark();
            let offset = if p.offset == -1 { hw } else { p.offset };
            if offset < 0 || offset > hw {
                partitions.push(result.with_error_code(codes::OFFSET_OUT_OF_RANGE));
                continue;
            }
            let log = partition.log.clone();
            let outcome =
                tokio::task::spawn_blocking(move || log.delete_records_before(offset)).await;
            partitions.push(match outcome {
                Ok(Ok(low)) => result.with_low_watermark(low),
                Ok(Err(e)) => result.with_error_code(log_error_code(&e)),
                Err(_) => result.with_error_code(codes::UNKNOWN_SERVER_ERROR),
            });
        }
        topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    DeleteRecordsResponse::default().with_topics(topics)
}
