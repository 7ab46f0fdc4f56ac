//! Metadata: brokers (advertised endpoint of the listener the request came in on), cluster id,
//! controller, and per topic its id and partitions with leader, epoch, replicas and ISR.
//! Unknown topics get UNKNOWN_TOPIC_OR_PARTITION per topic, or are auto-created when both the
//! broker (`auto.create.topics.enable`) and the client allow it.

use std::collections::BTreeMap;

use sluice_metadata::controller;
use sluice_metadata::TopicInfo;
use sluice_protocol::kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use sluice_protocol::kafka_protocol::messages::{
    BrokerId, MetadataRequest, MetadataResponse, TopicName,
};

use super::str_bytes;
use crate::dispatch::RequestContext;
use crate::replica_manager::codes;

pub async fn handle(ctx: &RequestContext<'_>, request: MetadataRequest) -> MetadataResponse {
    let broker = ctx.broker;
    let mut image = broker.image();
    let version = ctx.api_version;
    let allow_auto_create = if version >= 4 {
        request.allow_auto_topic_creation
    } else {
        true
    };
    // v0: an empty list means all topics; v1+: null means all, empty means none.
    let requested = match request.topics {
        None => None,
        Some(t) if t.is_empty() && version == 0 => None,
        Some(t) => Some(t),
    };
    let mut topics = Vec::new();
    match requested {
        None => {
            for t in image.topics.values() {
                topics.push(topic_response(t));
            }
        }
        Some(list) => {
            for req in list {
                let name = req.name.as_ref().map(|n| n.0.to_string());
                let Some(name) = name else {
                    // Lookup by topic id (v10+).
                    match image.topic_by_id(&req.topic_id) {
                        Some(t) => topics.push(topic_response(t)),
                        None => topics.push(
                            MetadataResponseTopic::default()
                                .with_topic_id(req.topic_id)
                                .with_error_code(codes::UNKNOWN_TOPIC_ID),
                        ),
                    }
                    continue;
                };
                if let Some(t) = image.topic(&name) {
                    topics.push(topic_response(t));
                    continue;
                }
                let error = |code| {
                    MetadataResponseTopic::default()
                        .with_name(Some(TopicName(str_bytes(name.clone()))))
                        .with_error_code(code)
                };
                if let Err(e) = controller::validate_topic_name(&name) {
                    let _ = e;
                    topics.push(error(codes::INVALID_TOPIC_EXCEPTION));
                    continue;
                }
                if !(allow_auto_create && broker.effective_config().auto_create_topics_enable) {
                    topics.push(error(codes::UNKNOWN_TOPIC_OR_PARTITION));
                    continue;
                }
                match auto_create(ctx, &name).await {
                    Ok(new_image) => {
                        image = new_image;
                        match image.topic(&name) {
                            Some(t) => topics.push(topic_response(t)),
                            None => topics.push(error(codes::UNKNOWN_TOPIC_OR_PARTITION)),
                        }
                    }
                    Err(code) => topics.push(error(code)),
                }
            }
        }
    }
    let brokers = broker
        .broker_endpoints(&image, &ctx.connection.listener)
        .into_iter()
        .map(|(id, host, port, rack)| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(id))
                .with_host(str_bytes(host))
                .with_port(port)
                .with_rack(rack.map(str_bytes))
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(str_bytes(broker.cluster_id.clone())))
        .with_controller_id(BrokerId(broker.controller_id()))
        .with_topics(topics)
}

async fn auto_create(
    ctx: &RequestContext<'_>,
    name: &str,
) -> Result<std::sync::Arc<sluice_metadata::MetadataImage>, i16> {
    let broker = ctx.broker;
    let config = broker.effective_config();
    let created = broker
        .create_topic_internal(
            name,
            config.num_partitions,
            config.default_replication_factor.clamp(1, i16::MAX as i32) as i16,
            BTreeMap::new(),
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "auto-create failed");
            codes::UNKNOWN_SERVER_ERROR
        })?;
    match created {
        Ok(()) => tracing::info!(topic = name, "auto-created topic"),
        // Created concurrently by someone else: serve the fresh image.
        Err((36, _)) => {}
        Err((code, _)) => return Err(code),
    }
    Ok(broker.image())
}

pub fn topic_response(t: &TopicInfo) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(t.name.clone()))))
        .with_topic_id(t.topic_id)
        .with_is_internal(t.is_internal())
        .with_partitions(
            t.partitions
                .iter()
                .map(|p| {
                    MetadataResponsePartition::default()
                        .with_partition_index(p.partition)
                        .with_leader_id(BrokerId(p.leader))
                        .with_leader_epoch(p.leader_epoch)
                        .with_replica_nodes(p.replicas.iter().map(|b| BrokerId(*b)).collect())
                        .with_isr_nodes(p.isr.iter().map(|b| BrokerId(*b)).collect())
                })
                .collect(),
        )
}
