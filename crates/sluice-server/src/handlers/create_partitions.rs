//! CreatePartitions: raises a topic's partition count (never lowers it: INVALID_PARTITIONS with
//! Kafka's message), with optional explicit assignments, through the metadata log.

use sluice_metadata::controller;
use sluice_protocol::kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use sluice_protocol::kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse,
};

use super::str_bytes;
use crate::dispatch::RequestContext;
use crate::replica_manager::codes;

pub async fn handle(
    ctx: &RequestContext<'_>,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let broker = ctx.broker;
    let live = broker.live_brokers();
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let name = topic.name.0.to_string();
        let assignments: Option<Vec<Vec<i32>>> =
            topic.assignments.filter(|a| !a.is_empty()).map(|a| {
                a.iter()
                    .map(|x| x.broker_ids.iter().map(|b| b.0).collect())
                    .collect()
            });
        let result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
        let outcome = if request.validate_only {
            Ok(controller::create_partitions(
                &broker.image(),
                &live,
                &name,
                topic.count,
                assignments,
            )
            .map(|_| ()))
        } else {
            broker
                .controller_write(|image| {
                    controller::create_partitions(image, &live, &name, topic.count, assignments)
                        .map(|r| (r, ()))
                })
                .await
        };
        results.push(match outcome {
            Ok(Ok(())) => result,
            Ok(Err(e)) => result
                .with_error_code(e.kafka_code())
                .with_error_message(Some(str_bytes(e.to_string()))),
            Err(e) => result
                .with_error_code(codes::UNKNOWN_SERVER_ERROR)
                .with_error_message(Some(str_bytes(e.to_string()))),
        });
    }
    CreatePartitionsResponse::default().with_results(results)
}
