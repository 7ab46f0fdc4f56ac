//! CreateTopics: validates each topic (name, partitions, replication factor, explicit
//! assignment, configs) through the controller logic and commits it to the metadata log unless
//! `validate_only`. The response fills every field Kafka fills (topic id, partition count,
//! replication factor and, for v5+, the full resulting config list), as Java's AdminClient
//! dereferences them.

use std::collections::{BTreeMap, HashSet};

use sluice_metadata::controller::{self, NewTopic};
use sluice_protocol::kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use sluice_protocol::kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::str_bytes;
use crate::dispatch::RequestContext;
use crate::replica_manager::codes;

const INVALID_CONFIG: i16 = 40;

pub async fn handle(
    ctx: &RequestContext<'_>,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let broker = ctx.broker;
    let mut seen = HashSet::new();
    let duplicates: HashSet<String> = request
        .topics
        .iter()
        .filter(|t| !seen.insert(t.name.0.to_string()))
        .map(|t| t.name.0.to_string())
        .collect();
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let name = topic.name.0.to_string();
        let result = CreatableTopicResult::default()
            .with_name(topic.name.clone())
            .with_num_partitions(-1)
            .with_replication_factor(-1);
        let fail = |code: i16, msg: String| {
            result
                .clone()
                .with_error_code(code)
                .with_error_message(Some(str_bytes(msg)))
        };
        if duplicates.contains(&name) {
            results.push(fail(
                codes::INVALID_REQUEST,
                format!(
                    "Create topics request from client contains multiple requests for topic {name}"
                ),
            ));
            continue;
        }
        let mut configs = BTreeMap::new();
        let mut config_error = None;
        for c in &topic.configs {
            let key = c.name.to_string();
            let Some(value) = c.value.as_ref().map(|v| v.to_string()) else {
                config_error = Some(format!("Null value not supported for topic configs: {key}"));
                break;
            };
            if let Err(e) = sluice_config::validate_topic_config(&key, &value) {
                config_error = Some(e.to_string());
                break;
            }
            configs.insert(key, value);
        }
        if let Some(msg) = config_error {
            results.push(fail(INVALID_CONFIG, msg));
            continue;
        }
        let assignments = if topic.assignments.is_empty() {
            None
        } else {
            if topic.num_partitions != -1 || topic.replication_factor != -1 {
                results.push(fail(
                    codes::INVALID_REQUEST,
                    "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".into(),
                ));
                continue;
            }
            let mut a: Vec<_> = topic.assignments.iter().collect();
            a.sort_by_key(|x| x.partition_index);
            if a.iter()
                .enumerate()
                .any(|(i, x)| x.partition_index != i as i32)
            {
                results.push(fail(
                    39,
                    "Partitions should be a consecutive 0-based integer sequence".into(),
                ));
                continue;
            }
            Some(
                a.iter()
                    .map(|x| x.broker_ids.iter().map(|b| b.0).collect())
                    .collect(),
            )
        };
        let num_partitions = if topic.num_partitions == -1 {
            broker.effective_config().num_partitions
        } else {
            topic.num_partitions
        };
        let replication_factor = if topic.replication_factor == -1 {
            broker.effective_config().default_replication_factor as i16
        } else {
            topic.replication_factor
        };
        let new = NewTopic {
            name: &name,
            num_partitions,
            replication_factor,
            assignments,
            configs: configs.clone(),
        };
        let live = broker.live_brokers();
        let outcome = if request.validate_only {
            Ok(controller::create_topic(&broker.image(), &live, &new).map(|(id, a, _)| (id, a)))
        } else {
            broker
                .controller_write(|image| {
                    controller::create_topic(image, &live, &new).map(|(id, a, r)| (r, (id, a)))
                })
                .await
        };
        match outcome {
            Err(e) => {
                tracing::error!(error = %e, topic = %name, "create topic commit failed");
                results.push(fail(codes::UNKNOWN_SERVER_ERROR, e.to_string()));
            }
            Ok(Err(e)) => results.push(fail(e.kafka_code(), e.to_string())),
            Ok(Ok((topic_id, assignment))) => {
                if !request.validate_only {
                    tracing::info!(topic = %name, partitions = assignment.len(), "created topic");
                }
                let entries =
                    sluice_config::describe_topic_config(&broker.effective_config(), &configs);
                let configs = entries
                    .into_iter()
                    .map(|e| {
                        CreatableTopicConfigs::default()
                            .with_name(str_bytes(e.name))
                            .with_value(e.value.map(str_bytes))
                            .with_read_only(e.read_only)
                            .with_config_source(e.source as i8)
                            .with_is_sensitive(e.sensitive)
                    })
                    .collect();
                results.push(
                    result
                        .with_topic_id(topic_id)
                        .with_num_partitions(assignment.len() as i32)
                        .with_replication_factor(
                            assignment.first().map(|r| r.len()).unwrap_or(0) as i16
                        )
                        .with_configs((ctx.api_version >= 5).then_some(configs)),
                );
            }
        }
    }
    CreateTopicsResponse::default().with_topics(results)
}
