//! DeleteTopics: by name (all versions) or by topic id (v6+). Removes the topic through the
//! metadata log; the replica manager then deletes the partition logs.

use sluice_metadata::controller;
use sluice_protocol::kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use sluice_protocol::kafka_protocol::messages::{
    DeleteTopicsRequest, DeleteTopicsResponse, TopicName,
};

use super::str_bytes;
use crate::dispatch::RequestContext;
use crate::replica_manager::codes;

const TOPIC_DELETION_DISABLED: i16 = 73;

pub async fn handle(
    ctx: &RequestContext<'_>,
    request: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let broker = ctx.broker;
    // v0-5 name topics in `topic_names`; v6+ in `topics` (name or id).
    let mut wanted: Vec<(Option<String>, uuid::Uuid)> = request
        .topic_names
        .iter()
        .map(|n| (Some(n.0.to_string()), uuid::Uuid::nil()))
        .collect();
    wanted.extend(
        request
            .topics
            .iter()
            .map(|t| (t.name.as_ref().map(|n| n.0.to_string()), t.topic_id)),
    );
    let mut responses = Vec::with_capacity(wanted.len());
    for (name, id) in wanted {
        let image = broker.image();
        let resolved = match &name {
            Some(n) => image.topic(n).map(|t| (t.name.clone(), t.topic_id)),
            None => image.topic_by_id(&id).map(|t| (t.name.clone(), t.topic_id)),
        };
        let result = DeletableTopicResult::default()
            .with_name(name.clone().map(|n| TopicName(str_bytes(n))))
            .with_topic_id(id);
        let Some((topic, topic_id)) = resolved else {
            let code = if name.is_some() {
                codes::UNKNOWN_TOPIC_OR_PARTITION
            } else {
                codes::UNKNOWN_TOPIC_ID
            };
            responses.push(result.with_error_code(code));
            continue;
        };
        let result = result
            .with_name(Some(TopicName(str_bytes(topic.clone()))))
            .with_topic_id(topic_id);
        if !broker.effective_config().delete_topic_enable {
            responses.push(result.with_error_code(TOPIC_DELETION_DISABLED));
            continue;
        }
        let outcome = broker
            .controller_write(|image| {
                controller::delete_topic(image, &topic).map(|r| (vec![r], ()))
            })
            .await;
        match outcome {
            Ok(Ok(())) => {
                tracing::info!(topic = %topic, "deleted topic");
                responses.push(result)
            }
            Ok(Err(e)) => responses.push(
                result
                    .with_error_code(e.kafka_code())
                    .with_error_message(Some(str_bytes(e.to_string()))),
            ),
            Err(e) => responses.push(
                result
                    .with_error_code(codes::UNKNOWN_SERVER_ERROR)
                    .with_error_message(Some(str_bytes(e.to_string()))),
            ),
        }
    }
    DeleteTopicsResponse::default().with_responses(responses)
}
